"""Two training runs' metrics compared step by step, for scripts/device-check.sh: the plain
one-device run (`spae train --device cuda`) against the same run through the data-parallel path
(`spae train --devices cuda:0`: burn's gradient sync server and a one-device all-reduce), which
must train the same way.

Usage: python3 device_metrics.py A/metrics.jsonl B/metrics.jsonl OUT.json   (standard library only)
"""
import json
import sys

KEYS = ("l2", "commitment", "perceptual", "gan", "disc", "loss")


def steps(path):
    """{step: record} of a metrics.jsonl."""
    with open(path) as f:
        return {r["step"]: r for r in map(json.loads, filter(str.strip, f))}


def main():
    a, b = (steps(p) for p in sys.argv[1:3])
    common = sorted(set(a) & set(b))
    if not common:
        raise SystemExit(f"no step in both runs ({len(a)} and {len(b)} steps)")
    worst = {}
    for k in KEYS:
        diffs = [
            abs(a[s][k] - b[s][k]) / max(abs(a[s][k]), 1e-12)
            for s in common
            if k in a[s] and k in b[s]
        ]
        if diffs:
            worst[k] = max(diffs)
    report = {
        "steps": len(common),
        "steps_only_in_one": len(set(a) ^ set(b)),
        "max_relative_difference": worst,
        "same_within_1e-5": all(v <= 1e-5 for v in worst.values()) and len(a) == len(b),
        "seconds_per_step": [
            sum(r["seconds"] for r in run.values()) / len(run) for run in (a, b)
        ],
    }
    with open(sys.argv[3], "w") as f:
        json.dump(report, f, indent=1)
    print(json.dumps(report))


if __name__ == "__main__":
    main()
