//! The digit classifier that judges in-context generated MNIST images (issue 6): a LeNet-style
//! network trained in this project on the train part of the MNIST digits, saved with its own
//! test accuracy.
//!
//! `conv3x3(1 -> 16) - relu - maxpool2 - conv3x3(16 -> 32) - relu - maxpool2 - dense(64) - relu -
//! dense(classes)` on `S x S` gray images (32x32: the 28x28 digits centred on black, as the
//! tokenizer sees them).

use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::loss::CrossEntropyLossConfig;
use burn::nn::pool::{MaxPool2d, MaxPool2dConfig};
use burn::nn::{Linear, LinearConfig, PaddingConfig2d};
use burn::optim::{AdamConfig, GradientsParams};
use burn::store::{ModuleSnapshot, SafetensorsStore};
use burn::tensor::activation::relu;
use burn::tensor::{Device, Int, Tensor, TensorData};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::data::ImageSet;
use crate::io::write_atomic;
use crate::tensor::to_vec;
use crate::weights::incomplete;

#[derive(Debug, Error)]
pub enum ClassifierError {
    #[error("classifier {path}: {what}")]
    Bad { path: PathBuf, what: String },
    #[error("classifier: {0}")]
    Input(String),
}

fn bad(path: &Path, what: impl ToString) -> ClassifierError {
    ClassifierError::Bad {
        path: path.to_path_buf(),
        what: what.to_string(),
    }
}

/// Training settings and what the trained network measured; `classifier.json` next to the
/// weights.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClassifierConfig {
    /// Side of the square gray input.
    pub image_size: usize,
    /// Class names, in label order.
    pub classes: Vec<String>,
    /// Passes over the training images.
    pub epochs: usize,
    pub batch_size: usize,
    /// Adam's learning rate.
    pub lr: f64,
    pub seed: u64,
    /// Accuracy on the held-out test images (filled in after training).
    #[serde(default)]
    pub test_accuracy: Option<f64>,
    #[serde(default)]
    pub test_images: Option<usize>,
}

impl ClassifierConfig {
    /// Defaults for 32x32 digits: 10 epochs of batch 64, Adam at 1e-3, seed 0.
    pub fn digits(classes: &[String]) -> Self {
        ClassifierConfig {
            image_size: 32,
            classes: classes.to_vec(),
            epochs: 10,
            batch_size: 64,
            lr: 1e-3,
            seed: 0,
            test_accuracy: None,
            test_images: None,
        }
    }
}

/// The network.
#[derive(Module, Debug)]
pub struct Classifier {
    conv1: Conv2d,
    conv2: Conv2d,
    pool: MaxPool2d,
    hidden: Linear,
    out: Linear,
}

impl Classifier {
    pub fn new(cfg: &ClassifierConfig, device: &Device) -> Self {
        let conv = |cin, cout| {
            Conv2dConfig::new([cin, cout], [3, 3])
                .with_padding(PaddingConfig2d::Same)
                .init(device)
        };
        let side = cfg.image_size / 4;
        Classifier {
            conv1: conv(1, 16),
            conv2: conv(16, 32),
            pool: MaxPool2dConfig::new([2, 2]).with_strides([2, 2]).init(),
            hidden: LinearConfig::new(32 * side * side, 64).init(device),
            out: LinearConfig::new(64, cfg.classes.len()).init(device),
        }
    }

    /// Logits `[B, classes]` of images `[B, 1, S, S]` in `[0, 1]`.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        let x = self.pool.forward(relu(self.conv1.forward(x)));
        let x = self.pool.forward(relu(self.conv2.forward(x)));
        let x = x.flatten::<2>(1, 3);
        self.out.forward(relu(self.hidden.forward(x)))
    }

    /// The most likely class of each of `batch` images (`B x 1 x S x S` floats in `[0, 1]`).
    pub fn predict(&self, pixels: Vec<f32>, batch: usize, size: usize) -> Vec<usize> {
        let device = self.out.weight.device();
        let mut out = Vec::with_capacity(batch);
        let per = size * size;
        for chunk in pixels.chunks(256 * per) {
            let b = chunk.len() / per;
            let x = Tensor::<4>::from_data(
                TensorData::new(chunk.to_vec(), [b, 1, size, size]),
                &device,
            );
            let logits = to_vec(self.forward(x));
            let k = logits.len() / b.max(1);
            out.extend(logits.chunks(k).map(argmax));
        }
        out
    }
}

