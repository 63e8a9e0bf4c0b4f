//! A branch-free `exp` for non-positive arguments, in f32 and f64, that the compiler can
//! vectorise (`f32::exp`/`f64::exp` are libm calls, which keep a loop scalar).
//!
//! Cephes' method: `x = n·ln2 + r` with `|r| ≤ ln2/2` (Cody–Waite: `ln2` in two parts, the first
//! with few enough bits that `n·C1` is exact), `exp(r)` by a polynomial, and `2ⁿ` built in the
//! exponent bits. `n` comes from adding and subtracting `1.5·2^(mantissa bits)`, which rounds to
//! the nearest integer and leaves `n` in the low bits, without a float-to-int conversion.
//!
//! Underflow: the argument is clamped at `−(bias + 1)·ln2`, where `n = −(bias + 1)` and the `2ⁿ`
//! built in the exponent bits has exponent 0, i.e. is `+0`. So from `−(bias + ½)·ln2` (−87.68 in
//! f32, −708.74 in f64) down to `−∞` the result is exactly `+0`, never NaN; just above, where
//! `eˣ` is subnormal, it is that subnormal. Elsewhere the error is at most one ulp (see the
//! tests).

use std::ops::{Add, Mul, Neg, Sub};

/// A float lane type of the vectorised kernels: `f32` or `f64`.
pub(crate) trait Lane:
    Copy
    + Default
    + PartialOrd
    + Add<Output = Self>
    + Sub<Output = Self>
    + Mul<Output = Self>
    + Neg<Output = Self>
{
    const ZERO: Self;
    const ONE: Self;
    const INFINITY: Self;
    const HALF: Self;

    fn from_f64(v: f64) -> Self;
    fn to_f64(self) -> f64;
    fn abs(self) -> Self;
    fn recip(self) -> Self;

    /// `self` (≥ +0) with the sign bit of `sign`: two bit operations, no select.
    fn with_sign_of(self, sign: Self) -> Self;

    /// `a·b + c`, fused when `FMA` (only set where the CPU has it: elsewhere a fused
    /// multiply-add is a libm call).
    fn madd<const FMA: bool>(a: Self, b: Self, c: Self) -> Self;

    /// `eˣ` for `x ≤ 0` (including `−∞`): exactly `+0` below `−(bias + ½)·ln2` (−87.68 in
    /// f32, −708.74 in f64).
    fn exp_nonpositive<const FMA: bool>(x: Self) -> Self;
}

macro_rules! lane_common {
    ($t:ty) => {
        const ZERO: Self = 0.0;
        const ONE: Self = 1.0;
        const INFINITY: Self = <$t>::INFINITY;
        const HALF: Self = 0.5;

        #[inline(always)]
        fn from_f64(v: f64) -> Self {
            v as $t
        }

        #[inline(always)]
        fn to_f64(self) -> f64 {
            self as f64
        }

        #[inline(always)]
        fn abs(self) -> Self {
            <$t>::abs(self)
        }

        #[inline(always)]
        fn recip(self) -> Self {
            1.0 / self
        }

        #[inline(always)]
        fn with_sign_of(self, sign: Self) -> Self {
            <$t>::from_bits(self.to_bits() | (sign.to_bits() & (-0.0 as $t).to_bits()))
        }

        #[inline(always)]
        fn madd<const FMA: bool>(a: Self, b: Self, c: Self) -> Self {
            if FMA {
                <$t>::mul_add(a, b, c)
            } else {
                a * b + c
            }
        }
    };
}

impl Lane for f32 {
    lane_common!(f32);

