//! Small tensor helpers shared by inference, scorers, evaluation and training (below all of
//! them, so that none has to import another for them).

use burn::tensor::{Device, Tensor, TensorData};

/// Floats of a tensor, read back from the device.
pub fn to_vec<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().convert::<f32>().iter::<f32>().collect()
}

/// Images as a tensor `[B, C, S, S]` on `device`.
pub fn image_tensor(
    pixels: Vec<f32>,
    batch: usize,
    channels: usize,
    size: usize,
    device: &Device,
) -> Tensor<4> {
    Tensor::<4>::from_data(
        TensorData::new(pixels, [batch, channels, size, size]),
        device,
    )
}

/// Scales a vector to unit length (a zero vector stays zero).
pub fn normalize(v: &mut [f32]) {
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if n > 0.0 {
        v.iter_mut().for_each(|x| *x /= n);
    }
}

/// Clips stored frame after frame (`B x T x C x S x S` floats, the layout of clip files and
/// sheets) as a video model's `[B, C, T, S, S]` tensor.
pub fn clips_to_tensor(pixels: Vec<f32>, [b, t, c, s]: [usize; 4], device: &Device) -> Tensor<5> {
    Tensor::<5>::from_data(TensorData::new(pixels, [b, t, c, s, s]), device).swap_dims(1, 2)
}

/// The frames of clips `[B, C, T, H, W]` as images `[B * T, C, H, W]`, clip after clip.
pub fn clip_frames(clips: Tensor<5>) -> Tensor<4> {
    let [b, c, t, h, w] = clips.dims();
    clips.swap_dims(1, 2).reshape([b * t, c, h, w])
}

/// A video model's `[B, C, T, S, S]` tensor as clips stored frame after frame
/// (`B x T x C x S x S`): its [`clip_frames`], read back.
pub fn tensor_to_clips(x: Tensor<5>) -> Vec<f32> {
    to_vec(clip_frames(x))
}

/// The mean of the rows of a row-major `n x dim` matrix (accumulated in f64).
pub fn mean_row(rows: &[f32], dim: usize) -> Vec<f32> {
    let n = rows.len() / dim.max(1);
    let mut sum = vec![0f64; dim];
    for row in rows.chunks_exact(dim) {
        for (s, &v) in sum.iter_mut().zip(row) {
            *s += f64::from(v);
        }
    }
    sum.iter().map(|s| (s / n.max(1) as f64) as f32).collect()
}

/// Asserts that values `a` equal the reference `b` within a relative `tol` (tests: the fused
/// operations against burn's layers, the device quantizer against the host's).
#[cfg(test)]
pub(crate) fn assert_close(a: &[f32], b: &[f32], tol: f32, what: &str) {
    assert_eq!(a.len(), b.len(), "{what}: lengths");
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert!(
            (x - y).abs() <= tol * (1.0 + y.abs()),
            "{what}[{i}]: {x} vs reference {y}"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mean_row_by_hand() {
        // Rows (1, 2), (3, 6), (5, 1): means 3 and 3.
        assert_eq!(mean_row(&[1.0, 2.0, 3.0, 6.0, 5.0, 1.0], 2), vec![3.0, 3.0]);
    }

    #[test]
    fn images_round_trip_in_nchw_order() {
        let px: Vec<f32> = (0..2 * 3 * 2 * 2).map(|i| i as f32).collect();
        let t = image_tensor(px.clone(), 2, 3, 2, &Device::flex());
        assert_eq!(t.dims(), [2, 3, 2, 2]);
        // Image 1, channel 2, row 1, column 0: 1*12 + 2*4 + 1*2 + 0 = 22.
        let v = to_vec(t.clone().slice([1..2, 2..3, 1..2, 0..1]));
        assert_eq!(v, vec![22.0]);
        assert_eq!(to_vec(t), px);
    }

    #[test]
    fn clips_and_tensors_by_hand() {
        // One clip of 2 frames of 2 channels of 1 pixel: frame 0 is (1, 2), frame 1 is (3, 4);
        // channel-major the tensor reads 1, 3 (channel 0 over time), then 2, 4.
        let dev = Device::flex();
        let x = clips_to_tensor(vec![1.0, 2.0, 3.0, 4.0], [1, 2, 2, 1], &dev);
        assert_eq!(x.dims(), [1, 2, 2, 1, 1]);
        assert_eq!(to_vec(x.clone()), vec![1.0, 3.0, 2.0, 4.0]);
        assert_eq!(tensor_to_clips(x.clone()), vec![1.0, 2.0, 3.0, 4.0]);
        // As images: frame 0 is (1, 2), frame 1 (3, 4).
        let f = clip_frames(x);
        assert_eq!(f.dims(), [2, 2, 1, 1]);
        assert_eq!(to_vec(f), vec![1.0, 2.0, 3.0, 4.0]);
    }
}
