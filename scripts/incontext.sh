#!/usr/bin/env bash
# In-context understanding by the frozen SmolLM2 (issue 5's figures), each step skipped when its
# output is newer than its model:
#  - the LQAE-style baselines (one full-grid layer of 64 frozen-codebook words, no semantic loss,
#    the same budget as the SPAE models): configs/lqae-baseline.toml, configs/lqae-baseline-emoji.toml;
#  - Table 1 in shape and Fig. 3: Fashion-MNIST, 2- and 5-way, all 14 settings, SPAE
#    (models/fashion-mnist-semantic) with 1, 2 and 3 layers and the baseline's 64 words;
#  - Table 1's rows (SPAE 1, 2, 3 layers, the baseline) and VQA's SPAE 2-layer row with
#    Qwen2.5-Coder-0.5B reading the words as text, when installed;
#  - emoji captions (10 examples in context, test split) and category VQA (10-way 1-shot, train
#    split: the test split holds too few "Component" emoji), SPAE (models/emoji-64-semantic) with
#    1, 2 and 3 layers against the baseline;
#  - the same with the name-scored emoji tokenizer (configs/emoji-64-named.toml), and VQA 9-way
#    on the test split for all three emoji tokenizers.
#   scripts/incontext.sh [EPISODES] [QUERIES_PER_CLASS] [THREADS]
# EPISODES per setting (default 10) with QUERIES_PER_CLASS queries for every class (default 3)
# sharing the support prefix; `spae fewshot`'s own default is Frozen's 500 episodes of 1 query.
# Writes results/incontext/*.json and results/incontext/incontext.md.
set -euo pipefail
cd "$(dirname "$0")/.."
episodes="${1:-10}" q="${2:-3}" threads="${3:-1}"
. scripts/runs.sh
out=results/incontext
mkdir -p "$out"
train_run configs/lqae-baseline.toml runs/fewshot/lqae-baseline incontext
train_run configs/lqae-baseline-emoji.toml runs/fewshot/lqae-baseline-emoji incontext
common=(--threads "$threads" --n-ctx 8192 --seed 0)
# step NAME MODEL COMMAND ARGS...: runs `spae COMMAND ARGS` into $out/NAME.json unless fresh.
step() {
  local name="$1" model="$2"; shift 2
  local json="$out/$name.json" tag="$episodes/$q"
  if [ -f "$json" ] && [ "$json" -nt "$model" ] && [ "$(cat "$json.n" 2>/dev/null)" = "$tag" ]; then
    echo "[incontext] $name: done"
    return
  fi
  echo "[incontext] $name"
  spae "$@" "${common[@]}" --out "$json"
  echo "$tag" > "$json.n"
}
fm=models/fashion-mnist-semantic emoji=models/emoji-64-semantic
base=runs/fewshot/lqae-baseline base_emoji=runs/fewshot/lqae-baseline-emoji
t1=(fewshot --table1 --episodes "$episodes" --queries-per-class "$q")
step table1-spae "$fm" "${t1[@]}" --checkpoint "$fm" --layers 1,2,3
step table1-baseline "$base" "${t1[@]}" --checkpoint "$base" --layers 1
# A larger LLM of another vocabulary (scripts/install-assets.sh --with qwen0.5b) reads the same
# words as text (--words-as-text): Table 1's rows again.
qwen=assets/llm/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf
if [ -f "$qwen" ]; then
  step table1-spae-qwen0.5b "$fm" "${t1[@]}" --checkpoint "$fm" --layers 2 --llm qwen0.5b --words-as-text
  step table1-spae1-qwen0.5b "$fm" "${t1[@]}" --checkpoint "$fm" --layers 1 --llm qwen0.5b --words-as-text
  step table1-spae3-qwen0.5b "$fm" "${t1[@]}" --checkpoint "$fm" --layers 3 --llm qwen0.5b --words-as-text
  step table1-baseline-qwen0.5b "$base" "${t1[@]}" --checkpoint "$base" --layers 1 --llm qwen0.5b --words-as-text
fi
cap=(caption --examples 10 --episodes "$((episodes * 5))")
step caption-spae "$emoji" "${cap[@]}" --checkpoint "$emoji" --layers 1,2,3
step caption-baseline "$base_emoji" "${cap[@]}" --checkpoint "$base_emoji" --layers 1
# The category question, 1-shot with induction: 10-way on the train split here, 9-way on the test
# split below.
ask=(--pool 5000 --shots 1 --induction --episodes "$episodes" --queries-per-class "$q"
     --stem " output: Q: Which emoji category is this? A:")
vqa=(fewshot --split train --way 10 "${ask[@]}")
step vqa-spae "$emoji" "${vqa[@]}" --checkpoint "$emoji" --layers 1,2,3
step vqa-baseline "$base_emoji" "${vqa[@]}" --checkpoint "$base_emoji" --layers 1
if [ -f "$qwen" ]; then
  step vqa-spae-qwen0.5b "$emoji" "${vqa[@]}" --checkpoint "$emoji" --layers 2 --llm qwen0.5b --words-as-text
fi
# The name-scored emoji tokenizer (configs/emoji-64-named.toml: each training emoji's own name
# guides its words; shared with scripts/semantic.sh): captions of unseen emoji, and category VQA
# on the test split for every emoji tokenizer (9-way: the split's one "Component" emoji is never
# drawn; the train-split VQA above would read emoji whose names guided this tokenizer).
named=runs/semantic/emoji-named
train_run configs/emoji-64-named.toml "$named" incontext
step caption-named "$named" "${cap[@]}" --checkpoint "$named" --layers 1,2,3
vqa9=(fewshot --split test --way 9 "${ask[@]}")
step vqa9-named "$named" "${vqa9[@]}" --checkpoint "$named" --layers 1,2,3
step vqa9-spae "$emoji" "${vqa9[@]}" --checkpoint "$emoji" --layers 1,2,3
step vqa9-baseline "$base_emoji" "${vqa9[@]}" --checkpoint "$base_emoji" --layers 1
python3 tools/incontext_table.py "$out" > "$out/incontext.md"
cat "$out/incontext.md"
