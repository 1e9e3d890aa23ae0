//! `spae eval words`: whether a tokenizer's words are stable within a class and differ across
//! classes, on classes it never saw labelled.

use std::collections::HashMap;
use std::path::PathBuf;

use anyhow::Result;
use burn::tensor::Device;
use clap::Args;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use serde::Serialize;
use spae::assets::Assets;
use spae::eval::concepts::{agreement, entropy, mutual_information};
use spae::train::labels_seen;

use crate::fewshot_run::{load_images, ClassChoiceArgs};
use crate::progress;
use spae_icl::fewshot::select;

use super::write_json;

#[derive(Args)]
pub struct WordsArgs {
    #[arg(long, default_value = "models/fashion-mnist-semantic")]
    pub checkpoint: PathBuf,
    /// Another installed data set than the checkpoint's (fashion-mnist, mnist, emoji).
    #[arg(long)]
    pub dataset: Option<String>,
    #[arg(long, default_value = "test")]
    pub split: String,
    /// Images: a class-balanced seeded sample of the (class-filtered) split.
    #[arg(long, default_value_t = 1000)]
    pub n: usize,
    #[command(flatten)]
    pub choice: ClassChoiceArgs,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    #[arg(long, default_value = "results/eval/words.json")]
    pub out: PathBuf,
}

#[derive(Serialize)]
struct WordsReport {
    checkpoint: PathBuf,
    data: String,
    tokenizer_labels: String,
    all_unseen: bool,
    images: usize,
    classes: usize,
    label_entropy_bits: f64,
    /// The layer-1 (top) word: agreement and mutual information with the label.
    top_word: WordStats,
    /// Layer 2's words, one position at a time, averaged over the positions.
    layer2: WordStats,
    /// Per class: its most frequent top word and the share of its images that have it.
    class_words: Vec<(String, String, f64)>,
}

#[derive(Serialize, Default)]
struct WordStats {
    distinct_words: f64,
    within_class_agreement: f64,
    across_class_agreement: f64,
    mutual_information_bits: f64,
    /// The same estimate with the labels shuffled (the plug-in estimator's bias).
    shuffled_mi_bits: f64,
}

fn word_stats(words: &[u32], labels: &[u32], shuffled: &[u32]) -> WordStats {
    let a = agreement(words, labels);
    let mut distinct = words.to_vec();
    distinct.sort_unstable();
    distinct.dedup();
    WordStats {
        distinct_words: distinct.len() as f64,
        within_class_agreement: a.within,
        across_class_agreement: a.across,
        mutual_information_bits: mutual_information(words, labels),
        shuffled_mi_bits: mutual_information(words, shuffled),
    }
}

pub fn words(a: WordsArgs, assets: &Assets, device: &Device) -> Result<()> {
    let tok = crate::common::tokenizer(&a.checkpoint, assets, device)?;
    let split = crate::common::parse_split(&a.split)?;
    let (full, data) = load_images(&tok, None, a.dataset.as_deref(), split, assets)?;
    let seen = labels_seen(&a.checkpoint, assets)?;
    let (pool, rec) = select(&full, &seen, &a.choice.choice(), usize::MAX)?;
    let set = pool.subset(&pool.balanced_sample(a.n, a.seed));
    let idx: Vec<usize> = (0..set.len()).collect();
    let pb = progress::bar(1, "encoding");
    let ids = tok.word_ids(&set.batch_chw(&idx, tok.image_shape().0), 2)?;
    pb.finish_and_clear();
    let labels = &set.labels;
    let mut shuffled = labels.clone();
    shuffled.shuffle(&mut rand::rngs::StdRng::seed_from_u64(a.seed));
    let top: Vec<u32> = ids.iter().map(|w| w[0]).collect();
    let per = ids[0].len() - 1;
    let mut layer2 = WordStats::default();
    for p in 1..=per {
        let w: Vec<u32> = ids.iter().map(|x| x[p]).collect();
        let s = word_stats(&w, labels, &shuffled);
        layer2.distinct_words += s.distinct_words / per as f64;
        layer2.within_class_agreement += s.within_class_agreement / per as f64;
        layer2.across_class_agreement += s.across_class_agreement / per as f64;
        layer2.mutual_information_bits += s.mutual_information_bits / per as f64;
        layer2.shuffled_mi_bits += s.shuffled_mi_bits / per as f64;
    }
    let texts: HashMap<u32, &str> = tok
        .codebook()
        .words
        .iter()
        .map(|w| (w.id, w.text.as_str()))
        .collect();
    let word_text = |id: u32| texts.get(&id).copied().unwrap_or("?").to_string();
    let mut class_words = Vec::new();
    for c in &rec.classes {
        let label = set.class_names.iter().position(|n| *n == c.name).unwrap() as u32;
        let mut count: HashMap<u32, usize> = HashMap::new();
        let mut n = 0;
        for (w, _) in top.iter().zip(labels).filter(|(_, &l)| l == label) {
            *count.entry(*w).or_default() += 1;
            n += 1;
        }
        if let Some((&w, &k)) = count
            .iter()
            .max_by_key(|(&w, &k)| (k, std::cmp::Reverse(w)))
        {
            class_words.push((c.name.clone(), word_text(w), k as f64 / n as f64));
        }
    }
    let report = WordsReport {
        checkpoint: a.checkpoint.clone(),
        data,
        tokenizer_labels: rec.tokenizer_labels.clone(),
        all_unseen: rec.all_unseen,
        images: set.len(),
        classes: rec.classes.len(),
        label_entropy_bits: entropy(labels),
        top_word: word_stats(&top, labels, &shuffled),
        layer2,
        class_words,
    };
    println!("{}", rec.line());
    println!(
        "{} images of {}, label entropy {:.3} bits",
        report.images, report.data, report.label_entropy_bits
    );
    println!("| words | distinct | agreement within class | across classes | MI with label (bits) | MI, labels shuffled |");
    println!("|---|---:|---:|---:|---:|---:|");
    for (name, s) in [
        ("layer 1 (top word)", &report.top_word),
        ("layer 2 (per position)", &report.layer2),
    ] {
        println!(
            "| {name} | {:.0} | {:.3} | {:.3} | {:.3} | {:.3} |",
            s.distinct_words,
            s.within_class_agreement,
            s.across_class_agreement,
            s.mutual_information_bits,
            s.shuffled_mi_bits
        );
    }
    for (c, w, share) in &report.class_words {
        println!(
            "  {c:<24} top word{w} ({:.0}% of its images)",
            100.0 * share
        );
    }
    write_json(&a.out, &report)
}
