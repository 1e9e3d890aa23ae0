//! `spae bench ...`: benchmarks that print a table and write JSON.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use burn::tensor::{Device, Tensor, TensorData};
use clap::{Args, Subcommand};
use rand::{Rng, SeedableRng};
use serde::Serialize;
use spae::assets::Assets;
use spae::quantizer::nearest::{indices_to_vec, search_tensor, NearestSearch};
use spae::quantizer::quantize_pyramid;
use spae::train::{
    critics, guide_keys, image_tensor, init_model, load_codebook, quant_context, to_vec,
    train_step, training_set, Step, TrainConfig,
};

#[derive(Subcommand)]
pub enum BenchCommand {
    /// Exact nearest-codeword search: spae's kernel, burn flex matmul + argmax, and PyTorch.
    Quantizer(QuantizerArgs),
    /// Training steps of a configuration: step time, images/s, and the quantizer's share.
    Train {
        #[arg(long, default_value = "configs/fashion-mnist.toml")]
        config: PathBuf,
        /// Timed steps (after 2 untimed warm-up steps).
        #[arg(long, default_value_t = 10)]
        steps: usize,
        #[arg(long, default_value = "results/bench/train.json")]
        out: PathBuf,
    },
    /// Few-shot evaluation with and without prefix reuse: wall time, tokens/s, agreement.
    Fewshot(FewshotBenchArgs),
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

#[derive(Serialize)]
struct Row {
    name: String,
    median_ms: f64,
    all_ms: Vec<f64>,
    /// Share of query vectors whose chosen codeword equals spae's.
    agreement_with_spae: f64,
}

#[derive(Serialize)]
struct Report {
    benchmark: &'static str,
    machine: String,
    threads: usize,
    n: usize,
    k: usize,
    d: usize,
    reps: usize,
    rows: Vec<Row>,
    /// spae median / PyTorch median (target <= 1.0).
    ratio_spae_over_torch: Option<f64>,
}

fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let m = s.len() / 2;
    if s.len().is_multiple_of(2) {
        (s[m - 1] + s[m]) / 2.0
    } else {
        s[m]
    }
}

fn time_reps<T>(reps: usize, mut f: impl FnMut() -> T) -> (Vec<f64>, T) {
    let mut times = Vec::new();
    let mut last = None;
    for _ in 0..reps.max(1) {
        let t = Instant::now();
        last = Some(f());
        times.push(t.elapsed().as_secs_f64() * 1e3);
    }
    (times, last.expect("at least one repetition"))
}

fn agreement(a: &[u32], b: &[u32]) -> f64 {
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
        BenchCommand::Train { config, steps, out } => {
            train_bench(&config, steps, &out, assets, device)
        }
        BenchCommand::Quantizer(args) => quantizer_bench(args, device),
        BenchCommand::Fewshot(args) => fewshot_bench(args, assets, device),
    }
}

#[derive(Serialize)]
struct FewshotRow {
    backend: String,
    seconds: f64,
    prompt_tokens: usize,
    reused_tokens: usize,
    prompt_tokens_per_s: f64,
    generated_tokens_per_s: f64,
    open_accuracy: f64,
    constrained_accuracy: f64,
    /// Share of constrained predictions equal to the first row's (embedded, prefix reuse).
    constrained_agreement: f64,
}

#[derive(Serialize)]
struct FewshotBench {
    benchmark: &'static str,
    machine: String,
    setting: String,
    layers: usize,
    episodes: usize,
    queries: usize,
    rows: Vec<FewshotRow>,
    /// Wall time without reuse over wall time with it (embedded).
    speedup: f64,
}

