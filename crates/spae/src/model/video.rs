//! The 3-D SPAE encoder and decoder for video (issue 19): the image model's MAGVIT-style residual
//! blocks with 3-D convolutions. Every stage boundary halves height and width, and time where
//! `temporal_down` says so (average pooling down, nearest-neighbour repetition + conv up).

use burn::module::Module;
use burn::nn::conv::{Conv3d, Conv3dConfig};
use burn::nn::{GroupNorm, PaddingConfig3d};
use burn::tensor::{Device, Tensor, TensorData};
use serde::{Deserialize, Serialize};

use super::{conv3d, norm, norm_silu, stages, Conv, ResBlock};
use crate::data::video::ClipShape;

impl Conv<5> for Conv3d {
    fn build(cin: usize, cout: usize, k: usize, device: &Device) -> Self {
        let pad = if k == 1 {
            PaddingConfig3d::Valid
        } else {
            PaddingConfig3d::Same
        };
        Conv3dConfig::new([cin, cout], [k, k, k])
            .with_padding(pad)
            .init(device)
    }

    fn apply(&self, x: Tensor<5>) -> Tensor<5> {
        causal_conv3d(self, x)
    }

    fn norm_silu(&self, norm: &GroupNorm, x: Tensor<5>) -> Tensor<5> {
        clip_norm_silu(norm, x, is_causal(self))
    }
}

/// GroupNorm + SiLU of a clip batch `[B, C, T, H, W]`: statistics over each group's frames
/// together, or with `per_frame` over each frame alone (what a causal model needs: no frame's
/// statistics read a later frame).
fn clip_norm_silu(norm: &GroupNorm, x: Tensor<5>, per_frame: bool) -> Tensor<5> {
    if !per_frame {
        return norm_silu(norm, x);
    }
    let [b, c, t, h, w] = x.dims();
    let frames = x.swap_dims(1, 2).reshape([b * t, c, h, w]);
    norm_silu(norm, frames)
        .reshape([b, t, c, h, w])
        .swap_dims(1, 2)
}

/// Whether a 3-D convolution is causal in time: padded with no frame on either side in its own
/// configuration, `k_t - 1` zero frames are put before the clip ([`make_causal`]).
fn is_causal(conv: &Conv3d) -> bool {
    matches!(conv.padding, PaddingConfig3d::Explicit(0, _, _)) && conv.kernel_size[0] > 1
}

/// A convolution made causal in time (MAGVIT-v2's causal 3-D convolution): the frame axis is
/// padded with `k_t - 1` zero frames before the clip and none after, so output frame `t` reads
/// input frames `t - k_t + 1 ..= t` only; height and width keep their "same" padding.
pub fn make_causal(conv: &mut Conv3d) {
    let [kt, kh, kw] = conv.kernel_size;
    if kt > 1 {
        conv.padding = PaddingConfig3d::Explicit(0, kh / 2, kw / 2);
    }
}

/// [`conv3d`], with the zero frames in front first for a causal convolution.
fn causal_conv3d(conv: &Conv3d, x: Tensor<5>) -> Tensor<5> {
    if !is_causal(conv) {
        return conv3d(conv, x);
    }
    let [b, c, _, h, w] = x.dims();
    let front = Tensor::<5>::zeros([b, c, conv.kernel_size[0] - 1, h, w], &x.device());
    conv3d(conv, Tensor::cat(vec![front, x], 2))
}

