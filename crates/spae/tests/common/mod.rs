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
