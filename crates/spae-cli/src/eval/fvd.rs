//! `spae eval fvd A B --i3d I3D.safetensors`: the FVD (Unterthiner et al., 2018) between two sets
//! of clips, each a folder of clips: animated PNG or GIF files, video files read through FFmpeg,
//! or folders of frames. Generated clips against real ones, or two real samples for the noise
//! floor at that sample size. Every clip gives its first `--frames` frames (16 by FVD's
//! convention); the features are journalled clip by clip, so a killed run resumes.

use std::path::{Path, PathBuf};

use anyhow::{bail, ensure, Context, Result};
use burn::tensor::Device;
use clap::Args;
use serde::Serialize;
use spae::data::video::{is_video_file, read_clip_frames};
use spae::eval::fid::{frechet_distance, FeatureStats};
use spae::eval::i3d::{I3d, I3dPort, MIN_FRAMES};
use spae::journal::{Journal, Rows};

use crate::progress;

#[derive(Args)]
pub struct FvdArgs {
    /// A folder of clips (animated PNG / GIF, video files, or folders of frames).
    a: PathBuf,
    /// Another folder of clips.
    b: PathBuf,
    /// I3D weights: `pytorch-i3d`'s state dict converted by `tools/torch_weights.py`.
    #[arg(long)]
    i3d: PathBuf,
    /// Which copy of the port the weights were made for (see `spae eval video --help`).
    #[arg(long, default_value = "videogpt")]
    i3d_port: I3dPort,
    /// Frames read from each clip (its first ones); every clip must have them.
    #[arg(long, default_value_t = 16)]
    frames: usize,
    /// JSON output; the run journal (OUT.journal.rows: every clip's features) goes beside it.
    #[arg(long, default_value = "results/eval/fvd.json")]
    out: PathBuf,
    /// Continue a killed run with the same sets from its journal.
    #[arg(long)]
    resume: bool,
}

#[derive(Serialize)]
struct FvdReport {
    a: String,
    b: String,
    clips_a: usize,
    clips_b: usize,
    frames: usize,
    i3d: String,
    i3d_port: String,
    /// Width of the I3D features (its logits).
    features: usize,
    fvd: f64,
}

/// The clips of folder `dir`, sorted by name: animated PNG / GIF and video files, and folders.
fn clip_paths(dir: &Path) -> Result<Vec<PathBuf>> {
    let is_clip = |p: &Path| {
        p.is_dir()
            || is_video_file(p)
            || p.extension().is_some_and(|e| {
                let e = e.to_string_lossy().to_ascii_lowercase();
                ["png", "apng", "gif"].contains(&e.as_str())
            })
    };
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("{}: cannot read the folder of clips", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| is_clip(p))
        .collect();
    paths.sort();
    ensure!(
        !paths.is_empty(),
        "{}: no clips (animated PNG / GIF, video files or folders of frames)",
        dir.display()
    );
    Ok(paths)
}

/// The first `frames` frames of the clip at `path` as `T x 3 x H x W` floats in `[0, 1]` (alpha
/// over white, gray repeated), with its frame size.
fn read_clip(path: &Path, frames: usize) -> Result<(Vec<f32>, [usize; 2])> {
    let images = read_clip_frames(path, frames)?;
    if images.len() < frames {
        bail!(
            "{}: {} frame(s), fewer than --frames {frames} (every entry of a set must be a clip)",
            path.display(),
            images.len()
        );
    }
    let (h, w) = (images[0].height, images[0].width);
    let mut out = Vec::with_capacity(frames * 3 * h * w);
    for (i, img) in images.iter().enumerate() {
        if (img.height, img.width) != (h, w) {
            bail!(
                "{}: frame {} is {}x{}, frame 1 {w}x{h}",
                path.display(),
                i + 1,
                img.width,
                img.height
            );
        }
        let rgb = img.rgb();
        for c in 0..3 {
            out.extend(rgb[c..].iter().step_by(3).map(|&v| f32::from(v) / 255.0));
        }
    }
    Ok((out, [h, w]))
}

/// The features of every clip of `paths`: those in `done` (journalled) read back, the rest
/// computed and appended to `log`.
fn features(
    net: &I3d,
    paths: &[PathBuf],
    frames: usize,
    label: &str,
    log: &mut Rows,
    done: &mut Vec<f64>,
) -> Result<Vec<f32>> {
    let dim = net.dim();
    let pb = progress::bar(paths.len() as u64, label);
    let mut out = Vec::with_capacity(paths.len() * dim);
    for (i, path) in paths.iter().enumerate() {
        if done.len() >= (i + 1) * dim {
            out.extend(done[i * dim..(i + 1) * dim].iter().map(|&v| v as f32));
        } else {
            let (pixels, [h, w]) = read_clip(path, frames)?;
            let f = net
                .features(&pixels, [frames, 3, h, w])
                .with_context(|| path.display().to_string())?;
            let values: Vec<f64> = f.iter().map(|&v| f64::from(v)).collect();
            log.append(&values, dim)?;
            done.extend(values);
            out.extend(f);
        }
        pb.inc(1);
    }
    pb.finish_and_clear();
    Ok(out)
}

pub fn run(args: FvdArgs, device: &Device) -> Result<()> {
    ensure!(
        args.frames >= MIN_FRAMES,
        "--frames {}: I3D needs at least {MIN_FRAMES}",
        args.frames
    );
    let net = I3d::load(&args.i3d, args.i3d_port, device).context("--i3d: cannot load I3D")?;
    let (pa, pb) = (clip_paths(&args.a)?, clip_paths(&args.b)?);
    let show = |p: &Path| p.display().to_string();
    let port = args.i3d_port.name().to_string();
    let header = serde_json::json!({
        "task": "eval fvd", "a": show(&args.a), "b": show(&args.b), "frames": args.frames,
        "i3d": show(&args.i3d), "i3d_port": port,
    });
    let journal = Journal::beside(&args.out).with_extension("rows");
    let (mut log, done) = Rows::open(&journal, &header, 1, args.resume)?;
    let split = (pa.len() * net.dim()).min(done.len());
    let (mut done_a, mut done_b) = (done[..split].to_vec(), done[split..].to_vec());
    let fa = features(&net, &pa, args.frames, "set a", &mut log, &mut done_a)?;
    let fb = features(&net, &pb, args.frames, "set b", &mut log, &mut done_b)?;
    let (sa, sb) = (
        FeatureStats::new(&fa, net.dim())?,
        FeatureStats::new(&fb, net.dim())?,
    );
    let report = FvdReport {
        a: show(&args.a),
        b: show(&args.b),
        clips_a: pa.len(),
        clips_b: pb.len(),
        frames: args.frames,
        i3d: show(&args.i3d),
        i3d_port: port,
        features: net.dim(),
        fvd: frechet_distance(&sa, &sb)?,
    };
    println!(
        "FVD {:.3} between {} ({} clips) and {} ({} clips), {} frames each",
        report.fvd, report.a, report.clips_a, report.b, report.clips_b, report.frames
    );
    if let Some(dir) = args.out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("{}: cannot create", dir.display()))?;
    }
    spae::io::write_atomic(&args.out, &serde_json::to_vec_pretty(&report)?)
        .with_context(|| format!("{}: cannot write", args.out.display()))?;
    println!("wrote {}", args.out.display());
    Ok(())
}