/// The video architecture. Defaults: 16-frame 64x64 gray clips, latent 4 x 16 x 16.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct VideoModelConfig {
    /// Frames per clip.
    pub frames: usize,
    /// Frame side in pixels (square frames).
    pub image_size: usize,
    pub image_channels: usize,
    pub base_channels: usize,
    /// Channel multiplier per stage; height and width halve at every stage boundary.
    pub channel_mult: Vec<usize>,
    /// Per stage boundary (`channel_mult.len() - 1` entries): whether time halves there too.
    pub temporal_down: Vec<bool>,
    pub blocks_per_stage: usize,
    pub norm_groups: usize,
    /// Latent width `d`, the codebook's embedding width.
    pub latent_dim: usize,
    /// Causal in time: every 3-D convolution sees the current and earlier frames only
    /// ([`make_causal`]), so a latent frame depends on no frame after its own pooling block and
    /// the words of a clip's first frames do not change with what follows (frame prediction).
    pub causal: bool,
    /// Where the encoder's latents start: `zero` (burn's initialisation, near the origin) or
    /// `codebook-mean` (the encoder's output bias set to the codebook's mean row before the first
    /// step). Near the origin a few short codebook rows are the nearest word of most targets;
    /// around the mean many more words are reachable (docs/results.md, "hub words near the
    /// origin"). Training only: a resumed or released model has its own bias.
    #[serde(skip_serializing_if = "LatentInit::is_zero")]
    pub latent_init: LatentInit,
}

/// Where a video encoder's latents start before training ([`VideoModelConfig::latent_init`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LatentInit {
    /// burn's initialisation of the output convolution: latents near the origin.
    #[default]
    Zero,
    /// The output convolution's bias set to the codebook's mean row.
    CodebookMean,
}

impl LatentInit {
    fn is_zero(&self) -> bool {
        *self == LatentInit::Zero
    }
}

impl Default for VideoModelConfig {
    fn default() -> Self {
        VideoModelConfig {
            frames: 16,
            image_size: 64,
            image_channels: 1,
            base_channels: 16,
            channel_mult: vec![1, 2, 2],
            temporal_down: vec![true, true],
            blocks_per_stage: 1,
            norm_groups: 8,
            latent_dim: 576,
            causal: false,
            latent_init: LatentInit::Zero,
        }
    }
}

impl VideoModelConfig {
    /// The shape of the clips the model takes.
    pub fn clip_shape(&self) -> ClipShape {
        ClipShape {
            frames: self.frames,
            channels: self.image_channels,
            size: self.image_size,
        }
    }

    /// The latent grid `(t, h, w)`; an error when the clip does not divide evenly.
    pub fn latent_shape(&self) -> Result<(usize, usize, usize), String> {
        let stages = self.channel_mult.len();
        if stages == 0 || self.temporal_down.len() + 1 != stages {
            return Err(format!(
                "temporal_down needs one entry per stage boundary ({}), has {}",
                stages.saturating_sub(1),
                self.temporal_down.len()
            ));
        }
        let space = 1 << (stages - 1);
        let time = 1 << self.temporal_down.iter().filter(|&&t| t).count();
        if !self.image_size.is_multiple_of(space)
            || !self.frames.is_multiple_of(time)
            || self.frames == 0
        {
            return Err(format!(
                "{} frames of {}x{} do not halve evenly ({time} in time, {space} in space)",
                self.frames, self.image_size, self.image_size
            ));
        }
        let s = self.image_size / space;
        Ok((self.frames / time, s, s))
    }

    fn channels(&self) -> Vec<usize> {
        self.channel_mult
            .iter()
            .map(|m| m * self.base_channels)
            .collect()
    }

    pub fn init(&self, device: &Device) -> VideoSpaeModel {
        let ch = self.channels();
        let (blocks, down_after) = stages(&ch, self.blocks_per_stage, self.norm_groups, device);
        let last = ch[ch.len() - 1];
        let encoder = VideoEncoder {
            conv_in: Conv3d::build(self.image_channels, ch[0], 3, device),
            blocks,
            down_after,
            temporal: self.temporal_down.clone(),
            norm_out: norm(self.norm_groups, last, device),
            conv_out: Conv3d::build(last, self.latent_dim, 1, device),
        };
        let rev: Vec<usize> = ch.iter().rev().copied().collect();
        let (blocks, up_after) = stages(&rev, self.blocks_per_stage, self.norm_groups, device);
        let decoder = VideoDecoder {
            conv_in: Conv3d::build(self.latent_dim, rev[0], 3, device),
            blocks,
            up_after,
            temporal: self.temporal_down.iter().rev().copied().collect(),
            up_convs: rev[..rev.len() - 1]
                .iter()
                .map(|&c| Conv3d::build(c, c, 3, device))
                .collect(),
            norm_out: norm(self.norm_groups, rev[rev.len() - 1], device),
            conv_out: Conv3d::build(rev[rev.len() - 1], self.image_channels, 3, device),
        };
        let mut model = VideoSpaeModel { encoder, decoder };
        if self.causal {
            model.convs_mut().into_iter().for_each(make_causal);
        }
        model
    }
}

