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
use spae::journal::Rows;
use spae::pyramid::PyramidLayout;
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

/// What `spae eval recon` measures and where it goes.
pub struct ReconArgs {
    pub checkpoint: PathBuf,
    pub split: String,
    pub n: usize,
    pub with_fid: bool,
    pub out: PathBuf,
    pub resume: bool,
}

/// Images per batch (and per journal unit).
const BATCH: usize = 50;

pub(super) fn recon(args: ReconArgs, assets: &Assets, device: &Device) -> Result<()> {
    let ReconArgs {
        checkpoint,
        split,
        n,
        with_fid,
        out,
        resume,
    } = args;
    let split_name = split;
    let split = crate::common::parse_split(&split_name)?;
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
    let plane = ch * size * size;
    let show = 8.min(n);
    let mut grid_rows: Vec<Vec<f32>> = vec![Vec::new(); depths.len() + 1];
    // One journal row per image: PSNR, SSIM and LPIPS at each depth, then (with FID) the
    // Inception features of the original and of each depth's reconstruction.
    let width = 3 * depths.len()
        + if with_fid {
            FEATURES * (depths.len() + 1)
        } else {
            0
        };
    let header = serde_json::json!({
        "task": "eval recon",
        "weights": crate::common::weights(&checkpoint)?,
        "split": split_name,
        "images": n,
        "fid": with_fid,
    });
    let journal = spae::journal::Journal::beside(&out).with_extension("rows");
    let (mut log, mut values) = Rows::open(&journal, &header, BATCH, resume)?;
    let done = values.len() / width;
    if resume {
        tracing::info!("resuming {}: {done} of {n} images done", journal.display());
    }
    let pb = progress::bar(n as u64, "images");
    for start in (0..n).step_by(BATCH) {
        let idx: Vec<usize> = (start..(start + BATCH).min(n)).collect();
        let measured = start < done;
        if measured && start >= show {
            pb.inc(idx.len() as u64);
            continue;
        }
        // A batch measured before a kill is decoded again only for the grid's first images.
        let x = set.batch_chw(&idx, size);
        let codes = tok.encode_codes(x.clone(), idx.len());
        let mut rows = vec![Vec::with_capacity(width); idx.len()];
        let mut feats: Vec<Vec<f32>> = Vec::new();
        if let (Some(net), false) = (&inception, measured) {
            feats.push(net.features(&x, [ch, size, size]));
        }
        for (j, &d) in depths.iter().enumerate() {
            let y = tok.decode_codes(&codes.tokens, idx.len(), d)?;
            for i in 0..idx.len().min(show.saturating_sub(start)) {
                grid_rows[j + 1].extend_from_slice(&y[i * plane..(i + 1) * plane]);
            }
            if measured {
                continue;
            }
            if let Some(net) = &inception {
                feats.push(net.features(&y, [ch, size, size]));
            }
            let metrics = image_metrics(&lpips, &x, &y, [idx.len(), ch, size], device);
            for (row, m) in rows.iter_mut().zip(&metrics) {
                row.extend(m.iter().copied());
            }
        }
        for i in 0..idx.len().min(show.saturating_sub(start)) {
            grid_rows[0].extend_from_slice(&x[i * plane..(i + 1) * plane]);
        }
        if !measured {
            for (i, row) in rows.iter_mut().enumerate() {
                for f in &feats {
                    row.extend(
                        f[i * FEATURES..(i + 1) * FEATURES]
                            .iter()
                            .map(|&v| f64::from(v)),
                    );
                }
            }
            let flat: Vec<f64> = rows.concat();
            log.append(&flat, width)?;
            values.extend(flat);
        }
        pb.inc(idx.len() as u64);
    }
    pb.finish_and_clear();
    // The figures from the journal's rows, image by image in order (whether measured in this
    // run or before a kill).
    let mut sums = vec![(0.0, 0.0, 0.0); depths.len()];
    let mut features: Vec<Vec<f32>> = vec![Vec::new(); depths.len() + 1];
    for row in values.chunks(width) {
        for (j, s) in sums.iter_mut().enumerate() {
            s.0 += row[3 * j];
            s.1 += row[3 * j + 1];
            s.2 += row[3 * j + 2];
        }
        if with_fid {
            let f = &row[3 * depths.len()..];
            for (k, part) in features.iter_mut().enumerate() {
                part.extend(
                    f[k * FEATURES..(k + 1) * FEATURES]
                        .iter()
                        .map(|&v| v as f32),
                );
            }
        }
    }
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
