//! `spae train`: train the tokenizer from a TOML configuration, with checkpoints and resume;
//! `spae export`: a released model from a checkpoint.

use std::path::{Path, PathBuf};

use anyhow::Result;
use burn::tensor::Device;
use clap::Args;
use spae::assets::Assets;
use spae::train::{init_model, latest_checkpoint, load_codebook, load_state, train, TrainConfig};

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
}

pub fn run(args: TrainArgs, assets: &Assets, device: &Device) -> Result<()> {
    let mut cfg: TrainConfig = crate::common::read_toml(&args.config)?;
    if let Some(cb) = args.codebook {
        cfg.codebook = cb;
    }
    let out = args.out.unwrap_or_else(|| {
        let stem = args
            .config
            .file_stem()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        PathBuf::from("runs").join(stem)
    });
    crate::common::ensure(Path::new(&cfg.codebook), assets)?;
    let pb = progress::bar(cfg.run.steps as u64, "train");
    let batch = cfg.run.batch_size as f64;
    let mut done_here = 0usize;
    let stop_after = args.max_steps.unwrap_or(usize::MAX);
    let result = train(&cfg, assets, &out, args.resume, device, &mut |rec| {
        done_here += 1;
        pb.set_position(rec.step as u64);
        pb.set_message(format!(
            "loss {:.4} l2 {:.4} {:.1} img/s",
            rec.stats.loss,
            rec.stats.l2,
            batch / rec.seconds.max(1e-9)
        ));
        done_here < stop_after
    });
    pb.finish();
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
    let cfg = load_state(&dir)?.config;
    crate::common::ensure(Path::new(&cfg.codebook), assets)?;
    let cb = load_codebook(&cfg)?;
    let mut model = init_model(&cfg, &cb, device);
    let state = spae::train::export(&dir, &mut model, &args.out)?;
    println!(
        "exported step {} of {} to {} (model.safetensors, state.json)",
        state.step,
        dir.display(),
        args.out.display()
    );
    Ok(())
}
