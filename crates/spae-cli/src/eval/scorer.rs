//! `spae eval scorer`: a scorer's zero-shot accuracy over class names and its top-word hit
//! rate, measured as CLIP is.

use std::path::PathBuf;

use anyhow::Result;
use burn::tensor::Device;
use clap::Args;
use serde::Serialize;
use spae::assets::Assets;
use spae::eval::concepts::{
    agreement, mutual_information, nearest_neighbour_accuracy, zero_shot_class,
};
use spae::scorer::bridge::{BridgeOptions, Invert};
use spae::semantic::templates::TemplateSet;
use spae::semantic::ScorerKind;
use spae::semantic::SemanticConfig;
use spae::train::guide::scorer_key;
use spae::train::{codebook_text_features, named_dataset, score_images};

use crate::progress;
use spae::semantic::features::{best_words, HIT_WORDS};

use super::write_json;

#[derive(Args)]
pub struct ScorerArgs {
    /// label, name, bridge or clip:DIR.
    #[arg(long, default_value = "bridge")]
    pub scorer: String,
    /// fashion-mnist, mnist or emoji (its categories).
    #[arg(long, default_value = "fashion-mnist")]
    pub dataset: String,
    #[arg(long, default_value = "test")]
    pub split: String,
    /// Images, a class-balanced seeded sample of the split.
    #[arg(long, default_value_t = 1000)]
    pub n: usize,
    /// Canvas side the images are centred on (the tokenizers' input: 32 for 28x28 digits).
    #[arg(long, default_value_t = 32)]
    pub size: usize,
    /// Prompt templates of the class-name and word text features.
    #[arg(long, default_value = "imagenet-7")]
    pub templates: TemplateSet,
    /// Bridge scorer: show light-on-dark images inverted (never, auto, always).
    #[arg(long, value_enum, default_value = "never")]
    pub invert: InvertArg,
    /// Bridge scorer: average in the mirror image.
    #[arg(long)]
    pub flip: bool,
    /// Bridge scorer: only the K most probable ImageNet classes (0: all).
    #[arg(long, default_value_t = 0)]
    pub top_classes: usize,
    /// Bridge scorer: subtract the mean f_img of the scored images (scores relative to the set).
    #[arg(long)]
    pub center: bool,
    /// Bridge scorer: f_img as the mean over each image's K nearest scored images (0: off).
    #[arg(long, default_value_t = 0)]
    pub neighbours: usize,
    /// Bridge scorer: f_img as its cluster's centroid among K k-means clusters (0: off).
    #[arg(long, default_value_t = 0)]
    pub clusters: usize,
    /// Also the top-word hit rate: the share of images whose 5 best-scoring codebook words hold
    /// one of the 50 words nearest their class name (needs the codebook's token text features,
    /// computed once and cached).
    #[arg(long)]
    pub hit_rate: bool,
    #[arg(long, default_value = "assets/codebooks/smollm2")]
    pub codebook: PathBuf,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    #[arg(long, default_value = "results/eval/scorer.json")]
    pub out: PathBuf,
}

#[derive(clap::ValueEnum, Clone, Copy)]
pub enum InvertArg {
    Never,
    Auto,
    Always,
}

#[derive(Serialize)]
struct ScorerReport {
    scorer: String,
    bridge: BridgeOptions,
    templates: String,
    dataset: String,
    images: usize,
    classes: Vec<String>,
    chance: f64,
    zero_shot_accuracy: f64,
    /// Per class: (correct, images).
    per_class: Vec<(usize, usize)>,
    /// Leave-one-out 1-NN accuracy of `f_img` (labels only measure): how well the scorer
    /// separates the classes without naming them.
    nearest_neighbour_accuracy: f64,
    hit_rate: Option<f64>,
    /// The scorer's best word per image (what a guided top layer is pulled towards):
    /// agreement within / across classes and mutual information with the label, in bits.
    top_word_within: Option<f64>,
    top_word_across: Option<f64>,
    top_word_mi_bits: Option<f64>,
}

/// The scorer's best words searched for a hit.
const TOP_WORDS: usize = 5;

