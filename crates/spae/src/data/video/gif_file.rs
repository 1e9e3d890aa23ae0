//! Animated GIFs. Reading composites every frame onto the logical screen as a viewer shows it
//! (frames may cover a sub-rectangle, be transparent in parts, and be disposed of to the
//! background or to the previous screen). Writing gives gray frames a 256-level gray palette
//! (exact) and quantises RGB frames with the gif crate's NeuQuant.

use std::borrow::Cow;
use std::path::Path;

use gif::{ColorOutput, DecodeOptions, DisposalMethod, Encoder, Frame, Repeat};

use super::{Frames, MAX_CLIP_FRAMES};
use crate::data::files::{Image, MAX_IMAGE_PIXELS};
use crate::data::{corrupt, DataError};

/// Whether `path` names a GIF (by its extension).
pub fn is_gif_file(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("gif"))
}

/// The frames of an animated GIF (a still GIF is one frame), as shown: gray when every pixel is
/// an opaque gray, RGB when opaque, else RGBA.
pub fn decode_gif(bytes: &[u8], path: &Path) -> Result<Vec<Image>, DataError> {
    if bytes.is_empty() {
        return Err(corrupt(path, "empty file"));
    }
    let mut opts = DecodeOptions::new();
    opts.set_color_output(ColorOutput::RGBA);
    let mut dec = opts
        .read_info(bytes)
        .map_err(|e| corrupt(path, format!("not a readable GIF: {e}")))?;
    let (w, h) = (usize::from(dec.width()), usize::from(dec.height()));
    if w == 0 || h == 0 || (w * h) as u64 > MAX_IMAGE_PIXELS {
        return Err(corrupt(path, format!("a screen of {w} x {h} pixels")));
    }
    let mut screen = vec![0u8; w * h * 4];
    let mut frames = Vec::new();
    while let Some(f) = dec
        .read_next_frame()
        .map_err(|e| corrupt(path, format!("corrupt GIF data: {e}")))?
    {
        if frames.len() == MAX_CLIP_FRAMES {
            return Err(corrupt(path, format!("more than {MAX_CLIP_FRAMES} frames")));
        }
        let saved = (f.dispose == DisposalMethod::Previous).then(|| screen.clone());
        let rect = Rect::of(f, w, h);
        for (y, x) in rect.points() {
            let src = ((y - rect.top) * usize::from(f.width) + (x - rect.left)) * 4;
            let px = &f.buffer[src..src + 4];
            if px[3] > 0 {
                screen[(y * w + x) * 4..][..4].copy_from_slice(px);
            }
        }
        frames.push(screen.clone());
        match f.dispose {
            DisposalMethod::Background => {
                for (y, x) in rect.points() {
                    screen[(y * w + x) * 4..][..4].fill(0);
                }
            }
            DisposalMethod::Previous => screen = saved.expect("saved above"),
            _ => {}
        }
    }
    if frames.is_empty() {
        return Err(corrupt(path, "a GIF without frames"));
    }
    Ok(simplest(frames, w, h))
}

/// A frame's rectangle, clipped to the screen.
struct Rect {
    top: usize,
    left: usize,
    bottom: usize,
    right: usize,
}

impl Rect {
    fn of(f: &Frame, w: usize, h: usize) -> Rect {
        let (top, left) = (usize::from(f.top), usize::from(f.left));
        Rect {
            top,
            left,
            bottom: (top + usize::from(f.height)).min(h),
            right: (left + usize::from(f.width)).min(w),
        }
    }

    fn points(&self) -> impl Iterator<Item = (usize, usize)> + '_ {
        (self.top..self.bottom).flat_map(move |y| (self.left..self.right).map(move |x| (y, x)))
    }
}

/// RGBA frames as the fewest channels that keep them exactly.
fn simplest(frames: Vec<Vec<u8>>, w: usize, h: usize) -> Vec<Image> {
    let px = || frames.iter().flat_map(|f| f.chunks_exact(4));
    let opaque = px().all(|p| p[3] == 255);
    let gray = opaque && px().all(|p| p[0] == p[1] && p[1] == p[2]);
    let keep = |f: &Vec<u8>| -> (usize, Vec<u8>) {
        match (gray, opaque) {
            (true, _) => (1, f.chunks_exact(4).map(|p| p[0]).collect()),
            (false, true) => (
                3,
                f.chunks_exact(4).flat_map(|p| [p[0], p[1], p[2]]).collect(),
            ),
            _ => (4, f.clone()),
        }
    };
    frames
        .iter()
        .map(|f| {
            let (channels, pixels) = keep(f);
            Image {
                width: w,
                height: h,
                channels,
                pixels,
            }
        })
        .collect()
}

