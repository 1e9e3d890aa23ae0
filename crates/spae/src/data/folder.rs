//! Labelled image folders: one subfolder per class, image files of any format and size inside.

use std::fs;
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use super::image::{is_image_file, load_model_image, Fit};
use super::{corrupt, DataError, ImageSet};

/// A labelled image folder: one subfolder per class (its name, `_` read as a space, is the class
/// name), image files inside ([`is_image_file`]), each read by [`load_model_image`] for a
/// `size` x `size` model of `channels` channels, sized by `fit`, decoded on every core. Classes and
/// files in name order;
/// each image's name is its file stem.
pub fn image_folder(
    dir: &Path,
    size: usize,
    channels: usize,
    fit: Fit,
) -> Result<ImageSet, DataError> {
    let sorted = |d: &Path| -> Result<Vec<PathBuf>, DataError> {
        let mut v: Vec<PathBuf> = fs::read_dir(d)
            .map_err(|source| DataError::Io {
                path: d.to_path_buf(),
                source,
            })?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        v.sort();
        Ok(v)
    };
    let mut set = ImageSet {
        width: size,
        height: size,
        channels,
        pixels: Vec::new(),
        labels: Vec::new(),
        class_names: Vec::new(),
        names: Vec::new(),
    };
    // Every file of every class first, then decoded on all cores (rayon), in that order.
    let mut files: Vec<(u32, PathBuf)> = Vec::new();
    for class_dir in sorted(dir)?.into_iter().filter(|p| p.is_dir()) {
        let class_files: Vec<PathBuf> = sorted(&class_dir)?
            .into_iter()
            .filter(|p| is_image_file(p))
            .collect();
        if class_files.is_empty() {
            return Err(corrupt(
                &class_dir,
                "a class folder without image files (.png, .jpg, .jpeg, .webp)",
            ));
        }
        let label = set.class_names.len() as u32;
        let name = class_dir.file_name().unwrap_or_default().to_string_lossy();
        set.class_names.push(name.replace('_', " "));
        files.extend(class_files.into_iter().map(|f| (label, f)));
    }
    let plane = size * size;
    // Decoded in parallel; an error names the first bad file in name order, as a sequential read
    // would.
    let decoded: Vec<Result<Vec<u8>, DataError>> = files
        .par_iter()
        .map(|(_, file)| {
            let chw = load_model_image(file, size, channels, fit)?;
            let mut hwc = Vec::with_capacity(plane * channels);
            for i in 0..plane {
                hwc.extend((0..channels).map(|c| (chw[c * plane + i] * 255.0).round() as u8));
            }
            Ok(hwc)
        })
        .collect();
    let decoded = decoded.into_iter().collect::<Result<Vec<_>, _>>()?;
    set.pixels = decoded.concat();
    for (label, file) in files {
        set.labels.push(label);
        set.names.push(
            file.file_stem()
                .unwrap_or_default()
                .to_string_lossy()
                .into(),
        );
    }
    if set.class_names.len() < 2 {
        return Err(corrupt(
            dir,
            format!(
                "{} class folder(s) with image files; a labelled image folder needs at least 2",
                set.class_names.len()
            ),
        ));
    }
    Ok(set)
}
