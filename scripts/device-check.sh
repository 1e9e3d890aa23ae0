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
# A rehearsal here, without a GPU (the same `run`, its GPU steps on burn's wgpu backend: the
# cubecl kernels, fusion and tensor-op search CUDA runs, in WGSL on Mesa's lavapipe, a software
# Vulkan on the CPU; `apt-get install mesa-vulkan-drivers`):
#   CUDA=0 WGPU=1 scripts/device-check.sh prepare
#   REHEARSE=wgpu-cpu OUT=results/wgpu-check scripts/device-check.sh run
# Its files are named *-wgpu* where the GPU's say cuda; `--devices` is refused there (burn's
# all-reduce is CUDA's), and without torch the benches run without the twin.
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
#     gpu-vs-cpu.json      and against the same 10 steps on the CPU, from the same initial
#                          weights (drawn from the seed on the CPU for every device).
#  7. folder.json          30 steps on a folder of 4,600 real photos (128x128 RGB, batch 64),
#                          decoded at the start against streamed from disk: the same metrics, and
#                          the seconds per step of each (does the GPU wait for the images?).
#  8. video-data-parallel.json  the video tokenizer on the GPU (Moving MNIST drawn from the
#                          train split of 400 real digits, 8 frames of 32x32, batch 8, GAN and
#                          LeCAM from step 1): 10 steps with `--device cuda` against 10 through
#                          the data-parallel path (`--devices cuda:0`): the same metrics?
#     video-gpu-vs-cpu.json  and against the same 10 steps on the CPU.
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
  if [ "${WGPU:-0}" = 1 ]; then
    # The rehearsal's binary: burn's wgpu backend (the same cubecl kernels as CUDA's).
    cargo build --release --locked --quiet --bin spae --features spae-cli/wgpu
    strip -o "$bundle/spae-wgpu" "${CARGO_TARGET_DIR:-target}/release/spae"
    cargo build --release --locked --quiet --bin spae
  fi
  for b in spae spae-cuda spae-wgpu; do
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
  for b in spae spae-cuda spae-wgpu; do
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
  twin=(--compare-torch --python "$py")
  "$py" -c 'import torch' 2>/dev/null || twin=()
  bench() {
    local exe="$1"
    shift
    timeout 240 "$exe" bench train --steps "$steps" "${twin[@]}" "$@"
  }
  bench "$bin/spae" --config "$bundle/fashion-mnist.toml" --out "$out/train-cpu.json" \
    | tee "$out/train-cpu.md"
  gpu=0
  "$py" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)' && gpu=1
  # The GPU binary, its device and the twin's; the batch-256 configuration; the codebook rows of
  # the search bench; the bound on a training pair's runs, and the video and folder steps.
  gtag=cuda gdev=cuda tdev=cuda
  big="$bundle/fashion-mnist-b256.toml"
  rows=31534 tmo=120 video_steps=10 folder_steps=30
  if [ -n "${REHEARSE:-}" ]; then
    # The rehearsal's software Vulkan is some 20x slower than the CPU backend (8 s per image
    # step, 40 s per video step here) and caps single buffers (lavapipe: 128 MiB). So its
    # "batch 256" runs are at batch 32, checkpointed every 5 steps; its search bench keeps a
    # batch's 38,144 vectors against the subset's 4,096 rows; fewer video and folder steps.
    gtag=wgpu gdev="$REHEARSE" tdev=cpu gpu=1
    big="$out/rehearsal-b256.toml"
    sed -e 's/^batch_size = .*/batch_size = 32/' -e 's/^checkpoint_every = .*/checkpoint_every = 5/' \
      "$bundle/fashion-mnist-b256.toml" > "$big"
    rows=4096 tmo=300 video_steps=4 folder_steps=3
  fi
  gexe="$bin/spae-$gtag"
  if [ -x "$gexe" ] && [ "$gpu" = 1 ]; then
    # Each GPU step is bounded, so one failure still leaves the others' figures.
    for cfg in "$bundle/fashion-mnist.toml" "$big"; do
      name=train-spae-$gtag
      [ "$cfg" = "$big" ] && name=$name-b256
      bench "$gexe" --device "$gdev" --config "$cfg" --torch-device "$tdev" \
        --out "$out/$name.json" > "$out/$name.md" 2> "$out/$name.err" \
        || echo "exit $? (see $name.err)" >> "$out/$name.md"
      cat "$out/$name.md"
      tail -n 5 "$out/$name.err"
    done
    # The same batch 256 step with the search on the host (the latents read back, SAQ on the
    # host's cores) instead of as tensor operations on the GPU: what the device search saves.
    timeout 150 "$gexe" --device "$gdev" bench train --steps "$steps" --search host \
      --config "$big" --out "$out/train-spae-$gtag-b256-host-search.json" \
      > "$out/train-spae-$gtag-b256-host-search.md" 2> "$out/train-spae-$gtag-b256-host-search.err" \
      || echo "exit $?" >> "$out/train-spae-$gtag-b256-host-search.md"
    cat "$out/train-spae-$gtag-b256-host-search.md"
    # The nearest-word search as GPU tensor ops (matmul + argmax) against spae's host kernel, on
    # a batch 256 step's 38,144 vectors and the full codebook's 31,534 rows (random data): its
    # speed, and its agreement (whether the GPU's f32 matmul keeps the arg-min exact).
    timeout 180 "$gexe" --device "$gdev" bench quantizer --n 38144 --k "$rows" \
      --threads "$(nproc)" --python none --out "$out/quantizer-$gtag.json" \
      > "$out/quantizer-$gtag.md" 2> "$out/quantizer-$gtag.err" \
      || echo "exit $? (see quantizer-$gtag.err)" >> "$out/quantizer-$gtag.md"
    cat "$out/quantizer-$gtag.md"
    run="$out/gpu-run"
    timeout -s INT "${TRAIN_S:-150}" "$gexe" --device "$gdev" train \
      --config "$big" --out "$run" > "$out/gpu-run.log" 2>&1 \
      || echo "train exit $? (timeout is 124)" | tee -a "$out/gpu-run.log"
    tail -n 3 "$out/gpu-run.log"
    if [ -f "$run/LATEST" ]; then
      "$bin/spae" encode --json --checkpoint "$run" "$bundle"/images/*.png > "$out/words-cpu.json" \
        2> "$out/words-cpu.err" || true
      timeout 120 "$gexe" --device "$gdev" encode --json --checkpoint "$run" \
        "$bundle"/images/*.png > "$out/words-$gtag.json" 2> "$out/words-$gtag.err" || true
      "$py" tools/device_parity.py "$out/words-cpu.json" "$out/words-$gtag.json" "$out/parity.json" \
        || echo "parity: not computed (see words-*.err)"
      # One checkpoint format on both devices: the GPU run resumed on the CPU, then on the GPU.
      cp -r "$run" "$out/resumed"
      timeout 180 "$bin/spae" train --config "$big" --out "$out/resumed" \
        --resume --max-steps 3 > "$out/resumed-cpu.log" 2>&1 || echo "exit $?" >> "$out/resumed-cpu.log"
      timeout 120 "$gexe" --device "$gdev" train --config "$big" \
        --out "$out/resumed" --resume --max-steps 3 > "$out/resumed-$gtag.log" 2>&1 \
        || echo "exit $?" >> "$out/resumed-$gtag.log"
      tail -n 2 "$out/resumed-cpu.log" "$out/resumed-$gtag.log"
    fi
    # The same N steps of configuration $1 three ways: with `--device` on the GPU, through burn's
    # data-parallel path on the one GPU (`--devices`), and on the CPU, as $out/$2-{device,devices,
    # cpu}; the GPU's plain run compared with its data-parallel one into $out/$3, and with the
    # CPU's into $out/$4 (the initial weights are the seed's on every device).
    against_ranks_and_cpu() {
      for mode in device devices cpu; do
        run_on=("$gexe" --device "$gdev")
        [ "$mode" = cpu ] && run_on=("$bin/spae")
        extra=()
        [ "$mode" = devices ] && extra=(--devices "$gdev")
        timeout "$5" "${run_on[@]}" train --config "$1" \
          --out "$out/$2-$mode" --max-steps "$6" "${extra[@]}" > "$out/$2-$mode.log" 2>&1 \
          || echo "exit $?" >> "$out/$2-$mode.log"
        tail -n 2 "$out/$2-$mode.log"
      done
      "$py" tools/device_metrics.py "$out/$2-device/metrics.jsonl" "$out/$2-devices/metrics.jsonl" \
        "$out/$3" || echo "$3: not compared (see $2-*.log)"
      "$py" tools/device_metrics.py "$out/$2-cpu/metrics.jsonl" "$out/$2-device/metrics.jsonl" \
        "$out/$4" || echo "$4: not compared (see $2-*.log)"
    }
    against_ranks_and_cpu "$bundle/fashion-mnist.toml" dp data-parallel.json gpu-vs-cpu.json "$tmo" 10
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
      # The rehearsal's model is a quarter as wide, at batch 8, for 3 steps: lavapipe refuses
      # the first layer's 256 MiB at batch 64, and takes minutes for one full-width step.
      [ -n "${REHEARSE:-}" ] && sed -i -e 's/^batch_size = .*/batch_size = 8/' \
        -e 's/^base_channels = .*/base_channels = 16/' -e 's/^norm_groups = .*/norm_groups = 8/' \
        "$out/folder-$mode.toml"
      timeout $((tmo + 30)) "$gexe" --device "$gdev" train --config "$out/folder-$mode.toml" \
        --out "$out/folder-$mode" --max-steps "$folder_steps" > "$out/folder-$mode.log" 2>&1 \
        || echo "exit $?" >> "$out/folder-$mode.log"
      tail -n 2 "$out/folder-$mode.log"
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
    against_ranks_and_cpu "$bundle/moving-mnist.toml" video video-data-parallel.json \
      video-gpu-vs-cpu.json "$tmo" "$video_steps"
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
