//! `spae bench fewshot`: prefix reuse and backends on the same episodes.

use anyhow::{Context, Result};
use burn::tensor::Device;
use serde::Serialize;
use spae::assets::Assets;
use spae_icl::fewshot::{FewshotConfig, Queries, Setting};

use crate::fewshot_run::{evaluate, FewshotRun};

use super::*;

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
pub(super) fn fewshot_bench(a: FewshotBenchArgs, assets: &Assets, device: &Device) -> Result<()> {
    let embedded = crate::common::LlmArgs {
        llm: a.llm.clone(),
        threads: a.threads,
        ..Default::default()
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
        let args = FewshotRun {
            checkpoint: a.checkpoint.clone(),
            images: None,
            dataset: None,
            split: spae::data::Split::Test,
            choice: Default::default(),
            pool: 1000,
            llm: llm.clone(),
            cfg: FewshotConfig {
                layers: vec![a.layers],
                settings: vec![Setting {
                    way: a.way,
                    induction: true,
                    shots: a.shots,
                    repeats: 0,
                }],
                episodes: a.episodes,
                queries: Queries::PerClass(a.queries_per_class),
                ..FewshotConfig::default()
            },
            out: a.out.with_extension(format!("{tag}.json")),
            resume: false,
        };
        let (r, _) = evaluate(&args, assets, device)?;
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
