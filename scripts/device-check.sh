#!/usr/bin/env bash
# The GPU check of issue 17, in two halves.
#
#   scripts/device-check.sh prepare   here (Rust, assets): builds the bundle the device machine
#                                     needs into target/device-check/: the stripped release binary
#                                     and, with scripts/cuda-build.sh, the `--features cuda` one
#                                     (both xz-compressed), a Fashion-MNIST subset, 64 test images
#                                     as PNG, a subset of the SmolLM2 codebook, the configurations;
#                                     prints its size (at most 64 MiB travel). CUDA=0 skips the
#                                     CUDA build.
#   scripts/device-check.sh run       on the device machine (no Rust, no network; Python with
#                                     torch): writes its figures under $OUT (default
#                                     results/device-check).
#
# With the device tool:  run(command="scripts/device-check.sh run", carry=["target/device-check"])
#
# What `run` measures, each with its JSON and table in $OUT:
#  1. train-cpu.json       spae's step on the machine's CPU cores against the PyTorch twin on the
#                          same cores, per phase (`spae bench train --compare-torch`), batch 32.
#  With the CUDA binary (spae-cuda):
#  2. train-spae-cuda.json     spae on the GPU against the twin on the GPU, batch 32, and
#     train-spae-cuda-b256.json  the same at batch 256 (the paper's batch), the search as
#                                tensor operations on the GPU (`--search auto`);
#     train-spae-cuda-b256-host-search.json  batch 256 with the search on the host instead.
#     quantizer-cuda.json       the nearest-word search as GPU tensor ops against spae's host
#                               kernel: time and agreement (is the GPU's argmin exact?).
#  3. gpu-run/             `spae train` on the GPU for TRAIN_S seconds (default 150) at batch 256,
#                          then killed: its metrics and latest checkpoint come back (evaluated
#                          on the build machine).
#  4. parity.json          that checkpoint's words for 64 test images, encoded by the CPU binary
#                          and on the GPU: the share of equal words per layer.
#  5. resumed/             that run resumed for 3 steps on the CPU, then 3 on the GPU (one
#                          checkpoint format on both devices; resumed-*.log).
#  6. data-parallel.json   10 steps through the data-parallel path on the one GPU
#                          (`--devices cuda:0`: burn's sync server, a one-device NCCL all-reduce)
#                          against the same 10 steps with `--device cuda`: the same metrics?
#  7. folder.json          30 steps on a folder of 4,600 real photos (128x128 RGB, batch 64),
#                          decoded at the start against streamed from disk: the same metrics, and
#                          the seconds per step of each (does the GPU wait for the images?).
#  8. video-data-parallel.json  the video tokenizer on the GPU (Moving MNIST drawn from the
#                          train split of 400 real digits, 8 frames of 32x32, batch 8, GAN and
#                          LeCAM from step 1): 10 steps with `--device cuda` against 10 through
#                          the data-parallel path (`--devices cuda:0`): the same metrics?
#  Without it: train-twin-cuda.json, the twin on the GPU against spae on the CPU.
set -euo pipefail
cd "$(dirname "$0")/.."
bundle=target/device-check
what="${1:?usage: scripts/device-check.sh prepare | run}"

