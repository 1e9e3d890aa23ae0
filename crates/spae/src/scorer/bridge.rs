//! The offline bridge scorer, built from real pretrained parts only: `f_text` is MiniLM;
//! `f_img(I) = normalize(sum_c p_c(I) m_c)`, the EfficientNet-Lite0 softmax-weighted mean of the
//! templated MiniLM embeddings `m_c` of the 1000 ImageNet class names (Eq. 5 applied to class
//! names, cached like the codebook's token features).

use std::path::Path;

use super::{EfficientNetLite0, MiniLm, ScorerError};
use crate::semantic::features::{cached_text_features, CacheKey, TextFeatures};
use crate::semantic::normalize;

pub struct BridgeScorer {
    pub classifier: EfficientNetLite0,
    pub text: MiniLm,
    /// `m_c` for every class, `1000 x d`.
    pub class_text: TextFeatures,
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
        })
    }

    /// `f_img` of RGB images `[B, 3, S, S]` in `[0, 1]`: unit vectors.
    pub fn image_features(&self, pixels: Vec<f32>, batch: usize, size: usize) -> Vec<Vec<f32>> {
        self.classifier
            .probabilities(pixels, batch, size)
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
