#!/usr/bin/env bash
# Keeps the CUDA code from rotting on machines without a GPU:
#   1. compiles every csrc/cuda/*.cu with nvcc for sm_80 and sm_90 (what CMake builds by default);
#   2. syntax-checks the torch bindings of the CUDA ops (csrc/torch/*_cuda.cpp) against
#      the headers of the torch that $PYTHON imports (a CPU wheel ships c10/cuda's headers too).
# Warnings in our code fail the check like errors; CUDA's and torch's headers are system headers.
#
#   PYTHON=.venv/bin/python scripts/check_cuda_compiles.sh
#
# Environment:
#   NVCC    the nvcc to use (default: nvcc on PATH, else /usr/local/cuda/bin/nvcc)
#   PYTHON  the python whose torch the bindings are checked against (default: python3)
#   CXX     the host compiler of the bindings check (default: g++)
# Without nvcc there is nothing to check: it says so and exits 0. A part that cannot run for a
# reason other than our code (no torch, no CUDA headers) is skipped with a message.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { echo "[check_cuda] $*"; }

NVCC="${NVCC:-$(command -v nvcc || true)}"
if [[ -z "$NVCC" && -x /usr/local/cuda/bin/nvcc ]]; then NVCC=/usr/local/cuda/bin/nvcc; fi
if [[ -z "$NVCC" ]]; then
  log "nvcc not found: skipped (set NVCC or put nvcc on PATH to check the CUDA kernels)"
  exit 0
fi
log "using $NVCC ($("$NVCC" --version | sed -n 's/.*\(release [0-9.]*\).*/\1/p'))"

TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
failed=0

# ---- 1. the kernels -----------------------------------------------------------------------------
NVCC_FLAGS=(
  -std=c++17 -O3 -I csrc
  -gencode arch=compute_80,code=sm_80
  -gencode arch=compute_90,code=sm_90
  -Werror all-warnings                # nvcc's own and ptxas' warnings
  -Xcompiler -Wall,-Wextra,-Werror    # the host compiler's, on the host side of the .cu files
)
shopt -s nullglob
sources=(csrc/cuda/*.cu)
if (( ${#sources[@]} == 0 )); then
  log "no csrc/cuda/*.cu to compile"
fi
for src in "${sources[@]}"; do
  if "$NVCC" "${NVCC_FLAGS[@]}" -c "$src" -o "$TMP/$(basename "$src").o"; then
    log "ok      nvcc $src (sm_80, sm_90)"
  else
    log "FAILED  nvcc $src (sm_80, sm_90)"
    failed=1
  fi
done

# ---- 2. the torch bindings ----------------------------------------------------------------------
check_bindings() {
  local src="$1" python="${PYTHON:-python3}" cxx="${CXX:-g++}"
  if [[ ! -f "$src" ]]; then log "skipped $src: no such file"; return 0; fi
  if ! command -v "$cxx" >/dev/null 2>&1; then
    log "skipped $src: no host compiler '$cxx'"; return 0
  fi
  local torch_inc
  if ! torch_inc="$("$python" -c 'import os, torch; print(os.path.join(os.path.dirname(torch.__file__), "include"))' 2>/dev/null)"; then
    log "skipped $src: '$python' cannot import torch (set PYTHON to a python with torch)"; return 0
  fi
  if [[ ! -f "$torch_inc/c10/cuda/CUDAGuard.h" ]]; then
    log "skipped $src: this torch ships no c10/cuda headers ($torch_inc)"; return 0
  fi
  # The toolkit's include dir as nvcc itself reports it (nvcc may be a wrapper script), else the
  # include dir next to the real nvcc binary.
  local cuda_inc
  cuda_inc="$("$NVCC" --dryrun -x cu -c /dev/null -o /dev/null 2>&1 |
              sed -n 's/^#\$ INCLUDES="-I\([^"]*\)".*/\1/p' | head -n 1)"
  if [[ -z "$cuda_inc" || ! -f "$cuda_inc/cuda_runtime.h" ]]; then
    cuda_inc="$(dirname "$(readlink -f "$NVCC")")/../include"
  fi
  if [[ ! -f "$cuda_inc/cuda_runtime.h" ]]; then
    log "skipped $src: no cuda_runtime.h found next to $NVCC"; return 0
  fi
  local defines=(-DATU_WITH_CUDA)
  # A CUDA build of torch generates c10/cuda/impl/cuda_cmake_macros.h; the CPU wheel lacks it.
  # It only defines C10_CUDA_BUILD_SHARED_LIBS (which matters on Windows alone), and c10 has a
  # switch for building without it.
  if [[ ! -f "$torch_inc/c10/cuda/impl/cuda_cmake_macros.h" ]]; then
    defines+=(-DC10_CUDA_NO_CMAKE_CONFIGURE_FILE)
  fi
  if "$cxx" -fsyntax-only -std=c++17 -Wall -Wextra -Werror "${defines[@]}" -I csrc \
      -isystem "$torch_inc" -isystem "$torch_inc/torch/csrc/api/include" -isystem "$cuda_inc" \
      "$src"; then
    log "ok      $cxx -fsyntax-only $src (torch headers: $torch_inc)"
  else
    log "FAILED  $cxx -fsyntax-only $src"
    failed=1
  fi
}
for src in csrc/torch/*_cuda.cpp; do
  check_bindings "$src"
done

if (( failed )); then
  log "FAILED"
  exit 1
fi
log "all CUDA sources compile"
