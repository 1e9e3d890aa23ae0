#!/usr/bin/env bash
# Benchmarks with their reference implementations in the same invocation.
#   scripts/bench.sh quantizer [spae bench quantizer options]
#   scripts/bench.sh train --compare-torch [spae bench train options]
# Creates .venv (PyPI torch, numpy, gguf) for the PyTorch side on first use.
set -euo pipefail
cd "$(dirname "$0")/.."
what="${1:?usage: scripts/bench.sh quantizer|train [options]}"
shift
if [ ! -x .venv/bin/python ] || ! .venv/bin/python -c 'import torch, numpy' 2>/dev/null; then
  echo "[bench] creating .venv with torch and numpy (large download, once)"
  python3 -m venv .venv
  .venv/bin/pip install --quiet torch numpy gguf
fi
. scripts/cpu-env.sh
cargo run --release --locked --quiet --bin spae -- bench "$what" --python .venv/bin/python "$@"
