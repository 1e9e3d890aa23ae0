//! The training loop: batches, pyramid depths, schedule, metrics as JSON lines, checkpoints and
//! exact resume.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::tensor::Device;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;
use thiserror::Error;

use super::checkpoint::{self, CheckpointError, State};
use super::config::TrainConfig;
use super::{image_tensor, learning_rate, train_step, QuantContext, StepStats};
use crate::assets::{Assets, MissingAsset};
use crate::codebook::{Codebook, CodebookError};
use crate::data::{fashion_mnist, DataError, ImageSet, Split};
use crate::pyramid::{Pyramid, PyramidError};
use crate::quantizer::{by_name, NearestSearch};

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
    #[error("{0}")]
    Config(String),
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

/// The training data of a configuration.
pub fn training_set(cfg: &TrainConfig, assets: &Assets) -> Result<ImageSet, TrainError> {
    match cfg.data.dataset.as_str() {
        "fashion-mnist" => Ok(fashion_mnist(&assets.path("fashion-mnist")?, Split::Train)?),
        other => Err(TrainError::Config(format!("unknown dataset '{other}'"))),
    }
}

/// The frozen codebook of a configuration, checked against the model's latent width.
pub fn load_codebook(cfg: &TrainConfig) -> Result<Codebook, TrainError> {
    let dir = Path::new(&cfg.codebook);
    if !dir.exists() {
        return Err(TrainError::Config(format!(
            "no codebook at {}: build it with `spae codebook build`",
            dir.display()
        )));
    }
    let cb = Codebook::load(dir)?;
    if cb.dim != cfg.model.latent_dim {
        return Err(TrainError::Config(format!(
            "model.latent_dim {} differs from the codebook's width {}",
            cfg.model.latent_dim, cb.dim
        )));
    }
    Ok(cb)
}

/// The quantizer, pyramid and codebook search of a configuration.
pub fn quant_context(cfg: &TrainConfig, cb: &Codebook) -> Result<QuantContext, TrainError> {
    let quantizer = by_name(&cfg.quantizer).ok_or_else(|| {
        TrainError::Config(format!(
            "unknown quantizer '{}' (saq, rq, vq)",
            cfg.quantizer
        ))
    })?;
    Ok(QuantContext {
        quantizer,
        pyramid: Pyramid::square(cfg.model.latent_size(), &cfg.pyramid)?,
        search: NearestSearch::new(&cb.embeddings, cb.dim),
    })
}

/// Trains (or, with `resume`, continues) the run in `run_dir`, calling `on_step` after every
/// step; `on_step` returning `false` stops the run after a checkpoint. Returns the number of
/// steps completed.
pub fn train(
    cfg: &TrainConfig,
    assets: &Assets,
    run_dir: &Path,
    resume: bool,
    on_step: &mut dyn FnMut(&StepRecord) -> bool,
) -> Result<usize, TrainError> {
    let ctx = quant_context(cfg, &load_codebook(cfg)?)?;
    let set = training_set(cfg, assets)?;
    let size = cfg.model.image_size;
    let device = Device::flex().autodiff();
    device.seed(cfg.run.seed);
    let mut model = cfg.model.init(&device);
    let mut optim = cfg.loss.optimizer();
    fs::create_dir_all(run_dir).map_err(|source| TrainError::Io {
        path: run_dir.to_path_buf(),
        source,
    })?;
    let mut start = 0;
    match (checkpoint::latest(run_dir)?, resume) {
        (Some(dir), true) => {
            let state = checkpoint::load_state(&dir)?;
            if state.config != *cfg {
                return Err(TrainError::Config(format!(
                    "{}: checkpoint was written with another configuration",
                    dir.display()
                )));
            }
            optim = checkpoint::load_into(&dir, &mut model, optim)?;
            start = state.step;
        }
        (Some(dir), false) => {
            return Err(TrainError::Config(format!(
                "{} already holds checkpoint {}: pass --resume to continue it, or another output folder",
                run_dir.display(),
                dir.display()
            )))
        }
        (None, _) => {}
    }
    let metrics_path = run_dir.join("metrics.jsonl");
    keep_metrics_before(&metrics_path, start)?;
    let mut metrics = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&metrics_path)
        .map_err(|source| TrainError::Io {
            path: metrics_path.clone(),
            source,
        })?;
    let (first_depth, layers) = (ctx.pyramid.first_decodable_depth(), ctx.pyramid.n_layers());
    let b = cfg.run.batch_size;
    for step in start..cfg.run.steps {
        let t = Instant::now();
        // Batches and depths depend on (seed, step) only, so a resumed run sees the same ones.
        let mut rng = StdRng::seed_from_u64(
            cfg.run
                .seed
                .wrapping_mul(0x9E37_79B9)
                .wrapping_add(step as u64),
        );
        let idx: Vec<usize> = (0..b).map(|_| rng.random_range(0..set.len())).collect();
        let depth = rng.random_range(first_depth..=layers);
        let x = image_tensor(set.batch_chw(&idx, size), b, set.channels, size, &device);
        let lr = learning_rate(
            step,
            cfg.run.steps,
            cfg.loss.lr,
            cfg.loss.warmup_steps,
            cfg.loss.cooldown_steps,
        );
        let (m, stats) = train_step(model, &mut optim, &ctx, &cfg.loss, x, depth, lr)?;
        model = m;
        let rec = StepRecord {
            step: step + 1,
            depth,
            lr,
            stats,
            seconds: t.elapsed().as_secs_f64(),
        };
        writeln!(
            metrics,
            "{}",
            serde_json::to_string(&rec).expect("record serializes")
        )
        .map_err(|source| TrainError::Io {
            path: metrics_path.clone(),
            source,
        })?;
        let go_on = on_step(&rec);
        if !go_on || (step + 1) % cfg.run.checkpoint_every.max(1) == 0 || step + 1 == cfg.run.steps
        {
            let state = State {
                step: step + 1,
                config: cfg.clone(),
            };
            checkpoint::save(run_dir, &model, &optim, &state)?;
        }
        if !go_on {
            return Ok(step + 1);
        }
    }
    Ok(cfg.run.steps)
}

/// Drops metric lines of steps after `start` (written after the checkpoint a run resumes from).
fn keep_metrics_before(path: &Path, start: usize) -> Result<(), TrainError> {
    let Ok(text) = fs::read_to_string(path) else {
        return Ok(());
    };
    let kept: String = text
        .lines()
        .filter(|l| {
            serde_json::from_str::<serde_json::Value>(l)
                .ok()
                .and_then(|v| v["step"].as_u64())
                .is_some_and(|s| s as usize <= start)
        })
        .map(|l| format!("{l}\n"))
        .collect();
    crate::io::write_atomic(path, kept.as_bytes()).map_err(|source| TrainError::Io {
        path: path.to_path_buf(),
        source,
    })
}
