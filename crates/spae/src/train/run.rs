//! The training loop: batches, pyramid depths, schedule, metrics as JSON lines, PNG sample
//! grids, checkpoints and exact resume.

use std::fs;
use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::tensor::Device;
use serde::Serialize;
use thiserror::Error;

use super::checkpoint::{self, CheckpointError};
use super::gan::Adversary;
use super::guide::{build_guide, scorer_key};
use super::{forward, image_tensor, to_vec, Critics, LossConfig, QuantContext, StepStats};
use crate::assets::{Assets, MissingAsset};
use crate::codebook::{Codebook, CodebookError};
use crate::config::TrainConfig;
use crate::data::{folder_set, tile_images, write_png, DataError, DatasetName, ImageSet, Split};
pub use crate::data::{named_dataset, HOLD_OUT_EVERY};
use crate::eval::lpips::Lpips;
use crate::labels::{LabelsSeen, LabelsUsed};
use crate::model::{DiscriminatorConfig, SpaeModel};
use crate::pyramid::{PyramidError, PyramidLayout};
use crate::scorer::ScorerError;
use crate::setup::SetupError;
pub use crate::setup::{check_codebook, init_model, load_codebook, quant_context};
use crate::weights::WeightsError;

#[derive(Debug, Error)]
pub enum TrainError {
    #[error(transparent)]
    Asset(#[from] MissingAsset),
    #[error(transparent)]
    Data(#[from] DataError),
    #[error(transparent)]
    Codebook(#[from] CodebookError),
    #[error(transparent)]
    Pyramid(#[from] PyramidError),
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    #[error(transparent)]
    Setup(#[from] SetupError),
    #[error(transparent)]
    Weights(#[from] WeightsError),
    #[error(transparent)]
    Scorer(#[from] ScorerError),
    #[error("{0}")]
    Config(String),
    /// In a data-parallel run, another rank could not go on at this step (that rank reports why).
    #[error("step {step}: another device could not go on")]
    PeerFailed { step: usize },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// One metrics line (`metrics.jsonl`).
#[derive(Debug, Clone, Serialize)]
pub struct StepRecord {
    pub step: usize,
    pub depth: usize,
    pub lr: f64,
    #[serde(flatten)]
    pub stats: StepStats,
    pub seconds: f64,
}

/// A split of a configuration's data, enlarged by `data.upscale`.
pub fn dataset(cfg: &TrainConfig, assets: &Assets, split: Split) -> Result<ImageSet, TrainError> {
    let (size, channels) = (cfg.model.image_size, cfg.model.image_channels);
    let data = &cfg.data;
    let set = match &data.dataset {
        DatasetName::Folder(dir) => {
            let split_file = data.split_file.as_deref();
            folder_set(dir, split_file, split, size, channels, data.stream)?
        }
        name => name.load(assets, split)?,
    };
    let set = match cfg.data.upscale {
        0 => return Err(TrainError::Config("data.upscale must be at least 1".into())),
        1 => set,
        f => set.upscaled(f),
    };
    if set.width > cfg.model.image_size || set.channels != cfg.model.image_channels {
        return Err(TrainError::Config(format!(
            "{} images are {}x{}x{}, the model takes {}x{}x{} (larger images are not cropped)",
            cfg.data.dataset,
            set.width,
            set.height,
            set.channels,
            cfg.model.image_size,
            cfg.model.image_size,
            cfg.model.image_channels
        )));
    }
    Ok(set)
}

/// The training data of a configuration.
pub fn training_set(cfg: &TrainConfig, assets: &Assets) -> Result<ImageSet, TrainError> {
    let mut set = dataset(cfg, assets, Split::Train)?;
    if let Some(names) = &cfg.data.classes {
        let labels = set
            .class_labels(names)
            .map_err(|e| TrainError::Config(format!("data.classes: {e}")))?;
        set = set.with_labels(&labels);
    }
    if let Some(n) = cfg.data.max_images {
        if n == 0 {
            return Err(TrainError::Config(
                "data.max_images must be at least 1".into(),
            ));
        }
        set = set.subset(&(0..n.min(set.len())).collect::<Vec<_>>());
    }
    Ok(set)
}

/// `loop.init`: the weights of another run's checkpoint (or a released model) as the starting
/// point, refused unless its model configuration and codebook are this run's.
pub(super) fn warm_start(
    cfg: &TrainConfig,
    from: &Path,
    fingerprint: &str,
    model: &mut SpaeModel,
) -> Result<(), TrainError> {
    let dir = checkpoint::latest(from)?.unwrap_or_else(|| from.to_path_buf());
    let state = checkpoint::load_state(&dir)?;
    check_codebook(&state, fingerprint, &dir)?;
    if state.config.model != cfg.model || state.config.learned_codebook != cfg.learned_codebook {
        return Err(TrainError::Config(format!(
            "loop.init {}: its model configuration differs from this run's",
            dir.display()
        )));
    }
    checkpoint::load_model(&dir, model)?;
    tracing::info!(from = %dir.display(), step = state.step, "warm start");
    Ok(())
}

/// The labels the weights of the checkpoint or run at `path` were trained with: its recorded
/// `labels`, or for checkpoints written before they were recorded, inferred from its
/// configuration and training set (and, through `loop.init`, those of the model it started
/// from, where that is still at hand).
pub fn labels_seen(path: &Path, assets: &Assets) -> Result<LabelsSeen, TrainError> {
    let dir = checkpoint::latest(path)?.unwrap_or_else(|| path.to_path_buf());
    let state = checkpoint::load_state(&dir)?;
    if let Some(l) = state.labels {
        return Ok(l);
    }
    let cfg = &state.config;
    let init = match &cfg.run.init {
        Some(from) if Path::new(from).exists() => Some(labels_seen(Path::new(from), assets)?),
        Some(from) => {
            return Err(TrainError::Config(format!(
                "{}: its state.json predates label records and its warm start {from} is not at hand, so which labels its weights saw is unknown (run from the folder its loop.init is relative to)",
                dir.display()
            )))
        }
        None => None,
    };
    Ok(LabelsSeen::chain(
        init.as_ref(),
        LabelsUsed::of_run(cfg, &training_set(cfg, assets)?),
    ))
}

/// The discriminator (when `loss.gan > 0`), LPIPS (when `loss.perceptual > 0`) and the
/// semantic guide (when `semantic.weight > 0`) of a configuration, freshly initialised.
pub fn critics(
    cfg: &TrainConfig,
    assets: &Assets,
    cb: &Codebook,
    set: &ImageSet,
    device: &Device,
) -> Result<Critics, TrainError> {
    let m = &cfg.model;
    Ok(Critics {
        guide: build_guide(cfg, assets, cb, set, device)?,
        ..appearance_critics(
            &cfg.loss,
            &cfg.discriminator,
            m.image_size,
            m.image_channels,
            assets,
            device,
        )?
    })
}

/// The critics of Eq. 8 for the image and the video loops, freshly initialised, without a
/// guide: the discriminator of images (or frames) of `size` pixels and `channels` channels when
/// `loss.gan > 0`, LPIPS when `loss.perceptual > 0`.
pub(crate) fn appearance_critics(
    loss: &LossConfig,
    disc: &DiscriminatorConfig,
    size: usize,
    channels: usize,
    assets: &Assets,
    device: &Device,
) -> Result<Critics, TrainError> {
    Ok(Critics {
        guide: None,
        adversary: Adversary::of(loss, disc, size, channels, device),
        lpips: match loss.perceptual > 0.0 {
            true => Some(Lpips::load(&assets.path("lpips")?, device)?),
            false => None,
        },
    })
}

/// The guide's keys of a batch: training-set indices for per-image scorers, else class labels.
pub fn guide_keys(critics: &Critics, set: &ImageSet, idx: &[usize]) -> Vec<u32> {
    match &critics.guide {
        Some(g) => idx
            .iter()
            .map(|&i| scorer_key(g.per_image, set, i))
            .collect(),
        None => Vec::new(),
    }
}

/// Images shown in the sample grids: the first of the training set.
const SAMPLES: usize = 8;

/// A PNG grid: the first [`SAMPLES`] training images, then one row of reconstructions per
/// decodable pyramid depth.
pub(super) fn write_samples(
    model: &SpaeModel,
    ctx: &QuantContext,
    set: &ImageSet,
    size: usize,
    path: &Path,
    device: &Device,
) -> Result<(), TrainError> {
    let n = SAMPLES.min(set.len());
    let idx: Vec<usize> = (0..n).collect();
    let pixels = set.try_batch_chw(&idx, size)?;
    let model = model.valid();
    let learned = ctx.for_model(&model);
    let ctx = learned.as_ref().unwrap_or(ctx);
    let mut rows = vec![pixels.clone()];
    for depth in ctx.pyramid.first_decodable_depth()..=ctx.pyramid.n_layers() {
        let x = image_tensor(pixels.clone(), n, set.channels, size, device);
        let y = forward(&model, ctx, x, depth)?.images;
        rows.push(to_vec(y));
    }
    let grid = tile_images(&rows, n, set.channels, size);
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).map_err(|source| TrainError::Io {
            path: dir.to_path_buf(),
            source,
        })?;
    }
    write_png(path, &grid, set.channels, size * rows.len(), size * n)?;
    Ok(())
}
