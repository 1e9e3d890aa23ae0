//! ggml tensor types and their dequantization to f32, block by block, following ggml's reference
//! `dequantize_row_*` functions (ggml/src/ggml-quants.c).

use half::{bf16, f16};
use rayon::prelude::*;

/// The ggml tensor types this reader can dequantize.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GgmlType {
    F32,
    F16,
    BF16,
    Q4_0,
    Q4_1,
    Q5_0,
    Q5_1,
    Q8_0,
    Q4K,
    Q5K,
    Q6K,
}

/// Every type this reader can dequantize (in the order error messages list them; the `dequantize`
/// fuzz target picks one by its index here).
pub const SUPPORTED: [GgmlType; 11] = [
    GgmlType::F32,
    GgmlType::F16,
    GgmlType::BF16,
    GgmlType::Q4_0,
    GgmlType::Q4_1,
    GgmlType::Q5_0,
    GgmlType::Q5_1,
    GgmlType::Q8_0,
    GgmlType::Q4K,
    GgmlType::Q5K,
    GgmlType::Q6K,
];

/// Elements per super-block of the k-quants.
const QK_K: usize = 256;

impl GgmlType {
    /// The type for a ggml type id, if this reader supports it.
    pub fn from_id(id: u32) -> Option<Self> {
        SUPPORTED.into_iter().find(|t| t.id() == id)
    }

    pub fn id(self) -> u32 {
        match self {
            GgmlType::F32 => 0,
            GgmlType::F16 => 1,
            GgmlType::Q4_0 => 2,
            GgmlType::Q4_1 => 3,
            GgmlType::Q5_0 => 6,
            GgmlType::Q5_1 => 7,
            GgmlType::Q8_0 => 8,
            GgmlType::Q4K => 12,
            GgmlType::Q5K => 13,
            GgmlType::Q6K => 14,
            GgmlType::BF16 => 30,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            GgmlType::F32 => "F32",
            GgmlType::F16 => "F16",
            GgmlType::BF16 => "BF16",
            GgmlType::Q4_0 => "Q4_0",
            GgmlType::Q4_1 => "Q4_1",
            GgmlType::Q5_0 => "Q5_0",
            GgmlType::Q5_1 => "Q5_1",
            GgmlType::Q8_0 => "Q8_0",
            GgmlType::Q4K => "Q4_K",
            GgmlType::Q5K => "Q5_K",
            GgmlType::Q6K => "Q6_K",
        }
    }

    pub fn supported_names() -> String {
        SUPPORTED.map(GgmlType::name).join(", ")
    }

    /// Elements per block.
    pub fn block_size(self) -> usize {
        match self {
            GgmlType::F32 | GgmlType::F16 | GgmlType::BF16 => 1,
            GgmlType::Q4_0 | GgmlType::Q4_1 | GgmlType::Q5_0 | GgmlType::Q5_1 | GgmlType::Q8_0 => {
                32
            }
            GgmlType::Q4K | GgmlType::Q5K | GgmlType::Q6K => QK_K,
        }
    }

    /// Bytes per block.
    pub fn block_bytes(self) -> usize {
        match self {
            GgmlType::F32 => 4,
            GgmlType::F16 | GgmlType::BF16 => 2,
            GgmlType::Q4_0 => 2 + 16,
            GgmlType::Q4_1 => 2 + 2 + 16,
            GgmlType::Q5_0 => 2 + 4 + 16,
            GgmlType::Q5_1 => 2 + 2 + 4 + 16,
            GgmlType::Q8_0 => 2 + 32,
            GgmlType::Q4K => 2 + 2 + 12 + QK_K / 2,
            GgmlType::Q5K => 2 + 2 + 12 + QK_K / 8 + QK_K / 2,
            GgmlType::Q6K => QK_K / 2 + QK_K / 4 + QK_K / 16 + 2,
        }
    }

    /// Bytes taken by `n` elements, or `None` if `n` is not a whole number of blocks or the
    /// byte count overflows (a malformed header's shape: found by fuzzing, it wrapped around to a
    /// small count that passed the file-size check).
    pub fn n_bytes(self, n: u64) -> Option<u64> {
        let bs = self.block_size() as u64;
        n.is_multiple_of(bs)
            .then(|| n / bs)
            .and_then(|blocks| blocks.checked_mul(self.block_bytes() as u64))
    }
}

