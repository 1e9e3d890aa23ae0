//! `spae fewshot`: few-shot classification of SPAE-tokenized images by a frozen LLM (Table 1's
//! protocol), open-ended and constrained, with a 95% interval, progress and JSON.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use spae::assets::Assets;
use spae::device::Device;
use spae_icl::fewshot::{FewshotConfig, Queries, Setting, CLASSIFY_STEM};

use crate::common::{FitArgs, LlmArgs};
use crate::fewshot_run::{evaluate, ClassChoiceArgs, FewshotRun};

#[derive(Args)]
pub struct FewshotArgs {
    /// Tokenizer: a checkpoint, run folder or released model.
    #[arg(long, default_value = "models/fashion-mnist-semantic")]
    pub checkpoint: PathBuf,
    #[command(flatten)]
    pub llm: LlmArgs,
    #[arg(long, default_value = "test")]
    pub split: String,
    /// Labelled images instead of the checkpoint's data set: one subfolder per class (its name
    /// the class name) of PNG, JPEG or WebP files of any size (see --no-resize).
    #[arg(long)]
    pub images: Option<PathBuf>,
    #[command(flatten)]
    pub fit: FitArgs,
    /// Another installed data set instead of the checkpoint's (fashion-mnist, mnist, emoji), at
    /// the model's image size: e.g. MNIST digits through a Fashion-MNIST tokenizer.
    #[arg(long, conflicts_with = "images")]
    pub dataset: Option<String>,
    #[command(flatten)]
    pub choice: ClassChoiceArgs,
    /// Episodes draw their images from the first N images of the split (of the allowed classes).
    /// The MNIST digits and emoji are stored class by class: give at least the split's size
    /// (MNIST test: 1000) to draw from every class; the report lists each class's images.
    #[arg(long, default_value_t = 2000)]
    pub pool: usize,
    /// Pyramid layers whose words stand for an image; a list runs each (e.g. 1,2,3).
    #[arg(long, value_delimiter = ',', default_value = "2")]
    pub layers: Vec<usize>,
    /// All 14 settings of Table 1 (2- and 5-way) instead of the one given by the flags below.
    #[arg(long)]
    pub table1: bool,
    #[arg(long, default_value_t = 2)]
    pub way: usize,
    /// Support images per class (inner shots).
    #[arg(long, default_value_t = 1)]
    pub shots: usize,
    /// Extra presentations of the support set.
    #[arg(long, default_value_t = 0)]
    pub repeats: usize,
    /// Open the prompt with "Answer with {the class names}."
    #[arg(long)]
    pub induction: bool,
    #[arg(long, default_value_t = 500)]
    pub episodes: usize,
    /// Queries per episode (Frozen: 1).
    #[arg(long, default_value_t = 1)]
    pub queries: usize,
    /// Queries per class and episode instead (e.g. 15), sharing the support prefix.
    #[arg(long)]
    pub queries_per_class: Option<usize>,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// The text between an image's words and its answer (a question turns the task into VQA).
    #[arg(long, default_value = CLASSIFY_STEM, allow_hyphen_values = true)]
    pub stem: String,
    /// A control instead of the tokenizer's words, for the LLM's ceiling: `class-words` gives
    /// every image of a class the same random codebook words (as many as the tokenizer's);
    /// `class-words:P` keeps each with probability P and draws the others at random (P near a
    /// tokenizer's within-class agreement imitates its words).
    #[arg(long, value_parser = parse_control)]
    pub control: Option<f64>,
    /// JSON output; a run journal (one line per finished episode) is kept beside it, as
    /// OUT.journal.jsonl.
    #[arg(long, default_value = "results/fewshot/fewshot.json")]
    pub out: PathBuf,
    /// Continue a killed run with the same flags from its journal: finished episodes are read
    /// back, not asked again, and the report is the one an uninterrupted run writes.
    #[arg(long)]
    pub resume: bool,
}

/// `class-words[:P]` -> P (1 when absent).
fn parse_control(s: &str) -> Result<f64, String> {
    let keep = match s.split_once(':') {
        None if s == "class-words" => 1.0,
        Some(("class-words", p)) => p
            .parse::<f64>()
            .map_err(|e| format!("class-words:{p}: {e}"))?,
        _ => return Err(format!("{s}: expected class-words or class-words:P")),
    };
    match (0.0..=1.0).contains(&keep) {
        true => Ok(keep),
        false => Err(format!("class-words:{keep}: P is a probability (0 to 1)")),
    }
}

impl FewshotArgs {
    /// The evaluation these flags ask for.
    pub fn to_run(&self) -> Result<FewshotRun> {
        Ok(FewshotRun {
            checkpoint: self.checkpoint.clone(),
            images: self.images.clone(),
            fit: self.fit.fit(),
            dataset: self.dataset.clone(),
            split: crate::common::parse_split(&self.split)?,
            choice: self.choice.choice(),
            pool: self.pool,
            llm: self.llm.clone(),
            cfg: FewshotConfig {
                layers: self.layers.clone(),
                settings: match self.table1 {
                    true => [Setting::table1(2), Setting::table1(5)].concat(),
                    false => vec![Setting {
                        way: self.way,
                        induction: self.induction,
                        shots: self.shots,
                        repeats: self.repeats,
                    }],
                },
                episodes: self.episodes,
                queries: match self.queries_per_class {
                    Some(q) => Queries::PerClass(q),
                    None => Queries::PerEpisode(self.queries),
                },
                seed: self.seed,
                stem: self.stem.clone(),
                control: self.control,
            },
            out: self.out.clone(),
            resume: self.resume,
        })
    }
}

pub fn run(args: FewshotArgs, assets: &Assets, device: &Device) -> Result<()> {
    let (results, labels) = evaluate(&args.to_run()?, assets, device)?;
    println!("{}", labels.line());
    if let Some(keep) = args.control {
        println!("CONTROL: not the tokenizer's words, but random codebook words fixed per class, each kept with probability {keep}");
    }
    println!("| setting | layers | words/image | open-ended acc (95% CI) | constrained acc (95% CI) | chance | queries | prompt tok/s | reused |");
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    for r in &results {
        let rate = r.stats.prompt_tokens as f64 / r.stats.prompt_seconds.max(1e-9);
        println!(
            "| {} | {} | {} | {:.3} ({:.3}-{:.3}) | {:.3} ({:.3}-{:.3}) | {:.2} | {} | {:.0} | {:.0}% |",
            r.setting.name(),
            r.layers,
            r.words_per_image,
            r.open_accuracy,
            r.open_ci95.0,
            r.open_ci95.1,
            r.constrained_accuracy,
            r.constrained_ci95.0,
            r.constrained_ci95.1,
            r.chance,
            r.queries,
            rate,
            100.0 * r.stats.reused_tokens as f64
                / (r.stats.reused_tokens + r.stats.prompt_tokens).max(1) as f64
        );
    }
    println!("wrote {}", args.out.display());
    Ok(())
}
