#!/usr/bin/env bash
# The GPU check of issue 17, in two halves.
#
#   scripts/device-check.sh prepare   here (Rust, assets): builds the bundle the device machine
#                                     needs into target/device-check/ (stripped release binary,
#                                     a Fashion-MNIST subset, a subset of the SmolLM2 codebook,
#                                     the configuration); prints its size (at most 64 MiB travel).
#   scripts/device-check.sh run       on the device machine (no Rust, no network; Python with
#                                     torch): writes its figures under $OUT (default
#                                     results/device-check).
#
# With the device tool:  run(command="scripts/device-check.sh run", carry=["target/device-check"])
#
# What `run` measures, each with its JSON and table in $OUT:
#  1. train-cpu.json   spae's step on the machine's CPU cores against the PyTorch twin on the
#                      same cores, per phase (`spae bench train --compare-torch`).
#  2. train-twin-cuda.json  the same, the twin on the GPU: the twin's images/s on CUDA (spae's
#                      column is still its CPU).
#  3. spae on the GPU, only where target/device-check/spae-cuda exists: a build with
#     `--features cuda`, which needs burn's LLVM bundle downloaded at build time (docs/build.md);
#     then GPU-vs-CPU word parity and `bench train --device cuda --compare-torch --torch-device cuda`.
set -euo pipefail
cd "$(dirname "$0")/.."
bundle=target/device-check
what="${1:?usage: scripts/device-check.sh prepare | run}"

case "$what" in
prepare)
  . scripts/cpu-env.sh
  cargo build --release --locked --quiet --bin spae
  mkdir -p "$bundle"
  strip -o "$bundle/spae" "${CARGO_TARGET_DIR:-target}/release/spae"
  rm -rf "$bundle/assets"
  python3 tools/device_bundle.py "${SPAE_ASSETS:-assets}" "$bundle" "${IMAGES:-2048}" "${ROWS:-12288}"
  sed "s#^codebook = .*#codebook = \"$bundle/assets/codebooks/smollm2-subset\"#" \
    configs/fashion-mnist.toml > "$bundle/fashion-mnist.toml"
  du -sh "$bundle"
  size=$(du -sb "$bundle" | cut -f1)
  if [ "$size" -gt $((64 * 1024 * 1024)) ]; then
    echo "the bundle is $size bytes: over the 64 MiB that travel" >&2
    exit 1
  fi
  ;;
run)
  out="${OUT:-results/device-check}"
  mkdir -p "$out"
  [ -x "$bundle/spae" ] || { echo "no $bundle/spae: run 'scripts/device-check.sh prepare' first" >&2; exit 1; }
  export SPAE_ASSETS="$bundle/assets"
  py="${PYTHON:-python3}"
  steps="${STEPS:-10}"
  {
    echo "# device check $(date -u +%FT%TZ)"
    nproc | sed 's/^/cpu cores: /'
    command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || echo "no nvidia-smi"
    "$py" -c 'import torch; print("torch", torch.__version__, "cuda", torch.cuda.is_available())'
  } | tee "$out/machine.txt"
  bench() { "$bundle/spae" bench train --config "$bundle/fashion-mnist.toml" --steps "$steps" \
    --compare-torch --python "$py" "$@"; }
  bench --out "$out/train-cpu.json" | tee "$out/train-cpu.md"
  if "$py" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)'; then
    bench --torch-device cuda --out "$out/train-twin-cuda.json" | tee "$out/train-twin-cuda.md"
  else
    echo "torch sees no GPU: the CUDA twin was not run" | tee "$out/train-twin-cuda.md"
  fi
  if [ -x "$bundle/spae-cuda" ]; then
    "$bundle/spae-cuda" --device cuda bench train --config "$bundle/fashion-mnist.toml" \
      --steps "$steps" --compare-torch --torch-device cuda --python "$py" \
      --out "$out/train-spae-cuda.json" \
      | tee "$out/train-spae-cuda.md"
  else
    echo "no $bundle/spae-cuda (a --features cuda build; see docs/build.md): spae itself did not run on the GPU" \
      | tee "$out/train-spae-cuda.md"
  fi
  ;;
*)
  echo "usage: scripts/device-check.sh prepare | run" >&2
  exit 2
  ;;
esac
