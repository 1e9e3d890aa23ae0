//! The Fréchet Inception Distance (Heusel et al., 2017) between two sets of images, from their
//! [`FidInception`](super::inception::FidInception) features.

use thiserror::Error;

use super::linalg::{matmul_nt, matmul_tn, symmetric_eigen};

#[derive(Debug, Error, PartialEq)]
pub enum FidError {
    #[error("FID needs at least 2 images per set, got {0}")]
    TooFew(usize),
    #[error("FID features: {len} values are not rows of {dim}")]
    Ragged { len: usize, dim: usize },
    #[error("FID: the two sets have features of width {0} and {1}")]
    Width(usize, usize),
}

/// The Gaussian fitted to a set of feature vectors: its mean, and a factor `F` (`dim x rank`)
/// of its sample covariance, `Sigma = F F^T`, held as `F^T` (`rank x dim`, row-major).
#[derive(Debug, Clone)]
pub struct FeatureStats {
    pub mean: Vec<f64>,
    factor_t: Vec<f64>,
    rank: usize,
    pub count: usize,
}

impl FeatureStats {
    /// Mean and covariance factor of `n` feature rows of width `dim` (row-major). With
    /// `n <= dim` the factor is the centred data itself, `F = X_c^T / sqrt(n - 1)`; with more
    /// rows it is `V sqrt(Lambda)` from the covariance's eigendecomposition.
    pub fn new(features: &[f32], dim: usize) -> Result<Self, FidError> {
        if dim == 0 || !features.len().is_multiple_of(dim) {
            return Err(FidError::Ragged {
                len: features.len(),
                dim,
            });
        }
        let n = features.len() / dim;
        if n < 2 {
            return Err(FidError::TooFew(n));
        }
        let mut mean = vec![0.0; dim];
        for row in features.chunks(dim) {
            for (m, &x) in mean.iter_mut().zip(row) {
                *m += f64::from(x);
            }
        }
        mean.iter_mut().for_each(|m| *m /= n as f64);
        let norm = 1.0 / ((n - 1) as f64).sqrt();
        // Centred rows, scaled: X_c / sqrt(n - 1), n x dim.
        let xc: Vec<f64> = features
            .chunks(dim)
            .flat_map(|row| {
                row.iter()
                    .zip(&mean)
                    .map(|(&x, m)| (f64::from(x) - m) * norm)
            })
            .collect();
        let (factor_t, rank) = if n <= dim {
            // F^T = X_c / sqrt(n - 1), n x dim.
            (xc, n)
        } else {
            let cov = matmul_tn(&xc, &xc, n, dim, dim);
            let (values, vectors) = symmetric_eigen(&cov, dim, true);
            let mut v = vectors.expect("eigenvectors were asked for");
            // F^T = sqrt(Lambda) V^T: eigenvector rows scaled by the roots of their values.
            for (row, l) in v.chunks_mut(dim).zip(&values) {
                row.iter_mut().for_each(|x| *x *= l.max(0.0).sqrt());
            }
            (v, dim)
        };
        Ok(FeatureStats {
            mean,
            factor_t,
            rank,
            count: n,
        })
    }

    /// Width of the features.
    pub fn dim(&self) -> usize {
        self.mean.len()
    }

    /// `tr(Sigma) = ||F||_F^2`.
    fn trace(&self) -> f64 {
        self.factor_t.iter().map(|x| x * x).sum()
    }
}

/// FID: `||mu_1 - mu_2||^2 + tr(Sigma_1) + tr(Sigma_2) - 2 tr((Sigma_1 Sigma_2)^{1/2})`.
///
/// The last trace is computed exactly from the covariance factors: the eigenvalues of
/// `Sigma_1 Sigma_2 = F_1 F_1^T F_2 F_2^T` are those of `B B^T` with `B = F_1^T F_2`, so
/// `tr((Sigma_1 Sigma_2)^{1/2})` is the sum of `B`'s singular values (its nuclear norm). This
/// is what `scipy.linalg.sqrtm` approximates, without its trouble on the singular covariances
/// of sets smaller than the feature width.
pub fn frechet_distance(a: &FeatureStats, b: &FeatureStats) -> Result<f64, FidError> {
    if a.dim() != b.dim() {
        return Err(FidError::Width(a.dim(), b.dim()));
    }
    let mean_term: f64 = a
        .mean
        .iter()
        .zip(&b.mean)
        .map(|(x, y)| (x - y).powi(2))
        .sum();
    Ok(mean_term + a.trace() + b.trace() - 2.0 * nuclear_norm_of_product(a, b))
}

