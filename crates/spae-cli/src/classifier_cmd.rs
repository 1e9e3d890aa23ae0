//! `spae classifier`: trains the MNIST digit classifier that judges in-context generated digits
//! (`spae generate mnist`), on the train part of the digits, and saves it with its test accuracy.

use spae::device::Device;
use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use spae::assets::Assets;
use spae::data::{mnist_digits, Split};
use spae::eval::classifier::{self, ClassifierConfig};
use spae::train::HOLD_OUT_EVERY;

use crate::progress;

#[derive(Args)]
pub struct ClassifierArgs {
    /// Output folder (model.safetensors + classifier.json).
    #[arg(long, default_value = "models/mnist-classifier")]
    pub out: PathBuf,
    /// Passes over the 9000 training digits.
    #[arg(long, default_value_t = 10)]
    pub epochs: usize,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

pub fn run(args: ClassifierArgs, assets: &Assets, device: &Device) -> Result<()> {
    let all = mnist_digits(&assets.path("mnist")?)?;
    let (train, test) = (
        all.hold_out(Split::Train, HOLD_OUT_EVERY),
        all.hold_out(Split::Test, HOLD_OUT_EVERY),
    );
    let mut cfg = ClassifierConfig {
        epochs: args.epochs,
        seed: args.seed,
        ..ClassifierConfig::digits(&all.class_names)
    };
    let pb = progress::bar(0, "classifier");
    let model = classifier::train(&train, &cfg, device, |step, total, loss| {
        pb.set_length(total as u64);
        pb.set_position(step as u64);
        pb.set_message(format!("loss {loss:.3}"));
    })?;
    pb.finish_and_clear();
    let acc = classifier::accuracy(&model, &test, cfg.image_size);
    cfg.test_accuracy = Some(acc);
    cfg.test_images = Some(test.len());
    classifier::save(&args.out, &model, &cfg)?;
    println!(
        "digit classifier: {} training digits, {} epochs; test accuracy {:.2}% on {} held-out digits",
        train.len(),
        cfg.epochs,
        100.0 * acc,
        test.len()
    );
    println!("wrote {}", args.out.display());
    Ok(())
}
