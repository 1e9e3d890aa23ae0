//! `exp` and the logistic sigmoid for the fused SiLU, written so that the compiler vectorises the
//! loops that call them: `f32::exp` is a call into the C library per value, which kept GroupNorm +
//! SiLU's passes scalar (issue 17: the network part of a CPU training step).
//!
//! Cephes' single-precision method: `exp(x) = 2^n exp(r)` with `n = round(x / ln 2)` and `r = x -
//! n ln 2` in two parts (Cody-Waite), `exp(r)` by a degree-7 polynomial on `|r| <= ln 2 / 2`, and
//! `2^n` built from its bits in two halves (so that `n = 128` near the top of the range does not
//! overflow the exponent field). Measured against `f32::exp` over `[-87.3, 88.7]`: at most 1 ulp
//! apart (`exp_is_within_one_ulp_of_the_c_library`).

/// Above this, `exp` overflows f32: `ln(f32::MAX)`.
const MAX_ARG: f32 = 88.722_83;
/// Below this, `exp` is under the smallest normal f32, `ln(f32::MIN_POSITIVE)`: 0 here (the C
/// library's subnormals, under 1.2e-38, are of no use to a sigmoid).
const MIN_ARG: f32 = -87.336_54;
/// `1.5 * 2^23`: adding it rounds an f32 in `[-2^22, 2^22]` to the nearest integer (ties to
/// even), which then sits in the low bits of the sum's mantissa.
const ROUND: f32 = 12_582_912.0;
/// `ln 2` as a short high part (0.693359375, exact in a product with any `n` here) and the rest.
const LN2_HI: f32 = 0.693_359_4;
const LN2_LO: f32 = -2.121_944_4e-4;
/// Cephes' `expf` polynomial: `exp(r) ~ 1 + r + r^2 (P0 + P1 r + ... + P5 r^5)`, highest first.
const P: [f32; 6] = [
    1.987_569_1e-4,
    1.398_199_9e-3,
    8.333_452e-3,
    4.166_579_6e-2,
    1.666_666_6e-1,
    0.5,
];

/// `e^x` in f32, within 1 ulp of `f32::exp` on `[MIN_ARG, MAX_ARG]`; `+inf` above, 0 below, NaN
/// for NaN. No branches or calls, so a loop over it vectorises.
#[inline(always)]
pub(crate) fn exp(x: f32) -> f32 {
    let xc = x.clamp(MIN_ARG, MAX_ARG);
    let t = xc.mul_add(std::f32::consts::LOG2_E, ROUND);
    let n = t - ROUND;
    let r = n.mul_add(-LN2_LO, n.mul_add(-LN2_HI, xc));
    let p = P[1..].iter().fold(P[0], |p, &c| p.mul_add(r, c));
    let e = p.mul_add(r * r, r) + 1.0;
    // n in [-126, 128]; 2^n as 2^h * 2^(n - h), each a normal f32.
    let ni = t.to_bits() as i32 - ROUND.to_bits() as i32;
    let h = ni >> 1;
    let two_to = |k: i32| f32::from_bits(((k + 127) as u32) << 23);
    let v = e * two_to(h) * two_to(ni - h);
    if x > MAX_ARG {
        f32::INFINITY
    } else if x < MIN_ARG {
        0.0
    } else {
        v
    }
}

/// The logistic sigmoid `1 / (1 + e^-y)`: 0 for `y` below about -88, 1 above about 17.
#[inline(always)]
pub(crate) fn sigmoid(y: f32) -> f32 {
    1.0 / (1.0 + exp(-y))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ulps(a: f32, b: f32) -> u32 {
        (a.to_bits() as i64 - b.to_bits() as i64).unsigned_abs() as u32
    }

    #[test]
    fn exp_is_within_one_ulp_of_the_c_library() {
        let n = 2_000_000;
        let worst = (0..=n)
            .map(|i| MIN_ARG + (MAX_ARG - MIN_ARG) * i as f32 / n as f32)
            .map(|x| ulps(exp(x), x.exp()))
            .max();
        assert_eq!(worst, Some(1));
    }

    #[test]
    fn exp_by_hand_and_at_the_edges() {
        // e^0 = 1, e^1 = 2.7182817, e^-1 = 0.36787945, e^(ln 2 * 10) = 1024.
        assert_eq!(exp(0.0), 1.0);
        assert_eq!(exp(-0.0), 1.0);
        assert!(ulps(exp(1.0), std::f32::consts::E) <= 1);
        assert!(ulps(exp(-1.0), 0.367_879_45) <= 1);
        assert!(ulps(exp(10.0 * std::f32::consts::LN_2), 1024.0) <= 1);
        // Overflow, underflow, infinities, NaN.
        assert_eq!(exp(88.8), f32::INFINITY);
        assert_eq!(exp(f32::INFINITY), f32::INFINITY);
        assert_eq!(exp(-88.0), 0.0);
        assert_eq!(exp(f32::NEG_INFINITY), 0.0);
        assert!(exp(f32::NAN).is_nan());
        // The largest argument that does not overflow, and the smallest normal result.
        assert!(ulps(exp(88.72), 88.72f32.exp()) <= 1);
        assert!(ulps(exp(-87.33), (-87.33f32).exp()) <= 1);
    }

    #[test]
    fn sigmoid_by_hand() {
        // sigmoid(0) = 1/2, sigmoid(1) = 0.7310586, sigmoid(-1) = 0.26894143; saturation.
        assert_eq!(sigmoid(0.0), 0.5);
        assert!((sigmoid(1.0) - 0.731_058_6).abs() < 1e-7);
        assert!((sigmoid(-1.0) - 0.268_941_43).abs() < 1e-7);
        assert_eq!(sigmoid(100.0), 1.0);
        assert_eq!(sigmoid(-100.0), 0.0);
    }
}
