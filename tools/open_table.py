"""Markdown tables of scripts/open-vocab.sh's JSON reports (results/open/*.json)."""

import json
import sys
from pathlib import Path


def load(d: Path, name: str):
    p = d / f"{name}.json"
    return json.loads(p.read_text()) if p.exists() else None


def pct(x):
    return "-" if x is None else f"{100 * x:.1f}"


def num(x, f="{:.3f}"):
    return "-" if x is None else f.format(x)


def main(d: Path):
    print("### The bridge scorer as a zero-shot classifier\n")
    print("| data | options | images | classes | zero-shot acc % | chance % | 1-NN acc of f_img % "
          "| top-5-word hit rate | best word agreement within / across | MI best word; label (bits) |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name in [f"scorer-{d}{v}" for d in ["fashion-mnist", "mnist", "emoji"]
                 for v in ["", "-invert-flip", "-top10", "-centred", "-clusters20"]]:
        r = load(d, name)
        if r is None:
            continue
        b = r["bridge"]
        opts = ", ".join(
            k for k, on in [(f"invert {b['invert']}", b["invert"] != "never"), ("flip", b["flip"]),
                            (f"top {b['top_classes']} classes", b["top_classes"] > 0),
                            (f"{b.get('clusters', 0)} clusters", b.get("clusters", 0) > 0),
                            ("centred", b.get("center", False))] if on) or "plain"
        within = r.get("top_word_within")
        agree = "-" if within is None else f"{within:.3f} / {r['top_word_across']:.3f}"
        print(f"| {r['dataset']} | {opts} | {r['images']} | {sum(1 for p in r['per_class'] if p[1])} "
              f"| {pct(r['zero_shot_accuracy'])} | {pct(r['chance'])} | {pct(r['nearest_neighbour_accuracy'])} "
              f"| {num(r.get('hit_rate'))} | {agree} | {num(r.get('top_word_mi_bits'))} |")

    print("\n### Word stability (layer-1 word; layer 2 per position)\n")
    print("| tokenizer | data | classes unseen | images | label entropy (bits) | top word: distinct "
          "| within | across | MI (bits) | MI, shuffled | layer 2: within | across | MI (bits) | MI, shuffled |")
    print("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name in ["words-open-fashion", "words-open-mnist", "words-plain-fashion", "words-app-fashion",
                 "words-label-mnist", "words-label-fashion", "words-mnistopen-mnist",
                 "words-seen5-fashion"]:
        r = load(d, name)
        if r is None:
            continue
        t, l2 = r["top_word"], r["layer2"]
        print(f"| {r['checkpoint']} | {r['data']} | {'all' if r['all_unseen'] else 'no (seen)'} | {r['images']} "
              f"| {r['label_entropy_bits']:.2f} | {t['distinct_words']:.0f} | {t['within_class_agreement']:.3f} "
              f"| {t['across_class_agreement']:.3f} | {t['mutual_information_bits']:.3f} | {t['shuffled_mi_bits']:.3f} "
              f"| {l2['within_class_agreement']:.3f} | {l2['across_class_agreement']:.3f} "
              f"| {l2['mutual_information_bits']:.3f} | {l2['shuffled_mi_bits']:.3f} |")
        words = ", ".join(f"{c}:{w} ({100 * s:.0f}%)" for c, w, s in r["class_words"])
        print(f"|   most frequent top word per class | {words} |||||||||||||")

    print("\n### Few-shot classification on classes the tokenizer never saw labelled\n")
    print("2 layers (5 words per image), induction, 1 shot, one query per episode (episodes are "
          "independent: the Wilson interval counts them).\n")
    print("| tokenizer | tokenizer's labels | data | classes | LLM | way | episodes "
          "| constrained acc % (95% CI) | open-ended acc % | word-overlap reader % | chance % |")
    print("|---|---|---|---|---|---:|---:|---:|---:|---:|---:|")
    names = sorted(p.stem for p in d.glob("fs*.json"))
    for name in names:
        r = load(d, name)
        for s in r["results"]:
            llm = llm_name(r)
            unseen = "all unseen" if r["all_unseen"] else "**seen** (upper bound)"
            labels = "none (no tokenizer)" if r.get("class_word_control") is not None else r["tokenizer_labels"]
            print(f"| {tokenizer(r)} | {labels} | {r['data']} | {unseen} ({len(r['classes'])}) "
                  f"| {llm} | {s['setting']['way']} | {s['queries']} "
                  f"| {pct(s['constrained_accuracy'])} ({pct(s['constrained_ci95'][0])}-{pct(s['constrained_ci95'][1])}) "
                  f"| {pct(s['open_accuracy'])} | {pct(s.get('word_overlap_accuracy'))} | {pct(s['chance'])} |")


    table1(d)


