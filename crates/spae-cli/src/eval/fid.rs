//! `spae eval fid A B`: the FID between two image sets, each a folder of PNG files or a slice of
//! a data set (`fashion-mnist:test:0..1000`), e.g. generated images against real ones, or two
//! disjoint real samples for the noise floor of an FID at that sample size. A floor should use
//! `DATASET:SPLIT:balanced:N[:SEED]`, a class-balanced seeded random sample, since a slice
//! follows the storage order (the MNIST digits are stored class by class, emoji in code-point
//! order).

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use burn::tensor::Device;
use serde::Serialize;
use spae::assets::Assets;
use spae::data::read_png;
use spae::eval::fid::{frechet_distance, FeatureStats};
use spae::eval::inception::{FidInception, FEATURES};
use spae::train::named_dataset;

use crate::progress;
use spae::journal::Rows;

/// Images of one shape, `n x C x H x W` floats in `[0, 1]`.
struct Batch {
    shape: [usize; 3],
    pixels: Vec<f32>,
}

/// A set's images, grouped into runs of equal shape (in order).
fn load(source: &str, canvas: Option<usize>, assets: &Assets) -> Result<Vec<Batch>> {
    let path = Path::new(source);
    if path.is_dir() {
        return folder(path, canvas);
    }
    let parts: Vec<&str> = source.split(':').collect();
    let (name, split) = match parts[..] {
        [name, split] | [name, split, _] | [name, split, "balanced", _] | [name, split, "balanced", _, _] => {
            (name, crate::common::parse_split(split)?)
        }
        _ => bail!(
            "{source}: neither a folder nor DATASET:SPLIT[:START..END] or DATASET:SPLIT:balanced:N[:SEED]"
        ),
    };
    let set = named_dataset(name, assets, split).with_context(|| source.to_string())?;
    let number = |v: &str, what: &str| {
        v.parse::<u64>()
            .with_context(|| format!("{source}: '{v}' is not {what}"))
    };
    let (start, end) = match parts.get(2) {
        None => (0, set.len()),
        Some(&"balanced") => (0, number(parts[3], "an image count")? as usize),
        Some(range) => {
            let (a, b) = range
                .split_once("..")
                .with_context(|| format!("{source}: a range is START..END"))?;
            let bound = |v: &str| {
                v.parse::<usize>()
                    .with_context(|| format!("{source}: '{v}' is not an image index"))
            };
            (bound(a)?, bound(b)?)
        }
    };
    if start >= end || end > set.len() {
        bail!(
            "{source}: range {start}..{end} is not within the {} images of the split",
            set.len()
        );
    }
    let size = canvas.unwrap_or(set.width.max(set.height));
    if size < set.width.max(set.height) {
        bail!(
            "--canvas {size} is smaller than the {}x{} images",
            set.width,
            set.height
        );
    }
    let indices: Vec<usize> = match parts.get(2) {
        Some(&"balanced") => {
            let seed = parts.get(4).map_or(Ok(0), |v| number(v, "a seed"))?;
            set.balanced_sample(end, seed)
        }
        _ => (start..end).collect(),
    };
    Ok(vec![Batch {
        shape: [set.channels, size, size],
        pixels: set.batch_chw(&indices, size),
    }])
}

/// Every `*.png` directly in `dir`, sorted by name, as RGB (alpha over white, gray repeated);
/// `canvas` centres each on a black square of that side.
fn folder(dir: &Path, canvas: Option<usize>) -> Result<Vec<Batch>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot read {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e.eq_ignore_ascii_case("png")))
        .collect();
    files.sort();
    if files.is_empty() {
        bail!("{}: no PNG files", dir.display());
    }
    let mut batches: Vec<Batch> = Vec::new();
    for file in &files {
        let img = read_png(file)?;
        let (h, w) = (img.height, img.width);
        let (side_h, side_w) = match canvas {
            Some(s) if s < h.max(w) => {
                bail!("{}: {w}x{h} is larger than --canvas {s}", file.display())
            }
            Some(s) => (s, s),
            None => (h, w),
        };
        let (top, left) = ((side_h - h) / 2, (side_w - w) / 2);
        let rgb = img.rgb();
        let mut chw = vec![0f32; 3 * side_h * side_w];
        for y in 0..h {
            for x in 0..w {
                for c in 0..3 {
                    chw[(c * side_h + top + y) * side_w + left + x] =
                        f32::from(rgb[(y * w + x) * 3 + c]) / 255.0;
                }
            }
        }
        let shape = [3, side_h, side_w];
        match batches.last_mut() {
            Some(b) if b.shape == shape => b.pixels.extend(chw),
            _ => batches.push(Batch { shape, pixels: chw }),
        }
    }
    Ok(batches)
}

