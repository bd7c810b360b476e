#!/usr/bin/env bash
# Checks that atu can be published and installed as users install it:
#   1. `python -m build --sdist` makes the source package, under 30 MB, without runs/, bench/results/,
#      .ci/ or build outputs;
#   2. `python -m build --wheel` builds the wheel from that sdist (so the sdist holds everything the
#      build needs), against the torch of .venv, without build isolation (as scripts/setup.sh does);
#   3. that wheel goes into a fresh venv beside only torch and atu's own dependencies, and
#      `atu check-ops --quick` and `atu demo --toy mog` run there, outside the checkout.
# Run after scripts/setup.sh --test (scripts/test.sh does), which provides .venv.
#
#   bash scripts/check_package.sh
set -euo pipefail
cd "$(dirname "$0")/.."
PY="$(pwd)/.venv/bin/python"
DIST="$(pwd)/dist/package"
FRESH="$(pwd)/dist/package-venv"
rm -rf "$DIST" "$FRESH" && mkdir -p "$DIST"
TORCH_VERSION="$("$PY" -c 'import torch; print(torch.__version__.split("+")[0])')"

echo "[check_package] 1. the sdist"
"$PY" -m build --sdist --outdir "$DIST" . >/dev/null
SDIST="$(ls "$DIST"/atu-*.tar.gz)"
"$PY" - "$SDIST" <<'PY'
import sys
import tarfile

path = sys.argv[1]
size = __import__("os").path.getsize(path)
with tarfile.open(path) as tar:
    names = [n.split("/", 1)[1] for n in tar.getnames() if "/" in n]
banned = [n for n in names if n.split("/")[0] in ("runs", ".ci", "build", "dist", ".venv", ".venv-cuda")
          or n.startswith("bench/results")]
assert not banned, f"the sdist holds what it must not: {banned[:5]}"
for needed in ("LICENSE", "pyproject.toml", "CMakeLists.txt", "csrc/torch/schemas.cpp", "python/atu/cli.py",
               "python/atu/assets/mnist32.safetensors"):
    assert needed in names, f"the sdist lacks {needed}"
assert size < 30 * 2**20, f"the sdist is {size / 2**20:.1f} MB (limit 30)"
print(f"[check_package] {path}: {size / 2**20:.1f} MB, {len(names)} files")
PY

echo "[check_package] 2. the wheel, built from the sdist against torch $TORCH_VERSION"
"$PY" -m build --wheel --no-isolation --outdir "$DIST" "$SDIST" >/dev/null
WHEEL="$(ls "$DIST"/atu-*.whl)"
echo "[check_package] $WHEEL"
# The listing is read whole by Python: `zipfile -l | grep -q` dies of a broken pipe under pipefail
# whenever grep finds its match before the listing ends.
"$PY" - "$WHEEL" <<'PY'
import sys
import zipfile

names = zipfile.ZipFile(sys.argv[1]).namelist()
for needed, what in (("atu_ext/_C.abi3.so", "the compiled extension"), ("LICENSE", "the license")):
    assert any(n.endswith(needed) for n in names), f"the wheel lacks {what} ({needed})"
PY

echo "[check_package] 3. a fresh venv: torch==$TORCH_VERSION and the wheel"
python3 -m venv "$FRESH"
"$FRESH/bin/python" -m pip --disable-pip-version-check -q install "torch==$TORCH_VERSION"
"$FRESH/bin/python" -m pip --disable-pip-version-check -q install "$WHEEL" "torch==$TORCH_VERSION"
cd /tmp
"$FRESH/bin/atu" check-ops --quick
"$FRESH/bin/atu" demo --toy mog --out "$DIST/demo-mog" >/dev/null
test -s "$DIST/demo-mog/metrics.json"
echo "[check_package] the installed wheel ran check-ops --quick and demo --toy mog (metrics in $DIST/demo-mog)"
