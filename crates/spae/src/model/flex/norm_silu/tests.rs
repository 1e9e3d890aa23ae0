use super::*;
use crate::model::flex::close;
use burn::module::Param;
use burn::nn::GroupNormConfig;
use burn::tensor::{Device, Distribution};

use crate::tensor::to_vec as values;

/// A group norm of `c` channels in `groups` groups with random affine parameters.
fn random_norm(groups: usize, c: usize, device: &Device) -> GroupNorm {
    let mut norm = GroupNormConfig::new(groups, c).init(device);
    norm.gamma = Some(Param::from_tensor(Tensor::random(
        [c],
        Distribution::Normal(1.0, 0.5),
        device,
    )));
    norm.beta = Some(Param::from_tensor(Tensor::random(
        [c],
        Distribution::Normal(0.0, 0.5),
        device,
    )));
    norm
}

#[test]
fn two_values_normalise_to_minus_one_and_one() {
    // x = [1, 3] in one group: mean 2, variance 1, xhat = [-1, 1]; gamma 1, beta 0 (eps 0):
    // out = [-1 * sigmoid(-1), 1 * sigmoid(1)] = [-0.268941, 0.731059].
    let sh = GroupShape::new(&[1, 2, 1], 1).unwrap();
    let (out, stats) = forward(&[1.0, 3.0], &[1.0, 1.0], &[0.0, 0.0], sh, 0.0);
    close(&out, &[-0.268_941_4, 0.731_058_6], 1e-6, "out");
    assert_eq!((stats.mean[0], stats.rstd[0]), (2.0, 1.0));
    // dout = [1, 0]: dy_0 = s (1 + y (1 - s)) with y = -1, s = sigmoid(-1) = 0.268941, which is
    // s * s = 0.072329; dbeta = [dy_0, 0], dgamma = [dy_0 * xhat_0, 0] = [-0.072329, 0]. Two
    // values always normalise to -1 and 1, so dx = 0.
    let (dx, dgamma, dbeta) = backward(
        &[1.0, 3.0],
        &[1.0, 1.0],
        &[0.0, 0.0],
        &stats,
        &[1.0, 0.0],
        sh,
    );
    close(&dbeta, &[0.072_329_1, 0.0], 1e-5, "dbeta");
    close(&dgamma, &[-0.072_329_1, 0.0], 1e-5, "dgamma");
    close(&dx, &[0.0, 0.0], 1e-6, "dx");
}

/// Values and gradients of the fused operation against burn's `silu(norm.forward(x))`, for a
/// random weighting of the output as the loss.
fn matches_burn<const D: usize>(dims: [usize; D], groups: usize) {
    let device = Device::flex().autodiff();
    let norm = random_norm(groups, dims[1], &device);
    let x = Tensor::<D>::random(dims, Distribution::Normal(0.3, 2.0), &device).require_grad();
    let w = Tensor::<D>::random(dims, Distribution::Normal(0.0, 1.0), &device);
    let run = |fused: bool| {
        let out = if fused {
            norm_silu(&norm, x.clone())
        } else {
            silu(norm.forward(x.clone()))
        };
        let grads = (out.clone() * w.clone()).sum().backward();
        let grad = |g: Option<Tensor<1>>| values(g.expect("a gradient"));
        (
            values(out),
            values(x.grad(&grads).expect("dx")),
            grad(norm.gamma.as_ref().unwrap().grad(&grads)),
            grad(norm.beta.as_ref().unwrap().grad(&grads)),
        )
    };
    assert!(fused(&norm, &x).is_some(), "the fused path is taken");
    let (fused, burn) = (run(true), run(false));
    close(&fused.0, &burn.0, 1e-5, "out");
    close(&fused.1, &burn.1, 1e-4, "dx");
    close(&fused.2, &burn.2, 1e-4, "dgamma");
    close(&fused.3, &burn.3, 1e-4, "dbeta");
}

#[test]
fn images_match_burns_composition_and_its_gradients() {
    matches_burn([3, 8, 5, 4], 4);
}

#[test]
fn videos_match_burns_composition_and_its_gradients() {
    matches_burn([2, 6, 3, 4, 2], 3);
}

#[test]
fn inference_without_autodiff_matches_burn() {
    let device = Device::flex();
    let norm = random_norm(2, 4, &device);
    let x = Tensor::<4>::random([2, 4, 3, 3], Distribution::Normal(-1.0, 3.0), &device);
    assert!(super::fused(&norm, &x).is_some(), "the fused path is taken");
    let fused = values(norm_silu(&norm, x.clone()));
    let burn = values(silu(norm.forward(x)));
    close(&fused, &burn, 1e-5, "out");
}

#[test]
fn a_strided_input_is_read_in_its_logical_order() {
    let device = Device::flex().autodiff();
    let norm = random_norm(2, 4, &device);
    let x = Tensor::<4>::random([2, 3, 4, 5], Distribution::Normal(0.0, 1.0), &device);
    let strided = x.clone().swap_dims(1, 2);
    let copy = Tensor::<4>::from_data(strided.clone().into_data(), &device);
    assert!(fused(&norm, &strided).is_some(), "the fused path is taken");
    close(
        &values(norm_silu(&norm, strided)),
        &values(silu(norm.forward(copy))),
        1e-5,
        "out",
    );
}

#[test]
fn groups_that_do_not_divide_the_channels_are_left_to_burn() {
    assert!(GroupShape::new(&[1, 6, 2], 4).is_none());
    assert!(GroupShape::new(&[1, 6, 2], 0).is_none());
    assert_eq!(GroupShape::new(&[2, 6, 3, 2], 3).unwrap().group_len(), 12);
}
