//! The pyramid quantizer as tensor operations on the latents' own device (issue 17: the whole
//! training step on a GPU, no host round trip of the latents).
//!
//! The search is the host kernel's formula, `argmax_k (z . e(k) - h(k))` with `h(k) = ||e(k)||^2
//! / 2` ([`super::nearest`]), as one matrix multiplication per chunk of query rows and an arg-max,
//! all in f32: no reduced precision, so the arg-min is the one of the f32 scores (the host kernel
//! sums in another order, so near-ties may resolve differently; `spae bench quantizer` measures
//! the agreement on a device). The layers then follow [`super::quantize_pyramid`]: each layer's
//! target `a(n) z - b S` at its positions (Eq. 2 for SAQ), its words, the running sum `S` and the
//! latest word updated in place, and the decoder input from the first `depth` layers (Eq. 3).

use burn::tensor::{Device, IndexingUpdateOp, Int, Tensor, TensorData};

use super::{NearestSearch, PyramidCodes, Quantizer};
use crate::pyramid::{PyramidError, PyramidLayout};

/// Where a training step's nearest-word search runs (`[loop] search` in TOML, `--search` on the
/// command line). Every place gives the same words up to the rounding of near-ties.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SearchPlace {
    /// The host kernel on the CPU backend (flex), the device's tensor operations on any other.
    #[default]
    Auto,
    /// The host kernel ([`NearestSearch`]): the latents are read back once per step.
    Host,
    /// Tensor operations on the latents' device ([`quantize_pyramid_tensor`]).
    Device,
}

impl SearchPlace {
    pub fn is_auto(&self) -> bool {
        *self == SearchPlace::Auto
    }

    /// Whether the search runs as tensor operations on `device`.
    pub fn on_device(self, device: &Device) -> bool {
        match self {
            SearchPlace::Auto => !crate::device::is_flex(device),
            SearchPlace::Host => false,
            SearchPlace::Device => true,
        }
    }
}

impl std::str::FromStr for SearchPlace {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "auto" => Ok(SearchPlace::Auto),
            "host" => Ok(SearchPlace::Host),
            "device" => Ok(SearchPlace::Device),
            other => Err(format!(
                "unknown search place '{other}': auto, host or device"
            )),
        }
    }
}

/// Scores per chunk of the search, `rows x K` f32 values: 2^25 (128 MiB), the largest buffer
/// every WebGPU device must allow (`maxStorageBufferBindingSize`). wgpu backends refuse a larger
/// one where the adapter caps it there (Mesa's lavapipe refused the 512 MiB chunks of before);
/// on a GPU each chunk is still a matrix multiplication of over a thousand rows by the whole
/// codebook.
const SCORES_PER_CHUNK: usize = 1 << 25;

/// A frozen codebook on a device, prepared for the tensor search: rows `e(k)` `[K, d]`, their
/// transpose and the half squared norms `h(k)` `[1, K]`.
#[derive(Debug, Clone)]
pub struct TensorSearch {
    codes: Tensor<2>,
    codes_t: Tensor<2>,
    half_norms: Tensor<2>,
    /// Query rows per matrix multiplication (any value gives the same words).
    pub rows_per_chunk: usize,
}

impl TensorSearch {
    /// The codebook rows `codes` `[K, d]` (on the device the search runs on).
    pub fn from_rows(codes: Tensor<2>) -> Self {
        let codes = codes.detach();
        let [k, _] = codes.dims();
        let half_norms = codes
            .clone()
            .square()
            .sum_dim(1)
            .mul_scalar(0.5)
            .transpose();
        TensorSearch {
            codes_t: codes.clone().transpose(),
            codes,
            half_norms,
            rows_per_chunk: (SCORES_PER_CHUNK / k.max(1)).max(1),
        }
    }

    /// The host search's codebook, copied to `device`.
    pub fn new(search: &NearestSearch, device: &Device) -> Self {
        let rows = TensorData::new(search.codes().to_vec(), [search.len(), search.dim()]);
        Self::from_rows(Tensor::from_data(rows, device))
    }

    pub fn device(&self) -> Device {
        self.codes.device()
    }

