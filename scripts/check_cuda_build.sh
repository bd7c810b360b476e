#!/usr/bin/env bash
# Builds atu with its CUDA kernels the way a GPU user does, on a machine without a GPU, and checks it:
#   1. a second venv (.venv-cuda) with the CUDA build of torch (torch==2.14.1, CUDA 13.0), built with
#      ATU_CUDA=ON for sm_90 only (to keep it short) and every warning in our code an error;
#   2. it imports, reports CUDA kernels, and every torch.ops.atu op has a CUDA kernel registered with
#      the dispatcher;
#   3. the CPU op tests and `atu check-ops --quick` run against that build (CUDA tests skip: no GPU).
# A failure of any step (configure, compile, link, import, test) fails the script.
#
#   bash scripts/check_cuda_build.sh            (scripts/test.sh runs it after the CPU suite)
#
# Environment: ATU_CUDA_VENV (default .venv-cuda), ATU_CUDA_TORCH (default torch==2.14.1),
# CUDAARCHS (default 90). The venv costs about 5.5 GB of disk and a minute to install from the
# local package index; the build two minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${ATU_CUDA_VENV:-.venv-cuda}"

ATU_VENV="$VENV" ATU_TORCH="${ATU_CUDA_TORCH:-torch==2.14.1}" ATU_CUDA=ON CUDAARCHS="${CUDAARCHS:-90}" \
  ATU_WARNINGS_AS_ERRORS=ON SKBUILD_BUILD_DIR="build/cuda-{wheel_tag}" bash scripts/setup.sh --test

VENV_PY="$(cd "$VENV" && pwd)/bin/python"
"$VENV_PY" - <<'PY'
import sys

import torch

import atu_ext
from atu.selfcheck.checks import check_registrations

assert torch.version.cuda, f"torch {torch.__version__} in the CUDA venv is not a CUDA build"
assert atu_ext.built_with_cuda, "atu_ext was built without its CUDA kernels"
rows = list(check_registrations(torch.device("cuda")))
for row in rows:
    print(f"[check_cuda_build] {row.check}: {'ok' if row.passed else 'FAILED ' + row.note}")
print(f"[check_cuda_build] torch {torch.__version__}, atu_ext CUDA kernels for {atu_ext._C.cuda_architectures}")
sys.exit(0 if all(r.passed for r in rows) else 1)
PY
"$VENV/bin/pytest" -q -p no:cacheprovider tests/ops        # every op test, and check-ops and the build's
