//! Clips as model inputs: an animated PNG or a folder of frames, each frame brought to a video
//! model's frame size by the image rule ([`model_image`]), so a clip read from a file and the
//! clips a model trained on go through the same resampling.

use std::path::Path;

use super::ffmpeg::{decode_video, is_video_file};
use super::gif_file::{decode_gif, is_gif_file};
use super::{ClipShape, Clips, MAX_CLIP_FRAMES};
use crate::data::files::{png_frame_image, png_reader, Image, MAX_IMAGE_PIXELS};
use crate::data::image::{is_image_file, model_image, read_image, Fit};
use crate::data::{corrupt, read_file, sorted_entries, DataError};

/// The frames of an animated PNG (a still PNG is one frame). Every frame must cover the whole
/// canvas: APNG frames that update a sub-rectangle are refused, not composited.
pub fn decode_apng(bytes: &[u8], path: &Path) -> Result<Vec<Image>, DataError> {
    let mut reader = png_reader(bytes, path)?;
    let (w, h) = (reader.info().width, reader.info().height);
    let n = reader
        .info()
        .animation_control()
        .map_or(1, |a| a.num_frames as usize);
    if u64::from(w) * u64::from(h) * n.min(MAX_CLIP_FRAMES) as u64 > 16 * MAX_IMAGE_PIXELS {
        return Err(corrupt(
            path,
            format!("{n} frames of {w} x {h} pixels is too large"),
        ));
    }
    if n > MAX_CLIP_FRAMES {
        return Err(corrupt(
            path,
            format!("{n} frames (at most {MAX_CLIP_FRAMES})"),
        ));
    }
    let animated = reader.info().animation_control().is_some();
    // The default image is not a frame when no frame control precedes it.
    let skip_default = animated && reader.info().frame_control().is_none();
    let mut frames = Vec::with_capacity(n);
    let mut buf = vec![0u8; reader.output_buffer_size()];
    let total = n + usize::from(skip_default);
    for i in 0..total {
        let info = reader
            .next_frame(&mut buf)
            .map_err(|e| corrupt(path, format!("frame {}: corrupt PNG data: {e}", i + 1)))?;
        if i == 0 && skip_default {
            continue;
        }
        if (info.width, info.height) != (w, h) {
            return Err(corrupt(
                path,
                format!(
                    "frame {} is {}x{} inside a {w}x{h} canvas: partial APNG frames are not supported",
                    frames.len() + 1,
                    info.width,
                    info.height
                ),
            ));
        }
        let bytes = buf[..info.buffer_size()].to_vec();
        frames.push(png_frame_image(bytes, info.color_type, w, h, path)?);
    }
    Ok(frames)
}

/// The first `max` frames of a clip (all of them when it has fewer): an animated PNG or GIF, a
/// compressed video file read through FFmpeg ([`decode_video`]), or a folder of PNG / JPEG /
/// WebP frames taken in file-name order.
pub fn read_clip_frames(path: &Path, max: usize) -> Result<Vec<Image>, DataError> {
    let mut frames = if is_video_file(path) {
        return decode_video(path, 0, max);
    } else if path.is_dir() {
        read_frame_folder(path)?
    } else if is_gif_file(path) {
        decode_gif(&read_file(path)?, path)?
    } else {
        decode_apng(&read_file(path)?, path)?
    };
    frames.truncate(max);
    Ok(frames)
}

/// The frames of a folder, in file-name order.
fn read_frame_folder(path: &Path) -> Result<Vec<Image>, DataError> {
    let files: Vec<_> = sorted_entries(path)?
        .into_iter()
        .filter(|p| p.is_file() && is_image_file(p))
        .collect();
    if files.len() > MAX_CLIP_FRAMES {
        return Err(corrupt(
            path,
            format!("{} frames (at most {MAX_CLIP_FRAMES})", files.len()),
        ));
    }
    files.iter().map(|f| read_image(f)).collect()
}

/// The first `shape.frames` frames as a model clip, `T x C x S x S` floats in `[0, 1]` (each
/// frame by [`model_image`] with `fit`); a clip with fewer frames is refused.
pub fn model_clip(
    images: &[Image],
    shape: ClipShape,
    fit: Fit,
    path: &Path,
) -> Result<Vec<f32>, DataError> {
    let frames = shape.frames;
    if images.len() < frames {
        return Err(corrupt(
            path,
            format!("{} frames, the model takes clips of {frames}", images.len()),
        ));
    }
    let mut out = Vec::with_capacity(shape.per_clip());
    for img in &images[..frames] {
        out.extend(model_image(img, shape.size, shape.channels, fit, path)?);
    }
    Ok(out)
}

/// Every clip of `clips` as gray model input at `size` ([`model_clip`], resizing), clip after
/// clip.
pub fn clips_for_model(clips: &Clips, size: usize) -> Result<Vec<f32>, DataError> {
    let shape = ClipShape {
        frames: clips.frames,
        channels: 1,
        size,
    };
    let mut out = Vec::with_capacity(clips.len() * shape.per_clip());
    let path = Path::new("clips");
    for i in 0..clips.len() {
        let images: Vec<Image> = (0..clips.frames)
            .map(|f| Image {
                width: clips.width,
                height: clips.height,
                channels: clips.channels,
                pixels: clips.frame(i, f).to_vec(),
            })
            .collect();
        out.extend(model_clip(&images, shape, Fit::Resize, path)?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::video::{encode_apng, gray};

    fn gray_clip(frames: usize, size: usize) -> ClipShape {
        ClipShape {
            frames,
            channels: 1,
            size,
        }
    }

    #[test]
    fn an_apng_reads_back_as_frames_and_as_a_model_clip() {
        // Three 4x4 frames: 0, 128 and 255 everywhere.
        let frames: Vec<u8> = [0u8, 128, 255].iter().flat_map(|&v| [v; 16]).collect();
        let bytes = encode_apng(gray(&frames, 3, 4, 4), 100).unwrap();
        let p = Path::new("clip.png");
        let images = decode_apng(&bytes, p).unwrap();
        assert_eq!(images.len(), 3);
        assert!(images
            .iter()
            .all(|i| (i.width, i.height, i.channels) == (4, 4, 1)));
        assert_eq!(images[1].pixels, vec![128; 16]);
        // Two frames at 2x2: averaging a constant frame keeps it.
        let clip = model_clip(&images, gray_clip(2, 2), Fit::Resize, p).unwrap();
        assert_eq!(clip.len(), 8);
        assert!(clip[..4].iter().all(|&v| v == 0.0));
        assert!(clip[4..].iter().all(|&v| (v - 128.0 / 255.0).abs() < 1e-6));
        let e = model_clip(&images, gray_clip(4, 2), Fit::Resize, p).unwrap_err();
        assert!(e
            .to_string()
            .contains("3 frames, the model takes clips of 4"));
        // Not a PNG, and an empty file.
        assert!(decode_apng(b"GIF89a", p)
            .unwrap_err()
            .to_string()
            .contains("not a readable PNG"));
        assert!(decode_apng(b"", p)
            .unwrap_err()
            .to_string()
            .contains("empty"));
    }
}
