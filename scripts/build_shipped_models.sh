#!/usr/bin/env bash
# Rebuilds every model in python/atu/assets/ with atu's own commands, then measures them:
#   bash scripts/build_shipped_models.sh [RUNS_DIR]       (default RUNS_DIR: runs/shipped)
# Needs an installed atu (bash scripts/setup.sh). Each pretraining run is resumable: rerunning the
# script after an interruption continues where it stopped. Two runs share the CPU at a time, one
# thread each (how the shipped files were made; see python/atu/assets/MODELS.md for times).
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS="${1:-runs/shipped}"
ATU="${ATU:-.venv/bin/atu}"
ASSETS=python/atu/assets
STEPS=8000
export OMP_NUM_THREADS=1
mkdir -p "$RUNS"

"$ATU" train-classifier --data digits --resolution 32 --seed 0 --force --out "$ASSETS/digits_classifier.safetensors"

pretrain() {  # pretrain NAME [atu pretrain options...]
  local name=$1; shift
  local resume=()
  [[ -f "$RUNS/$name/checkpoint.safetensors" ]] && resume=(--resume)
  "$ATU" pretrain --data digits --size 32 --width 32 --style-dim 128 --n-mlp 8 --steps "$STEPS" --seed 0 \
      --out "$RUNS/$name" "${resume[@]}" "$@" > "$RUNS/$name.log" 2>&1
}
pretrain digits32 & a=$!; pretrain digits32_no8 --exclude-classes 8 & b=$!
wait $a; wait $b            # `wait` on a pid returns that run's status, so a failure stops the script
pretrain digits32_no1 --exclude-classes 1 & a=$!; pretrain digits32_no4 --exclude-classes 4 & b=$!
wait $a; wait $b

for name in digits32 digits32_no1 digits32_no4 digits32_no8; do
  cp "$RUNS/$name/model.safetensors" "$ASSETS/$name.safetensors"
done
.venv/bin/python -m atu.assets.quality