/// `||F_a^T F_b||_*`, the sum of the singular values, as the sum of the square roots of the
/// eigenvalues of the smaller Gram matrix (`B B^T` or `B^T B`).
fn nuclear_norm_of_product(a: &FeatureStats, b: &FeatureStats) -> f64 {
    let (m, n) = (a.rank, b.rank);
    // B = F_a^T F_b, m x n.
    let bmat = matmul_nt(&a.factor_t, &b.factor_t, a.dim(), m, n);
    let gram = if m <= n {
        (matmul_nt(&bmat, &bmat, n, m, m), m)
    } else {
        (matmul_tn(&bmat, &bmat, m, n, n), n)
    };
    let (values, _) = symmetric_eigen(&gram.0, gram.1, false);
    // Eigenvalues at rounding level (the Gram matrix of a rank-deficient product) are zeros;
    // their square roots would add noise of order sqrt(eps).
    let top = values.last().copied().unwrap_or(0.0).max(0.0);
    let floor = top * f64::EPSILON * gram.1 as f64;
    values
        .iter()
        .filter(|&&v| v > floor)
        .map(|v| v.sqrt())
        .sum()
}

/// FID between two sets of feature rows of width `dim`.
pub fn fid(a: &[f32], b: &[f32], dim: usize) -> Result<f64, FidError> {
    frechet_distance(&FeatureStats::new(a, dim)?, &FeatureStats::new(b, dim)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_dimensional_gaussians_by_hand() {
        // 1-d: FID = (mu1 - mu2)^2 + (s1 - s2)^2 with s the standard deviations.
        // a = {0, 2}: mean 1, variance 2; b = {3, 7}: mean 5, variance 8.
        let d = fid(&[0.0, 2.0], &[3.0, 7.0], 1).unwrap();
        let want = 16.0 + (2f64.sqrt() - 8f64.sqrt()).powi(2);
        assert!((d - want).abs() < 1e-12, "{d} vs {want}");
        assert!(fid(&[1.0, 4.0, 2.0], &[1.0, 4.0, 2.0], 1).unwrap().abs() < 1e-12);
    }

    #[test]
    fn diagonal_covariances_by_hand() {
        // Four 2-d points per set, chosen so that the sample covariances are diagonal:
        // a: (±1, ±1) around (0, 0): covariance diag(4/3, 4/3);
        // b: (±2, ±1) around (1, 0): covariance diag(16/3, 4/3).
        let a = [1.0, 1.0, 1.0, -1.0, -1.0, 1.0, -1.0, -1.0];
        let b = [3.0, 1.0, 3.0, -1.0, -1.0, 1.0, -1.0, -1.0];
        let d = fid(&a, &b, 2).unwrap();
        // (sqrt(4/3) - sqrt(16/3))^2 + 0 + mean term 1 = 4/3 + 1.
        let want = 1.0 + (f64::sqrt(4.0 / 3.0) - f64::sqrt(16.0 / 3.0)).powi(2);
        assert!((d - want).abs() < 1e-12, "{d} vs {want}");
    }

    #[test]
    fn both_factor_paths_agree() {
        // 6 rows of width 3 take the eigendecomposition path (n > dim); the same rows padded
        // with zero columns to width 8 take the data path (n <= dim): same distance.
        let rows: Vec<[f32; 3]> = (0..6)
            .map(|i| {
                let i = i as f32;
                [i.sin(), (2.0 * i).cos(), 0.3 * i]
            })
            .collect();
        let other: Vec<[f32; 3]> = (0..6)
            .map(|i| {
                let i = i as f32;
                [(i + 0.5).cos(), 0.1 * i * i, -(i.sin())]
            })
            .collect();
        let flat = |r: &[[f32; 3]], w: usize| -> Vec<f32> {
            r.iter()
                .flat_map(|x| x.iter().copied().chain(std::iter::repeat_n(0.0, w - 3)))
                .collect()
        };
        let narrow = fid(&flat(&rows, 3), &flat(&other, 3), 3).unwrap();
        let wide = fid(&flat(&rows, 8), &flat(&other, 8), 8).unwrap();
        assert!((narrow - wide).abs() < 1e-9, "{narrow} vs {wide}");
    }

    #[test]
    fn bad_input_is_an_error() {
        assert_eq!(fid(&[1.0], &[1.0, 2.0], 1), Err(FidError::TooFew(1)));
        assert!(matches!(
            fid(&[1.0; 5], &[1.0; 4], 2),
            Err(FidError::Ragged { .. })
        ));
        let a = FeatureStats::new(&[1.0, 2.0, 3.0, 4.0], 2).unwrap();
        let b = FeatureStats::new(&[1.0, 2.0, 3.0], 1).unwrap();
        assert_eq!(frechet_distance(&a, &b), Err(FidError::Width(2, 1)));
    }
}
