#!/usr/bin/env bash
# Builds `spae` with burn's CUDA backend (`--features cuda`) on a machine that cannot download
# cubecl's LLVM bundle (tracel-llvm-bundler fetches it from GitHub in its build script; this
# project's build machine reaches package registries only).
#
# How: cubecl-cuda 0.11 has two kernel compilers, CUDA C++ through NVRTC (its `cpp` feature, which
# spae's `cuda` feature turns on) and PTX through LLVM. The NVRTC one needs no LLVM at build time,
# but cubecl-cuda still names the LLVM crate, so this build patches cubecl-llvm with
# tools/cuda-nvrtc/cubecl-llvm: the same API without LLVM (its compiler returns an error; it is
# never selected). Cargo.lock is restored afterwards, so the CPU build stays `--locked`.
# Where the bundle can be downloaded, a plain `cargo build --release --features spae-cli/cuda`
# does the same without the patch.
#
#   scripts/cuda-build.sh [OUT]     the binary goes to OUT (default target/cuda/spae), stripped
#
# The binary loads the CUDA driver and NVRTC at run time (cudarc's dynamic loading) and needs the
# CUDA headers (`$CUDA_PATH/include`, default /usr/local/cuda) for NVRTC. CUDARC_CUDA_VERSION
# picks the CUDA API it binds (default 13000: CUDA 13.0, which every CUDA 13 driver serves).
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-target/cuda/spae}"
. scripts/cpu-env.sh
export CUDARC_CUDA_VERSION="${CUDARC_CUDA_VERSION:-13000}"
lock_backup="$(mktemp)"
cp Cargo.lock "$lock_backup"
trap 'cp "$lock_backup" Cargo.lock; rm -f "$lock_backup"' EXIT
cargo build --release --bin spae --features spae-cli/cuda \
  --config 'patch.crates-io.cubecl-llvm.path="tools/cuda-nvrtc/cubecl-llvm"'
mkdir -p "$(dirname "$out")"
strip -o "$out" "${CARGO_TARGET_DIR:-target}/release/spae"
ls -la "$out"
# target/release/spae is the CPU binary again (its build is cached: a copy, not a compile).
cp "$lock_backup" Cargo.lock
cargo build --release --locked --quiet --bin spae
