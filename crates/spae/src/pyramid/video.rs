//! The 3-D token pyramid of a video (issue 19): Eq. 1's dilation subsampler on each of the time,
//! height and width axes of a `t x h x w` latent. Layer `l` is a `t_l x h_l x w_l` grid; layers
//! coarse in time come first (e.g. one frame's worth of tokens, then more frames).

use serde::{Deserialize, Serialize};

use super::{dilation_subsample, PyramidError, PyramidLayout};

/// A pyramid over a `t x h x w` latent (`latent = (t, h, w)`); layer `l` quantizes
/// `grids[l] = (t_l, h_l, w_l)` positions per axis, chosen by [`dilation_subsample`] on each axis.
/// Flat positions are `(ti * h + row) * w + col`, time-major.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VideoPyramid {
    pub latent: (usize, usize, usize),
    pub grids: Vec<(usize, usize, usize)>,
}

impl VideoPyramid {
    /// Validates the grids: on every axis each divides the latent and none shrinks, and the last
    /// covers everything.
    pub fn new(
        latent: (usize, usize, usize),
        grids: Vec<(usize, usize, usize)>,
    ) -> Result<Self, PyramidError> {
        let axes = |g: (usize, usize, usize)| [g.0, g.1, g.2];
        let full = axes(latent);
        for (l, &g) in grids.iter().enumerate() {
            let a = axes(g);
            if a.iter().zip(&full).any(|(&n, &m)| n == 0 || m % n != 0) {
                return Err(PyramidError::NotDivisor3 {
                    layer: l + 1,
                    grid: g,
                    latent,
                });
            }
            if l > 0 && a.iter().zip(axes(grids[l - 1])).any(|(&n, p)| n < p) {
                return Err(PyramidError::Shrinks3 {
                    layer: l + 1,
                    grid: g,
                    prev: grids[l - 1],
                });
            }
        }
        if grids.last() != Some(&latent) {
            return Err(PyramidError::NoFullCover);
        }
        Ok(VideoPyramid { latent, grids })
    }
}

impl PyramidLayout for VideoPyramid {
    fn n_layers(&self) -> usize {
        self.grids.len()
    }

    fn n_positions(&self) -> usize {
        self.latent.0 * self.latent.1 * self.latent.2
    }

    fn positions(&self, l: usize) -> Vec<usize> {
        let (t, h, w) = self.latent;
        let (gt, gh, gw) = self.grids[l];
        let rows = dilation_subsample(h, gh);
        let cols = dilation_subsample(w, gw);
        let mut out = Vec::with_capacity(gt * gh * gw);
        for ti in dilation_subsample(t, gt) {
            for &r in &rows {
                for &c in &cols {
                    out.push(((ti - 1) * h + (r - 1)) * w + (c - 1));
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 4 x 4 x 4 latent, grids 1x1x1, 1x2x2, 2x4x4, 4x4x4.
    fn small() -> VideoPyramid {
        VideoPyramid::new((4, 4, 4), vec![(1, 1, 1), (1, 2, 2), (2, 4, 4), (4, 4, 4)]).unwrap()
    }

    #[test]
    fn eq1_on_three_axes_by_hand() {
        let p = small();
        // Eq. 1 on an axis of 4: one block -> centre 3; two blocks -> 2, 4 (1-based).
        // Layer 1: (t, h, w) = (3, 3, 3), flat 0-based (2 * 4 + 2) * 4 + 2 = 42.
        assert_eq!(p.positions(0), vec![42]);
        // Layer 2: t = 3; h, w in {2, 4}: (2*4+1)*4+1 = 37, 39, (2*4+3)*4+1 = 45, 47.
        assert_eq!(p.positions(1), vec![37, 39, 45, 47]);
        // Layer 3: frames 2 and 4 (1-based), every row and column: 16..32 and 48..64.
        let expect: Vec<usize> = (16..32).chain(48..64).collect();
        assert_eq!(p.positions(2), expect);
        assert_eq!(p.positions(3), (0..64).collect::<Vec<_>>());
        assert_eq!(p.layer_sizes(), vec![1, 4, 32, 64]);
        assert_eq!(p.cumulative_sizes(), vec![1, 5, 37, 101]);
        assert_eq!(p.first_decodable_depth(), 4);
        assert_eq!(
            p.check_decodable(3),
            Err(PyramidError::NotDecodable { depth: 3, first: 4 })
        );
        assert!(p.check_decodable(4).is_ok());
    }

    #[test]
    fn a_video_pyramid_of_one_frame_is_the_image_pyramid() {
        let v = VideoPyramid::new((1, 8, 8), vec![(1, 1, 1), (1, 2, 2), (1, 8, 8)]).unwrap();
        let i = super::super::Pyramid::square(8, &[1, 2, 8]).unwrap();
        for l in 0..3 {
            assert_eq!(v.positions(l), i.positions(l));
        }
    }

    #[test]
    fn invalid_video_pyramids_are_rejected() {
        assert!(matches!(
            VideoPyramid::new((4, 4, 4), vec![(3, 4, 4)]),
            Err(PyramidError::NotDivisor3 { layer: 1, .. })
        ));
        assert!(matches!(
            VideoPyramid::new((4, 4, 4), vec![(2, 1, 1), (1, 4, 4), (4, 4, 4)]),
            Err(PyramidError::Shrinks3 { layer: 2, .. })
        ));
        assert_eq!(
            VideoPyramid::new((4, 4, 4), vec![(1, 1, 1), (2, 4, 4)]),
            Err(PyramidError::NoFullCover)
        );
        assert_eq!(
            VideoPyramid::new((4, 4, 4), vec![]),
            Err(PyramidError::NoFullCover)
        );
    }
}
