//! `spae eval video`: a video tokenizer's reconstructions of held-out clips (Moving MNIST of the
//! test digits, or the test files of a folder data set) at each decodable depth: PSNR, SSIM and
//! LPIPS frame by frame, the FID of the frames (every frame of every clip as an image, against
//! the original frames) and, given I3D weights, the FVD of the clips; a sheet and animated PNGs
//! of the first clip.

use std::path::Path;

use anyhow::{Context, Result};
use serde::Serialize;
use spae::assets::Assets;
use spae::data::video::video_split;
use spae::data::{tile_images, write_png, Split};
use spae::device::Device;
use spae::eval::concepts::word_usage;
use spae::eval::fid::{frechet_distance, FeatureStats};
use spae::eval::i3d::{I3d, I3dPort};
use spae::eval::inception::{FidInception, FEATURES};
use spae::eval::lpips::Lpips;
use spae::eval::pairs::image_metrics;
use spae::io::write_atomic;
use spae::pyramid::PyramidLayout;

use crate::progress;
use crate::video_cmd::{video_tokenizer, write_clip};

#[derive(Serialize)]
struct DepthRow {
    depth: usize,
    tokens: usize,
    psnr: f64,
    ssim: f64,
    lpips: f64,
    /// FID of the reconstructed frames against the original frames (absent with --no-fid).
    frame_fid: Option<f64>,
    /// FVD of the reconstructed clips against the originals (with --i3d).
    #[serde(skip_serializing_if = "Option::is_none")]
    fvd: Option<f64>,
    /// PSNR of frame 1, 2, ... averaged over clips.
    psnr_per_frame: Vec<f64>,
}

/// What `spae eval video` measures.
pub struct VideoEval<'a> {
    pub checkpoint: &'a Path,
    pub clips: usize,
    pub seed: u64,
    pub fid: bool,
    /// I3D weights (safetensors with `pytorch-i3d`'s names) and their port: adds the FVD.
    pub i3d: Option<(&'a Path, I3dPort)>,
    pub out: &'a Path,
}

