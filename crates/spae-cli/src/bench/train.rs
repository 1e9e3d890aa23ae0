//! `spae bench train`: training steps and the quantizer's share.

use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result};
use burn::tensor::Device;
use serde::Serialize;
use spae::assets::Assets;
use spae::quantizer::quantize_pyramid;
use spae::train::{
    critics, guide_keys, image_tensor, init_model, load_codebook, quant_context, to_vec,
    train_step, training_set, Step, TrainConfig,
};

use super::*;

#[derive(Serialize)]
struct TrainReport {
    benchmark: &'static str,
    machine: String,
    config: String,
    batch_size: usize,
    steps: usize,
    step_ms: Vec<f64>,
    median_step_ms: f64,
    images_per_s: f64,
    /// Median time of the pyramid quantization (encoder latents to words) within a step.
    median_quantize_ms: f64,
}

pub(super) fn train_bench(
    config: &Path,
    steps: usize,
    out: &Path,
    assets: &Assets,
    device: &Device,
) -> Result<()> {
    let cfg: TrainConfig = crate::common::read_toml(config)?;
    crate::common::ensure(Path::new(&cfg.codebook), assets)?;
    let cb = load_codebook(&cfg)?;
    let ctx = quant_context(&cfg, &cb)?;
    let set = training_set(&cfg, assets)?;
    let device = device.clone().autodiff();
    device.seed(cfg.run.seed);
    let mut model = init_model(&cfg, &cb, &device);
    let mut optim = cfg.loss.optimizer();
    let mut critics = critics(&cfg, assets, &cb, &set, &device)?;
    let (b, size) = (cfg.run.batch_size, cfg.model.image_size);
    let depth = ctx.pyramid.n_layers();
    let mut step_ms = Vec::new();
    let mut quant_ms = Vec::new();
    for step in 0..steps + 2 {
        let idx: Vec<usize> = (step * b..(step + 1) * b).map(|i| i % set.len()).collect();
        let pixels = set.batch_chw(&idx, size);
        let x = image_tensor(pixels.clone(), b, set.channels, size, &device);
        let t = Instant::now();
        let todo = Step {
            images: x,
            depth,
            lr: cfg.loss.lr,
            gan: true,
            keys: guide_keys(&critics, &set, &idx),
            seed: step as u64,
        };
        let (m, _) = train_step(model, &mut optim, &ctx, &cfg, &mut critics, todo)?;
        model = m;
        let ms = t.elapsed().as_secs_f64() * 1e3;
        // The quantizer alone, on this batch's latents.
        let z = model
            .encoder
            .forward(image_tensor(pixels, b, set.channels, size, &device))
            .permute([0, 2, 3, 1]);
        let z = to_vec(z.detach());
        let t = Instant::now();
        quantize_pyramid(ctx.quantizer.as_ref(), &ctx.pyramid, &ctx.search, &z);
        let q = t.elapsed().as_secs_f64() * 1e3;
        if step >= 2 {
            step_ms.push(ms);
            quant_ms.push(q);
        }
    }
    let med = median(&step_ms);
    let report = TrainReport {
        benchmark: "train",
        machine: machine(),
        config: config.display().to_string(),
        batch_size: b,
        steps,
        median_step_ms: med,
        images_per_s: b as f64 / (med / 1e3),
        median_quantize_ms: median(&quant_ms),
        step_ms,
    };
    println!("machine: {}", report.machine);
    println!("| config | batch | median step ms | images/s | quantize ms (share) |");
    println!("|---|---:|---:|---:|---:|");
    println!(
        "| {} | {} | {:.0} | {:.1} | {:.0} ({:.0}%) |",
        report.config,
        b,
        med,
        report.images_per_s,
        report.median_quantize_ms,
        100.0 * report.median_quantize_ms / med
    );
    spae::io::write_atomic(out, &serde_json::to_vec_pretty(&report)?)
        .with_context(|| format!("{}: cannot write", out.display()))?;
    println!("wrote {}", out.display());
    Ok(())
}
