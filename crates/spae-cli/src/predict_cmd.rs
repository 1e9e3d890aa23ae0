//! In-context video tasks by a frozen LLM with a video tokenizer (issue 19; [`spae_icl::video`]):
//! `spae predict-frames` on held-out clips, against copying the last given frame,
//! and `spae denoise` given a video model (conditional video denoising, against the degraded
//! clip itself).

use std::path::{Path, PathBuf};

use anyhow::Result;
use clap::Args;
use serde::Serialize;
use spae::assets::Assets;
use spae::data::video::{model_clip, read_clip_frames, video_split};
use spae::data::{tile_images, write_png, Split};
use spae::degrade::Degradation;
use spae::device::Device;
use spae::tokenizer::video::VideoTokenizer;
use spae_icl::video::{FrameScores, MeanInterval, VideoConfig, VideoJob, VideoResult, VideoTask};

use crate::common::{LlmArgs, LlmRecord, ProtocolArgs};
use crate::denoise_cmd::DenoiseArgs;
use crate::progress;

/// Held-out clips of the released Moving MNIST tokenizers are drawn with this seed unless told.
const CLIP_SEED: u64 = 1;

#[derive(Args)]
pub struct PredictArgs {
    /// The video tokenizer.
    #[arg(long, default_value = "models/moving-mnist")]
    pub checkpoint: PathBuf,
    /// Held-out clips (Moving MNIST of the test digits, or a folder data set's test files), each
    /// an independent query.
    #[arg(long, default_value_t = 10)]
    pub clips: usize,
    /// Seed of the clips.
    #[arg(long, default_value_t = CLIP_SEED)]
    pub clip_seed: u64,
    /// Frames given; the LLM predicts the rest.
    #[arg(long, default_value_t = 4)]
    pub given: usize,
    #[command(flatten)]
    pub protocol: ProtocolArgs,
    #[command(flatten)]
    pub llm: LlmArgs,
    /// Output folder: predict.json, predict.png and the run journal (predict.jsonl, for
    /// --resume).
    #[arg(long, default_value = "results/video/predict")]
    pub out: PathBuf,
    /// Continue a killed run with the same flags from its journal.
    #[arg(long)]
    pub resume: bool,
}

/// Examples in context of a clip unless `--examples` says otherwise (a clip's prompt is long).
const CLIP_EXAMPLES: usize = 4;

pub fn run(args: PredictArgs, assets: &Assets, device: &Device) -> Result<()> {
    anyhow::ensure!(args.clips > 0, "--clips must be at least 1");
    let tok = crate::video_cmd::video_tokenizer(&args.checkpoint, assets, device)?;
    let split = video_split(
        tok.config(),
        assets,
        Split::Test,
        args.clips,
        args.clip_seed,
    )?;
    let clips = split.pixels;
    let job = Job {
        name: "predict",
        tok: &tok,
        checkpoint: &args.checkpoint,
        clips: &clips,
        source: serde_json::json!({ "test_clips": split.names, "clip_seed": args.clip_seed }),
        llm: &args.llm,
        out: &args.out,
        resume: args.resume,
    };
    let task = VideoTask::Predict { given: args.given };
    job.run(&[task], args.protocol.config(CLIP_EXAMPLES), assets)
}

/// `spae denoise` with a video model: each task on the given clips or `--n` held-out ones.
pub fn denoise_clips(
    args: &DenoiseArgs,
    tasks: &[Degradation],
    assets: &Assets,
    device: &Device,
) -> Result<()> {
    anyhow::ensure!(
        args.compare.is_empty(),
        "--compare: comparing tokenizers is for image models; run each video model on its own"
    );
    let tok = crate::video_cmd::video_tokenizer(&args.checkpoint, assets, device)?;
    let shape = tok.clip_shape();
    let (clips, source) = if args.images.is_empty() {
        anyhow::ensure!(args.n > 0, "--n must be at least 1");
        let split = video_split(tok.config(), assets, Split::Test, args.n, CLIP_SEED)?;
        let source = serde_json::json!({ "test_clips": split.names, "clip_seed": CLIP_SEED });
        (split.pixels, source)
    } else {
        let mut clips = Vec::new();
        for path in &args.images {
            let images = read_clip_frames(path, shape.frames)?;
            clips.extend(model_clip(&images, shape, args.fit.fit(), path)?);
        }
        let names: Vec<String> = args
            .images
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        (clips, serde_json::json!({ "files": names }))
    };
    let job = Job {
        name: "denoise",
        tok: &tok,
        checkpoint: &args.checkpoint,
        clips: &clips,
        source,
        llm: &args.llm,
        out: &args.out,
        resume: args.resume,
    };
    let tasks: Vec<VideoTask> = tasks.iter().map(|&d| VideoTask::Denoise(d)).collect();
    job.run(&tasks, args.protocol.config(CLIP_EXAMPLES), assets)
}

