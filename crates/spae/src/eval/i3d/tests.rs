//! Hand-computed cases of I3D's padding, interpolation and pooling.

use super::*;

#[test]
fn same_padding_by_hand() {
    // 16 frames, kernel 7, stride 2: 16 mod 2 = 0, pad 7 - 2 = 5 -> 2 in front, 3 behind.
    assert_eq!(same_padding(16, 7, 2), (2, 3));
    // 5 frames, kernel 3, stride 2: 5 mod 2 = 1, pad 3 - 1 = 2 -> 1, 1.
    assert_eq!(same_padding(5, 3, 2), (1, 1));
    // 1x1x1 kernels never pad; kernel 2 stride 2 on an even length neither.
    assert_eq!(same_padding(28, 1, 1), (0, 0));
    assert_eq!(same_padding(4, 2, 2), (0, 0));
    // Kernel 3, stride 1: pad 2 -> 1, 1.
    assert_eq!(same_padding(9, 3, 1), (1, 1));
}

#[test]
fn half_pixel_interpolation_by_hand() {
    // 2 -> 4: coordinates -0.25 (clamped to 0), 0.25, 0.75, 1.25 (right neighbour clamped).
    let m = half_pixel_rows(2, 4, 0, 4);
    assert_eq!(m, vec![1.0, 0.0, 0.75, 0.25, 0.25, 0.75, 0.0, 1.0]);
    // The centre two of them alone.
    assert_eq!(half_pixel_rows(2, 4, 1, 2), vec![0.75, 0.25, 0.25, 0.75]);
    // 4 -> 2: coordinates 0.5 and 2.5: means of neighbours.
    let m = half_pixel_rows(4, 2, 0, 2);
    assert_eq!(m, vec![0.5, 0.5, 0.0, 0.0, 0.0, 0.0, 0.5, 0.5]);
}

#[test]
fn max_pool_pads_with_zeros_and_strides_in_time() {
    let device = Device::flex();
    // One channel, 4 frames of 1x1 with values -1, 3, -2, 5; kernel 3 stride 2 in time:
    // 4 mod 2 = 0 -> pad 1 -> (0, 1): windows [-1, 3, -2] and [-2, 5, 0].
    let x = Tensor::<5>::from_data(
        TensorData::new(vec![-1.0f32, 3.0, -2.0, 5.0], [1, 1, 4, 1, 1]),
        &device,
    );
    let y: Vec<f32> = max_pool_same(x, [3, 1, 1], [2, 1, 1])
        .into_data()
        .iter::<f32>()
        .collect();
    assert_eq!(y, vec![3.0, 5.0]);
    // All negative: the zero padding wins the last window, as in pytorch-i3d.
    let x = Tensor::<5>::from_data(
        TensorData::new(vec![-1.0f32, -3.0, -2.0, -5.0], [1, 1, 4, 1, 1]),
        &device,
    );
    let y: Vec<f32> = max_pool_same(x, [3, 1, 1], [2, 1, 1])
        .into_data()
        .iter::<f32>()
        .collect();
    assert_eq!(y, vec![-1.0, 0.0]);
}
