//! The SPAE encoder and decoder: MAGVIT-style CNNs (method.md, "Encoder and decoder").
//!
//! GroupNorm + SiLU residual blocks, `blocks_per_stage` per stage, channel multipliers per stage,
//! average-pool downsampling between stages, nearest-neighbour upsampling + conv in the decoder.
//! Every constant is a field of [`ModelConfig`]. The GAN's discriminator is in [`discriminator`].

pub mod discriminator;
mod flex;
pub mod video;

pub use discriminator::{Discriminator, DiscriminatorConfig};
pub(crate) use flex::{conv2d, conv3d, norm_silu, try_conv};

use burn::module::{Module, Param};
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{AvgPool2d, AvgPool2dConfig};
use burn::nn::{GroupNorm, GroupNormConfig, PaddingConfig2d};
use burn::tensor::module::interpolate;
use burn::tensor::ops::{InterpolateMode, InterpolateOptions};
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

/// The architecture. Defaults: the 32x32 grayscale preset (8x8 latent).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ModelConfig {
    /// Image side in pixels (square images).
    pub image_size: usize,
    /// Image channels (1 gray, 3 RGB).
    pub image_channels: usize,
    /// Channels of the first stage.
    pub base_channels: usize,
    /// Channel multiplier per stage; the latent is `image_size / 2^(stages - 1)` per side.
    pub channel_mult: Vec<usize>,
    /// Residual blocks per stage.
    pub blocks_per_stage: usize,
    /// GroupNorm groups (must divide every stage's channels).
    pub norm_groups: usize,
    /// Latent width `d`; equal to the codebook's embedding width (no projection).
    pub latent_dim: usize,
}

impl Default for ModelConfig {
    fn default() -> Self {
        ModelConfig {
            image_size: 32,
            image_channels: 1,
            base_channels: 32,
            channel_mult: vec![1, 2, 2],
            blocks_per_stage: 1,
            norm_groups: 8,
            latent_dim: 576,
        }
    }
}

impl ModelConfig {
    /// Latent grid side.
    pub fn latent_size(&self) -> usize {
        self.image_size >> (self.channel_mult.len() - 1)
    }

    fn channels(&self) -> Vec<usize> {
        self.channel_mult
            .iter()
            .map(|m| m * self.base_channels)
            .collect()
    }

    pub fn init(&self, device: &Device) -> SpaeModel {
        SpaeModel {
            encoder: Encoder::new(self, device),
            decoder: Decoder::new(self, device),
            codebook: None,
        }
    }
}

/// A convolution of one dimensionality (2-D for images, 3-D for videos): what the residual
/// blocks and stages need of it.
pub trait Conv<const D: usize>: Module + core::fmt::Debug {
    /// A `k`-wide convolution from `cin` to `cout` channels, "same" padding (none for `k = 1`).
    fn build(cin: usize, cout: usize, k: usize, device: &Device) -> Self;
    fn apply(&self, x: Tensor<D>) -> Tensor<D>;

    /// GroupNorm + SiLU of this convolution's input (a causal video convolution normalises each
    /// frame on its own).
    fn norm_silu(&self, norm: &GroupNorm, x: Tensor<D>) -> Tensor<D> {
        norm_silu(norm, x)
    }
}

impl Conv<4> for Conv2d {
    fn build(cin: usize, cout: usize, k: usize, device: &Device) -> Self {
        conv_with_bias(cin, cout, k, true, device)
    }

    fn apply(&self, x: Tensor<4>) -> Tensor<4> {
        conv2d(self, x)
    }
}

fn conv(cin: usize, cout: usize, k: usize, device: &Device) -> Conv2d {
    Conv2d::build(cin, cout, k, device)
}

/// A `k x k` convolution, "same" padding (none for 1x1).
fn conv_with_bias(cin: usize, cout: usize, k: usize, bias: bool, device: &Device) -> Conv2d {
    let pad = if k == 1 {
        PaddingConfig2d::Valid
    } else {
        PaddingConfig2d::Same
    };
    Conv2dConfig::new([cin, cout], [k, k])
        .with_padding(pad)
        .with_bias(bias)
        .init(device)
}

pub(crate) fn norm(groups: usize, ch: usize, device: &Device) -> GroupNorm {
    GroupNormConfig::new(groups.min(ch), ch).init(device)
}

/// GroupNorm + SiLU + 3-wide conv, twice, with a 1-wide shortcut when the width changes; `C` is
/// the convolution (`Conv2d` for images, `Conv3d` for videos).
#[derive(Module, Debug)]
pub struct ResBlock<C> {
    norm1: GroupNorm,
    conv1: C,
    norm2: GroupNorm,
    conv2: C,
    shortcut: Option<C>,
}

impl<C> ResBlock<C> {
    fn new<const D: usize>(cin: usize, cout: usize, groups: usize, device: &Device) -> Self
    where
        C: Conv<D>,
    {
        ResBlock {
            norm1: norm(groups, cin, device),
            conv1: C::build(cin, cout, 3, device),
            norm2: norm(groups, cout, device),
            conv2: C::build(cout, cout, 3, device),
            shortcut: (cin != cout).then(|| C::build(cin, cout, 1, device)),
        }
    }

