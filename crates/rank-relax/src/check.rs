//! Argument checks shared by every op. They run before any row is computed, so the row kernels
//! are infallible and the reported error is always the first bad element in row-major order.

use std::fmt;

use crate::error::Error;
use crate::real::Real;
use crate::threads::{run_rows, In, Out};
use crate::Shape;

/// The checks of one call of one op.
#[derive(Clone, Copy)]
pub(crate) struct Check {
    pub op: &'static str,
    pub shape: Shape,
}

/// Formats a number for a message: integers without `.0`, exponents for very large or small
/// magnitudes, `NaN`, `+inf`, `-inf`.
pub(crate) struct Num<T>(pub T);

impl<T: Real> fmt::Display for Num<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let v = self.0.to_f64();
        if v.is_nan() {
            f.write_str("NaN")
        } else if v.is_infinite() {
            f.write_str(if v > 0.0 { "+inf" } else { "-inf" })
        } else if v == 0.0 || (1e-5..1e16).contains(&v.abs()) {
            fmt::Display::fmt(&self.0, f)
        } else {
            fmt::LowerExp::fmt(&self.0, f)
        }
    }
}

impl Check {
    /// Checks the shape itself: `n` fits the `int32` residual and `batch × n` fits memory.
    pub fn new(op: &'static str, shape: Shape) -> Result<Self, Error> {
        if shape.n > i32::MAX as usize {
            return Err(Error::invalid_argument(
                op,
                format_args!(
                    "n = {} exceeds the maximum row length {}",
                    shape.n,
                    i32::MAX
                ),
            ));
        }
        if shape.batch.checked_mul(shape.n).is_none() {
            return Err(Error::shape_mismatch(
                op,
                format_args!("batch × n = {} × {} overflows", shape.batch, shape.n),
            ));
        }
        Ok(Check { op, shape })
    }

    /// Rows must hold at least `min` items.
    pub fn min_n(self, min: usize) -> Result<Self, Error> {
        if self.shape.n < min {
            return Err(Error::invalid_argument(
                self.op,
                format_args!("needs n >= {min} items per row, got n = {}", self.shape.n),
            ));
        }
        Ok(self)
    }

    /// A `[batch, n]` buffer has `batch × n` elements.
    pub fn matrix(self, name: &str, len: usize) -> Result<(), Error> {
        let Shape { batch, n } = self.shape;
        if len != batch * n {
            return Err(Error::shape_mismatch(
                self.op,
                format_args!(
                    "{name} has {len} elements, expected batch × n = {batch} × {n} = {}",
                    batch * n
                ),
            ));
        }
        Ok(())
    }

    /// A `[batch]` buffer has `batch` elements.
    pub fn vector(self, name: &str, len: usize) -> Result<(), Error> {
        let batch = self.shape.batch;
        if len != batch {
            return Err(Error::shape_mismatch(
                self.op,
                format_args!("{name} has {len} elements, expected batch = {batch}"),
            ));
        }
        Ok(())
    }

    /// ε is finite and > 0; returns it as `f64`.
    pub fn strength<T: Real>(self, eps: T) -> Result<f64, Error> {
        let e = eps.to_f64();
        if !(e.is_finite() && e > 0.0) {
            return Err(Error::invalid_argument(
                self.op,
                format_args!(
                    "regularization_strength must be finite and > 0, got {}",
                    Num(eps)
                ),
            ));
        }
        // Every gradient scales with 1/ε: a subnormal f64 ε (below ≈ 5.6e-309) makes it ∞,
        // and ∞ · 0 NaN.
        if !(1.0 / e).is_finite() {
            return Err(Error::invalid_argument(
                self.op,
                format_args!(
                    "regularization_strength = {} is too small: 1 / regularization_strength overflows",
                    Num(eps)
                ),
            ));
        }
        Ok(e)
    }

