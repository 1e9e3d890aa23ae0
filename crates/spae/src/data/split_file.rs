//! Split files for image folders (`[data] split_file`): which of a folder's images are the
//! training split and which the test split, one line each, as a researcher fixes a split to
//! report results on (ImageNet's own, a class-balanced subset, a published few-shot split).
//!
//! ```text
//! # comment lines and blank lines are skipped
//! train n01440764/n01440764_10026.JPEG
//! val   n01440764/ILSVRC2012_val_00000293.JPEG
//! test  tabby_cat/photo 1.png
//! ```
//!
//! Each line: the split (`train`, or `val` / `test`, both the test split), then the image's path
//! relative to the folder (the rest of the line, so a path may hold spaces). The image's class is
//! the folder it lies in (`_` read as a space, as a class subfolder's name). Images the file does
//! not list are not used.

use std::collections::{BTreeSet, HashSet};
use std::ffi::OsString;
use std::path::{Component, Path, PathBuf};

use super::folder::{class_name, Listing};
use super::image::is_image_file;
use super::{corrupt, read_file, DataError, Split};

/// One line of a split file: its number (from 1), the split, and the image's path relative to
/// the folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SplitLine {
    pub line: usize,
    pub split: Split,
    pub path: PathBuf,
}

/// The lines of split file `file` (its text `text`). A line that is not `<split> <path>`, an
/// unknown split, an absolute path, a path outside a class folder, a file that is not an image
/// (`.png`, `.jpg`, `.jpeg`, `.webp`) and a path listed twice are refused, naming the line.
pub fn parse_split_file(text: &str, file: &Path) -> Result<Vec<SplitLine>, DataError> {
    let mut lines = Vec::new();
    let mut seen = HashSet::new();
    for (n, raw) in text.lines().enumerate() {
        let text = raw.trim();
        if text.is_empty() || text.starts_with('#') {
            continue;
        }
        let at = |what: String| corrupt(file, format!("line {}: {what}", n + 1));
        let (word, rest) = text
            .split_once(char::is_whitespace)
            .ok_or_else(|| at(format!("'{text}' is not '<train|val|test> <path>'")))?;
        let split = match word {
            "train" => Split::Train,
            "val" | "test" => Split::Test,
            other => return Err(at(format!("unknown split '{other}' (train, val or test)"))),
        };
        // `./cat/a.png` is `cat/a.png` (a leading `.` is the one `Path` keeps).
        let path: PathBuf = Path::new(rest.trim())
            .components()
            .filter(|c| *c != Component::CurDir)
            .collect();
        if path.has_root() {
            return Err(at(format!(
                "{} is not relative to the folder",
                path.display()
            )));
        }
        if class_folder(&path).is_none() {
            return Err(at(format!(
                "{} is not in a class folder (CLASS/FILE)",
                path.display()
            )));
        }
        if !is_image_file(&path) {
            return Err(at(format!(
                "{} is not an image file (.png, .jpg, .jpeg, .webp)",
                path.display()
            )));
        }
        if !seen.insert(path.clone()) {
            return Err(at(format!("{} is listed twice", path.display())));
        }
        lines.push(SplitLine {
            line: n + 1,
            split,
            path,
        });
    }
    Ok(lines)
}

/// The name of the folder `path` lies in, its class.
fn class_folder(path: &Path) -> Option<OsString> {
    let parent = path.parent()?.file_name()?;
    Some(parent.to_os_string())
}

