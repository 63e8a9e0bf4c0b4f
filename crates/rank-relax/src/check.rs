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

    /// A `[batch, n, n]` buffer (one `n × n` matrix per row) has `batch × n × n` elements.
    pub fn cube(self, name: &str, len: usize) -> Result<(), Error> {
        let Shape { batch, n } = self.shape;
        let Some(want) = batch.checked_mul(n).and_then(|bn| bn.checked_mul(n)) else {
            return Err(Error::shape_mismatch(
                self.op,
                format_args!("{name}: batch × n × n = {batch} × {n} × {n} overflows"),
            ));
        };
        if len != want {
            return Err(Error::shape_mismatch(
                self.op,
                format_args!(
                    "{name} has {len} elements, expected batch × n × n = {batch} × {n} × {n} = {want}"
                ),
            ));
        }
        Ok(())
    }

    /// Every element of a `[batch, n, n]` buffer (length already checked) is finite; returns
    /// the largest magnitude. The error names the element as `name[row, i, j]`.
    pub fn finite_cube<T: Real>(self, name: &str, data: &[T]) -> Result<f64, Error> {
        let (finite, max_abs) = T::scan(data);
        if !finite {
            let k = data.iter().position(|v| !v.is_finite()).unwrap_or(0);
            return Err(self.cube_error(name, k, format_args!("is {}", Num(data[k]))));
        }
        Ok(max_abs)
    }

    /// A saved `[batch, n, n]` matrix of probabilities: finite, every entry in `[0, 1]` (the
    /// backward multiplies by them, so a corrupted entry would overflow).
    pub fn probabilities<T: Real>(self, name: &str, data: &[T]) -> Result<(), Error> {
        self.finite_cube(name, data)?;
        if let Some(k) = data.iter().position(|v| !(0.0..=1.0).contains(&v.to_f64())) {
            return Err(self.cube_error(
                name,
                k,
                format_args!(
                    "= {} is not a probability (entries of P lie in [0, 1])",
                    Num(data[k])
                ),
            ));
        }
        Ok(())
    }

    fn cube_error(self, name: &str, flat: usize, what: fmt::Arguments<'_>) -> Error {
        let n = self.shape.n.max(1);
        Error::invalid_value(
            self.op,
            format_args!(
                "{name}[{}, {}, {}] {what}",
                flat / (n * n),
                flat / n % n,
                flat % n
            ),
        )
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

    /// A `[batch, m]` buffer (m = the number of quantiles) has `batch × m` elements.
    pub fn wide(self, name: &str, len: usize, m: usize) -> Result<(), Error> {
        self.columns(name, len, "m", m, " (m = the number of quantiles)")
    }

    /// A `[batch, dim]` buffer, `dim = width` (a param's value or length): `note` explains the
    /// dim in the message.
    pub fn columns(
        self,
        name: &str,
        len: usize,
        dim: &str,
        width: usize,
        note: &str,
    ) -> Result<(), Error> {
        let batch = self.shape.batch;
        if Some(len) != batch.checked_mul(width) {
            return Err(Error::shape_mismatch(
                self.op,
                format_args!(
                    "{name} has {len} elements, expected batch × {dim} = {batch} × {width} = {}{note}",
                    batch.saturating_mul(width)
                ),
            ));
        }
        Ok(())
    }

    /// Every element of a `[batch, width]` buffer is finite (the error names its (row, column));
    /// returns the largest magnitude.
    pub fn finite_columns<T: Real>(
        self,
        name: &str,
        data: &[T],
        width: usize,
    ) -> Result<f64, Error> {
        let mut max = 0.0f64;
        for (i, v) in data.iter().enumerate() {
            if !v.is_finite() {
                return Err(Error::invalid_value(
                    self.op,
                    format_args!("{name}[{}, {}] is {}", i / width, i % width, Num(*v)),
                ));
            }
            max = max.max(v.to_f64().abs());
        }
        Ok(max)
    }

    /// An int param bounded by the row length (`k`): `0 ≤ value ≤ n`, else
    /// `soft_topk: k must be in [0, n] = [0, 5], got 7`.
    pub fn up_to_n(self, name: &str, value: i64) -> Result<usize, Error> {
        let n = self.shape.n;
        match usize::try_from(value) {
            Ok(v) if v <= n => Ok(v),
            _ => Err(Error::invalid_argument(
                self.op,
                format_args!("{name} must be in [0, n] = [0, {n}], got {value}"),
            )),
        }
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

    /// [`Check::nonnegative`] from a [`scan_rows_min`] result: the error (found again,
    /// serially) only when the scan saw a non-finite or negative value.
    pub fn nonnegative_scanned<T: Real>(
        self,
        name: &str,
        data: &[T],
        scanned: RangeScan,
    ) -> Result<(), Error> {
        match scanned {
            // The negation of the test below (`v < 0`), so −0 passes as there.
            RangeScan {
                scan: (true, _),
                min,
            } if min >= 0.0 => Ok(()),
            _ => self.nonnegative(name, data),
        }
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

    /// [`Check::soft_ranks`] from a [`scan_rows_min`] result: the error (found again, serially)
    /// only when the scan saw a value that is not finite or out of range.
    pub fn soft_ranks_scanned<T: Real>(
        self,
        name: &str,
        data: &[T],
        scanned: RangeScan,
    ) -> Result<(), Error> {
        let hi = self.shape.n as f64 + 0.5;
        match scanned {
            // With every value ≥ 1/2, the largest magnitude is the largest value.
            RangeScan {
                scan: (true, max_abs),
                min,
            } if min >= 0.5 && max_abs <= hi => Ok(()),
            _ => self.soft_ranks(name, data),
        }
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

    /// A scalar argument that is not a param (a JVP's `tangent_regularization_strength`) is
    /// finite; returns it as `f64`.
    pub fn finite_scalar<T: Real>(self, name: &str, v: T) -> Result<f64, Error> {
        if !v.is_finite() {
            return Err(Error::invalid_value(
                self.op,
                format_args!("{name} is {}", Num(v)),
            ));
        }
        Ok(v.to_f64())
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

/// [`Real`]'s scan (every element finite? the largest magnitude) of each of `bufs` (`[batch, n]`
/// each, lengths already checked) in one pass over the rows, spread over the pool like the
/// kernels: scanned one after the other on the calling thread, the checks of a large call would
/// hold back its parallel part.
pub(crate) fn scan_rows<T: Real, const K: usize>(
    shape: Shape,
    bufs: [&[T]; K],
) -> [(bool, f64); K] {
    scan_rows_impl::<T, K, false>(shape, bufs).map(|s| s.scan)
}

/// What [`scan_rows_min`] saw in one buffer.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct RangeScan {
    /// As [`scan_rows`] gives it, for [`Check::finite_scanned`].
    pub scan: (bool, f64),
    /// The smallest value (+∞ for an empty buffer; meaningless if one is not finite).
    pub min: f64,
}

impl RangeScan {
    /// A [`scan_rows`] result where no range check follows (the smallest value not taken).
    pub(crate) fn without_min(scan: (bool, f64)) -> Self {
        RangeScan {
            scan,
            min: f64::NAN,
        }
    }
}

/// [`scan_rows`] with each buffer's smallest value too, so the range checks
/// ([`Check::nonnegative_scanned`], [`Check::soft_ranks_scanned`]) need no serial pass either.
pub(crate) fn scan_rows_min<T: Real, const K: usize>(
    shape: Shape,
    bufs: [&[T]; K],
) -> [RangeScan; K] {
    scan_rows_impl::<T, K, true>(shape, bufs)
}

fn scan_rows_impl<T: Real, const K: usize, const MIN: bool>(
    shape: Shape,
    bufs: [&[T]; K],
) -> [RangeScan; K] {
    let (batch, n) = (shape.batch, shape.n);
    let none = RangeScan {
        scan: (true, 0.0),
        min: f64::INFINITY,
    };
    if batch == 0 || n == 0 {
        return [none; K];
    }
    // Per row and buffer: 1 if a value is not finite, the largest magnitude (and the smallest
    // value).
    let w = if MIN { 3 } else { 2 };
    let mut rows = vec![0.0f64; batch * w * K];
    let ins = bufs.map(|b| In::new(b, n));
    run_rows(
        batch,
        n * K,
        (ins, Out::new(&mut rows, w * K)),
        |count, (ins, mut out)| {
            for i in 0..count {
                let o = out.row(i);
                for (k, b) in ins.iter().enumerate() {
                    let (finite, max_abs) = T::scan(b.row(i));
                    o[w * k] = if finite { 0.0 } else { 1.0 };
                    o[w * k + 1] = max_abs;
                    if MIN {
                        // A second pass, but over a row still in L1.
                        o[w * k + 2] = min_of(b.row(i));
                    }
                }
            }
        },
    );
    std::array::from_fn(|k| {
        rows.chunks_exact(w * K).fold(none, |s, r| RangeScan {
            scan: (s.scan.0 && r[w * k] == 0.0, s.scan.1.max(r[w * k + 1])),
            min: if MIN { s.min.min(r[w * k + 2]) } else { s.min },
        })
    })
}

/// The smallest value of `data` (+∞ if empty), NaNs skipped; in independent lanes with no early
/// exit, like [`Real`]'s scan, so it vectorises.
fn min_of<T: Real>(data: &[T]) -> f64 {
    const LANES: usize = 16;
    let inf = T::from_f64(f64::INFINITY);
    let mut min = [inf; LANES];
    let mut chunks = data.chunks_exact(LANES);
    for c in &mut chunks {
        for (m, &v) in min.iter_mut().zip(c) {
            *m = if v < *m { v } else { *m };
        }
    }
    for &v in chunks.remainder() {
        min[0] = if v < min[0] { v } else { min[0] };
    }
    min.iter().fold(f64::INFINITY, |m, v| m.min(v.to_f64()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::real::private::Sealed;

    /// Serialises the tests that set the process-wide thread count.
    static THREADS: std::sync::Mutex<()> = std::sync::Mutex::new(());

    /// `scan_rows` (rows over the pool) agrees with a serial `scan` of each buffer, wherever a
    /// non-finite value sits, and the error is still the first bad element of the first bad
    /// argument; `scan_rows_min` gives the same and each buffer's smallest value.
    #[test]
    fn scan_rows_matches_serial_scans() {
        let _threads = THREADS.lock().unwrap_or_else(|e| e.into_inner());
        let shape = Shape { batch: 300, n: 257 };
        let len = shape.batch * shape.n;
        let make = |seed: usize| -> Vec<f64> {
            (0..len)
                .map(|i| (((i + seed) * 7919) % 1000) as f64 / 100.0 - 5.0)
                .collect()
        };
        // Miri takes the serial path only: the pool is checked by `concurrency.rs` in
        // scripts/miri.sh, and Miri reports UB inside crossbeam-epoch there (docs/reliability.md).
        let thread_counts: &[usize] = if cfg!(miri) { &[1] } else { &[1, 2, 4] };
        for &threads in thread_counts {
            crate::set_num_threads(threads);
            let (mut a, mut b) = (make(1), make(2));
            assert_eq!(
                scan_rows(shape, [&a[..], &b[..]]),
                [<f64 as Sealed>::scan(&a), <f64 as Sealed>::scan(&b)]
            );
            let min = |v: &[f64]| v.iter().fold(f64::INFINITY, |m, &x| m.min(x));
            let [ra, rb] = scan_rows_min(shape, [&a[..], &b[..]]);
            assert_eq!([ra.scan, rb.scan], scan_rows(shape, [&a[..], &b[..]]));
            assert_eq!([ra.min, rb.min], [min(&a), min(&b)]);
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
        let [none] = scan_rows_min::<f32, 1>(empty, [&[]]);
        assert_eq!((none.scan, none.min), ((true, 0.0), f64::INFINITY));
    }

    /// The losses scan their `[batch, n]` arguments over the pool, yet report the same error on
    /// every thread count: the first bad argument in argument order, at its first bad element,
    /// whatever later arguments and rows hold.
    #[test]
    // Hundreds of pool calls on 300×257 inputs: hours under Miri, which checks the pool with
    // `concurrency.rs` in scripts/miri.sh.
    #[cfg_attr(miri, ignore)]
    fn loss_errors_do_not_depend_on_threads() {
        let _threads = THREADS.lock().unwrap_or_else(|e| e.into_inner());
        loss_errors::<f64>();
        loss_errors::<f32>();
        crate::set_num_threads(0);
    }

    fn loss_errors<T: Real>() {
        use crate::ops::{ndcg_loss, spearman_loss};
        use crate::ErrorKind;

        // Large enough that the scans run on the pool (see `run_rows`).
        let shape = Shape { batch: 300, n: 257 };
        let (batch, n) = (shape.batch, shape.n);
        let len = batch * n;
        let t = T::from_f64;
        let (nan, inf, ninf) = (t(f64::NAN), t(f64::INFINITY), t(f64::NEG_INFINITY));
        let values = |seed: usize| -> Vec<T> {
            (0..len)
                .map(|i| t((((i + seed) * 7919) % 1000) as f64 / 100.0 - 5.0))
                .collect()
        };
        let (x, y) = (values(1), values(2));
        let rel: Vec<T> = (0..len).map(|i| t((i % 5) as f64)).collect();
        let (zeros, izeros) = (|| vec![t(0.0); len], || vec![0i32; len]);
        let cot = vec![t(1.0); batch];
        let sp = spearman_loss::Params::default();
        let np = ndcg_loss::Params::default();
        // Valid saved ranks and residuals, from the forwards.
        let (mut xr, mut xp, mut yr, mut yp) = (zeros(), izeros(), zeros(), izeros());
        let (mut r, mut p) = (zeros(), izeros());
        let mut loss = vec![t(0.0); batch];
        spearman_loss::forward(
            shape, &sp, &x, &y, None, &mut loss, &mut xr, &mut xp, &mut yr, &mut yp,
        )
        .expect("valid");
        ndcg_loss::forward(shape, &np, &x, &rel, None, &mut loss, &mut r, &mut p).expect("valid");

        // Copies of `args` with `bad` = (argument, row, column, value) written in.
        let corrupt = |args: &[&Vec<T>], bad: &[(usize, usize, usize, T)]| -> Vec<Vec<T>> {
            let mut a: Vec<Vec<T>> = args.iter().map(|v| v.to_vec()).collect();
            for &(k, row, col, v) in bad {
                a[k][row * n + col] = v;
            }
            a
        };
        // `perm` breaks the first permutation residual at [150, 3].
        let bad_perm = |perm: &[i32], broken: bool| {
            let mut p = perm.to_vec();
            if broken {
                p[150 * n + 3] = n as i32;
            }
            p
        };
        let message = |e: crate::Error| {
            assert_eq!(e.kind, ErrorKind::InvalidValue, "{e}");
            e.to_string()
        };
        let spearman_forward = |bad: &[(usize, usize, usize, T)]| {
            let a = corrupt(&[&x, &y], bad);
            let (mut l, mut xr, mut xp, mut yr, mut yp) =
                (vec![t(0.0); batch], zeros(), izeros(), zeros(), izeros());
            let e = spearman_loss::forward(
                shape, &sp, &a[0], &a[1], None, &mut l, &mut xr, &mut xp, &mut yr, &mut yp,
            );
            message(e.expect_err("must fail"))
        };
        let spearman_backward = |bad: &[(usize, usize, usize, T)], perm: bool| {
            let a = corrupt(&[&x, &y, &xr, &yr], bad);
            let (mut gx, mut gy, mut ge) = (zeros(), zeros(), vec![t(0.0); batch]);
            let e = spearman_loss::backward(
                shape,
                &sp,
                &a[0],
                &a[1],
                None,
                &a[2],
                &bad_perm(&xp, perm),
                &a[3],
                &yp,
                &cot,
                &mut gx,
                &mut gy,
                &mut ge,
            );
            message(e.expect_err("must fail"))
        };
        let ndcg_forward = |bad: &[(usize, usize, usize, T)]| {
            let a = corrupt(&[&x, &rel], bad);
            let (mut l, mut r, mut p) = (vec![t(0.0); batch], zeros(), izeros());
            let e = ndcg_loss::forward(shape, &np, &a[0], &a[1], None, &mut l, &mut r, &mut p);
            message(e.expect_err("must fail"))
        };
        let ndcg_backward = |bad: &[(usize, usize, usize, T)], perm: bool| {
            let a = corrupt(&[&x, &rel, &r], bad);
            let (mut g, mut ge) = (zeros(), vec![t(0.0); batch]);
            let p = bad_perm(&p, perm);
            let e = ndcg_loss::backward(
                shape, &np, &a[0], &a[1], None, &a[2], &p, &cot, &mut g, &mut ge,
            );
            message(e.expect_err("must fail"))
        };

        for threads in [1, 2, 4] {
            crate::set_num_threads(threads);
            let s = spearman_forward(&[(1, 0, 5, inf), (0, 299, 254, nan), (0, 299, 256, ninf)]);
            assert_eq!(s, "spearman_loss: predictions[299, 254] is NaN");
            let s = spearman_forward(&[(1, 299, 256, nan), (1, 150, 7, ninf), (1, 151, 0, nan)]);
            assert_eq!(s, "spearman_loss: targets[150, 7] is -inf");
            // predictions, targets, prediction_ranks, target_ranks.
            let bad = [
                (3, 0, 0, nan),
                (2, 299, 1, inf),
                (1, 10, 10, nan),
                (1, 200, 0, inf),
            ];
            let s = spearman_backward(&bad, true);
            assert_eq!(s, "spearman_loss: targets[10, 10] is NaN");
            let s = spearman_backward(&bad[..2], true);
            assert_eq!(s, "spearman_loss: prediction_ranks[299, 1] is +inf");
            // A rank out of [1, n] only counts once the whole argument is finite.
            let s = spearman_backward(
                &[(2, 5, 5, t(0.25)), (2, 250, 2, nan), (3, 0, 0, nan)],
                true,
            );
            assert_eq!(s, "spearman_loss: prediction_ranks[250, 2] is NaN");
            let s = spearman_backward(&[(2, 5, 5, t(0.25)), (3, 0, 0, nan)], true);
            assert_eq!(
                s,
                "spearman_loss: prediction_ranks[5, 5] = 0.25 is not a soft rank (soft ranks lie in [1, n])"
            );
            // The residual between the two ranks is checked in between.
            let s = spearman_backward(&[(3, 0, 0, nan)], true);
            assert_eq!(
                s,
                "spearman_loss: prediction_permutation[150, 3] = 257 is not a valid permutation residual entry for n = 257"
            );
            let s = spearman_backward(&[(3, 7, 0, t(1000.0)), (3, 9, 0, t(0.0))], false);
            assert_eq!(
                s,
                "spearman_loss: target_ranks[7, 0] = 1000 is not a soft rank (soft ranks lie in [1, n])"
            );

            // scores, relevance.
            let s = ndcg_forward(&[(1, 0, 0, nan), (0, 299, 255, inf), (0, 299, 256, nan)]);
            assert_eq!(s, "ndcg_loss: scores[299, 255] is +inf");
            let s = ndcg_forward(&[(1, 3, 3, t(-1.0)), (1, 200, 0, nan)]);
            assert_eq!(s, "ndcg_loss: relevance[200, 0] is NaN");
            let s = ndcg_forward(&[(1, 3, 3, t(-1.0)), (1, 200, 0, t(-2.0))]);
            assert_eq!(s, "ndcg_loss: relevance[3, 3] is negative (-1)");
            // scores, relevance, ranks.
            let s = ndcg_backward(
                &[(2, 0, 0, nan), (1, 9, 9, t(-2.0)), (0, 100, 1, ninf)],
                true,
            );
            assert_eq!(s, "ndcg_loss: scores[100, 1] is -inf");
            let s = ndcg_backward(&[(2, 0, 0, nan), (1, 9, 9, t(-2.0))], true);
            assert_eq!(s, "ndcg_loss: relevance[9, 9] is negative (-2)");
            let s = ndcg_backward(&[(2, 0, 0, t(300.0)), (2, 299, 0, inf)], true);
            assert_eq!(s, "ndcg_loss: ranks[299, 0] is +inf");
            let s = ndcg_backward(&[(2, 40, 0, t(300.0))], true);
            assert_eq!(
                s,
                "ndcg_loss: ranks[40, 0] = 300 is not a soft rank (soft ranks lie in [1, n])"
            );
            let s = ndcg_backward(&[], true);
            assert_eq!(
                s,
                "ndcg_loss: permutation[150, 3] = 257 is not a valid permutation residual entry for n = 257"
            );
        }
    }
}
