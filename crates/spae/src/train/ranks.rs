//! The training loop ([`train`], [`train_parallel`]) and its ranks: one per device, each with its
//! model, optimizer and critics, stepping on its shard of every global batch
//! ([`super::parallel`]); rank 0 also writes the run's metrics, samples and checkpoints. A
//! one-device run is one rank without the threads.

use std::ops::Range;
use std::path::Path;
use std::time::Instant;

use burn::module::Module;
use burn::optim::ModuleOptimizer;
use burn::tensor::Device;
use rand::rngs::StdRng;
use rand::Rng;

use super::checkpoint::{self, State};
use super::run::{
    critics, guide_keys, init_model, labels_seen, load_codebook, quant_context, training_set,
    warm_start, write_samples, StepRecord, TrainError,
};
use super::run_folder::{resume_point, step_rng, step_tail, Metrics};
use super::{
    alone, image_tensor, learning_rate, parallel, train_step_among, Critics, LecamEma,
    QuantContext, Share, Step, StepStats,
};
use crate::assets::Assets;
use crate::codebook::Codebook;
use crate::config::Crop;
use crate::config::TrainConfig;
use crate::data::ImageSet;
use crate::labels::{LabelsSeen, LabelsUsed};
use crate::model::SpaeModel;
use crate::pyramid::PyramidLayout;

/// Trains (or, with `resume`, continues) the run in `run_dir`, calling `on_step` after every
/// step; `on_step` returning `false` stops the run after a checkpoint. Returns the number of
/// steps completed.
pub fn train(
    cfg: &TrainConfig,
    assets: &Assets,
    run_dir: &Path,
    resume: bool,
    device: &Device,
    on_step: &mut dyn FnMut(&StepRecord) -> bool,
) -> Result<usize, TrainError> {
    let devices = std::slice::from_ref(device);
    train_with(cfg, assets, run_dir, resume, devices, false, on_step)
}

/// [`train`] data-parallel over `devices` ([`parallel`], which checks them: burn's collective
/// all-reduce, CUDA devices): one rank per device, each on its shard of every global batch of
/// `loop.batch_size`, gradients averaged by burn's all-reduce. The same batches, depths and
/// schedule as on one device; rank 0 (`devices[0]`) writes the metrics (the mean over the
/// ranks), samples and checkpoints. One device takes the same path (burn's sync server, a
/// one-device all-reduce) and must train as [`train`] does: a check of that path on one GPU.
pub fn train_parallel(
    cfg: &TrainConfig,
    assets: &Assets,
    run_dir: &Path,
    resume: bool,
    devices: &[Device],
    on_step: &mut dyn FnMut(&StepRecord) -> bool,
) -> Result<usize, TrainError> {
    train_with(cfg, assets, run_dir, resume, devices, true, on_step)
}