    #[inline(always)]
    fn exp_nonpositive<const FMA: bool>(x: f32) -> f32 {
        // −127·ln2: from here down n = −127, whose 2ⁿ has exponent bits 0, i.e. is +0.
        const LO: f32 = -88.029_69;
        const LOG2E: f32 = std::f32::consts::LOG2_E;
        const C1: f32 = 355.0 / 512.0;
        const C2: f32 = -2.121_944_4e-4;
        // 1.5·2²³: adding it rounds to an integer, in the low mantissa bits.
        const SHIFT: f32 = 12_582_912.0;
        // exp(r) ≈ 1 + r + r²·P(r) on |r| ≤ ln2/2, P of degree 4 fitted for the least
        // maximum relative error (3e-9, below the f32 rounding of the result).
        const P: [f32; 5] = [
            1.381_461e-3,
            8.368_71e-3,
            4.166_838_7e-2,
            1.666_652_1e-1,
            4.999_999_3e-1,
        ];
        let fma = <Self as Lane>::madd::<FMA>;
        let xc = if x < LO { LO } else { x };
        let j = fma(xc, LOG2E, SHIFT);
        let n = j - SHIFT;
        let r = fma(n, -C2, fma(n, -C1, xc));
        let mut p = P[0];
        for c in &P[1..] {
            p = fma(p, r, *c);
        }
        // j's bits are SHIFT's plus n: 2ⁿ has the biased exponent n + 127.
        let scale = f32::from_bits(j.to_bits().wrapping_sub(SHIFT.to_bits() - 127) << 23);
        // 2ⁿ·(1 + y) as 2ⁿ·y + 2ⁿ: one operation (and one rounding) fewer.
        fma(fma(p, r * r, r), scale, scale)
    }
}

impl Lane for f64 {
    lane_common!(f64);

    #[inline(always)]
    fn exp_nonpositive<const FMA: bool>(x: f64) -> f64 {
        // −1023·ln2: from here down n = −1023, whose 2ⁿ has exponent bits 0, i.e. is +0.
        const LO: f64 = -709.089_565_712_824_1;
        const LOG2E: f64 = std::f64::consts::LOG2_E;
        const C1: f64 = 6.931_457_519_531_25e-1;
        const C2: f64 = 1.428_606_820_309_417_3e-6;
        // 1.5·2⁵²: adding it rounds to an integer, in the low mantissa bits.
        const SHIFT: f64 = 6_755_399_441_055_744.0;
        // exp(r) ≈ 1 + r + r²·P(r) on |r| ≤ ln2/2, P of degree 9 fitted for the least
        // maximum relative error (4e-18, far below an ulp).
        const P: [f64; 10] = [
            2.500_007_423_630_979_4e-8,
            2.763_023_446_764_578e-7,
            2.755_758_626_291_159_5e-6,
            2.480_149_313_455_227e-5,
            1.984_126_950_677_94e-4,
            1.388_888_894_359_938e-3,
            8.333_333_333_494_336e-3,
            4.166_666_666_653_026e-2,
            1.666_666_666_666_641_3e-1,
            5.000_000_000_000_011e-1,
        ];
        let fma = <Self as Lane>::madd::<FMA>;
        let xc = if x < LO { LO } else { x };
        let j = fma(xc, LOG2E, SHIFT);
        let n = j - SHIFT;
        let r = fma(n, -C2, fma(n, -C1, xc));
        let mut p = P[0];
        for c in &P[1..] {
            p = fma(p, r, *c);
        }
        // j's bits are SHIFT's plus n: 2ⁿ has the biased exponent n + 1023.
        let scale = f64::from_bits(j.to_bits().wrapping_sub(SHIFT.to_bits() - 1023) << 52);
        // 2ⁿ·(1 + y) as 2ⁿ·y + 2ⁿ: one operation (and one rounding) fewer.
        fma(fma(p, r * r, r), scale, scale)
    }
}

#[cfg(test)]
mod tests {
    use super::Lane;

    /// Distance in ulps between two positive finite floats of the same type, via their bits.
    fn ulps64(a: f64, b: f64) -> u64 {
        a.to_bits().abs_diff(b.to_bits())
    }

    fn ulps32(a: f32, b: f32) -> u32 {
        a.to_bits().abs_diff(b.to_bits())
    }