/// Index of the largest value (the first on ties).
fn argmax(v: &[f32]) -> usize {
    v.iter()
        .enumerate()
        .fold((0, f32::NEG_INFINITY), |best, (i, &x)| {
            if x > best.1 {
                (i, x)
            } else {
                best
            }
        })
        .0
}

/// Share of `images` whose predicted class is their label.
pub fn accuracy(model: &Classifier, images: &ImageSet, size: usize) -> f64 {
    let idx: Vec<usize> = (0..images.len()).collect();
    let pred = model.predict(images.batch_chw(&idx, size), idx.len(), size);
    let right = pred
        .iter()
        .zip(&images.labels)
        .filter(|(p, &l)| **p == l as usize)
        .count();
    right as f64 / images.len().max(1) as f64
}

/// Trains a classifier on `train` (gray images no larger than the configured size), calling
/// `progress(step, total, loss)` after every step.
pub fn train(
    train: &ImageSet,
    cfg: &ClassifierConfig,
    device: &Device,
    mut progress: impl FnMut(usize, usize, f32),
) -> Result<Classifier, ClassifierError> {
    check_images(train, cfg)?;
    let device = device.clone().autodiff();
    device.seed(cfg.seed);
    let mut model = Classifier::new(cfg, &device);
    let mut optim = AdamConfig::new().init();
    let loss_fn = CrossEntropyLossConfig::new().init(&device);
    let mut rng = StdRng::seed_from_u64(cfg.seed);
    let mut order: Vec<usize> = (0..train.len()).collect();
    let per_epoch = train.len().div_ceil(cfg.batch_size);
    let total = per_epoch * cfg.epochs;
    let s = cfg.image_size;
    for epoch in 0..cfg.epochs {
        order.shuffle(&mut rng);
        for (i, batch) in order.chunks(cfg.batch_size).enumerate() {
            let b = batch.len();
            let x = Tensor::<4>::from_data(
                TensorData::new(train.batch_chw(batch, s), [b, 1, s, s]),
                &device,
            );
            let labels: Vec<i64> = batch.iter().map(|&j| i64::from(train.labels[j])).collect();
            let y = Tensor::<1, Int>::from_data(TensorData::new(labels, [b]), &device);
            let loss = loss_fn.forward(model.forward(x), y);
            let value = to_vec(loss.clone().detach())[0];
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            model = optim.step(cfg.lr, model, grads);
            progress(epoch * per_epoch + i + 1, total, value);
        }
    }
    Ok(model.valid())
}

fn check_images(images: &ImageSet, cfg: &ClassifierConfig) -> Result<(), ClassifierError> {
    if images.channels != 1 || images.width > cfg.image_size || images.height > cfg.image_size {
        return Err(ClassifierError::Input(format!(
            "images of {}x{}x{} do not fit a {}x{} gray classifier",
            images.width, images.height, images.channels, cfg.image_size, cfg.image_size
        )));
    }
    if images.is_empty() {
        return Err(ClassifierError::Input("no images".into()));
    }
    if let Some(l) = images
        .labels
        .iter()
        .find(|&&l| l as usize >= cfg.classes.len())
    {
        return Err(ClassifierError::Input(format!(
            "label {l} but {} classes",
            cfg.classes.len()
        )));
    }
    Ok(())
}

