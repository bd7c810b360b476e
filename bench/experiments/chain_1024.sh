#!/usr/bin/env bash
# A 1024-px config-f StyleGAN2 (random weights, rosinality's train.py layout) through the chain a user
# runs first: atu label (its defaults, stopped once the page is served), atu feedback, atu adapt and
# atu unlearn (two steps each, batch 2, two Fisher samples), with the peak memory and time of each.
#
#   bash bench/experiments/chain_1024.sh WORKDIR        (about 20 minutes on a 2-core CPU, 9 GiB)
set -u
WORK="${1:?usage: chain_1024.sh WORKDIR}"
mkdir -p "$WORK" && cd "$WORK"
T=(/usr/bin/time -v)
python3 - <<'PY'
import torch
from atu.models import Discriminator, Generator
from atu.checkpoint import save_rosinality
torch.manual_seed(0)
G, D = Generator(1024, style_dim=512, n_mlp=8, channel_multiplier=2), Discriminator(1024, channel_multiplier=2)
save_rosinality("ffhq1024.pt", g=G, g_ema=G, d=D)
PY
summary() { echo "== $1: exit $2"; grep -E "Maximum resident|Elapsed" "$3"; }
( "${T[@]}" atu label --gen ffhq1024.pt --out label --device cpu > label.log 2> label.err & )
for _ in $(seq 1 900); do grep -q "http://" label.log 2>/dev/null && break; sleep 2; done
# a background job ignores SIGINT (the shell sets it so), so stop the server with SIGTERM
sleep 2; pkill -TERM -f "bin/atu label --gen ffhq1024.pt"; sleep 10
summary "label (defaults: 200 samples)" "served" label.err
printf "0\n3\n5\n" > marks.txt
"${T[@]}" atu feedback --gen ffhq1024.pt --n 12 --marks marks.txt --device cpu --out fb.safetensors > fb.log 2> fb.err
summary feedback $? fb.err
"${T[@]}" atu adapt --gen ffhq1024.pt --feedback fb.safetensors --steps 2 --batch 2 --fisher-samples 2 \
  --checkpoint-every 100 --sample-every 100 --device cpu --out adapt > adapt.log 2> adapt.err
summary "adapt (k 2)" $? adapt.err
"${T[@]}" atu unlearn --gen ffhq1024.pt --adapted adapt --feedback fb.safetensors --steps 2 --batch 2 \
  --checkpoint-every 100 --sample-every 100 --device cpu --out unlearn > unlearn.log 2> unlearn.err
summary unlearn $? unlearn.err
ls adapt/model_*/model.safetensors unlearn/model.safetensors