impl Listing {
    /// Split `split` of image folder `dir` as split file `file` says ([`parse_split_file`]).
    /// The classes are the folders of every listed image, of both splits, in name order, so
    /// that the two splits' labels agree (and agree with [`Listing::of_folder`]'s where the file
    /// lists every class folder); the images are those of `split`, by class and then by path.
    /// A listed file that is missing, an empty split and fewer than 2 classes are refused.
    pub fn from_split_file(dir: &Path, file: &Path, split: Split) -> Result<Listing, DataError> {
        let text = String::from_utf8(read_file(file)?)
            .map_err(|_| corrupt(file, "a split file is UTF-8 text"))?;
        let lines = parse_split_file(&text, file)?;
        let classes: BTreeSet<OsString> =
            lines.iter().filter_map(|l| class_folder(&l.path)).collect();
        let classes: Vec<OsString> = classes.into_iter().collect();
        let mut files = Vec::new();
        for line in lines.iter().filter(|l| l.split == split) {
            let full = dir.join(&line.path);
            if !full.is_file() {
                return Err(corrupt(
                    file,
                    format!("line {}: {} is not a file", line.line, full.display()),
                ));
            }
            let class = class_folder(&line.path).unwrap_or_default();
            let label = classes.binary_search(&class).unwrap_or_default() as u32;
            files.push((label, full));
        }
        files.sort();
        if files.is_empty() {
            let words = match split {
                Split::Train => "'train'",
                Split::Test => "'val' or 'test'",
            };
            return Err(corrupt(
                file,
                format!("no lines {words}: that split is empty"),
            ));
        }
        let listing = Listing {
            class_names: classes.iter().map(|c| class_name(Path::new(c))).collect(),
            files,
        };
        listing.at_least_two_classes(file)?;
        Ok(listing)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_give_splits_and_paths() {
        let text = "# ImageNet-style\n\ntrain n014/a.JPEG\n  val\tn014/b.jpeg  \ntest tabby_cat/photo 1.png\ntrain train/dog/c.webp\n";
        let lines = parse_split_file(text, Path::new("s.txt")).unwrap();
        let got: Vec<(usize, Split, &str)> = lines
            .iter()
            .map(|l| (l.line, l.split, l.path.to_str().unwrap()))
            .collect();
        assert_eq!(
            got,
            [
                (3, Split::Train, "n014/a.JPEG"),
                (4, Split::Test, "n014/b.jpeg"),
                (5, Split::Test, "tabby_cat/photo 1.png"),
                (6, Split::Train, "train/dog/c.webp"),
            ]
        );
        assert_eq!(
            class_folder(&lines[3].path),
            Some(OsString::from("dog")),
            "the class is the folder the image lies in"
        );
    }

    #[test]
    fn bad_lines_are_refused_naming_the_line() {
        for (text, what) in [
            ("train", "line 1: 'train' is not '<train|val|test> <path>'"),
            ("\ntraining a/b.png", "line 2: unknown split 'training'"),
            (
                "test /data/a/b.png",
                "line 1: /data/a/b.png is not relative",
            ),
            ("test b.png", "line 1: b.png is not in a class folder"),
            ("train a/b.txt", "line 1: a/b.txt is not an image file"),
            (
                "train a/b.png\n# x\ntest a/b.png",
                "line 3: a/b.png is listed twice",
            ),
            (
                "train ./a/b.png\ntest a/./b.png",
                "line 2: a/b.png is listed twice",
            ),
        ] {
            let err = parse_split_file(text, Path::new("s.txt"))
                .unwrap_err()
                .to_string();
            assert!(
                err.starts_with("s.txt: ") && err.contains(what),
                "{text:?}: {err}"
            );
        }
    }
}

#[cfg(test)]
mod folder_tests {
    use super::*;
    use crate::data::folder::tests::photos;
    use crate::data::{folder_set, image_folder, Fit};

    #[test]
    fn a_split_file_picks_each_splits_images_with_the_folders_labels() {
        let dir = tempfile::tempdir().unwrap();
        let data = photos(dir.path());
        let split = dir.path().join("split.txt");
        let lines = "train cat/camera.jpg\ntrain drink/emoji.webp\ntest cat/coffee.jpg\n\
                     val drink/chelsea.webp\ntrain drink/coffee.jpg\n";
        std::fs::write(&split, lines).unwrap();
        // The whole folder in name order: cat/{camera, chelsea, coffee}, drink/{chelsea, coffee,
        // emoji}; the file lists train [0, 4, 5] and test [2, 3] (cat/chelsea.webp unused).
        let whole = image_folder(&data, 16, 3, Fit::Resize).unwrap();
        for (part, indices) in [(Split::Train, [0, 4, 5].as_slice()), (Split::Test, &[2, 3])] {
            let want = whole.subset(indices);
            for stream in [false, true] {
                let set = folder_set(&data, Some(&split), part, 16, 3, stream).unwrap();
                assert_eq!(
                    (&set.labels, &set.names, &set.class_names),
                    (&want.labels, &want.names, &want.class_names),
                    "{part:?} stream {stream}"
                );
                let all: Vec<usize> = (0..set.len()).collect();
                assert_eq!(
                    set.try_batch_chw(&all, 16).unwrap(),
                    want.batch_chw(&all, 16)
                );
            }
        }
    }

    #[test]
    fn a_split_file_that_does_not_fit_the_folder_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let data = photos(dir.path());
        let split = dir.path().join("split.txt");
        for (lines, part, what) in [
            (
                "train cat/camera.jpg\ntest drink/missing.png\n",
                Split::Test,
                "line 2: ",
            ),
            (
                "train cat/camera.jpg\ntest cat/coffee.jpg\n",
                Split::Train,
                "1 class folder(s)",
            ),
            (
                "train cat/camera.jpg\ntrain drink/coffee.jpg\n",
                Split::Test,
                "no lines 'val' or 'test'",
            ),
        ] {
            std::fs::write(&split, lines).unwrap();
            let err = Listing::from_split_file(&data, &split, part)
                .unwrap_err()
                .to_string();
            assert!(
                err.contains("split.txt: ") && err.contains(what),
                "{lines:?}: {err}"
            );
        }
        let err = Listing::from_split_file(&data, &dir.path().join("none.txt"), Split::Train)
            .unwrap_err()
            .to_string();
        assert!(err.contains("none.txt"), "{err}");
    }
}