/// An animated GIF of `frames`, each shown `delay_ms` (GIF counts in hundredths of a second),
/// looping.
pub fn encode_gif(frames: Frames, delay_ms: u16) -> Result<Vec<u8>, String> {
    frames.check("a GIF")?;
    let (channels, h, w) = (frames.channels, frames.height, frames.width);
    if h > usize::from(u16::MAX) || w > usize::from(u16::MAX) {
        return Err(format!("cannot encode a GIF of {h} x {w} pixels"));
    }
    let err = |e: gif::EncodingError| format!("cannot encode a GIF: {e}");
    let gray: Vec<u8> = (0..=255u8).flat_map(|v| [v, v, v]).collect();
    let palette: &[u8] = if channels == 1 { &gray } else { &[] };
    let mut buf = Vec::new();
    {
        let mut enc = Encoder::new(&mut buf, w as u16, h as u16, palette).map_err(err)?;
        enc.set_repeat(Repeat::Infinite).map_err(err)?;
        for frame in frames.each() {
            let mut f = if channels == 1 {
                Frame {
                    width: w as u16,
                    height: h as u16,
                    buffer: Cow::Borrowed(frame),
                    ..Frame::default()
                }
            } else {
                Frame::from_rgb_speed(w as u16, h as u16, frame, 10)
            };
            f.delay = delay_ms.div_ceil(10);
            enc.write_frame(&f).map_err(err)?;
        }
    }
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::video::gray;

    #[test]
    fn gray_frames_round_trip_exactly() {
        let frames: Vec<u8> = (0..3 * 4 * 5).map(|i| (i * 4) as u8).collect();
        let bytes = encode_gif(gray(&frames, 3, 4, 5), 100).unwrap();
        let back = decode_gif(&bytes, Path::new("x.gif")).unwrap();
        assert_eq!(back.len(), 3);
        assert!(back
            .iter()
            .all(|f| (f.width, f.height, f.channels) == (5, 4, 1)));
        let all: Vec<u8> = back.into_iter().flat_map(|f| f.pixels).collect();
        assert_eq!(all, frames);
    }

    #[test]
    fn sub_rectangles_are_composited_and_disposed_by_hand() {
        // A 3x2 screen: frame 1 fills it with gray 10; frame 2 draws gray 200 at (x 1, y 1)
        // only and is disposed to the background; frame 3 draws nothing new (a transparent 1x1
        // at the corner), so it shows frame 1's screen with the hole frame 2 left.
        let gray: Vec<u8> = (0..=255u8).flat_map(|v| [v, v, v]).collect();
        let mut buf = Vec::new();
        {
            let mut enc = Encoder::new(&mut buf, 3, 2, &gray).unwrap();
            let full = [10u8; 6];
            enc.write_frame(&Frame {
                width: 3,
                height: 2,
                buffer: Cow::Borrowed(&full),
                ..Frame::default()
            })
            .unwrap();
            enc.write_frame(&Frame {
                left: 1,
                top: 1,
                width: 1,
                height: 1,
                dispose: DisposalMethod::Background,
                buffer: Cow::Borrowed(&[200u8]),
                ..Frame::default()
            })
            .unwrap();
            enc.write_frame(&Frame {
                width: 1,
                height: 1,
                transparent: Some(0),
                buffer: Cow::Borrowed(&[0u8]),
                ..Frame::default()
            })
            .unwrap();
        }
        let f = decode_gif(&buf, Path::new("x.gif")).unwrap();
        assert_eq!(f.len(), 3);
        // Frames 1 and 2 are opaque gray, frame 3 has a hole: all RGBA.
        assert_eq!(f[0].channels, 4);
        let alpha = |i: usize| -> Vec<u8> { f[i].pixels.chunks(4).map(|p| p[3]).collect() };
        let red = |i: usize| -> Vec<u8> { f[i].pixels.chunks(4).map(|p| p[0]).collect() };
        assert_eq!(red(0), vec![10; 6]);
        assert_eq!(red(1), vec![10, 10, 10, 10, 200, 10]);
        assert_eq!(alpha(2), vec![255, 255, 255, 255, 0, 255]);
        assert_eq!(red(2)[0], 10, "the transparent pixel keeps what was there");
    }

    #[test]
    fn bad_gifs_are_errors() {
        let p = Path::new("x.gif");
        assert!(decode_gif(&[], p).is_err());
        assert!(decode_gif(b"GIF89a\x01", p).is_err());
        assert!(encode_gif(gray(&[0; 5], 1, 2, 2), 100).is_err());
        let two = Frames {
            channels: 2,
            ..gray(&[0; 4], 1, 2, 1)
        };
        assert!(encode_gif(two, 100).is_err());
    }
}
