//! `spae bench train`: training steps timed per phase, and with `--compare-torch` the PyTorch
//! twin of the same step (tools/train_twin_torch.py) in the same run.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use burn::tensor::Device;
use clap::Args;
use serde::Serialize;
use spae::assets::Assets;
use spae::pyramid::PyramidLayout;
use spae::quantizer::SearchPlace;
use spae::train::{
    critics, forward, guide_keys, image_tensor, init_model, load_codebook, quant_context,
    train_step, training_set, Step, StepPhases, TrainConfig,
};

use super::twin::{self, TwinReport};
use super::*;

#[derive(Args)]
pub struct TrainBenchArgs {
    #[arg(long, default_value = "configs/fashion-mnist.toml")]
    pub config: PathBuf,
    /// Timed steps (after 2 untimed warm-up steps).
    #[arg(long, default_value_t = 10)]
    pub steps: usize,
    /// Also time the PyTorch twin of the step (tools/train_twin_torch.py) from the same initial
    /// weights on the same batches, per phase, with the ratios.
    #[arg(long)]
    pub compare_torch: bool,
    /// Python with torch and numpy for --compare-torch.
    #[arg(long, default_value = ".venv/bin/python")]
    pub python: String,
    /// The twin's script.
    #[arg(long, default_value = "tools/train_twin_torch.py")]
    pub twin: PathBuf,
    /// Threads of the PyTorch twin (default: every core, as burn's flex backend uses).
    #[arg(long)]
    pub threads: Option<usize>,
    /// The PyTorch twin's device: cpu, or cuda (its phases then end with a synchronize).
    #[arg(long, default_value = "cpu")]
    pub torch_device: TorchDevice,
    /// Where the nearest-word search runs: auto (host kernel on the CPU, tensor operations on
    /// a GPU), host or device; default: the configuration's `[loop] search`.
    #[arg(long)]
    pub search: Option<SearchPlace>,
    #[arg(long, default_value = "results/bench/train.json")]
    pub out: PathBuf,
}

/// Where the PyTorch twin runs.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum TorchDevice {
    Cpu,
    Cuda,
}

/// Untimed steps before the timed ones (both implementations).
const WARMUP: usize = 2;

#[derive(Serialize)]
struct TrainReport {
    benchmark: &'static str,
    machine: String,
    config: String,
    device: String,
    batch_size: usize,
    steps: usize,
    step_ms: Vec<f64>,
    median_step_ms: f64,
    images_per_s: f64,
    /// The data set: training images read (a folder's decoded and resized on every core), the
    /// seconds it took and the loader's images/s.
    dataset: String,
    images_loaded: usize,
    load_s: f64,
    load_images_per_s: f64,
    /// Whether the images are read from their files as batches ask for them (`data.stream`),
    /// and the rate at which the steps' batches were read (from files, or from memory).
    streamed: bool,
    batch_images_per_s: f64,
    /// Where the nearest-word search ran: `host` (the host kernel, latents read back) or
    /// `device` (tensor operations on the training device).
    search: &'static str,
    /// Median of each phase over the timed steps.
    median_phase_ms: Vec<(String, f64)>,
    /// Everything but the nearest-word search: encoder, decoder and losses, backward, optimizer
    /// (and the discriminator, when on); medians summed.
    network_ms: f64,
    torch: Option<TwinReport>,
}