/// The same episodes evaluated by the embedded LLM reusing the support prefix, re-processing
/// every prompt, and (with --server) by an OpenAI-compatible server.
fn fewshot_bench(a: FewshotBenchArgs, assets: &Assets, device: &Device) -> Result<()> {
    let defaults = crate::fewshot_cmd::FewshotArgs::defaults();
    let embedded = crate::common::LlmArgs {
        llm: a.llm.clone(),
        threads: a.threads,
        ..defaults.llm.clone()
    };
    let mut variants = vec![
        (
            "embedded, prefix reuse".to_string(),
            "reuse",
            embedded.clone(),
        ),
        (
            "embedded, no reuse".to_string(),
            "no-reuse",
            crate::common::LlmArgs {
                no_reuse: true,
                ..embedded.clone()
            },
        ),
    ];
    if let Some(url) = &a.server {
        variants.push((
            format!("server {url} ({:?} prompts)", a.prompt_as).to_lowercase(),
            "server",
            crate::common::LlmArgs {
                server: Some(url.clone()),
                prompt_as: a.prompt_as,
                ..embedded.clone()
            },
        ));
    }
    let mut results = Vec::new();
    for (_, tag, llm) in &variants {
        let args = crate::fewshot_cmd::FewshotArgs {
            checkpoint: a.checkpoint.clone(),
            llm: llm.clone(),
            pool: 1000,
            layers: vec![a.layers],
            way: a.way,
            shots: a.shots,
            induction: true,
            episodes: a.episodes,
            queries_per_class: Some(a.queries_per_class),
            out: a.out.with_extension(format!("{tag}.json")),
            ..crate::fewshot_cmd::FewshotArgs::defaults()
        };
        let (r, _) = crate::fewshot_cmd::evaluate(&args, assets, device)?;
        results.push(r.into_iter().next().context("one setting")?);
    }
    let first = &results[0].predictions;
    let rows: Vec<FewshotRow> = results
        .iter()
        .zip(&variants)
        .map(|(r, (label, _, _))| FewshotRow {
            backend: label.clone(),
            seconds: r.seconds,
            prompt_tokens: r.stats.prompt_tokens,
            reused_tokens: r.stats.reused_tokens,
            prompt_tokens_per_s: r.stats.prompt_tokens as f64 / r.stats.prompt_seconds.max(1e-9),
            generated_tokens_per_s: r.stats.generated_tokens as f64
                / r.stats.generation_seconds.max(1e-9),
            open_accuracy: r.open_accuracy,
            constrained_accuracy: r.constrained_accuracy,
            constrained_agreement: r
                .predictions
                .iter()
                .zip(first)
                .filter(|(a, b)| a == b)
                .count() as f64
                / first.len().max(1) as f64,
        })
        .collect();
    let report = FewshotBench {
        benchmark: "fewshot",
        machine: machine(),
        setting: results[0].setting.name(),
        layers: a.layers,
        episodes: a.episodes,
        queries: results[0].queries,
        speedup: rows[1].seconds / rows[0].seconds.max(1e-9),
        rows,
    };
    println!(
        "{}, {} layers, {} episodes x {} queries, {}",
        report.setting,
        report.layers,
        report.episodes,
        a.queries_per_class * a.way,
        report.machine
    );
    println!("| backend | wall s | prompt tokens evaluated | reused | prompt tok/s | generated tok/s | open acc | constrained acc | agreement |");
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    for r in &report.rows {
        println!(
            "| {} | {:.1} | {} | {} | {:.0} | {:.1} | {:.3} | {:.3} | {:.1}% |",
            r.backend,
            r.seconds,
            r.prompt_tokens,
            r.reused_tokens,
            r.prompt_tokens_per_s,
            r.generated_tokens_per_s,
            r.open_accuracy,
            r.constrained_accuracy,
            100.0 * r.constrained_agreement
        );
    }
    println!(
        "speed-up with reuse: {:.1}x; constrained predictions without reuse agree on {:.1}%",
        report.speedup,
        100.0 * report.rows[1].constrained_agreement
    );
    if let Some(dir) = a.out.parent() {
        std::fs::create_dir_all(dir)?;
    }
    spae::io::write_atomic(&a.out, &serde_json::to_vec_pretty(&report)?)?;
    println!("wrote {}", a.out.display());
    Ok(())
}

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

