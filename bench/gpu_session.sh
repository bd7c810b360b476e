#!/usr/bin/env bash
# Everything a session with a lent GPU runs, in one go (the device tool runs it from the checkout):
#   build with the CUDA kernels, `atu check-ops --device cuda`, the CUDA tests, the GPU benchmarks.
# Results go to $OUT (default bench/results/gpu-run), named after the GPU; copy them into
# bench/results/ and commit. Each step's failure is recorded and the next still runs.
#
#   OUT=/some/dir bash bench/gpu_session.sh [--quick]     (--quick: check-ops --quick, no benchmarks)
set -uo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-bench/results/gpu-run}"
mkdir -p "$OUT"
GPU="$(python3 -c 'import torch; print(torch.cuda.get_device_name().replace(" ", "-").lower())' 2>/dev/null || echo unknown-gpu)"
LOG="$OUT/$GPU-session.log"
step() { echo "== $*" | tee -a "$LOG"; ( "$@" ) >>"$LOG" 2>&1; echo "   rc=$?" | tee -a "$LOG"; }

step env ATU_CUDA=ON pip install --no-build-isolation --no-deps -v .
step bash -c "cd / && python3 -c 'import torch, atu_ext; print(torch.__version__, atu_ext.build_info())'"
if [[ "${1:-}" == "--quick" ]]; then
  step atu check-ops --device cuda --quick --json "$OUT/$GPU-check-ops-quick.json"
  exit 0
fi
step atu check-ops --device cuda --json "$OUT/$GPU-check-ops.json"
step python3 -m pytest -q -p no:cacheprovider -m cuda tests
step python3 -m pytest -q -p no:cacheprovider bench/test_bench_penalties.py --benchmark-json="$OUT/$GPU.json"
step python3 -m pytest -q -p no:cacheprovider bench/test_bench_upfirdn2d.py bench/test_bench_bias_act.py \
  bench/test_bench_modulated_conv.py --benchmark-json="$OUT/$GPU-ops.json"
step python3 -m pytest -q -p no:cacheprovider bench/test_bench_models.py --benchmark-json="$OUT/$GPU-models.json"
echo "logs and results in $OUT" | tee -a "$LOG"
