//! The FVD feature extractor (Unterthiner et al., 2018): I3D (Carreira & Zisserman, 2017), the
//! Inception-v1 network inflated to 3-D, in burn, with the module and tensor names of the PyTorch
//! port `pytorch-i3d` (`Conv3d_1a_7x7.conv3d.weight`, `Mixed_3b.b1b.bn.running_var`, ...), the
//! layout VideoGPT and TATS convert the TF-Hub Kinetics-400 weights of FVD into (their copy of
//! the port differs in one constant, the batch norm epsilon: [`I3dPort`]).
//!
//! No I3D weights are installable from a package registry, so they are user-supplied: a PyTorch
//! state dict converted to safetensors by `tools/torch_weights.py` (no torch needed). Every
//! convolution's width is read from its weight, so any width of the same architecture loads (the
//! parity test uses a narrow twin, `tools/i3d_fixtures.py`). Preprocessing follows the
//! VideoGPT / TATS FVD code: frames quantised to 8 bits, gray repeated to RGB, the shorter side
//! resized to 224 (bilinear, half-pixel centres), centre crop, scaled to `[-1, 1]`; the features
//! are the logits averaged over time (400-d with the Kinetics-400 weights).

use std::path::Path;

use burn::tensor::activation::relu;
use burn::tensor::module::{avg_pool1d, avg_pool2d, conv3d, max_pool1d, max_pool2d};
use burn::tensor::ops::{AvgPoolOptions, ConvOptions, MaxPoolOptions, PadMode};
use burn::tensor::{Device, Tensor, TensorData};
use thiserror::Error;

use crate::weights::{Weights, WeightsError};

/// Side of the network's square input.
pub const INPUT_SIZE: usize = 224;
/// Fewest frames a clip may have: three stride-2 stages in time must leave the final
/// `2 x 7 x 7` average pool two frames.
pub const MIN_FRAMES: usize = 9;
/// Clips per forward pass (bounds the activations' memory).
const BATCH: usize = 2;

#[derive(Debug, Error)]
pub enum I3dError {
    #[error(transparent)]
    Weights(#[from] WeightsError),
    #[error("I3D needs clips of at least {MIN_FRAMES} frames (three stride-2 stages in time and a final 2-frame pool), these have {0}")]
    TooFewFrames(usize),
    #[error("I3D takes clips of 1 (gray) or 3 channels, not {0}")]
    Channels(usize),
    #[error("{0} values are not whole clips of {1} floats")]
    Ragged(usize, usize),
}

/// Which copy of the PyTorch port the weights were made for: they differ only in the batch norm
/// epsilon, which the weights were converted or trained with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum I3dPort {
    /// VideoGPT / TATS `fvd/pytorch_i3d.py` (`i3d_pretrained_400.pt`, the TF-Hub Kinetics-400
    /// network of FVD): epsilon 1e-5.
    #[default]
    Videogpt,
    /// `pytorch-i3d` itself (`rgb_imagenet.pt`, `rgb_charades.pt`): epsilon 0.001.
    PytorchI3d,
}

impl I3dPort {
    /// The name `--i3d-port` takes.
    pub fn name(self) -> &'static str {
        match self {
            I3dPort::Videogpt => "videogpt",
            I3dPort::PytorchI3d => "pytorch-i3d",
        }
    }

    /// The batch norm epsilon folded into each convolution.
    pub fn bn_eps(self) -> f32 {
        match self {
            I3dPort::Videogpt => 1e-5,
            I3dPort::PytorchI3d => 1e-3,
        }
    }
}

impl std::str::FromStr for I3dPort {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        [I3dPort::Videogpt, I3dPort::PytorchI3d]
            .into_iter()
            .find(|p| p.name() == s)
            .ok_or_else(|| {
                format!("unknown I3D port '{s}': videogpt (epsilon 1e-5) or pytorch-i3d (0.001)")
            })
    }
}

/// The padding of TensorFlow's "same" convolutions and pools as `pytorch-i3d` computes it from
/// the input length: `max(k - s, 0)` when `s` divides `len`, else `max(k - len mod s, 0)`; the
/// smaller half in front.
pub fn same_padding(len: usize, kernel: usize, stride: usize) -> (usize, usize) {
    let total = match len % stride {
        0 => kernel.saturating_sub(stride),
        r => kernel.saturating_sub(r),
    };
    (total / 2, total - total / 2)
}

/// Pads dimensions 2..5 (time, height, width) of `x` for a "same" window of `kernel` / `stride`.
fn pad_same(x: Tensor<5>, kernel: [usize; 3], stride: [usize; 3]) -> Tensor<5> {
    let [_, _, t, h, w] = x.dims();
    let pads = [
        same_padding(t, kernel[0], stride[0]),
        same_padding(h, kernel[1], stride[1]),
        same_padding(w, kernel[2], stride[2]),
    ];
    if pads.iter().all(|&(a, b)| a + b == 0) {
        return x;
    }
    x.pad(pads, PadMode::Constant(0.0))
}

