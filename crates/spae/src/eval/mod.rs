//! Evaluation: reconstruction metrics (PSNR and SSIM on images in `[0, 1]`, `height x width x
//! channels`, LPIPS ([`lpips`]) on image tensors, FID ([`fid`] over [`inception`] features) and
//! FVD (the same distance over [`i3d`] features of clips)) and the digit [`classifier`] that
//! judges generated images.

pub mod classifier;
pub mod concepts;
pub mod fid;
pub mod i3d;
pub mod inception;
mod linalg;
pub mod lpips;
pub mod pairs;

/// Peak signal-to-noise ratio in dB for a data range of 1: `10 log10(1 / MSE)`;
/// infinite for identical images.
pub fn psnr(a: &[f32], b: &[f32]) -> f64 {
    assert_eq!(a.len(), b.len(), "psnr: images differ in size");
    let mse = a
        .iter()
        .zip(b)
        .map(|(x, y)| f64::from(x - y).powi(2))
        .sum::<f64>()
        / a.len().max(1) as f64;
    if mse == 0.0 {
        f64::INFINITY
    } else {
        -10.0 * mse.log10()
    }
}

/// SSIM window: 11 x 11 Gaussian, sigma 1.5, as in Wang et al. (2004) and `tf.image.ssim`.
pub const SSIM_WINDOW: usize = 11;
pub const SSIM_SIGMA: f64 = 1.5;
/// SSIM stabilisers for a data range of 1: `C1 = (0.01)^2`, `C2 = (0.03)^2`.
pub const SSIM_C1: f64 = 0.01 * 0.01;
pub const SSIM_C2: f64 = 0.03 * 0.03;

fn gaussian_window() -> Vec<f64> {
    let r = (SSIM_WINDOW / 2) as f64;
    let g: Vec<f64> = (0..SSIM_WINDOW)
        .map(|i| (-((i as f64 - r).powi(2)) / (2.0 * SSIM_SIGMA * SSIM_SIGMA)).exp())
        .collect();
    let s: f64 = g.iter().sum();
    g.iter().map(|v| v / s).collect()
}

/// Structural similarity, the mean over valid window positions and channels of
/// `(2 mu_x mu_y + C1)(2 sigma_xy + C2) / ((mu_x^2 + mu_y^2 + C1)(sigma_x^2 + sigma_y^2 + C2))`
/// with Gaussian-weighted local statistics. Images smaller than the window use one window of
/// their own size (uniform weights).
pub fn ssim(a: &[f32], b: &[f32], h: usize, w: usize, c: usize) -> f64 {
    assert_eq!(a.len(), h * w * c, "ssim: image a is not {h}x{w}x{c}");
    assert_eq!(b.len(), h * w * c, "ssim: image b is not {h}x{w}x{c}");
    let (win, g): (usize, Vec<f64>) = if h >= SSIM_WINDOW && w >= SSIM_WINDOW {
        (SSIM_WINDOW, gaussian_window())
    } else {
        let n = h.min(w);
        (n, vec![1.0 / n as f64; n])
    };
    let px = |img: &[f32], y: usize, x: usize, ch: usize| f64::from(img[(y * w + x) * c + ch]);
    let mut total = 0.0;
    let mut count = 0usize;
    for ch in 0..c {
        for y0 in 0..=h - win {
            for x0 in 0..=w - win {
                let (mut mx, mut my, mut xx, mut yy, mut xy) = (0.0, 0.0, 0.0, 0.0, 0.0);
                for (i, gi) in g.iter().enumerate() {
                    for (j, gj) in g.iter().enumerate() {
                        let wt = gi * gj;
                        let (p, q) = (px(a, y0 + i, x0 + j, ch), px(b, y0 + i, x0 + j, ch));
                        mx += wt * p;
                        my += wt * q;
                        xx += wt * p * p;
                        yy += wt * q * q;
                        xy += wt * p * q;
                    }
                }
                let (vx, vy, cxy) = (xx - mx * mx, yy - my * my, xy - mx * my);
                total += ((2.0 * mx * my + SSIM_C1) * (2.0 * cxy + SSIM_C2))
                    / ((mx * mx + my * my + SSIM_C1) * (vx + vy + SSIM_C2));
                count += 1;
            }
        }
    }
    total / count as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn psnr_by_hand() {
        // MSE 0.01 -> 20 dB.
        assert!((psnr(&[0.0; 4], &[0.1; 4]) - 20.0).abs() < 1e-5);
        assert_eq!(psnr(&[0.3; 4], &[0.3; 4]), f64::INFINITY);
    }

    #[test]
    fn ssim_by_hand() {
        let img: Vec<f32> = (0..16 * 16)
            .map(|i| ((i * 37) % 101) as f32 / 100.0)
            .collect();
        assert!((ssim(&img, &img, 16, 16, 1) - 1.0).abs() < 1e-9);
        // Constant images 0.5 and 0.25: no variance, SSIM = (2ab + C1) / (a^2 + b^2 + C1).
        let s = ssim(&[0.5; 256], &[0.25; 256], 16, 16, 1);
        let want = (2.0 * 0.5 * 0.25 + SSIM_C1) / (0.25 + 0.0625 + SSIM_C1);
        assert!((s - want).abs() < 1e-9, "{s} vs {want}");
        // Negated structure scores below zero.
        let neg: Vec<f32> = img.iter().map(|v| 1.0 - v).collect();
        assert!(ssim(&img, &neg, 16, 16, 1) < 0.0);
    }
}
