//! `spae generate mnist`: in-context text-to-image, the paper's MNIST task. The frozen LLM sees
//! 50 examples "an image of {digit}: {words}" and writes the words of a new image for a query such
//! as "an image of 1+7", progressively (Eqs. 10-11); the words decode to pixels, and the project's
//! digit classifier (`spae classifier`) judges whether the image shows the intended digit.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _, Result};
use clap::{Args, ValueEnum};
use serde::Serialize;
use spae::assets::Assets;
use spae::data::{tile_images, write_png, Split};
use spae::device::Device;
use spae::eval::classifier;
use spae::train::dataset;
use spae_icl::text2image::{
    reconstruction_ceiling, GenerateConfig, GenerateReport, Generation, DEFAULT_TEMPLATE,
};

use crate::common::{LlmArgs, LlmRecord, PlanArgs};
use crate::progress;

/// The in-context generation task.
#[derive(Clone, Copy, ValueEnum)]
pub enum Task {
    /// Digits from text: "an image of 1+7".
    Mnist,
}

#[derive(Args)]
pub struct GenerateArgs {
    pub task: Task,
    /// Queries: "an image of 1+7" or just "1+7"; none: the 117 benchmark queries (every digit,
    /// sums, differences, products and riddles whose answer is a digit).
    pub queries: Vec<String>,
    /// The tokenizer (trained on MNIST).
    #[arg(long, default_value = "models/mnist-semantic")]
    pub checkpoint: PathBuf,
    /// The digit classifier that judges the images (`spae classifier`).
    #[arg(long, default_value = "models/mnist-classifier")]
    pub classifier: PathBuf,
    #[command(flatten)]
    pub llm: LlmArgs,
    /// Examples in context, spread evenly over the digits (train part).
    #[arg(long, default_value_t = 50)]
    pub examples: usize,
    /// The condition, with {} where the digit or query goes.
    #[arg(long, default_value = DEFAULT_TEMPLATE)]
    pub template: String,
    #[command(flatten)]
    pub plan: PlanArgs,
    /// Seed of the choice and order of the examples.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Output folder: generate.json, grid.png, index.html, images/.
    #[arg(long, default_value = "results/generate/mnist")]
    pub out: PathBuf,
}

#[derive(Serialize)]
struct Report<'a> {
    #[serde(flatten)]
    llm: LlmRecord,
    checkpoint: String,
    classifier_test_accuracy: Option<f64>,
    /// The classifier on the tokenizer's reconstructions of test digits at this depth: the best
    /// a generated image of this depth can expect.
    classifier_on_reconstructions: f64,
    #[serde(flatten)]
    run: &'a GenerateReport,
}

pub fn run(args: GenerateArgs, assets: &Assets, device: &Device) -> Result<()> {
    let Task::Mnist = args.task;
    let tok = crate::common::tokenizer(&args.checkpoint, assets, device)?;
    if tok.config().data.dataset != spae::data::DatasetName::Mnist {
        bail!(
            "{} is a tokenizer of {}, not of the MNIST digits",
            args.checkpoint.display(),
            tok.config().data.dataset
        );
    }
    let (judge, judge_cfg) = classifier::load(&args.classifier, device)
        .with_context(|| "train one with `spae classifier`".to_string())?;
    let (size, _) = tok.image_shape();
    if judge_cfg.image_size != size || judge_cfg.classes.len() != 10 {
        bail!(
            "the classifier takes {}x{} images of {} classes; the tokenizer writes {size}x{size} digits",
            judge_cfg.image_size,
            judge_cfg.image_size,
            judge_cfg.classes.len()
        );
    }
    let cfg = GenerateConfig {
        queries: args.queries.clone(),
        examples: args.examples,
        template: args.template.clone(),
        plan: args.plan.plan(),
        seed: args.seed,
    };
    let train = dataset(tok.config(), assets, Split::Train)?;
    let (path, llm) = args.llm.load(assets, tok.codebook())?;
    let words = args.llm.spellings(&llm, tok.codebook())?;
    let job = Generation::new(&cfg, &tok, &train, &llm, &words)?;
    let mut backend = args.llm.backend(&llm, job.n_ctx()?)?;
    let mut bars = progress::Bars::default();
    let rep = job.run(backend.as_mut(), &judge, &mut |done, total| {
        bars.show(done, total, || "generate".into())
    })?;
    bars.finish();
    let test = dataset(tok.config(), assets, Split::Test)?;
    let report = Report {
        llm: args.llm.record(&path),
        checkpoint: args.checkpoint.display().to_string(),
        classifier_test_accuracy: judge_cfg.test_accuracy,
        classifier_on_reconstructions: reconstruction_ceiling(&tok, &judge, &test, job.depth())?,
        run: &rep,
    };
    fs_create(&args.out.join("images"))?;
    for (g, img) in rep.images.iter().zip(rep.pixels.chunks(size * size)) {
        write_png(&args.out.join(&g.image), img, 1, size, size)?;
    }
    write_outputs(&args.out, &report, &rep.pixels, size)?;
    print_report(&report);
    Ok(())
}

