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
}
