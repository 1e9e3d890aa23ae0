//! `spae denoise`: conditional image denoising in context, the paper's "image generation in a
//! denoising subspace" (Fig. 7). For each image and task, the condition is the degraded image's
//! words; the context holds 10 examples pairing that condition with the image's own words
//! corrupted by random word replacement at rates falling from 50% to 20%; the frozen LLM writes
//! the clean words progressively (Eqs. 10-11) and they decode to pixels, scored against the
//! original with PSNR / SSIM / LPIPS (and the FID of the set) next to two reference outputs: the condition image itself
//! (the trivial baseline) and the least corrupted example (copying the context).

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Result};
use burn::tensor::Device;
use clap::Args;
use serde::Serialize;
use spae::assets::Assets;
use spae::codebook::VocabTokenizer;
use spae::data::{load_model_image, tile_images, write_png, Split};
use spae::degrade::Degradation;
use spae::eval::fid::{frechet_distance, FeatureStats};
use spae::eval::inception::{FidInception, FEATURES};
use spae::eval::lpips::Lpips;
use spae::tokenizer::ImageTokenizer;
use spae::train::dataset;
use spae_icl::denoise;
use spae_icl::progressive::{self, Pass};
use spae_llm::backend::Backend;
use spae_llm::spelling::Spellings;

use crate::common::PlanArgs;
use crate::common::{LlmArgs, LlmRecord};
use crate::eval_cmd::image_metrics;
use crate::progress;
use spae_icl::progressive::PlanKind;

#[derive(Args)]
pub struct DenoiseArgs {
    /// Images (PNG, the model's size or a smaller square); none: the first --n test images.
    pub images: Vec<PathBuf>,
    /// inpaint, outpaint, deblur, shift, rotate (comma-separated), or all.
    #[arg(long, default_value = "inpaint")]
    pub task: String,
    /// The tokenizer.
    #[arg(long, default_value = "models/fashion-mnist-semantic")]
    pub checkpoint: PathBuf,
    /// More tokenizers run on the same images and tasks (e.g. an LQAE-style baseline).
    #[arg(long)]
    pub compare: Vec<PathBuf>,
    /// Test images used when no image is given.
    #[arg(long, default_value_t = 8)]
    pub n: usize,
    /// Examples in context.
    #[arg(long, default_value_t = 10)]
    pub examples: usize,
    /// Corruption rate of the first example.
    #[arg(long, default_value_t = 0.5)]
    pub rate_from: f64,
    /// Corruption rate of the last example.
    #[arg(long, default_value_t = 0.2)]
    pub rate_to: f64,
    #[command(flatten)]
    pub plan: PlanArgs,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    #[command(flatten)]
    pub llm: LlmArgs,
    /// Output folder: denoise.json and a grid per tokenizer and task.
    #[arg(long, default_value = "results/denoise")]
    pub out: PathBuf,
}

/// Mean PSNR (dB), SSIM and LPIPS against the originals, and the FID between the set and the
/// originals (absent below 2 images).
#[derive(Serialize, Default, Clone, Copy)]
struct Scores {
    psnr: f64,
    ssim: f64,
    lpips: f64,
    fid: Option<f64>,
}

/// What judges an output set against the originals.
struct Metrics<'a> {
    lpips: &'a Lpips,
    inception: &'a FidInception,
    /// FID statistics of the originals' Inception features (absent below 2 images).
    reference: Option<FeatureStats>,
}

#[derive(Serialize)]
struct TaskResult {
    tokenizer: String,
    #[serde(flatten)]
    llm: LlmRecord,
    task: Degradation,
    images: usize,
    depth: usize,
    words_per_image: usize,
    plan: PlanKind,
    stride: usize,
    passes: usize,
    /// The LLM's output.
    output: Scores,
    /// The condition image as the output.
    condition: Scores,
    /// The least corrupted example, decoded.
    best_example: Scores,
    /// The clean target words, decoded (what a perfect LLM would reach).
    target: Scores,
    /// Share of the target words the LLM wrote right.
    word_accuracy: f64,
    seconds: f64,
    grid: String,
}

