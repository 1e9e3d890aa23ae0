"""SPAE, the Semantic Pyramid AutoEncoder, from Python.

Images become pyramids of words of a frozen LLM's vocabulary (a few semantic words on top, many
appearance words below) and any decodable prefix becomes pixels again; a frozen LLM reads the
words in its prompt (few-shot questions) and writes them (progressive in-context decoding).

    import numpy as np, spae
    tok = spae.ImageTokenizer.load("models/fashion-mnist-semantic")
    enc = tok.encode(np.asarray(PIL.Image.open("shoe.jpg")))   # any size, PNG/JPEG/WebP pixels
    print(enc.words(2)[0])                                      # layers 1-2 of image 0
    pixels = tok.decode(enc, depth=tok.first_decodable_depth)   # (N, H, W, C) floats in [0, 1]

The compiled part is `spae._spae` (Rust, crates/spae-py); heavy calls release the GIL; errors are
`spae.SpaeError` with the library's messages.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, List, Optional, Sequence, Tuple

import numpy as np

from ._spae import Codebook, SpaeError
from ._spae import ImageTokenizer as _ImageTokenizer
from ._spae import Llm as _Llm

__all__ = [
    "Codebook",
    "Encoding",
    "FewshotAnswer",
    "ImageTokenizer",
    "Layer",
    "Llm",
    "SpaeError",
    "fewshot",
    "generate",
]


@dataclass(frozen=True)
class Layer:
    """One pyramid layer of a batch: its number (1-based), grid (rows, cols), the latent positions
    its words sit at, and per image its LLM ids and words (leading space included)."""

    layer: int
    grid: Tuple[int, int]
    positions: List[int]
    ids: List[List[int]]
    words: List[List[str]]


class Encoding:
    """The token pyramids of a batch of images."""

    def __init__(self, images: List[List[dict]]):
        self._images = images

    def __len__(self) -> int:
        return len(self._images)

    @property
    def layers(self) -> List[Layer]:
        """The layers, each holding every image's ids and words."""
        first = self._images[0]
        return [
            Layer(
                layer=l["layer"],
                grid=tuple(l["grid"]),
                positions=list(l["positions"]),
                ids=[img[k]["ids"] for img in self._images],
                words=[img[k]["words"] for img in self._images],
            )
            for k, l in enumerate(first)
        ]

    @property
    def positions(self) -> List[List[int]]:
        """Each layer's latent positions (row * width + col), the same for every image."""
        return [list(l["positions"]) for l in self._images[0]]

    def ids(self, depth: Optional[int] = None) -> np.ndarray:
        """LLM ids of layers 1..depth (default: all) per image, in the order an LLM writes them:
        an (N, words) uint32 array."""
        depth = len(self._images[0]) if depth is None else depth
        return np.array(
            [[i for l in img[:depth] for i in l["ids"]] for img in self._images], dtype=np.uint32
        )

    def words(self, depth: Optional[int] = None) -> List[List[str]]:
        """Words of layers 1..depth (default: all) per image."""
        depth = len(self._images[0]) if depth is None else depth
        return [[w for l in img[:depth] for w in l["words"]] for img in self._images]

    def to_json(self) -> str:
        """The `spae encode --json` form (which `spae decode` reads)."""
        return json.dumps(
            [{"image": f"image {i}", "layers": img} for i, img in enumerate(self._images)], indent=2
        )

    def _json(self) -> str:
        return json.dumps(self._images)


def _as_arrays(images: Any) -> List[np.ndarray]:
    """One image or a batch (list, tuple, or a 4-D array) as a list of arrays."""
    if hasattr(images, "mode") and hasattr(images, "size"):  # one PIL image
        return [_from_pil(images)]
    if isinstance(images, np.ndarray):
        # 4-D: a batch; 3-D: one image (H, W, C) when C is 1, 3 or 4, else a batch of gray ones.
        batch = images.ndim == 4 or (images.ndim == 3 and images.shape[2] not in (1, 3, 4))
        return list(images) if batch else [images]
    if isinstance(images, (list, tuple)):
        return [_from_pil(i) if hasattr(i, "mode") else np.asarray(i) for i in images]
    raise SpaeError(f"images: a NumPy array, a PIL image or a list of them, not {type(images).__name__}")


