//! `spae eval ...`: evaluation reports, one file per subcommand.

mod fid;
mod fvd;
mod recon;
mod scorer;
mod semantic;
mod video;
mod words;

pub use semantic::SemanticArgs;

use std::path::PathBuf;

use anyhow::Result;
use burn::tensor::Device;
use clap::Subcommand;
use serde::Serialize;
use spae::assets::Assets;
use spae::eval::i3d::I3dPort;

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
        /// JSON output (default: results/eval/recon.json); the PNG grid goes beside it, and
        /// the run journal (OUT.journal.rows: every measured image's scores and features).
        #[arg(long, default_value = "results/eval/recon.json")]
        out: PathBuf,
        /// Continue a killed run with the same flags from its journal: measured images are
        /// read back, not measured again.
        #[arg(long)]
        resume: bool,
    },
    /// A video tokenizer's reconstructions of held-out clips (Moving MNIST of the test digits,
    /// or a folder data set's test files): PSNR, SSIM and LPIPS frame by frame, the FID of the
    /// frames and (--i3d) the FVD of the clips at each decodable depth; a sheet and animated PNGs.
    Video {
        #[arg(long)]
        checkpoint: PathBuf,
        /// Number of clips (a folder data set gives at most its test files' clips).
        #[arg(long, default_value_t = 100)]
        clips: usize,
        /// Seed of the clips (digits, starts and directions).
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Skip the FID of the frames (the Inception network is the slow part).
        #[arg(long)]
        no_fid: bool,
        /// I3D weights for the FVD of the clips (Unterthiner et al.): `pytorch-i3d`'s state dict
        /// (e.g. the Kinetics-400 weights VideoGPT / TATS use) converted by
        /// `tools/torch_weights.py` to safetensors; clips need at least 9 frames.
        #[arg(long)]
        i3d: Option<PathBuf>,
        /// Which copy of the port the I3D weights were made for: videogpt (VideoGPT / TATS,
        /// batch norm epsilon 1e-5: the FVD weights) or pytorch-i3d (epsilon 0.001).
        #[arg(long, default_value = "videogpt")]
        i3d_port: I3dPort,
        /// JSON output; the sheet (OUT with .png) and the first clip's animated PNGs go beside it.
        #[arg(long, default_value = "results/eval/video.json")]
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
        /// JSON output; the run journal (OUT.journal.rows: every image's features) goes beside it.
        #[arg(long, default_value = "results/eval/fid.json")]
        out: PathBuf,
        /// Continue a killed run with the same sets from its journal.
        #[arg(long)]
        resume: bool,
    },
    /// FVD between two folders of clips (animated PNG / GIF, video files, frame folders) from
    /// your own I3D weights (`--i3d`, as for `eval video`): the first `--frames` (16) frames of
    /// each clip.
    Fvd(fvd::FvdArgs),
    /// Semantic relevance of each pyramid layer's words (mean Eq. 6 score under a scorer) and
    /// the top-word hit rate (first two layers hold one of the 50 words nearest the image's
    /// name, emoji, or its class name).
    Semantic(SemanticArgs),
    /// A scorer as CLIP is measured: zero-shot accuracy as a classifier over a data set's class
    /// names, and (--hit-rate) the share of images whose best words name their class.
    Scorer(scorer::ScorerArgs),
    /// Whether a tokenizer's words carry the concept on (unseen) classes: top-word agreement
    /// within vs across classes, mutual information of layer-1 / layer-2 words with the label,
    /// each class's most frequent top word.
    Words(words::WordsArgs),
}

pub fn run(cmd: EvalCommand, assets: &Assets, device: &Device) -> Result<()> {
    match cmd {
        EvalCommand::Video {
            checkpoint,
            clips,
            seed,
            no_fid,
            i3d,
            i3d_port,
            out,
        } => {
            let e = video::VideoEval {
                checkpoint: &checkpoint,
                clips,
                seed,
                fid: !no_fid,
                i3d: i3d.as_deref().map(|p| (p, i3d_port)),
                out: &out,
            };
            video::eval(e, assets, device)
        }
        EvalCommand::Recon {
            checkpoint,
            split,
            n,
            no_fid,
            out,
            resume,
        } => {
            let args = recon::ReconArgs {
                checkpoint,
                split,
                n,
                with_fid: !no_fid,
                out,
                resume,
            };
            recon::recon(args, assets, device)
        }
        EvalCommand::Fid {
            a,
            b,
            canvas,
            out,
            resume,
        } => fid::run(&a, &b, canvas, &out, resume, assets, device),
        EvalCommand::Fvd(a) => fvd::run(a, device),
        EvalCommand::Semantic(a) => semantic::semantic(a, assets, device),
        EvalCommand::Scorer(a) => scorer::scorer(a, assets, device),
        EvalCommand::Words(a) => words::words(a, assets, device),
    }
}

pub(super) fn write_json<T: Serialize>(out: &std::path::Path, report: &T) -> Result<()> {
    if let Some(dir) = out.parent() {
        std::fs::create_dir_all(dir)?;
    }
    spae::io::write_atomic(out, &serde_json::to_vec_pretty(report)?)?;
    println!("wrote {}", out.display());
    Ok(())
}
