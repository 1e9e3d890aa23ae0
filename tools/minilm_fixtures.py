#!/usr/bin/env python3
"""Reference all-MiniLM-L6-v2 sentence embeddings for the Rust parity test, computed once with
sentence-transformers from the installed model folder (assets/text/all-MiniLM-L6-v2).

    .venv/bin/python -m pip install sentence-transformers
    .venv/bin/python tools/minilm_fixtures.py assets/text/all-MiniLM-L6-v2 crates/spae/tests/fixtures

Writes minilm_reference.json: the texts, their token ids and their embeddings.
"""
import json
import sys

import sentence_transformers
import torch
from sentence_transformers import SentenceTransformer

TEXTS = [
    "a photo of a cat.",
    "ankle boot",
    "T-shirt",
    "a bad photo of the espresso.",
    "Straße, café and naïve résumé",
    "",
    "an extremely long sentence " * 80,
]


def main(model_dir, out_dir):
    torch.manual_seed(0)
    model = SentenceTransformer(model_dir, device="cpu")
    emb = model.encode(TEXTS, convert_to_numpy=True, normalize_embeddings=False, batch_size=8)
    ids = [model.tokenizer(t, truncation=True, max_length=model.max_seq_length)["input_ids"] for t in TEXTS]
    ref = {
        "package": f"sentence-transformers {sentence_transformers.__version__}, torch {torch.__version__}",
        "texts": TEXTS,
        "ids": ids,
        "embeddings": [[round(float(v), 7) for v in e] for e in emb],
    }
    with open(f"{out_dir}/minilm_reference.json", "w") as f:
        json.dump(ref, f)
    print(ref["package"], [len(i) for i in ids])


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
