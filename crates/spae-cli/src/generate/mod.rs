//! `spae generate mnist`: in-context text-to-image, the paper's MNIST task. The frozen LLM sees
//! 50 examples "an image of {digit}: {words}" and writes the words of a new image for a query such
//! as "an image of 1+7", progressively (Eqs. 10-11); the words decode to pixels, and the project's
//! digit classifier (`spae classifier`) judges whether the image shows the intended digit.

mod page;

use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _, Result};
use clap::{Args, ValueEnum};
use serde::Serialize;
use spae::assets::Assets;
use spae::data::{write_png, Split};
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
    /// Output folder: generate.json, grid.png, index.html, images/, and journal.jsonl (the
    /// words of every finished pass, for --resume).
    #[arg(long, default_value = "results/generate/mnist")]
    pub out: PathBuf,
    /// Continue a killed run with the same flags from its journal: finished passes are read
    /// back, not written again.
    #[arg(long)]
    pub resume: bool,
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
    let header = serde_json::json!({
        "task": "generate",
        "llm": args.llm.record(&path),
        "config": cfg,
    });
    let mut log = crate::common::run_journal(
        &args.out.join("journal.jsonl"),
        &args.checkpoint,
        header,
        args.resume,
    )?;
    let mut bars = progress::Bars::default();
    let rep = job.run(backend.as_mut(), &judge, &mut log, &mut |done, total| {
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
    page::write_outputs(&args.out, &report, &rep.pixels, size)?;
    page::print_report(&report);
    Ok(())
}

fn fs_create(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))
}
