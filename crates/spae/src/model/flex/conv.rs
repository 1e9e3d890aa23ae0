//! A stride-1 2-D or 3-D convolution (every convolution of the image and video encoders and
//! decoders: 3x3 / 3x3x3 "same" and 1x1 / 1x1x1) as one operation on flex: im2col + GEMM forward;
//! backward, the weight gradient `dout_b . cols_b^T` accumulated per thread and the input gradient
//! `W^T . dout_b` scattered back by col2im, all with the `gemm` kernels the nearest-word search
//! uses. Samples run in parallel. Each sample's column matrix is built a tile of output rows at a
//! time ([`columns::tile_budget`]), so that a tile is still in the core's cache when its GEMM
//! reads it; the columns are rebuilt in the backward pass rather than kept (at the paper's 128x128
//! preset they would be gigabytes).
//!
//! Strided, dilated or grouped convolutions, asymmetric padding, no bias, other backends and
//! other dtypes take burn's `Conv2d::forward` / `Conv3d::forward`, the reference the tests
//! compare against. An image is a video of depth 1 here: one implementation serves both.

use burn::nn::conv::{Conv2d, Conv3d};
use burn::nn::{PaddingConfig2d, PaddingConfig3d};
use burn::tensor::{DType, Tensor};
use burn_autodiff::checkpoint::base::Checkpointer;
use burn_autodiff::checkpoint::strategy::NoCheckpointing;
use burn_autodiff::grads::Gradients;
use burn_autodiff::ops::{Backward, Ops, OpsKind};
use burn_autodiff::Autodiff;
use burn_flex::{Flex, FlexTensor};
use rayon::prelude::*;

use super::{contiguous, f32s, flex, AdTensor};

mod columns;

use columns::{col2im, im2col, tile_budget, Geometry};

/// `conv.forward(x)`: fused on flex where the geometry allows, burn's layer elsewhere.
pub(crate) fn conv2d(conv: &Conv2d, x: Tensor<4>) -> Tensor<4> {
    let fused = match (&conv.bias, padding_2d(conv)) {
        (Some(bias), Some(pad)) => try_conv(&x, conv.weight.val(), bias.val(), &pad),
        _ => None,
    };
    fused.unwrap_or_else(|| conv.forward(x))
}

/// `conv.forward(x)` for videos `[b, c, t, h, w]`, as [`conv2d`].
pub(crate) fn conv3d(conv: &Conv3d, x: Tensor<5>) -> Tensor<5> {
    let fused = match (&conv.bias, padding_3d(conv)) {
        (Some(bias), Some(pad)) => try_conv(&x, conv.weight.val(), bias.val(), &pad),
        _ => None,
    };
    fused.unwrap_or_else(|| conv.forward(x))
}

/// The symmetric padding `[rows, columns]` of a stride-1, dilation-1, single-group layer.
fn padding_2d(conv: &Conv2d) -> Option<[usize; 2]> {
    if conv.stride != [1, 1] || conv.dilation != [1, 1] || conv.groups != 1 {
        return None;
    }
    let [kh, kw] = conv.kernel_size;
    // Stride 1: "same" pads k - 1 in all, evenly only for odd kernels.
    match conv.padding {
        PaddingConfig2d::Valid => Some([0, 0]),
        PaddingConfig2d::Same if kh % 2 == 1 && kw % 2 == 1 => Some([kh / 2, kw / 2]),
        PaddingConfig2d::Explicit(t, l, b, r) if t == b && l == r => Some([t, l]),
        _ => None,
    }
}

/// The symmetric padding `[frames, rows, columns]` of a stride-1, dilation-1, single-group layer.
fn padding_3d(conv: &Conv3d) -> Option<[usize; 3]> {
    if conv.stride != [1, 1, 1] || conv.dilation != [1, 1, 1] || conv.groups != 1 {
        return None;
    }
    let k = conv.kernel_size;
    match conv.padding {
        PaddingConfig3d::Valid => Some([0, 0, 0]),
        PaddingConfig3d::Same if k.iter().all(|k| k % 2 == 1) => Some(k.map(|k| k / 2)),
        PaddingConfig3d::Explicit(d, h, w) => Some([d, h, w]),
        _ => None,
    }
}

