#!/usr/bin/env bash
# Everything a session with a lent GPU runs, in one go (run from the checkout):
#   build with the CUDA kernels, `atu check-ops --device cuda`, the CUDA tests, the GPU benchmarks,
#   and check-ops once more under compute-sanitizer (out-of-bounds accesses, races).
# Results go to $OUT (default bench/results/gpu-run), named after the GPU; copy them into
# bench/results/ and commit. Each step's failure is recorded and the next still runs. Every step has
# its own time limit and the whole script a deadline (BUDGET seconds, default 540), so a slow step
# costs the steps after it their time, never the logs of the ones before.
#
#   OUT=/some/dir BUDGET=540 bash bench/gpu_session.sh [--quick]   (--quick: install and check-ops --quick only)
#   ATU_WHEEL=path/to/atu-*.whl: the wheel to install (default: dist/cuda's, when there is one)
set -uo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-bench/results/gpu-run}"
mkdir -p "$OUT"
DEADLINE=$(( $(date +%s) + ${BUDGET:-540} ))
PY="${PYTHON:-python3}"
GPU="$("$PY" -c 'import torch; print(torch.cuda.get_device_name().replace(" ", "-").lower())' 2>/dev/null || echo unknown-gpu)"
LOG="$OUT/$GPU-session.log"
export PYTHONUNBUFFERED=1

# step LIMIT_S CMD...: runs CMD with at most LIMIT_S seconds (less when the deadline is nearer).
step() {
  local limit=$1; shift
  local left=$(( DEADLINE - $(date +%s) - 5 ))
  (( left < limit )) && limit=$left
  if (( limit < 10 )); then echo "== $* (skipped: the deadline is reached)" | tee -a "$LOG"; return; fi
  echo "== $* (limit ${limit}s)" | tee -a "$LOG"
  local t0=$(date +%s)
  timeout --kill-after=5 "$limit" "$@" >>"$LOG" 2>&1
  echo "   rc=$? in $(( $(date +%s) - t0 ))s" | tee -a "$LOG"
}

{ nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv; nproc; "$PY" -VV; } >>"$LOG" 2>&1
# The CUDA wheel scripts/check_cuda_build.sh built (against torch 2.14.1, on the stable ABI of the
# target torch, sm_90) runs under the device's torch unbuilt: carry dist/cuda along. Only without
# one is atu built here (sm_90 only: the H100 and H200 are sm_90, and one architecture halves the
# kernels' compile time).
WHEEL="${ATU_WHEEL:-$(ls dist/cuda/atu-*.whl 2>/dev/null | head -1)}"
if [[ -n "$WHEEL" ]]; then
  echo "== installing the prebuilt $WHEEL" | tee -a "$LOG"
  step 120 "$PY" -m pip install --no-deps --force-reinstall "$WHEEL"
else
  step 300 env ATU_CUDA=ON CUDAARCHS="${CUDAARCHS:-90}" CMAKE_BUILD_PARALLEL_LEVEL=16 \
    "$PY" -m pip install --no-build-isolation --no-deps -v .
fi
step 60 bash -c "cd / && $PY -c 'import torch, atu_ext; print(torch.__version__, atu_ext.build_info())'"
ATU=("$PY" -c 'import sys; from atu.cli import main; sys.exit(main())')
if [[ "${1:-}" == "--quick" ]]; then
  step 120 "${ATU[@]}" check-ops --device cuda --quick --json "$OUT/$GPU-check-ops-quick.json"
  exit 0
fi
step 120 "${ATU[@]}" check-ops --device cuda --json "$OUT/$GPU-check-ops.json"
step 180 "$PY" -m pytest -q -p no:cacheprovider -m cuda tests --junitxml="$OUT/$GPU-cuda-tests.xml"
step 90 "$PY" -m pytest -q -p no:cacheprovider bench/test_bench_penalties.py --benchmark-json="$OUT/$GPU.json"
step 120 "$PY" -m pytest -q -p no:cacheprovider bench/test_bench_upfirdn2d.py bench/test_bench_bias_act.py \
  bench/test_bench_modulated_conv.py --benchmark-json="$OUT/$GPU-ops.json"
step 90 "$PY" -m pytest -q -p no:cacheprovider bench/test_bench_models.py --benchmark-json="$OUT/$GPU-models.json"
# the 256- and 1024-px stage steps, atu_ext against the reference ops (rosinality's too where
# ATU_ROSINALITY_SRC names a checkout) and in bf16 and fp16 against float32
step 120 env ATU_BENCH_FULL_SIZE=1 "$PY" -m pytest -q -p no:cacheprovider bench/test_bench_rosinality.py \
  --benchmark-json="$OUT/$GPU-stages256.json"
if command -v compute-sanitizer >/dev/null; then
  step 120 compute-sanitizer --tool memcheck --error-exitcode 9 "${ATU[@]}" check-ops --device cuda --quick
fi
echo "logs and results in $OUT" | tee -a "$LOG"
