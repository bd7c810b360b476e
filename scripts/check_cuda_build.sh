#!/usr/bin/env bash
# Checks, on a machine without a GPU, the two things GPU users and other torch releases rely on:
#   1. one build serves every torch from its target on: the wheel scripts/setup.sh built against the
#      CPU torch (torch==2.13.0, dist/.venv) is installed, not rebuilt, into a second venv with
#      the CUDA build of torch==2.14.1 (.venv-cuda), and the op tests and `atu check-ops --quick` run there;
#   2. the CUDA kernels build as a GPU user builds them: against that torch, with ATU_CUDA=ON for sm_90
#      only (to keep it short) and every warning in our code an error; the build imports, reports
#      CUDA kernels, has a CUDA kernel registered for every torch.ops.atu op, and passes the CPU op
#      tests and `atu check-ops --quick` (CUDA tests skip: no GPU). Its wheel stays in dist/cuda for
#      bench/gpu_session.sh to install on a lent GPU machine unbuilt.
# A failure of any step (install, configure, compile, link, import, test) fails the script.
#
#   bash scripts/check_cuda_build.sh            (scripts/test.sh runs it after the CPU suite)
#
# Environment: ATU_CUDA_VENV (default .venv-cuda), ATU_CUDA_TORCH (default torch==2.14.1),
# CUDAARCHS (default 90). The venv costs about 5.5 GB of disk and a minute to install from the
# local package index; the build two minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${ATU_CUDA_VENV:-.venv-cuda}"
VENV_PY="$(pwd)/$VENV/bin/python"
CPU_WHEEL="$(ls dist/.venv/atu-*.whl)"

echo "[check_cuda_build] 1. the build made against the CPU torch, installed unbuilt: $CPU_WHEEL"
ATU_VENV="$VENV" ATU_TORCH="${ATU_CUDA_TORCH:-torch==2.14.1}" ATU_WHEEL="$CPU_WHEEL" bash scripts/setup.sh --test
"$VENV_PY" - <<'PY'
import torch

import atu_ext

info = atu_ext.build_info()
assert info["torch"] != info["built_against_torch"], f"the wheel under test was built against this torch: {info}"
print(f"[check_cuda_build] atu_ext built against torch {info['built_against_torch']} (stable ABI of "
      f"{info['target_torch']}) runs under torch {torch.__version__}")
PY
(cd / && "$VENV_PY" -c 'import sys; from atu.cli import main; sys.exit(main())' check-ops --quick)
"$VENV/bin/pytest" -q -p no:cacheprovider tests/ops

echo "[check_cuda_build] 2. the CUDA kernels, built against the CUDA torch"
ATU_VENV="$VENV" ATU_TORCH="${ATU_CUDA_TORCH:-torch==2.14.1}" ATU_CUDA=ON CUDAARCHS="${CUDAARCHS:-90}" \
  ATU_WARNINGS_AS_ERRORS=ON ATU_WHEEL_DIR=dist/cuda SKBUILD_BUILD_DIR="build/cuda-{wheel_tag}" \
  bash scripts/setup.sh --test
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