/// Average pooling by 2 in height and width, and in time when `time`.
pub fn downsample(x: Tensor<5>, time: bool) -> Tensor<5> {
    let [b, c, t, h, w] = x.dims();
    let st = if time { 2 } else { 1 };
    x.reshape([b, c, t / st, st, h / 2, 2, w / 2, 2])
        .mean_dim(7)
        .mean_dim(5)
        .mean_dim(3)
        .reshape([b, c, t / st, h / 2, w / 2])
}

/// Nearest-neighbour enlargement by 2 in height and width, and in time when `time`.
pub fn upsample(x: Tensor<5>, time: bool) -> Tensor<5> {
    let [b, c, t, h, w] = x.dims();
    let st = if time { 2 } else { 1 };
    x.reshape([b, c, t, 1, h, 1, w, 1])
        .expand([b, c, t, st, h, 2, w, 2])
        .reshape([b, c, t * st, h * 2, w * 2])
}

/// Clip `[B, C, T, H, W]` to latent `[B, d, t, h, w]`.
#[derive(Module, Debug)]
pub struct VideoEncoder {
    conv_in: Conv3d,
    blocks: Vec<ResBlock<Conv3d>>,
    down_after: Vec<usize>,
    temporal: Vec<bool>,
    norm_out: GroupNorm,
    conv_out: Conv3d,
}

impl VideoEncoder {
    pub fn forward(&self, x: Tensor<5>) -> Tensor<5> {
        let mut h = self.conv_in.apply(x);
        for (i, b) in self.blocks.iter().enumerate() {
            h = b.forward(h);
            if let Some(s) = self.down_after.iter().position(|&a| a == i) {
                h = downsample(h, self.temporal[s]);
            }
        }
        // The 1x1x1 output convolution is causal by itself; the model is when its input is.
        let h = clip_norm_silu(&self.norm_out, h, is_causal(&self.conv_in));
        conv3d(&self.conv_out, h)
    }
}

/// Latent `[B, d, t, h, w]` to clip `[B, C, T, H, W]`.
#[derive(Module, Debug)]
pub struct VideoDecoder {
    conv_in: Conv3d,
    blocks: Vec<ResBlock<Conv3d>>,
    up_after: Vec<usize>,
    temporal: Vec<bool>,
    up_convs: Vec<Conv3d>,
    norm_out: GroupNorm,
    conv_out: Conv3d,
}

impl VideoDecoder {
    pub fn forward(&self, z: Tensor<5>) -> Tensor<5> {
        let mut h = self.conv_in.apply(z);
        for (i, b) in self.blocks.iter().enumerate() {
            h = b.forward(h);
            if let Some(u) = self.up_after.iter().position(|&a| a == i) {
                h = self.up_convs[u].apply(upsample(h, self.temporal[u]));
            }
        }
        self.conv_out
            .apply(self.conv_out.norm_silu(&self.norm_out, h))
    }
}

/// The video encoder and decoder (the quantizer between them has no parameters).
#[derive(Module, Debug)]
pub struct VideoSpaeModel {
    pub encoder: VideoEncoder,
    pub decoder: VideoDecoder,
}

impl VideoSpaeModel {
    /// Sets the encoder's output bias to `values` (one per latent channel; a trainable
    /// parameter, as before): its latents then start around `values`.
    pub fn start_latents_at(&mut self, values: &[f32]) {
        if let Some(bias) = self.encoder.conv_out.bias.take() {
            let device = bias.val().device();
            let data = TensorData::new(values.to_vec(), [values.len()]);
            self.encoder.conv_out.bias =
                Some(bias.map(|_| Tensor::from_data(data, &device).require_grad()));
        }
    }

