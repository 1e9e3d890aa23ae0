//! Semantic guidance in training (method.md, Eqs. 4, 6, 7, 9): each guided layer's candidate
//! pools and the semantic loss of a batch. Pools come from `f_img` and the token text features;
//! with the label scorer `f_img` depends on the class only (pools per class), with the name,
//! bridge and CLIP scorers on the image (pools per training image, computed once at the start).

use std::path::Path;

use burn::tensor::{Device, Int, Tensor, TensorData};
use rand::rngs::StdRng;

#[cfg(doc)]
use super::latent_rows;
use super::{layer_target, TrainConfig, TrainError};
use crate::assets::Assets;
use crate::codebook::Codebook;
use crate::data::ImageSet;
use crate::pyramid::PyramidLayout;
use crate::quantizer::TensorCodes;
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

    /// This guide on `device` (another rank of a data-parallel run): the same pools, its
    /// codebook rows copied there, so the training set is scored once per run.
    pub fn to_device(&self, device: &Device) -> Guide {
        Guide {
            codebook: self.codebook.clone().to_device(device),
            pools: self.pools.clone(),
            per_image: self.per_image,
        }
    }

    /// The candidate pool of `key` at guided layer `layer`.
    pub fn pool(&self, key: usize, layer: usize) -> &[u32] {
        &self.pools[key][layer]
    }

    /// Eq. 7 averaged over the guided layers present in the pyramid: for every position a
    /// target drawn uniformly from its image's pool (`keys`: one per image). `None` if no
    /// position had a target.
    /// `z` holds the encoder's latent rows `[B, positions, d]` ([`latent_rows`]) laid out by
    /// `layout` (the 2-D pyramid of an image model, the 3-D one of a video model).
    pub fn loss(
        &self,
        z: Tensor<3>,
        layout: &dyn PyramidLayout,
        codes: &TensorCodes,
        keys: &[u32],
        rng: &mut StdRng,
    ) -> Option<Tensor<1>> {
        let device = z.device();
        let [b, _, d] = z.dims();
        let layers = self.pools.first()?.len().min(layout.n_layers());
        let mut total: Option<Tensor<1>> = None;
        for l in 0..layers {
            let z_l = layer_target(z.clone(), &layout.positions(l), codes, l);
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
        ScorerKind::Bridge | ScorerKind::Clip(_) => {
            let batch = |idx: &[usize]| rgb_batch(set, idx, image_size);
            let (text, mut rows) =
                score_pixels(sem, assets, set.len(), &batch, image_size, device)?;
            if sem.scorer == ScorerKind::Bridge {
                crate::scorer::bridge::relate(&mut rows, &sem.bridge, 0);
            }
            (text, rows, true)
        }
    };
    Ok(ImageScores {
        text,
        image_features,
        per_image,
    })
}

/// RGB pixels `[B, 3, S, S]` in `[0, 1]` of the items `idx` of whatever a per-image scorer
/// reads (training images, the frames of training clips).
pub type PixelBatch<'a> = dyn Fn(&[usize]) -> Vec<f32> + Sync + 'a;

/// `f_img` of `n` items (read through `batch`, `size` pixels a side) under a scorer that looks
/// at pixels (`bridge`, `clip:DIR`), before the bridge's set-level post-processing
/// ([`crate::scorer::bridge::relate`]), with the scorer's text encoder.
pub fn score_pixels(
    sem: &SemanticConfig,
    assets: &Assets,
    n: usize,
    batch: &PixelBatch,
    size: usize,
    device: &Device,
) -> Result<(TextEncoder, Vec<Vec<f32>>), TrainError> {
    match &sem.scorer {
        ScorerKind::Bridge => {
            let classifier = EfficientNetLite0::load(&assets.path("efficientnet")?, device)?;
            let minilm = MiniLm::load(&assets.path("minilm")?, device)?;
            let names = read_lines(&assets.path("imagenet-classes")?)?;
            let templates = sem.templates.templates();
            let mut scorer =
                BridgeScorer::new(classifier, minilm, &names, templates, &assets.cache_dir())?;
            scorer.options = sem.bridge;
            let rows = per_image_features(n, batch, size, |px, n, s| {
                scorer.image_features(px, n, s)
            });
            Ok((TextEncoder::MiniLm(Box::new(scorer.text)), rows))
        }
        ScorerKind::Clip(dir) => {
            let clip = Clip::load(dir, device)?;
            let rows = per_image_features(n, batch, size, |px, n, s| {
                let mut f = clip.image_features(px, n, s);
                f.iter_mut().for_each(|v| normalize(v));
                f
            });
            Ok((TextEncoder::Clip(Box::new(clip)), rows))
        }
        ScorerKind::Label | ScorerKind::Name => Err(TrainError::Config(format!(
            "semantic.scorer {} reads texts (class names, captions), not pixels; use bridge or clip:DIR",
            sem.scorer
        ))),
    }
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
    let scores = score_images(sem, assets, set, image_size, device)?;
    with_token_features(sem, assets, cb, scores)
}

