#!/usr/bin/env bash
# Sets everything up and runs the main job: `atu demo`, Adapt-then-Unlearn end to end on the
# MNIST StyleGAN2 that ships with atu (remove the digit 8: feedback → stage 1 → stage 2 (EL2 in the
# paper's update) → extrapolation baseline → evaluation → report). Arguments go to `atu demo` (see
# `atu demo --help`).
# Run again, it continues the same study in atu-demo/ (nothing finished is redone); pass --out for
# a new one.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${ATU_VENV:-.venv}"
bash scripts/setup.sh
ARGS=("$@")
if [[ " $* " != *" --out "* && " $* " != *" --toy "* && -f atu-demo/config.json && " $* " != *" --resume "* ]]; then
  echo "[demo] atu-demo/ holds an earlier demo: continuing it (--resume); pass --out DIR for a new one"
  ARGS+=(--resume)
fi
exec "$VENV/bin/atu" demo "${ARGS[@]}"
