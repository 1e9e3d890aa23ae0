use super::*;
use crate::model::flex::close;
use burn::module::Module;
use burn::nn::conv::{Conv2dConfig, Conv3dConfig};
use burn::tensor::{Device, Distribution};

use crate::tensor::to_vec as values;

/// Whether `conv2d` takes the fused path for this layer and input.
fn fused(conv: &Conv2d, x: &Tensor<4>) -> bool {
    let bias = conv.bias.as_ref().map(|b| b.val());
    match (bias, padding_2d(conv)) {
        (Some(b), Some(pad)) => try_conv(x, conv.weight.val(), b, &pad).is_some(),
        _ => false,
    }
}

/// Whether `conv3d` takes the fused path for this layer and input.
fn fused_3d(conv: &Conv3d, x: &Tensor<5>) -> bool {
    let bias = conv.bias.as_ref().map(|b| b.val());
    match (bias, padding_3d(conv)) {
        (Some(b), Some(pad)) => try_conv(x, conv.weight.val(), b, &pad).is_some(),
        _ => false,
    }
}

#[test]
fn columns_and_a_convolution_by_hand() {
    // One 2x2 channel [[1, 2], [3, 4]], a 3x3 kernel, padding 1: output position (oy, ox) reads
    // input (oy + ky - 1, ox + kx - 1). The centre row is the input itself; the top-left one
    // reads up and left (only position (1, 1) sees input (0, 0)); the bottom-right one reads
    // down and right (only position (0, 0) sees input (1, 1)).
    let g = Geometry::of(&[1, 1, 2, 2], &[1, 3, 3], &[1, 1]).unwrap();
    let mut cols = vec![f32::NAN; 9 * 4];
    im2col(&[1.0, 2.0, 3.0, 4.0], g, 0..g.out_rows(), &mut cols);
    assert_eq!(&cols[4 * 4..5 * 4], &[1.0, 2.0, 3.0, 4.0]);
    assert_eq!(&cols[0..4], &[0.0, 0.0, 0.0, 1.0]);
    assert_eq!(&cols[8 * 4..9 * 4], &[4.0, 0.0, 0.0, 0.0]);
    // A kernel of ones covers the whole 2x2 input from every position: 1 + 2 + 3 + 4 plus the
    // bias 0.5.
    let out = forward(&[1.0, 2.0, 3.0, 4.0], &[1.0; 9], &[0.5], g);
    assert_eq!(out, vec![10.5; 4]);
    // Backward with dout = 1 everywhere: dbias = 4 positions; dx = 4 (each input is read by all
    // four positions); dweight = the sum of each column row (the centre: 1 + 2 + 3 + 4 = 10).
    let (dx, dw, db) = backward(
        &[1.0, 2.0, 3.0, 4.0],
        &[1.0; 9],
        &[1.0; 4],
        g,
        Wanted {
            dx: true,
            dweight: true,
        },
    );
    assert_eq!((dx, db), (vec![4.0; 4], vec![4.0]));
    assert_eq!((dw[4], dw[0], dw[8]), (10.0, 1.0, 4.0));
}

#[test]
fn col2im_is_the_adjoint_of_im2col() {
    // <im2col(x), c> = <x, col2im(c)> for every geometry the fused path takes.
    let cases: [(&[usize], &[usize], &[usize]); 6] = [
        (&[1, 2, 4, 5], &[1, 3, 3], &[1, 1]),
        (&[1, 2, 4, 5], &[1, 3, 3], &[0, 0]),
        (&[1, 3, 3, 2], &[1, 1, 3], &[0, 1]),
        (&[1, 2, 2, 2], &[1, 5, 5], &[2, 2]),
        (&[1, 2, 3, 4, 5], &[1, 3, 3, 3], &[1, 1, 1]),
        (&[1, 2, 4, 3, 2], &[1, 3, 1, 3], &[0, 0, 1]),
    ];
    for (dims, kernel, pad) in cases {
        let g = Geometry::of(dims, kernel, pad).unwrap();
        let x: Vec<f32> = (0..g.in_len()).map(|i| (i as f32 * 0.37).sin()).collect();
        let c: Vec<f32> = (0..g.k() * g.p())
            .map(|i| (i as f32 * 0.91).cos())
            .collect();
        assert_adjoint(&x, g, 0..g.out_rows(), &c, &format!("{dims:?} {kernel:?}"));
    }
}

/// `<im2col(x)[rows], c> = <x, col2im(c, rows)>` for one sample `x` and a tile `c` of the output
/// rows `rows`.
fn assert_adjoint(x: &[f32], g: Geometry, rows: std::ops::Range<usize>, c: &[f32], what: &str) {
    let (mut cols, mut dx) = (vec![0f32; c.len()], vec![0f32; x.len()]);
    im2col(x, g, rows.clone(), &mut cols);
    col2im(c, g, rows, &mut dx);
    let lhs: f32 = cols.iter().zip(c).map(|(a, b)| a * b).sum();
    let rhs: f32 = x.iter().zip(&dx).map(|(a, b)| a * b).sum();
    assert!(
        (lhs - rhs).abs() < 1e-4 * (1.0 + lhs.abs()),
        "{what}: {lhs} vs {rhs}"
    );
}