fn fs_create(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))
}

fn write_outputs(out: &Path, report: &Report, pixels: &[f32], size: usize) -> Result<()> {
    let json = out.join("generate.json");
    spae::io::write_atomic(&json, &serde_json::to_vec_pretty(report)?)?;
    let plane = size * size;
    let cols = 10;
    let rows: Vec<Vec<f32>> = pixels.chunks(cols * plane).map(|r| r.to_vec()).collect();
    let grid = tile_images(&rows, cols, 1, size);
    write_png(
        &out.join("grid.png"),
        &grid,
        1,
        rows.len() * size,
        cols * size,
    )?;
    let mut html = String::from(
        "<!doctype html><meta charset=\"utf-8\"><title>spae generate</title>\n<style>body{font-family:sans-serif}td{padding:4px 10px}img{width:64px;image-rendering:pixelated}</style>\n",
    );
    let _ = writeln!(
        html,
        "<h1>In-context text-to-image</h1><p>{} examples, depth {} ({} words), plan {}, {} of {} judged images show the intended digit ({:.1}%).</p>",
        report.run.examples,
        report.run.depth,
        report.run.words_per_image,
        serde_json::to_string(&report.run.plan)?.trim_matches('"'),
        report.run.correct,
        report.run.judged,
        100.0 * report.run.accuracy
    );
    html.push_str("<table><tr><th>query</th><th>image</th><th>intended</th><th>classified</th><th>nearest example (RMSE, tokens)</th></tr>\n");
    for g in &report.run.images {
        let _ = writeln!(
            html,
            "<tr><td>{}</td><td><img src=\"{}\"></td><td>{}</td><td>{}{}</td><td>{:.3}, {}</td></tr>",
            escape(&g.query),
            g.image,
            g.intended.map_or("-".into(), |d| d.to_string()),
            g.classified,
            match g.correct {
                Some(true) => " &#10003;",
                Some(false) => " &#10007;",
                None => "",
            },
            g.nearest_example_rmse,
            g.nearest_example_token_distance
        );
    }
    html.push_str("</table>\n");
    let page = out.join("index.html");
    spae::io::write_atomic(&page, html.as_bytes())?;
    Ok(())
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn print_report(r: &Report) {
    println!(
        "{} examples, depth {} ({} words per image), plan {} with stride {}: {} passes",
        r.run.examples,
        r.run.depth,
        r.run.words_per_image,
        serde_json::to_string(&r.run.plan)
            .unwrap_or_default()
            .trim_matches('"'),
        r.run.stride,
        r.run.passes
    );
    if r.run.images.len() <= 20 {
        for g in &r.run.images {
            println!(
                "{:<45} -> classified {}{}  (nearest example: RMSE {:.3}, {} tokens apart)  {}",
                g.query,
                g.classified,
                g.intended
                    .map_or(String::new(), |d| format!(", intended {d}")),
                g.nearest_example_rmse,
                g.nearest_example_token_distance,
                g.image
            );
        }
    }
    println!("| queries | judged | intended digit | share |");
    println!("|---|---:|---:|---:|");
    for k in &r.run.by_kind {
        println!(
            "| {} | {} | {} | {:.1}% |",
            k.kind,
            k.queries,
            k.correct,
            100.0 * k.accuracy
        );
    }
    println!(
        "| all | {} | {} | {:.1}% (95% CI {:.1}-{:.1}; chance 10%) |",
        r.run.judged,
        r.run.correct,
        100.0 * r.run.accuracy,
        100.0 * r.run.ci95.0,
        100.0 * r.run.ci95.1
    );
    println!(
        "classifier: {:.2}% on held-out digits, {:.1}% on their depth-{} reconstructions; {} images identical to an example, mean nearest-example RMSE {:.3}",
        100.0 * r.classifier_test_accuracy.unwrap_or(f64::NAN),
        100.0 * r.classifier_on_reconstructions,
        r.run.depth,
        r.run.identical_to_an_example,
        r.run.mean_nearest_example_rmse
    );
    println!(
        "{:.0} s; {} prompt tokens processed ({} reused), {} written",
        r.run.seconds,
        r.run.stats.prompt_tokens,
        r.run.stats.reused_tokens,
        r.run.stats.generated_tokens
    );
}