    /// [`Check::finite`] from a [`scan_rows`] result: the error (found again, serially) only
    /// when the scan saw a non-finite value.
    pub fn finite_scanned<T: Real>(
        self,
        name: &str,
        data: &[T],
        scanned: (bool, f64),
    ) -> Result<f64, Error> {
        match scanned {
            (true, max_abs) => Ok(max_abs),
            (false, _) => self.finite(name, data),
        }
    }

    /// Every element is finite; returns the largest magnitude (0 for an empty buffer).
    pub fn finite<T: Real>(self, name: &str, data: &[T]) -> Result<f64, Error> {
        let (finite, max_abs) = T::scan(data);
        if !finite {
            let i = data.iter().position(|v| !v.is_finite()).unwrap_or(0);
            return Err(self.element_error(name, i, format_args!("is {}", Num(data[i]))));
        }
        Ok(max_abs)
    }

    /// Every element is finite and ≥ 0.
    pub fn nonnegative<T: Real>(self, name: &str, data: &[T]) -> Result<(), Error> {
        self.finite(name, data)?;
        if let Some(i) = data.iter().position(|v| v.to_f64() < 0.0) {
            let v = data[i];
            return Err(self.element_error(name, i, format_args!("is negative ({})", Num(v))));
        }
        Ok(())
    }

    /// Saved soft ranks: finite and within `[1, n]` (with 1/2 of slack for rounding). Every
    /// soft rank (l2 or kl) lies there, the permutahedron's range; the kl and loss backwards
    /// divide by ranks, their block sums and their spread, so a corrupted rank near 0 or huge
    /// would make them overflow to ∞ and NaN.
    pub fn soft_ranks<T: Real>(self, name: &str, data: &[T]) -> Result<(), Error> {
        self.finite(name, data)?;
        let hi = self.shape.n as f64 + 0.5;
        if let Some(i) = data.iter().position(|v| !(0.5..=hi).contains(&v.to_f64())) {
            let v = data[i];
            return Err(self.element_error(
                name,
                i,
                format_args!("= {} is not a soft rank (soft ranks lie in [1, n])", Num(v)),
            ));
        }
        Ok(())
    }

    /// A packed permutation residual: every entry decodes to a column in `0..n` and each row's
    /// first entry starts a block. This is what the backward relies on to index safely.
    pub fn permutation(self, name: &str, perm: &[i32]) -> Result<(), Error> {
        let n = self.shape.n;
        if n == 0 {
            return Ok(());
        }
        let bad = |i: usize, p: i32| (p ^ (p >> 31)) as u32 >= n as u32 || (i == 0 && p >= 0);
        for (r, row) in perm.chunks(n).enumerate() {
            // Branch-free over the row (vectorises); the position is found only on failure.
            let any = row[0] >= 0 || row.iter().fold(false, |b, &p| b | bad(1, p));
            if any {
                let k = row
                    .iter()
                    .enumerate()
                    .position(|(k, &p)| bad(k, p))
                    .unwrap_or(0);
                return Err(self.element_error(
                    name,
                    r * n + k,
                    format_args!(
                        "= {} is not a valid permutation residual entry for n = {n}",
                        row[k]
                    ),
                ));
            }
        }
        Ok(())
    }

    /// `n` elements of magnitude up to `element_bound` (what the PAV sees after scaling `name`
    /// by 1/ε) sum to a finite number, so no block sum overflows.
    pub fn no_overflow(
        self,
        name: &str,
        max_abs: f64,
        eps: f64,
        element_bound: f64,
    ) -> Result<(), Error> {
        if !(element_bound * self.shape.n as f64).is_finite() {
            return Err(Error::invalid_argument(
                self.op,
                format_args!(
                    "{name} / regularization_strength overflows (max |{name}| = {}, regularization_strength = {})",
                    Num(max_abs),
                    Num(eps)
                ),
            ));
        }
        Ok(())
    }

