//! The floating types the kernels accept.

use std::fmt::{Debug, Display, LowerExp};

/// A floating-point element type of the kernels: `f32` or `f64` (the spec's `real`).
///
/// Kernels read `T`, compute in `f64` (so float32 PAV block sums and log-sum-exps accumulate in
/// double precision) and write `T`. The trait is sealed: only `f32` and `f64` implement it.
pub trait Real:
    Copy + Debug + Display + LowerExp + PartialOrd + Send + Sync + 'static + private::Sealed
{
    /// The dtype name, `"f32"` or `"f64"`.
    const DTYPE: &'static str;

    /// Widens to `f64` (exact).
    fn to_f64(self) -> f64;

    /// Rounds an `f64` to this type.
    fn from_f64(v: f64) -> Self;

    /// Whether the value is neither NaN nor infinite.
    fn is_finite(self) -> bool;
}

pub(crate) mod private {
    /// Internals of [`Real`](super::Real) the kernels need and the public API does not show.
    pub trait Sealed: Sized {
        /// Whether [`key`](Sealed::key) has only its top 32 bits set (so 32 bits order exactly).
        const KEY_IN_TOP_32: bool;

        /// An order-preserving integer key: `a < b` iff `a.key() < b.key()` (−0 sorts before
        /// +0, which are equal values, so that is harmless).
        fn key(self) -> u64;

        /// Whether every element is finite, and the largest magnitude (0 for none).
        fn scan(data: &[Self]) -> (bool, f64);
    }
}

macro_rules! impl_real {
    ($t:ty, $bits:ty, $signed:ty) => {
        impl Real for $t {
            const DTYPE: &'static str = stringify!($t);

            #[inline(always)]
            fn to_f64(self) -> f64 {
                self as f64
            }

            #[inline(always)]
            fn from_f64(v: f64) -> Self {
                v as $t
            }

            #[inline(always)]
            fn is_finite(self) -> bool {
                <$t>::is_finite(self)
            }
        }

        impl private::Sealed for $t {
            const KEY_IN_TOP_32: bool = <$bits>::BITS == 32;

            #[inline(always)]
            fn key(self) -> u64 {
                const SIGN: $bits = 1 << (<$bits>::BITS - 1);
                let b = self.to_bits();
                // Negative: flip every bit; positive: set the sign bit.
                let neg = ((b as $signed) >> (<$bits>::BITS - 1)) as $bits;
                ((b ^ (neg | SIGN)) as u64) << (64 - <$bits>::BITS)
            }

            /// In the type's own precision (widening each f32 would cost more than the scan)
            /// with 64 bytes of independent lanes and no early exit, so the loop vectorises: this
            /// check runs over every input of every call.
            fn scan(data: &[Self]) -> (bool, f64) {
                const LANES: usize = 64 / size_of::<$t>();
                let mut max: [$t; LANES] = [0.0; LANES];
                let mut nan: [$t; LANES] = [0.0; LANES];
                let mut step = |lane: usize, v: $t| {
                    let a = v.abs();
                    max[lane] = if a > max[lane] { a } else { max[lane] };
                    // v · 0 is ±0 for finite v and NaN for ±inf or NaN, and NaN sticks.
                    nan[lane] += v * 0.0;
                };
                let mut chunks = data.chunks_exact(LANES);
                for c in &mut chunks {
                    for (lane, &v) in c.iter().enumerate() {
                        step(lane, v);
                    }
                }
                for &v in chunks.remainder() {
                    step(0, v);
                }
                let finite = nan.iter().all(|&z| z == 0.0);
                let max = max.iter().fold(0.0, |m: $t, &a| if a > m { a } else { m });
                (finite, max as f64)
            }
        }
    };
}

impl_real!(f32, u32, i32);
impl_real!(f64, u64, i64);

#[cfg(test)]
mod tests {
    use super::private::Sealed;

    fn check<T: super::Real + Sealed>(values: &[T]) {
        for a in values {
            for b in values {
                if a < b {
                    assert!(a.key() < b.key(), "{a:?} < {b:?}");
                } else if a == b {
                    assert_eq!(a.key(), b.key());
                } else {
                    assert!(a.key() > b.key(), "{a:?} > {b:?}");
                }
            }
        }
    }

    #[test]
    fn keys_preserve_order() {
        check(&[
            3.0f64,
            -1.0,
            0.0,
            1e-300,
            -1e300,
            f64::MAX,
            f64::MIN,
            2.5,
            2.5000000000000004,
            -7.0,
            -f64::MIN_POSITIVE,
        ]);
        check(&[
            3.0f32,
            -1.0,
            0.0,
            1e-30,
            -1e30,
            f32::MAX,
            2.5,
            2.5000002,
            -7.0,
        ]);
        assert_eq!(1.0f32.key() & 0xffff_ffff, 0);
    }

    /// `scan` against the plain definition, for every length up to a few lanes past the chunk
    /// size and a non-finite value (or none) at every position.
    fn scan_matches<T: super::Real + Sealed>(bad: &[T]) {
        let value = |i: usize| {
            let v = ((i * 7919) % 23) as f64 - 11.0;
            T::from_f64(v * 10f64.powi((i % 9) as i32 - 4))
        };
        for len in 0..40 {
            let clean: Vec<T> = (0..len).map(value).collect();
            let want = clean.iter().fold(0.0f64, |m, v| m.max(v.to_f64().abs()));
            assert_eq!(T::scan(&clean), (true, want), "len {len}");
            for at in 0..len {
                for &b in bad {
                    let mut data = clean.clone();
                    data[at] = b;
                    assert!(!T::scan(&data).0, "{b:?} at {at} of {len}");
                }
            }
        }
    }

    #[test]
    fn scan_finds_non_finite_values_and_the_largest_magnitude() {
        scan_matches(&[f64::NAN, f64::INFINITY, f64::NEG_INFINITY, -f64::NAN]);
        scan_matches(&[f32::NAN, f32::INFINITY, f32::NEG_INFINITY, -f32::NAN]);
        assert_eq!(f32::scan(&[f32::MAX, -f32::MAX]), (true, f32::MAX as f64));
        assert_eq!(
            f64::scan(&[-0.0, f64::MIN_POSITIVE / 4.0]),
            (true, f64::MIN_POSITIVE / 4.0)
        );
    }
}
