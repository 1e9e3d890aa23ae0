//! `spae predict-frames`: in-context frame prediction by a frozen LLM with a video tokenizer
//! (issue 19; [`spae_icl::video`]), on held-out Moving MNIST clips, against copying the last
//! given frame.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use spae::assets::Assets;
use spae::data::video::moving_mnist_model_clips;
use spae::data::{tile_images, write_png, Split};
use spae::device::Device;
use spae_icl::video::{FramePredictor, FrameScores, PredictConfig};

use crate::common::{LlmArgs, PlanArgs};
use crate::progress;

#[derive(Args)]
pub struct PredictArgs {
    /// The video tokenizer.
    #[arg(long, default_value = "models/moving-mnist")]
    pub checkpoint: PathBuf,
    /// Held-out Moving MNIST clips (test digits), each an independent query.
    #[arg(long, default_value_t = 10)]
    pub clips: usize,
    /// Seed of the clips.
    #[arg(long, default_value_t = 1)]
    pub clip_seed: u64,
    /// Frames given; the LLM predicts the rest.
    #[arg(long, default_value_t = 4)]
    pub given: usize,
    /// Examples in context.
    #[arg(long, default_value_t = 4)]
    pub examples: usize,
    /// Corruption rate of the first example.
    #[arg(long, default_value_t = 0.5)]
    pub rate_from: f64,
    /// Corruption rate of the last example.
    #[arg(long, default_value_t = 0.2)]
    pub rate_to: f64,
    #[command(flatten)]
    pub plan: PlanArgs,
    /// Seed of the corruption.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    #[command(flatten)]
    pub llm: LlmArgs,
    /// Output folder: predict.json, sheet.png and the run journal (predict.jsonl, for --resume).
    #[arg(long, default_value = "results/video/predict")]
    pub out: PathBuf,
    /// Continue a killed run with the same flags from its journal.
    #[arg(long)]
    pub resume: bool,
}

pub fn run(args: PredictArgs, assets: &Assets, device: &Device) -> Result<()> {
    anyhow::ensure!(args.clips > 0, "--clips must be at least 1");
    let cfg = PredictConfig {
        given: args.given,
        examples: args.examples,
        rate_from: args.rate_from,
        rate_to: args.rate_to,
        plan: args.plan.plan(),
        seed: args.seed,
    };
    let tok = crate::video_cmd::video_tokenizer(&args.checkpoint, assets, device)?;
    let (frames, size) = tok.clip_shape();
    let mm = tok.config().moving_mnist();
    let (clips, _, _) =
        moving_mnist_model_clips(assets, Split::Test, args.clips, args.clip_seed, mm, size)?;
    let (path, llm) = args.llm.load(assets, tok.codebook())?;
    let words = args.llm.spellings(&llm, tok.codebook())?;
    let job = FramePredictor::new(&cfg, &tok, &llm, &words)?;
    let mut backend = args.llm.backend(&llm, job.n_ctx()?)?;
    let header = serde_json::json!({
        "task": "predict-frames",
        "clips": args.clips,
        "clip_seed": args.clip_seed,
        "llm": args.llm.record(&path),
        "config": cfg,
    });
    let journal = args.out.join("predict.jsonl");
    let mut log = crate::common::run_journal(&journal, &args.checkpoint, header, args.resume)?;
    let mut bars = progress::Bars::default();
    let result = job.run(backend.as_mut(), &clips, &mut log, &mut |done, total| {
        bars.show(done, total, || "predict".into())
    })?;
    bars.finish();
    let s = |x: &FrameScores| format!("{:.2} / {:.3}", x.psnr, x.ssim);
    println!(
        "{} held-out clips, {} of {frames} frames given, {} words a clip, {} passes; PSNR / SSIM over the {} predicted frames:",
        result.clips,
        result.given,
        result.words_per_clip,
        result.passes,
        frames - result.given
    );
    println!(
        "  LLM {} (words right {:.1}%) | copy the last frame {} | least corrupted example {} | clean words {}  [{:.0} s]",
        s(&result.output),
        100.0 * result.word_accuracy,
        s(&result.copy_last),
        s(&result.best_example),
        s(&result.target),
        result.seconds
    );
    let sheet = args.out.join("sheet.png");
    let pixels = tile_images(&result.rows, frames, 1, size);
    write_png(&sheet, &pixels, 1, result.rows.len() * size, frames * size)?;
    let report = serde_json::json!({
        "checkpoint": args.checkpoint.display().to_string(),
        "llm": args.llm.record(&path),
        "clip_seed": args.clip_seed,
        "config": cfg,
        "result": result,
        "sheet": sheet.display().to_string(),
    });
    let json = args.out.join("predict.json");
    spae::io::write_atomic(&json, &serde_json::to_vec_pretty(&report)?)?;
    println!(
        "wrote {} and {} (per clip: the truth, copying the last frame, the LLM's clip, the clean words decoded)",
        json.display(),
        sheet.display()
    );
    Ok(())
}
