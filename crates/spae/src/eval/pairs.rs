//! Image sets judged against their originals: PSNR, SSIM and LPIPS per pair, and the FID of the
//! set, as the denoising and reconstruction reports give them.

use burn::tensor::{Device, Tensor, TensorData};
use serde::Serialize;

use super::fid::{frechet_distance, FeatureStats, FidError};
use super::inception::{FidInception, FEATURES};
use super::lpips::Lpips;
use super::{psnr, ssim};
use crate::tensor::to_vec;

/// `[PSNR, SSIM, LPIPS]` of each of `n` image pairs (`n x C x S x S` floats in `[0, 1]`).
pub fn image_metrics(
    lpips: &Lpips,
    x: &[f32],
    y: &[f32],
    [n, ch, size]: [usize; 3],
    device: &Device,
) -> Vec<[f64; 3]> {
    let batch = |v: &[f32]| {
        Tensor::<4>::from_data(TensorData::new(v.to_vec(), [n, ch, size, size]), device)
    };
    let perceptual = to_vec(lpips.distance_unit(batch(x), batch(y)));
    let plane = ch * size * size;
    (0..n)
        .map(|i| {
            let (a, b) = (
                &x[i * plane..(i + 1) * plane],
                &y[i * plane..(i + 1) * plane],
            );
            [
                psnr(a, b),
                ssim(&chw_to_hwc(a, ch), &chw_to_hwc(b, ch), size, size, ch),
                f64::from(perceptual[i]),
            ]
        })
        .collect()
}

/// A planar image (`C x H x W`) as interleaved (`H x W x C`).
pub fn chw_to_hwc(x: &[f32], c: usize) -> Vec<f32> {
    let plane = x.len() / c;
    (0..plane)
        .flat_map(|i| (0..c).map(move |ch| x[ch * plane + i]))
        .collect()
}

/// Mean PSNR (dB), SSIM and LPIPS against the originals, and the FID between the set and the
/// originals (absent below 2 images).
#[derive(Debug, Serialize, Default, Clone, Copy, PartialEq)]
pub struct Scores {
    pub psnr: f64,
    pub ssim: f64,
    pub lpips: f64,
    pub fid: Option<f64>,
}

/// What judges output sets against one set of originals (`n x C x S x S`).
pub struct Judge<'a> {
    lpips: &'a Lpips,
    inception: &'a FidInception,
    originals: &'a [f32],
    shape: [usize; 3],
    /// FID statistics of the originals' Inception features (absent below 2 images).
    reference: Option<FeatureStats>,
    device: Device,
}

impl<'a> Judge<'a> {
    /// A judge of outputs against `originals`, images of `[C, S, S]`.
    pub fn new(
        lpips: &'a Lpips,
        inception: &'a FidInception,
        originals: &'a [f32],
        [ch, size]: [usize; 2],
        device: &Device,
    ) -> Self {
        let reference = inception.features(originals, [ch, size, size]);
        Judge {
            lpips,
            inception,
            originals,
            shape: [ch, size, size],
            reference: FeatureStats::new(&reference, FEATURES).ok(),
            device: device.clone(),
        }
    }

    /// The originals.
    pub fn originals(&self) -> &[f32] {
        self.originals
    }

    /// Mean PSNR, SSIM and LPIPS of `outputs` against the originals, and the FID of the sets.
    pub fn scores(&self, outputs: &[f32]) -> Result<Scores, FidError> {
        let [ch, size, _] = self.shape;
        let n = self.originals.len() / (ch * size * size);
        let m = image_metrics(
            self.lpips,
            self.originals,
            outputs,
            [n, ch, size],
            &self.device,
        );
        let mean = |k: usize| m.iter().map(|v| v[k]).sum::<f64>() / n.max(1) as f64;
        let fid = match &self.reference {
            Some(reference) => {
                let features = self.inception.features(outputs, self.shape);
                Some(frechet_distance(
                    reference,
                    &FeatureStats::new(&features, FEATURES)?,
                )?)
            }
            None => None,
        };
        Ok(Scores {
            psnr: mean(0),
            ssim: mean(1),
            lpips: mean(2),
            fid,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn planar_to_interleaved_by_hand() {
        // Two channels of a 1 x 2 image: r = (1, 2), g = (3, 4) -> (1, 3), (2, 4).
        assert_eq!(
            chw_to_hwc(&[1.0, 2.0, 3.0, 4.0], 2),
            vec![1.0, 3.0, 2.0, 4.0]
        );
    }
}
