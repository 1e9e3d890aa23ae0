//! The video training loop (issue 19): the train split's clips (Moving MNIST of the train
//! digits, or the train files of a folder), a random decodable pyramid depth per step, the
//! learning-rate schedule, `metrics.jsonl`, PNG sample sheets, and checkpoints with exact
//! resume, on one device or data-parallel over several ([`super::ranks`], as for images).

use std::path::Path;

use burn::module::Module;
use burn::tensor::{Device, Tensor};
use rand::Rng;

use super::checkpoint::{self, State};
use super::ranks::{launch, Held, Lead, Placement, Stepped, Trainee};
use super::run::appearance_critics;
use super::run_folder::{resume_point, step_rng};
use super::video::{build_video_guide, video_forward, video_step_among, VideoContext, VideoStep};
use super::{learning_rate, parallel, Critics, LecamEma, Share, StepRecord, TrainError};
use crate::assets::Assets;
use crate::codebook::Codebook;
use crate::config::VideoTrainConfig;
use crate::data::video::{video_split, ClipShape};
use crate::data::{tile_images, write_png, Split};
use crate::model::video::{LatentInit, VideoSpaeModel};
use crate::pyramid::{PyramidLayout, VideoPyramid};
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

/// Trains (or, with `resume`, continues) the video run in `run_dir` on one device, or
/// data-parallel over several ([`Placement`], as [`super::train`] trains images: each rank on its
/// shard of every global batch of `loop.batch_size` clips). Calls `on_step` after every step;
/// `on_step` returning `false` stops the run after a checkpoint. Returns the number of steps
/// completed.
pub fn train_video(
    cfg: &VideoTrainConfig,
    assets: &Assets,
    run_dir: &Path,
    resume: bool,
    place: Placement,
    on_step: &mut dyn FnMut(&StepRecord) -> bool,
) -> Result<usize, TrainError> {
    cfg.validate()
        .map_err(|e| TrainError::Config(e.to_string()))?;
    let devices = place.devices();
    parallel::shard(cfg.run.batch_size, devices.len(), 0)?;
    let (ctx, cb) = video_context(cfg)?;
    let fingerprint = cb.fingerprint();
    let clips = video_split(cfg, assets, Split::Train, cfg.data.clips, cfg.run.seed)?.pixels;
    let base = devices[0].clone();
    let device = base.clone().autodiff();
    crate::device::seed_run(&device, cfg.run.seed);
    let mut model = crate::device::drawn(&device, |d| cfg.model.init(d));
    if cfg.model.latent_init == LatentInit::CodebookMean {
        model.start_latents_at(&mean_row(&cb.embeddings, cb.dim));
    }
    let mut lead = Held {
        ctx: ctx.search_at(cfg.run.search, &device),
        model,
        optim: cfg.loss.optimizer(),
        critics: video_critics(cfg, assets, &cb, &clips, &device)?,
        device,
    };
    let mut start = 0;
    let mut resumed = None;
    if let Some((dir, state)) = resume_point(run_dir, resume, cfg, &fingerprint)? {
        let optim = cfg.loss.optimizer();
        let adv = &mut lead.critics.adversary;
        lead.optim = checkpoint::load_into(&dir, &mut lead.model, optim, adv, state.lecam)?;
        start = state.step;
        resumed = Some((dir, state.lecam));
    }
    let state = State {
        step: start,
        config: cfg.clone(),
        lecam: None,
        codebook: Some(fingerprint),
        labels: None,
    };
    let lead_run = Lead::open(run_dir, &base, state)?;
    let lead = VideoRank {
        cfg,
        clips: &clips,
        held: lead,
    };
    let resume_from = resumed.as_ref().map(|(dir, lecam)| (dir.as_path(), *lecam));
    launch(
        (lead, lead_run),
        place,
        |lead, device| lead.follower(assets, &cb, device, resume_from),
        on_step,
    )
}

/// One device's share of a video run: what every rank holds, and the run's configuration and
/// training clips.
struct VideoRank<'a> {
    cfg: &'a VideoTrainConfig,
    /// The training clips, clip after clip, frame after frame.
    clips: &'a [f32],
    held: Held<VideoSpaeModel, VideoPyramid>,
}

impl<'a> VideoRank<'a> {
    /// Another device's rank, holding copies of this rank's ([`Held::follower`]; with `resume`,
    /// the optimizer states read from a checkpoint).
    fn follower(
        &self,
        assets: &Assets,
        cb: &Codebook,
        device: Device,
        resume: Option<(&Path, Option<LecamEma>)>,
    ) -> Result<VideoRank<'a>, TrainError> {
        let (cfg, m) = (self.cfg, &self.cfg.model);
        let looks = (
            &cfg.loss,
            &cfg.discriminator,
            (m.image_size, m.image_channels),
        );
        let ctx = video_quant_context(cfg, cb)?.search_at(cfg.run.search, &device);
        let held = self.held.follower(looks, assets, (ctx, device), resume)?;
        Ok(VideoRank {
            cfg,
            clips: self.clips,
            held,
        })
    }
}

impl Trainee for VideoRank<'_> {
    type Config = VideoTrainConfig;
    type Model = VideoSpaeModel;
    type Layout = VideoPyramid;

    fn held(&self) -> &Held<VideoSpaeModel, VideoPyramid> {
        &self.held
    }

    fn held_mut(&mut self) -> &mut Held<VideoSpaeModel, VideoPyramid> {
        &mut self.held
    }

    fn step(
        &mut self,
        step: usize,
        (r, world): (usize, usize),
        share: Share,
    ) -> Result<Stepped, TrainError> {
        let cfg = self.cfg;
        let shape = cfg.model.clip_shape();
        let n_clips = self.clips.len() / shape.per_clip();
        let h = &mut self.held;
        let pyramid = &h.ctx.pyramid;
        let (first_depth, layers) = (pyramid.first_decodable_depth(), pyramid.n_layers());
        let mut rng = step_rng(cfg.run.seed, step);
        let idx: Vec<usize> = (0..cfg.run.batch_size)
            .map(|_| rng.random_range(0..n_clips))
            .collect();
        let depth = rng.random_range(first_depth..=layers);
        let idx = &idx[parallel::shard(cfg.run.batch_size, world, r)?];
        let l = &cfg.loss;
        let lr = learning_rate(step, cfg.run.steps, l.lr, l.warmup_steps, l.cooldown_steps);
        let todo = VideoStep {
            images: clip_batch(self.clips, idx, shape, &h.device),
            depth,
            lr,
            gan: step >= l.gan_start,
            keys: match h.critics.guide {
                Some(_) => idx.iter().map(|&i| i as u32).collect(),
                None => Vec::new(),
            },
            seed: parallel::rank_seed(rng.random(), r),
        };
        let (model, optim, ctx) = (h.model.clone(), &mut h.optim, &h.ctx);
        let cfgs = (l, &cfg.semantic);
        let (m, stats) = video_step_among(model, optim, ctx, cfgs, &mut h.critics, todo, share)?;
        h.model = m;
        Ok((depth, lr, parallel::share_stats(stats, share)))
    }

    fn write_samples(&self, path: &Path, base: &Device) -> Result<(), TrainError> {
        let h = &self.held;
        write_video_samples(&h.model, &h.ctx, self.clips, self.cfg, path, base)
    }
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
