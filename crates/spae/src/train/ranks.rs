//! The training loop of image and video runs alike, one rank per device ([`Trainee`]): each
//! rank steps on its shard of every global batch ([`super::parallel`]); rank 0 also writes the
//! run's metrics, samples and checkpoints ([`Lead`]). A one-device run is one rank without the
//! threads ([`train_alone`]), a data-parallel run one thread per device ([`train_ranks`]).

use std::path::Path;
use std::time::Instant;

use burn::module::Module;
use burn::optim::ModuleOptimizer;
use burn::tensor::Device;

use super::checkpoint::{self, State};
use super::run::appearance_critics;
use super::run_folder::{step_tail, Metrics};
use super::{
    alone, parallel, Critics, LecamEma, LossConfig, QuantContext, Share, StepRecord, StepStats,
    TrainError,
};
use crate::assets::Assets;
use crate::checkpoint::RunConfig;
use crate::model::DiscriminatorConfig;

/// Where a run trains: on one device, or data-parallel with one rank per device
/// ([`super::parallel`], which checks the devices: burn's collective all-reduce, CUDA devices).
/// `Ranks` of one device takes the data-parallel path (burn's sync server, a one-device
/// all-reduce) and must train as `One` does: a check of that path on one GPU.
#[derive(Clone, Copy)]
pub enum Placement<'a> {
    One(&'a Device),
    Ranks(&'a [Device]),
}

impl Placement<'_> {
    /// The devices, rank 0's first.
    pub fn devices(&self) -> &[Device] {
        match self {
            Placement::One(d) => std::slice::from_ref(*d),
            Placement::Ranks(d) => d,
        }
    }
}

/// Runs `lead` from the step its `Lead` starts at, as `place` says: alone, or as rank 0 of one
/// rank per device, `follower` making each other device's rank from rank 0 and that (autodiff)
/// device. Returns the number of steps completed.
pub(super) fn launch<T: Trainee>(
    (lead, lead_run): (T, Lead<T::Config>),
    place: Placement,
    follower: impl Fn(&T, Device) -> Result<T, TrainError>,
    on_step: &mut dyn FnMut(&StepRecord) -> bool,
) -> Result<usize, TrainError> {
    let start = lead_run.state.step;
    let Placement::Ranks(devices) = place else {
        return train_alone(lead, lead_run, start, on_step);
    };
    let mut ranks = vec![lead];
    for d in &devices[1..] {
        let rank = follower(&ranks[0], d.clone().autodiff())?;
        ranks.push(rank);
    }
    train_ranks(ranks, lead_run, start, on_step)
}

/// What a step reports to the loop: its pyramid depth, learning rate and loss values (the mean
/// over the ranks).
pub(super) type Stepped = (usize, f64, StepStats);

/// One device's share of a run (of images or of clips): what every rank holds ([`Held`]), and
/// the run's data.
pub(super) trait Trainee: Send + Sized {
    /// The run's configuration, as its checkpoints record it.
    type Config: RunConfig;
    /// The tokenizer trained.
    type Model: Module;
    /// The pyramid its words are laid out in.
    type Layout;

    fn held(&self) -> &Held<Self::Model, Self::Layout>;

    fn held_mut(&mut self) -> &mut Held<Self::Model, Self::Layout>;

    /// Step `step` of the run as rank `r` of `world`: the step's global batch and depth drawn
    /// from `(seed, step)`, this rank's shard of it trained on, the loss values averaged over
    /// the ranks with `share`.
    fn step(
        &mut self,
        step: usize,
        at: (usize, usize),
        share: Share,
    ) -> Result<Stepped, TrainError>;

    /// Writes a sample sheet at `path`, drawn on the plain device `base`.
    fn write_samples(&self, path: &Path, base: &Device) -> Result<(), TrainError>;
}

/// What every rank holds, whatever it trains: its (autodiff) device, search context, model,
/// optimizer and critics.
pub(super) struct Held<M, P> {
    pub(super) device: Device,
    pub(super) ctx: QuantContext<P>,
    pub(super) model: M,
    pub(super) optim: ModuleOptimizer,
    pub(super) critics: Critics,
}

/// What a run's critics of appearance are built from ([`appearance_critics`]): its loss and
/// discriminator settings, and its images' (or frames') size and channels.
pub(super) type Appearance<'a> = (&'a LossConfig, &'a DiscriminatorConfig, (usize, usize));

impl<M: Module, P> Held<M, P> {
    /// Another device's copies of these, on `ctx`'s `device`: the model and discriminator forked
    /// from these, the guide copied, a fresh LPIPS, and a fresh optimizer, or with `resume` (a
    /// checkpoint's directory and its LeCAM anchors) the optimizer states read from it.
    pub(super) fn follower(
        &self,
        (loss, disc, (size, channels)): Appearance,
        assets: &Assets,
        (ctx, device): (QuantContext<P>, Device),
        resume: Option<(&Path, Option<LecamEma>)>,
    ) -> Result<Self, TrainError> {
        let mut critics = appearance_critics(loss, disc, size, channels, assets, &device)?;
        let mut model = self.model.clone().fork(&device);
        if let (Some(adv), Some(lead)) = (&mut critics.adversary, &self.critics.adversary) {
            adv.disc = lead.disc.clone().fork(&device);
            adv.ema = lead.ema;
        }
        critics.guide = self.critics.guide.as_ref().map(|g| g.to_device(&device));
        let optim = match resume {
            Some((dir, lecam)) => {
                let adv = &mut critics.adversary;
                checkpoint::load_into(dir, &mut model, loss.optimizer(), adv, lecam)?
            }
            None => loss.optimizer(),
        };
        Ok(Held {
            device,
            ctx,
            model,
            optim,
            critics,
        })
    }

