//! `spae generate mnist`: in-context text-to-image, the paper's MNIST task. The frozen LLM sees
//! 50 examples "an image of {digit}: {words}" and writes the words of a new image for a query such
//! as "an image of 1+7", progressively (Eqs. 10-11); the words decode to pixels, and the project's
//! digit classifier (`spae classifier`) judges whether the image shows the intended digit.

use spae::device::Device;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context as _, Result};
use clap::{Args, ValueEnum};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use serde::Serialize;
use spae::assets::Assets;
use spae::codebook::VocabTokenizer;
use spae::data::{tile_images, write_png, Split};
use spae::eval::classifier;
use spae::tokenizer::ImageTokenizer;
use spae::train::dataset;
use spae_icl::fewshot::wilson_interval;
use spae_icl::progressive::{self, Example, PlanKind};
use spae_icl::text2image::{
    condition, intended_digit, mnist_queries, subject_of, DigitQuery, DEFAULT_TEMPLATE,
};
use spae_llm::backend::SessionStats;

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
    /// Output folder: generate.json, grid.png, index.html, images/.
    #[arg(long, default_value = "results/generate/mnist")]
    pub out: PathBuf,
}

/// One generated image.
#[derive(Serialize)]
struct Generated {
    query: String,
    subject: String,
    kind: &'static str,
    intended: Option<usize>,
    classified: usize,
    correct: Option<bool>,
    /// Fewest differing tokens to any example's target.
    nearest_example_token_distance: usize,
    /// Smallest pixel RMSE to any example's reconstruction.
    nearest_example_rmse: f64,
    words: String,
    image: String,
}

#[derive(Serialize)]
struct KindSummary {
    kind: &'static str,
    queries: usize,
    correct: usize,
    accuracy: f64,
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
    examples: usize,
    template: &'a str,
    depth: usize,
    words_per_image: usize,
    plan: PlanKind,
    stride: usize,
    passes: usize,
    judged: usize,
    correct: usize,
    accuracy: f64,
    ci95: (f64, f64),
    chance: f64,
    by_kind: Vec<KindSummary>,
    identical_to_an_example: usize,
    mean_nearest_example_rmse: f64,
    seconds: f64,
    stats: SessionStats,
    images: Vec<Generated>,
}

