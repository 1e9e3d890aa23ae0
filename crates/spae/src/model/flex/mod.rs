//! The model's hottest layers as single operations with their own backward passes on burn's
//! flex backend (the CPU), where burn composes them from many small tensor operations or runs a
//! per-sample convolution backward (issue 17: the network part of a CPU training step). Each
//! falls back to burn's own layer on every other backend and dtype, and is tested against it,
//! values and gradients.
//!
//! - [`norm_silu`]: GroupNorm followed by SiLU;
//! - [`conv2d`] / [`conv3d`]: a stride-1 convolution (an image is a video of one frame) as
//!   im2col + GEMM, its weight gradient one GEMM per sample accumulated per thread, its input
//!   gradient a GEMM + col2im.

mod conv;
mod exp;
mod norm_silu;

pub(crate) use conv::{conv2d, conv3d, try_conv};
pub(crate) use norm_silu::norm_silu;

use burn::tensor::TensorData;
use burn_autodiff::Autodiff;
use burn_flex::{Flex, FlexTensor};
use std::borrow::Cow;

/// An autodiff tensor on flex, as burn-autodiff's backward passes see it.
type AdTensor = burn_backend::tensor::FloatTensor<Autodiff<Flex>>;

/// The tensor itself where its f32 values are contiguous, else a contiguous copy.
fn contiguous(t: FlexTensor) -> FlexTensor {
    if t.as_slice::<f32>().is_some() {
        t
    } else {
        t.to_contiguous()
    }
}

/// A flex tensor's f32 values in row-major order (borrowed where the tensor is contiguous).
fn f32s(t: &FlexTensor) -> Cow<'_, [f32]> {
    match t.as_slice::<f32>() {
        Some(s) => Cow::Borrowed(s),
        None => Cow::Owned(t.to_contiguous().as_slice::<f32>().unwrap_or(&[]).to_vec()),
    }
}

/// A contiguous f32 flex tensor of shape `dims`.
fn flex(values: Vec<f32>, dims: &[usize]) -> FlexTensor {
    FlexTensor::from_data(TensorData::new(values, dims.to_vec()))
}

// The tests compare a fused operation's values with burn's within a relative tolerance.
#[cfg(test)]
use crate::tensor::assert_close as close;
