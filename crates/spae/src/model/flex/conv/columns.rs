//! The column matrix of a stride-1 convolution (im2col) and its adjoint (col2im), a tile of output
//! rows at a time, for [`super`]'s fused convolution.

use std::ops::Range;

/// A stride-1, dilation-1, single-group convolution with symmetric padding: input
/// `[b, cin, d, h, w]`, kernel `[cout, cin, kd, kh, kw]`, padding `pd` frames, `ph` rows and `pw`
/// columns on each side, output `[b, cout, od, oh, ow]`; an image has `d = kd = od = 1`, `pd = 0`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Geometry {
    pub(crate) b: usize,
    pub(crate) cin: usize,
    pub(crate) cout: usize,
    pub(crate) d: usize,
    pub(crate) h: usize,
    pub(crate) w: usize,
    pub(crate) kd: usize,
    pub(crate) kh: usize,
    pub(crate) kw: usize,
    pub(crate) pd: usize,
    pub(crate) ph: usize,
    pub(crate) pw: usize,
    pub(crate) od: usize,
    pub(crate) oh: usize,
    pub(crate) ow: usize,
    /// The tensors' rank: 4 for images, 5 for videos.
    pub(crate) rank: usize,
}

/// The last `v.len()` of three spatial extents, the leading ones `fill`.
fn spatial(v: &[usize], fill: usize) -> [usize; 3] {
    let mut a = [fill; 3];
    a[3 - v.len()..].copy_from_slice(v);
    a
}

impl Geometry {
    /// From the input's dims `[b, cin, (d,) h, w]`, the kernel's `[cout, (kd,) kh, kw]` and the
    /// padding per spatial axis; `None` for other ranks or an empty output.
    pub(crate) fn of(x: &[usize], kernel: &[usize], pad: &[usize]) -> Option<Self> {
        let rank = x.len();
        if !(4..=5).contains(&rank) || kernel.len() != rank - 1 || pad.len() != rank - 2 {
            return None;
        }
        let ([d, h, w], [kd, kh, kw], [pd, ph, pw]) = (
            spatial(&x[2..], 1),
            spatial(&kernel[1..], 1),
            spatial(pad, 0),
        );
        let out = |i: usize, k: usize, p: usize| (i + 2 * p + 1).checked_sub(k);
        let (od, oh, ow) = (out(d, kd, pd)?, out(h, kh, ph)?, out(w, kw, pw)?);
        let (b, cin, cout) = (x[0], x[1], kernel[0]);
        (b > 0 && cin > 0 && cout > 0 && od > 0 && oh > 0 && ow > 0).then_some(Geometry {
            b,
            cin,
            cout,
            d,
            h,
            w,
            kd,
            kh,
            kw,
            pd,
            ph,
            pw,
            od,
            oh,
            ow,
            rank,
        })
    }

    /// Rows of the column matrix: `cin * kd * kh * kw`.
    pub(crate) fn k(&self) -> usize {
        self.cin * self.kd * self.kh * self.kw
    }

    /// Output positions per sample: `od * oh * ow`.
    pub(crate) fn p(&self) -> usize {
        self.od * self.oh * self.ow
    }

    pub(crate) fn in_len(&self) -> usize {
        self.cin * self.d * self.h * self.w
    }

    /// `[lead0, lead1, (d,) h, w]` in the tensors' rank.
    fn dims(&self, lead: [usize; 2], [d, h, w]: [usize; 3]) -> Vec<usize> {
        let mut v = lead.to_vec();
        v.extend_from_slice(&[d, h, w][5 - self.rank..]);
        v
    }

    pub(crate) fn in_dims(&self) -> Vec<usize> {
        self.dims([self.b, self.cin], [self.d, self.h, self.w])
    }

    pub(crate) fn out_dims(&self) -> Vec<usize> {
        self.dims([self.b, self.cout], [self.od, self.oh, self.ow])
    }

    pub(crate) fn weight_dims(&self) -> Vec<usize> {
        self.dims([self.cout, self.cin], [self.kd, self.kh, self.kw])
    }

    /// A 1x1 (x1) convolution without padding reads its input as the column matrix itself.
    pub(crate) fn pointwise(&self) -> bool {
        self.k() == self.cin && self.pd + self.ph + self.pw == 0
    }

    /// Output rows `(oz, oy)` per sample, each `ow` positions: `od * oh`.
    pub(crate) fn out_rows(&self) -> usize {
        self.od * self.oh
    }

