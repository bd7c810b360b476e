#!/usr/bin/env bash
# Sets everything up and runs the whole test suite: builds atu, compiles every CUDA kernel with
# nvcc for sm_80 and sm_90 (when nvcc is present) so CUDA code cannot rot on GPU-less machines,
# then runs pytest (CUDA tests skip without a GPU) and a single-shot pass over the benchmarks.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${ATU_VENV:-.venv}"

bash scripts/setup.sh --test
PYTHON="$VENV/bin/python" bash scripts/check_cuda_compiles.sh
# Run the installed package, not the source tree: the checkout's atu_ext/ has no compiled _C.
"$VENV/bin/pytest" -q tests bench --benchmark-disable "$@"
