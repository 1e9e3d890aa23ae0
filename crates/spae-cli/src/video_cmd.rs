//! Video tokenizers on the command line (issue 19): `spae encode` / `spae decode` given a video
//! model take clips (an animated PNG or a folder of frames) and write animated PNGs, and
//! `spae eval video` measures reconstructions frame by frame on held-out Moving MNIST clips.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use burn::tensor::Device;
use serde::Serialize;
use spae::assets::Assets;
use spae::checkpoint::{latest, load_state_of};
use spae::config::VideoTrainConfig;
use spae::data::video::{encode_apng, model_clip, moving_mnist_model_clips, read_clip_frames};
use spae::data::{tile_images, write_png, Fit, Split};
use spae::eval::lpips::Lpips;
use spae::eval::pairs::image_metrics;
use spae::io::write_atomic;
use spae::pyramid::PyramidLayout;
use spae::tokenizer::video::{EncodedClip, VideoTokenizer};

use crate::progress;

/// Loads a video checkpoint, run or released model, building its codebook first when it is
/// missing and named after an installed LLM.
pub fn video_tokenizer(path: &Path, assets: &Assets, device: &Device) -> Result<VideoTokenizer> {
    let dir = latest(path)?.unwrap_or_else(|| path.to_path_buf());
    let cfg = load_state_of::<VideoTrainConfig>(&dir)?.config;
    crate::common::ensure(Path::new(&cfg.codebook), assets)?;
    Ok(VideoTokenizer::load(path, device)?)
}

/// `spae encode` with a video model: each clip's word pyramid, as text or JSON.
pub fn encode(
    clips: &[PathBuf],
    checkpoint: &Path,
    fit: Fit,
    json: bool,
    assets: &Assets,
    device: &Device,
) -> Result<()> {
    let tok = video_tokenizer(checkpoint, assets, device)?;
    let (frames, size) = tok.clip_shape();
    let mut out = Vec::new();
    for path in clips {
        let images = read_clip_frames(path)?;
        let px = model_clip(&images, frames, size, fit, path)?;
        let layers = tok.encode(&px)?.remove(0);
        out.push(EncodedClip {
            clip: path.display().to_string(),
            layers,
        });
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(());
    }
    for e in &out {
        println!("{}", e.clip);
        for l in &e.layers {
            let [t, h, w] = l.grid;
            println!("layer {} ({t}x{h}x{w}):{}", l.layer, l.words.concat());
        }
    }
    Ok(())
}

/// `spae decode` with a video model: clip `index` of `spae encode --json` output, from its
/// first `layers` layers, as an animated PNG `out` and a strip of its frames beside it.
pub fn decode(
    tokens: &Path,
    checkpoint: &Path,
    layers: Option<usize>,
    index: usize,
    out: &Path,
    assets: &Assets,
    device: &Device,
) -> Result<()> {
    let tok = video_tokenizer(checkpoint, assets, device)?;
    let text = std::fs::read_to_string(tokens)
        .with_context(|| format!("{}: cannot read", tokens.display()))?;
    let clips: Vec<EncodedClip> = serde_json::from_str(&text).with_context(|| {
        format!(
            "{}: not the JSON of `spae encode --json` with a video model",
            tokens.display()
        )
    })?;
    let clip = clips.get(index).with_context(|| {
        format!(
            "{}: no clip {index} (it holds {})",
            tokens.display(),
            clips.len()
        )
    })?;
    let depth = layers.unwrap_or(clip.layers.len());
    let px = tok
        .decode(std::slice::from_ref(&clip.layers), depth)
        .with_context(|| format!("{}", tokens.display()))?;
    let strip = write_clip(out, &px, tok.clip_shape())?;
    println!(
        "wrote {} (animated) and {} from {depth} layers",
        out.display(),
        strip.display()
    );
    Ok(())
}

/// A clip (`T x S x S` floats in `[0, 1]`) as an animated PNG at `out` (10 frames a second) and
/// its frames side by side at `<out>-frames.png`; returns the strip's path.
pub fn write_clip(out: &Path, px: &[f32], (frames, size): (usize, usize)) -> Result<PathBuf> {
    let bytes: Vec<u8> = px
        .iter()
        .map(|v| (v.clamp(0.0, 1.0) * 255.0).round() as u8)
        .collect();
    let apng = encode_apng(&bytes, frames, 1, size, size, 100).map_err(anyhow::Error::msg)?;
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("{}: cannot create", dir.display()))?;
    }
    write_atomic(out, &apng).with_context(|| format!("{}: cannot write", out.display()))?;
    let stem = out.file_stem().unwrap_or_default().to_string_lossy();
    let strip = out.with_file_name(format!("{stem}-frames.png"));
    write_png(
        &strip,
        &tile_images(&[px.to_vec()], frames, 1, size),
        1,
        size,
        size * frames,
    )?;
    Ok(strip)
}

