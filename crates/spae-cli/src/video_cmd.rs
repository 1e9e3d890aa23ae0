//! Video tokenizers on the command line (issue 19): `spae encode` / `spae decode` given a video
//! model take clips (an animated PNG or GIF, a video file through FFmpeg, or a folder of frames)
//! and write animated PNGs or GIFs.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use burn::tensor::Device;
use spae::assets::Assets;
use spae::checkpoint::{latest, load_state_of};
use spae::config::VideoTrainConfig;
use spae::data::video::{encode_apng, encode_gif, model_clip, read_clip_frames, ClipShape, Frames};
use spae::data::{tile_images, write_png, Fit};
use spae::eval::pairs::chw_to_hwc;
use spae::io::write_atomic;
use spae::tokenizer::video::{EncodedClip, VideoTokenizer};

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
    let shape = tok.clip_shape();
    let mut out = Vec::new();
    for path in clips {
        let images = read_clip_frames(path, shape.frames)?;
        let px = model_clip(&images, shape, fit, path)?;
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

/// A clip (`T x C x S x S` floats in `[0, 1]`) as an animated GIF at `out` when it ends in
/// `.gif`, else an animated PNG (10 frames a second), and its frames side by side at
/// `<out>-frames.png`; returns the strip's path.
pub fn write_clip(out: &Path, px: &[f32], shape: ClipShape) -> Result<PathBuf> {
    let ClipShape {
        frames,
        channels,
        size,
    } = shape;
    // Frames are stored channel-first; the file formats want pixels interleaved.
    let bytes: Vec<u8> = px
        .chunks(shape.per_frame())
        .flat_map(|f| chw_to_hwc(f, channels))
        .map(|v| (v.clamp(0.0, 1.0) * 255.0).round() as u8)
        .collect();
    let gif = out
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("gif"));
    let encode = if gif { encode_gif } else { encode_apng };
    let all = Frames {
        bytes: &bytes,
        count: frames,
        channels,
        height: size,
        width: size,
    };
    let file = encode(all, 100).map_err(anyhow::Error::msg)?;
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("{}: cannot create", dir.display()))?;
    }
    write_atomic(out, &file).with_context(|| format!("{}: cannot write", out.display()))?;
    let stem = out.file_stem().unwrap_or_default().to_string_lossy();
    let strip = out.with_file_name(format!("{stem}-frames.png"));
    write_png(
        &strip,
        &tile_images(&[px.to_vec()], frames, channels, size),
        channels,
        size,
        size * frames,
    )?;
    Ok(strip)
}