/// The stride-1 convolution of `x` `[b, cin, (d,) h, w]` with `weight` `[cout, cin, (kd,) kh,
/// kw]`, `bias` and `pad` (one entry per spatial axis) zeros on each side, fused on flex; `None`
/// on other backends and dtypes (the caller then runs burn's convolution).
pub(crate) fn try_conv<const D: usize>(
    x: &Tensor<D>,
    weight: Tensor<D>,
    bias: Tensor<1>,
    pad: &[usize],
) -> Option<Tensor<D>> {
    if x.dtype() != DType::F32 || weight.dtype() != DType::F32 || bias.dtype() != DType::F32 {
        return None;
    }
    let (xd, wd) = (x.dims(), weight.dims());
    if D < 2 || wd[1] != xd[1] || bias.dims() != [wd[0]] {
        return None;
    }
    let kernel: Vec<usize> = [wd[0]].into_iter().chain(wd[2..].iter().copied()).collect();
    let g = Geometry::of(&xd, &kernel, pad)?;
    if let (Ok(x), Ok(w), Ok(b)) = (
        x.clone().try_into_primitive::<Autodiff<Flex>>(),
        weight.clone().try_into_primitive::<Autodiff<Flex>>(),
        bias.clone().try_into_primitive::<Autodiff<Flex>>(),
    ) {
        return Some(Tensor::from_primitive::<Autodiff<Flex>>(tracked(
            x, w, b, g,
        )));
    }
    if let (Ok(x), Ok(w), Ok(b)) = (
        x.clone().try_into_primitive::<Flex>(),
        weight.try_into_primitive::<Flex>(),
        bias.try_into_primitive::<Flex>(),
    ) {
        let out = forward(&f32s(&x), &f32s(&w), &f32s(&b), g);
        return Some(Tensor::from_primitive::<Flex>(flex(out, &g.out_dims())));
    }
    None
}

/// A factor of a product: its values and its (row, column) strides.
type Factor<'a> = (&'a [f32], isize, isize);

/// `dst (m x n, rows `dst_row` apart) = [dst +] lhs (m x k) . rhs (k x n)`.
fn matmul(
    (dst, dst_row): (&mut [f32], usize),
    [m, n, k]: [usize; 3],
    lhs: Factor,
    rhs: Factor,
    accumulate: bool,
) {
    let reach = |(v, rs, cs): Factor, rows: usize, cols: usize| {
        rows == 0
            || cols == 0
            || (rows as isize - 1) * rs + (cols as isize - 1) * cs < v.len() as isize
    };
    assert!(
        dst_row >= n
            && (m == 0 || dst.len() >= (m - 1) * dst_row + n)
            && reach(lhs, m, k)
            && reach(rhs, k, n),
        "conv matmul: a factor is shorter than its shape"
    );
    if m == 0 || n == 0 {
        return;
    }
    // SAFETY: the assertion above checked that every element of `dst` (m rows of n values,
    // `dst_row` apart) and every element the factors' strides address lie inside their slices.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            dst_row as isize,
            accumulate,
            lhs.0.as_ptr(),
            lhs.2,
            lhs.1,
            rhs.0.as_ptr(),
            rhs.2,
            rhs.1,
            1.0,
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}

/// The convolution `[b, cout, oh, ow]` of `x` with `weight` `[cout, k]` plus `bias`.
pub(crate) fn forward(x: &[f32], weight: &[f32], bias: &[f32], g: Geometry) -> Vec<f32> {
    forward_in_tiles(x, weight, bias, g, tile_budget(&g))
}

