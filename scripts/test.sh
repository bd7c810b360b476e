#!/usr/bin/env bash
# Sets everything up and runs the whole test suite: builds atu against the CPU torch, checks the style
# (ruff) and the layers (import-linter), and runs pytest
# (CUDA tests skip without a GPU; `atu check-ops --quick` runs on the CPU) and a single-shot pass
# over the benchmarks; then makes the sdist and a wheel from it and runs that wheel in a fresh venv
# (scripts/check_package.sh); then, in a second venv with the CUDA torch, runs the op tests against
# the very build made against the CPU torch, builds atu with its CUDA kernels and tests that build
# (scripts/check_cuda_build.sh), so neither the build GPU users run nor another torch's can rot on
# machines without a GPU.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${ATU_VENV:-.venv}"

bash scripts/setup.sh --test
# tests/web/test_label.py drives the `atu label` page in Debian's headless Chromium: install it when
# missing, and make a missing browser fail that test instead of skipping it.
if [[ ! -x /usr/bin/chromium || ! -x /usr/bin/chromedriver ]]; then
  echo "[test] installing chromium and chromium-driver (for the browser test)"
  AS_ROOT=(); [[ "$(id -u)" -ne 0 ]] && AS_ROOT=(sudo)
  APT=("${AS_ROOT[@]}" env DEBIAN_FRONTEND=noninteractive apt-get)
  "${APT[@]}" install -y -qq chromium chromium-driver >/dev/null \
    || { "${APT[@]}" update -qq && "${APT[@]}" install -y -qq chromium chromium-driver >/dev/null; }
fi
export ATU_REQUIRE_BROWSER=1
# Style and layers first: ruff (lint and format, pyproject.toml) and the import contracts, which
# tests/commands/test_layers.py also runs and shows to fail on an upward import.
"$VENV/bin/ruff" check .
"$VENV/bin/ruff" format --check .
(cd python && "../$VENV/bin/lint-imports" --no-cache ../pyproject.toml)
"$VENV/bin/pytest" -q tests bench --benchmark-disable "$@"
bash scripts/check_package.sh
bash scripts/check_cuda_build.sh
