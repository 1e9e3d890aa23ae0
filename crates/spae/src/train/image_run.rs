//! The image training loop's entry point ([`train`]) and its rank
//! ([`Rank`]): an image model, optimizer and critics stepping on its shard of every global batch
//! of the training set, its images read ahead on a background thread for a set read from files.
//! The loop itself is [`super::ranks`].

use std::ops::Range;
use std::path::Path;

use burn::tensor::Device;
use rand::rngs::StdRng;
use rand::Rng;

use super::checkpoint::{self, State};
use super::ranks::{launch, Held, Lead, Placement, Stepped, Trainee};
use super::run::{
    critics, guide_keys, init_model, labels_seen, load_codebook, quant_context, training_set,
    warm_start, write_samples, StepRecord, TrainError,
};
use super::run_folder::{resume_point, step_rng};
use super::{image_tensor, learning_rate, parallel, train_step_among, LecamEma, Share, Step};
use crate::assets::Assets;
use crate::codebook::Codebook;
use crate::config::Crop;
use crate::config::TrainConfig;
use crate::data::ImageSet;
use crate::labels::{LabelsSeen, LabelsUsed};
use crate::model::SpaeModel;
use crate::pyramid::{Pyramid, PyramidLayout};

/// Trains (or, with `resume`, continues) the run in `run_dir` on one device, or data-parallel
/// over several ([`Placement`]: one rank per device, each on its shard of every global batch of
/// `loop.batch_size`, gradients averaged by burn's all-reduce, the same batches, depths and
/// schedule as on one device; rank 0 writes the metrics, the mean over the ranks, samples and
/// checkpoints). Calls `on_step` after every step; `on_step` returning `false` stops the run
/// after a checkpoint. Returns the number of steps completed.
pub fn train(
    cfg: &TrainConfig,
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
    let cb = load_codebook(cfg)?;
    let cb_fingerprint = cb.fingerprint();
    let set = training_set(cfg, assets)?;
    let base = devices[0].clone();
    let device = base.clone().autodiff();
    crate::device::seed_run(&device, cfg.run.seed);
    let mut lead = Held {
        ctx: quant_context(cfg, &cb)?.search_at(cfg.run.search, &device),
        model: crate::device::drawn(&device, |d| init_model(cfg, &cb, d)),
        optim: cfg.loss.optimizer(),
        critics: critics(cfg, assets, &cb, &set, &device)?,
        device,
    };
    let mut start = 0;
    let mut resumed = None;
    if let Some((dir, state)) = resume_point(run_dir, resume, cfg, &cb_fingerprint)? {
        lead.optim = checkpoint::load_into(
            &dir,
            &mut lead.model,
            cfg.loss.optimizer(),
            &mut lead.critics.adversary,
            state.lecam,
        )?;
        start = state.step;
        resumed = Some((dir, state));
    }
    if let (0, Some(from)) = (start, &cfg.run.init) {
        warm_start(cfg, Path::new(from), &cb_fingerprint, &mut lead.model)?;
    }
    let labels = match (
        resumed.as_ref().and_then(|r| r.1.labels.clone()),
        &cfg.run.init,
    ) {
        (Some(l), _) => l,
        (None, Some(from)) => LabelsSeen::chain(
            Some(&labels_seen(Path::new(from), assets)?),
            LabelsUsed::of_run(cfg, &set),
        ),
        (None, None) => LabelsSeen::chain(None, LabelsUsed::of_run(cfg, &set)),
    };
    let state = State {
        step: start,
        config: cfg.clone(),
        lecam: None,
        codebook: Some(cb_fingerprint),
        labels: Some(labels),
    };
    let lead_run = Lead::open(run_dir, &base, state)?;
    let lead = Rank {
        cfg,
        set: &set,
        held: lead,
        ahead: None,
    };
    let resume_from = resumed.as_ref().map(|(dir, s)| (dir.as_path(), s.lecam));
    launch(
        (lead, lead_run),
        place,
        |lead, device| lead.follower(assets, &cb, device, resume_from),
        on_step,
    )
}

/// One device's share of an image run: what every rank holds, and the run's configuration and
/// training set.
pub(super) struct Rank<'a> {
    cfg: &'a TrainConfig,
    set: &'a ImageSet,
    held: Held<SpaeModel, Pyramid>,
    /// The images of a step read ahead on a background thread (a set read from files).
    ahead: Option<(usize, ReadAhead)>,
}

/// A step's images being read on a background thread.
type ReadAhead = std::thread::JoinHandle<Result<Vec<f32>, TrainError>>;

