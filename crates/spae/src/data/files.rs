//! PNG files: reading and writing them, grids of images.

use std::path::Path;

use super::{corrupt, read_file, DataError};

/// A decoded image, 8 bits per channel, `height x width x channels` (1 gray, 3 RGB, 4 RGBA).
#[derive(Debug, Clone)]
pub struct Image {
    pub width: usize,
    pub height: usize,
    pub channels: usize,
    pub pixels: Vec<u8>,
}

impl Image {
    /// The pixels as RGB bytes: alpha composited on white, gray repeated.
    pub fn rgb(&self) -> Vec<u8> {
        match self.channels {
            4 => rgba_on_white(&self.pixels),
            3 => self.pixels.clone(),
            _ => self.pixels.iter().flat_map(|&g| [g; 3]).collect(),
        }
    }
}

/// Most pixels an image file may declare (a 8192 x 8192 image): its header's size decides the
/// buffer allocated, so a small file claiming 65535 x 65535 pixels (a decompression bomb) is
/// refused before anything is allocated for it.
pub const MAX_IMAGE_PIXELS: u64 = 8192 * 8192;

/// Decodes a PNG file of any colour type and bit depth into 8-bit gray, gray+alpha (returned as
/// RGBA), RGB or RGBA.
pub fn read_png(path: &Path) -> Result<Image, DataError> {
    decode_png(&read_file(path)?, path)
}

/// Decodes PNG bytes as [`read_png`] does (`path` names them in errors).
pub fn decode_png(bytes: &[u8], path: &Path) -> Result<Image, DataError> {
    decode_png_within(bytes, path, MAX_IMAGE_PIXELS)
}

/// A PNG's reader after its header, decoding to 8-bit samples; an empty or unreadable file is
/// an error naming `path`.
pub(crate) fn png_reader<'a>(
    bytes: &'a [u8],
    path: &Path,
) -> Result<png::Reader<&'a [u8]>, DataError> {
    if bytes.is_empty() {
        return Err(corrupt(path, "empty file"));
    }
    let mut decoder = png::Decoder::new(bytes);
    decoder.set_transformations(png::Transformations::normalize_to_color8());
    decoder
        .read_info()
        .map_err(|e| corrupt(path, format!("not a readable PNG: {e}")))
}

/// [`decode_png`] refusing images over `max_pixels` from their header (callers keep it within
/// [`MAX_IMAGE_PIXELS`]).
pub(crate) fn decode_png_within(
    bytes: &[u8],
    path: &Path,
    max_pixels: u64,
) -> Result<Image, DataError> {
    let mut reader = png_reader(bytes, path)?;
    let (w, h) = (reader.info().width, reader.info().height);
    if u64::from(w) * u64::from(h) > max_pixels {
        return Err(corrupt(
            path,
            format!("{w} x {h} pixels is over the limit of {max_pixels}"),
        ));
    }
    let mut buf = vec![0u8; reader.output_buffer_size()];
    let info = reader
        .next_frame(&mut buf)
        .map_err(|e| corrupt(path, format!("corrupt PNG data: {e}")))?;
    buf.truncate(info.buffer_size());
    png_frame_image(buf, info.color_type, info.width, info.height, path)
}

/// One decoded PNG frame (8-bit after `normalize_to_color8`) as an [`Image`]: gray, RGB or RGBA
/// (gray + alpha becomes RGBA).
pub(crate) fn png_frame_image(
    buf: Vec<u8>,
    color_type: png::ColorType,
    w: u32,
    h: u32,
    path: &Path,
) -> Result<Image, DataError> {
    let (w, h) = (w as usize, h as usize);
    let (channels, pixels) = match color_type {
        png::ColorType::Grayscale => (1, buf),
        png::ColorType::Rgb => (3, buf),
        png::ColorType::Rgba => (4, buf),
        png::ColorType::GrayscaleAlpha => (
            4,
            buf.chunks_exact(2)
                .flat_map(|p| [p[0], p[0], p[0], p[1]])
                .collect(),
        ),
        other => return Err(corrupt(path, format!("unexpected colour type {other:?}"))),
    };
    Ok(Image {
        width: w,
        height: h,
        channels,
        pixels,
    })
}

