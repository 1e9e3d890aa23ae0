//! Exact nearest-codeword search, `argmin_k ||z - e(k)||^2`, the inner step of every quantizer.
//!
//! `||z - e||^2 = ||z||^2 - 2 (z . e - ||e||^2 / 2)`, and `||z||^2` does not depend on `k`, so the
//! search is `argmax_k (z . e(k) - h(k))` with `h(k) = ||e(k)||^2 / 2` precomputed once. The dot
//! products come from a cache-sized matrix multiplication per (codeword chunk, vector chunk) and
//! are consumed at once by a running arg-max: the `N x |T|` score matrix is never materialised.

use burn::tensor::{Int, Tensor};
use rayon::prelude::*;

/// Chunk sizes of the search. Defaults were measured on a 2-core AVX-512 machine
/// (`spae bench quantizer`); any values give the same result.
#[derive(Debug, Clone, Copy)]
pub struct SearchChunks {
    /// Query vectors per task (one task per rayon job).
    pub vectors: usize,
    /// Codewords per matrix multiplication.
    pub codewords: usize,
}

impl Default for SearchChunks {
    fn default() -> Self {
        SearchChunks {
            vectors: 256,
            codewords: 512,
        }
    }
}

/// A codebook prepared for nearest-neighbour search: rows `e(k)` and half squared norms `h(k)`.
#[derive(Debug, Clone)]
pub struct NearestSearch {
    codes: Vec<f32>,
    half_norms: Vec<f32>,
    dim: usize,
    pub chunks: SearchChunks,
}

/// The result for one query vector.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Nearest {
    /// Index of the nearest codeword (the lowest index among exact ties).
    pub index: u32,
    /// `||z - e(index)||^2`, from the expansion (may differ from a direct sum by rounding).
    pub sq_dist: f32,
}

impl NearestSearch {
    /// Prepares `codes`, a row-major `K x dim` matrix.
    pub fn new(codes: &[f32], dim: usize) -> Self {
        assert!(
            dim > 0 && codes.len().is_multiple_of(dim),
            "codes must be K x dim"
        );
        let half_norms = codes
            .chunks_exact(dim)
            .map(|r| 0.5 * r.iter().map(|x| x * x).sum::<f32>())
            .collect();
        NearestSearch {
            codes: codes.to_vec(),
            half_norms,
            dim,
            chunks: SearchChunks::default(),
        }
    }

    pub fn len(&self) -> usize {
        self.half_norms.len()
    }

    pub fn is_empty(&self) -> bool {
        self.half_norms.is_empty()
    }

    pub fn dim(&self) -> usize {
        self.dim
    }

    /// The codewords, row-major `K x dim`.
    pub fn codes(&self) -> &[f32] {
        &self.codes
    }

    /// Codeword `k`.
    pub fn row(&self, k: usize) -> &[f32] {
        &self.codes[k * self.dim..(k + 1) * self.dim]
    }

    /// The nearest codeword of each row of `z` (row-major `N x dim`), in parallel over rows.
    pub fn search(&self, z: &[f32]) -> Vec<Nearest> {
        assert_eq!(z.len() % self.dim, 0, "z must be N x dim");
        let d = self.dim;
        let nc = self.chunks.vectors.max(1);
        let mut out = vec![
            Nearest {
                index: 0,
                sq_dist: f32::INFINITY
            };
            z.len() / d
        ];
        out.par_chunks_mut(nc)
            .zip(z.par_chunks(nc * d))
            .for_each(|(res, zc)| self.search_chunk(zc, res));
        out
    }

    /// One task: the vectors `zc` against every codeword, chunk by chunk.
    fn search_chunk(&self, zc: &[f32], res: &mut [Nearest]) {
        let d = self.dim;
        let n = res.len();
        let kc = self.chunks.codewords.max(1);
        let mut best = vec![f32::NEG_INFINITY; n];
        let mut arg = vec![0u32; n];
        let mut scores = vec![0f32; kc * n];
        for (c, (codes, hn)) in self
            .codes
            .chunks(kc * d)
            .zip(self.half_norms.chunks(kc))
            .enumerate()
        {
            let m = hn.len();
            // scores (column-major m x n) = codes (m x d) . zc^T (d x n): column j holds the dot
            // products of vector j with this chunk's codewords, contiguous.
            // SAFETY: every pointer and stride below describes a slice of the stated shape.
            unsafe {
                gemm::gemm(
                    m,
                    n,
                    d,
                    scores.as_mut_ptr(),
                    m as isize,
                    1,
                    false,
                    codes.as_ptr(),
                    1,
                    d as isize,
                    zc.as_ptr(),
                    d as isize,
                    1,
                    0.0,
                    1.0,
                    false,
                    false,
                    false,
                    gemm::Parallelism::None,
                );
            }
            let base = (c * kc) as u32;
            for j in 0..n {
                let (v, k) = argmax_shifted(&scores[j * m..(j + 1) * m], hn);
                if v > best[j] {
                    best[j] = v;
                    arg[j] = base + k;
                }
            }
        }
        for (j, r) in res.iter_mut().enumerate() {
            let z2: f32 = zc[j * d..(j + 1) * d].iter().map(|x| x * x).sum();
            *r = Nearest {
                index: arg[j],
                sq_dist: (z2 - 2.0 * best[j]).max(0.0),
            };
        }
    }
}

