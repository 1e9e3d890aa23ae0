//! `spae eval recon`: reconstruction quality per decodable pyramid depth.

use std::collections::HashMap;
use std::path::PathBuf;

use anyhow::{bail, Result};
use burn::tensor::Device;
use clap::Subcommand;
use serde::Serialize;
use spae::assets::Assets;
use spae::data::{tile_images, write_png};
use spae::eval::fid::fid;
use spae::eval::inception::{FidInception, FEATURES};
use spae::eval::lpips::Lpips;
use spae::eval::pairs::image_metrics;
use spae::semantic::features::{best_words, HIT_WORDS};
use spae::semantic::templates::TemplateSet;
use spae::semantic::{ScorerKind, SemanticConfig};
use spae::train::{dataset, score_set};

use crate::progress;

#[derive(Subcommand)]
pub enum EvalCommand {
    /// PSNR, SSIM, LPIPS and FID per decodable depth on a data split; a PNG grid of
    /// reconstructions.
    Recon {
        #[arg(long)]
        checkpoint: PathBuf,
        #[arg(long, default_value = "test")]
        split: String,
        /// Number of images (the first N of the split).
        #[arg(long, default_value_t = 1000)]
        n: usize,
        /// Skip FID (it runs InceptionV3 on every original and reconstruction: about 0.25 s
        /// per image on 2 CPU cores).
        #[arg(long)]
        no_fid: bool,
        /// JSON output (default: results/eval/recon.json); the PNG grid goes beside it.
        #[arg(long, default_value = "results/eval/recon.json")]
        out: PathBuf,
    },
    /// FID between two image sets: each a folder of PNG files or DATASET:SPLIT[:START..END]
    /// (fashion-mnist, mnist, emoji), e.g. fashion-mnist:test:0..1000.
    Fid {
        a: String,
        b: String,
        /// Centre every image on a black square of this side first (the tokenizers see 28x28
        /// digits on a 32x32 canvas).
        #[arg(long)]
        canvas: Option<usize>,
        #[arg(long, default_value = "results/eval/fid.json")]
        out: PathBuf,
    },
    /// Semantic relevance of each pyramid layer's words (mean Eq. 6 score under a scorer) and
    /// the top-word hit rate (first two layers hold one of the 50 words nearest the image's
    /// name, emoji, or its class name).
    Semantic(SemanticArgs),
    /// A scorer as CLIP is measured: zero-shot accuracy as a classifier over a data set's class
    /// names, and (--hit-rate) the share of images whose best words name their class.
    Scorer(crate::concepts_cmd::ScorerArgs),
    /// Whether a tokenizer's words carry the concept on (unseen) classes: top-word agreement
    /// within vs across classes, mutual information of layer-1 / layer-2 words with the label,
    /// each class's most frequent top word.
    Words(crate::concepts_cmd::WordsArgs),
}

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