/// Writes `C x H x W` floats in `[0, 1]` (C = 1 or 3) as an 8-bit PNG file, atomically.
pub fn write_png(
    path: &Path,
    chw: &[f32],
    channels: usize,
    h: usize,
    w: usize,
) -> Result<(), DataError> {
    let buf = encode_png(chw, channels, h, w).map_err(|e| corrupt(path, e))?;
    crate::io::write_atomic(path, &buf).map_err(|source| DataError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// `C x H x W` floats in `[0, 1]` (C = 1 or 3) as the bytes of an 8-bit PNG (values clamped and
/// rounded).
/// An 8-bit PNG encoder of a gray (1 channel) or RGB (3) `h x w` image into `buf`.
pub(crate) fn png_encoder(
    buf: &mut Vec<u8>,
    channels: usize,
    h: usize,
    w: usize,
) -> png::Encoder<'_, &mut Vec<u8>> {
    let mut enc = png::Encoder::new(buf, w as u32, h as u32);
    enc.set_color(if channels == 1 {
        png::ColorType::Grayscale
    } else {
        png::ColorType::Rgb
    });
    enc.set_depth(png::BitDepth::Eight);
    enc
}

pub fn encode_png(chw: &[f32], channels: usize, h: usize, w: usize) -> Result<Vec<u8>, String> {
    let plane = h * w;
    if !matches!(channels, 1 | 3) || chw.len() != channels * plane {
        return Err(format!(
            "cannot encode PNG: {} values for {channels} x {h} x {w}",
            chw.len()
        ));
    }
    let mut bytes = Vec::with_capacity(plane * channels);
    for i in 0..plane {
        for c in 0..channels {
            bytes.push((chw[c * plane + i].clamp(0.0, 1.0) * 255.0).round() as u8);
        }
    }
    let mut buf = Vec::new();
    {
        let mut writer = png_encoder(&mut buf, channels, h, w)
            .write_header()
            .map_err(|e| format!("cannot encode PNG: {e}"))?;
        writer
            .write_image_data(&bytes)
            .map_err(|e| format!("cannot encode PNG: {e}"))?;
    }
    Ok(buf)
}

/// Rows of up to `cols` images each (`C x S x S` floats, concatenated per row) tiled into one
/// `C x (rows * S) x (cols * S)` image.
pub fn tile_images(rows: &[Vec<f32>], cols: usize, c: usize, s: usize) -> Vec<f32> {
    let (h, w) = (rows.len() * s, cols * s);
    let mut out = vec![0f32; c * h * w];
    for (r, row) in rows.iter().enumerate() {
        for (k, img) in row.chunks_exact(c * s * s).enumerate() {
            for ch in 0..c {
                for y in 0..s {
                    let src = ch * s * s + y * s;
                    let dst = ch * h * w + (r * s + y) * w + k * s;
                    out[dst..dst + s].copy_from_slice(&img[src..src + s]);
                }
            }
        }
    }
    out
}

/// The centred square of a photo as RGB floats in `[0, 1]`, `3 x S x S` with `S` the shorter
/// side (alpha composited on white, gray repeated).
pub fn center_square_rgb(img: &Image) -> (Vec<f32>, usize) {
    let rgb = img.rgb();
    let s = img.width.min(img.height);
    let (top, left) = ((img.height - s) / 2, (img.width - s) / 2);
    let mut out = vec![0f32; 3 * s * s];
    for y in 0..s {
        for x in 0..s {
            for c in 0..3 {
                out[(c * s + y) * s + x] =
                    f32::from(rgb[((top + y) * img.width + left + x) * 3 + c]) / 255.0;
            }
        }
    }
    (out, s)
}

/// RGBA over a white background, as RGB.
pub fn rgba_on_white(rgba: &[u8]) -> Vec<u8> {
    rgba.chunks_exact(4)
        .flat_map(|p| {
            let a = u32::from(p[3]);
            let mix = move |c: u8| ((u32::from(c) * a + 255 * (255 - a) + 127) / 255) as u8;
            [mix(p[0]), mix(p[1]), mix(p[2])]
        })
        .collect()
}

/// 8-bit `H x W x C` images of `(width, height, channels)` as a `B x C x S x S` batch of floats
/// in `[0, 1]`, each centred on a black `S x S` canvas (`S = size`, at least the image size).
pub(crate) fn chw_batch<'a>(
    images: impl ExactSizeIterator<Item = &'a [u8]>,
    (width, height, c): (usize, usize, usize),
    size: usize,
) -> Vec<f32> {
    assert!(
        size >= height && size >= width,
        "canvas smaller than the images"
    );
    let (top, left) = ((size - height) / 2, (size - width) / 2);
    let mut out = vec![0f32; images.len() * c * size * size];
    for (b, img) in images.enumerate() {
        for y in 0..height {
            for x in 0..width {
                for ch in 0..c {
                    let o = ((b * c + ch) * size + top + y) * size + left + x;
                    out[o] = f32::from(img[(y * width + x) * c + ch]) / 255.0;
                }
            }
        }
    }
    out
}