pub fn run(args: GenerateArgs, assets: &Assets, device: &Device) -> Result<()> {
    let Task::Mnist = args.task;
    let tok = crate::common::tokenizer(&args.checkpoint, assets, device)?;
    if tok.config.data.dataset != spae::data::DatasetName::Mnist {
        bail!(
            "{} is a tokenizer of {}, not of the MNIST digits",
            args.checkpoint.display(),
            tok.config.data.dataset
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
    let (sizes, passes) = args.plan.plan().passes(tok.pyramid())?;
    let (depth, total) = (sizes.len(), sizes.iter().sum::<usize>());
    let queries: Vec<DigitQuery> = if args.queries.is_empty() {
        mnist_queries()
    } else {
        args.queries
            .iter()
            .map(|q| {
                let subject = subject_of(&args.template, q);
                DigitQuery {
                    digit: intended_digit(&subject),
                    subject,
                    kind: "query",
                }
            })
            .collect()
    };

    // The examples: `examples` train digits, as even over the classes as the count allows.
    let train = dataset(&tok.config, assets, Split::Train)?;
    let chosen = choose_examples(&train.labels, args.examples, args.seed)?;
    let targets = tok.word_ids(&train.batch_chw(&chosen, tok.image_shape().0), depth)?;
    let (path, llm) = args.llm.load(assets, &tok.codebook)?;
    let words = args.llm.spellings(&llm, &tok.codebook)?;
    let text = |s: &str| llm.tokenize(s);
    let examples: Vec<Example> = chosen
        .iter()
        .zip(&targets)
        .map(|(&i, t)| {
            Ok(Example {
                condition: text(&condition(&args.template, &train.labels[i].to_string())?),
                target: t.clone(),
            })
        })
        .collect::<Result<_>>()?;
    let conditions: Vec<String> = queries
        .iter()
        .map(|q| condition(&args.template, &q.subject))
        .collect::<Result<_, _>>()?;
    let prompts: Vec<Vec<u32>> = conditions.iter().map(|c| text(c)).collect();
    let separator = text("\n");
    let ctx = progressive::Context {
        examples: &examples,
        total,
        words: &words,
        separator: &separator,
    };

    let mut backend = args
        .llm
        .backend(&llm, progressive::n_ctx(ctx, &prompts, &passes)?)?;
    let pb = progress::bar((passes.len() * queries.len()) as u64, "generate");
    let (t0, before) = (Instant::now(), backend.stats());
    let written = progressive::decode(backend.as_mut(), ctx, &prompts, &passes, || pb.inc(1))?;
    pb.finish_and_clear();
    let seconds = t0.elapsed().as_secs_f64();
    let stats = backend.stats().since(&before);

    let pixels = tok.decode_ids(&written, depth)?;
    let classified = judge.predict(pixels.clone(), written.len(), size);
    let example_pixels = tok.decode_ids(&targets, depth)?;
    let plane = size * size;
    fs_create(&args.out.join("images"))?;
    let mut images = Vec::new();
    for (i, q) in queries.iter().enumerate() {
        let img = &pixels[i * plane..(i + 1) * plane];
        let file = format!("images/{i:03}.png");
        write_png(&args.out.join(&file), img, 1, size, size)?;
        let intended = q.digit;
        images.push(Generated {
            query: conditions[i].clone(),
            subject: q.subject.clone(),
            kind: q.kind,
            intended,
            classified: classified[i],
            correct: intended.map(|d| d == classified[i]),
            nearest_example_token_distance: targets
                .iter()
                .map(|t| t.iter().zip(&written[i]).filter(|(a, b)| a != b).count())
                .min()
                .unwrap_or(total),
            nearest_example_rmse: example_pixels
                .chunks(plane)
                .map(|e| rmse(e, img))
                .fold(f64::INFINITY, f64::min),
            words: llm.detokenize(&words.spell(&written[i])?),
            image: file,
        });
    }
    let judged: Vec<&Generated> = images.iter().filter(|g| g.correct.is_some()).collect();
    let correct = judged.iter().filter(|g| g.correct == Some(true)).count();
    let mut kinds: Vec<&'static str> = images.iter().map(|g| g.kind).collect();
    kinds.dedup();
    let by_kind = kinds
        .iter()
        .map(|&kind| {
            let of: Vec<&&Generated> = judged.iter().filter(|g| g.kind == kind).collect();
            let right = of.iter().filter(|g| g.correct == Some(true)).count();
            KindSummary {
                kind,
                queries: of.len(),
                correct: right,
                accuracy: right as f64 / of.len().max(1) as f64,
            }
        })
        .collect();
    let report = Report {
        llm: args.llm.record(&path),
        checkpoint: args.checkpoint.display().to_string(),
        classifier_test_accuracy: judge_cfg.test_accuracy,
        classifier_on_reconstructions: reconstruction_ceiling(&tok, &judge, assets, depth)?,
        examples: examples.len(),
        template: &args.template,
        depth,
        words_per_image: total,
        plan: args.plan.plan,
        stride: args.plan.stride,
        passes: passes.len(),
        judged: judged.len(),
        correct,
        accuracy: correct as f64 / judged.len().max(1) as f64,
        ci95: wilson_interval(correct, judged.len()),
        chance: 0.1,
        by_kind,
        identical_to_an_example: images
            .iter()
            .filter(|g| g.nearest_example_token_distance == 0)
            .count(),
        mean_nearest_example_rmse: images.iter().map(|g| g.nearest_example_rmse).sum::<f64>()
            / images.len().max(1) as f64,
        seconds,
        stats,
        images,
    };
    write_outputs(&args.out, &report, &pixels, size)?;
    print_report(&report);
    Ok(())
}

/// `n` indices of `labels`, as even over the classes as `n` allows (seeded), in a seeded order.
fn choose_examples(labels: &[u32], n: usize, seed: u64) -> Result<Vec<usize>> {
    let classes = labels.iter().max().map_or(0, |&m| m as usize + 1);
    let mut rng = StdRng::seed_from_u64(seed);
    let mut per_class: Vec<Vec<usize>> = vec![Vec::new(); classes];
    for (i, &l) in labels.iter().enumerate() {
        per_class[l as usize].push(i);
    }
    for c in &mut per_class {
        c.shuffle(&mut rng);
    }
    let mut out = Vec::with_capacity(n);
    for round in 0.. {
        if out.len() == n {
            break;
        }
        let before = out.len();
        for c in &per_class {
            if let Some(&i) = c.get(round).filter(|_| out.len() < n) {
                out.push(i);
            }
        }
        if out.len() == before {
            bail!("{n} examples asked for, the data set has {}", out.len());
        }
    }
    out.shuffle(&mut rng);
    Ok(out)
}

fn rmse(a: &[f32], b: &[f32]) -> f64 {
    let se: f64 = a.iter().zip(b).map(|(x, y)| f64::from(x - y).powi(2)).sum();
    (se / a.len().max(1) as f64).sqrt()
}

/// The classifier's accuracy on the reconstructions at `depth` of the first 1000 test digits.
fn reconstruction_ceiling(
    tok: &ImageTokenizer,
    judge: &classifier::Classifier,
    assets: &Assets,
    depth: usize,
) -> Result<f64> {
    let test = dataset(&tok.config, assets, Split::Test)?;
    let n = test.len().min(1000);
    let (size, _) = tok.image_shape();
    let mut right = 0;
    let all: Vec<usize> = (0..n).collect();
    for idx in all.chunks(200) {
        let codes = tok.encode_codes(test.batch_chw(idx, size), idx.len());
        let pixels = tok.decode_codes(&codes.tokens[..depth], idx.len(), depth)?;
        let pred = judge.predict(pixels, idx.len(), size);
        right += idx
            .iter()
            .zip(pred)
            .filter(|(&i, p)| *p == test.labels[i] as usize)
            .count();
    }
    Ok(right as f64 / n.max(1) as f64)
}

fn fs_create(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))
}

