//! The token pyramid: which latent positions each layer quantizes (method.md, Eq. 1). Images
//! have a 2-D latent ([`Pyramid`]); videos a 3-D one ([`video::VideoPyramid`]). The quantizers
//! see either through [`PyramidLayout`]: layers of flat latent positions.

pub mod video;

use serde::{Deserialize, Serialize};
use thiserror::Error;

pub use video::VideoPyramid;

/// A pyramid as the quantizers see it: `n_layers` layers, each a list of flat latent positions
/// (`0..n_positions`). Provided: sizes, and which depths cover every position (decodable).
pub trait PyramidLayout {
    fn n_layers(&self) -> usize;

    /// Number of latent positions.
    fn n_positions(&self) -> usize;

    /// The 0-based flat positions that layer `l` (0-based) quantizes, in token order.
    fn positions(&self, l: usize) -> Vec<usize>;

    /// Tokens per layer.
    fn layer_sizes(&self) -> Vec<usize> {
        (0..self.n_layers())
            .map(|l| self.positions(l).len())
            .collect()
    }

    /// Tokens in the first `depth` layers, for every depth 1..=L.
    fn cumulative_sizes(&self) -> Vec<usize> {
        self.layer_sizes()
            .iter()
            .scan(0, |acc, n| {
                *acc += n;
                Some(*acc)
            })
            .collect()
    }

    /// The smallest depth whose layers together cover every latent position (decodable).
    fn first_decodable_depth(&self) -> usize {
        let mut covered = vec![false; self.n_positions()];
        for l in 0..self.n_layers() {
            for p in self.positions(l) {
                covered[p] = true;
            }
            if covered.iter().all(|&c| c) {
                return l + 1;
            }
        }
        unreachable!("a pyramid's constructor checks that the last layer covers everything")
    }

    /// Checks that the first `depth` layers can be decoded to pixels.
    fn check_decodable(&self, depth: usize) -> Result<(), PyramidError> {
        if depth > self.n_layers() {
            return Err(PyramidError::TooDeep {
                depth,
                layers: self.n_layers(),
            });
        }
        let first = self.first_decodable_depth();
        if depth < first {
            return Err(PyramidError::NotDecodable { depth, first });
        }
        Ok(())
    }
}

#[derive(Debug, Error, PartialEq)]
pub enum PyramidError {
    #[error("layer {layer}: grid {grid}x{grid_w} does not divide the {h}x{w} latent")]
    NotDivisor {
        layer: usize,
        grid: usize,
        grid_w: usize,
        h: usize,
        w: usize,
    },
    #[error("layer {layer}: grid {grid:?} is smaller than the layer before ({prev:?}); grids must not shrink")]
    Shrinks {
        layer: usize,
        grid: (usize, usize),
        prev: (usize, usize),
    },
    #[error("layer {layer}: grid {grid:?} (t, h, w) does not divide the {latent:?} latent on every axis")]
    NotDivisor3 {
        layer: usize,
        grid: (usize, usize, usize),
        latent: (usize, usize, usize),
    },
    #[error("layer {layer}: grid {grid:?} is smaller on some axis than the layer before ({prev:?}); grids must not shrink")]
    Shrinks3 {
        layer: usize,
        grid: (usize, usize, usize),
        prev: (usize, usize, usize),
    },
    #[error("a pyramid needs at least one layer, and its last layer must cover the whole latent")]
    NoFullCover,
    #[error(
        "depth {depth} does not cover every latent position; the first decodable depth is {first}"
    )]
    NotDecodable { depth: usize, first: usize },
    #[error("depth {depth} is beyond the pyramid's {layers} layers")]
    TooDeep { depth: usize, layers: usize },
}

/// Eq. 1, the dilation subsampler along one axis: the 1-based coordinates
/// `h' i - ceil(h'/2) + 1`, `1 <= i <= n_l`, `h' = n_L / n_l`, the centres of the `h'`-blocks.
pub fn dilation_subsample(n_latent: usize, n_layer: usize) -> Vec<usize> {
    let stride = n_latent / n_layer;
    (1..=n_layer)
        .map(|i| stride * i - stride.div_ceil(2) + 1)
        .collect()
}

/// A pyramid of layers over an `h x w` latent grid; layer `l` quantizes `grids[l]` positions
/// per axis, chosen by [`dilation_subsample`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pyramid {
    pub latent: (usize, usize),
    pub grids: Vec<(usize, usize)>,
}

