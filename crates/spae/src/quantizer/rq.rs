//! Residual quantization (RQ), the ablation of SAQ (method.md, Eqs. 2-3 section).

use super::{Quantizer, QuantizerKind};

/// RQ: each layer quantizes what the earlier tokens left, `z - S`; the decoder sees the sum `S`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Rq;

impl Quantizer for Rq {
    fn kind(&self) -> QuantizerKind {
        QuantizerKind::Rq
    }

    fn target_affine(&self, _n: usize) -> (f32, f32) {
        (1.0, 1.0)
    }

    fn reconstruction(&self, sum: &[f32], _n: usize, _latest: &[f32], out: &mut [f32]) {
        out.copy_from_slice(sum);
    }

    fn reconstruction_weights(&self, _n: usize) -> (f32, f32) {
        (1.0, 0.0)
    }
}
