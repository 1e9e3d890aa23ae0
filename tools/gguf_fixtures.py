"""Reference values from the Python `gguf` package (the GGUF reader maintained with llama.cpp),
committed as fixtures for spae's own reader.

Usage: python tools/gguf_fixtures.py assets/llm/SmolLM2-135M-Instruct.Q4_1.gguf crates/spae/tests/fixtures
Writes:
  gguf_smollm2_rows.json  rows of token_embd.weight dequantized by gguf.quants, with the file's sha256
  gguf_blocks.json        random blocks of every type spae reads, and their gguf.quants dequantization
"""
import hashlib
import json
import sys

import numpy as np
from gguf import GGMLQuantizationType as Q
from gguf import GGUFReader, quants

ROWS = [0, 1, 2, 100, 1000, 12345, 30000, 49151]

# (type, bytes per block, byte offsets of f16 scale fields)
BLOCKS = [
    (Q.F16, 2, None), (Q.BF16, 2, None),
    (Q.Q4_0, 18, [0]), (Q.Q4_1, 20, [0, 2]), (Q.Q5_0, 22, [0]), (Q.Q5_1, 24, [0, 2]),
    (Q.Q8_0, 34, [0]), (Q.Q4_K, 144, [0, 2]), (Q.Q5_K, 176, [0, 2]), (Q.Q6_K, 210, [208]),
]


def rows_fixture(path):
    sha = hashlib.sha256(open(path, "rb").read()).hexdigest()
    reader = GGUFReader(path)
    t = next(t for t in reader.tensors if t.name == "token_embd.weight")
    table = quants.dequantize(t.data, t.tensor_type)
    tokens = reader.fields["tokenizer.ggml.tokens"]
    words = [bytes(tokens.parts[tokens.data[i]]).decode("utf-8") for i in ROWS]
    return {
        "gguf_sha256": sha,
        "tensor": "token_embd.weight",
        "type": t.tensor_type.name,
        "shape": list(table.shape),
        "ids": ROWS,
        "tokens": words,
        "rows": [table[i].astype(np.float32).tolist() for i in ROWS],
    }


def blocks_fixture():
    rng = np.random.default_rng(0)
    out = {}
    for qtype, nbytes, scales in BLOCKS:
        nblocks = 4 if scales else 64
        if scales is None:
            vals = rng.standard_normal(nblocks).astype(np.float32)
            raw = (vals.astype(np.float16).view(np.uint8) if qtype == Q.F16
                   else (vals.view(np.uint32) >> 16).astype(np.uint16).view(np.uint8))
        else:
            raw = rng.integers(0, 256, size=(nblocks, nbytes), dtype=np.uint8)
            for b in range(nblocks):
                for off in scales:
                    s = np.float16(rng.uniform(-0.1, 0.1))
                    raw[b, off:off + 2] = np.frombuffer(s.tobytes(), dtype=np.uint8)
            raw = raw.reshape(-1)
        values = quants.dequantize(raw.reshape(1, -1), qtype).reshape(-1)
        out[qtype.name] = {"hex": raw.tobytes().hex(), "values": values.astype(np.float32).tolist()}
    return out


def main():
    gguf_path, out_dir = sys.argv[1], sys.argv[2]
    with open(f"{out_dir}/gguf_smollm2_rows.json", "w") as f:
        json.dump(rows_fixture(gguf_path), f)
    with open(f"{out_dir}/gguf_blocks.json", "w") as f:
        json.dump(blocks_fixture(), f)


if __name__ == "__main__":
    main()