fn semantic(a: SemanticArgs, assets: &Assets, device: &Device) -> Result<()> {
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

#[derive(Serialize)]
struct DepthRow {
    depth: usize,
    tokens: usize,
    psnr: f64,
    ssim: f64,
    lpips: f64,
    /// FID between the N reconstructions and the N originals (InceptionV3 pool features);
    /// absent with `--no-fid`.
    fid: Option<f64>,
}

pub fn run(cmd: EvalCommand, assets: &Assets, device: &Device) -> Result<()> {
    match cmd {
        EvalCommand::Recon {
            checkpoint,
            split,
            n,
            no_fid,
            out,
        } => recon(checkpoint, &split, n, !no_fid, out, assets, device),
        EvalCommand::Fid { a, b, canvas, out } => {
            crate::fid_cmd::run(&a, &b, canvas, &out, assets, device)
        }
        EvalCommand::Semantic(a) => semantic(a, assets, device),
        EvalCommand::Scorer(a) => crate::concepts_cmd::scorer(a, assets, device),
        EvalCommand::Words(a) => crate::concepts_cmd::words(a, assets, device),
    }
}

fn recon(
    checkpoint: PathBuf,
    split: &str,
    n: usize,
    with_fid: bool,
    out: PathBuf,
    assets: &Assets,
    device: &Device,
) -> Result<()> {
    let split = crate::common::parse_split(split)?;
    let tok = crate::common::tokenizer(&checkpoint, assets, device)?;
    let set = dataset(tok.config(), assets, split)?;
    let lpips = Lpips::load(&assets.path("lpips")?, device)?;
    let n = n.min(set.len());
    if with_fid && n < 2 {
        bail!("FID needs at least 2 images (--n {n}); pass --no-fid for fewer");
    }
    let inception = match with_fid {
        true => Some(FidInception::load(&assets.path("fid")?, device)?),
        false => None,
    };
    let (size, ch) = tok.image_shape();
    let pyramid = tok.pyramid();
    let depths: Vec<usize> = (pyramid.first_decodable_depth()..=pyramid.n_layers()).collect();
    let cumulative = pyramid.cumulative_sizes();
    let mut sums = vec![(0.0, 0.0, 0.0); depths.len()];
    let plane = ch * size * size;
    let show = 8.min(n);
    let mut grid_rows: Vec<Vec<f32>> = vec![Vec::new(); depths.len() + 1];
    // Inception features: the originals first, then each depth's reconstructions.
    let mut features: Vec<Vec<f32>> = vec![Vec::new(); depths.len() + 1];
    let pb = progress::bar(n as u64, "images");
    for start in (0..n).step_by(50) {
        let idx: Vec<usize> = (start..(start + 50).min(n)).collect();
        let x = set.batch_chw(&idx, size);
        let codes = tok.encode_codes(x.clone(), idx.len());
        if let Some(net) = &inception {
            features[0].extend(net.features(&x, [ch, size, size]));
        }
        for (j, &d) in depths.iter().enumerate() {
            let y = tok.decode_codes(&codes.tokens, idx.len(), d)?;
            if let Some(net) = &inception {
                features[j + 1].extend(net.features(&y, [ch, size, size]));
            }
            for (i, m) in image_metrics(&lpips, &x, &y, [idx.len(), ch, size], device)
                .iter()
                .enumerate()
            {
                sums[j].0 += m[0];
                sums[j].1 += m[1];
                sums[j].2 += m[2];
                if start + i < show {
                    grid_rows[j + 1].extend_from_slice(&y[i * plane..(i + 1) * plane]);
                }
            }
        }
        for i in 0..idx.len().min(show.saturating_sub(start)) {
            grid_rows[0].extend_from_slice(&x[i * plane..(i + 1) * plane]);
        }
        pb.inc(idx.len() as u64);
    }
    pb.finish_and_clear();
    let mut rows = Vec::with_capacity(depths.len());
    for (j, (&d, s)) in depths.iter().zip(&sums).enumerate() {
        let fid = match inception {
            Some(_) => Some(fid(&features[0], &features[j + 1], FEATURES)?),
            None => None,
        };
        rows.push(DepthRow {
            depth: d,
            tokens: cumulative[d - 1],
            psnr: s.0 / n as f64,
            ssim: s.1 / n as f64,
            lpips: s.2 / n as f64,
            fid,
        });
    }
    println!(
        "reconstruction on {n} {:?} images, {}",
        split,
        checkpoint.display()
    );
    println!("| depth | tokens | PSNR dB | SSIM | LPIPS | FID |");
    println!("|---:|---:|---:|---:|---:|---:|");
    for r in &rows {
        let fid = r.fid.map_or("-".to_string(), |f| format!("{f:.2}"));
        println!(
            "| {} | {} | {:.2} | {:.4} | {:.4} | {fid} |",
            r.depth, r.tokens, r.psnr, r.ssim, r.lpips
        );
    }
    spae::io::write_atomic(&out, &serde_json::to_vec_pretty(&rows)?)?;
    let png = out.with_extension("png");
    let grid = tile_images(&grid_rows, show, ch, size);
    write_png(&png, &grid, ch, size * grid_rows.len(), size * show)?;
    println!(
        "wrote {} and {} (rows: originals, then depth {:?})",
        out.display(),
        png.display(),
        depths
    );
    Ok(())
}
