//! `spae data ...`: load data sets and image files and describe them; generate Moving MNIST.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::Subcommand;
use spae::assets::Assets;
use spae::data::video::{encode_apng, Frames, MovingMnist};
use spae::data::{self, ImageSet};
use spae::io::write_atomic;

#[derive(Subcommand)]
pub enum DataCommand {
    /// Load a data set (fashion-mnist, mnist, emoji) or a file (.png, IDX, .json) and describe it;
    /// for an image folder (folder:PATH), list a split's images per class without reading them.
    Inspect {
        /// A data set name, folder:PATH, or a file path.
        what: String,
        /// Split, for data sets that have one.
        #[arg(long, default_value = "test")]
        split: String,
        /// For folder:PATH, the split file that fixes its split (as [data] split_file).
        #[arg(long)]
        split_file: Option<PathBuf>,
    },
    /// Moving MNIST clips (Srivastava et al.: 2 digits bouncing in a 64x64 frame, 20 frames),
    /// generated from the seed out of the installed digits of one split (every 10th digit is the
    /// test split): an animated PNG per clip, a PNG sheet (frames across, clips down) and
    /// clips.json (each clip's digits and labels).
    MovingMnist {
        #[arg(long, default_value = "train")]
        split: String,
        #[arg(long, default_value_t = 8)]
        clips: usize,
        #[arg(long, default_value_t = 0)]
        seed: u64,
        #[arg(long, default_value_t = 20)]
        frames: usize,
        #[arg(long)]
        out: PathBuf,
    },
}

pub fn run(cmd: DataCommand, assets: &Assets) -> Result<()> {
    let (what, split, split_file) = match cmd {
        DataCommand::Inspect {
            what,
            split,
            split_file,
        } => (what, split, split_file),
        DataCommand::MovingMnist {
            split,
            clips,
            seed,
            frames,
            out,
        } => return moving_mnist(&split, clips, seed, frames, &out, assets),
    };
    let split_name = split;
    let split = crate::common::parse_split(&split_name)?;
    if let Some(dir) = what.strip_prefix("folder:") {
        return inspect_folder(
            &what,
            Path::new(dir),
            split_file.as_deref(),
            split,
            &split_name,
        );
    }
    if let Some(file) = &split_file {
        anyhow::bail!(
            "--split-file {}: only folder:PATH has a split file",
            file.display()
        );
    }
    let path = PathBuf::from(&what);
    let set = match what.as_str() {
        "fashion-mnist" => data::fashion_mnist(&assets.path("fashion-mnist")?, split)?,
        "mnist" => data::mnist_digits(&assets.path("mnist")?)?,
        "emoji" => data::emoji(&assets.path("emoji")?)?,
        _ if what.ends_with(".png") => {
            let img = data::read_png(&path)?;
            println!(
                "{}: PNG {}x{} with {} channels",
                path.display(),
                img.width,
                img.height,
                img.channels
            );
            return Ok(());
        }
        _ if what.ends_with(".json") => {
            anyhow::bail!("{what}: give the folder of the mnist digits, or 'mnist'")
        }
        _ => {
            let (dims, _) = data::read_idx(&path)?;
            println!(
                "{}: IDX unsigned bytes, dimensions {dims:?}",
                path.display()
            );
            return Ok(());
        }
    };
    describe(&what, &set);
    Ok(())
}

fn describe(name: &str, set: &ImageSet) {
    println!(
        "{name}: {} images of {}x{}x{}, {} classes",
        set.len(),
        set.height,
        set.width,
        set.channels,
        set.class_names.len()
    );
    per_class(&set.class_names, set.labels.iter().copied());
}

/// An image folder's split: how the folder is split, and its images per class (none read).
fn inspect_folder(
    what: &str,
    dir: &Path,
    split_file: Option<&Path>,
    split: data::Split,
    split_name: &str,
) -> Result<()> {
    if dir.as_os_str().is_empty() {
        anyhow::bail!("{what}: give the folder, folder:PATH");
    }
    let (listing, how) = data::folder_listing(dir, split_file, split)?;
    println!(
        "{what}, {split_name} split ({how}): {} images, {} classes",
        listing.images().len(),
        listing.class_names().len()
    );
    per_class(
        listing.class_names(),
        listing.images().iter().map(|(l, _)| *l),
    );
    Ok(())
}

/// Each class's name and its number of images.
fn per_class(class_names: &[String], labels: impl Iterator<Item = u32>) {
    let mut counts = vec![0usize; class_names.len()];
    for l in labels {
        counts[l as usize] += 1;
    }
    for (c, n) in class_names.iter().zip(counts) {
        println!("  {c:<20} {n}");
    }
}

fn moving_mnist(
    split_name: &str,
    n: usize,
    seed: u64,
    frames: usize,
    out: &Path,
    assets: &Assets,
) -> Result<()> {
    let split = crate::common::parse_split(split_name)?;
    let cfg = MovingMnist {
        frames,
        ..MovingMnist::default()
    };
    let (clips, digits) = data::video::moving_mnist_split(assets, split, n, seed, cfg)?;
    std::fs::create_dir_all(out).with_context(|| format!("{}: cannot create", out.display()))?;
    let s = clips.height;
    for i in 0..clips.len() {
        let apng = encode_apng(
            Frames {
                bytes: clips.clip(i),
                count: clips.frames,
                channels: 1,
                height: s,
                width: s,
            },
            100,
        )
        .map_err(anyhow::Error::msg)?;
        let path = out.join(format!("clip-{i:03}.png"));
        write_atomic(&path, &apng).with_context(|| format!("{}: cannot write", path.display()))?;
    }
    let rows: Vec<Vec<f32>> = (0..clips.len())
        .map(|i| {
            clips
                .clip(i)
                .iter()
                .map(|&p| f32::from(p) / 255.0)
                .collect()
        })
        .collect();
    let sheet = data::tile_images(&rows, clips.frames, 1, s);
    data::write_png(
        &out.join("sheet.png"),
        &sheet,
        1,
        s * clips.len(),
        s * clips.frames,
    )?;
    let report = serde_json::json!({
        "dataset": "moving-mnist",
        "split": split_name,
        "seed": seed,
        "size": cfg.size,
        "frames": cfg.frames,
        "digits_per_clip": cfg.digits,
        "step": cfg.step,
        "clips": clips.sources.iter().map(|src| src.iter().map(|&k| serde_json::json!({
            "digit_index": k,
            "label": digits.labels[k],
        })).collect::<Vec<_>>()).collect::<Vec<_>>(),
    });
    let path = out.join("clips.json");
    write_atomic(&path, &serde_json::to_vec_pretty(&report)?)
        .with_context(|| format!("{}: cannot write", path.display()))?;
    println!(
        "{} Moving MNIST clips ({split_name} digits, seed {seed}): {} frames of {s}x{s}; \
         clip-NNN.png (animated), sheet.png, clips.json in {}",
        clips.len(),
        clips.frames,
        out.display()
    );
    Ok(())
}
