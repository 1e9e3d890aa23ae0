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
    /// The row this one's constrained predictions are compared with.
    compared_with: String,
    /// Share of constrained predictions equal to `compared_with`'s.
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
    /// The lowest agreement of the aligned runs (with and without reuse, at the given and at
    /// one thread) with the first: the figure must not depend on these switches.
    aligned_agreement: f64,
    /// Unaligned chunks: agreement without reuse with reuse.
    unaligned_agreement: f64,
}

/// One way of running the LLM on the bench's episodes, and the variant its constrained answers
/// are compared with.
struct Variant {
    label: String,
    tag: &'static str,
    llm: crate::common::LlmArgs,
    compare_with: usize,
}

/// The same episodes evaluated by the embedded LLM with aligned prompt chunks (the default)
/// reusing the support prefix and re-processing every prompt, both also at one thread and
/// unaligned, and (with --server) by an OpenAI-compatible server; each run's constrained answers
/// are compared with its counterpart's (the figure must not depend on a speed switch).
pub(super) fn fewshot_bench(a: FewshotBenchArgs, assets: &Assets, device: &Device) -> Result<()> {
    let embedded = crate::common::LlmArgs {
        llm: a.llm.clone(),
        threads: a.threads,
        ..Default::default()
    };
    let t = crate::common::LlmArgs::default().align;
    let v = |label: &str, tag, threads, no_reuse, align, compare_with| Variant {
        label: label.to_string(),
        tag,
        llm: crate::common::LlmArgs {
            threads,
            no_reuse,
            align,
            ..embedded.clone()
        },
        compare_with,
    };
    let th = a.threads;
    let mut variants = vec![
        v("embedded, prefix reuse", "reuse", th, false, t, 0),
        v("embedded, no reuse", "no-reuse", th, true, t, 0),
        v(
            "embedded, prefix reuse, 1 thread",
            "reuse-1t",
            1,
            false,
            t,
            0,
        ),
        v("embedded, no reuse, 1 thread", "no-reuse-1t", 1, true, t, 0),
        v(
            "embedded, prefix reuse, unaligned",
            "reuse-unaligned",
            th,
            false,
            0,
            0,
        ),
        v(
            "embedded, no reuse, unaligned",
            "no-reuse-unaligned",
            th,
            true,
            0,
            4,
        ),
    ];
    if let Some(url) = &a.server {
        variants.push(Variant {
            label: format!("server {url} ({:?} prompts)", a.prompt_as).to_lowercase(),
            tag: "server",
            llm: crate::common::LlmArgs {
                server: Some(url.clone()),
                prompt_as: a.prompt_as,
                ..embedded.clone()
            },
            compare_with: 0,
        });
    }
    let mut results = Vec::new();
    for Variant { tag, llm, .. } in &variants {
        let args = FewshotRun {
            checkpoint: a.checkpoint.clone(),
            images: None,
            fit: Default::default(),
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
    let rows: Vec<FewshotRow> = results
        .iter()
        .zip(&variants)
        .map(|(r, v)| FewshotRow {
            backend: v.label.clone(),
            compared_with: variants[v.compare_with].label.clone(),
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
                .zip(&results[v.compare_with].predictions)
                .filter(|(a, b)| a == b)
                .count() as f64
                / r.predictions.len().max(1) as f64,
        })
        .collect();
    let aligned_agreement = rows[..4]
        .iter()
        .map(|r| r.constrained_agreement)
        .fold(1.0, f64::min);
    let unaligned_agreement = rows[5].constrained_agreement;
    let report = FewshotBench {
        benchmark: "fewshot",
        machine: machine(),
        setting: results[0].setting.name(),
        layers: a.layers,
        episodes: a.episodes,
        queries: results[0].queries,
        speedup: rows[1].seconds / rows[0].seconds.max(1e-9),
        aligned_agreement,
        unaligned_agreement,
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
    println!("| backend | wall s | prompt tokens evaluated | reused | prompt tok/s | generated tok/s | open acc | constrained acc | agreement | with |");
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---|");
    for r in &report.rows {
        println!(
            "| {} | {:.1} | {} | {} | {:.0} | {:.1} | {:.3} | {:.3} | {:.1}% | {} |",
            r.backend,
            r.seconds,
            r.prompt_tokens,
            r.reused_tokens,
            r.prompt_tokens_per_s,
            r.generated_tokens_per_s,
            r.open_accuracy,
            r.constrained_accuracy,
            100.0 * r.constrained_agreement,
            r.compared_with
        );
    }
    println!(
        "speed-up with reuse: {:.1}x; aligned chunks: constrained answers with and without reuse, at {} and 1 thread(s), agree on at least {:.1}% (unaligned, with and without reuse: {:.1}%)",
        report.speedup,
        a.threads,
        100.0 * report.aligned_agreement,
        100.0 * report.unaligned_agreement
    );
    if let Some(dir) = a.out.parent() {
        std::fs::create_dir_all(dir)?;
    }
    spae::io::write_atomic(&a.out, &serde_json::to_vec_pretty(&report)?)?;
    println!("wrote {}", a.out.display());
    Ok(())
}
