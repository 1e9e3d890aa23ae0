//! GroupNorm followed by SiLU, `silu(norm(x))`, the first half of every residual block and the
//! encoder's and decoder's output heads (method.md, "Encoder and decoder").
//!
//! burn composes both from about a dozen elementwise tensor operations, each its own pass over
//! the activations and its own autodiff node. On burn's flex backend (the CPU) this module runs
//! them as one operation with its own backward pass: one pass for the group statistics and one
//! for the output going forward, three going back (issue 17: the network part of a CPU training
//! step). The sigmoid is [`super::exp`]'s, within 1 ulp of the C library's, so that the passes
//! vectorise. Every other backend, and dtypes other than f32, take burn's composition, which is
//! also the reference the tests compare against.
//!
//! With `xhat = (x - mean_g) * rstd_g` (the group's mean and `1 / sqrt(var_g + eps)`, the biased
//! variance, as burn's `GroupNorm`), `y = gamma_c * xhat + beta_c` and `out = y * sigmoid(y)`:
//! `dy = dout * s * (1 + y * (1 - s))` with `s = sigmoid(y)`, `dbeta_c = sum dy`,
//! `dgamma_c = sum dy * xhat`, and with `g = dy * gamma_c`,
//! `dx = rstd_g * (g - mean_g(g) - xhat * mean_g(g * xhat))`.

use burn::nn::GroupNorm;
use burn::tensor::activation::silu;
use burn::tensor::{DType, Tensor};
use burn_autodiff::checkpoint::base::Checkpointer;
use burn_autodiff::checkpoint::strategy::NoCheckpointing;
use burn_autodiff::grads::Gradients;
use burn_autodiff::ops::{Backward, Ops, OpsKind};
use burn_autodiff::Autodiff;
use burn_flex::{Flex, FlexTensor};
use rayon::prelude::*;

use super::exp::sigmoid;
use super::{contiguous, f32s, flex, AdTensor};
use std::sync::Arc;

/// `silu(norm.forward(x))` for `x` of shape `[N, C, ...]`: fused on flex, burn's composition
/// elsewhere. Same values and gradients either way (to f32 rounding).
pub(crate) fn norm_silu<const D: usize>(norm: &GroupNorm, x: Tensor<D>) -> Tensor<D> {
    match fused(norm, &x) {
        Some(y) => y,
        None => silu(norm.forward(x)),
    }
}

/// The fused path, or `None` where it does not apply (another backend, another dtype, no affine
/// parameters, or tensors of different autodiff contexts).
fn fused<const D: usize>(norm: &GroupNorm, x: &Tensor<D>) -> Option<Tensor<D>> {
    let (gamma, beta) = match (&norm.gamma, &norm.beta) {
        (Some(g), Some(b)) if norm.affine => (g.val(), b.val()),
        _ => return None,
    };
    if D < 3 || x.dtype() != DType::F32 || gamma.dtype() != DType::F32 {
        return None;
    }
    let dims = x.dims();
    let shape = GroupShape::new(&dims, norm.num_groups)?;
    let eps = norm.epsilon;
    if let (Ok(x), Ok(g), Ok(b)) = (
        x.clone().try_into_primitive::<Autodiff<Flex>>(),
        gamma.clone().try_into_primitive::<Autodiff<Flex>>(),
        beta.clone().try_into_primitive::<Autodiff<Flex>>(),
    ) {
        return Some(Tensor::from_primitive::<Autodiff<Flex>>(tracked(
            x, g, b, shape, eps,
        )));
    }
    if let (Ok(x), Ok(g), Ok(b)) = (
        x.clone().try_into_primitive::<Flex>(),
        gamma.try_into_primitive::<Flex>(),
        beta.try_into_primitive::<Flex>(),
    ) {
        let (out, _) = forward(&f32s(&x), &f32s(&g), &f32s(&b), shape, eps);
        return Some(Tensor::from_primitive::<Flex>(flex(out, &dims)));
    }
    None
}

/// `[N, C, S]` with `S` the product of the remaining axes, and `G` groups of `C / G` channels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct GroupShape {
    n: usize,
    c: usize,
    s: usize,
    groups: usize,
}