pub fn eval(e: VideoEval, assets: &Assets, device: &Device) -> Result<()> {
    anyhow::ensure!(e.clips > 0, "--clips must be at least 1");
    let tok = video_tokenizer(e.checkpoint, assets, device)?;
    let cfg = tok.config().clone();
    let shape = tok.clip_shape();
    let (frames, ch, size, per) = (shape.frames, shape.channels, shape.size, shape.per_clip());
    let split = video_split(&cfg, assets, Split::Test, e.clips, e.seed)?;
    let (x, n) = (&split.pixels, split.len());
    let lpips = Lpips::load(&assets.path("lpips")?, device)?;
    let inception = match e.fid {
        true => Some(FidInception::load(&assets.path("fid")?, device)?),
        false => None,
    };
    let frame = [ch, size, size];
    let i3d = match e.i3d {
        Some((p, port)) => Some(I3d::load(p, port, device).context("--i3d: cannot load I3D")?),
        None => None,
    };
    let clip = [frames, ch, size, size];
    let i3d_reference = i3d.as_ref().map(|n| n.features(x, clip)).transpose()?;
    let reference = inception.as_ref().map(|i| i.features(x, frame));
    let pyramid = tok.pyramid().clone();
    let depths: Vec<usize> = (pyramid.first_decodable_depth()..=pyramid.n_layers()).collect();
    let cumulative = pyramid.cumulative_sizes();
    let chunk = 4;
    let pb = progress::bar((n * depths.len()) as u64, "eval video: clips");
    let mut first = vec![Vec::new(); depths.len()];
    let mut features = vec![Vec::new(); depths.len()];
    let mut clip_features = vec![Vec::new(); depths.len()];
    let mut sums = vec![(0.0, 0.0, 0.0, vec![0.0; frames]); depths.len()];
    let mut layer_words = vec![Vec::new(); pyramid.n_layers()];
    for c in (0..n).step_by(chunk) {
        let b = chunk.min(n - c);
        let clips = &x[c * per..(c + b) * per];
        let codes = tok.encode_codes(clips)?;
        for (all, l) in layer_words.iter_mut().zip(&codes.tokens) {
            all.extend_from_slice(l);
        }
        for (k, &depth) in depths.iter().enumerate() {
            let y = tok.decode_codes(&codes.tokens[..depth], b, depth)?;
            let m = image_metrics(&lpips, clips, &y, [b * frames, ch, size], device);
            for (i, [p, s, l]) in m.into_iter().enumerate() {
                let row = &mut sums[k];
                row.0 += p;
                row.1 += s;
                row.2 += l;
                row.3[i % frames] += p;
            }
            if let Some(inc) = &inception {
                features[k].extend(inc.features(&y, frame));
            }
            if let Some(net) = &i3d {
                clip_features[k].extend(net.features(&y, clip)?);
            }
            if c == 0 {
                first[k] = y;
            }
            pb.inc(b as u64);
        }
    }
    pb.finish_and_clear();
    let stats = |f: &[f32]| FeatureStats::new(f, FEATURES);
    let reference = reference.as_deref().map(stats).transpose()?;
    let i3d_stats = |f: &[f32]| FeatureStats::new(f, i3d.as_ref().map_or(1, I3d::dim));
    let i3d_reference = i3d_reference.as_deref().map(i3d_stats).transpose()?;
    let frames_total = (n * frames) as f64;
    let mut rows = Vec::new();
    for (((&depth, s), f), g) in depths.iter().zip(&sums).zip(&features).zip(&clip_features) {
        let frame_fid = match &reference {
            Some(r) => Some(frechet_distance(r, &stats(f)?)?),
            None => None,
        };
        let fvd = match &i3d_reference {
            Some(r) => Some(frechet_distance(r, &i3d_stats(g)?)?),
            None => None,
        };
        rows.push(DepthRow {
            depth,
            tokens: cumulative[depth - 1],
            psnr: s.0 / frames_total,
            ssim: s.1 / frames_total,
            lpips: s.2 / frames_total,
            frame_fid,
            fvd,
            psnr_per_frame: s.3.iter().map(|v| v / n as f64).collect(),
        });
    }
    let source = match n {
        1 => split.names[0].clone(),
        _ => format!("{} .. {}", split.names[0], split.names[n - 1]),
    };
    println!("{n} held-out clips ({source}), {frames} frames of {ch}x{size}x{size}");
    println!(
        "{:>5} {:>7} {:>8} {:>7} {:>7} {:>10} {:>9}",
        "depth", "tokens", "PSNR", "SSIM", "LPIPS", "frame FID", "FVD"
    );
    for r in &rows {
        let fid = r.frame_fid.map_or("-".into(), |f| format!("{f:.2}"));
        let fvd = r.fvd.map_or("-".into(), |f| format!("{f:.2}"));
        println!(
            "{:>5} {:>7} {:>8.2} {:>7.4} {:>7.4} {fid:>10} {fvd:>9}",
            r.depth, r.tokens, r.psnr, r.ssim, r.lpips
        );
    }
    // How many of the codebook's words each layer uses over the held-out clips.
    let cb = tok.codebook();
    let text = |w: u32| format!("{:?}", cb.words[w as usize].text);
    let mut usage = Vec::new();
    println!("words per layer: distinct / positions (most frequent)");
    for (l, words) in layer_words.iter().enumerate() {
        let u = word_usage(words, 3);
        let top: Vec<String> = u
            .top
            .iter()
            .map(|&(w, c)| format!("{} {c}", text(w)))
            .collect();
        println!(
            "  layer {}: {} / {} ({})",
            l + 1,
            u.distinct,
            u.positions,
            top.join(", ")
        );
        usage.push(serde_json::json!({
            "layer": l + 1,
            "positions": u.positions,
            "distinct": u.distinct,
            "top": u.top.iter().map(|&(w, c)| serde_json::json!({"word": cb.words[w as usize].text, "count": c})).collect::<Vec<_>>(),
        }));
    }
    let shown = n.min(chunk);
    let mut sheet = Vec::new();
    for i in 0..shown {
        sheet.push(x[i * per..(i + 1) * per].to_vec());
        for r in &first {
            sheet.push(r[i * per..(i + 1) * per].to_vec());
        }
    }
    let out = e.out;
    let stem = out.with_extension("");
    let sheet_path = stem.with_extension("png");
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("{}: cannot create", dir.display()))?;
    }
    let grid = tile_images(&sheet, frames, ch, size);
    write_png(&sheet_path, &grid, ch, size * sheet.len(), size * frames)?;
    let name = |s: &str| {
        out.with_file_name(format!(
            "{}-{s}.png",
            stem.file_name().unwrap_or_default().to_string_lossy()
        ))
    };
    write_clip(&name("clip"), &x[..per], shape)?;
    let last = first.last().context("no decodable depth")?;
    write_clip(&name("recon"), &last[..per], shape)?;
    let report = serde_json::json!({
        "checkpoint": e.checkpoint.display().to_string(),
        "clips": n,
        "split": "test (held-out digits or files)",
        "seed": e.seed,
        "clip_names": split.names,
        "frames": frames,
        "channels": ch,
        "size": size,
        "depths": rows,
        "word_usage": usage,
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
