#!/usr/bin/env python3
"""JPEG / WebP files and Pillow's references for the "any image" parity test
(crates/spae/tests/images.rs), made from the installed scikit-image photos and an emoji.

Needs Pillow and NumPy (`python3 -m venv v && v/bin/pip install pillow numpy`):

    v/bin/python tools/image_fixtures.py assets crates/spae/tests/fixtures/images fuzz/seeds/image

Writes coffee.jpg (600x400, quality 85), camera.jpg (gray 512x512, quality 85), chelsea.webp
(451x300, lossy, quality 80), emoji.webp (64x64 RGBA, lossless), and reference.bin + reference.json:
for each case, the file Pillow opens, the canvas size and mode, and Pillow's own result of
`ImageOps.fit(image, (S, S), Image.BILINEAR)` (uint8, H x W x C) at its offset in reference.bin.
With a third folder, also the `image` fuzz target's seeds: small JPEGs (baseline, progressive,
gray, 4:2:0 and 4:4:4), WebPs (lossy, lossless with alpha) and a PNG cut from the photos.
"""
import json
import os
import sys

import numpy as np
import PIL
from PIL import Image, ImageOps


def main(assets, out):
    os.makedirs(out, exist_ok=True)
    photos = os.path.join(assets, "data/photos")
    Image.open(os.path.join(photos, "coffee.png")).convert("RGB").save(
        os.path.join(out, "coffee.jpg"), quality=85
    )
    Image.open(os.path.join(photos, "camera.png")).convert("L").save(
        os.path.join(out, "camera.jpg"), quality=85
    )
    Image.open(os.path.join(photos, "chelsea.png")).convert("RGB").save(
        os.path.join(out, "chelsea.webp"), quality=80
    )
    emoji = os.path.join(assets, "data/emoji/img/google/64/1f600.png")
    Image.open(emoji).convert("RGBA").save(os.path.join(out, "emoji.webp"), lossless=True)

    # (case, file: "fixture:NAME" or "asset:PATH", canvas, channels)
    cases = [
        ("coffee.png to 64 RGB (resampling alone)", "asset:data/photos/coffee.png", 64, 3),
        ("chelsea.png to 48 RGB (fractional crop box)", "asset:data/photos/chelsea.png", 48, 3),
        ("coffee.jpg to 64 RGB", "fixture:coffee.jpg", 64, 3),
        ("camera.jpg (gray) to 32 gray", "fixture:camera.jpg", 32, 1),
        ("chelsea.webp (lossy) to 64 RGB", "fixture:chelsea.webp", 64, 3),
        ("emoji.webp (RGBA, lossless) to 32 RGB", "fixture:emoji.webp", 32, 3),
    ]
    blob = bytearray()
    entries = []
    for name, src, size, channels in cases:
        kind, rel = src.split(":", 1)
        path = os.path.join(assets if kind == "asset" else out, rel)
        img = Image.open(path)
        if img.mode in ("RGBA", "LA", "P"):
            img = img.convert("RGBA")
            white = Image.new("RGBA", img.size, (255, 255, 255, 255))
            img = Image.alpha_composite(white, img)
        img = img.convert("L" if channels == 1 else "RGB")
        fitted = np.asarray(ImageOps.fit(img, (size, size), Image.BILINEAR), np.uint8)
        entries.append(
            {
                "case": name,
                "file": src,
                "size": size,
                "channels": channels,
                "offset": len(blob),
                "bytes": fitted.size,
            }
        )
        blob += fitted.tobytes()
    with open(os.path.join(out, "reference.bin"), "wb") as f:
        f.write(bytes(blob))
    with open(os.path.join(out, "reference.json"), "w") as f:
        json.dump({"pillow": PIL.__version__, "cases": entries}, f, indent=1)
        f.write("\n")


def seeds(assets, out):
    os.makedirs(out, exist_ok=True)
    photo = Image.open(os.path.join(assets, "data/photos/coffee.png")).convert("RGB")
    small = photo.crop((200, 100, 240, 124))
    small.save(os.path.join(out, "baseline.jpg"), quality=75)
    small.save(os.path.join(out, "progressive.jpg"), quality=75, progressive=True)
    small.save(os.path.join(out, "444.jpg"), quality=90, subsampling=0)
    small.convert("L").save(os.path.join(out, "gray.jpg"), quality=75)
    small.save(os.path.join(out, "lossy.webp"), quality=60)
    emoji = Image.open(os.path.join(assets, "data/emoji/img/google/64/1f600.png")).convert("RGBA")
    emoji.resize((16, 16)).save(os.path.join(out, "alpha.webp"), lossless=True)
    small.save(os.path.join(out, "photo.png"))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
    if len(sys.argv) > 3:
        seeds(sys.argv[1], sys.argv[3])