impl GroupShape {
    /// `None` where the groups do not divide the channels (burn's composition then reports it).
    fn new(dims: &[usize], groups: usize) -> Option<Self> {
        let (n, c) = (dims[0], dims[1]);
        if groups == 0 || c % groups != 0 {
            return None;
        }
        Some(GroupShape {
            n,
            c,
            s: dims[2..].iter().product(),
            groups,
        })
    }

    /// Elements of one group of one sample: `C / G * S`.
    fn group_len(&self) -> usize {
        self.c / self.groups * self.s
    }
}

/// Per (sample, group): the mean and `1 / sqrt(var + eps)`.
#[derive(Debug, Clone)]
pub(crate) struct GroupStats {
    mean: Vec<f32>,
    rstd: Vec<f32>,
}

/// The forward pass on contiguous data: `silu(gamma * xhat + beta)` and the group statistics.
pub(crate) fn forward(
    x: &[f32],
    gamma: &[f32],
    beta: &[f32],
    sh: GroupShape,
    eps: f64,
) -> (Vec<f32>, GroupStats) {
    let len = sh.group_len();
    let cpg = sh.c / sh.groups;
    let mut out = vec![0f32; x.len()];
    let stats: Vec<(f32, f32)> = out
        .par_chunks_mut(len)
        .zip(x.par_chunks(len))
        .enumerate()
        .map(|(i, (o, xs))| {
            let mean = xs.iter().map(|&v| v as f64).sum::<f64>() / len as f64;
            let var = xs.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / len as f64;
            let rstd = (1.0 / (var + eps).sqrt()) as f32;
            let mean = mean as f32;
            let c0 = (i % sh.groups) * cpg;
            for (k, (oc, xc)) in o.chunks_mut(sh.s).zip(xs.chunks(sh.s)).enumerate() {
                let (gm, bt) = (gamma[c0 + k], beta[c0 + k]);
                for (ov, &xv) in oc.iter_mut().zip(xc) {
                    let y = gm * ((xv - mean) * rstd) + bt;
                    *ov = y * sigmoid(y);
                }
            }
            (mean, rstd)
        })
        .collect();
    let (mean, rstd) = stats.into_iter().unzip();
    (out, GroupStats { mean, rstd })
}

/// Gradients of the fused operation: `(dx, dgamma, dbeta)` for the output gradient `dout`.
pub(crate) fn backward(
    x: &[f32],
    gamma: &[f32],
    beta: &[f32],
    stats: &GroupStats,
    dout: &[f32],
    sh: GroupShape,
) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let len = sh.group_len();
    let cpg = sh.c / sh.groups;
    let mut dx = vec![0f32; x.len()];
    // Per (sample, group): the group's channels' partial dgamma and dbeta.
    let partials: Vec<(usize, Vec<f32>, Vec<f32>)> = dx
        .par_chunks_mut(len)
        .zip(x.par_chunks(len).zip(dout.par_chunks(len)))
        .enumerate()
        .map(|(i, (dxs, (xs, ds)))| {
            let (mean, rstd) = (stats.mean[i], stats.rstd[i]);
            let c0 = (i % sh.groups) * cpg;
            let (mut dg, mut db) = (vec![0f32; cpg], vec![0f32; cpg]);
            let (mut sum_g, mut sum_gx) = (0f64, 0f64);
            let channels = dxs
                .chunks_mut(sh.s)
                .zip(xs.chunks(sh.s))
                .zip(ds.chunks(sh.s));
            for (k, ((dyc, xc), dc)) in channels.enumerate() {
                let (gm, bt) = (gamma[c0 + k], beta[c0 + k]);
                // Pass 1 (vectorised): dy into dx's storage.
                for ((dyv, &xv), &dv) in dyc.iter_mut().zip(xc).zip(dc) {
                    let y = gm * ((xv - mean) * rstd) + bt;
                    let s = sigmoid(y);
                    *dyv = dv * s * (1.0 + y * (1.0 - s));
                }
                // dbeta_c = sum dy, dgamma_c = sum dy * xhat; with g = dy * gamma_c, the group's
                // sums of g and g * xhat are gamma_c times those.
                let (dbk, dgk) = channel_sums(dyc, xc, mean, rstd);
                db[k] = dbk as f32;
                dg[k] = dgk as f32;
                sum_g += gm as f64 * dbk;
                sum_gx += gm as f64 * dgk;
            }
            let (mg, mgx) = ((sum_g / len as f64) as f32, (sum_gx / len as f64) as f32);
            // Pass 2: dx = rstd * (g - mean(g) - xhat * mean(g * xhat)).
            for (k, (dyc, xc)) in dxs.chunks_mut(sh.s).zip(xs.chunks(sh.s)).enumerate() {
                let gm = gamma[c0 + k];
                for (v, &xv) in dyc.iter_mut().zip(xc) {
                    let xh = (xv - mean) * rstd;
                    *v = rstd * (gm * *v - mg - xh * mgx);
                }
            }
            (c0, dg, db)
        })
        .collect();
    let (mut dgamma, mut dbeta) = (vec![0f32; sh.c], vec![0f32; sh.c]);
    for (c0, dg, db) in partials {
        for k in 0..cpg {
            dgamma[c0 + k] += dg[k];
            dbeta[c0 + k] += db[k];
        }
    }
    (dx, dgamma, dbeta)
}

