#!/usr/bin/env python3
"""A tiny randomly initialised CLIP (Hugging Face `CLIPModel`, fixed seed) and its embeddings of
fixed inputs, for the Rust CLIP parity test. No CLIP weights exist on these machines; this proves
the implementation on the real architecture and the real checkpoint format (safetensors +
config.json + tokenizer.json).

The tokenizer is a byte-level BPE with CLIP's normaliser, pre-tokeniser and special tokens,
trained here on a few sentences (the real CLIP vocabulary is a hub download).

    .venv/bin/python -m pip install transformers tokenizers
    .venv/bin/python tools/clip_fixtures.py crates/spae/tests/fixtures/clip-tiny

Writes model.safetensors, config.json, tokenizer.json and reference.json (the texts, their ids,
the pixel values and the image / text embeddings).
"""
import json
import os
import sys

import torch
import transformers
from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
from transformers import CLIPConfig, CLIPModel

TEXTS = ["a photo of a cat.", "a bad photo of the espresso.", "Ankle boot"]
CORPUS = TEXTS + [
    "a photo of a dog.", "a drawing of a house.", "the cat sat on the mat.",
    "an espresso in a small cup.", "a sneaker, a sandal and an ankle boot.",
]


def clip_like_tokenizer(vocab_size):
    tok = Tokenizer(models.BPE(unk_token="<|endoftext|>", end_of_word_suffix="</w>"))
    tok.normalizer = normalizers.Sequence([normalizers.NFC(), normalizers.Replace(Regex(r"\s+"), " "), normalizers.Lowercase()])
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(
            Regex(r"""'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+"""), behavior="removed", invert=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False),
    ])
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=["<|startoftext|>", "<|endoftext|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        end_of_word_suffix="</w>",
        show_progress=False,
    )
    tok.train_from_iterator(CORPUS, trainer)
    bos, eos = tok.token_to_id("<|startoftext|>"), tok.token_to_id("<|endoftext|>")
    tok.post_processor = processors.TemplateProcessing(
        single="<|startoftext|> $A <|endoftext|>",
        special_tokens=[("<|startoftext|>", bos), ("<|endoftext|>", eos)],
    )
    tok.decoder = decoders.ByteLevel()
    return tok, bos, eos


def main(out):
    os.makedirs(out, exist_ok=True)
    tok, bos, eos = clip_like_tokenizer(400)
    vocab = tok.get_vocab_size()
    torch.manual_seed(0)
    cfg = CLIPConfig(
        text_config=dict(vocab_size=vocab, hidden_size=32, intermediate_size=48, num_hidden_layers=2,
                         num_attention_heads=4, max_position_embeddings=24, hidden_act="quick_gelu",
                         bos_token_id=bos, eos_token_id=eos, pad_token_id=eos),
        vision_config=dict(hidden_size=40, intermediate_size=56, num_hidden_layers=2, num_attention_heads=5,
                           image_size=32, patch_size=8, hidden_act="quick_gelu"),
        projection_dim=16,
    )
    model = CLIPModel(cfg).eval()
    with torch.no_grad():
        for p in model.parameters():  # break the init's symmetries (zero biases, unit norms)
            p.add_(0.02 * torch.randn_like(p))
    model.save_pretrained(out, safe_serialization=True)
    tok.save(os.path.join(out, "tokenizer.json"))
    ids = [tok.encode(t).ids for t in TEXTS]
    n = max(map(len, ids))
    input_ids = torch.tensor([i + [eos] * (n - len(i)) for i in ids])
    mask = torch.tensor([[1] * len(i) + [0] * (n - len(i)) for i in ids])
    pixels = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        text = model.get_text_features(input_ids=input_ids, attention_mask=mask)
        image = model.get_image_features(pixel_values=pixels)
    text = getattr(text, "pooler_output", text)
    image = getattr(image, "pooler_output", image)
    ref = {
        "package": f"transformers {transformers.__version__}, torch {torch.__version__}",
        "texts": TEXTS,
        "ids": ids,
        "pixel_values": [round(float(v), 6) for v in pixels.flatten()],
        "text_embeds": [[round(float(v), 7) for v in r] for r in text],
        "image_embeds": [[round(float(v), 7) for v in r] for r in image],
    }
    with open(os.path.join(out, "reference.json"), "w") as f:
        json.dump(ref, f)
    print(ref["package"], "vocab", vocab, "ids", ids)


if __name__ == "__main__":
    main(sys.argv[1])
