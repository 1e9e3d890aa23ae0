//! Labelled image folders: one subfolder per class, image files of any format and size inside,
//! decoded all at once ([`image_folder`]) or read as batches ask for them
//! ([`image_folder_files`], for folders too large to hold decoded: ImageNet's 1.28 million
//! images are 63 GB as 128x128 RGB bytes).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rayon::prelude::*;

use super::image::{is_image_file, model_image_at, read_image, Fit};
use super::{chw_batch, corrupt, held_out_in, sorted_entries, DataError, ImageSet, Split};

/// A labelled image folder: one subfolder per class (its name, `_` read as a space, is the class
/// name), image files inside ([`is_image_file`]), each read by [`super::model_image`] for a
/// `size` x `size` model of `channels` channels, sized by `fit`, decoded on every core. Classes and
/// files in name order; each image's name is its file stem.
pub fn image_folder(
    dir: &Path,
    size: usize,
    channels: usize,
    fit: Fit,
) -> Result<ImageSet, DataError> {
    Listing::of_folder(dir)?.decode(size, channels, fit)
}

/// [`image_folder`] without decoding: only the file list is held, and each image is read from
/// its file, resized as [`Fit::Resize`] says, when a batch asks for it
/// ([`ImageSet::try_batch_chw`], on every core), giving the pixels `image_folder` would hold. The
/// first file is decoded at once, so that a folder of unreadable files is refused before any
/// training.
pub fn image_folder_files(dir: &Path, size: usize, channels: usize) -> Result<ImageSet, DataError> {
    Listing::of_folder(dir)?.streamed(size, channels)
}

/// The images of a labelled image folder, before any is read: the class names, and each image's
/// class label and file, ordered by class and then by file name.
#[derive(Debug, Clone, PartialEq)]
pub struct Listing {
    pub(super) class_names: Vec<String>,
    pub(super) files: Vec<(u32, PathBuf)>,
}

impl Listing {
    /// Every class subfolder of `dir` with image files, classes and files in name order; a class
    /// folder without image files and a folder of fewer than 2 classes are refused.
    pub fn of_folder(dir: &Path) -> Result<Listing, DataError> {
        let mut listing = Listing {
            class_names: Vec::new(),
            files: Vec::new(),
        };
        for class_dir in sorted_entries(dir)?.into_iter().filter(|p| p.is_dir()) {
            let class_files: Vec<PathBuf> = sorted_entries(&class_dir)?
                .into_iter()
                .filter(|p| is_image_file(p))
                .collect();
            if class_files.is_empty() {
                return Err(corrupt(
                    &class_dir,
                    "a class folder without image files (.png, .jpg, .jpeg, .webp)",
                ));
            }
            let label = listing.class_names.len() as u32;
            listing.class_names.push(class_name(&class_dir));
            listing
                .files
                .extend(class_files.into_iter().map(|f| (label, f)));
        }
        listing.at_least_two_classes(dir)?;
        Ok(listing)
    }

    /// The class names, in label order.
    pub fn class_names(&self) -> &[String] {
        &self.class_names
    }

    /// Each image's class label and file, in order.
    pub fn images(&self) -> &[(u32, PathBuf)] {
        &self.files
    }

    /// Refuses a listing of fewer than 2 classes (`source` names where it came from).
    pub(super) fn at_least_two_classes(&self, source: &Path) -> Result<(), DataError> {
        if self.class_names.len() >= 2 {
            return Ok(());
        }
        Err(corrupt(
            source,
            format!(
                "{} class folder(s) with image files; a labelled image folder needs at least 2",
                self.class_names.len()
            ),
        ))
    }

    /// The held-out part when the folder has no split of its own, as [`ImageSet::hold_out`]
    /// takes it from the whole set (every `every`-th image is test), before any image is read.
    pub fn hold_out(self, split: Split, every: usize) -> Listing {
        let files = self.files.into_iter().enumerate();
        Listing {
            files: files
                .filter(|(i, _)| held_out_in(*i, split, every))
                .map(|(_, f)| f)
                .collect(),
            ..self
        }
    }

    /// Every image decoded on every core, each straight into its place (no second copy of the
    /// set); an error names the first bad file in listing order, as a sequential read would.
    pub fn decode(&self, size: usize, channels: usize, fit: Fit) -> Result<ImageSet, DataError> {
        let source = self.source(size, channels, fit);
        let mut pixels = vec![0u8; self.files.len() * size * size * channels];
        let done: Vec<Result<(), DataError>> = pixels
            .par_chunks_mut(size * size * channels)
            .enumerate()
            .map(|(i, out)| {
                out.copy_from_slice(&source.decode_one(i)?);
                Ok(())
            })
            .collect();
        done.into_iter().collect::<Result<(), _>>()?;
        Ok(ImageSet {
            pixels,
            ..self.labelled(size, channels)
        })
    }

