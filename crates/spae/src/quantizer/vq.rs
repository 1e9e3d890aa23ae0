//! Plain vector quantization, the baseline: every layer quantizes `z` itself.

use super::{Quantizer, QuantizerKind};

/// VQ: the target is `z`, the decoder sees the latest token. With a one-layer pyramid this is a
/// standard VQ-VAE bottleneck.
#[derive(Debug, Clone, Copy, Default)]
pub struct Vq;

impl Quantizer for Vq {
    fn kind(&self) -> QuantizerKind {
        QuantizerKind::Vq
    }

    fn target_affine(&self, _n: usize) -> (f32, f32) {
        (1.0, 0.0)
    }

    fn reconstruction(&self, _sum: &[f32], _n: usize, latest: &[f32], out: &mut [f32]) {
        out.copy_from_slice(latest);
    }

    fn reconstruction_weights(&self, _n: usize) -> (f32, f32) {
        (0.0, 1.0)
    }
}
