#!/usr/bin/env bash
# System packages that spae's build needs, installed if missing (Debian/Ubuntu, as root):
# cmake and a C/C++ compiler for llama.cpp, libclang for its Rust bindings, unzip for assets,
# npm for the npm-packaged data sets.
set -euo pipefail
missing=()
command -v cmake >/dev/null || missing+=(cmake)
command -v g++ >/dev/null || missing+=(g++)
command -v unzip >/dev/null || missing+=(unzip)
command -v npm >/dev/null || missing+=(npm)
ls /usr/lib/llvm-*/lib/libclang.so* /usr/lib/x86_64-linux-gnu/libclang*.so* >/dev/null 2>&1 || missing+=(libclang-dev)
if [ ${#missing[@]} -gt 0 ]; then
  echo "[deps] installing ${missing[*]}"
  if [ "$(id -u)" != 0 ]; then
    echo "[deps] error: need root to apt-get install ${missing[*]}; install them and rerun" >&2
    exit 1
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
command -v cargo >/dev/null || { echo "[deps] error: cargo not found: install Rust (rustup)" >&2; exit 1; }
echo "[deps] ok"