    /// The set read from its files as batches ask for them ([`image_folder_files`]); the first
    /// file is decoded at once.
    pub fn streamed(&self, size: usize, channels: usize) -> Result<ImageSet, DataError> {
        let source = self.source(size, channels, Fit::Resize);
        if !self.files.is_empty() {
            source.decode_one(0)?;
        }
        Ok(ImageSet {
            source: Some(source),
            ..self.labelled(size, channels)
        })
    }

    fn source(&self, size: usize, channels: usize, fit: Fit) -> FileSource {
        FileSource {
            files: self.files.iter().map(|(_, f)| f.clone()).collect(),
            size,
            channels,
            fit,
        }
    }

    /// The set without pixels: labels, class names, file stems as image names.
    fn labelled(&self, size: usize, channels: usize) -> ImageSet {
        ImageSet {
            width: size,
            height: size,
            channels,
            pixels: Vec::new(),
            labels: self.files.iter().map(|(l, _)| *l).collect(),
            class_names: self.class_names.clone(),
            names: self
                .files
                .iter()
                .map(|(_, f)| f.file_stem().unwrap_or_default().to_string_lossy().into())
                .collect(),
            source: None,
        }
    }
}

/// A class folder's class name: its name with `_` read as a space.
pub(super) fn class_name(class_dir: &Path) -> String {
    let name = class_dir.file_name().unwrap_or_default().to_string_lossy();
    name.replace('_', " ")
}

/// Where the images of a set read from files are ([`image_folder_files`]): the files, read for
/// a `size` x `size` model of `channels` channels.
#[derive(Debug, Clone)]
pub struct FileSource {
    files: Arc<[PathBuf]>,
    size: usize,
    channels: usize,
    fit: Fit,
}

impl FileSource {
    /// The files `indices`, in that order.
    pub(super) fn subset(&self, indices: &[usize]) -> FileSource {
        FileSource {
            files: indices.iter().map(|&i| self.files[i].clone()).collect(),
            ..self.clone()
        }
    }

    /// Image `i` read for the model, its square centred, as 8-bit `H x W x C`.
    fn decode_one(&self, i: usize) -> Result<Vec<u8>, DataError> {
        self.decode_at(i, 0.5)
    }

    /// Image `i` read for the model with its square at `at` along the longer side
    /// ([`super::crop_box`]), as 8-bit `H x W x C` (the decoded sets' storage).
    fn decode_at(&self, i: usize, at: f64) -> Result<Vec<u8>, DataError> {
        let (plane, channels) = (self.size * self.size, self.channels);
        let file = &self.files[i];
        let chw = model_image_at(&read_image(file)?, self.size, channels, self.fit, file, at)?;
        let mut hwc = Vec::with_capacity(plane * channels);
        for p in 0..plane {
            hwc.extend((0..channels).map(|c| (chw[c * plane + p] * 255.0).round() as u8));
        }
        Ok(hwc)
    }

    /// Images `indices` read from their files on every core as [`ImageSet::batch_chw`] gives a
    /// decoded set's, image `indices[k]`'s square at `at[k]` along its longer side (random
    /// crops) or, without `at`, centred. An error names the first bad file in `indices` order,
    /// as a sequential read would.
    pub fn batch_chw(
        &self,
        indices: &[usize],
        at: Option<&[f64]>,
        size: usize,
    ) -> Result<Vec<f32>, DataError> {
        let images = indices
            .par_iter()
            .enumerate()
            .map(|(k, &i)| self.decode_at(i, at.map_or(0.5, |a| a[k])))
            .collect::<Vec<_>>()
            .into_iter()
            .collect::<Result<Vec<_>, _>>()?;
        let dims = (self.size, self.size, self.channels);
        Ok(chw_batch(images.iter().map(|v| v.as_slice()), dims, size))
    }
}

impl ImageSet {
    /// Images `indices` as [`ImageSet::batch_chw`] gives them, for any set: a set read from files
    /// ([`image_folder_files`]) reads them now, and an unreadable file is an error naming it.
    pub fn try_batch_chw(&self, indices: &[usize], size: usize) -> Result<Vec<f32>, DataError> {
        match &self.source {
            Some(source) => source.batch_chw(indices, None, size),
            None => Ok(self.batch_chw(indices, size)),
        }
    }