def llm_name(r):
    return Path(r["llm"]).stem + (" (words as text)" if r["words_as_text"] else "")


def tokenizer(r):
    keep = r.get("class_word_control")
    if keep is None:
        label = r["checkpoint"]
        llm = str(r.get("llm", ""))
        if llm and "SmolLM2" not in llm:
            label += f", read by {Path(llm).name}" + (" (words as text)" if r.get("words_as_text") else "")
        return label
    return f"CONTROL: random words fixed per class, kept with p = {keep:g} (no tokenizer)"


def setting_name(s):
    ind = "ind" if s["induction"] else "no-ind"
    return f"{s['way']}-way {ind} K{s['shots']} R{s['repeats']}"


def table1(d: Path):
    runs = [(n, load(d, n)) for n in ["t1-open-l1", "t1-open", "t1-open-l3", "t1-open-qwen", "t1-control",
                                      "t1-app", "t1-baseline"]]
    runs = [(n, r) for n, r in runs if r is not None]
    if not runs:
        return
    cols = [setting_name(s["setting"]) for s in runs[0][1]["results"] if s["layers"] == runs[0][1]["results"][0]["layers"]]
    for key, what in [("constrained_accuracy", "constrained"), ("open_accuracy", "open-ended")]:
        print(f"\n### Table 1 on unseen classes: {what} accuracy % (SmolLM2, one query per episode)\n")
        print("| words | layers | words/image | episodes | " + " | ".join(cols) + " | mean |")
        print("|---|---:|---:|---:|" + "---:|" * (len(cols) + 1))
        for _, r in runs:
            for layers in sorted({s["layers"] for s in r["results"]}):
                rows = [s for s in r["results"] if s["layers"] == layers]
                acc = [100 * s[key] for s in rows]
                print(f"| {tokenizer(r)} | {layers} | {rows[0]['words_per_image']} | {rows[0]['episodes']} | "
                      + " | ".join(f"{a:.1f}" for a in acc) + f" | {sum(acc) / len(acc):.1f} |")
    parts = [load(d, n) for n in ["t1-open-l1", "t1-open", "t1-open-l3"]]
    results = [s for r in parts if r is not None for s in r["results"]]
    if not results:
        return
    print("\n### Fig. 3 on unseen classes: constrained accuracy % by layers (label-free tokenizer, "
          "induction settings)\n")
    layers = sorted({s["layers"] for s in results})
    print("| setting | " + " | ".join(f"{l} layer(s)" for l in layers) + " | word-overlap reader, 2 layers |")
    print("|---|" + "---:|" * (len(layers) + 1))
    for c in cols:
        if "no-ind" in c:
            continue
        acc = {s["layers"]: s for s in results if setting_name(s["setting"]) == c}
        reader = acc.get(2, {}).get("word_overlap_accuracy")
        print(f"| {c} | " + " | ".join(f"{100 * acc[l]['constrained_accuracy']:.1f}" for l in layers)
              + f" | {pct(reader)} |")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