    /// Output rows per tile whose column matrix (`k` rows of `rows * ow` values) holds at most
    /// `floats` values; at least one.
    fn tile_rows(&self, floats: usize) -> usize {
        (floats / (self.k() * self.ow)).clamp(1, self.out_rows())
    }

    /// The output rows in tiles of [`Self::tile_rows`] rows (the last one shorter).
    pub(crate) fn tiles(&self, floats: usize) -> impl Iterator<Item = Range<usize>> {
        let (per, rows) = (self.tile_rows(floats), self.out_rows());
        (0..rows).step_by(per).map(move |r| r..(r + per).min(rows))
    }

    /// Values of the largest column-matrix tile: 0 where none is built (pointwise).
    pub(crate) fn tile_len(&self, floats: usize) -> usize {
        if self.pointwise() {
            0
        } else {
            self.k() * self.tile_rows(floats) * self.ow
        }
    }
}

/// The column-matrix tile: 128 Ki values (512 KiB), half of this machine's 1 MiB L2 per core, so
/// that a tile written by im2col is read back from the cache by its GEMM...
const TILE_FLOATS: usize = 1 << 17;
/// ...but at least this many columns (output positions), below which the GEMMs lose more than
/// the cache gives (the decoder's first convolution has `k` = 5,184 rows).
const MIN_TILE_COLUMNS: usize = 256;

/// The tile budget of a convolution, in values, for [`Geometry::tiles`].
pub(crate) fn tile_budget(g: &Geometry) -> usize {
    TILE_FLOATS.max(g.k() * MIN_TILE_COLUMNS)
}

/// For each column-matrix row `(ci, kz, ky, kx)` and output row `(oz, oy)` of the tile `rows` (of
/// `rows.len() * ow` columns): the input row it reads (if any) and the output columns `x0..x1`
/// that read inside the input, at input column `ox + kx - pw`; `visit(row_segment,
/// input_row_offset, x0, x1)`.
fn for_each_segment(
    g: Geometry,
    rows: Range<usize>,
    mut visit: impl FnMut(usize, Option<usize>, usize, usize),
) {
    let tile = rows.len() * g.ow;
    let inside =
        |o: usize, k: usize, pad: usize, n: usize| (o + k).checked_sub(pad).filter(|&i| i < n);
    for ci in 0..g.cin {
        for kz in 0..g.kd {
            for ky in 0..g.kh {
                for kx in 0..g.kw {
                    let r = ((ci * g.kd + kz) * g.kh + ky) * g.kw + kx;
                    let x0 = g.pw.saturating_sub(kx).min(g.ow);
                    let x1 = (g.w + g.pw).saturating_sub(kx).min(g.ow).max(x0);
                    for row in rows.clone() {
                        let (oz, oy) = (row / g.oh, row % g.oh);
                        let seg = r * tile + (row - rows.start) * g.ow;
                        let src = inside(oz, kz, g.pd, g.d)
                            .zip(inside(oy, ky, g.ph, g.h))
                            .map(|(iz, iy)| ((ci * g.d + iz) * g.h + iy) * g.w + x0 + kx - g.pw);
                        visit(seg, src, x0, x1);
                    }
                }
            }
        }
    }
}

/// The columns of the output rows `rows` of the column matrix `[k, p]` of one sample's input
/// `[cin, d, h, w]`, as a `[k, rows.len() * ow]` tile (zeros where the kernel reads the padding).
pub(crate) fn im2col(x: &[f32], g: Geometry, rows: Range<usize>, cols: &mut [f32]) {
    for_each_segment(g, rows, |seg, src, x0, x1| {
        let row = &mut cols[seg..seg + g.ow];
        match src {
            Some(s) if x1 > x0 => {
                row[..x0].fill(0.0);
                row[x0..x1].copy_from_slice(&x[s..s + (x1 - x0)]);
                row[x1..].fill(0.0);
            }
            _ => row.fill(0.0),
        }
    });
}

/// The adjoint of [`im2col`]: adds each entry of the tile of output rows `rows` back to the input
/// position it was read from.
pub(crate) fn col2im(cols: &[f32], g: Geometry, rows: Range<usize>, dx: &mut [f32]) {
    for_each_segment(g, rows, |seg, src, x0, x1| {
        if let Some(s) = src.filter(|_| x1 > x0) {
            for (d, &c) in dx[s..s + (x1 - x0)]
                .iter_mut()
                .zip(&cols[seg + x0..seg + x1])
            {
                *d += c;
            }
        }
    });
}