    /// Whether the images are read from files as batches ask for them.
    pub fn streamed(&self) -> Option<&FileSource> {
        self.source.as_ref()
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use std::fs;

    /// Two class folders of real photos (JPEG, WebP, PNG of various sizes): `cat/` and `drink/`,
    /// in name order `cat/{camera.jpg, chelsea.webp, coffee.jpg}` and `drink/{chelsea.webp,
    /// coffee.jpg, emoji.webp}`.
    pub(in crate::data) fn photos(dir: &Path) -> PathBuf {
        let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/images");
        let data = dir.join("photos");
        for (class, files) in [
            ("cat", ["chelsea.webp", "camera.jpg", "coffee.jpg"]),
            ("drink", ["coffee.jpg", "emoji.webp", "chelsea.webp"]),
        ] {
            fs::create_dir_all(data.join(class)).unwrap();
            for f in files {
                fs::copy(fixtures.join(f), data.join(class).join(f)).unwrap();
            }
        }
        data
    }

    #[test]
    fn a_folder_read_from_files_gives_the_decoded_pixels() {
        let dir = tempfile::tempdir().unwrap();
        let data = photos(dir.path());
        for channels in [1, 3] {
            let decoded = image_folder(&data, 24, channels, Fit::Resize).unwrap();
            let files = image_folder_files(&data, 24, channels).unwrap();
            assert!(files.pixels.is_empty() && files.streamed().is_some());
            assert_eq!(files.len(), 6);
            assert_eq!(
                (&files.labels, &files.names, &files.class_names),
                (&decoded.labels, &decoded.names, &decoded.class_names)
            );
            // Any batch, on a larger canvas too, and after a subset and a hold-out.
            let idx = [5, 0, 3, 3];
            for size in [24, 32] {
                assert_eq!(
                    files.try_batch_chw(&idx, size).unwrap(),
                    decoded.batch_chw(&idx, size)
                );
            }
            let (sub_f, sub_d) = (files.subset(&[4, 1]), decoded.subset(&[4, 1]));
            assert_eq!(sub_f.labels, sub_d.labels);
            assert_eq!(
                sub_f.try_batch_chw(&[1, 0], 24).unwrap(),
                sub_d.batch_chw(&[1, 0], 24)
            );
            let held = files.hold_out(Split::Test, 3);
            assert_eq!(held.len(), 2);
            assert_eq!(
                held.try_batch_chw(&[0, 1], 24).unwrap(),
                decoded.hold_out(Split::Test, 3).batch_chw(&[0, 1], 24)
            );
        }
    }

    #[test]
    fn a_listing_held_out_reads_only_its_split_and_gives_the_set_held_out() {
        let dir = tempfile::tempdir().unwrap();
        let data = photos(dir.path());
        let whole = image_folder(&data, 16, 3, Fit::Resize).unwrap();
        for split in [Split::Train, Split::Test] {
            let listing = Listing::of_folder(&data).unwrap().hold_out(split, 3);
            assert_eq!(listing.files.len(), [4, 2][(split == Split::Test) as usize]);
            let (part, want) = (
                listing.decode(16, 3, Fit::Resize).unwrap(),
                whole.hold_out(split, 3),
            );
            assert_eq!(
                (&part.pixels, &part.labels, &part.names, &part.class_names),
                (&want.pixels, &want.labels, &want.names, &want.class_names)
            );
        }
    }

    #[test]
    fn random_crops_move_the_square_along_the_longer_side() {
        let dir = tempfile::tempdir().unwrap();
        let files = image_folder_files(&photos(dir.path()), 16, 3).unwrap();
        let source = files.streamed().unwrap();
        // cat/: camera.jpg (512x512), chelsea.webp (451x300), coffee.jpg (600x400).
        let centred = source.batch_chw(&[0, 1, 2], None, 16).unwrap();
        assert_eq!(
            source.batch_chw(&[0, 1, 2], Some(&[0.5; 3]), 16).unwrap(),
            centred
        );
        let left = source.batch_chw(&[0, 1, 2], Some(&[0.0; 3]), 16).unwrap();
        let right = source.batch_chw(&[0, 1, 2], Some(&[1.0; 3]), 16).unwrap();
        let image = |v: &[f32], k: usize| v[k * 3 * 256..(k + 1) * 3 * 256].to_vec();
        // A square image has one square; the others' left and right squares differ.
        assert_eq!(image(&left, 0), image(&centred, 0));
        assert_eq!(image(&right, 0), image(&centred, 0));
        for k in [1, 2] {
            assert_ne!(image(&left, k), image(&right, k), "image {k}");
            assert_ne!(image(&left, k), image(&centred, k), "image {k}");
        }
    }

    #[test]
    fn an_unreadable_file_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let data = photos(dir.path());
        // A file broken after the listing: the batch that needs it fails, naming it.
        let files = image_folder_files(&data, 16, 3).unwrap();
        let bad = data.join("drink/emoji.webp");
        fs::write(&bad, b"RIFF\0\0\0\0WEBPnot an image").unwrap();
        assert!(files.try_batch_chw(&[0, 4], 16).is_ok());
        let err = files.try_batch_chw(&[0, 5], 16).unwrap_err().to_string();
        assert!(err.contains("emoji.webp"), "{err}");
        // The first file broken: refused when the folder is opened.
        fs::write(data.join("cat/camera.jpg"), b"\xff\xd8\xff garbage").unwrap();
        let err = image_folder_files(&data, 16, 3).unwrap_err().to_string();
        assert!(err.contains("camera.jpg"), "{err}");
    }
}