/// A `pytorch-i3d` `Unit3D`: "same" 3-D convolution, batch norm (folded in) and ReLU; the logits
/// unit has a bias and neither.
struct Unit {
    weight: Tensor<5>,
    bias: Tensor<1>,
    stride: [usize; 3],
    relu: bool,
}

impl Unit {
    /// Unit `name` with a `kernel` (checked against its weight) and `stride`, reading `cin`
    /// channels; `bn`: batch norm (with this epsilon) + ReLU, else a biased linear unit.
    fn load(
        w: &Weights,
        bn: Option<f32>,
        name: &str,
        cin: usize,
        kernel: [usize; 3],
        stride: [usize; 3],
        device: &Device,
    ) -> Result<Self, WeightsError> {
        let wname = format!("{name}.conv3d.weight");
        let shape = w.shape(&wname)?;
        let cout = shape.first().copied().unwrap_or(0);
        if cout == 0 {
            return Err(w.invalid(format!("tensor {wname} has no output channels")));
        }
        let expected = [cout, cin, kernel[0], kernel[1], kernel[2]];
        if shape != expected {
            return Err(w.invalid(format!(
                "tensor {wname} is {shape:?}, expected {expected:?} (I3D's layer after {cin} channels)"
            )));
        }
        let raw = w.floats(&wname, &expected)?;
        let (scale, bias) = if let Some(eps) = bn {
            let get = |p: &str| w.floats(&format!("{name}.bn.{p}"), &[cout]);
            let (gamma, beta) = (get("weight")?, get("bias")?);
            let (mean, var) = (get("running_mean")?, get("running_var")?);
            let scale: Vec<f32> = (0..cout)
                .map(|o| gamma[o] / (var[o] + eps).sqrt())
                .collect();
            let bias = (0..cout).map(|o| beta[o] - mean[o] * scale[o]).collect();
            (scale, bias)
        } else {
            (
                vec![1.0; cout],
                w.floats(&format!("{name}.conv3d.bias"), &[cout])?,
            )
        };
        let per_out = raw.len() / cout.max(1);
        let folded: Vec<f32> = raw
            .iter()
            .enumerate()
            .map(|(i, x)| x * scale[i / per_out])
            .collect();
        Ok(Unit {
            weight: Tensor::from_data(TensorData::new(folded, expected), device),
            bias: Tensor::from_data(TensorData::new(bias, [cout]), device),
            stride,
            relu: bn.is_some(),
        })
    }

    fn cout(&self) -> usize {
        self.weight.dims()[0]
    }

    fn forward(&self, x: Tensor<5>) -> Tensor<5> {
        let [_, _, kt, kh, kw] = self.weight.dims();
        let x = pad_same(x, [kt, kh, kw], self.stride);
        let options = ConvOptions::new(self.stride, [0; 3], [1; 3], 1);
        let y = conv3d(x, self.weight.clone(), Some(self.bias.clone()), options);
        if self.relu {
            relu(y)
        } else {
            y
        }
    }
}

/// `pytorch-i3d`'s `MaxPool3dSamePadding`: zero "same" padding, then a max over
/// `kernel` windows with `stride` (spatially, then in time: the max is separable).
pub fn max_pool_same(x: Tensor<5>, kernel: [usize; 3], stride: [usize; 3]) -> Tensor<5> {
    separable_pool(
        pad_same(x, kernel, stride),
        |x| {
            let options = MaxPoolOptions::new([kernel[1], kernel[2]]);
            max_pool2d(x, options.with_stride([stride[1], stride[2]]))
        },
        |x| max_pool1d(x, MaxPoolOptions::new([kernel[0]]).with_stride([stride[0]])),
    )
}

/// An unpadded average over `kernel` windows with stride 1 (I3D's final `2 x 7 x 7` pool; the
/// mean of a box is separable too).
fn avg_pool_valid(x: Tensor<5>, kernel: [usize; 3]) -> Tensor<5> {
    separable_pool(
        x,
        |x| {
            avg_pool2d(
                x,
                AvgPoolOptions::new([kernel[1], kernel[2]]).with_stride([1, 1]),
            )
        },
        |x| avg_pool1d(x, AvgPoolOptions::new([kernel[0]]).with_stride([1])),
    )
}

