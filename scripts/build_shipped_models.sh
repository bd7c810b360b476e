#!/usr/bin/env bash
# Rebuilds every model in python/atu/assets/ with atu's own commands, then measures them:
#   bash scripts/build_shipped_models.sh [RUNS_DIR]       (default RUNS_DIR: runs/shipped)
# Needs an installed atu (bash scripts/setup.sh). Each pretraining run is resumable: rerunning the
# script after an interruption continues where it stopped. The thread counts are the ones the shipped
# files were made with (a CPU run's last bits depend on them; python/atu/assets/MODELS.md has the times):
# the base model alone with two threads, then the retrained references two at a time with one each.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS="${1:-runs/shipped}"
ATU="${ATU:-.venv/bin/atu}"
ASSETS=python/atu/assets
STEPS=8000
mkdir -p "$RUNS"

OMP_NUM_THREADS=1 "$ATU" train-classifier --data digits --resolution 32 --seed 0 --force --out "$ASSETS/digits_classifier.safetensors"
OMP_NUM_THREADS=1 "$ATU" train-classifier --data digits --resolution 32 --seed 1 --force --out "$ASSETS/digits_classifier_seed1.safetensors"

pretrain() {  # pretrain THREADS NAME [atu pretrain options...]
  local threads=$1 name=$2; shift 2
  local resume=()
  [[ -f "$RUNS/$name/checkpoint.safetensors" ]] && resume=(--resume)
  [[ -f "$RUNS/$name/model.safetensors" ]] && return 0     # finished
  OMP_NUM_THREADS=$threads "$ATU" pretrain --data digits --size 32 --width 48 --style-dim 128 --n-mlp 8 --steps "$STEPS" --seed 0 \
      --out "$RUNS/$name" "${resume[@]}" "$@" > "$RUNS/$name.log" 2>&1
}
pretrain 2 digits32
pretrain 1 digits32_no8 --exclude-classes 8 & a=$!; pretrain 1 digits32_no1 --exclude-classes 1 & b=$!
wait $a; wait $b            # `wait` on a pid returns that run's status, so a failure stops the script
pretrain 1 digits32_no4 --exclude-classes 4

for name in digits32 digits32_no1 digits32_no4 digits32_no8; do
  cp "$RUNS/$name/model.safetensors" "$ASSETS/$name.safetensors"
done
.venv/bin/python -m atu.assets.quality
