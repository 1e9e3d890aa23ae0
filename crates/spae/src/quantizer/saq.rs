//! Streaming average quantization (SAQ), the paper's quantizer (method.md, Eqs. 2-3).

use super::{Quantizer, QuantizerKind};

/// SAQ: each layer quantizes the residual that keeps the running mean of a position's tokens
/// closest to `z`, and the decoder sees that mean.
#[derive(Debug, Clone, Copy, Default)]
pub struct Saq;

/// Eq. 2: the target of a layer at a position with `n` earlier tokens of sum `S` is
/// `z_l = z + sum_i (z - e(k_i)) = (n + 1) z - S`.
pub fn saq_target_affine(n: usize) -> (f32, f32) {
    ((n + 1) as f32, 1.0)
}

/// Eq. 3: streaming average, the reconstruction from the first `l` layers is the mean of the
/// `n` embeddings placed at the position, `S / n`.
pub fn streaming_average(sum: &[f32], n: usize, out: &mut [f32]) {
    let inv = 1.0 / n.max(1) as f32;
    for (o, &s) in out.iter_mut().zip(sum) {
        *o = s * inv;
    }
}

impl Quantizer for Saq {
    fn kind(&self) -> QuantizerKind {
        QuantizerKind::Saq
    }

    fn target_affine(&self, n: usize) -> (f32, f32) {
        saq_target_affine(n)
    }

    fn reconstruction(&self, sum: &[f32], n: usize, _latest: &[f32], out: &mut [f32]) {
        streaming_average(sum, n, out);
    }

    fn reconstruction_weights(&self, n: usize) -> (f32, f32) {
        (1.0 / n.max(1) as f32, 0.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eq2_eq3_by_hand() {
        // z = (1, 2), earlier tokens (0, 1) and (2, 2): target 3z - S = (3, 6) - (2, 3) = (1, 3).
        let mut t = [0.0; 2];
        Saq.target(&[1.0, 2.0], &[2.0, 3.0], 2, &mut t);
        assert_eq!(t, [1.0, 3.0]);
        // Mean of (0,1), (2,2), (1,3) = (1, 2): the streaming average recovers z here.
        let mut m = [0.0; 2];
        streaming_average(&[3.0, 6.0], 3, &mut m);
        assert_eq!(m, [1.0, 2.0]);
    }
}
