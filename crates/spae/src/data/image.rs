//! Any image a user has as a model input: PNG, JPEG and WebP files decoded to 8-bit pixels, and
//! one documented rule ([`Fit`]) that brings an image of any size and mode to a model's square
//! canvas.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::files::{decode_png_within, Image, MAX_IMAGE_PIXELS};
use super::{corrupt, read_file, DataError};

/// The formats [`decode_image`] reads, told apart by their first bytes (never by the file name).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageFormat {
    Png,
    Jpeg,
    WebP,
}

impl ImageFormat {
    /// The format whose signature `bytes` start with, if any.
    pub fn sniff(bytes: &[u8]) -> Option<Self> {
        if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
            Some(Self::Png)
        } else if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
            Some(Self::Jpeg)
        } else if bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
            Some(Self::WebP)
        } else {
            None
        }
    }
}

/// Whether a file name looks like an image [`read_image`] reads (`.png`, `.jpg`, `.jpeg`,
/// `.webp`, any case): how labelled folders pick their files.
pub fn is_image_file(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| ["png", "jpg", "jpeg", "webp"].contains(&e.to_ascii_lowercase().as_str()))
}

/// Reads a PNG, JPEG or WebP file (animated WebP: its first frame) into 8-bit gray, RGB or RGBA.
/// A JPEG that is cut short or breaks the standard is refused rather than partly filled in.
pub fn read_image(path: &Path) -> Result<Image, DataError> {
    decode_image(&read_file(path)?, path)
}

/// Decodes PNG, JPEG or WebP bytes as [`read_image`] does (`path` names them in errors). Images
/// over [`MAX_IMAGE_PIXELS`] are refused from their header, before their pixels are allocated.
pub fn decode_image(bytes: &[u8], path: &Path) -> Result<Image, DataError> {
    decode_image_within(bytes, path, MAX_IMAGE_PIXELS)
}

/// [`decode_image`] with a smaller pixel budget (a service's: a 1 KB JPEG may declare 60 million
/// pixels, a second of decoding and hundreds of MB); `max_pixels` above [`MAX_IMAGE_PIXELS`] is
/// that.
pub fn decode_image_within(bytes: &[u8], path: &Path, max_pixels: u64) -> Result<Image, DataError> {
    let max = max_pixels.min(MAX_IMAGE_PIXELS);
    if bytes.is_empty() {
        return Err(corrupt(path, "empty file"));
    }
    match ImageFormat::sniff(bytes) {
        Some(ImageFormat::Png) => decode_png_within(bytes, path, max),
        Some(ImageFormat::Jpeg) => decode_jpeg(bytes, path, max),
        Some(ImageFormat::WebP) => decode_webp(bytes, path, max),
        None => Err(corrupt(
            path,
            "not a PNG, JPEG or WebP image (its first bytes are none of their signatures)",
        )),
    }
}

fn check_size(w: u64, h: u64, path: &Path, max: u64) -> Result<(), DataError> {
    if w == 0 || h == 0 || w * h > max {
        return Err(corrupt(
            path,
            format!("{w} x {h} pixels is outside 1 .. {max} pixels"),
        ));
    }
    Ok(())
}

fn decode_jpeg(bytes: &[u8], path: &Path, max: u64) -> Result<Image, DataError> {
    use zune_jpeg::zune_core::options::DecoderOptions;
    use zune_jpeg::zune_core::{bytestream::ZCursor, colorspace::ColorSpace};
    // Strict: a JPEG cut short or out of the standard is refused, not filled in with gray.
    let options = DecoderOptions::default()
        .set_strict_mode(true)
        .jpeg_set_out_colorspace(ColorSpace::RGB)
        .set_max_width(1 << 16)
        .set_max_height(1 << 16);
    let mut dec = zune_jpeg::JpegDecoder::new_with_options(ZCursor::new(bytes), options);
    let bad =
        |e: zune_jpeg::errors::DecodeErrors| corrupt(path, format!("not a readable JPEG: {e}"));
    dec.decode_headers().map_err(bad)?;
    if dec.input_colorspace() == Some(ColorSpace::Luma) {
        // A gray JPEG stays one channel, as a gray PNG does.
        let gray = dec.options().jpeg_set_out_colorspace(ColorSpace::Luma);
        dec.set_options(gray);
    }
    let info = dec
        .info()
        .ok_or_else(|| corrupt(path, "not a readable JPEG: no frame header"))?;
    check_size(u64::from(info.width), u64::from(info.height), path, max)?;
    let pixels = dec.decode().map_err(bad)?;
    let channels = dec.output_colorspace().map_or(3, |c| c.num_components());
    image(
        info.width.into(),
        info.height.into(),
        channels,
        pixels,
        path,
    )
}

