//! Semantic guidance in training (method.md, Eqs. 4, 6, 7, 9): each guided layer's candidate
//! pools and the semantic loss of a batch. With the label scorer `f_img` depends on the class
//! only, so the pools are computed once per class.

use std::path::Path;

use burn::tensor::{Device, Int, Tensor, TensorData};
use rand::rngs::StdRng;

use super::{latent_rows, layer_target, QuantContext, TrainConfig, TrainError};
use crate::assets::Assets;
use crate::codebook::Codebook;
use crate::data::ImageSet;
use crate::quantizer::PyramidCodes;
use crate::scorer::{LabelScorer, MiniLm};
use crate::semantic::features::{cached_text_features, CacheKey, TextFeatures};
use crate::semantic::{candidate_pool, normalize_scores, sample_target, semantic_loss, templates};

/// The frozen codebook as a tensor and the candidate pools of every class and guided layer.
pub struct Guide {
    /// The codebook rows `[K, d]`: Eq. 7's logits are their negative squared distances.
    codebook: Tensor<2>,
    /// `pools[class][layer]`: Eq. 4's candidates.
    pools: Vec<Vec<Vec<u32>>>,
}

impl Guide {
    /// Pools from per-class image features `f_img` and the token text features `t(k)`: the
    /// similarities `s = f_img . t(k)`, normalised per class (Eq. 6), thresholded per layer
    /// (Eq. 4).
    pub fn new(
        class_features: &[&[f32]],
        text: &TextFeatures,
        thresholds: &[f32],
        codebook: Tensor<2>,
    ) -> Self {
        let pools = class_features
            .iter()
            .map(|f| {
                let s: Vec<f32> = (0..text.len())
                    .map(|k| text.row(k).iter().zip(*f).map(|(a, b)| a * b).sum())
                    .collect();
                let s = normalize_scores(&s);
                thresholds
                    .iter()
                    .map(|&rho| candidate_pool(&s, rho))
                    .collect()
            })
            .collect();
        Guide { codebook, pools }
    }

    /// The candidate pool of `class` at guided layer `layer`.
    pub fn pool(&self, class: usize, layer: usize) -> &[u32] {
        &self.pools[class][layer]
    }

    /// Eq. 7 averaged over the guided layers present in the pyramid: for every position a
    /// target drawn uniformly from its image's pool. `None` if no position had a target.
    pub fn loss(
        &self,
        latents: Tensor<4>,
        ctx: &QuantContext,
        codes: &PyramidCodes,
        labels: &[u32],
        rng: &mut StdRng,
    ) -> Option<Tensor<1>> {
        let device = latents.device();
        let z = latent_rows(latents);
        let [b, _, d] = z.dims();
        let layers = self.pools.first()?.len().min(ctx.pyramid.n_layers());
        let mut total: Option<Tensor<1>> = None;
        for l in 0..layers {
            let z_l = layer_target(z.clone(), ctx, codes, l);
            let n = z_l.dims()[1];
            let (mut rows, mut words) = (Vec::new(), Vec::new());
            for (i, &label) in labels.iter().enumerate().take(b) {
                for p in 0..n {
                    if let Some(c) = sample_target(&self.pools[label as usize][l], rng) {
                        rows.push((i * n + p) as i64);
                        words.push(i64::from(c));
                    }
                }
            }
            if rows.is_empty() {
                continue;
            }
            let m = rows.len();
            let rows = Tensor::<1, Int>::from_data(TensorData::new(rows, [m]), &device);
            let words = Tensor::<1, Int>::from_data(TensorData::new(words, [m]), &device);
            let z_l = z_l.reshape([b * n, d]).select(0, rows);
            let l_sem = semantic_loss(z_l, self.codebook.clone(), words);
            total = Some(match total {
                Some(t) => t + l_sem,
                None => l_sem,
            });
        }
        total.map(|t| t.div_scalar(layers as f64))
    }
}

/// The guide of a configuration (`semantic.weight > 0`): the token text features of the
/// codebook under MiniLM (cached in [`Assets::cache_dir`]), and the configured scorer's image
/// features. Scorers: `label` (the data set's class names).
pub fn build_guide(
    cfg: &TrainConfig,
    assets: &Assets,
    cb: &Codebook,
    set: &ImageSet,
    device: &Device,
) -> Result<Option<Guide>, TrainError> {
    let sem = &cfg.semantic;
    if sem.weight <= 0.0 {
        return Ok(None);
    }
    let templates = templates::by_name(&sem.templates).ok_or_else(|| {
        TrainError::Config(format!(
            "unknown semantic.templates '{}' (imagenet-80, imagenet-7)",
            sem.templates
        ))
    })?;
    if sem.scorer != "label" {
        return Err(TrainError::Config(format!(
            "unknown semantic.scorer '{}' (label)",
            sem.scorer
        )));
    }
    let text = MiniLm::load(&assets.path("minilm")?, device)?;
    let mut last = 0;
    let features =
        codebook_text_features(cb, &text, templates, &assets.cache_dir(), &mut |done| {
            if done * 10 / cb.len() > last {
                last = done * 10 / cb.len();
                tracing::info!("token text features: {done} / {} words", cb.len());
            }
        })?;
    let scorer = LabelScorer::new(text, &set.class_names)?;
    let classes: Vec<&[f32]> = scorer.classes.iter().map(Vec::as_slice).collect();
    let codebook = Tensor::<2>::from_data(
        TensorData::new(cb.embeddings.clone(), [cb.len(), cb.dim]),
        device,
    );
    Ok(Some(Guide::new(
        &classes,
        &features,
        &sem.thresholds,
        codebook,
    )))
}

/// Eq. 5 for every codebook word under `text`, from the cache in `cache_dir` or computed (and
/// cached; `progress` gets the number of words done).
pub fn codebook_text_features(
    cb: &Codebook,
    text: &MiniLm,
    templates: &[&str],
    cache_dir: &Path,
    progress: &mut dyn FnMut(usize),
) -> Result<TextFeatures, TrainError> {
    let ids: Vec<(u32, String)> = cb.words.iter().map(|w| (w.id, w.text.clone())).collect();
    let words: Vec<String> = cb.words.iter().map(|w| w.text.clone()).collect();
    let key = CacheKey::new(&ids, text.fingerprint(), templates);
    let (features, cached) = cached_text_features(
        cache_dir,
        &key,
        &words,
        templates,
        &mut |t| text.embed(t),
        progress,
    )?;
    if !cached {
        tracing::info!(
            "token text features cached in {}",
            key.path(cache_dir).display()
        );
    }
    Ok(features)
}
