#!/usr/bin/env bash
# Table 4 in shape on Fashion-MNIST: trains the five rows of configs/table4/ (same model, data,
# seed and steps; a finished run is kept, an interrupted one resumed) and evaluates each on the
# first N test images (default 1000): PSNR / SSIM / LPIPS / FID per decodable depth (an evaluation newer
# than its run is kept).
#   scripts/table4.sh [N]
# Writes results/table4/<row>.json and .png, and results/table4/table4.md.
set -euo pipefail
cd "$(dirname "$0")/.."
n="${1:-1000}"
. scripts/runs.sh
mkdir -p results/table4
for cfg in configs/table4/*.toml; do
  row="$(basename "$cfg" .toml)"
  run="runs/table4/$row"
  train_run "$cfg" "$run" table4
  out="results/table4/$row.json"
  if fresh "$out" "$run" "$n"; then
    echo "[table4] $row: evaluated"
  else
    spae eval recon --checkpoint "$run" --n "$n" --out "$out"
    echo "$n" > "$out.n"
  fi
done
python3 - "$n" <<'PY'
import glob, json, os, sys
rows = []
for path in sorted(glob.glob("results/table4/*.json")):
    name = os.path.basename(path)[:-5]
    for r in json.load(open(path)):
        fid = f"{r['fid']:.2f}" if r.get("fid") is not None else "-"
        rows.append(f"| {name} | {r['depth']} | {r['tokens']} | {r['psnr']:.2f} | {r['ssim']:.4f} | {r['lpips']:.4f} | {fid} |")
text = (f"Fashion-MNIST test split, first {sys.argv[1]} images\n\n"
        "| row | depth | tokens | PSNR dB | SSIM | LPIPS | FID |\n|---|---:|---:|---:|---:|---:|---:|\n"
        + "\n".join(rows) + "\n")
open("results/table4/table4.md", "w").write(text)
print(text)
PY