/// [`forward`] with column-matrix tiles of at most `tile` values.
fn forward_in_tiles(x: &[f32], weight: &[f32], bias: &[f32], g: Geometry, tile: usize) -> Vec<f32> {
    let (k, p) = (g.k(), g.p());
    let mut out = vec![0f32; g.b * g.cout * p];
    let buf = g.tile_len(tile);
    let ki = k as isize;
    out.par_chunks_mut(g.cout * p)
        .zip(x.par_chunks(g.in_len()))
        .for_each_init(
            || vec![0f32; buf],
            |cols, (o, xb)| {
                for (row, &bc) in o.chunks_mut(p).zip(bias) {
                    row.fill(bc);
                }
                if g.pointwise() {
                    let pi = p as isize;
                    matmul((o, p), [g.cout, p, k], (weight, ki, 1), (xb, pi, 1), true);
                    return;
                }
                for rows in g.tiles(tile) {
                    let (q0, n) = (rows.start * g.ow, rows.len() * g.ow);
                    im2col(xb, g, rows, cols);
                    let rhs = (&cols[..k * n], n as isize, 1);
                    matmul(
                        (&mut o[q0..], p),
                        [g.cout, n, k],
                        (weight, ki, 1),
                        rhs,
                        true,
                    );
                }
            },
        );
    out
}

/// At most this many chunks of a batch each sum their images' weight gradients ([`backward`]):
/// enough to keep 16 cores busy, and fixed, so that the sums' order does not depend on the
/// number of threads.
const WEIGHT_GRAD_CHUNKS: usize = 16;

/// Which gradients a backward pass computes (a frozen layer, LPIPS's, needs only `dx`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Wanted {
    pub dx: bool,
    pub dweight: bool,
}

/// Gradients `(dx, dweight, dbias)` for the output gradient `dout`; `dx` and `dweight` are empty
/// unless wanted.
pub(crate) fn backward(
    x: &[f32],
    weight: &[f32],
    dout: &[f32],
    g: Geometry,
    want: Wanted,
) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    backward_in_tiles(x, weight, dout, g, want, tile_budget(&g))
}

/// One sample's share of [`backward`]: its bias gradient and weight gradient added to `db` and
/// `dw`, its input gradient into `dx` (each if wanted), its column matrix built in `cols` a tile
/// of at most `tile` values at a time.
fn sample_backward(
    (xb, ob): (&[f32], &[f32]),
    weight: &[f32],
    g: Geometry,
    want: Wanted,
    tile: usize,
    (dw, db, dx): (&mut [f32], &mut [f32], &mut [f32]),
    cols: &mut [f32],
) {
    let (k, p) = (g.k(), g.p());
    let (ki, pi) = (k as isize, p as isize);
    for (d, row) in db.iter_mut().zip(ob.chunks(p)) {
        *d += row.iter().sum::<f32>();
    }
    if g.pointwise() {
        // dW += dout_b . x_b^T; dx_b = W^T . dout_b.
        if want.dweight {
            matmul((dw, k), [g.cout, k, p], (ob, pi, 1), (xb, 1, pi), true);
        }
        if want.dx {
            matmul((dx, p), [k, p, g.cout], (weight, 1, ki), (ob, pi, 1), false);
        }
        return;
    }
    for rows in g.tiles(tile) {
        let (q0, n) = (rows.start * g.ow, rows.len() * g.ow);
        let (dout_tile, ni) = ((&ob[q0..], pi, 1), n as isize);
        if want.dweight {
            im2col(xb, g, rows.clone(), cols);
            matmul(
                (dw, k),
                [g.cout, k, n],
                dout_tile,
                (&cols[..k * n], 1, ni),
                true,
            );
        }
        if want.dx {
            let w = (weight, 1, ki);
            matmul((&mut cols[..k * n], n), [k, n, g.cout], w, dout_tile, false);
            col2im(cols, g, rows, dx);
        }
    }
}

