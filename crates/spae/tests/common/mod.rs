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