    /// The index of the nearest codeword of each row of `z` `[N, d]`: per chunk of query rows,
    /// one matmul against every codeword, minus `h(k)`, and an arg-max.
    pub fn nearest(&self, z: Tensor<2>) -> Tensor<1, Int> {
        let [n, _] = z.dims();
        let step = self.rows_per_chunk.max(1);
        let parts: Vec<Tensor<1, Int>> = (0..n)
            .step_by(step)
            .map(|start| {
                let len = step.min(n - start);
                z.clone()
                    .narrow(0, start, len)
                    .matmul(self.codes_t.clone())
                    .sub(self.half_norms.clone())
                    .argmax(1)
                    .squeeze_dim::<1>(1)
            })
            .collect();
        match parts.len() {
            1 => parts.into_iter().next().expect("one part"),
            _ => Tensor::cat(parts, 0),
        }
    }

    /// Codewords `e(k)` `[N, d]` of the indices `idx` `[N]`.
    pub fn rows(&self, idx: Tensor<1, Int>) -> Tensor<2> {
        self.codes.clone().select(0, idx)
    }
}

/// The words a batch was quantized to, as tensors on the latents' device: what the losses of a
/// training step need (layer targets, chosen codewords, the target's scale in `z`).
#[derive(Debug, Clone)]
pub struct TensorCodes {
    /// Per layer: `batch x |P_l|` codebook indices `[B * n]`, image-major, positions in
    /// [`PyramidLayout::positions`] order.
    pub tokens: Vec<Tensor<1, Int>>,
    /// Per layer: the targets `z_l` `[B, n, d]` the words were chosen for.
    pub targets: Vec<Tensor<3>>,
    /// Per layer: the chosen codewords `e(k_l)` `[B, n, d]`.
    pub embeddings: Vec<Tensor<3>>,
    /// Per layer: the scale `a(n)` of `z` in each position's target (`|P_l|`).
    pub scales: Vec<Vec<f32>>,
}

impl TensorCodes {
    /// The host quantizer's words `codes` of codebook `search`, as tensors on `device`.
    pub fn from_host(codes: &PyramidCodes, search: &NearestSearch, device: &Device) -> Self {
        let (b, d) = (codes.batch, search.dim());
        let mut out = TensorCodes {
            tokens: Vec::new(),
            targets: Vec::new(),
            embeddings: Vec::new(),
            scales: codes.scales.clone(),
        };
        for (tokens, targets) in codes.tokens.iter().zip(&codes.targets) {
            let n = tokens.len() / b.max(1);
            let idx: Vec<i64> = tokens.iter().map(|&k| i64::from(k)).collect();
            let emb: Vec<f32> = tokens
                .iter()
                .flat_map(|&k| search.row(k as usize).iter().copied())
                .collect();
            out.tokens.push(Tensor::from_data(
                TensorData::new(idx, [tokens.len()]),
                device,
            ));
            out.targets.push(Tensor::from_data(
                TensorData::new(targets.clone(), [b, n, d]),
                device,
            ));
            out.embeddings
                .push(Tensor::from_data(TensorData::new(emb, [b, n, d]), device));
        }
        out
    }

    /// The words read back to the host, per layer.
    pub fn host_tokens(&self) -> Vec<Vec<u32>> {
        self.tokens
            .iter()
            .map(|t| super::nearest::indices_to_vec(t.clone()))
            .collect()
    }
}

