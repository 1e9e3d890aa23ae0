//! `spae eval semantic`: the semantic relevance of each pyramid layer's words and the top-word
//! hit rate.

use std::collections::HashMap;
use std::path::PathBuf;

use anyhow::Result;
use burn::tensor::Device;
use serde::Serialize;
use spae::assets::Assets;
use spae::pyramid::PyramidLayout;
use spae::semantic::features::{best_words, HIT_WORDS};
use spae::semantic::templates::TemplateSet;
use spae::semantic::{ScorerKind, SemanticConfig};
use spae::train::{dataset, score_set};

use crate::progress;
#[derive(clap::Args)]
pub struct SemanticArgs {
    #[arg(long)]
    pub checkpoint: PathBuf,
    #[arg(long, default_value = "test")]
    pub split: String,
    #[arg(long, default_value_t = 1000)]
    pub n: usize,
    /// Scorer: label, name, bridge or clip:DIR (default: the checkpoint's `semantic.scorer`).
    #[arg(long)]
    pub scorer: Option<ScorerKind>,
    /// Prompt templates of the text features: imagenet-80 or imagenet-7 (default: the
    /// checkpoint's `semantic.templates`).
    #[arg(long)]
    pub templates: Option<TemplateSet>,
    #[arg(long, default_value = "results/eval/semantic.json")]
    pub out: PathBuf,
}

/// Layers whose words are searched for a hit (1 + 4 words).
const HIT_LAYERS: usize = 2;

#[derive(Serialize)]
struct LayerRelevance {
    layer: usize,
    tokens: usize,
    relevance: f64,
}

#[derive(Serialize)]
struct SemanticReport {
    images: usize,
    scorer: String,
    templates: String,
    layers: Vec<LayerRelevance>,
    hit_rate: f64,
}

pub(super) fn semantic(a: SemanticArgs, assets: &Assets, device: &Device) -> Result<()> {
    let SemanticArgs {
        checkpoint,
        split,
        n,
        scorer,
        templates,
        out,
    } = a;
    let split = split.as_str();
    let tok = crate::common::tokenizer(&checkpoint, assets, device)?;
    let trained = &tok.config().semantic;
    let sem = SemanticConfig {
        scorer: scorer.unwrap_or_else(|| trained.scorer.clone()),
        templates: templates.unwrap_or(trained.templates),
        bridge: trained.bridge,
        ..SemanticConfig::default()
    };
    let set = dataset(tok.config(), assets, crate::common::parse_split(split)?)?;
    let n = n.min(set.len());
    let (size, _) = tok.image_shape();
    let scored = score_set(&sem, assets, tok.codebook(), &set, size, device)?;
    let templates = sem.templates.templates();
    // The ground truth of image i: its own name where the data set has names (emoji), else its
    // class name; the 50 words nearest each distinct truth (Eq. 5 applied to it).
    let truth = |i: usize| -> &str {
        set.names
            .get(i)
            .unwrap_or(&set.class_names[set.labels[i] as usize])
    };
    let mut nearest: HashMap<&str, Vec<u32>> = HashMap::new();
    for i in 0..n {
        let name = truth(i);
        if nearest.contains_key(name) {
            continue;
        }
        let f = scored.text.name_feature(templates, name)?;
        nearest.insert(name, best_words(&f, &scored.token_features, HIT_WORDS));
    }
    let layers = tok.pyramid().n_layers();
    let sizes = tok.pyramid().layer_sizes();
    let mut relevance = vec![0f64; layers];
    let mut hits = 0usize;
    let pb = progress::bar(n as u64, "images");
    for start in (0..n).step_by(50) {
        let idx: Vec<usize> = (start..(start + 50).min(n)).collect();
        let codes = tok.encode_codes(set.batch_chw(&idx, size), idx.len());
        for (b, &i) in idx.iter().enumerate() {
            let s = scored.normalized_scores(scored.key(&set, i));
            let mut first_words = Vec::new();
            for l in 0..layers {
                let words = &codes.tokens[l][b * sizes[l]..(b + 1) * sizes[l]];
                relevance[l] +=
                    words.iter().map(|&k| f64::from(s[k as usize])).sum::<f64>() / sizes[l] as f64;
                if l < HIT_LAYERS {
                    first_words.extend_from_slice(words);
                }
            }
            let near = &nearest[truth(i)];
            if first_words.iter().any(|k| near.contains(k)) {
                hits += 1;
            }
        }
        pb.inc(idx.len() as u64);
    }
    pb.finish_and_clear();
    let report = SemanticReport {
        images: n,
        scorer: sem.scorer.to_string(),
        templates: sem.templates.to_string(),
        layers: relevance
            .iter()
            .enumerate()
            .map(|(l, r)| LayerRelevance {
                layer: l + 1,
                tokens: sizes[l],
                relevance: r / n as f64,
            })
            .collect(),
        hit_rate: hits as f64 / n as f64,
    };
    println!(
        "semantic relevance on {n} images, scorer {} ({}), {}",
        sem.scorer,
        sem.templates,
        checkpoint.display()
    );
    println!("| layer | words | mean normalised score |");
    println!("|---:|---:|---:|");
    for r in &report.layers {
        println!("| {} | {} | {:.4} |", r.layer, r.tokens, r.relevance);
    }
    println!(
        "top-word hit rate (layers 1-{HIT_LAYERS} hold one of the {HIT_WORDS} words nearest the image's name or class): {:.3}",
        report.hit_rate
    );
    if let Some(dir) = out.parent() {
        std::fs::create_dir_all(dir)?;
    }
    spae::io::write_atomic(&out, &serde_json::to_vec_pretty(&report)?)?;
    println!("wrote {}", out.display());
    Ok(())
}