impl<'a> Rank<'a> {
    /// Another device's rank, holding copies of this rank's ([`Held::follower`]; with `resume`,
    /// a checkpoint's directory and its LeCAM anchors, the optimizer states read from it).
    fn follower(
        &self,
        assets: &Assets,
        cb: &Codebook,
        device: Device,
        resume: Option<(&Path, Option<LecamEma>)>,
    ) -> Result<Rank<'a>, TrainError> {
        let (cfg, m) = (self.cfg, &self.cfg.model);
        let looks = (
            &cfg.loss,
            &cfg.discriminator,
            (m.image_size, m.image_channels),
        );
        let ctx = quant_context(cfg, cb)?.search_at(cfg.run.search, &device);
        Ok(Rank {
            cfg,
            set: self.set,
            held: self.held.follower(looks, assets, (ctx, device), resume)?,
            ahead: None,
        })
    }

    /// Step `step`'s images `idx` (shard `shard` of the global batch) on the model's `size`
    /// canvas: read ahead by the step before ([`Rank::read_ahead`]), or now.
    fn pixels(
        &mut self,
        step: usize,
        (idx, shard): (&[usize], Range<usize>),
        size: usize,
    ) -> Result<Vec<f32>, TrainError> {
        let (cfg, set) = (self.cfg, self.set);
        match self.ahead.take() {
            Some((s, job)) if s == step => job.join().map_err(|_| {
                TrainError::Config("the thread reading training images panicked".into())
            })?,
            _ => match set.streamed() {
                Some(files) => {
                    Ok(files.batch_chw(idx, crops(cfg, step, shard).as_deref(), size)?)
                }
                None => Ok(set.try_batch_chw(idx, size)?),
            },
        }
    }

    /// For a set read from files, starts reading step `step`'s images (this rank's shard) on a
    /// background thread, so that the device does not wait for them.
    fn read_ahead(&mut self, step: usize, (r, world): (usize, usize)) -> Result<(), TrainError> {
        let (cfg, set) = (self.cfg, self.set);
        let Some(files) = set.streamed().filter(|_| step < cfg.run.steps) else {
            return Ok(());
        };
        let shard = parallel::shard(cfg.run.batch_size, world, r)?;
        let at = crops(cfg, step, shard.clone());
        let idx = batch_of(cfg, set, step).1[shard].to_vec();
        let (files, size) = (files.clone(), cfg.model.image_size);
        let job = std::thread::spawn(move || Ok(files.batch_chw(&idx, at.as_deref(), size)?));
        self.ahead = Some((step, job));
        Ok(())
    }
}

impl Trainee for Rank<'_> {
    type Config = TrainConfig;
    type Model = SpaeModel;
    type Layout = Pyramid;

    fn held(&self) -> &Held<SpaeModel, Pyramid> {
        &self.held
    }

    fn held_mut(&mut self) -> &mut Held<SpaeModel, Pyramid> {
        &mut self.held
    }

    fn step(
        &mut self,
        step: usize,
        (r, world): (usize, usize),
        share: Share,
    ) -> Result<Stepped, TrainError> {
        let (cfg, set) = (self.cfg, self.set);
        let (first_depth, layers) = (
            self.held.ctx.pyramid.first_decodable_depth(),
            self.held.ctx.pyramid.n_layers(),
        );
        let (b, size) = (cfg.run.batch_size, cfg.model.image_size);
        let (mut rng, idx) = batch_of(cfg, set, step);
        let depth = rng.random_range(first_depth..=layers);
        let shard = parallel::shard(b, world, r)?;
        let idx = &idx[shard.clone()];
        // Every rank must reach the backward pass or the others wait for its gradients: all learn
        // whether each has its images before any trains.
        let pixels = self.pixels(step, (idx, shard), size);
        if !parallel::on_every_rank(pixels.is_ok(), share) {
            return Err(pixels
                .err()
                .unwrap_or(TrainError::PeerFailed { step: step + 1 }));
        }
        let pixels = pixels?;
        self.read_ahead(step + 1, (r, world))?;
        let h = &mut self.held;
        let x = image_tensor(pixels, idx.len(), set.channels, size, &h.device);
        let l = &cfg.loss;
        let lr = learning_rate(step, cfg.run.steps, l.lr, l.warmup_steps, l.cooldown_steps);
        let todo = Step {
            images: x,
            depth,
            lr,
            gan: step >= l.gan_start,
            keys: guide_keys(&h.critics, set, idx),
            seed: parallel::rank_seed(rng.random(), r),
        };
        let (model, optim, ctx) = (h.model.clone(), &mut h.optim, &h.ctx);
        let (m, stats) = train_step_among(model, optim, ctx, cfg, &mut h.critics, todo, share)?;
        h.model = m;
        Ok((depth, lr, parallel::share_stats(stats, share)))
    }

    fn write_samples(&self, path: &Path, base: &Device) -> Result<(), TrainError> {
        let (size, h) = (self.cfg.model.image_size, &self.held);
        write_samples(&h.model, &h.ctx, self.set, size, path, base)
    }
}

/// Where step `step`'s images of shard `shard` of the global batch are cropped, with
/// `data.crop = "random"`: positions in `[0, 1)` along each image's longer side, drawn for the
/// whole global batch from `(seed, step)` on a stream of their own (the batch's, depth's and
/// semantic targets' draws are unchanged), so that a resumed run and every device see the
/// crops of the global batch.
fn crops(cfg: &TrainConfig, step: usize, shard: Range<usize>) -> Option<Vec<f64>> {
    (cfg.data.crop == Crop::Random).then(|| {
        let mut rng = step_rng(cfg.run.seed ^ CROP_STREAM, step);
        let all: Vec<f64> = (0..cfg.run.batch_size).map(|_| rng.random()).collect();
        all[shard].to_vec()
    })
}

/// Step `step`'s global batch, `loop.batch_size` images of `set` drawn from `(seed, step)`, and
/// the generator the step's other numbers are drawn from next.
fn batch_of(cfg: &TrainConfig, set: &ImageSet, step: usize) -> (StdRng, Vec<usize>) {
    let mut rng = step_rng(cfg.run.seed, step);
    let idx = (0..cfg.run.batch_size)
        .map(|_| rng.random_range(0..set.len()))
        .collect();
    (rng, idx)
}

/// Sets the random crops' stream apart from the step's other numbers.
const CROP_STREAM: u64 = 0x0c20_9c20_9c20_9c20;
