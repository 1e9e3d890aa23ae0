#!/usr/bin/env bash
# In-context generation by the frozen SmolLM2 (issue 6's figures), each step skipped when its
# output is newer than its model and covers the same N:
#  - MNIST text-to-image: 50 examples "an image of {digit}: {words}", the 117 benchmark queries
#    (digits, sums, differences, products, riddles), judged by models/mnist-classifier; the
#    paper's progressive plan against a single pass; again with Qwen2.5-Coder-1.5B if installed;
#  - conditional denoising on Fashion-MNIST: the five tasks, 10 examples of corrupted targets
#    (50% -> 20%), SPAE (models/fashion-mnist-semantic) against the LQAE-style baseline
#    (configs/lqae-baseline.toml, trained here if missing), progressive against a single pass;
#  - the same on emoji (models/emoji-64-semantic against configs/lqae-baseline-emoji.toml).
#   scripts/generation.sh [N] [THREADS]
# N test images per denoising task (default 4). Writes results/generation/.
set -euo pipefail
cd "$(dirname "$0")/.."
n="${1:-4}" threads="${2:-2}"
. scripts/runs.sh
out=results/generation
mkdir -p "$out"
[ -f models/mnist-classifier/classifier.json ] || spae classifier
train_run configs/lqae-baseline.toml runs/fewshot/lqae-baseline generation
train_run configs/lqae-baseline-emoji.toml runs/fewshot/lqae-baseline-emoji generation
# step NAME MODEL TAG COMMAND ARGS...: runs `spae COMMAND ARGS --out $out/NAME` unless fresh.
step() {
  local name="$1" model="$2" tag="$3"; shift 3
  local marker="$out/$name.n"
  if [ -f "$marker" ] && [ "$marker" -nt "$model" ] && [ "$(cat "$marker")" = "$tag" ]; then
    echo "[generation] $name: done"
    return
  fi
  echo "[generation] $name"
  spae "$@" --threads "$threads" --out "$out/$name" | tee "$out/$name.txt"
  echo "$tag" > "$marker"
}
mnist=models/mnist-semantic
step mnist-paper "$mnist" 117 generate mnist --plan paper
step mnist-single "$mnist" 117 generate mnist --plan single
# The largest LLM here (scripts/install-assets.sh --with qwen1.5b), of another vocabulary: it reads
# the examples' words as text and writes codebook words token by token (--words-as-text).
if [ -f assets/llm/qwen2.5-coder-1.5b-instruct-q4_k_m.gguf ]; then
  step mnist-paper-qwen1.5b "$mnist" 117 generate mnist --plan paper --llm qwen1.5b --words-as-text
  step mnist-single-qwen1.5b "$mnist" 117 generate mnist --plan single --llm qwen1.5b --words-as-text
fi
fm=models/fashion-mnist-semantic base=runs/fewshot/lqae-baseline
step denoise-paper "$fm" "$n" denoise --task all --n "$n" --compare "$base" --plan paper
step denoise-single "$fm" "$n" denoise --task all --n "$n" --compare "$base" --plan single
emoji=models/emoji-64-semantic base_emoji=runs/fewshot/lqae-baseline-emoji
step denoise-emoji-paper "$emoji" "$n" denoise --task all --n "$n" --checkpoint "$emoji" \
  --compare "$base_emoji" --plan paper
step denoise-emoji-single "$emoji" "$n" denoise --task all --n "$n" --checkpoint "$emoji" \
  --compare "$base_emoji" --plan single
python3 tools/generation_table.py "$out" > "$out/generation.md"
cat "$out/generation.md"
