//! The video training loop (issue 19): the train split's clips (Moving MNIST of the train
//! digits, or the train files of a folder), a random decodable pyramid depth per step, the
//! learning-rate schedule, `metrics.jsonl`, PNG sample sheets, and checkpoints with exact
//! resume, as for images.

use std::path::Path;
use std::time::Instant;

use burn::module::Module;
use burn::tensor::{Device, Tensor};
use rand::Rng;

use super::checkpoint::{self, State};
use super::run::appearance_critics;
use super::run_folder::{resume_point, step_rng, step_tail, Metrics};
use super::video::{build_video_guide, video_forward, video_step, VideoContext, VideoStep};
use super::{learning_rate, Critics, StepRecord, TrainError};
use crate::assets::Assets;
use crate::codebook::Codebook;
use crate::config::VideoTrainConfig;
use crate::data::video::{video_split, ClipShape};
use crate::data::{tile_images, write_png, Split};
use crate::model::video::{LatentInit, VideoSpaeModel};
use crate::pyramid::PyramidLayout;
use crate::setup::{load_codebook_at, video_quant_context};
use crate::tensor::{clips_to_tensor, mean_row, tensor_to_clips};

/// The codebook, 3-D pyramid and nearest-word search of a configuration, with the codebook.
pub fn video_context(cfg: &VideoTrainConfig) -> Result<(VideoContext, Codebook), TrainError> {
    let cb = load_codebook_at(&cfg.codebook, cfg.model.latent_dim)?;
    Ok((video_quant_context(cfg, &cb)?, cb))
}

/// `[B, C, T, S, S]` clips `idx` of `pixels` (clip after clip, frame after frame).
fn clip_batch(pixels: &[f32], idx: &[usize], shape: ClipShape, device: &Device) -> Tensor<5> {
    let n = shape.per_clip();
    let data: Vec<f32> = idx
        .iter()
        .flat_map(|&i| pixels[i * n..(i + 1) * n].iter().copied())
        .collect();
    clips_to_tensor(
        data,
        [idx.len(), shape.frames, shape.channels, shape.size],
        device,
    )
}

/// Trains (or, with `resume`, continues) the video run in `run_dir`, calling `on_step` after
/// every step; `on_step` returning `false` stops the run after a checkpoint. Returns the number
/// of steps completed.
pub fn train_video(
    cfg: &VideoTrainConfig,
    assets: &Assets,
    run_dir: &Path,
    resume: bool,
    device: &Device,
    on_step: &mut dyn FnMut(&StepRecord) -> bool,
) -> Result<usize, TrainError> {
    cfg.validate()
        .map_err(|e| TrainError::Config(e.to_string()))?;
    let (ctx, cb) = video_context(cfg)?;
    let fingerprint = cb.fingerprint();
    let shape = cfg.model.clip_shape();
    let clips = video_split(cfg, assets, Split::Train, cfg.data.clips, cfg.run.seed)?.pixels;
    let base = device.clone();
    let device = base.clone().autodiff();
    device.seed(cfg.run.seed);
    let ctx = ctx.search_at(cfg.run.search, &device);
    let mut model = cfg.model.init(&device);
    if cfg.model.latent_init == LatentInit::CodebookMean {
        model.start_latents_at(&mean_row(&cb.embeddings, cb.dim));
    }
    let mut optim = cfg.loss.optimizer();
    let mut critics = video_critics(cfg, assets, &cb, &clips, &device)?;
    let mut start = 0;
    if let Some((dir, state)) = resume_point(run_dir, resume, cfg, &fingerprint)? {
        optim =
            checkpoint::load_into(&dir, &mut model, optim, &mut critics.adversary, state.lecam)?;
        start = state.step;
    }
    let mut metrics = Metrics::open(run_dir, start)?;
    let (first_depth, layers) = (ctx.pyramid.first_decodable_depth(), ctx.pyramid.n_layers());
    let n_clips = clips.len() / shape.per_clip();
    for step in start..cfg.run.steps {
        let t = Instant::now();
        let mut rng = step_rng(cfg.run.seed, step);
        let idx: Vec<usize> = (0..cfg.run.batch_size)
            .map(|_| rng.random_range(0..n_clips))
            .collect();
        let depth = rng.random_range(first_depth..=layers);
        let l = &cfg.loss;
        let lr = learning_rate(step, cfg.run.steps, l.lr, l.warmup_steps, l.cooldown_steps);
        let step_in = VideoStep {
            images: clip_batch(&clips, &idx, shape, &device),
            depth,
            lr,
            gan: step >= l.gan_start,
            keys: match critics.guide {
                Some(_) => idx.iter().map(|&i| i as u32).collect(),
                None => Vec::new(),
            },
            seed: rng.random(),
        };
        let (m, stats) = video_step(
            model,
            &mut optim,
            &ctx,
            l,
            &cfg.semantic,
            &mut critics,
            step_in,
        )?;
        model = m;
        let rec = StepRecord {
            step: step + 1,
            depth,
            lr,
            stats,
            seconds: t.elapsed().as_secs_f64(),
        };
        metrics.write(&rec)?;
        let go_on = on_step(&rec);
        let tail = step_tail(run_dir, &cfg.run, step, go_on);
        if let Some(path) = &tail.sample {
            write_video_samples(&model, &ctx, &clips, cfg, path, &base)?;
        }
        if tail.checkpoint {
            let state = State {
                step: step + 1,
                config: cfg.clone(),
                lecam: critics.adversary.as_ref().map(|a| a.ema),
                codebook: Some(fingerprint.clone()),
                labels: None,
            };
            checkpoint::save(run_dir, &model, &optim, critics.adversary.as_ref(), &state)?;
        }
        if !go_on {
            return Ok(step + 1);
        }
    }
    Ok(cfg.run.steps)
}