def _from_pil(img: Any) -> np.ndarray:
    if img.mode not in ("L", "RGB", "RGBA"):
        has_alpha = "A" in img.mode or "transparency" in img.info
        img = img.convert("RGBA" if has_alpha else "RGB")
    return np.asarray(img)


class ImageTokenizer:
    """A trained SPAE tokenizer (a checkpoint, run folder or released model)."""

    def __init__(self, inner: _ImageTokenizer):
        self._tok = inner

    @classmethod
    def load(cls, path: str, device: str = "cpu", assets: Optional[str] = None) -> "ImageTokenizer":
        """Loads a tokenizer onto `device` ("cpu"); `assets` is the asset folder (default
        $SPAE_ASSETS, else ./assets) whose LLM builds a missing codebook."""
        return cls(_ImageTokenizer.load(str(path), device, None if assets is None else str(assets)))

    @property
    def image_size(self) -> int:
        """The model's square canvas side in pixels."""
        return self._tok.image_size

    @property
    def channels(self) -> int:
        """1 (gray) or 3 (RGB)."""
        return self._tok.channels

    @property
    def layer_sizes(self) -> List[int]:
        """Words per pyramid layer."""
        return self._tok.layer_sizes

    @property
    def first_decodable_depth(self) -> int:
        """The fewest layers that decode (their words cover every latent position)."""
        return self._tok.first_decodable_depth

    def __repr__(self) -> str:
        return repr(self._tok)

    def encode(self, images: Any, resize: bool = True) -> Encoding:
        """Token pyramids of images: NumPy arrays (H, W[, C]) or a batch (N, H, W[, C]; a 3-D array
        whose last axis is not 1, 3 or 4 is a batch of gray images), uint8 or
        float in [0, 1], or PIL images; any size and 1, 3 or 4 channels. An image of another size
        than the model's is cropped to its centred square and resampled to the canvas
        (antialiased bilinear, Pillow's ImageOps.fit), as `spae encode` does; resize=False
        refuses other sizes. Float images exactly on the canvas go in without rounding."""
        arrays = _as_arrays(images)
        if not arrays:
            raise SpaeError("no images")
        s, c = self.image_size, self.channels
        floats = all(np.issubdtype(a.dtype, np.floating) for a in arrays)
        on_canvas = all(
            a.shape[:2] == (s, s) and (a.shape[2:] or (1,))[0] == c for a in arrays
        )
        if floats and on_canvas:
            chw = np.stack([a.reshape(s, s, c).transpose(2, 0, 1) for a in arrays])
            data = np.ascontiguousarray(chw, dtype="<f4").tobytes()
            return Encoding(json.loads(self._tok._encode(data, [], len(arrays), resize)))
        shapes, parts = [], []
        for i, a in enumerate(arrays):
            if np.issubdtype(a.dtype, np.floating):
                if a.size and (np.nanmin(a) < 0 or np.nanmax(a) > 1 or np.isnan(a).any()):
                    raise SpaeError(f"image {i}: float pixels must be in [0, 1]")
                a = np.round(a * 255)
            elif a.dtype != np.uint8:
                raise SpaeError(f"image {i}: pixels of {a.dtype}; uint8 or float in [0, 1]")
            a = np.ascontiguousarray(a, dtype=np.uint8)
            if a.ndim == 2:
                a = a[:, :, None]
            if a.ndim != 3:
                raise SpaeError(f"image {i}: shape {a.shape}; (H, W) or (H, W, C)")
            shapes.append(tuple(a.shape))
            parts.append(a.tobytes())
        return Encoding(json.loads(self._tok._encode(b"".join(parts), shapes, 0, resize)))

    def decode(self, tokens: Any, depth: Optional[int] = None) -> np.ndarray:
        """Pixels of an Encoding, or of id sequences (N, words) as `Encoding.ids(depth)` gives
        them, from their first `depth` layers (default: all given): an (N, H, W, C) float32 array
        in [0, 1]."""
        if isinstance(tokens, Encoding):
            depth = len(tokens._images[0]) if depth is None else depth
            raw = self._tok._decode(tokens._json(), depth)
            n = len(tokens)
        else:
            ids = np.asarray(tokens)
            if ids.ndim == 1:
                ids = ids[None]
            if depth is None:
                sums = np.cumsum(self.layer_sizes)
                match = [d + 1 for d, t in enumerate(sums) if t == ids.shape[1]]
                if not match:
                    raise SpaeError(f"{ids.shape[1]} ids per image are no whole number of layers")
                depth = match[0]
            raw = self._tok._decode_ids([[int(i) for i in row] for row in ids], depth)
            n = ids.shape[0]
        s, c = self.image_size, self.channels
        return np.frombuffer(raw, dtype="<f4").reshape(n, c, s, s).transpose(0, 2, 3, 1).copy()

    def words(self) -> List[str]:
        """The codebook's words (leading space included)."""
        return self._tok.words()