pub fn run(args: DenoiseArgs, assets: &Assets, device: &Device) -> Result<()> {
    let tasks: Vec<Degradation> = if args.task == "all" {
        Degradation::ALL.to_vec()
    } else {
        args.task
            .split(',')
            .map(|t| t.trim().parse().map_err(anyhow::Error::msg))
            .collect::<Result<_>>()?
    };
    let lpips = Lpips::load(&assets.path("lpips")?, device)?;
    let inception = FidInception::load(&assets.path("fid")?, device)?;
    let mut results = Vec::new();
    let tokenizers: Vec<PathBuf> = std::iter::once(args.checkpoint.clone())
        .chain(args.compare.iter().cloned())
        .collect();
    if args.examples == 0 {
        bail!("--examples must be at least 1");
    }
    for checkpoint in &tokenizers {
        let tok = crate::common::tokenizer(checkpoint, assets, device)?;
        let (_, llm) = args.llm.load(assets, &tok.codebook)?;
        let spellings = args.llm.spellings(&llm, &tok.codebook)?;
        let (sizes, passes) = args.plan.plan().passes(tok.pyramid())?;
        let originals = originals(&args, &tok, assets)?;
        let targets = tok.word_ids(&originals, sizes.len())?;
        let (size, ch) = tok.image_shape();
        let reference = inception.features(&originals, [ch, size, size]);
        let metrics = Metrics {
            lpips: &lpips,
            inception: &inception,
            reference: FeatureStats::new(&reference, FEATURES).ok(),
        };
        let target = scores(
            &metrics,
            &tok,
            &originals,
            &tok.decode_ids(&targets, sizes.len())?,
        )?;
        let job = Job {
            name: checkpoint
                .file_name()
                .map_or("model".into(), |n| n.to_string_lossy().into_owned()),
            tok,
            llm: &llm,
            words: spellings,
            metrics,
            originals,
            sizes,
            passes,
            targets,
            target,
        };
        let mut backend = args.llm.backend(&llm, denoise_ctx(&args, &job)?)?;
        for &task in &tasks {
            let r = run_task(&args, &job, backend.as_mut(), task)?;
            print_row(&r);
            results.push(TaskResult {
                tokenizer: checkpoint.display().to_string(),
                ..r
            });
        }
    }
    let json = args.out.join("denoise.json");
    spae::io::write_atomic(&json, &serde_json::to_vec_pretty(&results)?)?;
    println!("wrote {} and a grid per tokenizer and task (rows: images; columns: condition, the examples from most to least corrupted, output, original)", json.display());
    Ok(())
}

/// The context length the denoising prompts need (the same for every image of a tokenizer).
fn denoise_ctx(args: &DenoiseArgs, job: &Job) -> Result<u32> {
    let total: usize = job.sizes.iter().sum();
    let text = |s: &str| job.llm.tokenize(s);
    let longest = vec![job.words.longest(); total];
    let query = [text("input:"), job.words.spell(&longest)?, text(" output:")].concat();
    let examples = vec![
        progressive::Example {
            condition: query.clone(),
            target: longest,
        };
        args.examples
    ];
    let separator = text("\n");
    let ctx = progressive::Context {
        examples: &examples,
        total,
        words: &job.words,
        separator: &separator,
    };
    Ok(progressive::n_ctx(ctx, &[query], &job.passes)?)
}

/// The originals, `n x C x S x S`: the given files or the first test images.
fn originals(args: &DenoiseArgs, tok: &ImageTokenizer, assets: &Assets) -> Result<Vec<f32>> {
    let (size, ch) = tok.image_shape();
    if args.images.is_empty() {
        let test = dataset(&tok.config, assets, Split::Test)?;
        let idx: Vec<usize> = (0..args.n.min(test.len())).collect();
        return Ok(test.batch_chw(&idx, size));
    }
    let mut out = Vec::new();
    for p in &args.images {
        out.extend(load_model_image(p, size, ch)?);
    }
    Ok(out)
}

/// One tokenizer's share of the work.
struct Job<'a> {
    tok: ImageTokenizer,
    llm: &'a spae_llm::Llm,
    /// How `llm` spells the codebook's words.
    words: Spellings,
    metrics: Metrics<'a>,
    /// `n x C x S x S`.
    originals: Vec<f32>,
    /// Names its grids.
    name: String,
    /// Token count of each written layer, and the passes that write them.
    sizes: Vec<usize>,
    passes: Vec<Pass>,
    /// Each original's words (the clean targets), and their decoded scores.
    targets: Vec<Vec<u32>>,
    target: Scores,
}

/// Mean PSNR, SSIM and LPIPS of `outputs` against `originals` (both `n x C x S x S`), and the
/// FID of the two sets.
fn scores(
    metrics: &Metrics,
    tok: &ImageTokenizer,
    originals: &[f32],
    outputs: &[f32],
) -> Result<Scores> {
    let (size, ch) = tok.image_shape();
    let n = originals.len() / (ch * size * size);
    let m = image_metrics(metrics.lpips, originals, outputs, n, ch, size, tok.device());
    let mean = |k: usize| m.iter().map(|v| v[k]).sum::<f64>() / n.max(1) as f64;
    let fid = match &metrics.reference {
        Some(reference) => {
            let features = metrics.inception.features(outputs, [ch, size, size]);
            Some(frechet_distance(
                reference,
                &FeatureStats::new(&features, FEATURES)?,
            )?)
        }
        None => None,
    };
    Ok(Scores {
        psnr: mean(0),
        ssim: mean(1),
        lpips: mean(2),
        fid,
    })
}

