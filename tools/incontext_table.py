"""Tables of scripts/incontext.sh: Table 1 in shape (constrained and open-ended accuracy per
setting and token budget), Fig. 3 (accuracy against layers, also drawn to fig3.html), emoji
captions and VQA. Usage: python3 tools/incontext_table.py results/incontext > incontext.md"""
import json
import os
import sys

out = sys.argv[1]


def load(name):
    path = os.path.join(out, name + ".json")
    return json.load(open(path)) if os.path.exists(path) else None


def pct(x):
    return f"{100 * x:.1f}"


lines = []
t_spae, t_base = load("table1-spae"), load("table1-baseline")
t_qwen = [t for t in (load(f"table1-spae{n}-qwen0.5b") for n in ("1", "", "3")) if t]
t_base_qwen = load("table1-baseline-qwen0.5b")
rows = []
if t_base:
    rows += [("LQAE-style baseline (1 layer)", r) for r in t_base["results"]]
if t_base_qwen:
    rows += [("LQAE-style baseline (1 layer), Qwen2.5-0.5B (words as text)", r) for r in t_base_qwen["results"]]
if t_spae:
    rows += [(f"SPAE, {r['layers']} layer(s)", r) for r in t_spae["results"]]
for t in t_qwen:
    rows += [(f"SPAE, {r['layers']} layer(s), Qwen2.5-0.5B (words as text)", r) for r in t["results"]]
if rows:
    settings = []
    for _, r in rows:
        name = (r["setting"]["way"], r["setting"]["induction"], r["setting"]["shots"], r["setting"]["repeats"])
        if name not in settings:
            settings.append(name)
    head = " | ".join(f"{w}-way {'ind' if i else 'no-ind'} K{k} R{rep}" for w, i, k, rep in settings)
    for mode in ["constrained", "open"]:
        lines.append(f"\nTable 1 in shape, Fashion-MNIST test split, {mode} accuracy % "
                     f"({rows[0][1]['queries']} queries per 2-way setting):\n")
        lines.append(f"| tokens | words/image | {head} | mean |")
        lines.append("|---|---:|" + "---:|" * (len(settings) + 1))
        by = {}
        for label, r in rows:
            key = (label, r["words_per_image"])
            s = r["setting"]
            by.setdefault(key, {})[(s["way"], s["induction"], s["shots"], s["repeats"])] = r
        for (label, words), rs in by.items():
            accs = [rs[s][f"{mode}_accuracy"] if s in rs else None for s in settings]
            cells = " | ".join(pct(a) if a is not None else "-" for a in accs)
            valid = [a for a in accs if a is not None]
            lines.append(f"| {label} | {words} | {cells} | {pct(sum(valid) / len(valid))} |")
    # Fig. 3: constrained accuracy against layers for the induction settings (SPAE; Qwen's
    # curves, where measured, dashed).
    if t_spae:
        curves = {}
        runs = [("", t_spae)] + [(", Qwen2.5-0.5B", t) for t in t_qwen]
        for llm, t in runs:
            for r in t["results"]:
                s = r["setting"]
                if s["induction"]:
                    curves.setdefault(f"{s['way']}-way K{s['shots']} R{s['repeats']}{llm}", []).append(
                        (r["layers"], r["constrained_accuracy"]))
        w, h, pad = 640, 360, 50
        layers = sorted({l for c in curves.values() for l, _ in c})
        x = lambda l: pad + (w - 2 * pad) * (layers.index(l) / max(1, len(layers) - 1))
        y = lambda a: h - pad - (h - 2 * pad) * a
        colors = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
                  "#7f7f7f", "#bcbd22", "#17becf", "#393b79", "#637939"]
        svg = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w + 260}" height="{max(h, pad + 16 * len(curves))}" font-family="sans-serif" font-size="12">',
               f'<line x1="{pad}" y1="{h - pad}" x2="{w - pad}" y2="{h - pad}" stroke="black"/>',
               f'<line x1="{pad}" y1="{pad}" x2="{pad}" y2="{h - pad}" stroke="black"/>']
        for a in [0, 0.25, 0.5, 0.75, 1.0]:
            svg.append(f'<text x="{pad - 35}" y="{y(a) + 4}">{int(100 * a)}%</text>')
        for l in layers:
            svg.append(f'<text x="{x(l) - 4}" y="{h - pad + 18}">{l}</text>')
        svg.append(f'<text x="{w / 2 - 60}" y="{h - 10}">pyramid layers in the prompt</text>')
        for i, (name, pts) in enumerate(sorted(curves.items())):
            c = colors[i % len(colors)]
            pts = sorted(pts)
            dash = ' stroke-dasharray="6,4"' if "Qwen" in name else ""
            svg.append(f'<polyline fill="none" stroke="{c}" stroke-width="2"{dash} points="' +
                       " ".join(f"{x(l):.1f},{y(a):.1f}" for l, a in pts) + '"/>')
            svg.append(f'<text x="{w - pad + 10}" y="{pad + 16 * i}" fill="{c}">{name}</text>')
        svg.append("</svg>")
        with open(os.path.join(out, "fig3.html"), "w") as f:
            f.write("<!doctype html><title>Fig. 3: few-shot accuracy against layers</title>"
                    "<h3>Constrained accuracy against the number of pyramid layers (SPAE, Fashion-MNIST, induction settings)</h3>"
                    + "\n".join(svg))
        lines.append("\nFig. 3 in shape (constrained accuracy %, SPAE, induction settings, SmolLM2 and where measured Qwen2.5-0.5B reading the words as text; drawn in fig3.html):\n")
        lines.append("| setting | " + " | ".join(f"{l} layer(s)" for l in layers) + " |")
        lines.append("|---|" + "---:|" * len(layers))
        for name, pts in sorted(curves.items()):
            d = dict(pts)
            lines.append(f"| {name} | " + " | ".join(pct(d[l]) if l in d else "-" for l in layers) + " |")

