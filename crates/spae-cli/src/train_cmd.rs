//! `spae train`: train the tokenizer from a TOML configuration, with checkpoints and resume;
//! `spae export`: a released model from a checkpoint.

use std::path::{Path, PathBuf};

use anyhow::Result;
use burn::tensor::Device;
use clap::Args;
use spae::assets::Assets;
use spae::checkpoint::{run_kind, RunKind};
use spae::device::DeviceSpec;
use spae::quantizer::SearchPlace;
use spae::train::parallel::check_devices;
use spae::train::{
    init_model, latest_checkpoint, load_codebook, load_state, train, train_video, Placement,
    StepRecord, TrainConfig, TrainError, VideoTrainConfig,
};

use crate::progress;

#[derive(Args)]
pub struct TrainArgs {
    /// Configuration file (see configs/).
    #[arg(long)]
    config: PathBuf,
    /// Run folder for checkpoints and metrics (default: runs/<config file stem>).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Continue from the run folder's latest checkpoint.
    #[arg(long)]
    resume: bool,
    /// Override the configuration's codebook folder.
    #[arg(long)]
    codebook: Option<String>,
    /// Stop after this many steps in this invocation (the schedule still follows the config's
    /// total; continue later with --resume).
    #[arg(long)]
    max_steps: Option<usize>,
    /// Where the nearest-word search runs: auto (the host kernel on the CPU, tensor operations
    /// on a GPU), host or device; overrides the configuration's `[loop] search`. A run may
    /// resume with another.
    #[arg(long)]
    search: Option<SearchPlace>,
    /// Train data-parallel over these devices (comma-separated, e.g. cuda:0,cuda:1), one shard
    /// of each global batch per device, gradients averaged by burn's collective all-reduce
    /// (CUDA only in burn 0.22); replaces --device for this run. One device takes the same path
    /// (a check of it on one GPU). Image and video configurations.
    #[arg(long, value_delimiter = ',')]
    devices: Option<Vec<DeviceSpec>>,
}

/// The devices of `--devices`, checked for a global batch of `batch` ([`check_devices`]) and
/// started.
fn parallel_devices(specs: &[DeviceSpec], batch: usize) -> Result<Vec<Device>> {
    check_devices(specs, batch)?;
    Ok(specs
        .iter()
        .map(|d| d.device())
        .collect::<Result<Vec<_>, _>>()?)
}

/// Data-parallel over `devices` (`--devices`), else on `device`.
fn placement<'a>(devices: Option<&'a [Device]>, device: &'a Device) -> Placement<'a> {
    match devices {
        Some(d) => Placement::Ranks(d),
        None => Placement::One(device),
    }
}

/// Whether a TOML configuration is a video one: its `[model]` has `frames`.
fn is_video_config(path: &Path) -> Result<bool> {
    let v: toml::Value = crate::common::read_toml(path)?;
    Ok(v.get("model").and_then(|m| m.get("frames")).is_some())
}

pub fn run(args: TrainArgs, assets: &Assets, device: &Device) -> Result<()> {
    let out = args.out.clone().unwrap_or_else(|| {
        let stem = args
            .config
            .file_stem()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        PathBuf::from("runs").join(stem)
    });
    let stop_after = args.max_steps.unwrap_or(usize::MAX);
    if is_video_config(&args.config)? {
        let mut cfg: VideoTrainConfig = crate::common::read_toml(&args.config)?;
        if let Some(cb) = args.codebook {
            cfg.codebook = cb;
        }
        if let Some(place) = args.search {
            cfg.run.search = place;
        }
        let devices = match &args.devices {
            Some(specs) => Some(parallel_devices(specs, cfg.run.batch_size)?),
            None => None,
        };
        crate::common::ensure(Path::new(&cfg.codebook), assets)?;
        let (steps, batch) = (cfg.run.steps, cfg.run.batch_size);
        return with_progress(steps, batch, "clips", stop_after, &out, |on_step| {
            let place = placement(devices.as_deref(), device);
            train_video(&cfg, assets, &out, args.resume, place, on_step)
        });
    }
    let mut cfg: TrainConfig = crate::common::read_toml(&args.config)?;
    if let Some(cb) = args.codebook {
        cfg.codebook = cb;
    }
    if let Some(place) = args.search {
        cfg.run.search = place;
    }
    let devices = match &args.devices {
        Some(specs) => Some(parallel_devices(specs, cfg.run.batch_size)?),
        None => None,
    };
    crate::common::ensure(Path::new(&cfg.codebook), assets)?;
    let (steps, batch) = (cfg.run.steps, cfg.run.batch_size);
    with_progress(steps, batch, "img", stop_after, &out, |on_step| {
        let place = placement(devices.as_deref(), device);
        train(&cfg, assets, &out, args.resume, place, on_step)
    })
}

/// Runs a training loop with a progress bar (loss, L2, `unit`s per second), stopping after
/// `stop_after` steps in this invocation.
fn with_progress(
    steps: usize,
    batch: usize,
    unit: &str,
    stop_after: usize,
    out: &Path,
    train: impl FnOnce(&mut dyn FnMut(&StepRecord) -> bool) -> Result<usize, TrainError>,
) -> Result<()> {
    let pb = progress::bar(steps as u64, "train");
    let mut done_here = 0usize;
    let result = train(&mut |rec| {
        done_here += 1;
        pb.set_position(rec.step as u64);
        pb.set_message(format!(
            "loss {:.4} l2 {:.4} {:.1} {unit}/s",
            rec.stats.loss,
            rec.stats.l2,
            batch as f64 / rec.seconds.max(1e-9)
        ));
        done_here < stop_after
    });
    // Left where the run stopped (`finish` would draw it full after `--max-steps` or an error).
    pb.abandon();
    let steps = result?;
    println!(
        "{} steps done; checkpoints and metrics.jsonl in {}",
        steps,
        out.display()
    );
    Ok(())
}

#[derive(Args)]
pub struct ExportArgs {
    /// Checkpoint folder, or a run folder (its latest checkpoint).
    #[arg(long)]
    checkpoint: PathBuf,
    /// Output folder: model.safetensors and state.json.
    #[arg(long)]
    out: PathBuf,
}

/// `spae export`: a released model (safetensors + configuration + step) from a checkpoint.
pub fn export(args: ExportArgs, assets: &Assets, device: &Device) -> Result<()> {
    let dir = latest_checkpoint(&args.checkpoint)?.unwrap_or_else(|| args.checkpoint.clone());
    let step = match run_kind(&dir)? {
        RunKind::Video => {
            let cfg = spae::checkpoint::load_state_of::<VideoTrainConfig>(&dir)?.config;
            let mut model = cfg.model.init(device);
            spae::train::export::<_, VideoTrainConfig>(&dir, &mut model, &args.out)?.step
        }
        RunKind::Image => {
            let cfg = load_state(&dir)?.config;
            crate::common::ensure(Path::new(&cfg.codebook), assets)?;
            let cb = load_codebook(&cfg)?;
            let mut model = init_model(&cfg, &cb, device);
            spae::train::export::<_, TrainConfig>(&dir, &mut model, &args.out)?.step
        }
    };
    println!(
        "exported step {step} of {} to {} (model.safetensors, state.json)",
        dir.display(),
        args.out.display()
    );
    Ok(())
}