/// One row of the report: the LLM, one task's result and its sheet.
#[derive(Serialize)]
struct Row {
    tokenizer: String,
    #[serde(flatten)]
    llm: LlmRecord,
    config: VideoConfig,
    #[serde(flatten)]
    result: VideoResult,
    sheet: String,
}

/// A video tokenizer's run of one or more tasks on the same clips, one LLM and one journal.
struct Job<'a> {
    /// Names the report (NAME.json) and the journal (NAME.jsonl).
    name: &'static str,
    tok: &'a VideoTokenizer,
    checkpoint: &'a Path,
    clips: &'a [f32],
    /// Where the clips came from, for the report and the journal's header.
    source: serde_json::Value,
    llm: &'a LlmArgs,
    out: &'a Path,
    resume: bool,
}

impl Job<'_> {
    fn run(
        &self,
        tasks: &[VideoTask],
        protocol: spae_icl::denoise::DenoiseConfig,
        assets: &Assets,
    ) -> Result<()> {
        let tok = self.tok;
        let shape = tok.clip_shape();
        let (frames, ch, size) = (shape.frames, shape.channels, shape.size);
        let (path, llm) = self.llm.load(assets, tok.codebook())?;
        let words = self.llm.spellings(&llm, tok.codebook())?;
        let configs: Vec<VideoConfig> = tasks
            .iter()
            .map(|&task| VideoConfig {
                task,
                protocol: protocol.clone(),
            })
            .collect();
        let jobs = configs
            .iter()
            .map(|cfg| VideoJob::new(cfg, tok, &llm, &words))
            .collect::<Result<Vec<_>, _>>()?;
        // Every task writes the same pyramid with the same protocol: one context length.
        let mut backend = self.llm.backend(&llm, jobs[0].n_ctx()?)?;
        let header = serde_json::json!({
            "task": self.name,
            "clips": self.source,
            "llm": self.llm.record(&path),
            "tasks": tasks,
            "protocol": protocol,
        });
        let journal = self.out.join(format!("{}.jsonl", self.name));
        let mut log = crate::common::run_journal(&journal, self.checkpoint, header, self.resume)?;
        let mut rows = Vec::new();
        for (cfg, job) in configs.iter().zip(&jobs) {
            let name = cfg.task.name();
            let mut bars = progress::Bars::default();
            let result = job.run(
                backend.as_mut(),
                self.clips,
                &mut log,
                &mut |done, total| bars.show(done, total, || name.into()),
            )?;
            bars.finish();
            print_result(&result);
            let sheet = self.out.join(format!("{name}.png"));
            let pixels = tile_images(&result.rows, frames, ch, size);
            write_png(&sheet, &pixels, ch, result.rows.len() * size, frames * size)?;
            rows.push(Row {
                tokenizer: self.checkpoint.display().to_string(),
                llm: self.llm.record(&path),
                config: cfg.clone(),
                result,
                sheet: sheet.display().to_string(),
            });
        }
        let report = serde_json::json!({ "clips": self.source, "rows": rows });
        let json = self.out.join(format!("{}.json", self.name));
        spae::io::write_atomic(&json, &serde_json::to_vec_pretty(&report)?)?;
        println!(
            "wrote {} and a sheet per task (per clip: the truth, the condition, the LLM's clip, the clean words decoded; frames across)",
            json.display()
        );
        Ok(())
    }
}

fn print_result(r: &VideoResult) {
    let s = |x: &FrameScores| format!("{:.2} / {:.3}", x.psnr, x.ssim);
    let (what, baseline) = match r.task {
        VideoTask::Predict { given } => (
            format!("{given} of {} frames given", r.frames),
            "copy the last frame",
        ),
        VideoTask::Denoise(d) => (
            format!("every frame degraded ({})", d.name()),
            "the degraded clip",
        ),
    };
    println!(
        "{:<9} {} clips, {what}, {} words a clip, {} passes; PSNR / SSIM over frames {}-{}:",
        r.task.name(),
        r.clips,
        r.words_per_clip,
        r.passes,
        r.scored_from + 1,
        r.frames,
    );
    println!(
        "  LLM {} (words right {:.1}%) | {baseline} {} | least corrupted example {} | clean words {}  [{:.0} s]",
        s(&r.output),
        100.0 * r.word_accuracy,
        s(&r.condition),
        s(&r.best_example),
        s(&r.target),
        r.seconds
    );
    let g = |m: &MeanInterval, d: usize| {
        format!(
            "{:+.d$} (95% CI {:+.d$} to {:+.d$})",
            m.mean,
            m.low,
            m.high,
            d = d
        )
    };
    println!(
        "  LLM minus {baseline}, per clip ({} independent clips): PSNR {} dB, SSIM {}",
        r.psnr_gain.n,
        g(&r.psnr_gain, 2),
        g(&r.ssim_gain, 3)
    );
}
