//! The offline bridge scorer, built from real pretrained parts only: `f_text` is MiniLM;
//! `f_img(I) = normalize(sum_c p_c(I) m_c)`, the EfficientNet-Lite0 softmax-weighted mean of the
//! templated MiniLM embeddings `m_c` of the 1000 ImageNet class names (Eq. 5 applied to class
//! names, cached like the codebook's token features). [`BridgeOptions`] adds what helps an
//! ImageNet classifier read images unlike ImageNet's photos: dark-on-light polarity for
//! light-on-dark gray images, a mirrored view averaged in, and a sharper mixture over the most
//! probable classes only.

use std::path::Path;

pub use super::relate::{center, cluster, relate, smooth, spherical_kmeans};

pub use super::bridge_options::{BridgeOptions, Invert};
use super::{EfficientNetLite0, MiniLm, ScorerError};
use crate::semantic::features::{cached_text_features, CacheKey, TextFeatures};
use crate::tensor::normalize;

pub struct BridgeScorer {
    pub classifier: EfficientNetLite0,
    pub text: MiniLm,
    /// `m_c` for every class, `1000 x d`.
    pub class_text: TextFeatures,
    pub options: BridgeOptions,
}

impl BridgeScorer {
    /// The scorer over `class_names` (the classifier's label order), with the class text
    /// features from `cache_dir` or computed and cached there.
    pub fn new(
        classifier: EfficientNetLite0,
        text: MiniLm,
        class_names: &[String],
        templates: &[&str],
        cache_dir: &Path,
    ) -> Result<Self, ScorerError> {
        if class_names.len() != 1000 {
            return Err(ScorerError::Input(format!(
                "{} class names for a 1000-way classifier",
                class_names.len()
            )));
        }
        let ids: Vec<(u32, String)> = class_names
            .iter()
            .enumerate()
            .map(|(i, c)| (i as u32, c.clone()))
            .collect();
        let key = CacheKey::new(&ids, text.fingerprint(), templates);
        let (class_text, _) = cached_text_features(
            cache_dir,
            &key,
            class_names,
            templates,
            &mut |t| text.embed(t),
            &mut |_| {},
        )?;
        Ok(BridgeScorer {
            classifier,
            text,
            class_text,
            options: BridgeOptions::default(),
        })
    }

    /// The classifier's probabilities under [`BridgeOptions`]: inverted where asked, averaged
    /// with the mirror image's, cut to the most probable classes.
    pub fn probabilities(&self, mut pixels: Vec<f32>, batch: usize, size: usize) -> Vec<Vec<f32>> {
        let per = 3 * size * size;
        for img in pixels.chunks_mut(per) {
            if invert(self.options.invert, img, size) {
                img.iter_mut().for_each(|v| *v = 1.0 - *v);
            }
        }
        let mut p = if self.options.flip {
            let mirrored = mirror(&pixels, size);
            let a = self.classifier.probabilities(pixels, batch, size);
            let b = self.classifier.probabilities(mirrored, batch, size);
            a.into_iter()
                .zip(b)
                .map(|(a, b)| a.iter().zip(&b).map(|(x, y)| 0.5 * (x + y)).collect())
                .collect()
        } else {
            self.classifier.probabilities(pixels, batch, size)
        };
        if self.options.top_classes > 0 {
            p.iter_mut()
                .for_each(|p| keep_top(p, self.options.top_classes));
        }
        p
    }

    /// `f_img` of RGB images `[B, 3, S, S]` in `[0, 1]`: unit vectors.
    pub fn image_features(&self, pixels: Vec<f32>, batch: usize, size: usize) -> Vec<Vec<f32>> {
        self.probabilities(pixels, batch, size)
            .iter()
            .map(|p| {
                let mut f = vec![0f32; self.class_text.dim];
                for (c, &pc) in p.iter().enumerate() {
                    for (fi, m) in f.iter_mut().zip(self.class_text.row(c)) {
                        *fi += pc * m;
                    }
                }
                normalize(&mut f);
                f
            })
            .collect()
    }
}

/// Whether an RGB image `[3, S, S]` in `[0, 1]` is shown inverted under `rule`: `auto` inverts
/// when the mean of its border pixels is below one half.
pub fn invert(rule: Invert, img: &[f32], size: usize) -> bool {
    match rule {
        Invert::Never => false,
        Invert::Always => true,
        Invert::Auto => {
            let (mut sum, mut n) = (0f32, 0usize);
            for plane in img.chunks(size * size) {
                for y in 0..size {
                    for x in 0..size {
                        if y == 0 || x == 0 || y == size - 1 || x == size - 1 {
                            sum += plane[y * size + x];
                            n += 1;
                        }
                    }
                }
            }
            n > 0 && sum / (n as f32) < 0.5
        }
    }
}

/// Images `[B, C, S, S]` mirrored left to right.
pub fn mirror(pixels: &[f32], size: usize) -> Vec<f32> {
    pixels
        .chunks(size)
        .flat_map(|row| row.iter().rev().copied())
        .collect()
}

/// Zeroes all but the `k` largest entries of a probability vector and rescales them to sum 1.
pub fn keep_top(p: &mut [f32], k: usize) {
    if k >= p.len() {
        return;
    }
    let mut order: Vec<usize> = (0..p.len()).collect();
    order.sort_by(|&a, &b| p[b].total_cmp(&p[a]));
    let kept: f32 = order[..k].iter().map(|&i| p[i]).sum();
    for &i in &order[k..] {
        p[i] = 0.0;
    }
    if kept > 0.0 {
        p.iter_mut().for_each(|v| *v /= kept);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inversion_rule_by_hand() {
        // 3x3 gray-as-RGB, black border, white centre: the border mean is 0 -> inverted.
        let mut plane = [0.0f32; 9];
        plane[4] = 1.0;
        let img = plane.repeat(3);
        assert!(invert(Invert::Auto, &img, 3));
        assert!(!invert(Invert::Never, &img, 3));
        // White border (emoji composited on white): kept.
        let light: Vec<f32> = img.iter().map(|v| 1.0 - v).collect();
        assert!(!invert(Invert::Auto, &light, 3));
        assert!(invert(Invert::Always, &light, 3));
    }

    #[test]
    fn mirror_and_top_classes_by_hand() {
        // One 2x2 image, one channel: rows (1 2) (3 4) -> (2 1) (4 3).
        assert_eq!(mirror(&[1.0, 2.0, 3.0, 4.0], 2), vec![2.0, 1.0, 4.0, 3.0]);
        let mut p = vec![0.1, 0.5, 0.15, 0.25];
        keep_top(&mut p, 2);
        // 0.5 and 0.25 kept, over their sum 0.75.
        let want = [0.0, 2.0 / 3.0, 0.0, 1.0 / 3.0];
        assert!(
            p.iter().zip(want).all(|(a, b)| (a - b).abs() < 1e-6),
            "{p:?}"
        );
        let mut q = vec![0.2, 0.8];
        keep_top(&mut q, 5);
        assert_eq!(q, vec![0.2, 0.8]);
    }
}