/// [`backward`] with column-matrix tiles of at most `tile` values.
fn backward_in_tiles(
    x: &[f32],
    weight: &[f32],
    dout: &[f32],
    g: Geometry,
    want: Wanted,
    tile: usize,
) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let dw_len = if want.dweight { g.cout * g.k() } else { 0 };
    let p = g.p();
    let in_len = if want.dx { g.in_len() } else { 1 };
    let mut dx = vec![0f32; g.b * in_len];
    let buf = g.tile_len(tile);
    // The batch in fixed chunks (not rayon's fold, whose grouping of images follows its work
    // stealing): each chunk sums its images' weight gradients in order, then the chunks' sums
    // are added in order, so the gradients are the same on every run and any number of threads.
    let per = g.b.div_ceil(WEIGHT_GRAD_CHUNKS).max(1);
    let zero = || (vec![0f32; dw_len], vec![0f32; g.cout]);
    let partials: Vec<(Vec<f32>, Vec<f32>)> = dx
        .par_chunks_mut(in_len * per)
        .zip(x.par_chunks(g.in_len() * per))
        .zip(dout.par_chunks(g.cout * p * per))
        .map(|((dxc, xc), oc)| {
            let ((mut dw, mut db), mut cols) = (zero(), vec![0f32; buf]);
            let images = dxc.chunks_mut(in_len).zip(xc.chunks(g.in_len()));
            for ((dxb, xb), ob) in images.zip(oc.chunks(g.cout * p)) {
                let grads = (&mut dw[..], &mut db[..], dxb);
                sample_backward((xb, ob), weight, g, want, tile, grads, &mut cols);
            }
            (dw, db)
        })
        .collect();
    let (mut dw, mut db) = zero();
    for (dw2, db2) in partials {
        dw.iter_mut().zip(dw2).for_each(|(a, b)| *a += b);
        db.iter_mut().zip(db2).for_each(|(a, b)| *a += b);
    }
    if !want.dx {
        dx.clear();
    }
    (dx, dw, db)
}

/// The autodiff node: parents `x`, `weight`, `bias`.
#[derive(Debug)]
struct ConvBackward;

#[derive(Debug, Clone)]
struct State {
    x: FlexTensor,
    weight: FlexTensor,
    geometry: Geometry,
}

impl Backward<Flex, 3> for ConvBackward {
    type State = State;

    fn backward(self, ops: Ops<State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_x, node_w, node_b] = ops.parents;
        let dout = grads.consume::<Flex>(&ops.node);
        let st = ops.state;
        let g = st.geometry;
        let want = Wanted {
            dx: node_x.is_some(),
            dweight: node_w.is_some(),
        };
        let (dx, dw, db) = backward(&f32s(&st.x), &f32s(&st.weight), &f32s(&dout), g, want);
        if let Some(node) = node_x {
            grads.register::<Flex>(node.id, flex(dx, &g.in_dims()));
        }
        if let Some(node) = node_w {
            grads.register::<Flex>(node.id, flex(dw, &g.weight_dims()));
        }
        if let Some(node) = node_b {
            grads.register::<Flex>(node.id, flex(db, &[g.cout]));
        }
    }
}

fn tracked(x: AdTensor, weight: AdTensor, bias: AdTensor, g: Geometry) -> AdTensor {
    let xs = contiguous(x.primitive().clone());
    let ws = contiguous(weight.primitive().clone());
    let out = forward(&f32s(&xs), &f32s(&ws), &f32s(bias.primitive()), g);
    let out = flex(out, &g.out_dims());
    match ConvBackward
        .prepare::<NoCheckpointing>([x.node(), weight.node(), bias.node()])
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(prep) => prep.finish(
            State {
                x: xs,
                weight: ws,
                geometry: g,
            },
            out,
        ),
        OpsKind::UnTracked(prep) => prep.finish(out),
    }
}

#[cfg(test)]
mod tests;