fn write_outputs(out: &Path, report: &Report, pixels: &[f32], size: usize) -> Result<()> {
    let json = out.join("generate.json");
    spae::io::write_atomic(&json, &serde_json::to_vec_pretty(report)?)?;
    let plane = size * size;
    let cols = 10;
    let rows: Vec<Vec<f32>> = pixels.chunks(cols * plane).map(|r| r.to_vec()).collect();
    let grid = tile_images(&rows, cols, 1, size);
    write_png(
        &out.join("grid.png"),
        &grid,
        1,
        rows.len() * size,
        cols * size,
    )?;
    let mut html = String::from(
        "<!doctype html><meta charset=\"utf-8\"><title>spae generate</title>\n<style>body{font-family:sans-serif}td{padding:4px 10px}img{width:64px;image-rendering:pixelated}</style>\n",
    );
    let _ = writeln!(
        html,
        "<h1>In-context text-to-image</h1><p>{} examples, depth {} ({} words), plan {}, {} of {} judged images show the intended digit ({:.1}%).</p>",
        report.examples,
        report.depth,
        report.words_per_image,
        serde_json::to_string(&report.plan)?.trim_matches('"'),
        report.correct,
        report.judged,
        100.0 * report.accuracy
    );
    html.push_str("<table><tr><th>query</th><th>image</th><th>intended</th><th>classified</th><th>nearest example (RMSE, tokens)</th></tr>\n");
    for g in &report.images {
        let _ = writeln!(
            html,
            "<tr><td>{}</td><td><img src=\"{}\"></td><td>{}</td><td>{}{}</td><td>{:.3}, {}</td></tr>",
            escape(&g.query),
            g.image,
            g.intended.map_or("-".into(), |d| d.to_string()),
            g.classified,
            match g.correct {
                Some(true) => " &#10003;",
                Some(false) => " &#10007;",
                None => "",
            },
            g.nearest_example_rmse,
            g.nearest_example_token_distance
        );
    }
    html.push_str("</table>\n");
    let page = out.join("index.html");
    spae::io::write_atomic(&page, html.as_bytes())?;
    Ok(())
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn print_report(r: &Report) {
    println!(
        "{} examples, depth {} ({} words per image), plan {} with stride {}: {} passes",
        r.examples,
        r.depth,
        r.words_per_image,
        serde_json::to_string(&r.plan)
            .unwrap_or_default()
            .trim_matches('"'),
        r.stride,
        r.passes
    );
    if r.images.len() <= 20 {
        for g in &r.images {
            println!(
                "{:<45} -> classified {}{}  (nearest example: RMSE {:.3}, {} tokens apart)  {}",
                g.query,
                g.classified,
                g.intended
                    .map_or(String::new(), |d| format!(", intended {d}")),
                g.nearest_example_rmse,
                g.nearest_example_token_distance,
                g.image
            );
        }
    }
    println!("| queries | judged | intended digit | share |");
    println!("|---|---:|---:|---:|");
    for k in &r.by_kind {
        println!(
            "| {} | {} | {} | {:.1}% |",
            k.kind,
            k.queries,
            k.correct,
            100.0 * k.accuracy
        );
    }
    println!(
        "| all | {} | {} | {:.1}% (95% CI {:.1}-{:.1}; chance 10%) |",
        r.judged,
        r.correct,
        100.0 * r.accuracy,
        100.0 * r.ci95.0,
        100.0 * r.ci95.1
    );
    println!(
        "classifier: {:.2}% on held-out digits, {:.1}% on their depth-{} reconstructions; {} images identical to an example, mean nearest-example RMSE {:.3}",
        100.0 * r.classifier_test_accuracy.unwrap_or(f64::NAN),
        100.0 * r.classifier_on_reconstructions,
        r.depth,
        r.identical_to_an_example,
        r.mean_nearest_example_rmse
    );
    println!(
        "{:.0} s; {} prompt tokens processed ({} reused), {} written",
        r.seconds, r.stats.prompt_tokens, r.stats.reused_tokens, r.stats.generated_tokens
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn examples_are_even_over_classes() {
        let labels: Vec<u32> = (0..100).map(|i| i % 10).collect();
        let chosen = choose_examples(&labels, 25, 0).unwrap();
        assert_eq!(chosen.len(), 25);
        let mut counts = [0; 10];
        for &i in &chosen {
            counts[labels[i] as usize] += 1;
        }
        assert!(counts.iter().all(|&c| c == 2 || c == 3), "{counts:?}");
        assert_eq!(choose_examples(&labels, 25, 0).unwrap(), chosen, "seeded");
        assert!(choose_examples(&labels, 101, 0).is_err());
    }

    #[test]
    fn rmse_by_hand() {
        assert!((rmse(&[0.0, 1.0], &[1.0, 1.0]) - 0.5f64.sqrt()).abs() < 1e-12);
    }
}