#[test]
fn tiles_of_output_rows_give_the_whole_matrix() {
    // A tile of one output row at a time against the whole column matrix as one tile, for a 3x3
    // image convolution (3 rows of 5), an unpadded one, and a 3x3x3 video one: the same
    // convolution and gradients; and the adjoint identity holds tile by tile.
    let cases: [(&[usize], &[usize], &[usize]); 3] = [
        (&[3, 2, 3, 5], &[4, 3, 3], &[1, 1]),
        (&[2, 3, 5, 4], &[2, 3, 3], &[0, 0]),
        (&[2, 2, 3, 4, 3], &[3, 3, 3, 3], &[1, 1, 1]),
    ];
    let value = |i: usize| ((i * 7919 % 1009) as f32 / 1009.0 - 0.5) * 1.3;
    for (dims, kernel, pad) in cases {
        let g = Geometry::of(dims, kernel, pad).unwrap();
        let one_row = g.k() * g.ow;
        assert!(g.tiles(one_row).count() > 1 && g.tiles(usize::MAX).count() == 1);
        let x: Vec<f32> = (0..g.b * g.in_len()).map(value).collect();
        let w: Vec<f32> = (0..g.cout * g.k()).map(|i| value(i + 5)).collect();
        let bias: Vec<f32> = (0..g.cout).map(|i| value(i + 9)).collect();
        let whole = forward_in_tiles(&x, &w, &bias, g, usize::MAX);
        close(
            &forward_in_tiles(&x, &w, &bias, g, one_row),
            &whole,
            1e-6,
            "out",
        );
        let dout: Vec<f32> = (0..whole.len()).map(|i| value(i + 13)).collect();
        let want = Wanted {
            dx: true,
            dweight: true,
        };
        let (dx, dw, db) = backward_in_tiles(&x, &w, &dout, g, want, usize::MAX);
        let (dx1, dw1, db1) = backward_in_tiles(&x, &w, &dout, g, want, one_row);
        close(&dx1, &dx, 1e-6, "dx");
        close(&dw1, &dw, 1e-5, "dweight");
        assert_eq!(db1, db);
        // <im2col(x)[tile], c> = <x, col2im(c, tile)> for the middle tile.
        let rows = g.tiles(one_row).nth(1).unwrap();
        let c: Vec<f32> = (0..g.k() * rows.len() * g.ow)
            .map(|i| value(i + 21))
            .collect();
        assert_adjoint(
            &x[..g.in_len()],
            g,
            rows,
            &c,
            &format!("{dims:?} middle tile"),
        );
    }
}

/// Values and gradients of the fused path (`run(true, x)`) against burn's layer (`run(false,
/// x)`) for a random weighting of the output; `params` reads the weight and bias gradients.
fn compare<const D: usize>(
    x: Tensor<D>,
    run: impl Fn(bool, Tensor<D>) -> Tensor<D>,
    params: impl Fn(&burn::tensor::Gradients) -> [Vec<f32>; 2],
) {
    let w = run(false, x.clone());
    let w = Tensor::<D>::random(w.dims(), Distribution::Default, &w.device());
    let grads = |fused: bool| {
        let out = run(fused, x.clone());
        let grads = (out.clone() * w.clone()).sum().backward();
        let [dw, db] = params(&grads);
        (values(out), x.grad(&grads).map(values), dw, db)
    };
    let (fused, burn) = (grads(true), grads(false));
    close(&fused.0, &burn.0, 1e-5, "out");
    assert_eq!(
        fused.1.is_some(),
        burn.1.is_some(),
        "dx computed where burn's is"
    );
    if let (Some(a), Some(b)) = (&fused.1, &burn.1) {
        close(a, b, 1e-4, "dx");
    }
    close(&fused.2, &burn.2, 1e-4, "dweight");
    close(&fused.3, &burn.3, 1e-4, "dbias");
}

fn matches_burn(cin: usize, cout: usize, k: usize, padding: PaddingConfig2d, x_grad: bool) {
    let device = Device::flex().autodiff();
    let conv = Conv2dConfig::new([cin, cout], [k, k])
        .with_padding(padding)
        .init(&device);
    let x = Tensor::<4>::random([3, cin, 5, 6], Distribution::Normal(0.2, 1.5), &device);
    let x = if x_grad { x.require_grad() } else { x };
    assert!(fused(&conv, &x), "the fused path is taken");
    let run = |fused: bool, x| {
        if fused {
            conv2d(&conv, x)
        } else {
            conv.forward(x)
        }
    };
    compare(x, run, |grads| {
        [
            values(conv.weight.grad(grads).expect("dweight")),
            values(conv.bias.as_ref().unwrap().grad(grads).expect("dbias")),
        ]
    });
}