/// Images in `batches`.
fn count(batches: &[Batch]) -> usize {
    batches
        .iter()
        .map(|b| b.pixels.len() / b.shape.iter().product::<usize>())
        .sum()
}

/// Inception features of every image of `batches`, with progress, continuing after the
/// features `log` holds (one row per image, in order): a chunk of 32 images is computed again
/// only for its images the log lacks.
fn features(
    net: &FidInception,
    batches: &[Batch],
    label: &str,
    log: &mut Rows,
    done: &mut Vec<f64>,
) -> Result<Vec<f32>> {
    let plane = |b: &Batch| b.shape.iter().product::<usize>();
    let total = count(batches);
    let pb = progress::bar(total as u64, label);
    let mut out = Vec::with_capacity(total * FEATURES);
    for b in batches {
        for chunk in b.pixels.chunks(32 * plane(b)) {
            let images = chunk.len() / plane(b);
            let (from, to) = (out.len(), out.len() + images * FEATURES);
            if done.len() >= to {
                out.extend(done[from..to].iter().map(|&v| v as f32));
            } else {
                let f = net.features(chunk, b.shape);
                let new = &f[done.len().max(from) - from..];
                let values: Vec<f64> = new.iter().map(|&v| f64::from(v)).collect();
                log.append(&values, FEATURES)?;
                done.extend(values);
                out.extend(f);
            }
            pb.inc(images as u64);
        }
    }
    pb.finish_and_clear();
    Ok(out)
}

#[derive(Serialize)]
struct FidReport<'a> {
    a: &'a str,
    b: &'a str,
    images_a: usize,
    images_b: usize,
    canvas: Option<usize>,
    fid: f64,
}

/// FID between the image sets `a` and `b`; the features go to a run journal beside `out`
/// (OUT.journal.rows), read back with `resume`.
pub fn run(
    a: &str,
    b: &str,
    canvas: Option<usize>,
    out: &Path,
    resume: bool,
    assets: &Assets,
    device: &Device,
) -> Result<()> {
    let net = FidInception::load(&assets.path("fid")?, device)?;
    let (sa, sb) = (load(a, canvas, assets)?, load(b, canvas, assets)?);
    let header = serde_json::json!({"task": "eval fid", "a": a, "b": b, "canvas": canvas});
    let journal = spae::journal::Journal::beside(out).with_extension("rows");
    let (mut log, done) = Rows::open(&journal, &header, 1, resume)?;
    let n_a = count(&sa);
    let (mut done_a, mut done_b) = match done.len() > n_a * FEATURES {
        true => (
            done[..n_a * FEATURES].to_vec(),
            done[n_a * FEATURES..].to_vec(),
        ),
        false => (done, Vec::new()),
    };
    let fa = features(&net, &sa, "set a", &mut log, &mut done_a)?;
    let fb = features(&net, &sb, "set b", &mut log, &mut done_b)?;
    let (stats_a, stats_b) = (
        FeatureStats::new(&fa, FEATURES)?,
        FeatureStats::new(&fb, FEATURES)?,
    );
    let report = FidReport {
        a,
        b,
        images_a: stats_a.count,
        images_b: stats_b.count,
        canvas,
        fid: frechet_distance(&stats_a, &stats_b)?,
    };
    println!(
        "FID {:.2} between {a} ({} images) and {b} ({} images)",
        report.fid, report.images_a, report.images_b
    );
    if let Some(dir) = out.parent() {
        std::fs::create_dir_all(dir)?;
    }
    spae::io::write_atomic(out, &serde_json::to_vec_pretty(&report)?)?;
    println!("wrote {}", out.display());
    Ok(())
}
