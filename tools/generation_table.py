#!/usr/bin/env python3
"""Markdown tables of issue 6's figures from scripts/generation.sh's outputs.

usage: tools/generation_table.py results/generation
"""
import json
import os
import sys


def load(path):
    with open(path) as f:
        return json.load(f)


DIGITS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]


def top_word_right(g):
    """The first written word (layer 1) names the intended digit."""
    words = g["words"].split()
    return g["intended"] is not None and bool(words) and words[0].lower() == DIGITS[g["intended"]]


# (LLM, suffix of the step names): scripts/generation.sh's MNIST steps.
MNIST_LLMS = (("SmolLM2-135M", ""), ("Qwen2.5-Coder-1.5B (words as text)", "-qwen1.5b"))


def mnist(out):
    print("### MNIST text-to-image (50 examples)\n")
    print("Cells: images the classifier reads as the intended digit / queries; in brackets, images whose top word (layer 1) names the intended digit.\n")
    print("| LLM | plan | passes | digit | sum | difference | product | riddle | all (95% CI) | identical to an example | mean nearest-example RMSE | s |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    ceiling = None
    for (llm, suffix), plan in ((m, p) for m in MNIST_LLMS for p in ("paper", "single")):
        path = os.path.join(out, f"mnist-{plan}{suffix}", "generate.json")
        if not os.path.exists(path):
            continue
        r = load(path)
        ceiling = r
        kinds = {k["kind"]: k for k in r["by_kind"]}
        top = {}
        for g in r["images"]:
            top[g["kind"]] = top.get(g["kind"], 0) + top_word_right(g)
        cells = [f"{kinds[k]['correct']}/{kinds[k]['queries']} ({top.get(k, 0)})" if k in kinds else "-"
                 for k in ("digit", "sum", "difference", "product", "riddle")]
        print(f"| {llm} | {plan} | {r['passes']} | " + " | ".join(cells)
              + f" | {100 * r['accuracy']:.1f}% ({100 * r['ci95'][0]:.1f}-{100 * r['ci95'][1]:.1f}) ({sum(top.values())})"
              + f" | {r['identical_to_an_example']} | {r['mean_nearest_example_rmse']:.3f} | {r['seconds']:.0f} |")
    if ceiling:
        print(f"\nClassifier: {100 * ceiling['classifier_test_accuracy']:.1f}% on held-out digits, "
              f"{100 * ceiling['classifier_on_reconstructions']:.1f}% on their depth-{ceiling['depth']} "
              f"reconstructions ({ceiling['words_per_image']} words); chance 10%.\n")


def denoise(out):
    rows = {}
    for name, plan in (("denoise-paper", "paper"), ("denoise-single", "single"),
                       ("denoise-emoji-paper", "paper"), ("denoise-emoji-single", "single")):
        path = os.path.join(out, name, "denoise.json")
        if os.path.exists(path):
            for r in load(path):
                rows.setdefault((r["task"], os.path.basename(r["tokenizer"])), {})[plan] = r
    if not rows:
        return
    print("### Conditional denoising (SmolLM2, 10 examples, 50% -> 20%)\n")
    print("PSNR dB / SSIM / LPIPS against the original, then FID of the set against the originals where the "
          "report has it (a small-sample FID over the task's few images: compare within a row only); "
          "words right = share of the clean target's words the LLM wrote.\n")
    print("| task | tokenizer | words | LLM, progressive | words right | LLM, single pass | words right | condition as output | least corrupted example | clean words decoded |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")

    def s(x):
        fid = f" / {x['fid']:.0f}" if x.get("fid") is not None else ""
        return f"{x['psnr']:.2f} / {x['ssim']:.3f} / {x['lpips']:.3f}{fid}"

    for (task, tok), by in sorted(rows.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        any_r = by.get("paper") or by.get("single")
        cells = []
        for plan in ("paper", "single"):
            r = by.get(plan)
            cells += [s(r["output"]), f"{100 * r['word_accuracy']:.1f}%"] if r else ["-", "-"]
        print(f"| {task} | {tok} | {any_r['words_per_image']} | " + " | ".join(cells)
              + f" | {s(any_r['condition'])} | {s(any_r['best_example'])} | {s(any_r['target'])} |")
    n = next(iter(rows.values()))
    print(f"\n{(n.get('paper') or n.get('single'))['images']} test images per task.")


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "results/generation"
    mnist(out)
    denoise(out)


if __name__ == "__main__":
    main()