/// The run on `devices[0]` alone, or with `parallel` as one rank per device.
fn train_with(
    cfg: &TrainConfig,
    assets: &Assets,
    run_dir: &Path,
    resume: bool,
    devices: &[Device],
    parallel: bool,
    on_step: &mut dyn FnMut(&StepRecord) -> bool,
) -> Result<usize, TrainError> {
    cfg.validate()
        .map_err(|e| TrainError::Config(e.to_string()))?;
    let world = devices.len();
    parallel::shard(cfg.run.batch_size, world, 0)?;
    let cb = load_codebook(cfg)?;
    let cb_fingerprint = cb.fingerprint();
    let set = training_set(cfg, assets)?;
    let base = devices[0].clone();
    let device = base.clone().autodiff();
    device.seed(cfg.run.seed);
    let mut lead = Rank {
        ctx: quant_context(cfg, &cb)?.search_at(cfg.run.search, &device),
        model: init_model(cfg, &cb, &device),
        optim: cfg.loss.optimizer(),
        critics: critics(cfg, assets, &cb, &set, &device)?,
        device,
        ahead: None,
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
    let lead_run = Lead {
        cfg,
        set: &set,
        run_dir,
        base: &base,
        metrics: Metrics::open(run_dir, start)?,
        state: State {
            step: start,
            config: cfg.clone(),
            lecam: None,
            codebook: Some(cb_fingerprint),
            labels: Some(labels),
        },
    };
    if !parallel {
        return train_alone(lead, lead_run, start, on_step);
    }
    let mut ranks = vec![lead];
    for d in &devices[1..] {
        let device = d.clone().autodiff();
        let resume_from = resumed.as_ref().map(|(dir, s)| (dir.as_path(), s.lecam));
        let follower = ranks[0].follower(cfg, assets, &cb, &set, device, resume_from)?;
        ranks.push(follower);
    }
    train_ranks(ranks, lead_run, start, on_step)
}

/// One device's share of a run: its search context, model, optimizer and critics.
pub(super) struct Rank {
    pub(super) device: Device,
    pub(super) ctx: QuantContext,
    pub(super) model: SpaeModel,
    pub(super) optim: ModuleOptimizer,
    pub(super) critics: Critics,
    /// The images of a step read ahead on a background thread (a set read from files).
    pub(super) ahead: Option<(usize, ReadAhead)>,
}

/// A step's images being read on a background thread.
pub(super) type ReadAhead = std::thread::JoinHandle<Result<Vec<f32>, TrainError>>;

impl Rank {
    /// Another device's rank, holding copies of this rank's model and discriminator (with a
    /// resumed run's optimizer states read from its checkpoint `resume`, the directory and its
    /// LeCAM anchors).
    pub(super) fn follower(
        &self,
        cfg: &TrainConfig,
        assets: &Assets,
        cb: &Codebook,
        set: &ImageSet,
        device: Device,
        resume: Option<(&Path, Option<LecamEma>)>,
    ) -> Result<Rank, TrainError> {
        let mut model = self.model.clone().fork(&device);
        let mut critics = critics(cfg, assets, cb, set, &device)?;
        if let (Some(adv), Some(lead)) = (&mut critics.adversary, &self.critics.adversary) {
            adv.disc = lead.disc.clone().fork(&device);
            adv.ema = lead.ema;
        }
        let mut optim = cfg.loss.optimizer();
        if let Some((dir, lecam)) = resume {
            optim = checkpoint::load_into(dir, &mut model, optim, &mut critics.adversary, lecam)?;
        }
        Ok(Rank {
            ctx: quant_context(cfg, cb)?.search_at(cfg.run.search, &device),
            model,
            optim,
            critics,
            device,
            ahead: None,
        })
    }

    /// This rank's copies marked for burn's gradient all-reduce.
    fn distributed(mut self) -> Rank {
        self.model = parallel::mark_distributed(self.model);
        if let Some(adv) = &mut self.critics.adversary {
            adv.disc = parallel::mark_distributed(adv.disc.clone());
        }
        self
    }

    /// Step `step` of the run as rank `r` of `world`: the step's global batch and depth drawn
    /// from `(seed, step)`, this rank's shard of it trained on; the loss values are the mean
    /// over the ranks (`share`). Returns the depth, the learning rate and the values.
    fn step(
        &mut self,
        cfg: &TrainConfig,
        set: &ImageSet,
        step: usize,
        (r, world): (usize, usize),
        share: Share,
    ) -> Result<(usize, f64, StepStats), TrainError> {
        let (first_depth, layers) = (
            self.ctx.pyramid.first_decodable_depth(),
            self.ctx.pyramid.n_layers(),
        );
        let (b, size) = (cfg.run.batch_size, cfg.model.image_size);
        let (mut rng, idx) = batch_of(cfg, set, step);
        let depth = rng.random_range(first_depth..=layers);
        let shard = parallel::shard(b, world, r)?;
        let idx = &idx[shard.clone()];
        // Every rank must reach the backward pass or the others wait for its gradients: all learn
        // whether each has its images before any trains.
        let pixels = self.pixels(cfg, set, step, (idx, shard), size);
        if !parallel::on_every_rank(pixels.is_ok(), share) {
            return Err(pixels
                .err()
                .unwrap_or(TrainError::PeerFailed { step: step + 1 }));
        }
        let pixels = pixels?;
        self.read_ahead(cfg, set, step + 1, (r, world))?;
        let x = image_tensor(pixels, idx.len(), set.channels, size, &self.device);
        let lr = learning_rate(
            step,
            cfg.run.steps,
            cfg.loss.lr,
            cfg.loss.warmup_steps,
            cfg.loss.cooldown_steps,
        );
        let todo = Step {
            images: x,
            depth,
            lr,
            gan: step >= cfg.loss.gan_start,
            keys: guide_keys(&self.critics, set, idx),
            seed: parallel::rank_seed(rng.random(), r),
        };
        let (model, optim, ctx) = (self.model.clone(), &mut self.optim, &self.ctx);
        let (m, stats) = train_step_among(model, optim, ctx, cfg, &mut self.critics, todo, share)?;
        self.model = m;
        let stats = match world {
            1 => stats,
            _ => parallel::share_stats(stats, share),
        };
        Ok((depth, lr, stats))
    }

    /// Step `step`'s images `idx` (shard `shard` of the global batch) on the model's `size`
    /// canvas: read ahead by the step before ([`Rank::read_ahead`]), or now.
    fn pixels(
        &mut self,
        cfg: &TrainConfig,
        set: &ImageSet,
        step: usize,
        (idx, shard): (&[usize], Range<usize>),
        size: usize,
    ) -> Result<Vec<f32>, TrainError> {
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
    fn read_ahead(
        &mut self,
        cfg: &TrainConfig,
        set: &ImageSet,
        step: usize,
        (r, world): (usize, usize),
    ) -> Result<(), TrainError> {
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

/// What rank 0 alone does after each step: metrics, `on_step`, samples and checkpoints.
pub(super) struct Lead<'a> {
    pub(super) cfg: &'a TrainConfig,
    pub(super) set: &'a ImageSet,
    pub(super) run_dir: &'a Path,
    /// The plain device the sample sheets are drawn on.
    pub(super) base: &'a Device,
    pub(super) metrics: Metrics,
    /// The checkpoints' state, its step and anchors set at each.
    pub(super) state: State,
}

impl Lead<'_> {
    /// Records step `step` and writes what is due; returns `on_step`'s answer.
    fn after(
        &mut self,
        rank: &Rank,
        step: usize,
        (depth, lr, stats): (usize, f64, StepStats),
        seconds: f64,
        on_step: &mut dyn FnMut(&StepRecord) -> bool,
    ) -> Result<bool, TrainError> {
        let rec = StepRecord {
            step: step + 1,
            depth,
            lr,
            stats,
            seconds,
        };
        self.metrics.write(&rec)?;
        let go_on = on_step(&rec);
        let tail = step_tail(self.run_dir, &self.cfg.run, step, go_on);
        if let Some(path) = &tail.sample {
            let size = self.cfg.model.image_size;
            write_samples(&rank.model, &rank.ctx, self.set, size, path, self.base)?;
        }
        if tail.checkpoint {
            self.state.step = step + 1;
            self.state.lecam = rank.critics.adversary.as_ref().map(|a| a.ema);
            let adv = rank.critics.adversary.as_ref();
            checkpoint::save(self.run_dir, &rank.model, &rank.optim, adv, &self.state)?;
        }
        Ok(go_on)
    }
}

/// The loop of a run on one device.
pub(super) fn train_alone(
    mut rank: Rank,
    mut lead: Lead,
    start: usize,
    on_step: &mut dyn FnMut(&StepRecord) -> bool,
) -> Result<usize, TrainError> {
    let cfg = lead.cfg;
    for step in start..cfg.run.steps {
        let t = Instant::now();
        let done = rank.step(cfg, lead.set, step, (0, 1), &alone)?;
        if !lead.after(&rank, step, done, t.elapsed().as_secs_f64(), on_step)? {
            return Ok(step + 1);
        }
    }
    Ok(cfg.run.steps)
}

/// The loop of a data-parallel run: rank 0 in this thread (it calls `on_step`), every other rank
/// in its own, all under burn's distributed context. Every rank meets the others at the same
/// points of each step ([`parallel::Peers`]), and all stop at the step rank 0 stops at.
pub(super) fn train_ranks(
    ranks: Vec<Rank>,
    mut lead: Lead,
    start: usize,
    on_step: &mut dyn FnMut(&StepRecord) -> bool,
) -> Result<usize, TrainError> {
    let (cfg, world) = (lead.cfg, ranks.len());
    let devices: Vec<Device> = ranks.iter().map(|r| r.device.clone()).collect();
    let _context = parallel::context(&devices);
    let mut ranks = ranks.into_iter().map(Rank::distributed);
    let mut rank0 = ranks.next().expect("a data-parallel run has ranks");
    let peers = parallel::Peers::new(world);
    let set = lead.set;
    std::thread::scope(|s| {
        let followers: Vec<_> = ranks
            .enumerate()
            .map(|(i, mut rank)| {
                let (peers, r) = (&peers, i + 1);
                s.spawn(move || -> Result<(), TrainError> {
                    let share = |v: &[f32]| peers.mean(r, v);
                    for step in start..cfg.run.steps {
                        rank.step(cfg, set, step, (r, world), &share)?;
                        if !peers.decide(r, true) {
                            break;
                        }
                    }
                    Ok(())
                })
            })
            .collect();
        let share = |v: &[f32]| peers.mean(0, v);
        let lead_run = (|| {
            for step in start..cfg.run.steps {
                let t = Instant::now();
                let stepped = rank0.step(cfg, set, step, (0, world), &share)?;
                let after = lead.after(&rank0, step, stepped, t.elapsed().as_secs_f64(), on_step);
                // Every rank learns rank 0's answer, an error included, before rank 0 returns.
                let go_on = peers.decide(0, matches!(after, Ok(true)));
                after?;
                if !go_on {
                    return Ok(step + 1);
                }
            }
            Ok(cfg.run.steps)
        })();
        let follower_runs: Vec<Result<(), TrainError>> = followers
            .into_iter()
            .map(|f| f.join().expect("a training rank panicked"))
            .collect();
        // An error is reported by the rank it happened on, not by the others' report of it.
        let own = |e: &TrainError| !matches!(e, TrainError::PeerFailed { .. });
        match lead_run {
            Err(e) if own(&e) => Err(e),
            lead_run => match follower_runs.into_iter().filter_map(Result::err).find(own) {
                Some(e) => Err(e),
                None => lead_run,
            },
        }
    })
}
