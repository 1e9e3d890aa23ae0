#!/usr/bin/env bash
# Words for classes the tokenizer never saw labelled (issue 15's figures), each step skipped when
# its output is newer than its model:
#  - the label-free tokenizers (configs/fashion-mnist-open.toml: the bridge scorer with clustered,
#    centred pools; configs/fashion-mnist-open-plain.toml: the plain bridge scorer), both
#    warm-started from the appearance-only model like the label-scored
#    models/fashion-mnist-semantic (the supervised upper bound); the committed
#    models/fashion-mnist-open is the first, exported;
#  - the bridge scorer measured as CLIP is (`spae eval scorer`): zero-shot accuracy over class
#    names on Fashion-MNIST, MNIST digits and emoji categories, with each of its options;
#  - word stability on unseen classes (`spae eval words`) for every tokenizer;
#  - few-shot classification on unseen classes only (`spae fewshot --unseen`: 2-layer words,
#    induction, 1 shot, constrained; EPISODES independent episodes of one query each) for
#    SmolLM2 and, when installed, Qwen2.5-0.5B reading the words as text; the label-scored
#    model on its own (seen) classes as the upper bound;
#  - the LLM's ceiling: the same episodes with random words fixed per class (`--control`);
#  - Table 1 (14 settings) and Fig. 3 (1-3 layers) on unseen classes; Qwen2.5-Coder-1.5B rows
#    when installed; Table 1 read by Qwen2.5-0.5B and the LQAE-style baseline's Table 1;
#  - the emoji tokenizer with the clustered, centred bridge: words, category VQA, captions.
#   scripts/open-vocab.sh [EPISODES] [THREADS]
# TRAIN=0 skips training: steps whose model is absent are then skipped with a message.
# Writes results/open/*.json and results/open/open.md.
set -euo pipefail
cd "$(dirname "$0")/.."
episodes="${1:-100}" threads="${2:-2}"
. scripts/runs.sh
out=results/open
mkdir -p "$out"
if [ "${TRAIN:-1}" = 1 ]; then
  train_run configs/fashion-mnist-open.toml runs/open/fashion-mnist-open open
  train_run configs/fashion-mnist-open-plain.toml runs/open/fashion-mnist-open-plain open
  # The digits' label-free tokenizer (the class-disjoint supervised arm trains further down).
  train_run configs/mnist-open.toml runs/open/mnist-open open
fi
# step NAME MODEL COMMAND ARGS...: runs `spae COMMAND ARGS` into $out/NAME.json unless fresh.
step() {
  local name="$1" model="$2"; shift 2
  local json="$out/$name.json"
  if [ ! -e "$model" ]; then
    echo "[open] $name: no model at $model (not trained), skipped"
    return
  fi
  if [ -f "$json" ] && [ "$json" -nt "$model" ] && [ "$(cat "$json.n" 2>/dev/null)" = "$episodes" ]; then
    echo "[open] $name: done"
    return
  fi
  echo "[open] $name"
  spae "$@" --out "$json" | tee "$out/$name.txt"
  echo "$episodes" > "$json.n"
}
open=models/fashion-mnist-open plain=runs/open/fashion-mnist-open-plain
label=models/fashion-mnist-semantic app=models/fashion-mnist-appearance
# Before `spae export` (README) the run stands in for the released model; a run's freshness is
# that of its LATEST checkpoint.
openm="$open/state.json"
[ -d "$open" ] || { open=runs/open/fashion-mnist-open; openm="$open/LATEST"; }
# The scorer as a zero-shot classifier (1000 class-balanced test images; emoji: all 191).
# The released options (clusters 20, centred) were chosen on the train split; these are the test
# split's figures.
for d in fashion-mnist mnist; do
  step "scorer-$d" assets/cache eval scorer --dataset "$d" --n 1000 --hit-rate
  step "scorer-$d-invert-flip" assets/cache eval scorer --dataset "$d" --n 1000 --invert auto --flip
  step "scorer-$d-top10" assets/cache eval scorer --dataset "$d" --n 1000 --top-classes 10
  step "scorer-$d-centred" assets/cache eval scorer --dataset "$d" --n 1000 --center --hit-rate
  step "scorer-$d-clusters20" assets/cache eval scorer --dataset "$d" --n 1000 --center --clusters 20 --hit-rate
