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
            crate::common::print_stats(&cb, &out);
            Ok(())
        }
        CodebookCommand::Stats { codebook } => {
            let dir = codebook.unwrap_or_else(|| assets.codebook_dir("smollm2"));
            crate::common::print_stats(&crate::common::load_codebook(&dir)?, &dir);
            Ok(())
        }
        CodebookCommand::Neighbors {
            word,
            count,
            codebook,
        } => {
            let dir = codebook.unwrap_or_else(|| assets.codebook_dir("smollm2"));
            let cb = crate::common::load_codebook(&dir)?;
            crate::common::print_neighbors(&cb, &word, count)
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