case "$what" in
prepare)
  . scripts/cpu-env.sh
  cargo build --release --locked --quiet --bin spae
  rm -rf "$bundle"
  mkdir -p "$bundle"
  strip -o "$bundle/spae" "${CARGO_TARGET_DIR:-target}/release/spae"
  if [ "${CUDA:-1}" = 1 ]; then
    scripts/cuda-build.sh "$bundle/spae-cuda"
  fi
  for b in spae spae-cuda; do
    if [ -f "$bundle/$b" ]; then xz -T2 -9 "$bundle/$b"; fi
  done
  python3 tools/device_bundle.py "${SPAE_ASSETS:-assets}" "$bundle" "${IMAGES:-2048}" "${ROWS:-4096}"
  sed "s#^codebook = .*#codebook = \"$bundle/assets/codebooks/smollm2-subset\"#" \
    configs/fashion-mnist.toml > "$bundle/fashion-mnist.toml"
  # Batch 256 (the paper's), for the GPU bench and the GPU training run.
  sed -e 's/^batch_size = .*/batch_size = 256/' -e 's/^steps = .*/steps = 100000/' \
    -e 's/^checkpoint_every = .*/checkpoint_every = 50/' \
    "$bundle/fashion-mnist.toml" > "$bundle/fashion-mnist-b256.toml"
  # Real photos in two class folders and a 128x128 RGB configuration, for the folder run (7.).
  i=0
  for f in "${SPAE_ASSETS:-assets}"/data/photos/*.png; do
    class=$([ $((i % 2)) = 0 ] && echo a || echo b)
    mkdir -p "$bundle/photos/$class"
    cp "$f" "$bundle/photos/$class/"
    i=$((i + 1))
  done
  # A small Moving MNIST video configuration with the GAN and LeCAM from step 1 (8.; LPIPS's VGG
  # weights do not travel).
  sed -e "s#^codebook = .*#codebook = \"$bundle/assets/codebooks/smollm2-subset\"#" \
    -e 's/^clips = .*/clips = 256/' -e 's/^steps = .*/steps = 100000/' \
    -e 's/^checkpoint_every = .*/checkpoint_every = 100000/' \
    -e 's/^sample_every = .*/sample_every = 100000/' \
    -e 's/^adam_beta2 = 0.99$/adam_beta2 = 0.99\ngan = 0.1\ngan_start = 1\nlecam = 0.001/' \
    configs/moving-mnist.toml > "$bundle/moving-mnist.toml"
  cat > "$bundle/folder-128.toml" <<EOF
codebook = "$bundle/assets/codebooks/smollm2-subset"
pyramid = [1, 2, 4, 8, 8]
[data]
dataset = "folder:PHOTOS"
[model]
image_size = 128
image_channels = 3
base_channels = 64
channel_mult = [1, 2, 2, 4, 4]
blocks_per_stage = 1
norm_groups = 32
latent_dim = 576
[loop]
batch_size = 64
steps = 100000
checkpoint_every = 100000
sample_every = 100000
seed = 0
EOF
  # What travels: the working tree (tracked and untracked, not ignored) and the bundle.
  tree=$( (git ls-files; git ls-files --others --exclude-standard) | xargs -d '\n' du -cb 2>/dev/null | tail -1 | cut -f1)
  size=$(du -sb "$bundle" | cut -f1)
  echo "bundle $size bytes + working tree $tree bytes"
  if [ $((size + tree)) -gt $((64 * 1024 * 1024)) ]; then
    echo "bundle and tree are $((size + tree)) bytes: over the 64 MiB that travel (lower ROWS)" >&2
    exit 1
  fi
  ;;
