//! The conditions of the in-context denoising tasks (the paper's Fig. 7): an image degraded by a
//! known operation, from which the frozen LLM is asked to write the original. Images are
//! `C x S x S` floats in `[0, 1]`.

use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Gray of the masked parts (inpainting, outpainting), distinct from the black background.
pub const MASK_VALUE: f32 = 0.5;
/// Blur standard deviation as a fraction of the side (2 pixels at 32).
pub const BLUR_SIGMA: f64 = 1.0 / 16.0;
/// Translation, right and down, as a fraction of the side (4 pixels at 32).
pub const SHIFT: f64 = 1.0 / 8.0;
/// Rotation angle, counter-clockwise, in degrees.
pub const ROTATE_DEGREES: f64 = 30.0;

/// A denoising task's degradation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Degradation {
    /// The centre block (half the side) masked.
    Inpaint,
    /// The bottom half masked.
    Outpaint,
    /// Gaussian blur.
    Deblur,
    /// Translated (the LLM moves it back).
    Shift,
    /// Rotated (the LLM turns it back).
    Rotate,
}

impl Degradation {
    pub const ALL: [Degradation; 5] = [
        Degradation::Inpaint,
        Degradation::Outpaint,
        Degradation::Deblur,
        Degradation::Shift,
        Degradation::Rotate,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Degradation::Inpaint => "inpaint",
            Degradation::Outpaint => "outpaint",
            Degradation::Deblur => "deblur",
            Degradation::Shift => "shift",
            Degradation::Rotate => "rotate",
        }
    }

    /// The degraded image.
    pub fn apply(self, img: &[f32], c: usize, s: usize) -> Vec<f32> {
        assert_eq!(img.len(), c * s * s, "image is not C x S x S");
        match self {
            Degradation::Inpaint => {
                let (a, b) = (s / 4, s - s / 4);
                mask(img, c, s, |y, x| (a..b).contains(&y) && (a..b).contains(&x))
            }
            Degradation::Outpaint => mask(img, c, s, |y, _| y >= s / 2),
            Degradation::Deblur => blur(img, c, s, BLUR_SIGMA * s as f64),
            Degradation::Shift => {
                let d = (SHIFT * s as f64).round() as isize;
                warp(img, c, s, |y, x| (y - d as f64, x - d as f64))
            }
            Degradation::Rotate => rotate(img, c, s, ROTATE_DEGREES),
        }
    }
}

impl FromStr for Degradation {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Degradation::ALL
            .into_iter()
            .find(|d| d.name() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = Degradation::ALL.iter().map(|d| d.name()).collect();
                format!("unknown task '{s}' (one of {})", names.join(", "))
            })
    }
}

fn mask(img: &[f32], c: usize, s: usize, hidden: impl Fn(usize, usize) -> bool) -> Vec<f32> {
    let mut out = img.to_vec();
    for ch in 0..c {
        for y in 0..s {
            for x in 0..s {
                if hidden(y, x) {
                    out[(ch * s + y) * s + x] = MASK_VALUE;
                }
            }
        }
    }
    out
}

/// Separable Gaussian blur of standard deviation `sigma` pixels, radius `ceil(3 sigma)`, edges
/// clamped.
pub fn blur(img: &[f32], c: usize, s: usize, sigma: f64) -> Vec<f32> {
    let r = (3.0 * sigma).ceil() as isize;
    let k: Vec<f64> = (-r..=r)
        .map(|i| (-(i * i) as f64 / (2.0 * sigma * sigma)).exp())
        .collect();
    let total: f64 = k.iter().sum();
    let k: Vec<f64> = k.iter().map(|v| v / total).collect();
    let at = |i: isize| i.clamp(0, s as isize - 1) as usize;
    let mut tmp = vec![0f32; img.len()];
    let mut out = vec![0f32; img.len()];
    for ch in 0..c {
        let plane = ch * s * s;
        for y in 0..s {
            for x in 0..s {
                let v: f64 = (k.iter().enumerate())
                    .map(|(j, w)| {
                        w * f64::from(img[plane + y * s + at(x as isize + j as isize - r)])
                    })
                    .sum();
                tmp[plane + y * s + x] = v as f32;
            }
        }
        for y in 0..s {
            for x in 0..s {
                let v: f64 = (k.iter().enumerate())
                    .map(|(j, w)| {
                        w * f64::from(tmp[plane + at(y as isize + j as isize - r) * s + x])
                    })
                    .sum();
                out[plane + y * s + x] = v as f32;
            }
        }
    }
    out
}

