//! `spae denoise`: conditional image denoising in context, the paper's "image generation in a
//! denoising subspace" (Fig. 7). For each image and task, the condition is the degraded image's
//! words; the context holds 10 examples pairing that condition with the image's own words
//! corrupted by random word replacement at rates falling from 50% to 20%; the frozen LLM writes
//! the clean words progressively (Eqs. 10-11) and they decode to pixels, scored against the
//! original with PSNR / SSIM / LPIPS (and the FID of the set) next to two reference outputs: the condition image itself
//! (the trivial baseline) and the least corrupted example (copying the context).

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use serde::Serialize;
use spae::assets::Assets;
use spae::checkpoint::{run_kind, RunKind};
use spae::data::{load_model_image, tile_images, write_png, Split};
use spae::degrade::Degradation;
use spae::device::Device;
use spae::eval::inception::FidInception;
use spae::eval::lpips::Lpips;
use spae::eval::pairs::{Judge, Scores};
use spae::tokenizer::ImageTokenizer;
use spae::train::dataset;
use spae_icl::denoise::{DenoiseConfig, DenoiseResult, Denoiser};

use crate::common::{FitArgs, LlmArgs, LlmRecord, ProtocolArgs};
use crate::progress;

#[derive(Args)]
pub struct DenoiseArgs {
    /// Images (PNG, JPEG or WebP of any size, see --no-resize), or with a video model clips
    /// (animated PNGs or frame folders); none: the first --n test images or held-out clips.
    pub images: Vec<PathBuf>,
    #[command(flatten)]
    pub fit: FitArgs,
    /// inpaint, outpaint, deblur, shift, rotate (comma-separated), or all.
    #[arg(long, default_value = "inpaint")]
    pub task: String,
    /// The tokenizer.
    #[arg(long, default_value = "models/fashion-mnist-semantic")]
    pub checkpoint: PathBuf,
    /// More tokenizers run on the same images and tasks (e.g. an LQAE-style baseline).
    #[arg(long)]
    pub compare: Vec<PathBuf>,
    /// Test images (with a video model: held-out Moving MNIST clips) used when none is given.
    #[arg(long, default_value_t = 8)]
    pub n: usize,
    #[command(flatten)]
    pub protocol: ProtocolArgs,
    #[command(flatten)]
    pub llm: LlmArgs,
    /// Output folder: denoise.json, a grid per tokenizer and task, and a journal per tokenizer
    /// (NAME.jsonl: the words of every finished pass, for --resume).
    #[arg(long, default_value = "results/denoise")]
    pub out: PathBuf,
    /// Continue a killed run with the same flags from its journals: finished passes are read
    /// back, not written again.
    #[arg(long)]
    pub resume: bool,
}

/// One row of denoise.json: a tokenizer, the LLM, one degradation's result and its grid.
#[derive(Serialize)]
struct Row {
    tokenizer: String,
    #[serde(flatten)]
    llm: LlmRecord,
    #[serde(flatten)]
    result: DenoiseResult,
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
    if run_kind(&args.checkpoint)? == RunKind::Video {
        return crate::predict_cmd::denoise_clips(&args, &tasks, assets, device);
    }
    let cfg = args.protocol.config(DenoiseConfig::default().examples);
    let lpips = Lpips::load(&assets.path("lpips")?, device)?;
    let inception = FidInception::load(&assets.path("fid")?, device)?;
    let mut rows = Vec::new();
    let tokenizers = std::iter::once(&args.checkpoint).chain(&args.compare);
    for checkpoint in tokenizers {
        let tok = crate::common::tokenizer(checkpoint, assets, device)?;
        let (path, llm) = args.llm.load(assets, tok.codebook())?;
        let words = args.llm.spellings(&llm, tok.codebook())?;
        let originals = originals(&args, &tok, assets)?;
        let (size, ch) = tok.image_shape();
        let judge = Judge::new(&lpips, &inception, &originals, [ch, size], device);
        let job = Denoiser::new(&cfg, &tok, &llm, &words, &judge)?;
        let mut backend = args.llm.backend(&llm, job.n_ctx()?)?;
        let name = checkpoint
            .file_name()
            .map_or("model".into(), |n| n.to_string_lossy().into_owned());
        let header = serde_json::json!({
            "task": "denoise",
            "images": args.n,
            "llm": args.llm.record(&path),
            "config": cfg,
        });
        let mut log = crate::common::run_journal(
            &args.out.join(format!("{name}.jsonl")),
            checkpoint,
            header,
            args.resume,
        )?;
        for &task in &tasks {
            let mut bars = progress::Bars::default();
            let result = job.run(backend.as_mut(), task, &mut log, &mut |done, total| {
                bars.show(done, total, || task.name().into())
            })?;
            bars.finish();
            // Grid: per image, the condition, each example decoded, the output, the original.
            let cols = cfg.examples + 3;
            let grid = args.out.join(format!("{name}-{}.png", task.name()));
            let n = result.rows.len();
            let pixels = tile_images(&result.rows, cols, ch, size);
            write_png(&grid, &pixels, ch, n * size, cols * size)?;
            let row = Row {
                tokenizer: checkpoint.display().to_string(),
                llm: args.llm.record(&path),
                result,
                grid: grid.display().to_string(),
            };
            print_row(&row);
            rows.push(row);
        }
    }
    let json = args.out.join("denoise.json");
    spae::io::write_atomic(&json, &serde_json::to_vec_pretty(&rows)?)?;
    println!("wrote {} and a grid per tokenizer and task (rows: images; columns: condition, the examples from most to least corrupted, output, original)", json.display());
    Ok(())
}

/// The originals, `n x C x S x S`: the given files or the first test images.
fn originals(args: &DenoiseArgs, tok: &ImageTokenizer, assets: &Assets) -> Result<Vec<f32>> {
    let (size, ch) = tok.image_shape();
    if args.images.is_empty() {
        let test = dataset(tok.config(), assets, Split::Test)?;
        let idx: Vec<usize> = (0..args.n.min(test.len())).collect();
        return Ok(test.batch_chw(&idx, size));
    }
    let mut out = Vec::new();
    for p in &args.images {
        out.extend(load_model_image(p, size, ch, args.fit.fit())?);
    }
    Ok(out)
}

fn print_row(row: &Row) {
    let r = &row.result;
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
