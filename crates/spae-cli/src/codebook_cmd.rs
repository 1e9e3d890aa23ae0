//! `spae codebook ...`: build the frozen language codebook, inspect it.

use std::path::{Path, PathBuf};

use anyhow::Result;
use clap::Subcommand;
use spae::assets::Assets;
use spae::codebook::{Codebook, CodebookConfig};
use spae_llm::codebooks::build_codebook;

use crate::{llm_source, progress};

#[derive(Subcommand)]
pub enum CodebookCommand {
    /// Build the codebook of an LLM: choose T, dequantize its embeddings, save them.
    Build {
        /// Installed asset name, .gguf path, or hf:OWNER/REPO/FILE.gguf.
        #[arg(long, default_value = "smollm2")]
        llm: String,
        /// Output folder (default: ASSETS/codebooks/NAME).
        #[arg(long)]
        out: Option<PathBuf>,
        /// TOML file with a CodebookConfig (word rules, embedding tensor).
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Print a codebook's statistics.
    Stats {
        /// Codebook folder (default: ASSETS/codebooks/smollm2).
        #[arg(long)]
        codebook: Option<PathBuf>,
    },
    /// Print the nearest words of WORD by cosine similarity of their embeddings.
    Neighbors {
        word: String,
        #[arg(short = 'n', long, default_value_t = 10)]
        count: usize,
        #[arg(long)]
        codebook: Option<PathBuf>,
    },
}

pub fn run(cmd: CodebookCommand, assets: &Assets) -> Result<()> {
    match cmd {
        CodebookCommand::Build { llm, out, config } => {
            let cfg = match config {
                Some(p) => crate::common::read_toml(&p)?,
                None => CodebookConfig::default(),
            };
            let (path, name) = llm_source::resolve(&llm, assets)?;
            let out = out.unwrap_or_else(|| assets.codebook_dir(&name));
            let cb = build(&path, &name, &cfg, &out)?;
            print_stats(&cb, &out);
            Ok(())
        }
        CodebookCommand::Stats { codebook } => {
            let dir = codebook.unwrap_or_else(|| assets.codebook_dir("smollm2"));
            print_stats(&crate::common::load_codebook(&dir)?, &dir);
            Ok(())
        }
        CodebookCommand::Neighbors {
            word,
            count,
            codebook,
        } => {
            let dir = codebook.unwrap_or_else(|| assets.codebook_dir("smollm2"));
            let cb = crate::common::load_codebook(&dir)?;
            print_neighbors(&cb, &word, count)
        }
    }
}

/// The library's codebook progress (tokens checked of the vocabulary) on a bar.
/// Builds and saves the codebook of the GGUF at `path`, with a progress bar.
pub fn build(path: &Path, name: &str, cfg: &CodebookConfig, out: &Path) -> Result<Codebook> {
    let pb = progress::bar(0, "tokens checked");
    let cb = build_codebook(
        path,
        name,
        cfg,
        out,
        &mut crate::common::tokens_checked(&pb),
    )?;
    pb.finish();
    Ok(cb)
}

pub fn print_stats(cb: &Codebook, dir: &Path) {
    let r = &cb.report;
    println!("codebook {}", dir.display());
    println!(
        "  source        {} (sha256 {}), vocabulary {}",
        cb.source.name,
        &cb.source.sha256[..16],
        r.vocab_size
    );
    println!(
        "  |T|           {} words of dimension {} ({:.1}% of the vocabulary)",
        cb.len(),
        cb.dim,
        100.0 * cb.len() as f64 / r.vocab_size.max(1) as f64
    );
    println!("  rejected      {}", r.vocab_size - r.accepted);
    for (reason, n) in &r.rejected {
        println!("    {:<20} {n}", format!("{reason:?}"));
    }
    let norms: Vec<f64> = (0..cb.len())
        .map(|k| {
            cb.row(k)
                .iter()
                .map(|x| f64::from(*x).powi(2))
                .sum::<f64>()
                .sqrt()
        })
        .collect();
    let mean = norms.iter().sum::<f64>() / norms.len().max(1) as f64;
    let sd =
        (norms.iter().map(|n| (n - mean).powi(2)).sum::<f64>() / norms.len().max(1) as f64).sqrt();
    let (lo, hi) = norms
        .iter()
        .fold((f64::MAX, f64::MIN), |(a, b), &n| (a.min(n), b.max(n)));
    println!("  |e(k)|        mean {mean:.3}, sd {sd:.3}, min {lo:.3}, max {hi:.3}");
    let sample: Vec<&str> = cb
        .words
        .iter()
        .step_by(cb.len().max(1) / 12 + 1)
        .map(|w| w.text.trim())
        .collect();
    println!("  sample words  {}", sample.join(", "));
}

pub fn print_neighbors(cb: &Codebook, word: &str, count: usize) -> Result<()> {
    let list = cb.neighbors(word, count)?;
    let shown: Vec<String> = list
        .iter()
        .map(|(w, s)| format!("{} {s:.2}", w.text.trim()))
        .collect();
    println!("{:<10} -> {}", word, shown.join(", "));
    Ok(())
}