caps = [(lab, load(n)) for lab, n in [("LQAE-style baseline", "caption-baseline"), ("SPAE", "caption-spae"),
                                      ("SPAE, name scorer", "caption-named")]]
if any(c for _, c in caps):
    lines.append("\nEmoji captions in context (test split, 10 captioned examples per prompt, greedy):\n")
    lines.append("| tokens | layers | words/image | exact match % (95% CI) | token F1 | queries |")
    lines.append("|---|---:|---:|---:|---:|---:|")
    for lab, c in caps:
        for r in (c or {}).get("results", []):
            lo, hi = r["exact_ci95"]
            lines.append(f"| {lab} | {r['layers']} | {r['words_per_image']} | {pct(r['exact_match'])} ({pct(lo)}-{pct(hi)}) | {r['token_f1']:.3f} | {len(r['samples'])} |")
vqa = [(lab, load(n)) for lab, n in [("LQAE-style baseline", "vqa-baseline"), ("SPAE", "vqa-spae"),
                                     ("SPAE, Qwen2.5-0.5B (words as text)", "vqa-spae-qwen0.5b")]]
vqa9 = [(lab, load(n)) for lab, n in [("LQAE-style baseline", "vqa9-baseline"), ("SPAE", "vqa9-spae"),
                                      ("SPAE, name scorer", "vqa9-named")]]
for title, runs in [("10 categories, 10-way 1-shot, induction, train split", vqa),
                    ("9 categories, 9-way 1-shot, induction, test split: emoji no tokenizer trained on", vqa9)]:
    if not any(v for _, v in runs):
        continue
    lines.append(f"\nEmoji VQA in context, \"Which emoji category is this?\" ({title}):\n")
    lines.append("| tokens | layers | words/image | constrained % (95% CI) | open-ended % | chance % | queries |")
    lines.append("|---|---:|---:|---:|---:|---:|---:|")
    for lab, v in runs:
        for r in (v or {}).get("results", []):
            lo, hi = r["constrained_ci95"]
            lines.append(f"| {lab} | {r['layers']} | {r['words_per_image']} | {pct(r['constrained_accuracy'])} ({pct(lo)}-{pct(hi)}) | {pct(r['open_accuracy'])} | {pct(r['chance'])} | {r['queries']} |")
print("\n".join(lines).lstrip("\n"))