fn decode_webp(bytes: &[u8], path: &Path, max: u64) -> Result<Image, DataError> {
    let bad = |e: image_webp::DecodingError| corrupt(path, format!("not a readable WebP: {e}"));
    let mut dec = image_webp::WebPDecoder::new(std::io::Cursor::new(bytes)).map_err(bad)?;
    let (w, h) = dec.dimensions();
    check_size(w.into(), h.into(), path, max)?;
    let len = dec
        .output_buffer_size()
        .ok_or_else(|| corrupt(path, "WebP too large"))?;
    let mut pixels = vec![0u8; len];
    dec.read_image(&mut pixels).map_err(bad)?;
    let channels = if dec.has_alpha() { 4 } else { 3 };
    image(w as usize, h as usize, channels, pixels, path)
}

fn image(
    width: usize,
    height: usize,
    channels: usize,
    pixels: Vec<u8>,
    path: &Path,
) -> Result<Image, DataError> {
    let channels = match channels {
        1 | 3 | 4 => channels,
        other => return Err(corrupt(path, format!("{other} colour channels"))),
    };
    if pixels.len() != width * height * channels {
        return Err(corrupt(path, "decoded pixel count differs from the header"));
    }
    Ok(Image {
        width,
        height,
        channels,
        pixels,
    })
}

/// How an image reaches a model's `S x S` canvas.
///
/// Both rules keep what the model was trained on: an `S x S` image as is, and a smaller square
/// whose margin to `S` is even centred on a black canvas (28x28 digits on a 32x32 model). They
/// differ on every other size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Fit {
    /// Any other size is cropped to its centred square (side `min(w, h)`, at fractional
    /// offsets) and resampled to `S x S` by antialiased bilinear filtering: Pillow's
    /// `ImageOps.fit(image, (S, S), Image.BILINEAR)` ([`fit_box`], [`bilinear_weights`]).
    #[default]
    Resize,
    /// Any other size is refused (the `--no-resize` rule).
    Strict,
}

/// A decoded image as a model input, `C x S x S` floats in `[0, 1]`. Colour: a 1-channel model
/// takes gray as is and colour by luminance (alpha over black); a 3-channel model takes RGB,
/// RGBA over white, and gray replicated. Size: by `fit`.
pub fn model_image(
    img: &Image,
    size: usize,
    channels: usize,
    fit: Fit,
    path: &Path,
) -> Result<Vec<f32>, DataError> {
    model_image_at(img, size, channels, fit, path, 0.5)
}

/// [`model_image`] with the square that [`Fit::Resize`] resamples taken at position `at` along
/// the image's longer side ([`crop_box`]; 0.5 is `model_image`'s centred square).
pub fn model_image_at(
    img: &Image,
    size: usize,
    channels: usize,
    fit: Fit,
    path: &Path,
    at: f64,
) -> Result<Vec<f32>, DataError> {
    let (w, h) = (img.width, img.height);
    let centred = w == h && w <= size && (size - w).is_multiple_of(2);
    let rgb: Vec<[f32; 3]> = if centred {
        let off = (size - w) / 2;
        let mut canvas = vec![[0f32; 3]; size * size];
        for y in 0..h {
            for x in 0..w {
                canvas[(y + off) * size + x + off] = pixel_rgb(img, y * w + x, channels);
            }
        }
        canvas
    } else if fit == Fit::Strict {
        return Err(corrupt(
            path,
            format!(
                "is {w}x{h}; this model takes {size}x{size} images (or a smaller square, centred) \
                 and resizing is off"
            ),
        ));
    } else {
        resample(img, size, channels, at)
    };
    let plane = size * size;
    let mut out = vec![0f32; channels * plane];
    for (i, p) in rgb.iter().enumerate() {
        if channels == 1 {
            out[i] = 0.299 * p[0] + 0.587 * p[1] + 0.114 * p[2];
        } else {
            for c in 0..3 {
                out[c * plane + i] = p[c];
            }
        }
    }
    Ok(out)
}

