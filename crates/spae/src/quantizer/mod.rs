//! Quantizers: encoder latents to codebook words, layer by layer over the token pyramid.
//!
//! A pyramid quantizer is defined by two rules at each latent position `p`, given the `n`
//! embeddings already placed there by earlier layers (their sum `S` and the latest one):
//! the layer's **target** `z_l = a(n) z - b S`, quantized to its nearest codeword, and the
//! **reconstruction** fed to the decoder. [`Saq`] (Eqs. 2-3), [`Rq`] and [`Vq`] are the paper's
//! quantizer and its two ablations. [`quantize_pyramid`] runs any of them over a batch.

pub mod nearest;
mod rq;
mod saq;
pub mod tensor;
mod vq;

pub use nearest::{Nearest, NearestSearch, SearchChunks};
pub use rq::Rq;
pub use saq::Saq;
pub use tensor::{quantize_pyramid_tensor, SearchPlace, TensorCodes, TensorSearch};
pub use vq::Vq;

use crate::pyramid::{PyramidError, PyramidLayout};

/// The per-position rules of a pyramid quantizer.
pub trait Quantizer: Send + Sync {
    /// Which quantizer this is (how a configuration names it).
    fn kind(&self) -> QuantizerKind;

    /// `(a, b)` of the layer target `z_l = a z - b S` at a position with `n` earlier tokens.
    fn target_affine(&self, n: usize) -> (f32, f32);

    /// The decoder input at a position from the sum of its `n >= 1` placed embeddings and the
    /// latest of them.
    fn reconstruction(&self, sum: &[f32], n: usize, latest: &[f32], out: &mut [f32]);

    /// The same reconstruction as weights `(w_sum, w_latest)`: the decoder input at a position
    /// with `n >= 1` placed embeddings is `w_sum S + w_latest e_latest` (the device quantizer,
    /// [`tensor::quantize_pyramid_tensor`], applies it to whole tensors).
    fn reconstruction_weights(&self, n: usize) -> (f32, f32);

    /// The layer target `z_l = a z - b S` (see [`Quantizer::target_affine`]).
    fn target(&self, z: &[f32], sum: &[f32], n: usize, out: &mut [f32]) {
        let (a, b) = self.target_affine(n);
        for ((o, &zi), &si) in out.iter_mut().zip(z).zip(sum) {
            *o = a * zi - b * si;
        }
    }
}

/// The quantizers a configuration can name (`quantizer = "saq"` in TOML).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum QuantizerKind {
    /// Streaming average quantization (the paper's, Eqs. 2-3).
    #[default]
    Saq,
    /// Residual quantization (ablation).
    Rq,
    /// Plain vector quantization of each layer (ablation).
    Vq,
}

impl QuantizerKind {
    pub fn build(self) -> Box<dyn Quantizer> {
        match self {
            QuantizerKind::Saq => Box::new(Saq),
            QuantizerKind::Rq => Box::new(Rq),
            QuantizerKind::Vq => Box::new(Vq),
        }
    }
}

/// The words a batch of latents was quantized to, and the targets they were chosen for.
#[derive(Debug, Clone, PartialEq)]
pub struct PyramidCodes {
    pub batch: usize,
    /// Per layer: `batch x |P_l|` codebook indices, image-major, positions in
    /// [`PyramidLayout::positions`] order.
    pub tokens: Vec<Vec<u32>>,
    /// Per layer: the targets `z_l` (`batch x |P_l| x d`) the tokens were chosen for.
    pub targets: Vec<Vec<f32>>,
    /// Per layer: the scale `a(n)` of `z` in each position's target (`|P_l|`), the same for every
    /// image; with `targets` it gives the affine map `z -> z_l` that gradients follow.
    pub scales: Vec<Vec<f32>>,
}

/// Running state per latent position: sum of placed embeddings, their count, the latest one.
struct Placed {
    sum: Vec<f32>,
    count: Vec<usize>,
    latest: Vec<f32>,
}