/// A pool over `[B, C, T, H, W]` as a 2-d pool over height and width (`spatial`, on
/// `[B * C, T, H, W]`) followed by a 1-d pool over time (`time`, on `[B * C, H' * W', T]`).
fn separable_pool(
    x: Tensor<5>,
    spatial: impl FnOnce(Tensor<4>) -> Tensor<4>,
    time: impl FnOnce(Tensor<3>) -> Tensor<3>,
) -> Tensor<5> {
    let [b, c, t, h, w] = x.dims();
    let x = spatial(x.reshape([b * c, t, h, w]));
    let [_, _, h2, w2] = x.dims();
    let x = time(x.reshape([b * c, t, h2 * w2]).swap_dims(1, 2));
    let t2 = x.dims()[2];
    x.swap_dims(1, 2).reshape([b, c, t2, h2, w2])
}

/// An Inception module: four branches (1x1x1; 1x1x1 then 3x3x3; the same again; a 3x3x3 max
/// pool then 1x1x1) concatenated along channels.
struct Mixed {
    b0: Unit,
    b1: [Unit; 2],
    b2: [Unit; 2],
    b3: Unit,
}

impl Mixed {
    fn load(
        w: &Weights,
        eps: f32,
        name: &str,
        cin: usize,
        device: &Device,
    ) -> Result<Self, WeightsError> {
        let unit = |branch: &str, cin: usize, k: usize| {
            let name = format!("{name}.{branch}");
            Unit::load(w, Some(eps), &name, cin, [k; 3], [1; 3], device)
        };
        let b1a = unit("b1a", cin, 1)?;
        let b1b = unit("b1b", b1a.cout(), 3)?;
        let b2a = unit("b2a", cin, 1)?;
        let b2b = unit("b2b", b2a.cout(), 3)?;
        Ok(Mixed {
            b0: unit("b0", cin, 1)?,
            b1: [b1a, b1b],
            b2: [b2a, b2b],
            b3: unit("b3b", cin, 1)?,
        })
    }

    fn cout(&self) -> usize {
        self.b0.cout() + self.b1[1].cout() + self.b2[1].cout() + self.b3.cout()
    }

    fn forward(&self, x: Tensor<5>) -> Tensor<5> {
        let branches = vec![
            self.b0.forward(x.clone()),
            self.b1[1].forward(self.b1[0].forward(x.clone())),
            self.b2[1].forward(self.b2[0].forward(x.clone())),
            self.b3.forward(max_pool_same(x, [3; 3], [1; 3])),
        ];
        Tensor::cat(branches, 1)
    }
}

/// One stage of the network, in order.
enum Stage {
    Unit(Box<Unit>),
    Pool {
        kernel: [usize; 3],
        stride: [usize; 3],
    },
    Mixed(Box<Mixed>),
}

/// I3D up to its logits, as loaded from a safetensors file.
pub struct I3d {
    stages: Vec<Stage>,
    logits: Unit,
    device: Device,
}

/// I3D's stages after the stem: the Inception modules and the pools between them.
const MIXED: [&str; 11] = [
    "Mixed_3b",
    "Mixed_3c",
    "pool 3x3x3/2",
    "Mixed_4b",
    "Mixed_4c",
    "Mixed_4d",
    "Mixed_4e",
    "Mixed_4f",
    "pool 2x2x2/2",
    "Mixed_5b",
    "Mixed_5c",
];

impl I3d {
    /// The network in `path` (a safetensors file with `pytorch-i3d`'s tensor names), made for
    /// `port`.
    pub fn load(path: &Path, port: I3dPort, device: &Device) -> Result<Self, I3dError> {
        let w = Weights::open(path)?;
        let eps = port.bn_eps();
        let unit = |name: &str, cin: usize, k: usize, s: usize| {
            Unit::load(&w, Some(eps), name, cin, [k; 3], [s; 3], device)
        };
        let spatial_pool = Stage::Pool {
            kernel: [1, 3, 3],
            stride: [1, 2, 2],
        };
        let conv1 = unit("Conv3d_1a_7x7", 3, 7, 2)?;
        let conv2b = unit("Conv3d_2b_1x1", conv1.cout(), 1, 1)?;
        let conv2c = unit("Conv3d_2c_3x3", conv2b.cout(), 3, 1)?;
        let mut width = conv2c.cout();
        let mut stages = vec![
            Stage::Unit(Box::new(conv1)),
            spatial_pool,
            Stage::Unit(Box::new(conv2b)),
            Stage::Unit(Box::new(conv2c)),
            Stage::Pool {
                kernel: [1, 3, 3],
                stride: [1, 2, 2],
            },
        ];
        for name in MIXED {
            let stage = match name {
                "pool 3x3x3/2" => Stage::Pool {
                    kernel: [3; 3],
                    stride: [2; 3],
                },
                "pool 2x2x2/2" => Stage::Pool {
                    kernel: [2; 3],
                    stride: [2; 3],
                },
                _ => {
                    let m = Mixed::load(&w, eps, name, width, device)?;
                    width = m.cout();
                    Stage::Mixed(Box::new(m))
                }
            };
            stages.push(stage);
        }
        let logits = Unit::load(&w, None, "logits", width, [1; 3], [1; 3], device)?;
        Ok(I3d {
            stages,
            logits,
            device: device.clone(),
        })
    }