/// Reads an image file ([`read_image`]) as a model input ([`model_image`]).
pub fn load_model_image(
    path: &Path,
    size: usize,
    channels: usize,
    fit: Fit,
) -> Result<Vec<f32>, DataError> {
    model_image(&read_image(path)?, size, channels, fit, path)
}

/// Pixel `i` as RGB floats: gray replicated; alpha over black for a 1-channel model, over white
/// otherwise.
fn pixel_rgb(img: &Image, i: usize, model_channels: usize) -> [f32; 3] {
    let p = &img.pixels[i * img.channels..(i + 1) * img.channels];
    let f = |v: u8| f32::from(v) / 255.0;
    match (p.len(), model_channels) {
        (1, _) => [f(p[0]); 3],
        (3, _) => [f(p[0]), f(p[1]), f(p[2])],
        (_, 1) => {
            let a = f(p[3]);
            [f(p[0]) * a, f(p[1]) * a, f(p[2]) * a]
        }
        _ => {
            let a = f(p[3]);
            [0, 1, 2].map(|c| f(p[c]) * a + (1.0 - a))
        }
    }
}

/// The source box `[left, top, right, bottom]` (fractional pixels) that a `w x h` image shows on a
/// square canvas: its centred square of side `min(w, h)`, as Pillow's `ImageOps.fit` with
/// centring (0.5, 0.5) computes it.
pub fn fit_box(w: usize, h: usize) -> [f64; 4] {
    crop_box(w, h, 0.5)
}

/// The square of side `min(w, h)` at position `at` along the longer side (0: left or top, 1:
/// right or bottom, 0.5: centred, [`fit_box`]), as `[left, top, right, bottom]`: where a random
/// crop ([`crate::config::Crop::Random`]) takes its square before resampling.
pub fn crop_box(w: usize, h: usize, at: f64) -> [f64; 4] {
    let (w, h) = (w as f64, h as f64);
    let side = w.min(h);
    let (left, top) = ((w - side) * at, (h - side) * at);
    [left, top, left + side, top + side]
}

/// Antialiased bilinear resampling weights (Pillow's `precompute_coeffs` with its triangle
/// filter): the source range `[in0, in1)` of a line of `in_size` samples mapped onto `out`
/// samples. Output sample `o` is centred at `in0 + (o + 1/2) * scale` (`scale = (in1 - in0) /
/// out`); the triangle `max(0, 1 - |t|)` is stretched by `max(scale, 1)` so that shrinking
/// averages every source sample it covers; weights are normalised to sum 1. Returns, for each
/// output sample, its first source index and its weights.
pub fn bilinear_weights(in0: f64, in1: f64, in_size: usize, out: usize) -> Vec<(usize, Vec<f32>)> {
    let scale = (in1 - in0) / out as f64;
    let stretch = scale.max(1.0);
    let support = stretch;
    (0..out)
        .map(|o| {
            let center = in0 + (o as f64 + 0.5) * scale;
            // Pillow rounds with a cast toward zero, then clamps to the line.
            let lo = ((center - support + 0.5) as i64).max(0) as usize;
            let hi = ((center + support + 0.5) as i64).clamp(0, in_size as i64) as usize;
            let lo = lo.min(hi);
            let raw: Vec<f64> = (lo..hi)
                .map(|x| (1.0 - ((x as f64 - center + 0.5) / stretch).abs()).max(0.0))
                .collect();
            let sum: f64 = raw.iter().sum();
            let w = raw
                .iter()
                .map(|&v| if sum == 0.0 { 0.0 } else { (v / sum) as f32 })
                .collect();
            (lo, w)
        })
        .collect()
}

