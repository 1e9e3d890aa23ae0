//! The installed data sets by name, at their own size.

use super::{emoji, fashion_mnist, mnist_digits, DataError, ImageSet, Split};
use crate::assets::Assets;

/// Data sets without a split of their own hold out every this many images as the test split.
pub const HOLD_OUT_EVERY: usize = 10;

/// A split of a named data set (fashion-mnist, mnist, emoji), at its own size.
pub fn named_dataset(name: &str, assets: &Assets, split: Split) -> Result<ImageSet, DataError> {
    Ok(match name {
        "fashion-mnist" => fashion_mnist(&assets.path("fashion-mnist")?, split)?,
        "mnist" => mnist_digits(&assets.path("mnist")?)?.hold_out(split, HOLD_OUT_EVERY),
        "emoji" => emoji(&assets.path("emoji")?)?.hold_out(split, HOLD_OUT_EVERY),
        other => return Err(DataError::UnknownDataset(other.to_string())),
    })
}