/// `max_k (dots[k] - half_norms[k])` and its first index, in 16 independent lanes so that the
/// compiler vectorises it.
fn argmax_shifted(dots: &[f32], half_norms: &[f32]) -> (f32, u32) {
    const L: usize = 16;
    let mut lane_best = [f32::NEG_INFINITY; L];
    let mut lane_arg = [0u32; L];
    let full = dots.len() / L * L;
    for (b, (dc, hc)) in dots[..full]
        .chunks_exact(L)
        .zip(half_norms[..full].chunks_exact(L))
        .enumerate()
    {
        for l in 0..L {
            let v = dc[l] - hc[l];
            if v > lane_best[l] {
                lane_best[l] = v;
                lane_arg[l] = (b * L + l) as u32;
            }
        }
    }
    let (mut best, mut arg) = (f32::NEG_INFINITY, 0u32);
    for l in 0..L {
        if lane_best[l] > best || (lane_best[l] == best && lane_arg[l] < arg) {
            best = lane_best[l];
            arg = lane_arg[l];
        }
    }
    for k in full..dots.len() {
        let v = dots[k] - half_norms[k];
        if v > best {
            best = v;
            arg = k as u32;
        }
    }
    (best, arg)
}

/// The same search on any burn device (the path that GPU training takes): per chunk of
/// `rows_per_chunk` query rows, one matmul against all codewords and an arg-max
/// ([`super::TensorSearch`]). Returns the index of the nearest codeword of each row of `z`
/// (`N x dim`).
pub fn search_tensor(z: Tensor<2>, codes: Tensor<2>, rows_per_chunk: usize) -> Tensor<1, Int> {
    let mut search = super::TensorSearch::from_rows(codes);
    search.rows_per_chunk = rows_per_chunk;
    search.nearest(z)
}

/// Reads an index tensor back as `u32`s, whatever integer type the device stores.
pub fn indices_to_vec(t: Tensor<1, Int>) -> Vec<u32> {
    t.into_data()
        .convert::<i64>()
        .iter::<i64>()
        .map(|i| i as u32)
        .collect()
}

/// The brute-force reference: direct squared distances, first minimum wins.
pub fn nearest_brute_force(codes: &[f32], z: &[f32], dim: usize) -> Vec<Nearest> {
    z.chunks_exact(dim)
        .map(|zr| {
            let mut best = Nearest {
                index: 0,
                sq_dist: f32::INFINITY,
            };
            for (k, e) in codes.chunks_exact(dim).enumerate() {
                let dist: f32 = zr.iter().zip(e).map(|(a, b)| (a - b) * (a - b)).sum();
                if dist < best.sq_dist {
                    best = Nearest {
                        index: k as u32,
                        sq_dist: dist,
                    };
                }
            }
            best
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    fn random(n: usize, seed: u64) -> Vec<f32> {
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        (0..n).map(|_| rng.random_range(-1.0..1.0)).collect()
    }

    #[test]
    fn hand_computed_2d() {
        // codewords (0,0), (2,0), (0,2); z = (1.5, 0.2) is nearest (2,0): 0.25 + 0.04 = 0.29.
        let s = NearestSearch::new(&[0.0, 0.0, 2.0, 0.0, 0.0, 2.0], 2);
        let r = s.search(&[1.5, 0.2, -0.1, 1.2]);
        assert_eq!(r[0].index, 1);
        assert!((r[0].sq_dist - 0.29).abs() < 1e-6);
        // (-0.1, 1.2): to (0,2) 0.01 + 0.64 = 0.65, to (0,0) 0.01 + 1.44 = 1.45.
        assert_eq!(r[1].index, 2);
        assert!((r[1].sq_dist - 0.65).abs() < 1e-6);
    }

    #[test]
    fn ties_pick_the_lowest_index() {
        let s = NearestSearch::new(&[1.0, 0.0, -1.0, 0.0, 1.0, 0.0], 2);
        assert_eq!(s.search(&[0.0, 0.0])[0].index, 0);
        assert_eq!(s.search(&[5.0, 0.0])[0].index, 0);
    }

    #[test]
    fn matches_brute_force_on_random_data() {
        // Sizes that are not multiples of any chunk or lane width.
        let (k, n, d) = (1037, 301, 37);
        let codes = random(k * d, 1);
        let z = random(n * d, 2);
        let mut s = NearestSearch::new(&codes, d);
        s.chunks = SearchChunks {
            vectors: 64,
            codewords: 200,
        };
        let fast = s.search(&z);
        let slow = nearest_brute_force(&codes, &z, d);
        let mut same = 0;
        for (j, (f, b)) in fast.iter().zip(&slow).enumerate() {
            // The chosen codeword is a true minimum up to rounding ...
            let zr = &z[j * d..(j + 1) * d];
            let e = &codes[f.index as usize * d..(f.index as usize + 1) * d];
            let direct: f32 = zr.iter().zip(e).map(|(a, b)| (a - b) * (a - b)).sum();
            assert!(direct <= b.sq_dist * (1.0 + 1e-5), "{f:?} vs {b:?}");
            assert!((f.sq_dist - direct).abs() <= 1e-4 * direct.max(1.0));
            same += usize::from(f.index == b.index);
        }
        // ... and, away from floating-point near-ties, the same index.
        assert!(same >= n - 1, "{same} of {n} indices agree");
    }

    #[test]
    fn tensor_path_matches_slice_path() {
        use burn::tensor::{Device, TensorData};
        let (k, n, d) = (300, 70, 16);
        let codes = random(k * d, 3);
        let z = random(n * d, 4);
        let device = Device::flex();
        let zt = Tensor::<2>::from_data(TensorData::new(z.clone(), [n, d]), &device);
        let ct = Tensor::<2>::from_data(TensorData::new(codes.clone(), [k, d]), &device);
        let idx = indices_to_vec(search_tensor(zt, ct, 32));
        let fast = NearestSearch::new(&codes, d).search(&z);
        let same = idx
            .iter()
            .zip(&fast)
            .filter(|(a, b)| **a == b.index)
            .count();
        assert!(same >= n - 1, "{same} of {n}");
    }
}