/// The per-frame discriminator (when `loss.gan > 0`), LPIPS (when `loss.perceptual > 0`) and
/// the per-clip semantic guide (when `semantic.weight > 0`) of a video configuration, freshly
/// initialised.
fn video_critics(
    cfg: &VideoTrainConfig,
    assets: &Assets,
    cb: &Codebook,
    clips: &[f32],
    device: &Device,
) -> Result<Critics, TrainError> {
    let m = &cfg.model;
    Ok(Critics {
        guide: build_video_guide(cfg, assets, cb, clips, device)?,
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

/// Clips shown in the sample sheets: the first of the training set.
const SAMPLE_CLIPS: usize = 4;

/// A PNG sheet: for each of the first [`SAMPLE_CLIPS`] training clips, a row of its frames, then
/// one row of reconstructed frames per decodable pyramid depth.
fn write_video_samples(
    model: &VideoSpaeModel,
    ctx: &VideoContext,
    clips: &[f32],
    cfg: &VideoTrainConfig,
    path: &Path,
    device: &Device,
) -> Result<(), TrainError> {
    let shape = cfg.model.clip_shape();
    let ClipShape {
        frames,
        channels,
        size,
    } = shape;
    let per = shape.per_clip();
    let n = SAMPLE_CLIPS.min(clips.len() / per);
    let idx: Vec<usize> = (0..n).collect();
    let model = model.valid();
    let depths: Vec<usize> =
        (ctx.pyramid.first_decodable_depth()..=ctx.pyramid.n_layers()).collect();
    let mut recons = Vec::new();
    for &depth in &depths {
        let x = clip_batch(clips, &idx, shape, device);
        recons.push(tensor_to_clips(video_forward(&model, ctx, x, depth)?.clips));
    }
    let mut rows = Vec::new();
    for i in 0..n {
        rows.push(clips[i * per..(i + 1) * per].to_vec());
        for r in &recons {
            rows.push(
                r[i * per..(i + 1) * per]
                    .iter()
                    .map(|v| v.clamp(0.0, 1.0))
                    .collect(),
            );
        }
    }
    let grid = tile_images(&rows, frames, channels, size);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|source| TrainError::Io {
            path: dir.to_path_buf(),
            source,
        })?;
    }
    write_png(path, &grid, channels, size * rows.len(), size * frames)?;
    Ok(())
}
