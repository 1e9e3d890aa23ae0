#!/usr/bin/env bash
# Semantic guidance (issue 4's figures). Fashion-MNIST: five arms warm-started from the released
# appearance model with the same budget, data, seed and schedule — the semantic loss with
# alpha = 10 (configs/fashion-mnist-semantic.toml), none (appearance), method.md's alpha = 1
# (alpha-1), one threshold for every layer (no-thresholds) and a fixed weight 1 instead of Eq. 9
# (no-dynamic-weight).
# Emoji 64x64: the bridge scorer's semantic loss, the name scorer's (each training emoji's own
# name, configs/emoji-64-named.toml) and none, from scratch, same budget. Each is
# evaluated on the first N test images (default 1000): per-layer semantic relevance and top-word
# hit rate under its training scorer, PSNR / SSIM / LPIPS per decodable depth.
#   scripts/semantic.sh [N]
# Writes results/semantic/<arm>.{recon,semantic}.json (+ PNG) and results/semantic/semantic.md.
set -euo pipefail
cd "$(dirname "$0")/.."
n="${1:-1000}"
. scripts/runs.sh
mkdir -p results/semantic
arms="semantic:configs/fashion-mnist-semantic.toml"
for c in appearance alpha-1 no-thresholds no-dynamic-weight; do
  arms="$arms $c:configs/semantic-ablation/$c.toml"
done
arms="$arms emoji-semantic:configs/emoji-64-semantic.toml"
arms="$arms emoji-named:configs/emoji-64-named.toml"
arms="$arms emoji-appearance:configs/semantic-ablation/emoji-appearance.toml"
for arm in $arms; do
  name="${arm%%:*}" cfg="${arm#*:}"
  run="runs/semantic/$name"
  train_run "$cfg" "$run" semantic
  for kind in recon semantic; do
    out="results/semantic/$name.$kind.json"
    if fresh "$out" "$run" "$n"; then
      echo "[semantic] $name: $kind evaluated"
    else
      spae eval "$kind" --checkpoint "$run" --n "$n" --out "$out"
      echo "$n" > "$out.n"
    fi
  done
done
python3 - "$n" <<'PY'
import json, sys
groups = [
    ("Fashion-MNIST test split, label scorer (class names)",
     ["semantic", "appearance", "alpha-1", "no-thresholds", "no-dynamic-weight"]),
    ("Emoji test split (every 10th emoji), bridge scorer, emoji names as the hit-rate truth",
     ["emoji-semantic", "emoji-appearance"]),
    ("Emoji test split, name scorer (relevance to each test emoji's own name)",
     ["emoji-named"]),
]
text = (f"First {sys.argv[1]} test images at most; relevance = mean Eq. 6 score of a layer's words "
        "under the scorer; hit rate = share of images whose layers 1-2 (5 words) hold one of the "
        "50 words nearest the truth.\n")
for title, arms in groups:
    head, rows = None, []
    for a in arms:
        sem = json.load(open(f"results/semantic/{a}.semantic.json"))
        rec = json.load(open(f"results/semantic/{a}.recon.json"))
        if head is None:
            layers = " | ".join(f"layer {l['layer']} ({l['tokens']})" for l in sem["layers"])
            depths = " | ".join(f"depth {r['depth']} PSNR / SSIM / LPIPS" for r in rec)
            head = f"| arm | {layers} | hit rate | {depths} |\n|---|" + "---:|" * (len(sem["layers"]) + 1 + len(rec))
        rel = " | ".join(f"{l['relevance']:.4f}" for l in sem["layers"])
        quality = " | ".join(f"{r['psnr']:.2f} / {r['ssim']:.4f} / {r['lpips']:.4f}" for r in rec)
        rows.append(f"| {a} | {rel} | {sem['hit_rate']:.3f} | {quality} |")
    text += f"\n{title} ({sem['images']} images)\n\n{head}\n" + "\n".join(rows) + "\n"
open("results/semantic/semantic.md", "w").write(text)
print(text)
PY
