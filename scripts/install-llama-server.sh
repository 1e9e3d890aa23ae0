#!/usr/bin/env bash
# A real OpenAI-compatible server for the HTTP backend's tests: llama-cpp-python's server (PyPI
# llama-cpp-python[server], built from its source distribution once, ~10 min on 2 cores; the
# wheel is cached under ~/.cache/spae/wheels) installed into assets/tools/llama-server.
#   scripts/install-llama-server.sh            # then: PYTHONPATH=assets/tools/llama-server python3 -m llama_cpp.server --model ...
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
assets="${SPAE_ASSETS:-$root/assets}"
version=0.3.36
dest="$assets/tools/llama-server"
say() { echo "[llama-server] $*"; }
if PYTHONPATH="$dest" python3 -c "import llama_cpp.server, llama_cpp; assert llama_cpp.__version__ == '$version'" 2>/dev/null; then
  say "llama-cpp-python $version present"
  exit 0
fi
wheels="${XDG_CACHE_HOME:-$HOME/.cache}/spae/wheels"
mkdir -p "$wheels"
if ! ls "$wheels"/llama_cpp_python-"$version"-*.whl >/dev/null 2>&1; then
  say "building llama-cpp-python $version from source (once; ~10 min on 2 cores)"
  CMAKE_BUILD_PARALLEL_LEVEL="$(nproc)" \
  CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_BLAS=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF" \
    python3 -m pip wheel --quiet --no-deps --no-cache-dir -w "$wheels" "llama-cpp-python==$version"
fi
rm -rf "$dest.part"
python3 -m pip install --quiet --disable-pip-version-check --target "$dest.part" \
  "$(ls "$wheels"/llama_cpp_python-"$version"-*.whl | head -1)[server]"
rm -rf "$dest" && mv "$dest.part" "$dest"
say "installed llama-cpp-python $version into $dest"
