//! `spae bench ...`: benchmarks that print a table and write JSON.

mod fewshot;
mod quantizer;
mod serve;
mod train;
mod twin;

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use burn::tensor::Device;
use clap::{Args, Subcommand};
use spae::assets::Assets;

#[derive(Subcommand)]
pub enum BenchCommand {
    /// Exact nearest-codeword search: spae's kernel, burn flex matmul + argmax, and PyTorch.
    Quantizer(QuantizerArgs),
    /// Training steps of a configuration: step time per phase, images/s; with --compare-torch
    /// the PyTorch twin of the same step in the same run, per phase, with the ratios.
    Train(train::TrainBenchArgs),
    /// Few-shot evaluation with and without prefix reuse: wall time, tokens/s, agreement.
    Fewshot(FewshotBenchArgs),
    /// A load test of `spae serve` on loopback: N concurrent clients, p50 / p99 latency,
    /// throughput, errors, against the library called directly.
    Serve(serve::ServeBenchArgs),
}

#[derive(Args)]
pub struct FewshotBenchArgs {
    #[arg(long, default_value = "models/fashion-mnist-semantic")]
    pub checkpoint: PathBuf,
    #[arg(long, default_value = "smollm2")]
    pub llm: String,
    #[arg(long, default_value_t = 5)]
    pub way: usize,
    #[arg(long, default_value_t = 1)]
    pub shots: usize,
    /// Queries per class, sharing each support set's prefix.
    #[arg(long, default_value_t = 15)]
    pub queries_per_class: usize,
    #[arg(long, default_value_t = 4)]
    pub episodes: usize,
    #[arg(long, default_value_t = 2)]
    pub layers: usize,
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
    /// Also ask this OpenAI-compatible server (base URL with /v1) the same episodes: a third
    /// row, compared with the embedded LLM.
    #[arg(long)]
    pub server: Option<String>,
    /// How prompts reach --server: token ids or text.
    #[arg(long, default_value = "ids")]
    pub prompt_as: spae_llm::http::PromptForm,
    #[arg(long, default_value = "results/bench/fewshot.json")]
    pub out: PathBuf,
}

#[derive(Args)]
pub struct QuantizerArgs {
    #[arg(long, default_value_t = 4096)]
    pub n: usize,
    #[arg(long, default_value_t = 49152)]
    pub k: usize,
    #[arg(long, default_value_t = 576)]
    pub d: usize,
    /// Timed repetitions per implementation (the median is reported).
    #[arg(long, default_value_t = 5)]
    pub reps: usize,
    /// Threads for every implementation.
    #[arg(long, default_value_t = 2)]
    pub threads: usize,
    /// Python with torch and numpy for the PyTorch row; `none` to skip it.
    #[arg(long, default_value = ".venv/bin/python")]
    pub python: String,
    /// Query vectors per task of spae's kernel (default: the library's).
    #[arg(long)]
    pub chunk_vectors: Option<usize>,
    /// Codewords per matrix multiplication of spae's kernel (default: the library's).
    #[arg(long)]
    pub chunk_codewords: Option<usize>,
    #[arg(long, default_value = "results/bench/quantizer.json")]
    pub out: PathBuf,
}

pub(super) fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let m = s.len() / 2;
    if s.len().is_multiple_of(2) {
        (s[m - 1] + s[m]) / 2.0
    } else {
        s[m]
    }
}

pub(super) fn time_reps<T>(reps: usize, mut f: impl FnMut() -> T) -> (Vec<f64>, T) {
    let mut times = Vec::new();
    let mut last = None;
    for _ in 0..reps.max(1) {
        let t = Instant::now();
        last = Some(f());
        times.push(t.elapsed().as_secs_f64() * 1e3);
    }
    (times, last.expect("at least one repetition"))
}

/// Little-endian bytes of `f32`s, as the PyTorch reference scripts read them (`np.fromfile`).
pub(super) fn f32_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// Runs a PyTorch reference script, `python script args...`, on `threads` OpenMP threads and
/// returns its standard output. `hint` follows "cannot run PYTHON" when Python does not start;
/// a failing script is "`what` failed: " and the last line it wrote to standard error.
pub(super) fn run_python(
    python: &str,
    script: &Path,
    args: &[OsString],
    threads: usize,
    what: &str,
    hint: &str,
) -> Result<Vec<u8>> {
    let output = Command::new(python)
        .arg(script)
        .args(args)
        .env("OMP_NUM_THREADS", threads.to_string())
        .output()
        .with_context(|| format!("cannot run {python}{hint}"))?;
    if !output.status.success() {
        bail!(
            "{what} failed: {}",
            String::from_utf8_lossy(&output.stderr)
                .lines()
                .last()
                .unwrap_or("")
        );
    }
    Ok(output.stdout)
}

pub(super) fn agreement(a: &[u32], b: &[u32]) -> f64 {
    a.iter().zip(b).filter(|(x, y)| x == y).count() as f64 / a.len().max(1) as f64
}

pub fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    format!("{cpu}, {cores} cores")
}

pub fn run(cmd: BenchCommand, assets: &Assets, device: &Device) -> Result<()> {
    match cmd {
        BenchCommand::Train(args) => train::train_bench(args, assets, device),
        BenchCommand::Quantizer(args) => quantizer::quantizer_bench(args, device),
        BenchCommand::Fewshot(args) => fewshot::fewshot_bench(args, assets, device),
        BenchCommand::Serve(args) => serve::serve_bench(args, assets, device),
    }
}