/// [`super::quantize_and_reconstruct`] on the device: quantizer `q` over `pyramid` on the
/// encoder output rows `z` `[B, P, d]` (detached), words from `search`. Returns the decoder input
/// `[B, P, d]` from the first `depth` layers and the words, or an error if those layers do not
/// cover every position.
pub fn quantize_pyramid_tensor(
    q: &dyn Quantizer,
    pyramid: &(impl PyramidLayout + ?Sized),
    search: &TensorSearch,
    z: Tensor<3>,
    depth: usize,
) -> Result<(Tensor<3>, TensorCodes), PyramidError> {
    pyramid.check_decodable(depth)?;
    let [b, n_pos, d] = z.dims();
    let device = z.device();
    let z = z.detach();
    let column =
        |v: Vec<f32>, n: usize| Tensor::<3>::from_data(TensorData::new(v, [1, n, 1]), &device);
    let mut count = vec![0usize; n_pos];
    let mut sum = Tensor::<3>::zeros([b, n_pos, d], &device);
    // Only VQ decodes from the latest word; the others never need it.
    let keeps_latest = (1..=pyramid.n_layers()).any(|n| q.reconstruction_weights(n).1 != 0.0);
    let mut latest = keeps_latest.then(|| sum.clone());
    let mut zhat = None;
    let mut out = TensorCodes {
        tokens: Vec::new(),
        targets: Vec::new(),
        embeddings: Vec::new(),
        scales: Vec::new(),
    };
    for l in 0..pyramid.n_layers() {
        let positions = pyramid.positions(l);
        let n = positions.len();
        let (a, bs): (Vec<f32>, Vec<f32>) =
            positions.iter().map(|&p| q.target_affine(count[p])).unzip();
        let idx: Vec<i64> = positions.iter().map(|&p| p as i64).collect();
        let idx = Tensor::<1, Int>::from_data(TensorData::new(idx, [n]), &device);
        let target = z.clone().select(1, idx.clone()) * column(a.clone(), n)
            - sum.clone().select(1, idx.clone()) * column(bs, n);
        let tokens = search.nearest(target.clone().reshape([b * n, d]));
        let e = search.rows(tokens.clone()).reshape([b, n, d]);
        sum = sum.select_assign(1, idx.clone(), e.clone(), IndexingUpdateOp::Add);
        if let Some(last) = latest.take() {
            let step = e.clone() - last.clone().select(1, idx.clone());
            latest = Some(last.select_assign(1, idx, step, IndexingUpdateOp::Add));
        }
        for &p in &positions {
            count[p] += 1;
        }
        if l + 1 == depth {
            let (ws, wl): (Vec<f32>, Vec<f32>) =
                count.iter().map(|&n| q.reconstruction_weights(n)).unzip();
            let mut r = sum.clone() * column(ws, n_pos);
            if let Some(last) = &latest {
                r = r + last.clone() * column(wl, n_pos);
            }
            zhat = Some(r);
        }
        out.tokens.push(tokens);
        out.targets.push(target);
        out.embeddings.push(e);
        out.scales.push(a);
    }
    let zhat = zhat.ok_or(PyramidError::NotDecodable {
        depth,
        first: pyramid.n_layers(),
    })?;
    Ok((zhat, out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pyramid::{Pyramid, VideoPyramid};
    use crate::quantizer::{quantize_and_reconstruct, QuantizerKind};
    use crate::tensor::to_vec;

    /// e0 = (0,0), e1 = (2,0), e2 = (0,2), e3 = (1,1), as in the host quantizer's tests.
    const CODES: [f32; 8] = [0.0, 0.0, 2.0, 0.0, 0.0, 2.0, 1.0, 1.0];

    fn rows(z: &[f32], shape: [usize; 3]) -> Tensor<3> {
        Tensor::from_data(TensorData::new(z.to_vec(), shape), &Device::flex())
    }

    #[test]
    fn saq_by_hand_on_a_device() {
        // The host test's case: z = (1.5, 0.6) -> e3, then 2z - e3 = (2, 0.2) -> e1; Eq. 3 gives
        // (1, 1) at depth 1 and the mean (1.5, 0.5) at depth 2.
        let p = Pyramid::new((1, 1), vec![(1, 1), (1, 1)]).unwrap();
        let s = TensorSearch::new(&NearestSearch::new(&CODES, 2), &Device::flex());
        let q = QuantizerKind::Saq.build();
        let z = rows(&[1.5, 0.6], [1, 1, 2]);
        let (r1, c) = quantize_pyramid_tensor(q.as_ref(), &p, &s, z.clone(), 1).unwrap();
        assert_eq!(to_vec(r1), vec![1.0, 1.0]);
        assert_eq!(c.host_tokens(), vec![vec![3], vec![1]]);
        assert_eq!(to_vec(c.targets[1].clone()), vec![2.0, 2.0 * 0.6 - 1.0]);
        assert_eq!(to_vec(c.embeddings[1].clone()), vec![2.0, 0.0]);
        assert_eq!(c.scales, vec![vec![1.0], vec![2.0]]);
        let (r2, _) = quantize_pyramid_tensor(q.as_ref(), &p, &s, z, 2).unwrap();
        assert_eq!(to_vec(r2), vec![1.5, 0.5]);
    }

    #[test]
    fn rq_and_vq_by_hand_on_a_device() {
        // RQ: layer 2 quantizes z - e3 = (0.5, -0.4) -> e0, and decodes the sum (1, 1).
        // VQ: both layers quantize z -> e3, and decode the latest word (1, 1).
        let p = Pyramid::new((1, 1), vec![(1, 1), (1, 1)]).unwrap();
        let s = TensorSearch::new(&NearestSearch::new(&CODES, 2), &Device::flex());
        for (kind, second) in [(QuantizerKind::Rq, 0), (QuantizerKind::Vq, 3)] {
            let q = kind.build();
            let z = rows(&[1.5, 0.6], [1, 1, 2]);
            let (r, c) = quantize_pyramid_tensor(q.as_ref(), &p, &s, z, 2).unwrap();
            assert_eq!(c.host_tokens(), vec![vec![3], vec![second]], "{kind:?}");
            assert_eq!(to_vec(r), vec![1.0, 1.0], "{kind:?}");
        }
    }

    #[test]
    fn a_depth_that_does_not_cover_the_latent_is_an_error() {
        let p = Pyramid::new((2, 2), vec![(1, 1), (2, 2)]).unwrap();
        let s = TensorSearch::new(&NearestSearch::new(&CODES, 2), &Device::flex());
        let q = QuantizerKind::Saq.build();
        let z = rows(&[0.0; 8], [1, 4, 2]);
        let err = quantize_pyramid_tensor(q.as_ref(), &p, &s, z, 1).unwrap_err();
        assert_eq!(err, PyramidError::NotDecodable { depth: 1, first: 2 });
    }

    #[test]
    fn the_device_path_equals_the_host_quantizer_on_images_and_videos() {
        // Random latents and codebook (the words of well-separated scores agree exactly), every
        // quantizer and every decodable depth, an image and a video pyramid, a batch of 3, and a
        // search split into chunks of 5 rows.
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let d = 6;
        let codes: Vec<f32> = (0..40 * d).map(|_| rng.random_range(-1.0..1.0)).collect();
        let host = NearestSearch::new(&codes, d);
        let mut dev = TensorSearch::new(&host, &Device::flex());
        dev.rows_per_chunk = 5;
        let image = Pyramid::new((4, 4), vec![(1, 1), (2, 2), (4, 4)]).unwrap();
        let video = VideoPyramid::new((2, 4, 4), vec![(1, 1, 1), (1, 2, 2), (2, 4, 4)]).unwrap();
        let layouts: [(&dyn PyramidLayout, usize); 2] = [(&image, 16), (&video, 32)];
        for (layout, n_pos) in layouts {
            let z: Vec<f32> = (0..3 * n_pos * d)
                .map(|_| rng.random_range(-1.0..1.0))
                .collect();
            for kind in [QuantizerKind::Saq, QuantizerKind::Rq, QuantizerKind::Vq] {
                let q = kind.build();
                let (want, codes) =
                    quantize_and_reconstruct(q.as_ref(), layout, &host, &z, 3).unwrap();
                let zt = rows(&z, [3, n_pos, d]);
                let (got, tc) = quantize_pyramid_tensor(q.as_ref(), layout, &dev, zt, 3).unwrap();
                assert_eq!(tc.host_tokens(), codes.tokens, "{kind:?}");
                assert_eq!(tc.scales, codes.scales, "{kind:?}");
                for (l, t) in tc.targets.iter().enumerate() {
                    crate::tensor::assert_close(
                        &to_vec(t.clone()),
                        &codes.targets[l],
                        1e-6,
                        "targets",
                    );
                }
                crate::tensor::assert_close(&to_vec(got), &want, 1e-6, "reconstruction");
                let up = TensorCodes::from_host(&codes, &host, &Device::flex());
                for (a, b) in up.embeddings.iter().zip(&tc.embeddings) {
                    assert_eq!(to_vec(a.clone()), to_vec(b.clone()), "{kind:?}");
                }
            }
        }
    }
}
