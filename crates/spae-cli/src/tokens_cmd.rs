//! `spae encode` / `spae decode`: images to token pyramids of words and back.

use spae::device::Device;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::Args;
use spae::assets::Assets;
use spae::data::{load_model_image, write_png};

use crate::common::FitArgs;
use crate::video_cmd;
use spae::checkpoint::{run_kind, RunKind};
use spae::tokenizer::{parse_tokens, EncodedImage, LayerTokens, PyramidEncoding};

#[derive(Args)]
pub struct EncodeArgs {
    /// Images: PNG, JPEG or WebP of any size (see --no-resize); with a video model, clips: an
    /// animated PNG or a folder of frames (the first frames the model takes).
    #[arg(required = true)]
    images: Vec<PathBuf>,
    #[command(flatten)]
    fit: FitArgs,
    /// A checkpoint folder or a run folder (its latest checkpoint).
    #[arg(long)]
    checkpoint: PathBuf,
    /// Print JSON (ids, words and positions per layer) instead of one line per layer.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
pub struct DecodeArgs {
    /// Output of `spae encode --json`, or its plain-text form (`layer N (HxW): words ...`; video
    /// models: JSON only).
    tokens: PathBuf,
    #[arg(long)]
    checkpoint: PathBuf,
    /// Decode only the first K layers (default: all).
    #[arg(long)]
    layers: Option<usize>,
    /// Which image of a multi-image JSON file.
    #[arg(long, default_value_t = 0)]
    index: usize,
    /// Output PNG (a video model writes an animated PNG, or a GIF when OUT ends in .gif, and
    /// OUT-frames.png).
    #[arg(long, default_value = "decoded.png")]
    out: PathBuf,
}

pub fn encode(args: EncodeArgs, assets: &Assets, device: &Device) -> Result<()> {
    if run_kind(&args.checkpoint)? == RunKind::Video {
        let fit = args.fit.fit();
        return video_cmd::encode(
            &args.images,
            &args.checkpoint,
            fit,
            args.json,
            assets,
            device,
        );
    }
    let tok = crate::common::tokenizer(&args.checkpoint, assets, device)?;
    let (size, ch) = tok.image_shape();
    let mut out = Vec::new();
    for path in &args.images {
        let px = load_model_image(path, size, ch, args.fit.fit())?;
        let layers = tok.encode(&px)?.layers(0).to_vec();
        out.push(EncodedImage {
            image: path.display().to_string(),
            layers,
        });
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        for e in &out {
            println!("{}", e.image);
            for l in &e.layers {
                println!(
                    "layer {} ({}x{}):{}",
                    l.layer,
                    l.grid[0],
                    l.grid[1],
                    l.words.concat()
                );
            }
        }
    }
    Ok(())
}

/// Reads `encode --json` output, or the plain form `layer N (HxW): w1 w2 ...` (one line a layer).
fn read_layers(path: &Path, index: usize) -> Result<Vec<LayerTokens>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("{}: cannot read", path.display()))?;
    parse_tokens(&text, index).with_context(|| format!("{}", path.display()))
}

pub fn decode(args: DecodeArgs, assets: &Assets, device: &Device) -> Result<()> {
    if run_kind(&args.checkpoint)? == RunKind::Video {
        let (tokens, checkpoint) = (&args.tokens, &args.checkpoint);
        return video_cmd::decode(
            tokens,
            checkpoint,
            args.layers,
            args.index,
            &args.out,
            assets,
            device,
        );
    }
    let tok = crate::common::tokenizer(&args.checkpoint, assets, device)?;
    let layers = read_layers(&args.tokens, args.index)?;
    let depth = args.layers.unwrap_or(layers.len());
    let px = tok
        .decode(&PyramidEncoding::from_layers(vec![layers]), depth)
        .with_context(|| format!("{}", args.tokens.display()))?;
    let (size, ch) = tok.image_shape();
    write_png(&args.out, &px, ch, size, size)?;
    println!("wrote {} from {depth} layers", args.out.display());
    Ok(())
}