/// `scores` with the codebook's token text features under their text encoder (Eq. 5, cached in
/// [`Assets::cache_dir`]).
pub fn with_token_features(
    sem: &SemanticConfig,
    assets: &Assets,
    cb: &Codebook,
    scores: ImageScores,
) -> Result<ScoredSet, TrainError> {
    let ImageScores {
        text,
        image_features,
        per_image,
    } = scores;
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
    check_thresholds(&cfg.semantic)?;
    let scored = score_set(&cfg.semantic, assets, cb, set, cfg.model.image_size, device)?;
    Ok(Some(guide_of(&cfg.semantic, cb, &scored, device)))
}

/// Eq. 4's thresholds must lie in `[0, 1]`, where Eq. 6's scores lie.
pub fn check_thresholds(sem: &SemanticConfig) -> Result<(), TrainError> {
    match sem.thresholds.iter().find(|r| !(0.0..=1.0).contains(*r)) {
        Some(rho) => Err(TrainError::Config(format!(
            "semantic.thresholds: {rho} is outside [0, 1] (Eq. 6 scores lie in [0, 1]; above 1 every pool is empty)"
        ))),
        None => Ok(()),
    }
}

/// The guide of a scored set: its pools under `sem.thresholds` and the codebook as a tensor.
pub fn guide_of(sem: &SemanticConfig, cb: &Codebook, scored: &ScoredSet, device: &Device) -> Guide {
    let codebook = Tensor::<2>::from_data(
        TensorData::new(cb.embeddings.clone(), [cb.len(), cb.dim]),
        device,
    );
    Guide::new(
        &scored.image_features,
        &scored.token_features,
        &sem.thresholds,
        codebook,
        scored.per_image,
    )
}

/// The RGB pixels of images `idx` of `set` at `size` ([`ImageSet::batch_chw`]), gray images
/// repeated to three channels.
fn rgb_batch(set: &ImageSet, idx: &[usize], size: usize) -> Vec<f32> {
    let px = set.batch_chw(idx, size);
    if set.channels == 3 {
        px
    } else {
        gray_to_rgb(&px, size)
    }
}

/// Gray planes `S x S` repeated to RGB `3 x S x S`, plane after plane.
pub fn gray_to_rgb(px: &[f32], size: usize) -> Vec<f32> {
    px.chunks(size * size).flat_map(|p| p.repeat(3)).collect()
}

/// `f_img` of `n` items through `score(pixels [B, 3, S, S], B, S)` on the RGB batches of
/// `batch`; batches run in parallel on the rayon pool (the network's own kernels run on one
/// thread), in item order.
fn per_image_features(
    n: usize,
    batch: &PixelBatch,
    size: usize,
    score: impl Fn(Vec<f32>, usize, usize) -> Vec<Vec<f32>> + Sync,
) -> Vec<Vec<f32>> {
    use rayon::prelude::*;
    let idx: Vec<usize> = (0..n).collect();
    let done = std::sync::atomic::AtomicUsize::new(0);
    let parts: Vec<Vec<Vec<f32>>> = idx
        .par_chunks(IMAGE_BATCH)
        .map(|chunk| {
            let f = score(batch(chunk), chunk.len(), size);
            let k = done.fetch_add(chunk.len(), std::sync::atomic::Ordering::Relaxed);
            tracing::info!("image features: {} / {n}", k + chunk.len());
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