fn f16_at(b: &[u8], i: usize) -> f32 {
    f16::from_le_bytes([b[i], b[i + 1]]).to_f32()
}

/// Dequantizes `bytes` (a whole number of blocks of type `ty`) into `out`, in parallel over rows
/// of blocks. `out.len()` must be the element count those bytes hold.
pub fn dequantize(ty: GgmlType, bytes: &[u8], out: &mut [f32]) {
    let (bs, bb) = (ty.block_size(), ty.block_bytes());
    assert_eq!(
        bytes.len() / bb * bs,
        out.len(),
        "dequantize: size mismatch"
    );
    // Work in groups of blocks so that rayon's per-task overhead stays small.
    let group = (4096 / bs).max(1);
    out.par_chunks_mut(bs * group)
        .zip(bytes.par_chunks(bb * group))
        .for_each(|(o, b)| {
            for (ob, bb_) in o.chunks_exact_mut(bs).zip(b.chunks_exact(bb)) {
                dequantize_block(ty, bb_, ob);
            }
        });
}

/// Dequantizes one block.
fn dequantize_block(ty: GgmlType, b: &[u8], y: &mut [f32]) {
    match ty {
        GgmlType::F32 => y[0] = f32::from_le_bytes([b[0], b[1], b[2], b[3]]),
        GgmlType::F16 => y[0] = f16_at(b, 0),
        GgmlType::BF16 => y[0] = bf16::from_le_bytes([b[0], b[1]]).to_f32(),
        GgmlType::Q8_0 => {
            let d = f16_at(b, 0);
            for (yi, &q) in y.iter_mut().zip(&b[2..34]) {
                *yi = d * f32::from(q as i8);
            }
        }
        GgmlType::Q4_0 | GgmlType::Q4_1 => {
            let d = f16_at(b, 0);
            let (m, qs) = if ty == GgmlType::Q4_1 {
                (f16_at(b, 2), &b[4..20])
            } else {
                (-8.0 * d, &b[2..18])
            };
            for (j, &q) in qs.iter().enumerate() {
                y[j] = f32::from(q & 0x0f) * d + m;
                y[j + 16] = f32::from(q >> 4) * d + m;
            }
        }
        GgmlType::Q5_0 | GgmlType::Q5_1 => {
            let d = f16_at(b, 0);
            let (m, rest) = if ty == GgmlType::Q5_1 {
                (f16_at(b, 2), &b[4..])
            } else {
                (-16.0 * d, &b[2..])
            };
            let qh = u32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]]);
            for (j, &q) in rest[4..20].iter().enumerate() {
                let h0 = ((qh >> j) << 4) & 0x10;
                let h1 = (qh >> (j + 12)) & 0x10;
                y[j] = ((u32::from(q & 0x0f) | h0) as f32) * d + m;
                y[j + 16] = ((u32::from(q >> 4) | h1) as f32) * d + m;
            }
        }
        GgmlType::Q4K | GgmlType::Q5K => {
            let d = f16_at(b, 0);
            let dmin = f16_at(b, 2);
            let scales = &b[4..16];
            let (qh, ql) = if ty == GgmlType::Q5K {
                (Some(&b[16..48]), &b[48..176])
            } else {
                (None, &b[16..144])
            };
            for (s, chunk) in y.chunks_exact_mut(64).enumerate() {
                let (sc1, m1) = scale_min_k4(2 * s, scales);
                let (sc2, m2) = scale_min_k4(2 * s + 1, scales);
                let (d1, m1) = (d * f32::from(sc1), dmin * f32::from(m1));
                let (d2, m2) = (d * f32::from(sc2), dmin * f32::from(m2));
                let q = &ql[32 * s..32 * s + 32];
                for l in 0..32 {
                    let (hi1, hi2) = match qh {
                        Some(h) => (
                            if h[l] & (1 << (2 * s)) != 0 { 16 } else { 0 },
                            if h[l] & (2 << (2 * s)) != 0 { 16 } else { 0 },
                        ),
                        None => (0, 0),
                    };
                    chunk[l] = d1 * f32::from((q[l] & 0x0f) + hi1) - m1;
                    chunk[l + 32] = d2 * f32::from((q[l] >> 4) + hi2) - m2;
                }
            }
        }
        GgmlType::Q6K => {
            let (ql, qh) = (&b[0..128], &b[128..192]);
            let sc = &b[192..208];
            let d = f16_at(b, 208);
            for (n, chunk) in y.chunks_exact_mut(128).enumerate() {
                let (ql, qh, sc) = (&ql[64 * n..], &qh[32 * n..], &sc[8 * n..]);
                for l in 0..32 {
                    let is = l / 16;
                    let q1 = ((ql[l] & 0x0f) | ((qh[l] & 3) << 4)) as i32 - 32;
                    let q2 = ((ql[l + 32] & 0x0f) | (((qh[l] >> 2) & 3) << 4)) as i32 - 32;
                    let q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) as i32 - 32;
                    let q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) as i32 - 32;
                    let s = |k: usize| d * f32::from(sc[is + k] as i8);
                    chunk[l] = s(0) * q1 as f32;
                    chunk[l + 32] = s(2) * q2 as f32;
                    chunk[l + 64] = s(4) * q3 as f32;
                    chunk[l + 96] = s(6) * q4 as f32;
                }
            }
        }
    }
}

