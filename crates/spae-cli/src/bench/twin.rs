//! The PyTorch twin of `spae bench train --compare-torch`: the files it starts from (spae's
//! initial weights, the search's codebook rows, the batches) and its per-phase report.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use spae::model::SpaeModel;
use spae::pyramid::PyramidLayout;
use spae::quantizer::QuantizerKind;
use spae::train::{save_safetensors, Critics, QuantContext, TrainConfig};

use super::{f32_bytes, run_python};

/// What the twin measured, and how it compares with spae beyond time.
#[derive(Debug, Serialize, Deserialize)]
pub struct TwinReport {
    pub torch: String,
    /// `cpu`, or `cuda:N (GPU name)`.
    pub device: String,
    pub threads: usize,
    pub parameter_tensors: usize,
    pub parameters: usize,
    pub median_step_ms: f64,
    pub median_ms: std::collections::BTreeMap<String, f64>,
    pub step_ms: Vec<f64>,
    pub losses: Vec<f64>,
    /// Encoder, decoder and losses, backward, optimizer: medians summed.
    #[serde(default)]
    pub network_ms: f64,
    /// Share of the first batch's words (from the same initial weights) equal to spae's.
    #[serde(default)]
    pub word_agreement: f64,
}

impl TwinReport {
    pub fn phase(&self, name: &str) -> Option<f64> {
        self.median_ms.get(name).copied()
    }
}

/// The twin implements the appearance-only step (L2 + commitment, SAQ, frozen codebook).
pub fn check_config(cfg: &TrainConfig, critics: &Critics, model: &SpaeModel) -> Result<()> {
    let mut on = Vec::new();
    if critics.lpips.is_some() {
        on.push("the perceptual loss");
    }
    if critics.adversary.is_some() {
        on.push("the GAN");
    }
    if critics.guide.is_some() {
        on.push("semantic guidance");
    }
    if model.codebook.is_some() {
        on.push("a learned codebook");
    }
    if cfg.quantizer != QuantizerKind::Saq {
        on.push("a quantizer other than SAQ");
    }
    if !on.is_empty() {
        bail!(
            "--compare-torch times the appearance-only step (L2 + commitment, SAQ, frozen \
             codebook); this configuration has {}",
            on.join(", ")
        );
    }
    Ok(())
}

/// Writes the twin's inputs to a fresh temporary folder: twin.json (with the twin's `threads`),
/// init.safetensors (spae's initial weights), codebook.f32 (the search's rows), images.f32,
/// spae_tokens.u32 (spae's words for the first batch).
pub fn prepare(
    cfg: &TrainConfig,
    ctx: &QuantContext,
    model: &SpaeModel,
    batches: &[Vec<f32>],
    words: &[u32],
    warmup: usize,
    threads: usize,
) -> Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("spae-train-twin-{}", std::process::id()));
    std::fs::create_dir_all(&dir).with_context(|| format!("{}", dir.display()))?;
    save_safetensors(model, &dir.join("init.safetensors"))?;
    let parameters: usize = burn::module::Module::num_params(model);
    let spec = serde_json::json!({
        "model": cfg.model,
        "latent": [ctx.pyramid.latent.0, ctx.pyramid.latent.1],
        "grids": ctx.pyramid.grids,
        "depth": ctx.pyramid.n_layers(),
        "commitment": cfg.loss.commitment,
        "lr": cfg.loss.lr,
        "adam_beta1": cfg.loss.adam_beta1,
        "adam_beta2": cfg.loss.adam_beta2,
        "batch_size": cfg.run.batch_size,
        "steps": batches.len() - warmup,
        "warmup": warmup,
        "parameters": parameters,
        "threads": threads,
    });
    let write = |name: &str, bytes: &[u8]| {
        std::fs::write(dir.join(name), bytes)
            .with_context(|| format!("{}: cannot write", dir.join(name).display()))
    };
    write("twin.json", &serde_json::to_vec_pretty(&spec)?)?;
    write("codebook.f32", &f32_bytes(ctx.search.codes()))?;
    write("images.f32", &f32_bytes(&batches.concat()))?;
    let w: Vec<u8> = words.iter().flat_map(|x| x.to_le_bytes()).collect();
    write("spae_tokens.u32", &w)?;
    Ok(dir)
}

/// Runs the twin on the folder [`prepare`] wrote, on `device` (`cpu` or `cuda`) with `threads`
/// OpenMP threads, and reads its report; removes `dir`.
pub fn run(
    python: &str,
    script: &Path,
    dir: &Path,
    threads: usize,
    device: &str,
) -> Result<TwinReport> {
    if !script.is_file() {
        bail!(
            "{}: the PyTorch twin is not there (run from the repository root or pass --twin)",
            script.display()
        );
    }
    eprintln!(
        "[bench] running the PyTorch twin on {device} ({python} {})",
        script.display()
    );
    run_python(
        python,
        script,
        &[dir.into(), device.into()],
        threads,
        "the PyTorch twin",
        ": --compare-torch needs Python with torch and numpy",
    )?;
    let mut report: TwinReport = serde_json::from_slice(&std::fs::read(dir.join("torch.json"))?)
        .context("the PyTorch twin's torch.json")?;
    let read_u32 = |name: &str| -> Result<Vec<u32>> {
        Ok(std::fs::read(dir.join(name))?
            .chunks_exact(4)
            .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect())
    };
    let (ours, theirs) = (read_u32("spae_tokens.u32")?, read_u32("torch_tokens.u32")?);
    if ours.len() != theirs.len() {
        bail!(
            "the twin wrote {} words for the first batch, spae {}",
            theirs.len(),
            ours.len()
        );
    }
    report.word_agreement = super::agreement(&ours, &theirs);
    report.network_ms = network_ms(report.median_ms.iter().map(|(k, v)| (k.as_str(), *v)));
    std::fs::remove_dir_all(dir).ok();
    Ok(report)
}

/// Everything but the nearest-word search: the sum of the other phases' medians.
pub fn network_ms<'a>(phases: impl Iterator<Item = (&'a str, f64)>) -> f64 {
    phases.filter(|(k, _)| *k != "search").map(|(_, v)| v).sum()
}