    /// Every 3-D convolution of the encoder and the decoder.
    fn convs_mut(&mut self) -> Vec<&mut Conv3d> {
        let (e, d) = (&mut self.encoder, &mut self.decoder);
        let blocks = e
            .blocks
            .iter_mut()
            .chain(d.blocks.iter_mut())
            .flat_map(|b| {
                let shortcut = b.shortcut.as_mut();
                [&mut b.conv1, &mut b.conv2].into_iter().chain(shortcut)
            });
        [
            &mut e.conv_in,
            &mut e.conv_out,
            &mut d.conv_in,
            &mut d.conv_out,
        ]
        .into_iter()
        .chain(d.up_convs.iter_mut())
        .chain(blocks)
        .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tensor::to_vec;

    #[test]
    fn latents_start_at_the_given_row_and_the_bias_still_trains() {
        let device = Device::flex().autodiff();
        let cfg = VideoModelConfig {
            frames: 2,
            image_size: 8,
            base_channels: 4,
            channel_mult: vec![1, 2],
            temporal_down: vec![true],
            norm_groups: 2,
            latent_dim: 3,
            ..VideoModelConfig::default()
        };
        let mut model = cfg.init(&device);
        let x = Tensor::<5>::ones([1, 1, 2, 8, 8], &device);
        let old = to_vec(model.encoder.conv_out.bias.as_ref().unwrap().val());
        let before = to_vec(model.encoder.forward(x.clone()));
        model.start_latents_at(&[10.0, 20.0, 30.0]);
        let z = model.encoder.forward(x);
        // Latent [1, 3, 1, 4, 4]: each channel's 16 values move by its bias's change exactly.
        let after = to_vec(z.clone());
        for (i, (a, b)) in after.iter().zip(&before).enumerate() {
            let c = i / 16;
            let shift = [10.0, 20.0, 30.0][c] - old[c];
            assert!(
                (a - b - shift).abs() < 1e-4,
                "channel {c}: {a} - {b} != {shift}"
            );
        }
        // Still a parameter with a gradient: d(sum z) / d(bias_c) = 16 positions.
        let grads = z.sum().backward();
        let bias = model.encoder.conv_out.bias.as_ref().unwrap();
        assert_eq!(to_vec(bias.val().grad(&grads).unwrap()), vec![16.0; 3]);
    }

    #[test]
    fn pooling_and_repetition_by_hand() {
        let device = Device::flex();
        // One channel, 2 frames of 2x2: frame 0 = 0 1 / 2 3, frame 1 = 4 5 / 6 7.
        let x = Tensor::<5>::from_data(
            TensorData::new(
                (0..8).map(|v| v as f32).collect::<Vec<_>>(),
                [1, 1, 2, 2, 2],
            ),
            &device,
        );
        // Space only: each frame's mean, 1.5 and 5.5; space and time: 3.5.
        let d = downsample(x.clone(), false);
        assert_eq!(d.dims(), [1, 1, 2, 1, 1]);
        assert_eq!(to_vec(d), vec![1.5, 5.5]);
        assert_eq!(to_vec(downsample(x, true)), vec![3.5]);
        // Repetition: a 1x1x1 value 7 becomes 2 frames of 2x2 sevens.
        let one = Tensor::<5>::from_data(TensorData::new(vec![7.0f32], [1, 1, 1, 1, 1]), &device);
        let u = upsample(one, true);
        assert_eq!(u.dims(), [1, 1, 2, 2, 2]);
        assert_eq!(to_vec(u), vec![7.0; 8]);
    }

    #[test]
    fn a_causal_convolution_by_hand() {
        // One channel, one pixel, frames 1, 2, 3, a 3x1x1 kernel of ones and no bias: "same"
        // sums frames t-1..t+1 (3, 6, 5); causal sums t-2..t (1, 3, 6).
        let device = Device::flex();
        let mut conv = Conv3dConfig::new([1, 1], [3, 1, 1])
            .with_padding(PaddingConfig3d::Same)
            .with_bias(false)
            .init(&device);
        conv.weight = burn::module::Param::from_tensor(Tensor::ones([1, 1, 3, 1, 1], &device));
        let x = Tensor::<5>::from_data(
            TensorData::new(vec![1.0f32, 2.0, 3.0], [1, 1, 3, 1, 1]),
            &device,
        );
        assert_eq!(to_vec(causal_conv3d(&conv, x.clone())), vec![3.0, 6.0, 5.0]);
        make_causal(&mut conv);
        assert!(is_causal(&conv));
        assert_eq!(to_vec(causal_conv3d(&conv, x)), vec![1.0, 3.0, 6.0]);
    }

    #[test]
    fn a_causal_model_encodes_early_frames_without_the_later_ones() {
        // 8 frames, time halved once: latent frame j pools input frames 2j and 2j + 1. Changing
        // frames 4-7 leaves latent frames 0 and 1 of the causal model exactly as they were, and
        // the decoder's frames 0-3 from latent frames 0-1; the "same" model's change.
        let device = Device::flex();
        let x: Vec<f32> = (0..8 * 16 * 16)
            .map(|i| ((i * 37) % 101) as f32 / 101.0)
            .collect();
        let mut y = x.clone();
        for v in &mut y[4 * 256..] {
            *v = 1.0 - *v;
        }
        let clip = |v: &[f32]| {
            Tensor::<5>::from_data(TensorData::new(v.to_vec(), [1, 1, 8, 16, 16]), &device)
        };
        for causal in [true, false] {
            let cfg = VideoModelConfig {
                frames: 8,
                image_size: 16,
                base_channels: 8,
                temporal_down: vec![true, false],
                latent_dim: 4,
                causal,
                ..VideoModelConfig::default()
            };
            let m = cfg.init(&device);
            // 2 + 2 in and out, 2 up-convolutions, 6 blocks of 2 and 2 shortcuts (8 -> 16, 16 -> 8).
            assert_eq!(m.clone().convs_mut().len(), 20);
            let (zx, zy) = (m.encoder.forward(clip(&x)), m.encoder.forward(clip(&y)));
            let early = |z: Tensor<5>| to_vec(z.narrow(2, 0, 2));
            assert_eq!(
                early(zx.clone()) == early(zy.clone()),
                causal,
                "causal {causal}"
            );
            let (dx, dy) = (
                m.decoder.forward(zx.clone()),
                m.decoder
                    .forward(zx.slice_assign([0..1, 0..4, 2..4, 0..4, 0..4], zy.narrow(2, 2, 2))),
            );
            let first = |d: Tensor<5>| to_vec(d.narrow(2, 0, 4));
            assert_eq!(first(dx) == first(dy), causal, "decoder, causal {causal}");
        }
    }

    #[test]
    fn shapes_of_a_small_video_model() {
        let cfg = VideoModelConfig {
            frames: 4,
            image_size: 16,
            base_channels: 8,
            latent_dim: 12,
            ..VideoModelConfig::default()
        };
        assert_eq!(cfg.latent_shape(), Ok((1, 4, 4)));
        let device = Device::flex();
        let m = cfg.init(&device);
        let x = Tensor::<5>::zeros([2, 1, 4, 16, 16], &device);
        let z = m.encoder.forward(x);
        assert_eq!(z.dims(), [2, 12, 1, 4, 4]);
        assert_eq!(m.decoder.forward(z).dims(), [2, 1, 4, 16, 16]);
        let bad = VideoModelConfig {
            frames: 6,
            ..cfg.clone()
        };
        assert!(bad.latent_shape().unwrap_err().contains("halve evenly"));
        let bad = VideoModelConfig {
            temporal_down: vec![true],
            ..cfg
        };
        assert!(bad
            .latent_shape()
            .unwrap_err()
            .contains("one entry per stage"));
    }
}
