#!/usr/bin/env bash
# Sets everything up and runs the main job. Until `atu demo` (the full unlearning pipeline)
# exists, that is the penalty demonstration on a real StyleGAN2-sized parameter set.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${ATU_VENV:-.venv}"
bash scripts/setup.sh
cd /  # run the installed package, not the checkout's sources (they have no compiled _C)
"$OLDPWD/$VENV/bin/python" -m atu.penalty_demo "$@"
