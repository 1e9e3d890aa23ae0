//! `spae semantic`: the token text features of Eq. 5 (computed once, cached) and the words a
//! text is nearest to under them.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Result;
use burn::tensor::Device;
use clap::Subcommand;
use spae::assets::Assets;
use spae::scorer::{MiniLm, TextEncoder};
use spae::semantic::features::TextFeatures;
use spae::semantic::templates::TemplateSet;
use spae::train::codebook_text_features;

use crate::progress;

#[derive(Subcommand)]
pub enum SemanticCommand {
    /// Compute (or find cached) the text feature t(k) of every codebook word (Eq. 5, MiniLM).
    Features {
        /// Codebook folder (default: the SmolLM2 codebook).
        #[arg(long)]
        codebook: Option<PathBuf>,
        /// Prompt templates: imagenet-80 or imagenet-7.
        #[arg(long, default_value = "imagenet-80")]
        templates: TemplateSet,
    },
    /// The codebook words whose text features are nearest to a text's MiniLM embedding.
    Words {
        text: String,
        #[arg(short, default_value_t = 20)]
        n: usize,
        #[arg(long)]
        codebook: Option<PathBuf>,
        #[arg(long, default_value = "imagenet-80")]
        templates: TemplateSet,
    },
}

/// The codebook's text features under MiniLM, with a progress bar when they are computed.
fn features(
    assets: &Assets,
    codebook: Option<PathBuf>,
    templates: TemplateSet,
    device: &Device,
) -> Result<(spae::codebook::Codebook, TextEncoder, TextFeatures)> {
    let dir = codebook.unwrap_or_else(|| assets.codebook_dir("smollm2"));
    let cb = crate::common::load_codebook(&dir)?;
    let set = templates.templates();
    let text = TextEncoder::MiniLm(Box::new(MiniLm::load(&assets.path("minilm")?, device)?));
    let pb = progress::bar(cb.len() as u64, "words");
    let t = Instant::now();
    let f = codebook_text_features(&cb, &text, set, &assets.cache_dir(), &mut |done| {
        pb.set_position(done as u64)
    })?;
    pb.finish_and_clear();
    println!(
        "text features of {} words x {} templates ({}-d) in {:.1} s, cache {}",
        cb.len(),
        set.len(),
        f.dim,
        t.elapsed().as_secs_f64(),
        assets.cache_dir().display()
    );
    Ok((cb, text, f))
}

pub fn run(cmd: SemanticCommand, assets: &Assets, device: &Device) -> Result<()> {
    match cmd {
        SemanticCommand::Features {
            codebook,
            templates,
        } => {
            features(assets, codebook, templates, device)?;
        }
        SemanticCommand::Words {
            text,
            n,
            codebook,
            templates,
        } => {
            let (cb, model, f) = features(assets, codebook, templates, device)?;
            let q = model.embed(std::slice::from_ref(&text))?.remove(0);
            let mut scored: Vec<(f32, usize)> = (0..f.len())
                .map(|k| (f.row(k).iter().zip(&q).map(|(a, b)| a * b).sum(), k))
                .collect();
            scored.sort_by(|a, b| b.0.total_cmp(&a.0));
            let words: Vec<String> = scored
                .iter()
                .take(n)
                .map(|(s, k)| format!("{}{:.2}", cb.words[*k].text, s))
                .collect();
            println!("{text} ->{}", words.join(","));
        }
    }
    Ok(())
}