impl Placed {
    fn new(n_slots: usize, dim: usize) -> Self {
        Placed {
            sum: vec![0.0; n_slots * dim],
            count: vec![0; n_slots],
            latest: vec![0.0; n_slots * dim],
        }
    }

    fn place(&mut self, slot: usize, e: &[f32]) {
        let d = e.len();
        for (s, &x) in self.sum[slot * d..(slot + 1) * d].iter_mut().zip(e) {
            *s += x;
        }
        self.latest[slot * d..(slot + 1) * d].copy_from_slice(e);
        self.count[slot] += 1;
    }
}

/// Quantizes a batch of latents `z` (`batch x positions x d`, position-major within an image)
/// with quantizer `q` over `pyramid`, one nearest-codeword search per layer for the whole batch.
pub fn quantize_pyramid(
    q: &dyn Quantizer,
    pyramid: &(impl PyramidLayout + ?Sized),
    search: &NearestSearch,
    z: &[f32],
) -> PyramidCodes {
    let d = search.dim();
    let n_pos = pyramid.n_positions();
    assert_eq!(z.len() % (n_pos * d), 0, "z must be batch x positions x d");
    let batch = z.len() / (n_pos * d);
    let mut placed = Placed::new(batch * n_pos, d);
    let mut out = PyramidCodes {
        batch,
        tokens: Vec::new(),
        targets: Vec::new(),
        scales: Vec::new(),
    };
    for l in 0..pyramid.n_layers() {
        let positions = pyramid.positions(l);
        out.scales.push(
            positions
                .iter()
                .map(|&p| q.target_affine(placed.count[p]).0)
                .collect(),
        );
        let mut targets = vec![0f32; batch * positions.len() * d];
        for b in 0..batch {
            for (j, &p) in positions.iter().enumerate() {
                let slot = b * n_pos + p;
                let t = (b * positions.len() + j) * d;
                q.target(
                    &z[slot * d..(slot + 1) * d],
                    &placed.sum[slot * d..(slot + 1) * d],
                    placed.count[slot],
                    &mut targets[t..t + d],
                );
            }
        }
        let tokens: Vec<u32> = search.search(&targets).iter().map(|r| r.index).collect();
        for b in 0..batch {
            for (j, &p) in positions.iter().enumerate() {
                let k = tokens[b * positions.len() + j] as usize;
                placed.place(b * n_pos + p, search.row(k));
            }
        }
        out.tokens.push(tokens);
        out.targets.push(targets);
    }
    out
}

/// The decoder input (`batch x positions x d`) from the tokens of the first `depth` layers,
/// an error if those layers do not cover every position.
pub fn reconstruct(
    q: &dyn Quantizer,
    pyramid: &(impl PyramidLayout + ?Sized),
    codes: &[f32],
    dim: usize,
    tokens: &[Vec<u32>],
    batch: usize,
    depth: usize,
) -> Result<Vec<f32>, PyramidError> {
    pyramid.check_decodable(depth)?;
    let n_pos = pyramid.n_positions();
    let mut placed = Placed::new(batch * n_pos, dim);
    for (l, layer) in tokens.iter().enumerate().take(depth) {
        let positions = pyramid.positions(l);
        for b in 0..batch {
            for (j, &p) in positions.iter().enumerate() {
                let k = layer[b * positions.len() + j] as usize;
                placed.place(b * n_pos + p, &codes[k * dim..(k + 1) * dim]);
            }
        }
    }
    let mut out = vec![0f32; batch * n_pos * dim];
    for (slot, o) in out.chunks_exact_mut(dim).enumerate() {
        let r = slot * dim..(slot + 1) * dim;
        q.reconstruction(
            &placed.sum[r.clone()],
            placed.count[slot],
            &placed.latest[r],
            o,
        );
    }
    Ok(out)
}

