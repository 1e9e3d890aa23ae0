//! The StyleGAN-style residual discriminator of the GAN term (method.md, "Appearance loss").
//!
//! `from_rgb` (1x1 conv), then per stage a residual block `conv3x3 - lrelu - conv3x3 - lrelu -
//! avgpool2` with a shortcut `avgpool2 - conv1x1`, summed and scaled by `1/sqrt(2)`; then a 3x3
//! conv, a dense layer and one logit per image.

use burn::module::Module;
use burn::nn::conv::Conv2d;
use burn::nn::pool::{AvgPool2d, AvgPool2dConfig};
use burn::nn::{Linear, LinearConfig};
use burn::tensor::activation::leaky_relu;
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

use super::conv2d;
use super::conv_with_bias as conv;

/// Negative slope of the leaky ReLUs (StyleGAN's 0.2).
const LRELU_SLOPE: f64 = 0.2;

/// The discriminator's architecture. Defaults: three stages of 32, 64, 128 channels (32x32 images
/// down to 4x4).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DiscriminatorConfig {
    /// Channels of the first stage.
    pub base_channels: usize,
    /// Channel multiplier per stage; each stage halves the resolution.
    pub channel_mult: Vec<usize>,
}

impl Default for DiscriminatorConfig {
    fn default() -> Self {
        DiscriminatorConfig {
            base_channels: 32,
            channel_mult: vec![1, 2, 4],
        }
    }
}

impl DiscriminatorConfig {
    /// The discriminator for square images of `size` pixels and `channels` channels.
    pub fn init(&self, size: usize, channels: usize, device: &Device) -> Discriminator {
        let ch: Vec<usize> = self
            .channel_mult
            .iter()
            .map(|m| m * self.base_channels)
            .collect();
        let mut blocks = Vec::new();
        let mut cin = ch[0];
        for &c in &ch {
            blocks.push(DownBlock::new(cin, c, device));
            cin = c;
        }
        let side = (size >> ch.len()).max(1);
        Discriminator {
            from_rgb: conv(channels, ch[0], 1, true, device),
            blocks,
            conv_out: conv(cin, cin, 3, true, device),
            dense: LinearConfig::new(cin * side * side, cin).init(device),
            logit: LinearConfig::new(cin, 1).init(device),
        }
    }
}

/// One residual downsampling block.
#[derive(Module, Debug)]
pub struct DownBlock {
    conv1: Conv2d,
    conv2: Conv2d,
    skip: Conv2d,
    pool: AvgPool2d,
}

impl DownBlock {
    fn new(cin: usize, cout: usize, device: &Device) -> Self {
        DownBlock {
            conv1: conv(cin, cin, 3, true, device),
            conv2: conv(cin, cout, 3, true, device),
            skip: conv(cin, cout, 1, false, device),
            pool: AvgPool2dConfig::new([2, 2]).init(),
        }
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let h = leaky_relu(conv2d(&self.conv1, x.clone()), LRELU_SLOPE);
        let h = self
            .pool
            .forward(leaky_relu(conv2d(&self.conv2, h), LRELU_SLOPE));
        let skip = conv2d(&self.skip, self.pool.forward(x));
        (h + skip).mul_scalar(std::f64::consts::FRAC_1_SQRT_2)
    }
}

/// Images `[B, C, H, W]` in `[0, 1]` to real/fake logits `[B]`.
#[derive(Module, Debug)]
pub struct Discriminator {
    from_rgb: Conv2d,
    blocks: Vec<DownBlock>,
    conv_out: Conv2d,
    dense: Linear,
    logit: Linear,
}

impl Discriminator {
    pub fn forward(&self, x: Tensor<4>) -> Tensor<1> {
        let mut h = leaky_relu(conv2d(&self.from_rgb, x), LRELU_SLOPE);
        for b in &self.blocks {
            h = b.forward(h);
        }
        let h = leaky_relu(conv2d(&self.conv_out, h), LRELU_SLOPE);
        let [b, c, hh, ww] = h.dims();
        let h = leaky_relu(self.dense.forward(h.reshape([b, c * hh * ww])), LRELU_SLOPE);
        let [b, _] = h.dims();
        self.logit.forward(h).reshape([b])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_logit_per_image() {
        let device = Device::flex();
        let d = DiscriminatorConfig::default().init(32, 1, &device);
        let logits = d.forward(Tensor::<4>::zeros([3, 1, 32, 32], &device));
        assert_eq!(logits.dims(), [3]);
        let d = DiscriminatorConfig::default().init(64, 3, &device);
        assert_eq!(
            d.forward(Tensor::<4>::zeros([2, 3, 64, 64], &device))
                .dims(),
            [2]
        );
    }
}
