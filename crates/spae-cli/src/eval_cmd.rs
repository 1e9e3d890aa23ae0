//! `spae eval recon`: reconstruction quality per decodable pyramid depth.

use std::path::PathBuf;

use anyhow::{bail, Result};
use burn::tensor::{Device, Tensor, TensorData};
use clap::Subcommand;
use serde::Serialize;
use spae::assets::Assets;
use spae::data::{tile_images, write_png, Split};
use spae::eval::lpips::Lpips;
use spae::eval::{psnr, ssim};
use spae::tokenizer::ImageTokenizer;
use spae::train::{dataset, to_vec};

use crate::progress;

#[derive(Subcommand)]
pub enum EvalCommand {
    /// PSNR, SSIM and LPIPS per decodable depth on a data split; a PNG grid of reconstructions.
    Recon {
        #[arg(long)]
        checkpoint: PathBuf,
        #[arg(long, default_value = "test")]
        split: String,
        /// Number of images (the first N of the split).
        #[arg(long, default_value_t = 1000)]
        n: usize,
        /// JSON output (default: results/eval/recon.json); the PNG grid goes beside it.
        #[arg(long, default_value = "results/eval/recon.json")]
        out: PathBuf,
    },
}

#[derive(Serialize)]
struct DepthRow {
    depth: usize,
    tokens: usize,
    psnr: f64,
    ssim: f64,
    lpips: f64,
}

pub fn run(cmd: EvalCommand, assets: &Assets) -> Result<()> {
    let EvalCommand::Recon {
        checkpoint,
        split,
        n,
        out,
    } = cmd;
    let split = match split.as_str() {
        "test" => Split::Test,
        "train" => Split::Train,
        other => bail!("unknown split '{other}' (train or test)"),
    };
    let tok = ImageTokenizer::load(&checkpoint)?;
    let set = dataset(&tok.config, assets, split)?;
    let device = Device::flex();
    let lpips = Lpips::load(&assets.path("lpips")?, &device)?;
    let n = n.min(set.len());
    let (size, ch) = tok.image_shape();
    let pyramid = &tok.ctx.pyramid;
    let depths: Vec<usize> = (pyramid.first_decodable_depth()..=pyramid.n_layers()).collect();
    let cumulative = pyramid.cumulative_sizes();
    let mut sums = vec![(0.0, 0.0, 0.0); depths.len()];
    let plane = ch * size * size;
    let show = 8.min(n);
    let mut grid_rows: Vec<Vec<f32>> = vec![Vec::new(); depths.len() + 1];
    let pb = progress::bar(n as u64, "images");
    for start in (0..n).step_by(50) {
        let idx: Vec<usize> = (start..(start + 50).min(n)).collect();
        let x = set.batch_chw(&idx, size);
        let codes = tok.encode_codes(x.clone(), idx.len());
        for (j, &d) in depths.iter().enumerate() {
            let y = tok.decode_codes(&codes.tokens, idx.len(), d)?;
            let signed = |v: &[f32]| {
                let v: Vec<f32> = v.iter().map(|p| p * 2.0 - 1.0).collect();
                Tensor::<4>::from_data(TensorData::new(v, [idx.len(), ch, size, size]), &device)
            };
            sums[j].2 += to_vec(lpips.distance(signed(&x), signed(&y)))
                .iter()
                .map(|&v| f64::from(v))
                .sum::<f64>();
            for i in 0..idx.len() {
                let (a, b) = (
                    &x[i * plane..(i + 1) * plane],
                    &y[i * plane..(i + 1) * plane],
                );
                sums[j].0 += psnr(a, b);
                sums[j].1 += ssim(&chw_to_hwc(a, ch), &chw_to_hwc(b, ch), size, size, ch);
                if start + i < show {
                    grid_rows[j + 1].extend_from_slice(b);
                }
            }
        }
        for i in 0..idx.len().min(show.saturating_sub(start)) {
            grid_rows[0].extend_from_slice(&x[i * plane..(i + 1) * plane]);
        }
        pb.inc(idx.len() as u64);
    }
    pb.finish_and_clear();
    let rows: Vec<DepthRow> = depths
        .iter()
        .zip(&sums)
        .map(|(&d, s)| DepthRow {
            depth: d,
            tokens: cumulative[d - 1],
            psnr: s.0 / n as f64,
            ssim: s.1 / n as f64,
            lpips: s.2 / n as f64,
        })
        .collect();
    println!(
        "reconstruction on {n} {:?} images, {}",
        split,
        checkpoint.display()
    );
    println!("| depth | tokens | PSNR dB | SSIM | LPIPS |");
    println!("|---:|---:|---:|---:|---:|");
    for r in &rows {
        println!(
            "| {} | {} | {:.2} | {:.4} | {:.4} |",
            r.depth, r.tokens, r.psnr, r.ssim, r.lpips
        );
    }
    spae::io::write_atomic(&out, &serde_json::to_vec_pretty(&rows)?)?;
    let png = out.with_extension("png");
    let grid = tile_images(&grid_rows, show, ch, size);
    write_png(&png, &grid, ch, size * grid_rows.len(), size * show)?;
    println!(
        "wrote {} and {} (rows: originals, then depth {:?})",
        out.display(),
        png.display(),
        depths
    );
    Ok(())
}

fn chw_to_hwc(x: &[f32], c: usize) -> Vec<f32> {
    let plane = x.len() / c;
    (0..plane)
        .flat_map(|i| (0..c).map(move |ch| x[ch * plane + i]))
        .collect()
}