pub(super) fn train_bench(args: TrainBenchArgs, assets: &Assets, device: &Device) -> Result<()> {
    let mut cfg: TrainConfig = crate::common::read_toml(&args.config)?;
    crate::common::ensure(Path::new(&cfg.codebook), assets)?;
    let cb = load_codebook(&cfg)?;
    if let Some(place) = args.search {
        cfg.run.search = place;
    }
    let t = Instant::now();
    let set = training_set(&cfg, assets)?;
    let load_s = t.elapsed().as_secs_f64();
    let device = device.clone().autodiff();
    // The initial weights `spae train` starts from (drawn from the seed on the CPU).
    spae::device::seed_run(&device, cfg.run.seed);
    let ctx = quant_context(&cfg, &cb)?.search_at(cfg.run.search, &device);
    let mut model = spae::device::drawn(&device, |d| init_model(&cfg, &cb, d));
    let mut optim = cfg.loss.optimizer();
    let mut critics = critics(&cfg, assets, &cb, &set, &device)?;
    let (b, size) = (cfg.run.batch_size, cfg.model.image_size);
    let depth = ctx.pyramid.n_layers();
    // Each step's images, in order through the set, and their pixels (the twin gets the same).
    let indices: Vec<Vec<usize>> = (0..args.steps + WARMUP)
        .map(|step| (step * b..(step + 1) * b).map(|i| i % set.len()).collect())
        .collect();
    let t = Instant::now();
    let batches = indices
        .iter()
        .map(|idx| set.try_batch_chw(idx, size))
        .collect::<Result<Vec<_>, _>>()?;
    let batch_s = t.elapsed().as_secs_f64();
    let threads = args
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    // The twin starts from these weights and the words they give the first batch.
    let twin_dir = if args.compare_torch {
        twin::check_config(&cfg, &critics, &model)?;
        let x = image_tensor(batches[0].clone(), b, set.channels, size, &device);
        let words = forward(&model, &ctx, x, depth)?
            .codes
            .host_tokens()
            .concat();
        Some(twin::prepare(
            &cfg, &ctx, &model, &batches, &words, WARMUP, threads,
        )?)
    } else {
        None
    };
    let pb = crate::progress::bar((args.steps + WARMUP) as u64, "bench train");
    let mut step_ms = Vec::new();
    let mut phases: Vec<StepPhases> = Vec::new();
    for (step, (idx, pixels)) in indices.iter().zip(&batches).enumerate() {
        let todo = Step {
            images: image_tensor(pixels.clone(), b, set.channels, size, &device),
            depth,
            lr: cfg.loss.lr,
            gan: true,
            keys: guide_keys(&critics, &set, idx),
            seed: step as u64,
        };
        let t = Instant::now();
        let (m, stats) = train_step(model, &mut optim, &ctx, &cfg, &mut critics, todo)?;
        model = m;
        if step >= WARMUP {
            step_ms.push(t.elapsed().as_secs_f64() * 1e3);
            phases.push(stats.phases);
        }
        pb.inc(1);
    }
    pb.finish_and_clear();
    let median_phase_ms: Vec<(String, f64)> = StepPhases::default()
        .named()
        .iter()
        .enumerate()
        .map(|(i, (name, _))| {
            let v: Vec<f64> = phases.iter().map(|p| p.named()[i].1).collect();
            (name.to_string(), median(&v))
        })
        .collect();
    let network_ms = twin::network_ms(median_phase_ms.iter().map(|(n, v)| (n.as_str(), *v)));
    let torch = match twin_dir {
        Some(dir) => {
            let on = match args.torch_device {
                TorchDevice::Cpu => "cpu",
                TorchDevice::Cuda => "cuda",
            };
            Some(twin::run(&args.python, &args.twin, &dir, threads, on)?)
        }
        None => None,
    };
    let med = median(&step_ms);
    let report = TrainReport {
        benchmark: "train",
        machine: machine(),
        config: args.config.display().to_string(),
        device: format!("{:?}", device),
        batch_size: b,
        steps: args.steps,
        dataset: cfg.data.dataset.to_string(),
        images_loaded: set.len(),
        load_s,
        load_images_per_s: set.len() as f64 / load_s.max(1e-9),
        streamed: set.streamed().is_some(),
        batch_images_per_s: (indices.len() * b) as f64 / batch_s.max(1e-9),
        images_per_s: b as f64 / (med / 1e3),
        median_step_ms: med,
        search: if ctx.on_device.is_some() {
            "device"
        } else {
            "host"
        },
        step_ms,
        median_phase_ms,
        network_ms,
        torch,
    };
    print_table(&report);
    spae::io::write_atomic(&args.out, &serde_json::to_vec_pretty(&report)?)
        .with_context(|| format!("{}: cannot write", args.out.display()))?;
    println!("wrote {}", args.out.display());
    Ok(())
}

fn print_table(r: &TrainReport) {
    println!("machine: {}", r.machine);
    let how = match r.streamed {
        true => "listed (read from their files as batches ask)",
        false => "loaded",
    };
    println!(
        "data {}: {} training images {how} in {:.2} s ({:.0} images/s); batches read at {:.0} images/s",
        r.dataset, r.images_loaded, r.load_s, r.load_images_per_s, r.batch_images_per_s
    );
    println!(
        "{}: batch {}, {} timed steps, median step {:.0} ms, {:.1} images/s; search on the {}",
        r.config, r.batch_size, r.steps, r.median_step_ms, r.images_per_s, r.search
    );
    let torch = r.torch.as_ref();
    match torch {
        Some(t) => {
            println!(
                "PyTorch {} twin on {} ({} threads, {} parameters in {} tensors, equal to spae's); \
                 first batch's words equal spae's: {:.2}%",
                t.torch,
                t.device,
                t.threads,
                t.parameters,
                t.parameter_tensors,
                100.0 * t.word_agreement
            );
            println!("| phase | spae ms | PyTorch ms | spae / PyTorch |");
            println!("|---|---:|---:|---:|");
        }
        None => {
            println!("| phase | spae ms |");
            println!("|---|---:|");
        }
    }
    let mut rows: Vec<(String, f64, Option<f64>)> = r
        .median_phase_ms
        .iter()
        .filter(|(n, v)| n != "discriminator" || *v > 0.0)
        .map(|(n, v)| (n.clone(), *v, torch.and_then(|t| t.phase(n))))
        .collect();
    rows.push((
        "network (all but search)".into(),
        r.network_ms,
        torch.map(|t| t.network_ms),
    ));
    rows.push((
        "whole step".into(),
        r.median_step_ms,
        torch.map(|t| t.median_step_ms),
    ));
    for (name, ours, theirs) in rows {
        match theirs {
            Some(t) => println!("| {name} | {ours:.0} | {t:.0} | {:.2} |", ours / t),
            None if torch.is_some() => println!("| {name} | {ours:.0} | - | - |"),
            None => println!("| {name} | {ours:.0} |"),
        }
    }
}
