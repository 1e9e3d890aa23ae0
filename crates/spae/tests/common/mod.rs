//! Helpers shared by the library's training tests.
#![allow(dead_code)]

use spae::assets::Assets;
use spae::gguf::GgufFile;

pub fn assets() -> Assets {
    Assets::from_env_or(concat!(env!("CARGO_MANIFEST_DIR"), "/../../assets"))
}

/// 4096 real SmolLM2 embedding rows (every 12th word of the vocabulary) and their width.
pub fn smollm2_rows() -> (Vec<f32>, usize) {
    let gguf = GgufFile::open(assets().path("smollm2").unwrap()).unwrap();
    let (table, rows, dim) = gguf.dequantize_matrix("token_embd.weight").unwrap();
    let codes = (0..rows)
        .step_by(12)
        .take(4096)
        .flat_map(|r| table[r * dim..(r + 1) * dim].to_vec())
        .collect();
    (codes, dim)
}

/// The SAQ context of the tests' Fashion-MNIST models: the 8x8 latent's pyramid `[1, 2, 4, 8,
/// 8]` over `codes` (rows of width `dim`, [`smollm2_rows`]), searched by the host kernel.
pub fn saq_context(codes: &[f32], dim: usize) -> spae::train::QuantContext {
    spae::train::QuantContext {
        quantizer: Box::new(spae::quantizer::Saq),
        pyramid: spae::pyramid::Pyramid::square(8, &[1, 2, 4, 8, 8]).unwrap(),
        search: spae::quantizer::NearestSearch::new(codes, dim),
        on_device: None,
    }
}

/// The tests' small video model: 4-frame 32x32 gray clips, base width 8, time halved once, so
/// its latent is 2 x 8 x 8 of width `dim`; and its SAQ context, the 3-D pyramid `[(1, 1, 1),
/// (1, 2, 2), (1, 4, 4), (2, 8, 8)]` over `codes` ([`smollm2_rows`]), searched by the host
/// kernel.
pub fn tiny_video(
    codes: &[f32],
    dim: usize,
) -> (
    spae::model::video::VideoModelConfig,
    spae::train::video::VideoContext,
) {
    let cfg = spae::model::video::VideoModelConfig {
        frames: 4,
        image_size: 32,
        base_channels: 8,
        channel_mult: vec![1, 2, 2],
        temporal_down: vec![true, false],
        latent_dim: dim,
        ..Default::default()
    };
    let pyramid = spae::pyramid::VideoPyramid::new(
        (2, 8, 8),
        vec![(1, 1, 1), (1, 2, 2), (1, 4, 4), (2, 8, 8)],
    )
    .unwrap();
    let ctx = spae::train::video::VideoContext {
        quantizer: Box::new(spae::quantizer::Saq),
        pyramid,
        search: spae::quantizer::NearestSearch::new(codes, dim),
        on_device: None,
    };
    (cfg, ctx)
}

/// `n` real Moving MNIST clips for [`tiny_video`]'s model, drawn from the training digits: one
/// digit, 4 frames of 32x32, pixels in `[0, 1]`, clip after clip, frame after frame.
pub fn tiny_clips(n: usize) -> Vec<f32> {
    use spae::data::video::{moving_mnist, MovingMnist};
    use spae::data::{mnist_digits, Split, HOLD_OUT_EVERY};
    let digits = mnist_digits(&assets().path("mnist").unwrap())
        .unwrap()
        .hold_out(Split::Train, HOLD_OUT_EVERY);
    let mm = MovingMnist {
        size: 32,
        frames: 4,
        digits: 1,
        step: 0.1,
    };
    let clips = moving_mnist(&digits, n, 0, mm).unwrap();
    clips.pixels.iter().map(|&p| f32::from(p) / 255.0).collect()
}