done
step scorer-emoji assets/cache eval scorer --dataset emoji --size 64 --n 191 --hit-rate
step scorer-emoji-clusters20 assets/cache eval scorer --dataset emoji --size 64 --n 191 --center --clusters 20 --hit-rate
# Word stability on unseen classes.
step words-open-fashion "$openm" eval words --checkpoint "$open" --n 1000
step words-open-mnist "$openm" eval words --checkpoint "$open" --dataset mnist --n 1000
step words-plain-fashion "$plain/LATEST" eval words --checkpoint "$plain" --n 1000
step words-label-mnist "$label" eval words --checkpoint "$label" --dataset mnist --n 1000
step words-label-fashion "$label" eval words --checkpoint "$label" --n 1000
step words-app-fashion "$app" eval words --checkpoint "$app" --n 1000
# Few-shot on unseen classes: 2- and 5-way, induction, 1 shot, 2 layers, one query per episode.
fs=(fewshot --pool 2000 --layers 2 --induction --shots 1 --episodes "$episodes" --queries 1
    --threads "$threads" --seed 0)
for way in 2 5; do
  step "fs$way-open-fashion" "$openm" "${fs[@]}" --unseen --way "$way" --checkpoint "$open"
  step "fs$way-open-mnist" "$openm" "${fs[@]}" --unseen --way "$way" --checkpoint "$open" --dataset mnist
  step "fs$way-plain-fashion" "$plain/LATEST" "${fs[@]}" --unseen --way "$way" --checkpoint "$plain"
  step "fs$way-app-fashion" "$app" "${fs[@]}" --unseen --way "$way" --checkpoint "$app"
  step "fs$way-app-mnist" "$app" "${fs[@]}" --unseen --way "$way" --checkpoint "$app" --dataset mnist
  step "fs$way-label-mnist" "$label" "${fs[@]}" --unseen --way "$way" --checkpoint "$label" --dataset mnist
  # The supervised upper bound: the label-scored tokenizer on the classes it was trained with.
  step "fs$way-label-seen" "$label" "${fs[@]}" --way "$way" --checkpoint "$label"
done
# The LLM's ceiling (`--control class-words`): every image of a class gets the same random codebook
# words, as many as the tokenizer's 2-layer words (keep 1: the words identify the class exactly);
# keep 0.35: each word kept with probability 0.35 (about the open tokenizer's within-class
# agreement), the rest drawn at random. Steps run in the order of what they tell (the CPU budget
# of a session may end the list early; rerunning resumes at the first missing step).
qwen=assets/llm/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf
qwen15=assets/llm/qwen2.5-coder-1.5b-instruct-q4_k_m.gguf
ctl=(--unseen --checkpoint "$open" --control)
step fs2-control "$openm" "${fs[@]}" --way 2 "${ctl[@]}" class-words
step fs2-control35 "$openm" "${fs[@]}" --way 2 "${ctl[@]}" class-words:0.35
step fs5-control "$openm" "${fs[@]}" --way 5 "${ctl[@]}" class-words
# A larger LLM (scripts/install-assets.sh --with qwen1.5b) reading the words as text.
if [ -f "$qwen15" ]; then
  q15=(--llm qwen1.5b --words-as-text)
  step fs2-control-qwen1.5b "$openm" "${fs[@]}" --way 2 "${ctl[@]}" class-words "${q15[@]}"
  step fs2-open-fashion-qwen1.5b "$openm" "${fs[@]}" --unseen --way 2 --checkpoint "$open" "${q15[@]}"
fi
if [ -f "$qwen" ]; then
  step fs2-control-qwen "$openm" "${fs[@]}" --way 2 "${ctl[@]}" class-words --llm qwen0.5b --words-as-text
fi
# Table 1's 14 settings on unseen classes (SmolLM2, one query per episode): the label-free
# tokenizer's 2-layer words and the class-word control at the same word count (the LLM's ceiling
# per setting), then Fig. 3's 1 and 3 layers (the longest prompts) and the appearance-only model.
t1=(fewshot --pool 2000 --table1 --episodes "$episodes" --queries 1 --threads "$threads" --seed 0 --unseen)
step t1-open "$openm" "${t1[@]}" --checkpoint "$open" --layers 2
step t1-control "$openm" "${t1[@]}" --checkpoint "$open" --layers 2 --control class-words
step t1-open-l1 "$openm" "${t1[@]}" --checkpoint "$open" --layers 1
step t1-open-l3 "$openm" "${t1[@]}" --checkpoint "$open" --layers 3
if [ -f "$qwen15" ]; then
  step fs5-control-qwen1.5b "$openm" "${fs[@]}" --way 5 "${ctl[@]}" class-words "${q15[@]}"
  step fs5-open-fashion-qwen1.5b "$openm" "${fs[@]}" --unseen --way 5 --checkpoint "$open" "${q15[@]}"