class Llm:
    """A frozen GGUF LLM (llama.cpp on the CPU)."""

    def __init__(self, inner: _Llm):
        self._llm = inner

    @classmethod
    def load(cls, path: str, threads: int = 0) -> "Llm":
        """Loads a GGUF model; `threads` CPU threads (0: all cores)."""
        return cls(_Llm.load(str(path), threads))

    def tokenize(self, text: str) -> List[int]:
        return self._llm.tokenize(text)

    def detokenize(self, ids: Sequence[int]) -> str:
        return self._llm.detokenize([int(i) for i in ids])


@dataclass(frozen=True)
class FewshotAnswer:
    answer: str
    classes: List[str]
    prompt: str
    prompt_tokens: int


def fewshot(
    tokenizer: ImageTokenizer,
    llm: Llm,
    support: Sequence[Tuple[Any, str]],
    query: Any,
    layers: int = 2,
    induction: bool = True,
) -> FewshotAnswer:
    """One few-shot question: `support` is (image, label) pairs, `query` an image; the LLM reads
    each image's words of layers 1..layers in Table 1's prompt ("Answer with a or b." then
    "Input: {words} output: This is a {label}." per support image, then the query) and answers
    constrained to the labels."""
    classes: List[str] = []
    for _, label in support:
        if label not in classes:
            classes.append(label)
    enc = tokenizer.encode([img for img, _ in support] + [query])
    ids = [list(map(int, row)) for row in enc.ids(layers)]
    pairs = [(ids[i], classes.index(label)) for i, (_, label) in enumerate(support)]
    c, prompt, n = llm._llm._ask(tokenizer._tok, classes, pairs, ids[-1], induction)
    return FewshotAnswer(classes[c], classes, prompt, n)


def generate(
    tokenizer: ImageTokenizer,
    llm: Llm,
    examples: Sequence[Tuple[str, Any]],
    queries: Sequence[str],
    depth: Optional[int] = None,
    plan: str = "paper",
    stride: int = 16,
) -> Tuple[np.ndarray, np.ndarray]:
    """Progressive in-context decoding (Eqs. 10-11): `examples` are (condition text, image), e.g.
    ("an image of 7:", digit); for each query condition the LLM writes the image's words of
    layers 1..depth (default: the first decodable depth) pass by pass (`plan`: paper, par, pnar
    or single; `stride` words per pass), constrained to the codebook. Returns the decoded images
    (N, H, W, C) and the written ids (N, words)."""
    depth = tokenizer.first_decodable_depth if depth is None else depth
    enc = tokenizer.encode([img for _, img in examples])
    targets = [list(map(int, row)) for row in enc.ids(depth)]
    ids = llm._llm._generate(
        tokenizer._tok, [c for c, _ in examples], targets, list(queries), depth, plan, stride
    )
    ids = np.array(ids, dtype=np.uint32)
    return tokenizer.decode(ids, depth), ids