/// The 6-bit scale and min of sub-block `j` of a Q4_K / Q5_K super-block (ggml's
/// `get_scale_min_k4`).
fn scale_min_k4(j: usize, q: &[u8]) -> (u8, u8) {
    if j < 4 {
        (q[j] & 63, q[j + 4] & 63)
    } else {
        (
            (q[j + 4] & 0x0f) | ((q[j - 4] >> 6) << 4),
            (q[j + 4] >> 4) | ((q[j] >> 6) << 4),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn q8_0_block_by_hand() {
        // d = 0.5 (f16 0x3800), q = 0, 1, -1, 2, ... -> 0, 0.5, -0.5, 1.0, ...
        let mut b = vec![0x00, 0x38];
        let qs: Vec<i8> = (0..32)
            .map(|i| if i % 2 == 0 { i / 2 } else { -i })
            .collect();
        b.extend(qs.iter().map(|&q| q as u8));
        let mut y = [0f32; 32];
        dequantize(GgmlType::Q8_0, &b, &mut y);
        for (i, &q) in qs.iter().enumerate() {
            assert_eq!(y[i], 0.5 * f32::from(q));
        }
    }

    #[test]
    fn q4_0_block_by_hand() {
        // d = 2.0 (f16 0x4000); byte j = (hi << 4) | lo with lo = j, hi = 15 - j.
        let mut b = vec![0x00, 0x40];
        b.extend((0..16u8).map(|j| ((15 - j) << 4) | j));
        let mut y = [0f32; 32];
        dequantize(GgmlType::Q4_0, &b, &mut y);
        for j in 0..16 {
            assert_eq!(y[j], 2.0 * (j as f32 - 8.0));
            assert_eq!(y[j + 16], 2.0 * (15.0 - j as f32 - 8.0));
        }
    }

    #[test]
    fn scale_min_k4_by_hand() {
        let mut q = [0u8; 12];
        q[1] = 0b1100_0101; // scale of sub-block 1 = 5, its top bits feed sub-block 5
        q[5] = 0b1000_0011; // min of sub-block 1 = 3, its top bits feed sub-block 5's min
        q[9] = 0x72; // sub-block 5: low nibbles scale 2, min 7
        assert_eq!(scale_min_k4(1, &q), (5, 3));
        assert_eq!(scale_min_k4(5, &q), (2 | (3 << 4), 7 | (2 << 4)));
    }

    #[test]
    fn sizes_match_ggml() {
        assert_eq!(GgmlType::Q8_0.block_bytes(), 34);
        assert_eq!(GgmlType::Q4K.block_bytes(), 144);
        assert_eq!(GgmlType::Q5K.block_bytes(), 176);
        assert_eq!(GgmlType::Q6K.block_bytes(), 210);
        assert_eq!(GgmlType::Q8_0.n_bytes(576), Some(18 * 34));
        assert_eq!(GgmlType::Q8_0.n_bytes(100), None);
        assert_eq!(GgmlType::F32.n_bytes(u64::MAX / 2), None);
    }
}