fn train_bench(
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

fn quantizer_bench(args: QuantizerArgs, device: &Device) -> Result<()> {
    let QuantizerArgs {
        n,
        k,
        d,
        reps,
        threads,
        python,
        chunk_vectors,
        chunk_codewords,
        out,
    } = args;
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build_global()
        .context("configuring the thread pool")?;
    let mut rng = rand::rngs::StdRng::seed_from_u64(0);
    let z: Vec<f32> = (0..n * d).map(|_| rng.random_range(-1.0..1.0)).collect();
    let e: Vec<f32> = (0..k * d).map(|_| rng.random_range(-1.0..1.0)).collect();
    println!("workload: N={n} vectors, |T|={k} codewords, d={d}; {reps} reps, {threads} threads");
    println!("machine:  {}", machine());

    let mut search = NearestSearch::new(&e, d);
    search.chunks.vectors = chunk_vectors.unwrap_or(search.chunks.vectors);
    search.chunks.codewords = chunk_codewords.unwrap_or(search.chunks.codewords);
    println!(
        "spae chunks: {} vectors x {} codewords",
        search.chunks.vectors, search.chunks.codewords
    );
    let (t_spae, res) = time_reps(reps, || search.search(&z));
    let spae_idx: Vec<u32> = res.iter().map(|r| r.index).collect();
    let mut rows = vec![Row {
        name: "spae (chunked gemm + running argmax)".into(),
        median_ms: median(&t_spae),
        all_ms: t_spae,
        agreement_with_spae: 1.0,
    }];

    let zt = Tensor::<2>::from_data(TensorData::new(z.clone(), [n, d]), device);
    let et = Tensor::<2>::from_data(TensorData::new(e.clone(), [k, d]), device);
    let (t_burn, burn_idx) = time_reps(reps, || {
        indices_to_vec(search_tensor(zt.clone(), et.clone(), 512))
    });
    rows.push(Row {
        name: "burn flex (matmul + argmax per 512 rows)".into(),
        median_ms: median(&t_burn),
        all_ms: t_burn,
        agreement_with_spae: agreement(&burn_idx, &spae_idx),
    });

    let mut ratio = None;
    if python != "none" {
        let (times, torch_idx) = run_torch(&python, &z, &e, n, k, d, reps, threads)?;
        let torch_med = median(&times);
        ratio = Some(rows[0].median_ms / torch_med);
        rows.push(Row {
            name: "PyTorch (matmul + argmax, full scores)".into(),
            median_ms: torch_med,
            all_ms: times,
            agreement_with_spae: agreement(&torch_idx, &spae_idx),
        });
    }

    println!("\n| implementation | median ms | min ms | agreement with spae |");
    println!("|---|---:|---:|---:|");
    for r in &rows {
        let min = r.all_ms.iter().copied().fold(f64::MAX, f64::min);
        println!(
            "| {} | {:.0} | {:.0} | {:.4} |",
            r.name, r.median_ms, min, r.agreement_with_spae
        );
    }
    if let Some(r) = ratio {
        println!("\nratio spae / PyTorch = {r:.3} (target <= 1.0)");
    }
    let report = Report {
        benchmark: "quantizer",
        machine: machine(),
        threads,
        n,
        k,
        d,
        reps,
        rows,
        ratio_spae_over_torch: ratio,
    };
    spae::io::write_atomic(&out, &serde_json::to_vec_pretty(&report)?)
        .with_context(|| format!("{}: cannot write", out.display()))?;
    println!("wrote {}", out.display());
    Ok(())
}

/// Runs tools/bench_quantizer_torch.py on the same data; returns its times and indices.
#[allow(clippy::too_many_arguments)]
fn run_torch(
    python: &str,
    z: &[f32],
    e: &[f32],
    n: usize,
    k: usize,
    d: usize,
    reps: usize,
    threads: usize,
) -> Result<(Vec<f64>, Vec<u32>)> {
    let dir = std::env::temp_dir().join(format!("spae-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let bytes = |v: &[f32]| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
    std::fs::write(dir.join("z.f32"), bytes(z))?;
    std::fs::write(dir.join("e.f32"), bytes(e))?;
    let script =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tools/bench_quantizer_torch.py");
    let output = Command::new(python)
        .arg(&script)
        .arg(&dir)
        .args([n, k, d, reps, threads].map(|v| v.to_string()))
        .env("OMP_NUM_THREADS", threads.to_string())
        .output()
        .with_context(|| format!("cannot run {python} (pass --python none to skip PyTorch)"))?;
    if !output.status.success() {
        bail!(
            "PyTorch reference failed: {}",
            String::from_utf8_lossy(&output.stderr)
                .lines()
                .last()
                .unwrap_or("")
        );
    }
    #[derive(serde::Deserialize)]
    struct TorchOut {
        all_ms: Vec<f64>,
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    let parsed: TorchOut = serde_json::from_str(stdout.lines().last().unwrap_or(""))
        .context("PyTorch reference printed no JSON")?;
    let idx = std::fs::read(dir.join("torch_idx.i64"))?
        .chunks_exact(8)
        .map(|c| i64::from_le_bytes(c.try_into().expect("8 bytes")) as u32)
        .collect();
    let _ = std::fs::remove_dir_all(&dir);
    Ok((parsed.all_ms, idx))
}