run)
  out="${OUT:-results/device-check}"
  mkdir -p "$out"
  py="${PYTHON:-python3}"
  steps="${STEPS:-10}"
  bin="$(mktemp -d)"
  for b in spae spae-cuda; do
    if [ -f "$bundle/$b.xz" ]; then
      "$py" -c 'import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2], "wb"))' \
        "$bundle/$b.xz" "$bin/$b"
      chmod +x "$bin/$b"
    fi
  done
  [ -x "$bin/spae" ] || { echo "no $bundle/spae: run 'scripts/device-check.sh prepare' first" >&2; exit 1; }
  export SPAE_ASSETS="$bundle/assets"
  # The CUDA headers NVRTC includes and the NVRTC library: the toolkit's, else PyTorch's wheels'.
  eval "$("$py" tools/device_cuda_env.py)"
  {
    echo "# device check $(date -u +%FT%TZ)"
    nproc | sed 's/^/cpu cores: /'
    command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || echo "no nvidia-smi"
    "$py" -c 'import torch; print("torch", torch.__version__, "cuda", torch.cuda.is_available())' \
      || echo "no torch in $py"
    echo "CUDA_PATH=${CUDA_PATH:-unset}"
    echo "LD_LIBRARY_PATH=${LD_LIBRARY_PATH:-unset}"
  } | tee "$out/machine.txt"
  # Every bench is bounded, so one that fails or hangs still leaves the others' figures.
  bench() {
    local exe="$1"
    shift
    timeout 240 "$exe" bench train --steps "$steps" --compare-torch --python "$py" "$@"
  }
  bench "$bin/spae" --config "$bundle/fashion-mnist.toml" --out "$out/train-cpu.json" \
    | tee "$out/train-cpu.md"
  gpu=0
  "$py" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)' && gpu=1
  if [ -x "$bin/spae-cuda" ] && [ "$gpu" = 1 ]; then
    # Each GPU step is bounded, so one failure still leaves the others' figures.
    for cfg in fashion-mnist fashion-mnist-b256; do
      name=train-spae-cuda${cfg#fashion-mnist}
      bench "$bin/spae-cuda" --device cuda --config "$bundle/$cfg.toml" --torch-device cuda \
        --out "$out/$name.json" > "$out/$name.md" 2> "$out/$name.err" \
        || echo "exit $? (see $name.err)" >> "$out/$name.md"
      cat "$out/$name.md"
      tail -5 "$out/$name.err"
    done
    # The same batch 256 step with the search on the host (the latents read back, SAQ on the
    # host's cores) instead of as tensor operations on the GPU: what the device search saves.
    timeout 150 "$bin/spae-cuda" --device cuda bench train --steps "$steps" --search host \
      --config "$bundle/fashion-mnist-b256.toml" --out "$out/train-spae-cuda-b256-host-search.json" \
      > "$out/train-spae-cuda-b256-host-search.md" 2> "$out/train-spae-cuda-b256-host-search.err" \
      || echo "exit $?" >> "$out/train-spae-cuda-b256-host-search.md"
    cat "$out/train-spae-cuda-b256-host-search.md"
    # The nearest-word search as GPU tensor ops (matmul + argmax) against spae's host kernel, on
    # a batch 256 step's 38,144 vectors and the full codebook's 31,534 rows (random data): its
    # speed, and its agreement (whether the GPU's f32 matmul keeps the arg-min exact).
    timeout 180 "$bin/spae-cuda" --device cuda bench quantizer --n 38144 --k 31534 \
      --threads "$(nproc)" --python none --out "$out/quantizer-cuda.json" \
      > "$out/quantizer-cuda.md" 2> "$out/quantizer-cuda.err" \
      || echo "exit $? (see quantizer-cuda.err)" >> "$out/quantizer-cuda.md"
    cat "$out/quantizer-cuda.md"
    run="$out/gpu-run"
    timeout -s INT "${TRAIN_S:-150}" "$bin/spae-cuda" --device cuda train \
      --config "$bundle/fashion-mnist-b256.toml" --out "$run" > "$out/gpu-run.log" 2>&1 \
      || echo "train exit $? (timeout is 124)" | tee -a "$out/gpu-run.log"
    tail -3 "$out/gpu-run.log"
    if [ -f "$run/LATEST" ]; then
      "$bin/spae" encode --json --checkpoint "$run" "$bundle"/images/*.png > "$out/words-cpu.json" \
        2> "$out/words-cpu.err" || true
      timeout 120 "$bin/spae-cuda" --device cuda encode --json --checkpoint "$run" \
        "$bundle"/images/*.png > "$out/words-cuda.json" 2> "$out/words-cuda.err" || true
      "$py" tools/device_parity.py "$out/words-cpu.json" "$out/words-cuda.json" "$out/parity.json" \
        || echo "parity: not computed (see words-*.err)"
      # One checkpoint format on both devices: the GPU run resumed on the CPU, then on the GPU.
      cp -r "$run" "$out/resumed"
      timeout 180 "$bin/spae" train --config "$bundle/fashion-mnist-b256.toml" --out "$out/resumed" \
        --resume --max-steps 3 > "$out/resumed-cpu.log" 2>&1 || echo "exit $?" >> "$out/resumed-cpu.log"
      timeout 120 "$bin/spae-cuda" --device cuda train --config "$bundle/fashion-mnist-b256.toml" \
        --out "$out/resumed" --resume --max-steps 3 > "$out/resumed-cuda.log" 2>&1 \
        || echo "exit $?" >> "$out/resumed-cuda.log"
      tail -2 "$out/resumed-cpu.log" "$out/resumed-cuda.log"
    fi
    # burn's data-parallel path on the one GPU against the plain run: the same 10 steps of
    # configuration $1, run as $out/$2-device and $out/$2-devices, compared into $out/$3.
    one_against_ranks() {
      for mode in device devices; do
        extra=()
        [ "$mode" = devices ] && extra=(--devices cuda:0)
        timeout 120 "$bin/spae-cuda" --device cuda train --config "$1" \
          --out "$out/$2-$mode" --max-steps 10 "${extra[@]}" > "$out/$2-$mode.log" 2>&1 \
          || echo "exit $?" >> "$out/$2-$mode.log"
        tail -2 "$out/$2-$mode.log"
      done
      "$py" tools/device_metrics.py "$out/$2-device/metrics.jsonl" "$out/$2-devices/metrics.jsonl" \
        "$out/$3" || echo "$3: not compared (see $2-*.log)"
    }
    one_against_ranks "$bundle/fashion-mnist.toml" dp data-parallel.json
    # A folder read from disk while the GPU trains: the bundle's 23 photos hard-linked 200 times
    # (4,600 files of 102x102 to 741x500), 128x128 RGB, batch 64, 30 steps, decoded at the start
    # against streamed (each step's images read on a background thread while the step before
    # trains). Same metrics? Does the GPU wait (seconds per step)?
    photos="$(mktemp -d)/photos"
    for f in "$bundle"/photos/*/*.png; do
      class="$photos/$(basename "$(dirname "$f")")"
      mkdir -p "$class"
      for k in $(seq 200); do ln "$f" "$class/$(basename "$f" .png)-$k.png"; done
    done
    for mode in decoded streamed; do
      sed "s#folder:PHOTOS#folder:$photos#" "$bundle/folder-128.toml" > "$out/folder-$mode.toml"
      [ "$mode" = streamed ] && sed -i 's/^\[data\]$/[data]\nstream = true/' "$out/folder-$mode.toml"
      timeout 150 "$bin/spae-cuda" --device cuda train --config "$out/folder-$mode.toml" \
        --out "$out/folder-$mode" --max-steps 30 > "$out/folder-$mode.log" 2>&1 \
        || echo "exit $?" >> "$out/folder-$mode.log"
      tail -2 "$out/folder-$mode.log"
    done
    "$py" tools/device_metrics.py "$out/folder-decoded/metrics.jsonl" \
      "$out/folder-streamed/metrics.jsonl" "$out/folder.json" \
      || echo "folder: not compared (see folder-*.log)"
    # The video tokenizer on the GPU, one device against the data-parallel path on it (8.). The
    # MNIST digits travel gzipped; they are unzipped into the installed layout first.
    "$py" -c 'import gzip, os, shutil, sys
os.makedirs(sys.argv[2], exist_ok=True)
for d in range(10):
    shutil.copyfileobj(gzip.open(f"{sys.argv[1]}/{d}.json.gz"), open(f"{sys.argv[2]}/{d}.json", "wb"))' \
      "$bundle/mnist-gz" "$SPAE_ASSETS/data/mnist"
    one_against_ranks "$bundle/moving-mnist.toml" video video-data-parallel.json
  else
    if [ "$gpu" = 1 ]; then
      bench "$bin/spae" --config "$bundle/fashion-mnist.toml" --torch-device cuda \
        --out "$out/train-twin-cuda.json" | tee "$out/train-twin-cuda.md"
    else
      echo "torch sees no GPU: nothing ran on a GPU" | tee "$out/train-twin-cuda.md"
    fi
    echo "no spae-cuda in $bundle (scripts/cuda-build.sh): spae itself did not run on the GPU" \
      | tee "$out/train-spae-cuda.md"
  fi
  ;;
*)
  echo "usage: scripts/device-check.sh prepare | run" >&2
  exit 2
  ;;
esac