impl Pyramid {
    /// Validates the grids: each divides the latent, none shrinks, the last covers everything.
    pub fn new(latent: (usize, usize), grids: Vec<(usize, usize)>) -> Result<Self, PyramidError> {
        let (h, w) = latent;
        for (l, &(gh, gw)) in grids.iter().enumerate() {
            if gh == 0 || gw == 0 || h % gh != 0 || w % gw != 0 {
                return Err(PyramidError::NotDivisor {
                    layer: l + 1,
                    grid: gh,
                    grid_w: gw,
                    h,
                    w,
                });
            }
            if l > 0 && (gh < grids[l - 1].0 || gw < grids[l - 1].1) {
                return Err(PyramidError::Shrinks {
                    layer: l + 1,
                    grid: (gh, gw),
                    prev: grids[l - 1],
                });
            }
        }
        if grids.last() != Some(&latent) {
            return Err(PyramidError::NoFullCover);
        }
        Ok(Pyramid { latent, grids })
    }

    /// A square pyramid: grids `g x g` for each `g` in `sizes` over a `side x side` latent.
    pub fn square(side: usize, sizes: &[usize]) -> Result<Self, PyramidError> {
        Pyramid::new((side, side), sizes.iter().map(|&g| (g, g)).collect())
    }
}

impl PyramidLayout for Pyramid {
    fn n_layers(&self) -> usize {
        self.grids.len()
    }

    fn n_positions(&self) -> usize {
        self.latent.0 * self.latent.1
    }

    fn positions(&self, l: usize) -> Vec<usize> {
        let (h, w) = self.latent;
        let (gh, gw) = self.grids[l];
        let rows = dilation_subsample(h, gh);
        let cols = dilation_subsample(w, gw);
        rows.iter()
            .flat_map(|&r| cols.iter().map(move |&c| (r - 1) * w + (c - 1)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eq1_paper_pyramid_by_hand() {
        let p = Pyramid::square(16, &[1, 2, 4, 8, 16, 16]).unwrap();
        assert_eq!(p.layer_sizes(), vec![1, 4, 16, 64, 256, 256]);
        assert_eq!(p.cumulative_sizes(), vec![1, 5, 21, 85, 341, 597]);
        assert_eq!(dilation_subsample(16, 1), vec![9]);
        assert_eq!(dilation_subsample(16, 2), vec![5, 13]);
        assert_eq!(dilation_subsample(16, 4), vec![3, 7, 11, 15]);
        assert_eq!(dilation_subsample(16, 8), vec![2, 4, 6, 8, 10, 12, 14, 16]);
        assert_eq!(dilation_subsample(16, 16), (1..=16).collect::<Vec<_>>());
        // 1-based (9, 9) is flat 0-based 8 * 16 + 8.
        assert_eq!(p.positions(0), vec![8 * 16 + 8]);
        assert_eq!(
            p.positions(1),
            vec![4 * 16 + 4, 4 * 16 + 12, 12 * 16 + 4, 12 * 16 + 12]
        );
        assert_eq!(
            p.positions(2)[..4],
            [2 * 16 + 2, 2 * 16 + 6, 2 * 16 + 10, 2 * 16 + 14]
        );
        assert_eq!(p.first_decodable_depth(), 5);
        assert_eq!(
            p.check_decodable(4),
            Err(PyramidError::NotDecodable { depth: 4, first: 5 })
        );
        assert!(p.check_decodable(5).is_ok() && p.check_decodable(6).is_ok());
        assert!(matches!(
            p.check_decodable(7),
            Err(PyramidError::TooDeep { .. })
        ));
    }

    #[test]
    fn odd_strides_take_the_upper_centre() {
        // 6 positions in 2 blocks of 3: centres 2 and 5 (1-based).
        assert_eq!(dilation_subsample(6, 2), vec![2, 5]);
    }

    #[test]
    fn invalid_pyramids_are_rejected() {
        assert!(matches!(
            Pyramid::square(16, &[3, 16]),
            Err(PyramidError::NotDivisor { layer: 1, .. })
        ));
        assert!(matches!(
            Pyramid::square(16, &[4, 2, 16]),
            Err(PyramidError::Shrinks { layer: 2, .. })
        ));
        assert_eq!(Pyramid::square(16, &[1, 8]), Err(PyramidError::NoFullCover));
    }
}