    /// The model and discriminator marked for burn's gradient all-reduce.
    fn distribute(&mut self) {
        if let Some(adv) = &mut self.critics.adversary {
            adv.disc = parallel::mark_distributed(adv.disc.clone());
        }
        self.model = parallel::mark_distributed(self.model.clone());
    }

    /// Writes a checkpoint of `state` (its step set) under `run_dir`, the anchors these.
    fn save<C: RunConfig>(&self, run_dir: &Path, state: &mut State<C>) -> Result<(), TrainError> {
        state.lecam = self.critics.adversary.as_ref().map(|a| a.ema);
        let adv = self.critics.adversary.as_ref();
        checkpoint::save(run_dir, &self.model, &self.optim, adv, state)?;
        Ok(())
    }
}

/// What rank 0 alone does after each step: metrics, `on_step`, samples and checkpoints.
pub(super) struct Lead<'a, C> {
    run_dir: &'a Path,
    /// The plain device the sample sheets are drawn on.
    base: &'a Device,
    metrics: Metrics,
    /// The checkpoints' state (the run's configuration), its step and anchors set at each.
    state: State<C>,
}

impl<'a, C: RunConfig> Lead<'a, C> {
    /// Rank 0's part of the run in `run_dir` from `state` (its step the one the run starts
    /// at): `metrics.jsonl` opened, cut back to that step.
    pub(super) fn open(
        run_dir: &'a Path,
        base: &'a Device,
        state: State<C>,
    ) -> Result<Self, TrainError> {
        Ok(Lead {
            run_dir,
            base,
            metrics: Metrics::open(run_dir, state.step)?,
            state,
        })
    }

    /// Records step `step` and writes what is due; returns `on_step`'s answer.
    fn after<T: Trainee<Config = C>>(
        &mut self,
        rank: &T,
        step: usize,
        (depth, lr, stats): Stepped,
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
        let run = self.state.config.run_settings();
        let tail = step_tail(self.run_dir, run, step, go_on);
        if let Some(path) = &tail.sample {
            rank.write_samples(path, self.base)?;
        }
        if tail.checkpoint {
            self.state.step = step + 1;
            rank.held().save(self.run_dir, &mut self.state)?;
        }
        Ok(go_on)
    }

    /// The run's total steps.
    fn steps(&self) -> usize {
        self.state.config.run_settings().steps
    }
}

/// The loop of a run on one device from step `start`. Returns the number of steps completed.
fn train_alone<T: Trainee>(
    mut rank: T,
    mut lead: Lead<T::Config>,
    start: usize,
    on_step: &mut dyn FnMut(&StepRecord) -> bool,
) -> Result<usize, TrainError> {
    let steps = lead.steps();
    for step in start..steps {
        let t = Instant::now();
        let done = rank.step(step, (0, 1), &alone)?;
        if !lead.after(&rank, step, done, t.elapsed().as_secs_f64(), on_step)? {
            return Ok(step + 1);
        }
    }
    Ok(steps)
}

/// The loop of a data-parallel run from step `start`: rank 0 in this thread (it calls
/// `on_step`), every other rank in its own, all under burn's distributed context. Every rank
/// meets the others at the same points of each step ([`parallel::Peers`]), and all stop at the
/// step rank 0 stops at.
fn train_ranks<T: Trainee>(
    ranks: Vec<T>,
    mut lead: Lead<T::Config>,
    start: usize,
    on_step: &mut dyn FnMut(&StepRecord) -> bool,
) -> Result<usize, TrainError> {
    let (steps, world) = (lead.steps(), ranks.len());
    let devices: Vec<Device> = ranks.iter().map(|r| r.held().device.clone()).collect();
    let _context = parallel::context(&devices);
    let mut ranks = ranks.into_iter().map(|mut rank| {
        rank.held_mut().distribute();
        rank
    });
    let mut rank0 = ranks.next().expect("a data-parallel run has ranks");
    let peers = parallel::Peers::new(world);
    std::thread::scope(|s| {
        let followers: Vec<_> = ranks
            .enumerate()
            .map(|(i, mut rank)| {
                let (peers, r) = (&peers, i + 1);
                s.spawn(move || -> Result<(), TrainError> {
                    let share = |v: &[f32]| peers.mean(r, v);
                    for step in start..steps {
                        rank.step(step, (r, world), &share)?;
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
            for step in start..steps {
                let t = Instant::now();
                let stepped = rank0.step(step, (0, world), &share)?;
                let after = lead.after(&rank0, step, stepped, t.elapsed().as_secs_f64(), on_step);
                // Every rank learns rank 0's answer, an error included, before rank 0 returns.
                let go_on = peers.decide(0, matches!(after, Ok(true)));
                after?;
                if !go_on {
                    return Ok(step + 1);
                }
            }
            Ok(steps)
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
