//! Compressed video files (MP4, MOV, MKV, WebM, AVI) decoded by FFmpeg run as a separate process:
//! Debian's `ffmpeg` package on the PATH, or the binaries `SPAE_FFMPEG` / `SPAE_FFPROBE` name.
//! Frames come back as raw RGB at the file's own size and are read one at a time, so only the
//! frames asked for are held; they then go through the image rule like any other frame.

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};

use crate::data::files::{Image, MAX_IMAGE_PIXELS};
use crate::data::{corrupt, DataError};

/// File extensions read through FFmpeg.
pub const VIDEO_EXTENSIONS: [&str; 6] = ["mp4", "m4v", "mov", "mkv", "webm", "avi"];

/// Whether `path` names a compressed video file (by its extension).
pub fn is_video_file(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| VIDEO_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
}

fn tool(var: &str, default: &str) -> String {
    std::env::var(var).unwrap_or_else(|_| default.to_string())
}

/// The frame size of the first video stream of `path`, by ffprobe.
fn frame_size(path: &Path) -> Result<(usize, usize), DataError> {
    let probe = tool("SPAE_FFPROBE", "ffprobe");
    let out = Command::new(&probe)
        .args(["-v", "error", "-select_streams", "v:0", "-show_entries"])
        .args(["stream=width,height", "-of", "csv=p=0:s=x"])
        .arg(path)
        .output()
        .map_err(|e| missing(path, &probe, e))?;
    let text = String::from_utf8_lossy(&out.stdout);
    let size = text.trim().split_once('x').and_then(|(w, h)| {
        Some((
            w.trim().parse::<usize>().ok()?,
            h.trim().parse::<usize>().ok()?,
        ))
    });
    match size {
        Some((w, h)) if out.status.success() && w > 0 && h > 0 => Ok((w, h)),
        _ => Err(corrupt(
            path,
            format!(
                "no video stream FFmpeg can read: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ),
        )),
    }
}

fn missing(path: &Path, tool: &str, e: std::io::Error) -> DataError {
    corrupt(
        path,
        format!(
            "reading video files needs FFmpeg: cannot run `{tool}` ({e}); install Debian's \
             ffmpeg package (scripts/install-deps.sh does) or set SPAE_FFMPEG / SPAE_FFPROBE"
        ),
    )
}

/// Frames `skip..skip + take` of the video file `path` (fewer when it ends first), RGB.
pub fn decode_video(path: &Path, skip: usize, take: usize) -> Result<Vec<Image>, DataError> {
    let mut frames = Vec::new();
    each_video_frame(path, skip, take, &mut |img| {
        frames.push(img);
        Ok(())
    })?;
    Ok(frames)
}

/// Calls `on_frame` with frames `skip..skip + take` of the video file `path` (fewer when it
/// ends first), RGB, one at a time; returns how many it was given.
pub fn each_video_frame(
    path: &Path,
    skip: usize,
    take: usize,
    on_frame: &mut dyn FnMut(Image) -> Result<(), DataError>,
) -> Result<usize, DataError> {
    if !path.is_file() {
        return Err(DataError::Io {
            path: path.to_path_buf(),
            source: std::io::Error::from(std::io::ErrorKind::NotFound),
        });
    }
    let (w, h) = frame_size(path)?;
    if (w * h) as u64 > MAX_IMAGE_PIXELS {
        return Err(corrupt(path, format!("frames of {w} x {h} pixels")));
    }
    let ffmpeg = tool("SPAE_FFMPEG", "ffmpeg");
    let mut child = Command::new(&ffmpeg)
        .args(["-v", "error", "-nostdin", "-noautorotate", "-i"])
        .arg(path)
        .args(["-map", "0:v:0", "-frames:v"])
        .arg(skip.saturating_add(take).to_string())
        .args(["-f", "rawvideo", "-pix_fmt", "rgb24", "-"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| missing(path, &ffmpeg, e))?;
    let mut stdout = child.stdout.take().expect("piped");
    let mut buf = vec![0u8; w * h * 3];
    let (mut index, mut given) = (0, 0);
    while given < take {
        match stdout.read_exact(&mut buf) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
            Err(e) => return Err(corrupt(path, format!("reading FFmpeg's frames: {e}"))),
        }
        if index >= skip {
            on_frame(Image {
                width: w,
                height: h,
                channels: 3,
                pixels: buf.clone(),
            })?;
            given += 1;
        }
        index += 1;
    }
    drop(stdout);
    let out = child
        .wait_with_output()
        .map_err(|e| corrupt(path, format!("FFmpeg: {e}")))?;
    if !out.status.success() && given < take {
        return Err(corrupt(
            path,
            format!(
                "FFmpeg failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ),
        ));
    }
    if given == 0 {
        return Err(corrupt(
            path,
            format!("no frames from {skip} on (the video has {index})"),
        ));
    }
    Ok(given)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn video_files_by_extension() {
        assert!(is_video_file(Path::new("a/b.MP4")));
        assert!(is_video_file(Path::new("b.webm")));
        assert!(!is_video_file(Path::new("b.png")));
        assert!(!is_video_file(Path::new("mp4")));
    }

    #[test]
    fn a_missing_decoder_or_file_is_a_clear_error() {
        let err = decode_video(Path::new("/nonexistent/x.mp4"), 0, 4).unwrap_err();
        assert!(err.to_string().contains("x.mp4"), "{err}");
    }
}