/// Writes `model.safetensors` and `classifier.json` into `dir`.
pub fn save(dir: &Path, model: &Classifier, cfg: &ClassifierConfig) -> Result<(), ClassifierError> {
    std::fs::create_dir_all(dir).map_err(|e| bad(dir, e))?;
    let weights = dir.join("model.safetensors");
    let tmp = dir.join(".model.safetensors.tmp");
    model
        .clone()
        .save_into(&mut SafetensorsStore::from_file(&tmp).overwrite(true))
        .map_err(|e| bad(&tmp, e))?;
    std::fs::rename(&tmp, &weights).map_err(|e| bad(&weights, e))?;
    let json = dir.join("classifier.json");
    write_atomic(
        &json,
        &serde_json::to_vec_pretty(cfg).expect("config serializes"),
    )
    .map_err(|e| bad(&json, e))
}

/// Loads a classifier folder written by [`save`].
pub fn load(
    dir: &Path,
    device: &Device,
) -> Result<(Classifier, ClassifierConfig), ClassifierError> {
    let json = dir.join("classifier.json");
    let text = std::fs::read(&json).map_err(|e| bad(&json, e))?;
    let cfg: ClassifierConfig =
        serde_json::from_slice(&text).map_err(|e| bad(&json, format!("corrupt: {e}")))?;
    let weights = dir.join("model.safetensors");
    let mut model = Classifier::new(&cfg, device);
    let bytes = std::fs::read(&weights).map_err(|e| bad(&weights, e))?;
    let result = model
        .load_from(&mut SafetensorsStore::from_bytes(Some(bytes)))
        .map_err(|e| bad(&weights, format!("truncated or corrupt: {e}")))?;
    if let Some(what) = incomplete(&result) {
        return Err(bad(
            &weights,
            format!("does not match classifier.json ({what})"),
        ));
    }
    Ok((model, cfg))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two classes of 8x8 images: a bright left half or a bright right half.
    fn halves(n: usize) -> ImageSet {
        let mut pixels = Vec::new();
        let mut labels = Vec::new();
        for i in 0..n {
            let label = (i % 2) as u32;
            for _y in 0..8 {
                for x in 0..8 {
                    let on = (x < 4) == (label == 0);
                    pixels.push(if on {
                        200 + (i % 50) as u8
                    } else {
                        (i % 30) as u8
                    });
                }
            }
            labels.push(label);
        }
        ImageSet {
            width: 8,
            height: 8,
            channels: 1,
            pixels,
            labels,
            class_names: vec!["left".into(), "right".into()],
            names: Vec::new(),
            source: None,
        }
    }

    #[test]
    fn argmax_takes_the_first_largest() {
        assert_eq!(argmax(&[0.1, 3.0, -1.0, 3.0]), 1);
    }

    #[test]
    fn learns_a_separable_task_and_round_trips_through_disk() {
        let set = halves(128);
        let mut cfg = ClassifierConfig::digits(&set.class_names);
        cfg.image_size = 8;
        cfg.epochs = 3;
        cfg.batch_size = 16;
        let mut steps = 0;
        let model = train(&set, &cfg, &Device::flex(), |_, _, _| steps += 1).unwrap();
        assert_eq!(steps, 3 * 8);
        let acc = accuracy(&model, &set, 8);
        assert!(acc > 0.95, "accuracy {acc}");
        let dir = tempfile::tempdir().unwrap();
        save(dir.path(), &model, &cfg).unwrap();
        let (back, cfg2) = load(dir.path(), &Device::flex()).unwrap();
        assert_eq!(cfg2, cfg);
        assert_eq!(accuracy(&back, &set, 8), acc);
        // A truncated weights file is refused.
        let w = dir.path().join("model.safetensors");
        let bytes = std::fs::read(&w).unwrap();
        std::fs::write(&w, &bytes[..bytes.len() / 2]).unwrap();
        assert!(load(dir.path(), &Device::flex()).is_err());
    }

    #[test]
    fn refuses_images_that_do_not_fit() {
        let set = halves(4);
        let mut cfg = ClassifierConfig::digits(&set.class_names);
        cfg.image_size = 4;
        assert!(matches!(
            train(&set, &cfg, &Device::flex(), |_, _, _| {}),
            Err(ClassifierError::Input(_))
        ));
    }
}