/// Reconstruction quality at one pyramid depth, averaged over every frame of every clip.
#[derive(Serialize)]
struct DepthRow {
    depth: usize,
    tokens: usize,
    psnr: f64,
    ssim: f64,
    lpips: f64,
    /// PSNR of frame 1, 2, ... averaged over clips.
    psnr_per_frame: Vec<f64>,
}

/// `spae eval video`: PSNR, SSIM and LPIPS frame by frame at each decodable depth on `n`
/// Moving MNIST clips of the held-out digits (seed `seed`), a sheet of the first clips and
/// animated PNGs of the first clip and its reconstruction.
pub fn eval(
    checkpoint: &Path,
    n: usize,
    seed: u64,
    out: &Path,
    assets: &Assets,
    device: &Device,
) -> Result<()> {
    anyhow::ensure!(n > 0, "--clips must be at least 1");
    let tok = video_tokenizer(checkpoint, assets, device)?;
    let cfg = tok.config().clone();
    let (frames, size) = tok.clip_shape();
    let per = frames * size * size;
    let (x, _, _) =
        moving_mnist_model_clips(assets, Split::Test, n, seed, cfg.moving_mnist(), size)?;
    let lpips = Lpips::load(&assets.path("lpips")?, device)?;
    let pyramid = tok.pyramid().clone();
    let depths: Vec<usize> = (pyramid.first_decodable_depth()..=pyramid.n_layers()).collect();
    let cumulative = pyramid.cumulative_sizes();
    let chunk = 4;
    let pb = progress::bar((n * depths.len()) as u64, "eval video: clips");
    let mut recons = vec![Vec::new(); depths.len()];
    let mut sums = vec![(0.0, 0.0, 0.0, vec![0.0; frames]); depths.len()];
    for c in (0..n).step_by(chunk) {
        let b = chunk.min(n - c);
        let clips = &x[c * per..(c + b) * per];
        let codes = tok.encode_codes(clips)?;
        for (k, &depth) in depths.iter().enumerate() {
            let y = tok.decode_codes(&codes.tokens[..depth], b, depth)?;
            let m = image_metrics(&lpips, clips, &y, [b * frames, 1, size], device);
            for (i, [p, s, l]) in m.into_iter().enumerate() {
                let row = &mut sums[k];
                row.0 += p;
                row.1 += s;
                row.2 += l;
                row.3[i % frames] += p;
            }
            if c == 0 {
                recons[k] = y;
            }
            pb.inc(b as u64);
        }
    }
    pb.finish_and_clear();
    let frames_total = (n * frames) as f64;
    let rows: Vec<DepthRow> = depths
        .iter()
        .zip(&sums)
        .map(|(&depth, s)| DepthRow {
            depth,
            tokens: cumulative[depth - 1],
            psnr: s.0 / frames_total,
            ssim: s.1 / frames_total,
            lpips: s.2 / frames_total,
            psnr_per_frame: s.3.iter().map(|v| v / n as f64).collect(),
        })
        .collect();
    println!("{n} held-out Moving MNIST clips (test digits, seed {seed}), {frames} frames of {size}x{size}");
    println!(
        "{:>5} {:>7} {:>8} {:>7} {:>7}",
        "depth", "tokens", "PSNR", "SSIM", "LPIPS"
    );
    for r in &rows {
        println!(
            "{:>5} {:>7} {:>8.2} {:>7.4} {:>7.4}",
            r.depth, r.tokens, r.psnr, r.ssim, r.lpips
        );
    }
    let shown = n.min(chunk);
    let mut sheet = Vec::new();
    for i in 0..shown {
        sheet.push(x[i * per..(i + 1) * per].to_vec());
        for r in &recons {
            sheet.push(r[i * per..(i + 1) * per].to_vec());
        }
    }
    let stem = out.with_extension("");
    let sheet_path = stem.with_extension("png");
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("{}: cannot create", dir.display()))?;
    }
    let grid = tile_images(&sheet, frames, 1, size);
    write_png(&sheet_path, &grid, 1, size * sheet.len(), size * frames)?;
    let name = |s: &str| {
        out.with_file_name(format!(
            "{}-{s}.png",
            stem.file_name().unwrap_or_default().to_string_lossy()
        ))
    };
    write_clip(&name("clip"), &x[..per], (frames, size))?;
    let last = recons.last().context("no decodable depth")?;
    write_clip(&name("recon"), &last[..per], (frames, size))?;
    let report = serde_json::json!({
        "checkpoint": checkpoint.display().to_string(),
        "clips": n,
        "split": "test (held-out MNIST digits)",
        "seed": seed,
        "frames": frames,
        "size": size,
        "depths": rows,
    });
    write_atomic(out, &serde_json::to_vec_pretty(&report)?)
        .with_context(|| format!("{}: cannot write", out.display()))?;
    println!(
        "wrote {}, {} (originals, then one row per depth) and the first clip's animated PNGs",
        out.display(),
        sheet_path.display()
    );
    Ok(())
}