/// Output pixel `(y, x)` takes the input at `source(y, x)`, bilinearly; outside the image is black.
fn warp(img: &[f32], c: usize, s: usize, source: impl Fn(f64, f64) -> (f64, f64)) -> Vec<f32> {
    let mut out = vec![0f32; img.len()];
    let get = |ch: usize, y: isize, x: isize| -> f64 {
        if y < 0 || x < 0 || y >= s as isize || x >= s as isize {
            0.0
        } else {
            f64::from(img[(ch * s + y as usize) * s + x as usize])
        }
    };
    for y in 0..s {
        for x in 0..s {
            let (sy, sx) = source(y as f64, x as f64);
            let (y0, x0) = (sy.floor(), sx.floor());
            let (fy, fx) = (sy - y0, sx - x0);
            let (y0, x0) = (y0 as isize, x0 as isize);
            for ch in 0..c {
                let v = get(ch, y0, x0) * (1.0 - fy) * (1.0 - fx)
                    + get(ch, y0, x0 + 1) * (1.0 - fy) * fx
                    + get(ch, y0 + 1, x0) * fy * (1.0 - fx)
                    + get(ch, y0 + 1, x0 + 1) * fy * fx;
                out[(ch * s + y) * s + x] = v as f32;
            }
        }
    }
    out
}

/// Rotation by `degrees` counter-clockwise about the image centre.
pub fn rotate(img: &[f32], c: usize, s: usize, degrees: f64) -> Vec<f32> {
    let (sin, cos) = degrees.to_radians().sin_cos();
    let m = (s as f64 - 1.0) / 2.0;
    // The source of an output pixel is the output position turned back (clockwise on screen,
    // where y points down).
    warp(img, c, s, |y, x| {
        let (dy, dx) = (y - m, x - m);
        (m + cos * dy + sin * dx, m - sin * dy + cos * dx)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 4x4, one channel, values 0..16 / 16.
    fn ramp() -> Vec<f32> {
        (0..16).map(|v| v as f32 / 16.0).collect()
    }

    #[test]
    fn masks_by_hand() {
        let x = ramp();
        let inp = Degradation::Inpaint.apply(&x, 1, 4);
        // Centre block rows 1-2, columns 1-2.
        for (i, v) in inp.iter().enumerate() {
            let (y, xx) = (i / 4, i % 4);
            let hidden = (1..3).contains(&y) && (1..3).contains(&xx);
            assert_eq!(*v, if hidden { MASK_VALUE } else { x[i] }, "{i}");
        }
        let out = Degradation::Outpaint.apply(&x, 1, 4);
        assert_eq!(&out[..8], &x[..8]);
        assert!(out[8..].iter().all(|&v| v == MASK_VALUE));
    }

    #[test]
    fn shift_and_quarter_turn_by_hand() {
        // 8x8: the shift is 1 pixel right and down.
        let mut x = vec![0f32; 64];
        x[2 * 8 + 3] = 1.0;
        let y = Degradation::Shift.apply(&x, 1, 8);
        assert_eq!(y[3 * 8 + 4], 1.0);
        assert!((y.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        // A quarter turn counter-clockwise of a 3x3: the top-right corner goes to the top-left.
        let mut z = vec![0f32; 9];
        z[2] = 1.0;
        let r = rotate(&z, 1, 3, 90.0);
        assert!((r[0] - 1.0).abs() < 1e-6, "{r:?}");
        assert!((r.iter().sum::<f32>() - 1.0).abs() < 1e-6);
    }

    #[test]
    fn blur_keeps_constants_and_spreads_an_impulse() {
        let flat = vec![0.25f32; 64];
        assert!(blur(&flat, 1, 8, 1.0)
            .iter()
            .all(|v| (v - 0.25).abs() < 1e-6));
        let mut d = vec![0f32; 81];
        d[4 * 9 + 4] = 1.0;
        let b = blur(&d, 1, 9, 1.0);
        // The 2-D kernel is the outer product of the 1-D one: centre weight k0^2.
        let k: Vec<f64> = (-3..=3)
            .map(|i: i32| (-(i * i) as f64 / 2.0).exp())
            .collect();
        let k0 = 1.0 / k.iter().sum::<f64>();
        assert!((f64::from(b[4 * 9 + 4]) - k0 * k0).abs() < 1e-6);
        assert!((b.iter().sum::<f32>() - 1.0).abs() < 1e-5);
        assert!(b[4 * 9 + 5] < b[4 * 9 + 4] && b[4 * 9 + 5] > 0.0);
    }

    #[test]
    fn names_round_trip() {
        for d in Degradation::ALL {
            assert_eq!(d.name().parse::<Degradation>().unwrap(), d);
        }
        assert!("blur"
            .parse::<Degradation>()
            .unwrap_err()
            .contains("inpaint"));
    }
}
