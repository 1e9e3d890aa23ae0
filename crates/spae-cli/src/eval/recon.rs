//! `spae eval recon`: reconstruction quality per decodable pyramid depth.

use std::path::PathBuf;

use anyhow::{bail, Result};
use burn::tensor::Device;
use serde::Serialize;
use spae::assets::Assets;
use spae::data::{tile_images, write_png};
use spae::eval::fid::fid;
use spae::eval::inception::{FidInception, FEATURES};
use spae::eval::lpips::Lpips;
use spae::eval::pairs::image_metrics;
use spae::train::dataset;

use crate::progress;
#[derive(Serialize)]
struct DepthRow {
    depth: usize,
    tokens: usize,
    psnr: f64,
    ssim: f64,
    lpips: f64,
    /// FID between the N reconstructions and the N originals (InceptionV3 pool features);
    /// absent with `--no-fid`.
    fid: Option<f64>,
}

pub(super) fn recon(
    checkpoint: PathBuf,
    split: &str,
    n: usize,
    with_fid: bool,
    out: PathBuf,
    assets: &Assets,
    device: &Device,
) -> Result<()> {
    let split = crate::common::parse_split(split)?;
    let tok = crate::common::tokenizer(&checkpoint, assets, device)?;
    let set = dataset(tok.config(), assets, split)?;
    let lpips = Lpips::load(&assets.path("lpips")?, device)?;
    let n = n.min(set.len());
    if with_fid && n < 2 {
        bail!("FID needs at least 2 images (--n {n}); pass --no-fid for fewer");
    }
    let inception = match with_fid {
        true => Some(FidInception::load(&assets.path("fid")?, device)?),
        false => None,
    };
    let (size, ch) = tok.image_shape();
    let pyramid = tok.pyramid();
    let depths: Vec<usize> = (pyramid.first_decodable_depth()..=pyramid.n_layers()).collect();
    let cumulative = pyramid.cumulative_sizes();
    let mut sums = vec![(0.0, 0.0, 0.0); depths.len()];
    let plane = ch * size * size;
    let show = 8.min(n);
    let mut grid_rows: Vec<Vec<f32>> = vec![Vec::new(); depths.len() + 1];
    // Inception features: the originals first, then each depth's reconstructions.
    let mut features: Vec<Vec<f32>> = vec![Vec::new(); depths.len() + 1];
    let pb = progress::bar(n as u64, "images");
    for start in (0..n).step_by(50) {
        let idx: Vec<usize> = (start..(start + 50).min(n)).collect();
        let x = set.batch_chw(&idx, size);
        let codes = tok.encode_codes(x.clone(), idx.len());
        if let Some(net) = &inception {
            features[0].extend(net.features(&x, [ch, size, size]));
        }
        for (j, &d) in depths.iter().enumerate() {
            let y = tok.decode_codes(&codes.tokens, idx.len(), d)?;
            if let Some(net) = &inception {
                features[j + 1].extend(net.features(&y, [ch, size, size]));
            }
            for (i, m) in image_metrics(&lpips, &x, &y, [idx.len(), ch, size], device)
                .iter()
                .enumerate()
            {
                sums[j].0 += m[0];
                sums[j].1 += m[1];
                sums[j].2 += m[2];
                if start + i < show {
                    grid_rows[j + 1].extend_from_slice(&y[i * plane..(i + 1) * plane]);
                }
            }
        }
        for i in 0..idx.len().min(show.saturating_sub(start)) {
            grid_rows[0].extend_from_slice(&x[i * plane..(i + 1) * plane]);
        }
        pb.inc(idx.len() as u64);
    }
    pb.finish_and_clear();
    let mut rows = Vec::with_capacity(depths.len());
    for (j, (&d, s)) in depths.iter().zip(&sums).enumerate() {
        let fid = match inception {
            Some(_) => Some(fid(&features[0], &features[j + 1], FEATURES)?),
            None => None,
        };
        rows.push(DepthRow {
            depth: d,
            tokens: cumulative[d - 1],
            psnr: s.0 / n as f64,
            ssim: s.1 / n as f64,
            lpips: s.2 / n as f64,
            fid,
        });
    }
    println!(
        "reconstruction on {n} {:?} images, {}",
        split,
        checkpoint.display()
    );
    println!("| depth | tokens | PSNR dB | SSIM | LPIPS | FID |");
    println!("|---:|---:|---:|---:|---:|---:|");
    for r in &rows {
        let fid = r.fid.map_or("-".to_string(), |f| format!("{f:.2}"));
        println!(
            "| {} | {} | {:.2} | {:.4} | {:.4} | {fid} |",
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