/// The [`Fit::Resize`] path: the image's [`fit_box`] resampled to `size x size` RGB, rows first
/// and then columns, reading only the source rows the columns need.
fn resample(img: &Image, size: usize, model_channels: usize, at: f64) -> Vec<[f32; 3]> {
    let [l, t, r, b] = crop_box(img.width, img.height, at);
    let cols = bilinear_weights(l, r, img.width, size);
    let rows = bilinear_weights(t, b, img.height, size);
    let first = rows.iter().map(|(s, _)| *s).min().unwrap_or(0);
    let last = rows.iter().map(|(s, w)| s + w.len()).max().unwrap_or(0);
    // Horizontal pass over the rows in use: (last - first) x size.
    let mut mid = vec![[0f32; 3]; (last - first) * size];
    for y in first..last {
        for (x, (start, weights)) in cols.iter().enumerate() {
            let mut acc = [0f32; 3];
            for (k, &wgt) in weights.iter().enumerate() {
                let p = pixel_rgb(img, y * img.width + start + k, model_channels);
                for c in 0..3 {
                    acc[c] += wgt * p[c];
                }
            }
            mid[(y - first) * size + x] = acc;
        }
    }
    let mut out = vec![[0f32; 3]; size * size];
    for (y, (start, weights)) in rows.iter().enumerate() {
        for x in 0..size {
            let mut acc = [0f32; 3];
            for (k, &wgt) in weights.iter().enumerate() {
                let p = mid[(start + k - first) * size + x];
                for c in 0..3 {
                    acc[c] += wgt * p[c];
                }
            }
            out[y * size + x] = acc.map(|v| v.clamp(0.0, 1.0));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_by_signature() {
        assert_eq!(
            ImageFormat::sniff(b"\x89PNG\r\n\x1a\nrest"),
            Some(ImageFormat::Png)
        );
        assert_eq!(
            ImageFormat::sniff(&[0xFF, 0xD8, 0xFF, 0xE0]),
            Some(ImageFormat::Jpeg)
        );
        assert_eq!(
            ImageFormat::sniff(b"RIFF\0\0\0\0WEBPVP8 "),
            Some(ImageFormat::WebP)
        );
        assert_eq!(ImageFormat::sniff(b"GIF89a"), None);
        let e = decode_image(b"GIF89a....", Path::new("a.gif"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("a.gif") && e.contains("not a PNG, JPEG or WebP"),
            "{e}"
        );
        let e = decode_image(&[0xFF, 0xD8, 0xFF, 0, 1], Path::new("x.jpg")).unwrap_err();
        assert!(e.to_string().contains("not a readable JPEG"), "{e}");
        let e = decode_image(b"RIFF\x04\0\0\0WEBP", Path::new("x.webp")).unwrap_err();
        assert!(e.to_string().contains("not a readable WebP"), "{e}");
    }

    #[test]
    fn a_pixel_budget_refuses_from_the_header() {
        let png = crate::data::encode_png(&[0.5; 6 * 4], 1, 4, 6).unwrap();
        let p = Path::new("a.png");
        assert_eq!(decode_image_within(&png, p, 24).unwrap().width, 6);
        let e = decode_image_within(&png, p, 23).unwrap_err().to_string();
        assert!(e.contains("6 x 4 pixels is over the limit of 23"), "{e}");
        // Never above the global budget.
        let big = decode_image_within(&png, p, u64::MAX).unwrap();
        assert_eq!((big.width, big.height), (6, 4));
    }

    #[test]
    fn fit_box_is_the_centred_square() {
        assert_eq!(fit_box(600, 400), [100.0, 0.0, 500.0, 400.0]);
        assert_eq!(fit_box(3, 4), [0.0, 0.5, 3.0, 3.5]);
        assert_eq!(fit_box(5, 5), [0.0, 0.0, 5.0, 5.0]);
        // Random crops: the square slides along the longer side only.
        assert_eq!(crop_box(600, 400, 0.0), [0.0, 0.0, 400.0, 400.0]);
        assert_eq!(crop_box(600, 400, 1.0), [200.0, 0.0, 600.0, 400.0]);
        assert_eq!(crop_box(600, 400, 0.25), [50.0, 0.0, 450.0, 400.0]);
        assert_eq!(crop_box(3, 4, 1.0), [0.0, 1.0, 3.0, 4.0]);
        assert_eq!(crop_box(5, 5, 0.9), [0.0, 0.0, 5.0, 5.0]);
    }

    #[test]
    fn bilinear_weights_by_hand() {
        // Halving 4 samples: scale 2, output 0 centred at 1.0, the triangle stretched to
        // half-width 2; samples 0, 1, 2 sit at t = -0.25, 0.25, 0.75 -> 0.75, 0.75, 0.25 / 1.75.
        let w = bilinear_weights(0.0, 4.0, 4, 2);
        assert_eq!(w[0].0, 0);
        let want = [0.75 / 1.75, 0.75 / 1.75, 0.25 / 1.75];
        for (a, b) in w[0].1.iter().zip(want) {
            assert!((a - b).abs() < 1e-6, "{:?}", w[0].1);
        }
        // Output 1 centred at 3.0: samples 1, 2, 3 -> 0.25, 0.75, 0.75 (4 is off the line).
        assert_eq!(w[1].0, 1);
        assert!((w[1].1[0] - 0.25 / 1.75).abs() < 1e-6);
        // Doubling 2 samples: scale 1/2, output 1 centred at 0.75 -> samples 0, 1 at
        // t = -0.25, 0.75 -> 0.75, 0.25 (no stretch when enlarging).
        let w = bilinear_weights(0.0, 2.0, 2, 4);
        assert_eq!(w[1].0, 0);
        assert!((w[1].1[0] - 0.75).abs() < 1e-6 && (w[1].1[1] - 0.25).abs() < 1e-6);
        // Same size: the identity.
        for (o, (s, w)) in bilinear_weights(0.0, 5.0, 5, 5).iter().enumerate() {
            let at: Vec<(usize, f32)> = w.iter().enumerate().map(|(k, &v)| (s + k, v)).collect();
            assert!(
                at.iter()
                    .all(|&(i, v)| if i == o { v == 1.0 } else { v == 0.0 }),
                "{at:?}"
            );
        }
    }

    #[test]
    fn sizes_reach_the_canvas_by_the_rule() {
        let gray = |w: usize, h: usize| Image {
            width: w,
            height: h,
            channels: 1,
            pixels: (0..w * h).map(|i| (i * 7 % 256) as u8).collect(),
        };
        let p = Path::new("i.png");
        // A smaller centred square is placed on black under both rules.
        for fit in [Fit::Resize, Fit::Strict] {
            let v = model_image(&gray(2, 2), 4, 1, fit, p).unwrap();
            assert_eq!(v[0], 0.0);
            assert!((v[5] - 0.0).abs() < 1e-6 && (v[6] - 7.0 / 255.0).abs() < 1e-6);
        }
        // A wide image: refused when strict, else its centred square resampled.
        let e = model_image(&gray(6, 4), 4, 1, Fit::Strict, p)
            .unwrap_err()
            .to_string();
        assert!(e.contains("is 6x4") && e.contains("resizing is off"), "{e}");
        let v = model_image(&gray(6, 4), 4, 3, Fit::Resize, p).unwrap();
        assert_eq!(v.len(), 3 * 16);
        // The centred 4x4 square at the same size is a plain crop: row 0 is pixels 1..5.
        let want: Vec<f32> = (1..5).map(|x| (x * 7 % 256) as f32 / 255.0).collect();
        for (a, b) in v[..4].iter().zip(&want) {
            assert!((a - b).abs() < 1e-6, "{:?} vs {want:?}", &v[..4]);
        }
        // A flat image stays flat at any size.
        let flat = Image {
            width: 37,
            height: 23,
            channels: 3,
            pixels: vec![200; 37 * 23 * 3],
        };
        let v = model_image(&flat, 16, 1, Fit::Resize, p).unwrap();
        assert!(v.iter().all(|x| (x - 200.0 / 255.0).abs() < 1e-5));
    }
}