    /// Width of the features (the number of classes of the logits).
    pub fn dim(&self) -> usize {
        self.logits.cout()
    }

    /// The logits of `x` (`[B, 3, T, 224, 224]` in `[-1, 1]`) averaged over time: `[B, K]`.
    fn forward(&self, mut x: Tensor<5>) -> Tensor<2> {
        for stage in &self.stages {
            x = match stage {
                Stage::Unit(u) => u.forward(x),
                Stage::Pool { kernel, stride } => max_pool_same(x, *kernel, *stride),
                Stage::Mixed(m) => m.forward(x),
            };
        }
        let y = self.logits.forward(avg_pool_valid(x, [2, 7, 7]));
        let [b, k, t, h, w] = y.dims();
        // Spatial squeeze (1 x 1 at 224 x 224), then the mean over time.
        y.reshape([b, k, t, h * w])
            .mean_dim(3)
            .mean_dim(2)
            .reshape([b, k])
    }

    /// The features of clips given as `N x T x C x H x W` floats in `[0, 1]` (row-major; `C` = 1
    /// or 3, any size), preprocessed as the module doc says. Returns `N x dim()` values.
    pub fn features(&self, pixels: &[f32], [t, c, h, w]: [usize; 4]) -> Result<Vec<f32>, I3dError> {
        if t < MIN_FRAMES {
            return Err(I3dError::TooFewFrames(t));
        }
        if c != 1 && c != 3 {
            return Err(I3dError::Channels(c));
        }
        let per = t * c * h * w;
        if per == 0 || !pixels.len().is_multiple_of(per) {
            return Err(I3dError::Ragged(pixels.len(), per));
        }
        let (ry, rx) = resize_crop_matrices(h, w, &self.device);
        let mut out = Vec::with_capacity(pixels.len() / per * self.dim());
        for chunk in pixels.chunks(BATCH * per) {
            let n = chunk.len() / per;
            let x = Tensor::<3>::from_data(
                TensorData::new(chunk.to_vec(), [n * t * c, h, w]),
                &self.device,
            );
            let bytes = x
                .mul_scalar(255.0)
                .round()
                .clamp(0.0, 255.0)
                .div_scalar(255.0);
            let rows = bytes.matmul(rx.clone().transpose().unsqueeze()); // [.., h, 224]
            let x = ry.clone().unsqueeze::<3>().matmul(rows); // [.., 224, 224]
            let x = x.reshape([n, t, c, INPUT_SIZE, INPUT_SIZE]);
            let x = if c == 1 { x.repeat_dim(2, 3) } else { x };
            let x = x.swap_dims(1, 2).mul_scalar(2.0).sub_scalar(1.0);
            out.extend(self.forward(x).into_data().iter::<f32>());
        }
        Ok(out)
    }
}

/// `[224, h]` and `[224, w]` weights that scale the shorter side of an `h x w` frame to 224
/// (the longer to `ceil(len * 224 / shorter)`) by bilinear interpolation with half-pixel centres
/// (PyTorch's `align_corners=False`), then keep the centre 224 rows of each.
fn resize_crop_matrices(h: usize, w: usize, device: &Device) -> (Tensor<2>, Tensor<2>) {
    let short = h.min(w) as f64;
    let target = |len: usize| (len as f64 * INPUT_SIZE as f64 / short).ceil() as usize;
    let axis = |len: usize| {
        let out = target(len).max(INPUT_SIZE);
        let kept = half_pixel_rows(len, out, (out - INPUT_SIZE) / 2, INPUT_SIZE);
        Tensor::from_data(TensorData::new(kept, [INPUT_SIZE, len]), device)
    };
    (axis(h), axis(w))
}

/// Rows `start .. start + count` of the `[out, len]` weights of 1-d linear interpolation at
/// coordinates `max((j + 0.5) len / out - 0.5, 0)`, the right neighbour clamped to `len - 1`
/// (only the kept rows: a very long side does not make an `out x len` matrix).
pub fn half_pixel_rows(len: usize, out: usize, start: usize, count: usize) -> Vec<f32> {
    let mut m = vec![0f32; count * len];
    for (r, j) in (start..start + count).enumerate() {
        let src = ((j as f64 + 0.5) * len as f64 / out as f64 - 0.5).max(0.0);
        let i0 = (src.floor() as usize).min(len - 1);
        let i1 = (i0 + 1).min(len - 1);
        let frac = (src - i0 as f64) as f32;
        m[r * len + i0] += 1.0 - frac;
        m[r * len + i1] += frac;
    }
    m
}

#[cfg(test)]
mod tests;