/// [`quantize_pyramid`] on host latents `z` (`batch x positions x d`), then [`reconstruct`] from
/// the first `depth` layers: the decoder input and the words, or an error if those layers do not
/// cover every position.
pub fn quantize_and_reconstruct(
    q: &dyn Quantizer,
    pyramid: &(impl PyramidLayout + ?Sized),
    search: &NearestSearch,
    z: &[f32],
    depth: usize,
) -> Result<(Vec<f32>, PyramidCodes), PyramidError> {
    let codes = quantize_pyramid(q, pyramid, search, z);
    let zhat = reconstruct(
        q,
        pyramid,
        search.codes(),
        search.dim(),
        &codes.tokens,
        codes.batch,
        depth,
    )?;
    Ok((zhat, codes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pyramid::Pyramid;

    /// e0 = (0,0), e1 = (2,0), e2 = (0,2), e3 = (1,1).
    const CODES: [f32; 8] = [0.0, 0.0, 2.0, 0.0, 0.0, 2.0, 1.0, 1.0];

    fn two_layers_one_position(q: &dyn Quantizer, z: [f32; 2]) -> (PyramidCodes, Vec<Vec<f32>>) {
        let p = Pyramid::new((1, 1), vec![(1, 1), (1, 1)]).unwrap();
        let s = NearestSearch::new(&CODES, 2);
        let codes = quantize_pyramid(q, &p, &s, &z);
        let recon = (1..=2)
            .map(|depth| reconstruct(q, &p, &CODES, 2, &codes.tokens, 1, depth).unwrap())
            .collect();
        (codes, recon)
    }

    #[test]
    fn saq_by_hand() {
        // z = (1.5, 0.6). Layer 1: target z; distances e1 .61, e3 .41 -> e3 = (1,1).
        // Layer 2 (Eq. 2): target 2z - e3 = (2, 0.2) -> e1 = (2,0) at distance .04.
        // Eq. 3: reconstructions (1,1), then mean((1,1),(2,0)) = (1.5, 0.5).
        let (c, r) = two_layers_one_position(&Saq, [1.5, 0.6]);
        assert_eq!(c.tokens, vec![vec![3], vec![1]]);
        assert_eq!(c.targets[1], vec![2.0, 2.0 * 0.6 - 1.0]);
        assert_eq!(r, vec![vec![1.0, 1.0], vec![1.5, 0.5]]);
    }

    #[test]
    fn rq_by_hand() {
        // Layer 2 target: z - e3 = (0.5, -0.4) -> e0 (distance .41); reconstruction sum (1,1).
        let (c, r) = two_layers_one_position(&Rq, [1.5, 0.6]);
        assert_eq!(c.tokens, vec![vec![3], vec![0]]);
        assert!((c.targets[1][0] - 0.5).abs() < 1e-6 && (c.targets[1][1] + 0.4).abs() < 1e-6);
        assert_eq!(r, vec![vec![1.0, 1.0], vec![1.0, 1.0]]);
    }

    #[test]
    fn vq_by_hand() {
        // Every layer quantizes z itself; the latest token is the reconstruction.
        let (c, r) = two_layers_one_position(&Vq, [1.5, 0.6]);
        assert_eq!(c.tokens, vec![vec![3], vec![3]]);
        assert_eq!(r[1], vec![1.0, 1.0]);
    }

    #[test]
    fn reconstruction_weights_give_each_quantizers_reconstruction() {
        // S = (3, 6) from n = 3 tokens, the latest (1, 3): SAQ's mean (1, 2) (Eq. 3), RQ's sum,
        // VQ's latest word, each as w_sum S + w_latest e_latest.
        let (sum, latest) = ([3.0, 6.0], [1.0, 3.0]);
        for (q, want) in [
            (QuantizerKind::Saq, [1.0, 2.0]),
            (QuantizerKind::Rq, [3.0, 6.0]),
            (QuantizerKind::Vq, [1.0, 3.0]),
        ] {
            let q = q.build();
            let mut out = [0.0; 2];
            q.reconstruction(&sum, 3, &latest, &mut out);
            assert_eq!(out, want);
            let (ws, wl) = q.reconstruction_weights(3);
            let by_weights: Vec<f32> = (0..2).map(|i| ws * sum[i] + wl * latest[i]).collect();
            assert_eq!(by_weights, want);
        }
    }

    #[test]
    fn saq_counts_only_positions_an_earlier_layer_covered() {
        // 2x2 latent, layers 1x1 then 2x2. Eq. 1 puts layer 1 at 1-based (2,2) = flat 3.
        let p = Pyramid::new((2, 2), vec![(1, 1), (2, 2)]).unwrap();
        assert_eq!(p.positions(0), vec![3]);
        let s = NearestSearch::new(&CODES, 2);
        let z = [0.1, 0.1, 1.9, 0.1, 0.2, 1.7, 1.5, 0.6];
        let c = quantize_pyramid(&Saq, &p, &s, &z);
        assert_eq!(c.tokens[0], vec![3]);
        // Positions 0..2 have no earlier token: target z. Position 3: 2z - e3 = (2, 0.2).
        assert_eq!(&c.targets[1][..6], &z[..6]);
        assert_eq!(&c.targets[1][6..], &[2.0, 2.0 * 0.6 - 1.0]);
        assert_eq!(c.scales, vec![vec![1.0], vec![1.0, 1.0, 1.0, 2.0]]);
        assert_eq!(c.tokens[1], vec![0, 1, 2, 1]);
        let r = reconstruct(&Saq, &p, &CODES, 2, &c.tokens, 1, 2).unwrap();
        assert_eq!(r, vec![0.0, 0.0, 2.0, 0.0, 0.0, 2.0, 1.5, 0.5]);
        assert_eq!(
            reconstruct(&Saq, &p, &CODES, 2, &c.tokens, 1, 1),
            Err(PyramidError::NotDecodable { depth: 1, first: 2 })
        );
    }

    #[test]
    fn saq_over_a_video_pyramid_by_hand() {
        // A 4x4x4 video latent, grids 1x1x1, 1x2x2, 2x4x4, 4x4x4 (positions in pyramid/video.rs:
        // 42; 37, 39, 45, 47; frames 2 and 4; everything). d = 1, words 0, 1, 2, 3; z = 1.4.
        let p = crate::pyramid::VideoPyramid::new(
            (4, 4, 4),
            vec![(1, 1, 1), (1, 2, 2), (2, 4, 4), (4, 4, 4)],
        )
        .unwrap();
        let s = NearestSearch::new(&[0.0, 1.0, 2.0, 3.0], 1);
        let c = quantize_pyramid(&Saq, &p, &s, &[1.4; 64]);
        // Layers 1-3 place no token where an earlier one is: every target is z, word 1.
        assert_eq!(c.tokens[0], vec![1]);
        assert_eq!(c.tokens[1], vec![1; 4]);
        assert_eq!(c.tokens[2], vec![1; 32]);
        // Layer 4: where one token is already placed (37 positions: 42, 37, 39, 45, 47 and frames
        // 2 and 4) Eq. 2's target is 2 * 1.4 - 1 = 1.8, word 2; elsewhere 1.4, word 1.
        let placed: Vec<usize> = [42, 37, 39, 45, 47]
            .into_iter()
            .chain(16..32)
            .chain(48..64)
            .collect();
        for pos in 0..64 {
            let (scale, word) = if placed.contains(&pos) {
                (2.0, 2)
            } else {
                (1.0, 1)
            };
            assert_eq!(c.scales[3][pos], scale, "{pos}");
            assert_eq!(c.tokens[3][pos], word, "{pos}");
        }
        // Eq. 3 at depth 4: the mean (1 + 2) / 2 = 1.5 where two tokens are, 1 elsewhere.
        let r = reconstruct(&Saq, &p, &[0.0, 1.0, 2.0, 3.0], 1, &c.tokens, 1, 4).unwrap();
        for (pos, &v) in r.iter().enumerate() {
            let want = if placed.contains(&pos) { 1.5 } else { 1.0 };
            assert_eq!(v, want, "{pos}");
        }
        assert_eq!(
            reconstruct(&Saq, &p, &[0.0, 1.0, 2.0, 3.0], 1, &c.tokens, 1, 3),
            Err(PyramidError::NotDecodable { depth: 3, first: 4 })
        );
    }
}