fn run_task(
    args: &DenoiseArgs,
    job: &Job,
    backend: &mut dyn Backend,
    task: Degradation,
) -> Result<TaskResult> {
    let (tok, llm, originals) = (&job.tok, job.llm, job.originals.as_slice());
    let (size, ch) = tok.image_shape();
    let plane = ch * size * size;
    let n = originals.len() / plane;
    let (plan, targets) = (&job.passes, &job.targets);
    let (depth, total) = (job.sizes.len(), job.sizes.iter().sum::<usize>());
    let conditions: Vec<f32> = originals
        .chunks(plane)
        .flat_map(|x| task.apply(x, ch, size))
        .collect();
    let cond_words = tok.word_ids(&conditions, depth)?;
    let vocab = job.words.ids();
    let (before, after, separator) = (
        llm.tokenize("input:"),
        llm.tokenize(" output:"),
        llm.tokenize("\n"),
    );
    let t0 = Instant::now();
    let pb = progress::bar((n * plan.len()) as u64, task.name());
    let mut written = Vec::with_capacity(n);
    // Every example's target, image by image.
    let mut context: Vec<Vec<u32>> = Vec::with_capacity(n * args.examples);
    for i in 0..n {
        let query = [before.as_slice(), &job.words.spell(&cond_words[i])?, &after].concat();
        let examples = denoise::examples(
            &query,
            &targets[i],
            args.examples,
            (args.rate_from, args.rate_to),
            vocab,
            args.seed.wrapping_add(i as u64),
        )?;
        let ctx = progressive::Context {
            examples: &examples,
            total,
            words: &job.words,
            separator: &separator,
        };
        let out = progressive::decode(backend, ctx, &[query], plan, || pb.inc(1))?;
        written.push(out.into_iter().next().expect("one query"));
        context.extend(examples.into_iter().map(|e| e.target));
    }
    pb.finish_and_clear();
    let seconds = t0.elapsed().as_secs_f64();
    let output = tok.decode_ids(&written, depth)?;
    let context_pixels = tok.decode_ids(&context, depth)?;
    // The least corrupted example of each image is its last.
    let best_pixels: Vec<f32> = context_pixels
        .chunks(args.examples * plane)
        .flat_map(|c| c[c.len() - plane..].to_vec())
        .collect();
    let score = |y: &[f32]| scores(&job.metrics, tok, originals, y);
    let right: usize = written
        .iter()
        .zip(targets)
        .map(|(w, t)| w.iter().zip(t).filter(|(a, b)| a == b).count())
        .sum();
    // Grid: per image, the condition, each example decoded, the output, the original.
    let mut rows = Vec::with_capacity(n);
    for i in 0..n {
        let mut row = conditions[i * plane..(i + 1) * plane].to_vec();
        row.extend_from_slice(
            &context_pixels[i * args.examples * plane..(i + 1) * args.examples * plane],
        );
        row.extend_from_slice(&output[i * plane..(i + 1) * plane]);
        row.extend_from_slice(&originals[i * plane..(i + 1) * plane]);
        rows.push(row);
    }
    let cols = args.examples + 3;
    let grid = args.out.join(format!("{}-{}.png", job.name, task.name()));
    write_png(
        &grid,
        &tile_images(&rows, cols, ch, size),
        ch,
        n * size,
        cols * size,
    )?;
    Ok(TaskResult {
        tokenizer: String::new(),
        llm: args.llm.record(job.llm.path()),
        task,
        images: n,
        depth,
        words_per_image: total,
        plan: args.plan.plan,
        stride: args.plan.stride,
        passes: plan.len(),
        output: score(&output)?,
        condition: score(&conditions)?,
        best_example: score(&best_pixels)?,
        target: job.target,
        word_accuracy: right as f64 / (n * total).max(1) as f64,
        seconds,
        grid: grid.display().to_string(),
    })
}

fn print_row(r: &TaskResult) {
    let s = |x: &Scores| {
        let fid = x.fid.map_or("-".into(), |f| format!("{f:.1}"));
        format!("{:.2} / {:.3} / {:.3} / {fid}", x.psnr, x.ssim, x.lpips)
    };
    println!(
        "{:<9} {} images, {} words, {} passes (PSNR / SSIM / LPIPS / FID): LLM {} (words right {:.1}%) | condition {} | least corrupted example {} | clean words {}  [{:.0} s]",
        r.task.name(),
        r.images,
        r.words_per_image,
        r.passes,
        s(&r.output),
        100.0 * r.word_accuracy,
        s(&r.condition),
        s(&r.best_example),
        s(&r.target),
        r.seconds
    );
}