    fn element_error(self, name: &str, flat: usize, what: fmt::Arguments<'_>) -> Error {
        let n = self.shape.n.max(1);
        Error::invalid_value(
            self.op,
            format_args!("{name}[{}, {}] {what}", flat / n, flat % n),
        )
    }

    /// For `[batch]` buffers: every element finite; returns the largest magnitude.
    pub fn finite_vector<T: Real>(self, name: &str, data: &[T]) -> Result<f64, Error> {
        if let Some(i) = data.iter().position(|v| !v.is_finite()) {
            return Err(Error::invalid_value(
                self.op,
                format_args!("{name}[{i}] is {}", Num(data[i])),
            ));
        }
        Ok(data.iter().fold(0.0, |m: f64, v| m.max(v.to_f64().abs())))
    }
}

/// [`Real`]'s scan (every element finite? the largest magnitude) of each of `bufs` (`[batch, n]` each, lengths already checked) in one pass over the
/// rows, spread over the pool like the kernels: scanned one after the other on the calling thread,
/// the checks of a large call would hold back its parallel part.
pub(crate) fn scan_rows<T: Real, const K: usize>(
    shape: Shape,
    bufs: [&[T]; K],
) -> [(bool, f64); K] {
    let (batch, n) = (shape.batch, shape.n);
    if batch == 0 || n == 0 {
        return [(true, 0.0); K];
    }
    // Per row and buffer: 1 if a value is not finite, then the largest magnitude.
    let mut rows = vec![0.0f64; batch * 2 * K];
    let ins = bufs.map(|b| In::new(b, n));
    run_rows(
        batch,
        n * K,
        (ins, Out::new(&mut rows, 2 * K)),
        |count, (ins, mut out)| {
            for i in 0..count {
                let o = out.row(i);
                for (k, b) in ins.iter().enumerate() {
                    let (finite, max_abs) = T::scan(b.row(i));
                    o[2 * k] = if finite { 0.0 } else { 1.0 };
                    o[2 * k + 1] = max_abs;
                }
            }
        },
    );
    std::array::from_fn(|k| {
        rows.chunks_exact(2 * K)
            .fold((true, 0.0f64), |(finite, max_abs), r| {
                (finite && r[2 * k] == 0.0, max_abs.max(r[2 * k + 1]))
            })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::real::private::Sealed;

    /// `scan_rows` (rows over the pool) agrees with a serial `scan` of each buffer, wherever a
    /// non-finite value sits, and the error is still the first bad element of the first bad
    /// argument.
    #[test]
    fn scan_rows_matches_serial_scans() {
        let shape = Shape { batch: 300, n: 257 };
        let len = shape.batch * shape.n;
        let make = |seed: usize| -> Vec<f64> {
            (0..len)
                .map(|i| (((i + seed) * 7919) % 1000) as f64 / 100.0 - 5.0)
                .collect()
        };
        for threads in [1, 2, 4] {
            crate::set_num_threads(threads);
            let (mut a, mut b) = (make(1), make(2));
            assert_eq!(
                scan_rows(shape, [&a[..], &b[..]]),
                [<f64 as Sealed>::scan(&a), <f64 as Sealed>::scan(&b)]
            );
            a[len - 3] = f64::NAN;
            b[5] = f64::INFINITY;
            let [sa, sb] = scan_rows(shape, [&a[..], &b[..]]);
            assert_eq!((sa.0, sb.0), (false, false));
            let check = Check::new("op", shape).expect("shape");
            let err = check.finite_scanned("a", &a, sa).unwrap_err().to_string();
            assert_eq!(err, "op: a[299, 254] is NaN");
            let err = check.finite_scanned("b", &b, sb).unwrap_err().to_string();
            assert_eq!(err, "op: b[0, 5] is +inf");
        }
        crate::set_num_threads(0);
        let empty = Shape { batch: 0, n: 5 };
        assert_eq!(scan_rows::<f32, 1>(empty, [&[]]), [(true, 0.0)]);
    }
}
