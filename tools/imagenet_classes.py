#!/usr/bin/env python3
"""Writes the 1000 ImageNet-1k class names, one per line in class-index order, from torchvision's
`torchvision/models/_meta.py` (the `_IMAGENET_CATEGORIES` list). Standard library only.

    python3 tools/imagenet_classes.py torchvision/models/_meta.py out.txt
"""
import ast
import sys


def main(src, dst):
    tree = ast.parse(open(src, encoding="utf-8").read())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "_IMAGENET_CATEGORIES" for t in node.targets
        ):
            names = ast.literal_eval(node.value)
            break
    else:
        sys.exit(f"{src}: no _IMAGENET_CATEGORIES")
    if len(names) != 1000:
        sys.exit(f"{src}: {len(names)} classes, expected 1000")
    with open(dst, "w", encoding="utf-8") as f:
        f.write("\n".join(names) + "\n")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