/// `(sum dy, sum dy * xhat)` over one channel, in f64: four running sums of each, added at the
/// end (a fixed order, so the same on every run), which the compiler can keep in vector registers.
fn channel_sums(dy: &[f32], x: &[f32], mean: f32, rstd: f32) -> (f64, f64) {
    const LANES: usize = 4;
    let (mut sd, mut sdx) = ([0f64; LANES], [0f64; LANES]);
    let (dys, xs) = (dy.chunks_exact(LANES), x.chunks_exact(LANES));
    let tail = dys.remainder().iter().zip(xs.remainder());
    for (d4, x4) in dys.zip(xs) {
        for l in 0..LANES {
            let xh = (x4[l] - mean) * rstd;
            sd[l] += d4[l] as f64;
            sdx[l] += (d4[l] * xh) as f64;
        }
    }
    let (mut a, mut b) = (sd.iter().sum::<f64>(), sdx.iter().sum::<f64>());
    for (&d, &xv) in tail {
        a += d as f64;
        b += (d * ((xv - mean) * rstd)) as f64;
    }
    (a, b)
}

/// The autodiff node: parents `x`, `gamma`, `beta`.
#[derive(Debug)]
struct NormSiluBackward;

/// What the backward pass needs: the input, the affine parameters and the group statistics.
#[derive(Debug, Clone)]
struct State {
    x: FlexTensor,
    gamma: Arc<Vec<f32>>,
    beta: Arc<Vec<f32>>,
    stats: Arc<GroupStats>,
    shape: GroupShape,
}

impl Backward<Flex, 3> for NormSiluBackward {
    type State = State;

    fn backward(self, ops: Ops<State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_x, node_gamma, node_beta] = ops.parents;
        let dout = grads.consume::<Flex>(&ops.node);
        let st = ops.state;
        let (dx, dgamma, dbeta) = backward(
            &f32s(&st.x),
            &st.gamma,
            &st.beta,
            &st.stats,
            &f32s(&dout),
            st.shape,
        );
        if let Some(node) = node_x {
            grads.register::<Flex>(node.id, flex(dx, &st.x.layout().shape().to_vec()));
        }
        if let Some(node) = node_gamma {
            grads.register::<Flex>(node.id, flex(dgamma, &[st.shape.c]));
        }
        if let Some(node) = node_beta {
            grads.register::<Flex>(node.id, flex(dbeta, &[st.shape.c]));
        }
    }
}

fn tracked(x: AdTensor, gamma: AdTensor, beta: AdTensor, sh: GroupShape, eps: f64) -> AdTensor {
    let dims = x.primitive().layout().shape().to_vec();
    let (xs, gs, bs) = (
        contiguous(x.primitive().clone()),
        f32s(gamma.primitive()).into_owned(),
        f32s(beta.primitive()).into_owned(),
    );
    let (out, stats) = forward(&f32s(&xs), &gs, &bs, sh, eps);
    let out = flex(out, &dims);
    match NormSiluBackward
        .prepare::<NoCheckpointing>([x.node(), gamma.node(), beta.node()])
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(prep) => prep.finish(
            State {
                x: xs,
                gamma: Arc::new(gs),
                beta: Arc::new(bs),
                stats: Arc::new(stats),
                shape: sh,
            },
            out,
        ),
        OpsKind::UnTracked(prep) => prep.finish(out),
    }
}

#[cfg(test)]
mod tests;