pub fn scorer(a: ScorerArgs, assets: &Assets, device: &Device) -> Result<()> {
    let sem = SemanticConfig {
        scorer: a.scorer.parse::<ScorerKind>().map_err(anyhow::Error::msg)?,
        templates: a.templates,
        bridge: BridgeOptions {
            invert: match a.invert {
                InvertArg::Never => Invert::Never,
                InvertArg::Auto => Invert::Auto,
                InvertArg::Always => Invert::Always,
            },
            flip: a.flip,
            top_classes: a.top_classes,
            center: a.center,
            neighbours: a.neighbours,
            clusters: a.clusters,
        },
        ..SemanticConfig::default()
    };
    let full = named_dataset(&a.dataset, assets, crate::common::parse_split(&a.split)?)?;
    if full.width > a.size {
        anyhow::bail!(
            "--size {}: {} images are {}x{}",
            a.size,
            a.dataset,
            full.width,
            full.height
        );
    }
    let set = full.subset(&full.balanced_sample(a.n, a.seed));
    let scores = score_images(&sem, assets, &set, a.size, device)?;
    let templates = sem.templates.templates();
    let class_text: Vec<Vec<f32>> = set
        .class_names
        .iter()
        .map(|c| scores.text.name_feature(templates, c))
        .collect::<Result<_, _>>()?;
    let key = |i: usize| scorer_key(scores.per_image, &set, i) as usize;
    let mut per_class = vec![(0usize, 0usize); set.class_names.len()];
    for i in 0..set.len() {
        let c = set.labels[i] as usize;
        per_class[c].1 += 1;
        if zero_shot_class(&scores.image_features[key(i)], &class_text) == c {
            per_class[c].0 += 1;
        }
    }
    let correct: usize = per_class.iter().map(|p| p.0).sum();
    let features: Vec<Vec<f32>> = (0..set.len())
        .map(|i| scores.image_features[key(i)].clone())
        .collect();
    let nn = nearest_neighbour_accuracy(&features, &set.labels);
    let mut top_words = Vec::new();
    let hit_rate = if a.hit_rate {
        let cb = crate::common::load_codebook(&a.codebook)?;
        let pb = progress::bar(cb.len() as u64, "word features");
        let words = codebook_text_features(
            &cb,
            &scores.text,
            templates,
            &assets.cache_dir(),
            &mut |d| pb.set_position(d as u64),
        )?;
        pb.finish_and_clear();
        let near: Vec<Vec<u32>> = class_text
            .iter()
            .map(|t| best_words(t, &words, HIT_WORDS))
            .collect();
        let hits = (0..set.len())
            .filter(|&i| {
                let best = best_words(&features[i], &words, TOP_WORDS);
                top_words.push(best[0]);
                best.iter()
                    .any(|w| near[set.labels[i] as usize].contains(w))
            })
            .count();
        Some(hits as f64 / set.len() as f64)
    } else {
        None
    };
    let top_agreement = a.hit_rate.then(|| agreement(&top_words, &set.labels));
    let present = per_class.iter().filter(|p| p.1 > 0).count().max(1);
    let report = ScorerReport {
        scorer: sem.scorer.to_string(),
        bridge: sem.bridge,
        templates: sem.templates.to_string(),
        dataset: format!("{}:{}", a.dataset, a.split),
        images: set.len(),
        classes: set.class_names.clone(),
        chance: 1.0 / present as f64,
        zero_shot_accuracy: correct as f64 / set.len().max(1) as f64,
        per_class: per_class.clone(),
        nearest_neighbour_accuracy: nn,
        hit_rate,
        top_word_within: top_agreement.map(|g| g.within),
        top_word_across: top_agreement.map(|g| g.across),
        top_word_mi_bits: a
            .hit_rate
            .then(|| mutual_information(&top_words, &set.labels)),
    };
    println!(
        "scorer {} {:?} on {} ({} images, {} classes): zero-shot accuracy {:.1}% (chance {:.1}%), 1-NN accuracy of f_img {:.1}%{}",
        report.scorer,
        report.bridge,
        report.dataset,
        report.images,
        present,
        100.0 * report.zero_shot_accuracy,
        100.0 * report.chance,
        100.0 * nn,
        hit_rate.map_or(String::new(), |h| format!(
            ", top-{TOP_WORDS}-word hit rate {h:.3}, best word agreement within / across classes {:.3} / {:.3}, MI {:.3} bits",
            report.top_word_within.unwrap_or(0.0),
            report.top_word_across.unwrap_or(0.0),
            report.top_word_mi_bits.unwrap_or(0.0)
        ))
    );
    for (c, (ok, n)) in per_class.iter().enumerate().filter(|(_, p)| p.1 > 0) {
        println!("  {:<24} {:>4}/{:<4}", set.class_names[c], ok, n);
    }
    write_json(&a.out, &report)
}
