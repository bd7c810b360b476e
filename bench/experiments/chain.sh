#!/usr/bin/env bash
# A full-width StyleGAN2 at RES px (random weights, rosinality's train.py layout: style 512, 8 mapping
# layers, channel multiplier 2; config-f at 1024) through the quickstart a user runs: atu label (its
# defaults, stopped once the page is served), atu feedback (12 samples, 3 marked), atu adapt and
# atu unlearn (two steps each at batch BATCH, two Fisher samples), atu extrapolate, atu evaluate
# (a ResNet judge of random weights on a folder of 16 of the generator's images: the memory and time
# of an evaluation, not its numbers) and atu convert; the peak memory and time of each (GNU time -v).
#
#   bash bench/experiments/chain.sh RES BATCH WORKDIR     (1024 px, batch 2: about 25 minutes on a
#                                                           2-core CPU and 9 GiB; 256 px, batch 4: 5)
set -u
RES="${1:?usage: chain.sh RES BATCH WORKDIR}"
BATCH="${2:?usage: chain.sh RES BATCH WORKDIR}"
WORK="${3:?usage: chain.sh RES BATCH WORKDIR}"
mkdir -p "$WORK" && cd "$WORK"
T=(/usr/bin/time -v)
GEN="ffhq$RES.pt"
RES="$RES" GEN="$GEN" python3 - <<'PY'
import os

import torch

from atu.checkpoint import save_rosinality
from atu.classifiers import ResNet, save_classifier
from atu.models import Discriminator, Generator
from atu.util.images import save_png, to_uint8

res = int(os.environ["RES"])
torch.manual_seed(0)
G, D = Generator(res, style_dim=512, n_mlp=8, channel_multiplier=2), Discriminator(res, channel_multiplier=2)
save_rosinality(os.environ["GEN"], g=G, g_ema=G, d=D)
save_classifier("judge.safetensors", ResNet(num_classes=2, resolution=res).eval(), {"attribute": "Odd"})
# the "real" images of the evaluation: 16 of the generator's own, half with the attribute
os.makedirs("faces", exist_ok=True)
rows = []
for i, pixels in enumerate(to_uint8(G.eval().sample(16, seed=99, batch_size=2))):
    save_png(pixels, f"faces/{i:06d}.png")
    rows.append(f"{i:06d}.png {'1' if i % 2 else '-1'}")
open("faces/list_attr.txt", "w").write(f"{len(rows)}\nOdd\n" + "\n".join(rows) + "\n")
PY
summary() { echo "== $1: exit $2"; grep -E "Maximum resident|Elapsed" "$3"; }
( "${T[@]}" atu label --gen "$GEN" --out label --device cpu > label.log 2> label.err & )
for _ in $(seq 1 900); do grep -q "http://" label.log 2>/dev/null && break; sleep 2; done
# a background job ignores SIGINT (the shell sets it so), so stop the server with SIGTERM
sleep 2; pkill -TERM -f "bin/atu label --gen $GEN"; sleep 10
summary "label (defaults: 200 samples)" "served" label.err
printf "0\n3\n5\n" > marks.txt
"${T[@]}" atu feedback --gen "$GEN" --n 12 --marks marks.txt --device cpu --out fb.safetensors > fb.log 2> fb.err
summary feedback $? fb.err
"${T[@]}" atu adapt --gen "$GEN" --feedback fb.safetensors --steps 2 --batch "$BATCH" --fisher-samples 2 \
  --checkpoint-every 100 --sample-every 100 --device cpu --out adapt > adapt.log 2> adapt.err
summary "adapt (k 2)" $? adapt.err
"${T[@]}" atu unlearn --gen "$GEN" --adapted adapt --feedback fb.safetensors --steps 2 --batch "$BATCH" \
  --checkpoint-every 100 --sample-every 100 --device cpu --out unlearn > unlearn.log 2> unlearn.err
summary unlearn $? unlearn.err
"${T[@]}" atu extrapolate --gen "$GEN" --adapted adapt --scales 1.0 --device cpu --out extrapolate \
  > extrapolate.log 2> extrapolate.err
summary extrapolate $? extrapolate.err
"${T[@]}" atu evaluate --gen "$GEN" --model el2=unlearn/model.safetensors --classifier judge.safetensors \
  --class 1 --data folder:faces --attributes-file faces/list_attr.txt --n-bank 64 --n-fid 16 --device cpu \
  --out metrics.json > evaluate.log 2> evaluate.err
summary "evaluate (64 samples judged, 16 for FID)" $? evaluate.err
"${T[@]}" atu convert unlearn/model.safetensors unlearned.pt > convert.log 2> convert.err
summary convert $? convert.err
ls adapt/model_*/model.safetensors unlearn/model.safetensors extrapolate/*.safetensors metrics.json unlearned.pt