fn matches_burn_3d(cin: usize, cout: usize, k: usize, padding: PaddingConfig3d) {
    let device = Device::flex().autodiff();
    let conv = Conv3dConfig::new([cin, cout], [k, k, k])
        .with_padding(padding)
        .init(&device);
    let x = Tensor::<5>::random([2, cin, 3, 4, 5], Distribution::Normal(0.2, 1.5), &device);
    let x = x.require_grad();
    assert!(fused_3d(&conv, &x), "the fused path is taken");
    let run = |fused: bool, x| {
        if fused {
            conv3d(&conv, x)
        } else {
            conv.forward(x)
        }
    };
    compare(x, run, |grads| {
        [
            values(conv.weight.grad(grads).expect("dweight")),
            values(conv.bias.as_ref().unwrap().grad(grads).expect("dbias")),
        ]
    });
}

#[test]
fn a_same_3x3_convolution_matches_burn_and_its_gradients() {
    matches_burn(3, 4, 3, PaddingConfig2d::Same, true);
}

#[test]
fn a_1x1_convolution_matches_burn_and_its_gradients() {
    matches_burn(4, 2, 1, PaddingConfig2d::Valid, true);
}

#[test]
fn an_unpadded_3x3_convolution_matches_burn_and_its_gradients() {
    matches_burn(2, 3, 3, PaddingConfig2d::Valid, true);
}

#[test]
fn an_input_without_gradient_leaves_dx_out() {
    matches_burn(1, 4, 3, PaddingConfig2d::Same, false);
}

#[test]
fn a_same_3x3x3_video_convolution_matches_burn_and_its_gradients() {
    matches_burn_3d(2, 3, 3, PaddingConfig3d::Same);
}

#[test]
fn a_1x1x1_video_convolution_matches_burn_and_its_gradients() {
    matches_burn_3d(3, 2, 1, PaddingConfig3d::Valid);
}

#[test]
fn inference_without_autodiff_matches_burn() {
    let device = Device::flex();
    let conv = Conv2dConfig::new([2, 3], [3, 3])
        .with_padding(PaddingConfig2d::Same)
        .init(&device);
    let x = Tensor::<4>::random([2, 2, 4, 4], Distribution::Normal(0.0, 1.0), &device);
    assert!(fused(&conv, &x), "the fused path is taken");
    close(
        &values(conv2d(&conv, x.clone())),
        &values(conv.forward(x)),
        1e-5,
        "out",
    );
}

#[test]
fn strided_convolutions_are_left_to_burn() {
    let device = Device::flex();
    let conv = Conv2dConfig::new([2, 3], [3, 3])
        .with_stride([2, 2])
        .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
        .init(&device);
    let x = Tensor::<4>::random([1, 2, 6, 6], Distribution::Default, &device);
    assert!(!fused(&conv, &x));
    assert_eq!(conv2d(&conv, x).dims(), [1, 3, 3, 3]);
}

#[test]
fn a_frozen_layer_gives_only_the_input_gradient() {
    // LPIPS's convolutions are frozen: no weight gradient is computed or registered.
    let device = Device::flex().autodiff();
    let conv = Conv2dConfig::new([2, 3], [3, 3])
        .with_padding(PaddingConfig2d::Same)
        .init(&device)
        .no_grad();
    let x = Tensor::<4>::random([2, 2, 4, 5], Distribution::Default, &device).require_grad();
    assert!(fused(&conv, &x), "the fused path is taken");
    let grads = conv2d(&conv, x.clone()).sum().backward();
    assert!(conv.weight.grad(&grads).is_none());
    let fused_dx = values(x.grad(&grads).expect("dx"));
    let grads = conv.forward(x.clone()).sum().backward();
    close(&fused_dx, &values(x.grad(&grads).unwrap()), 1e-4, "dx");
}

#[test]
fn weight_gradients_are_the_same_on_any_number_of_threads() {
    // A batch of 37 images (chunks of 3, the last one short), 3x3 and 1x1 kernels: the weight
    // and bias gradients summed over the batch must not depend on how rayon's threads share the
    // images (they did: a GAN + LPIPS run differed from itself in the last bits from step 3).
    let (b, cin, cout, s) = (37, 5, 7, 9);
    let value = |i: usize| ((i * 7919 % 1009) as f32 / 1009.0 - 0.5) * 1.7;
    let x: Vec<f32> = (0..b * cin * s * s).map(value).collect();
    let dout: Vec<f32> = (0..b * cout * s * s).map(|i| value(i + 17)).collect();
    for (k, pad) in [(3, 1), (1, 0)] {
        let g = Geometry::of(&[b, cin, s, s], &[cout, k, k], &[pad, pad]).unwrap();
        let weight: Vec<f32> = (0..cout * cin * k * k).map(|i| value(i + 3)).collect();
        let want = Wanted {
            dx: true,
            dweight: true,
        };
        let on = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            pool.install(|| backward(&x, &weight, &dout, g, want))
        };
        let one = on(1);
        for threads in [2, 3, 8] {
            assert!(on(threads) == one, "{k}x{k} kernel, {threads} threads");
        }
    }
}