fi
step fs5-control35 "$openm" "${fs[@]}" --way 5 "${ctl[@]}" class-words:0.35
if [ -f "$qwen" ]; then
  for way in 2 5; do
    step "fs$way-open-fashion-qwen" "$openm" "${fs[@]}" --unseen --way "$way" --checkpoint "$open" --llm qwen0.5b --words-as-text
    step "fs$way-open-mnist-qwen" "$openm" "${fs[@]}" --unseen --way "$way" --checkpoint "$open" --dataset mnist --llm qwen0.5b --words-as-text
    step "fs$way-label-seen-qwen" "$label" "${fs[@]}" --way "$way" --checkpoint "$label" --llm qwen0.5b --words-as-text
  done
  step fs5-control-qwen "$openm" "${fs[@]}" --way 5 "${ctl[@]}" class-words --llm qwen0.5b --words-as-text
fi
step t1-app "$app" "${t1[@]}" --checkpoint "$app" --layers 2
# The digits' label-free tokenizer (configs/mnist-open.toml): its words on the digits (all unseen),
# few-shot on them, and MNIST text-to-image with its words (judged by models/mnist-classifier; the
# label-scored models/mnist-semantic is the supervised upper bound, results/generation/).
mo=runs/open/mnist-open seen5=runs/open/fashion-mnist-seen5
step words-mnistopen-mnist "$mo/LATEST" eval words --checkpoint "$mo" --dataset mnist --n 1000
for way in 2 5; do
  step "fs$way-mnistopen-mnist" "$mo/LATEST" "${fs[@]}" --unseen --way "$way" --checkpoint "$mo" --dataset mnist
done
if [ -f "$mo/LATEST" ]; then
  gen="$out/gen-mnist-open"
  if [ -f "$gen.n" ] && [ "$gen.n" -nt "$mo/LATEST" ]; then
    echo "[open] gen-mnist-open: done"
  else
    echo "[open] gen-mnist-open"
    [ -f models/mnist-classifier/classifier.json ] || spae classifier
    spae generate mnist --checkpoint "$mo" --plan paper --threads "$threads" --out "$gen" | tee "$gen.txt"
    echo 117 > "$gen.n"
  fi
fi
# The class-disjoint supervised arm: labels of classes 0-4 only; episodes on 5-9 (unseen). Last,
# being the least informative of the runs (the label-free tokenizers above saw no label at all).
[ "${TRAIN:-1}" = 1 ] && train_run configs/fashion-mnist-seen5.toml "$seen5" open
step words-seen5-fashion "$seen5/LATEST" eval words --checkpoint "$seen5" --n 1000
for way in 2 5; do
  step "fs$way-seen5-unseen" "$seen5/LATEST" "${fs[@]}" --unseen --way "$way" --checkpoint "$seen5"
  # The label-free tokenizer on the same five classes (5-9), for comparison.
  step "fs$way-open-fashion59" "$openm" "${fs[@]}" --way "$way" --checkpoint "$open" \
    --classes "sandal,shirt,sneaker,bag,ankle boot"
done
# Table 1 on unseen classes read by Qwen2.5-0.5B, and the LQAE-style baseline's Table 1 with
# independent episodes (64 words per image: the longest prompts here). Both resumable: a
# killed run continues from its journal (`--resume`).
if [ -f "$qwen" ]; then
  step t1-open-qwen "$openm" "${t1[@]}" --checkpoint "$open" --layers 2 --llm qwen0.5b --words-as-text --resume
fi
base=runs/fewshot/lqae-baseline
[ "${TRAIN:-1}" = 1 ] && train_run configs/lqae-baseline.toml "$base" open
step t1-baseline "$base/LATEST" "${t1[@]}" --checkpoint "$base" --layers 1 --n-ctx 4096 --resume
# The emoji tokenizer with the clustered, centred bridge (configs/emoji-64-open.toml) against the
# plain bridge's models/emoji-64-semantic (both label-free): words, category VQA, captions.
eo=runs/open/emoji-64-open ep=models/emoji-64-semantic
[ "${TRAIN:-1}" = 1 ] && train_run configs/emoji-64-open.toml "$eo" open
ask=(--split test --pool 5000 --shots 1 --induction --episodes "$episodes" --queries 1
     --threads "$threads" --seed 0 --layers 1,2 --stem " output: Q: Which emoji category is this? A:")
for m in "$eo" "$ep"; do
  t=$(basename "$m") mm="$m/LATEST"
  [ -f "$m/state.json" ] && mm="$m/state.json"
  step "words-$t-emoji" "$mm" eval words --checkpoint "$m" --n 1000
  step "vqa9-$t" "$mm" fewshot --checkpoint "$m" --way 9 "${ask[@]}"
  step "vqa2-$t" "$mm" fewshot --checkpoint "$m" --way 2 "${ask[@]}"
done
step caption-emoji-64-open "$eo/LATEST" caption --checkpoint "$eo" --examples 10 --episodes 50 \
  --layers 1,2 --threads "$threads"
python3 tools/open_table.py "$out" > "$out/open.md"
cat "$out/open.md"
