"""CPU-vs-GPU word parity for scripts/device-check.sh: reads two `spae encode --json` outputs of the
same images and checkpoint and writes, per layer, the share of equal words (and whole pyramids).

Usage: python3 device_parity.py CPU.json GPU.json OUT.json   (standard library only)
"""
import json
import sys


def layers(doc):
    """[(image, [[ids of layer 1], [ids of layer 2], ...]), ...] from `spae encode --json` (a list
    with one entry per image)."""
    return [(it["image"], [layer["ids"] for layer in it["layers"]]) for it in doc]


def main():
    cpu, gpu = (layers(json.load(open(p))) for p in sys.argv[1:3])
    if len(cpu) != len(gpu) or not cpu:
        raise SystemExit(f"{len(cpu)} CPU images against {len(gpu)} GPU images")
    n_layers = len(cpu[0][1])
    equal = [0] * n_layers
    total = [0] * n_layers
    whole = 0
    for (_, a), (_, b) in zip(cpu, gpu):
        for l in range(n_layers):
            equal[l] += sum(x == y for x, y in zip(a[l], b[l]))
            total[l] += len(a[l])
        whole += a == b
    report = {
        "images": len(cpu),
        "equal_words_per_layer": [e / t for e, t in zip(equal, total)],
        "equal_words": sum(equal) / sum(total),
        "equal_pyramids": whole / len(cpu),
    }
    json.dump(report, open(sys.argv[3], "w"), indent=1)
    print(json.dumps(report))


if __name__ == "__main__":
    main()
