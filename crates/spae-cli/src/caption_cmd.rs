//! `spae caption`: in-context captioning by a frozen LLM (the paper's emoji captions): prompts of
//! `--examples` captioned images, then one more to caption; exact match and token F1 against the
//! image names, with progress and JSON.

use spae::device::Device;
use std::path::{Path, PathBuf};

use anyhow::{bail, Result};
use clap::Args;
use serde::Serialize;
use spae::assets::Assets;
use spae::train::dataset;
use spae_icl::caption::{self, AtLayers, CaptionAnswer, CaptionConfig, CaptionResult};
use spae_icl::fewshot::FrozenLlm;
use spae_icl::fewshot::CLASSIFY_STEM;

use crate::common::{LlmArgs, LlmRecord};
use crate::progress;

#[derive(Args)]
pub struct CaptionArgs {
    /// Tokenizer of a data set with per-image names (emoji): a checkpoint, run or released model.
    #[arg(long)]
    pub checkpoint: PathBuf,
    #[command(flatten)]
    pub llm: LlmArgs,
    #[arg(long, default_value = "test")]
    pub split: String,
    /// Images are drawn from the first N images of the split.
    #[arg(long, default_value_t = 2000)]
    pub pool: usize,
    /// Pyramid layers whose words stand for an image; a list runs each (e.g. 1,2,3).
    #[arg(long, value_delimiter = ',', default_value = "2")]
    pub layers: Vec<usize>,
    /// Captioned images in each prompt.
    #[arg(long, default_value_t = 10)]
    pub examples: usize,
    #[arg(long, default_value_t = 200)]
    pub episodes: usize,
    /// Longest caption, in tokens.
    #[arg(long, default_value_t = 16)]
    pub max_tokens: usize,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// The text between an image's words and its caption.
    #[arg(long, default_value = CLASSIFY_STEM, allow_hyphen_values = true)]
    pub stem: String,
    /// JSON output; a run journal (one line per answered query) is kept beside it, as
    /// OUT.journal.jsonl.
    #[arg(long, default_value = "results/caption/caption.json")]
    pub out: PathBuf,
    /// Continue a killed run with the same flags from its journal: answered queries are read
    /// back, not asked again.
    #[arg(long)]
    pub resume: bool,
}

#[derive(Serialize)]
struct Report<'a> {
    checkpoint: &'a Path,
    #[serde(flatten)]
    llm: LlmRecord,
    pool: usize,
    results: &'a [CaptionResult],
}

pub fn run(args: CaptionArgs, assets: &Assets, device: &Device) -> Result<()> {
    let split = crate::common::parse_split(&args.split)?;
    let tok = crate::common::tokenizer(&args.checkpoint, assets, device)?;
    let set = dataset(tok.config(), assets, split)?;
    if set.names.is_empty() {
        bail!(
            "{}: the {} data set has no per-image names to caption with (emoji has)",
            args.checkpoint.display(),
            tok.config().data.dataset
        );
    }
    let n = args.pool.min(set.len());
    let set = set.subset(&(0..n).collect::<Vec<_>>());
    let (path, llm) = args.llm.load(assets, tok.codebook())?;
    let spellings = args.llm.spellings(&llm, tok.codebook())?;
    let mut session = args.llm.backend(&llm, 2048)?;
    let cfg = CaptionConfig {
        layers: args.layers.clone(),
        episodes: args.episodes,
        examples: args.examples,
        max_tokens: args.max_tokens,
        seed: args.seed,
        stem: args.stem.clone(),
    };
    let header = serde_json::json!({
        "task": "caption",
        "split": args.split,
        "pool": n,
        "llm": args.llm.record(&path),
        "config": cfg,
    });
    let mut log = crate::common::run_journal::<AtLayers, CaptionAnswer>(
        &spae::journal::Journal::beside(&args.out),
        &args.checkpoint,
        header,
        args.resume,
    )?;
    let mut bars = progress::Bars::default();
    let frozen = FrozenLlm {
        llm: &llm,
        spellings: &spellings,
        backend: session.as_mut(),
    };
    let results = caption::run(
        &cfg,
        &tok,
        &set,
        frozen,
        &mut log,
        &mut |layers, done, total| bars.show(done, total, || format!("captions L{layers}")),
    )?;
    bars.finish();
    println!("| layers | words/image | examples | exact match (95% CI) | token F1 | queries |");
    println!("|---:|---:|---:|---:|---:|---:|");
    for r in &results {
        println!(
            "| {} | {} | {} | {:.3} ({:.3}-{:.3}) | {:.3} | {} |",
            r.layers,
            r.words_per_image,
            r.examples,
            r.exact_match,
            r.exact_ci95.0,
            r.exact_ci95.1,
            r.token_f1,
            r.samples.len()
        );
        for s in r.samples.iter().take(5) {
            println!("    {:?} -> {:?}", s.truth, s.answer);
        }
    }
    let report = Report {
        checkpoint: &args.checkpoint,
        llm: args.llm.record(&path),
        pool: n,
        results: &results,
    };
    if let Some(dir) = args.out.parent() {
        std::fs::create_dir_all(dir)?;
    }
    spae::io::write_atomic(&args.out, &serde_json::to_vec_pretty(&report)?)?;
    println!("wrote {}", args.out.display());
    Ok(())
}