    /// Arguments from 0 down to far past underflow: a dense linear sweep, every power of two,
    /// and the special values.
    fn sweep(lo: f64, steps: usize) -> Vec<f64> {
        let mut xs: Vec<f64> = (0..=steps).map(|k| lo * k as f64 / steps as f64).collect();
        xs.extend((-1074..1024).map(|e| -(2f64).powi(e)));
        xs.extend([0.0, -0.0, -f64::MIN_POSITIVE, -f64::MAX, f64::NEG_INFINITY]);
        xs
    }

    fn check64<const FMA: bool>() -> u64 {
        let mut worst = 0;
        for x in sweep(-760.0, 2_000_000) {
            let (got, want) = (f64::exp_nonpositive::<FMA>(x), x.exp());
            assert!(!got.is_nan(), "exp({x:e}) is NaN");
            if want >= f64::MIN_POSITIVE {
                let u = ulps64(got, want);
                assert!(u <= 2, "exp({x:e}) = {got:e}, want {want:e}: {u} ulps");
                worst = worst.max(u);
            } else {
                // Below the normal range: 0, or the subnormal itself (rounded once) at the edge.
                assert!(got == 0.0 || ulps64(got, want) <= 2, "exp({x:e}) = {got:e}");
            }
            // n = −1023 from x < −1022.5·ln2: a zero scale.
            if x < -708.75 {
                assert_eq!(got.to_bits(), 0, "exp({x:e}) must flush to +0");
            }
        }
        assert_eq!(f64::exp_nonpositive::<FMA>(0.0), 1.0);
        assert_eq!(f64::exp_nonpositive::<FMA>(-0.0), 1.0);
        worst
    }

    fn check32<const FMA: bool>() -> u32 {
        let mut worst = 0;
        // Every 127th f32 from −0 down to −∞ (the bit patterns of negative floats ascend with
        // their magnitude), then the linear sweep.
        let patterns = (0x8000_0000u32..=0xff80_0000)
            .step_by(127)
            .chain([0xff80_0000]);
        let xs = patterns
            .map(f32::from_bits)
            .chain(sweep(-110.0, 2_000_000).into_iter().map(|x| x as f32));
        for x in xs {
            let (got, want) = (f32::exp_nonpositive::<FMA>(x), x.exp());
            assert!(!got.is_nan(), "exp({x:e}) is NaN");
            if want >= f32::MIN_POSITIVE {
                let u = ulps32(got, want);
                assert!(u <= 2, "exp({x:e}) = {got:e}, want {want:e}: {u} ulps");
                worst = worst.max(u);
            } else {
                assert!(got == 0.0 || ulps32(got, want) <= 2, "exp({x:e}) = {got:e}");
            }
            // n = −127 from x < −126.5·ln2: a zero scale.
            if x < -87.69 {
                assert_eq!(got.to_bits(), 0, "exp({x:e}) must flush to +0");
            }
        }
        assert_eq!(f32::exp_nonpositive::<FMA>(0.0), 1.0);
        assert_eq!(f32::exp_nonpositive::<FMA>(-0.0), 1.0);
        worst
    }

    #[test]
    // Millions of points of safe arithmetic: hours under Miri, for nothing it could find.
    #[cfg_attr(miri, ignore)]
    fn exp_f64_within_two_ulps() {
        let (plain, fused) = (check64::<false>(), check64::<true>());
        eprintln!("f64 exp: worst {plain} ulps (mul + add), {fused} ulps (fma)");
    }

    #[test]
    // Millions of points of safe arithmetic: hours under Miri, for nothing it could find.
    #[cfg_attr(miri, ignore)]
    fn exp_f32_within_two_ulps() {
        let (plain, fused) = (check32::<false>(), check32::<true>());
        eprintln!("f32 exp: worst {plain} ulps (mul + add), {fused} ulps (fma)");
    }
}