    pub(crate) fn forward<const D: usize>(&self, x: Tensor<D>) -> Tensor<D>
    where
        C: Conv<D>,
    {
        let h = self
            .conv1
            .apply(self.conv1.norm_silu(&self.norm1, x.clone()));
        let h = self.conv2.apply(self.conv2.norm_silu(&self.norm2, h));
        let skip = match &self.shortcut {
            Some(s) => s.apply(x),
            None => x,
        };
        skip + h
    }
}

/// The residual blocks of consecutive stages of widths `ch` (the first block takes `ch[0]`),
/// `per_stage` each, and the index of the last block of every stage but the last (where the
/// resolution changes).
pub(crate) fn stages<C: Conv<D>, const D: usize>(
    ch: &[usize],
    per_stage: usize,
    groups: usize,
    device: &Device,
) -> (Vec<ResBlock<C>>, Vec<usize>) {
    let mut blocks = Vec::new();
    let mut boundaries = Vec::new();
    let mut cin = ch[0];
    for (s, &c) in ch.iter().enumerate() {
        for _ in 0..per_stage {
            blocks.push(ResBlock::new(cin, c, groups, device));
            cin = c;
        }
        if s + 1 < ch.len() {
            boundaries.push(blocks.len() - 1);
        }
    }
    (blocks, boundaries)
}

/// Image `[B, C, H, W]` to latent `[B, d, h, w]`.
#[derive(Module, Debug)]
pub struct Encoder {
    conv_in: Conv2d,
    blocks: Vec<ResBlock<Conv2d>>,
    /// Index of the last block of each stage but the last: a downsampling follows it.
    down_after: Vec<usize>,
    pool: AvgPool2d,
    norm_out: GroupNorm,
    conv_out: Conv2d,
}

impl Encoder {
    fn new(cfg: &ModelConfig, device: &Device) -> Self {
        let ch = cfg.channels();
        let (blocks, down_after) = stages(&ch, cfg.blocks_per_stage, cfg.norm_groups, device);
        let cin = ch[ch.len() - 1];
        Encoder {
            conv_in: conv(cfg.image_channels, ch[0], 3, device),
            blocks,
            down_after,
            pool: AvgPool2dConfig::new([2, 2]).init(),
            norm_out: norm(cfg.norm_groups, cin, device),
            conv_out: conv(cin, cfg.latent_dim, 1, device),
        }
    }

    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let mut h = conv2d(&self.conv_in, x);
        for (i, b) in self.blocks.iter().enumerate() {
            h = b.forward(h);
            if self.down_after.contains(&i) {
                h = self.pool.forward(h);
            }
        }
        conv2d(&self.conv_out, norm_silu(&self.norm_out, h))
    }
}

/// Latent `[B, d, h, w]` to image `[B, C, H, W]`.
#[derive(Module, Debug)]
pub struct Decoder {
    conv_in: Conv2d,
    blocks: Vec<ResBlock<Conv2d>>,
    /// Index of the last block of each stage but the last: upsample + conv follows it.
    up_after: Vec<usize>,
    up_convs: Vec<Conv2d>,
    norm_out: GroupNorm,
    conv_out: Conv2d,
}

impl Decoder {
    fn new(cfg: &ModelConfig, device: &Device) -> Self {
        let ch: Vec<usize> = cfg.channels().into_iter().rev().collect();
        let (blocks, up_after) = stages(&ch, cfg.blocks_per_stage, cfg.norm_groups, device);
        let up_convs = ch[..ch.len() - 1]
            .iter()
            .map(|&c| conv(c, c, 3, device))
            .collect();
        let cin = ch[ch.len() - 1];
        Decoder {
            conv_in: conv(cfg.latent_dim, ch[0], 3, device),
            blocks,
            up_after,
            up_convs,
            norm_out: norm(cfg.norm_groups, cin, device),
            conv_out: conv(cin, cfg.image_channels, 3, device),
        }
    }

    pub fn forward(&self, z: Tensor<4>) -> Tensor<4> {
        let mut h = conv2d(&self.conv_in, z);
        for (i, b) in self.blocks.iter().enumerate() {
            h = b.forward(h);
            if let Some(u) = self.up_after.iter().position(|&a| a == i) {
                let [_, _, hh, ww] = h.dims();
                let up = interpolate(
                    h,
                    InterpolateOptions::new(InterpolateMode::Nearest)
                        .with_output_size([2 * hh, 2 * ww]),
                );
                h = conv2d(&self.up_convs[u], up);
            }
        }
        conv2d(&self.conv_out, norm_silu(&self.norm_out, h))
    }
}

/// Encoder and decoder. With the frozen LLM codebook (SPAE) the quantizer between them has no
/// parameters; the Table 4 baseline "plain VQ with a learned codebook" keeps its codebook here.
#[derive(Module, Debug)]
pub struct SpaeModel {
    pub encoder: Encoder,
    pub decoder: Decoder,
    /// A learned codebook `[K, d]` (baseline only); `None` for the frozen LLM codebook.
    pub codebook: Option<Param<Tensor<2>>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_of_the_32px_preset() {
        let cfg = ModelConfig {
            latent_dim: 16,
            ..ModelConfig::default()
        };
        assert_eq!(cfg.latent_size(), 8);
        let device = Device::flex();
        let m = cfg.init(&device);
        let x = Tensor::<4>::zeros([2, 1, 32, 32], &device);
        let z = m.encoder.forward(x);
        assert_eq!(z.dims(), [2, 16, 8, 8]);
        assert_eq!(m.decoder.forward(z).dims(), [2, 1, 32, 32]);
    }
}
