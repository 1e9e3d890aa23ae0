//! Scores relative to a set of images (the bridge scorer's [`BridgeOptions`] that look at the
//! whole training set at once, never at a label): neighbour smoothing, clustering (spherical
//! k-means) and centring of the per-image features `f_img` before Eq. 6 normalises them.

use super::bridge_options::BridgeOptions;
use crate::tensor::normalize;
/// Every feature replaced by the normalised mean of its `k` nearest features (itself included,
/// by dot product of the unit features), for [`BridgeOptions::neighbours`]. Exact, `O(n^2 d)`.
pub fn smooth(features: &mut Vec<Vec<f32>>, k: usize) {
    use rayon::prelude::*;
    if k <= 1 || features.len() < 2 {
        return;
    }
    let k = k.min(features.len());
    let src = &*features;
    let out: Vec<Vec<f32>> = (0..src.len())
        .into_par_iter()
        .map(|i| {
            let mut sims: Vec<(f32, usize)> = src
                .iter()
                .enumerate()
                .map(|(j, f)| (f.iter().zip(&src[i]).map(|(a, b)| a * b).sum(), j))
                .collect();
            // Largest first; ties by index, so the result does not depend on thread timing.
            sims.select_nth_unstable_by(k - 1, |a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
            let mut m = vec![0f32; src[i].len()];
            for &(_, j) in &sims[..k] {
                for (x, v) in m.iter_mut().zip(&src[j]) {
                    *x += v;
                }
            }
            normalize(&mut m);
            m
        })
        .collect();
    *features = out;
}

/// Spherical k-means (`k` clusters, cosine) of unit features, seeded: the first centroid is a
/// random feature, then k-means++ (each next centroid drawn with probability proportional to
/// 1 - its best cosine), then 25 Lloyd iterations. Returns each feature's cluster and the unit
/// centroids.
pub fn spherical_kmeans(features: &[Vec<f32>], k: usize, seed: u64) -> (Vec<usize>, Vec<Vec<f32>>) {
    use rand::{Rng, SeedableRng};
    use rayon::prelude::*;
    let n = features.len();
    let k = k.min(n);
    if k == 0 {
        return (Vec::new(), Vec::new());
    }
    let dot = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f32>();
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut centroids = vec![features[rng.random_range(0..n)].clone()];
    let mut best: Vec<f32> = features.iter().map(|f| dot(f, &centroids[0])).collect();
    while centroids.len() < k {
        let weights: Vec<f32> = best.iter().map(|b| (1.0 - b).max(0.0)).collect();
        let total: f32 = weights.iter().sum();
        let pick = if total <= 0.0 {
            rng.random_range(0..n)
        } else {
            let mut r = rng.random::<f32>() * total;
            weights
                .iter()
                .position(|w| {
                    r -= w;
                    r <= 0.0
                })
                .unwrap_or(n - 1)
        };
        centroids.push(features[pick].clone());
        let c = centroids.last().expect("just pushed");
        for (b, f) in best.iter_mut().zip(features) {
            *b = b.max(dot(f, c));
        }
    }
    let mut assign = vec![0usize; n];
    for _ in 0..25 {
        assign = features
            .par_iter()
            .map(|f| {
                let mut best = (0, f32::NEG_INFINITY);
                for (c, m) in centroids.iter().enumerate() {
                    let s = dot(f, m);
                    if s > best.1 {
                        best = (c, s);
                    }
                }
                best.0
            })
            .collect();
        for (c, m) in centroids.iter_mut().enumerate() {
            let mut sum = vec![0f32; m.len()];
            for (f, _) in features.iter().zip(&assign).filter(|(_, &a)| a == c) {
                for (s, v) in sum.iter_mut().zip(f) {
                    *s += v;
                }
            }
            // An empty cluster keeps its centroid.
            if sum.iter().any(|v| *v != 0.0) {
                normalize(&mut sum);
                *m = sum;
            }
        }
    }
    (assign, centroids)
}

/// Every feature replaced by its cluster's centroid ([`BridgeOptions::clusters`]).
pub fn cluster(features: &mut [Vec<f32>], k: usize, seed: u64) {
    if k == 0 || features.is_empty() {
        return;
    }
    let (assign, centroids) = spherical_kmeans(features, k, seed);
    for (f, a) in features.iter_mut().zip(assign) {
        *f = centroids[a].clone();
    }
}

/// The bridge's post-processing over a whole set of features, in order: neighbour smoothing,
/// clustering, centring ([`BridgeOptions`]).
pub fn relate(features: &mut Vec<Vec<f32>>, options: &BridgeOptions, seed: u64) {
    smooth(features, options.neighbours);
    cluster(features, options.clusters, seed);
    if options.center {
        center(features);
    }
}

/// Eq. 6's scores relative to the set: every feature minus the mean feature, renormalised
/// ([`BridgeOptions::center`]).
pub fn center(features: &mut [Vec<f32>]) {
    let Some(d) = features.first().map(Vec::len) else {
        return;
    };
    let mut mean = vec![0f32; d];
    for f in features.iter() {
        for (m, v) in mean.iter_mut().zip(f) {
            *m += v / features.len() as f32;
        }
    }
    for f in features.iter_mut() {
        for (v, m) in f.iter_mut().zip(&mean) {
            *v -= m;
        }
        normalize(f);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn neighbour_smoothing_by_hand() {
        // Three unit vectors: a and b close, c apart. With k = 2, a and b both become the
        // normalised a + b; c's nearest other is b (0.6 vs 0.0... by hand below).
        let a = vec![1.0, 0.0];
        let b = vec![0.8, 0.6];
        let c = vec![0.0, 1.0];
        let mut f = vec![a.clone(), b.clone(), c.clone()];
        smooth(&mut f, 2);
        let ab = {
            let mut m = vec![1.8, 0.6];
            normalize(&mut m);
            m
        };
        // a: itself (1) and b (0.8); b: itself (1) and a (0.8) over c (0.6); c: itself and b.
        let bc = {
            let mut m = vec![0.8, 1.6];
            normalize(&mut m);
            m
        };
        let close = |x: &[f32], y: &[f32]| x.iter().zip(y).all(|(p, q)| (p - q).abs() < 1e-6);
        assert!(
            close(&f[0], &ab) && close(&f[1], &ab) && close(&f[2], &bc),
            "{f:?}"
        );
        let mut one = vec![a];
        smooth(&mut one, 5);
        assert_eq!(one, vec![vec![1.0, 0.0]]);
    }

    #[test]
    fn kmeans_by_hand() {
        // Two tight groups around (1, 0) and (0, 1): two clusters, each group one.
        let f = vec![
            vec![1.0, 0.0],
            vec![0.0, 1.0],
            vec![0.995, 0.0998],
            vec![0.0998, 0.995],
        ];
        let (assign, centroids) = spherical_kmeans(&f, 2, 3);
        assert_eq!(assign[0], assign[2]);
        assert_eq!(assign[1], assign[3]);
        assert_ne!(assign[0], assign[1]);
        assert!(centroids
            .iter()
            .all(|c| (c[0] * c[0] + c[1] * c[1] - 1.0).abs() < 1e-5));
        let mut g = f.clone();
        cluster(&mut g, 2, 3);
        assert_eq!(g[0], g[2]);
        assert_eq!(g[0], centroids[assign[0]]);
        // One cluster: everything is the normalised mean.
        let mut h = f;
        cluster(&mut h, 1, 0);
        assert!(h.windows(2).all(|w| w[0] == w[1]));
    }

    #[test]
    fn centering_by_hand() {
        // (1, 1) and (1, -1) have mean (1, 0): centred (0, 1) and (0, -1).
        let mut f = vec![vec![1.0, 1.0], vec![1.0, -1.0]];
        center(&mut f);
        assert_eq!(f, vec![vec![0.0, 1.0], vec![0.0, -1.0]]);
        let mut none: Vec<Vec<f32>> = Vec::new();
        center(&mut none);
    }
}
