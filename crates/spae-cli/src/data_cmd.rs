//! `spae data ...`: load data sets and image files and describe them.

use std::path::PathBuf;

use anyhow::Result;
use clap::Subcommand;
use spae::assets::Assets;
use spae::data::{self, ImageSet};

#[derive(Subcommand)]
pub enum DataCommand {
    /// Load a data set (fashion-mnist, mnist, emoji) or a file (.png, IDX, .json) and describe it.
    Inspect {
        /// A data set name or a file path.
        what: String,
        /// Split, for data sets that have one.
        #[arg(long, default_value = "test")]
        split: String,
    },
}

pub fn run(cmd: DataCommand, assets: &Assets) -> Result<()> {
    let DataCommand::Inspect { what, split } = cmd;
    let split = crate::common::parse_split(&split)?;
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
    let mut counts = vec![0usize; set.class_names.len()];
    for &l in &set.labels {
        counts[l as usize] += 1;
    }
    for (c, n) in set.class_names.iter().zip(counts) {
        println!("  {c:<20} {n}");
    }
}
