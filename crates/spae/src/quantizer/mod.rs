//! Quantizers: mapping encoder latents to codebook words.

pub mod nearest;

pub use nearest::{Nearest, NearestSearch, SearchChunks};
