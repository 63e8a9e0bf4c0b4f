//! `sigmoid_rank`: the pairwise-sigmoid relaxation of the ranks, O(n²) per row.
//!
//! `r_i = 1 + Σ_{j≠i} sigmoid(sign·(x_i − x_j)/ε)`, `sign = +1` ascending, `−1` descending.
//!
//! The work is quadratic in `n`, so a call whose pairwise work exceeds a limit is refused (an
//! [`ErrorKind::InvalidArgument`](crate::ErrorKind::InvalidArgument) naming the op, `n` and the
//! limit) rather than running for hours: see [`DEFAULT_MAX_PAIRS`] and [`set_max_pairs`]
//! (re-exported as `rank_relax::set_sigmoid_rank_max_pairs`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

use crate::check::Check;
use crate::scratch::{take, with_scratch};
use crate::threads::{run_rows, In, Out};
use crate::{Direction, Error, ErrorKind, Real, Shape};

const OP: &str = "sigmoid_rank";

/// The default limit on the pairwise work of one call: `batch × n(n − 1)/2 ≤ 2³²` pairs
/// (about 4.3 × 10⁹ sigmoid evaluations, several seconds on one core; one row of n = 92 682 at
/// most, or 10⁵ rows of n = 293).
pub const DEFAULT_MAX_PAIRS: u64 = 1 << 32;

/// The environment variable that sets the limit for a process (a positive integer; `max` for no
/// limit), read once at the first call that needs it.
pub const MAX_PAIRS_ENV: &str = "RANK_RELAX_SIGMOID_RANK_MAX_PAIRS";

/// The limit set by [`set_max_pairs`]; 0 means the default.
static MAX_PAIRS: AtomicU64 = AtomicU64::new(0);

/// Sets the largest pairwise work (`batch × n(n − 1)/2` pairs) one call of `sigmoid_rank` may do;
/// `0` restores the default ([`MAX_PAIRS_ENV`], else [`DEFAULT_MAX_PAIRS`]) and `u64::MAX` lifts
/// the limit. Process-wide, like [`set_num_threads`](crate::set_num_threads).
///
/// This is the opt-in for callers that mean to pay for O(n²): until the spec's `sigmoid_rank`
/// has a per-call `allow_large` param, bindings reach it through the environment variable.
pub fn set_max_pairs(max_pairs: u64) {
    MAX_PAIRS.store(max_pairs, Ordering::Relaxed);
}

/// The limit on the pairwise work of one call now in force (see [`set_max_pairs`]).
pub fn max_pairs() -> u64 {
    match MAX_PAIRS.load(Ordering::Relaxed) {
        0 => default_max_pairs(),
        k => k,
    }
}

fn default_max_pairs() -> u64 {
    static DEFAULT: OnceLock<u64> = OnceLock::new();
    *DEFAULT.get_or_init(|| {
        let v = std::env::var(MAX_PAIRS_ENV).unwrap_or_default();
        match v.trim() {
            "max" => u64::MAX,
            t => t
                .parse::<u64>()
                .ok()
                .filter(|&k| k > 0)
                .unwrap_or(DEFAULT_MAX_PAIRS),
        }
    })
}

/// Refuses a call whose pairwise work exceeds [`max_pairs`].
fn check_work(shape: Shape) -> Result<(), Error> {
    let (batch, n) = (shape.batch as u128, shape.n as u128);
    let pairs = batch * (n * n.saturating_sub(1) / 2);
    let limit = max_pairs();
    if pairs > limit as u128 {
        return Err(Error::new(
            ErrorKind::InvalidArgument,
            format!(
                "{OP}: n = {n} with batch = {batch} needs {pairs} pairwise terms, more than the \
                 limit {limit}; use soft_rank for long rows, or raise the limit \
                 ({MAX_PAIRS_ENV}, rank_relax::set_sigmoid_rank_max_pairs)"
            ),
        ));
    }
    Ok(())
}

/// Parameters of `sigmoid_rank`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Params<T> {
    /// Regularization strength ε (the sigmoid's temperature), finite and > 0.
    pub regularization_strength: T,
    /// Ranking direction: `Ascending` gives the smallest value rank 1.
    pub direction: Direction,
}

impl<T: Real> Default for Params<T> {
    /// The spec's defaults: ε = 1, ascending.
    fn default() -> Self {
        Params {
            regularization_strength: T::from_f64(1.0),
            direction: Direction::Ascending,
        }
    }
}

/// Pairwise-sigmoid ranks of each row of `values` (`[batch, n]`) into `ranks` (`[batch, n]`).
pub fn forward<T: Real>(
    shape: Shape,
    params: &Params<T>,
    values: &[T],
    ranks: &mut [T],
) -> Result<(), Error> {
    let check = Check::new(OP, shape)?;
    check.matrix("values", values.len())?;
    check.matrix("ranks", ranks.len())?;
    check_work(shape)?;
    let eps = check.strength(params.regularization_strength)?;
    check.finite("values", values)?;

    if shape.batch == 0 || shape.n == 0 {
        // Nothing to compute (and a batch of empty rows needs no memory: do not walk it).
        return Ok(());
    }
    let n = shape.n;
    let c = scale(eps, params.direction);
    run_rows(
        shape.batch,
        n * n,
        (In::new(values, n), Out::new(ranks, n)),
        |rows, (x, mut r)| {
            with_scratch(|sc| {
                for i in 0..rows {
                    forward_row(c, &mut sc.row.f1, x.row(i), r.row(i));
                }
            })
        },
    );
    Ok(())
}

/// Vector-Jacobian product of `sigmoid_rank`; per row also
/// `grad_regularization_strength = −⟨grad_values, values⟩/ε` (the ranks depend on `x/ε` only).
pub fn backward<T: Real>(
    shape: Shape,
    params: &Params<T>,
    values: &[T],
    cotangent_ranks: &[T],
    grad_values: &mut [T],
    grad_regularization_strength: &mut [T],
) -> Result<(), Error> {
    let check = Check::new(OP, shape)?;
    check.matrix("values", values.len())?;
    check.matrix("cotangent_ranks", cotangent_ranks.len())?;
    check.matrix("grad_values", grad_values.len())?;
    check.vector(
        "grad_regularization_strength",
        grad_regularization_strength.len(),
    )?;
    check_work(shape)?;
    let eps = check.strength(params.regularization_strength)?;
    check.finite("values", values)?;
    let max_u = check.finite("cotangent_ranks", cotangent_ranks)?;
    // The gradients scale like |u|·n/ε (soft_sort's ε-gradient like |u|·n²/ε²): refuse what
    // would overflow f64 rather than return ±∞ or NaN.
    check.no_overflow("cotangent_ranks", max_u, eps, max_u * shape.n as f64 / eps)?;

    if shape.batch == 0 {
        // Nothing to compute; never size tables by n for an empty batch.
        return Ok(());
    }
    let n = shape.n;
    let c = scale(eps, params.direction);
    let bufs = (
        In::new(values, n),
        In::new(cotangent_ranks, n),
        Out::new(grad_values, n),
        Out::new(grad_regularization_strength, 1),
    );
    run_rows(shape.batch, n * n, bufs, |rows, (x, u, mut g, mut ge)| {
        with_scratch(|sc| {
            for i in 0..rows {
                let dot = backward_row(c, &mut sc.row.f1, x.row(i), u.row(i), g.row(i));
                *ge.at(i) = T::from_f64(-dot / eps);
            }
        })
    });
    Ok(())
}

/// `sign/ε`.
fn scale(eps: f64, direction: Direction) -> f64 {
    match direction {
        Direction::Ascending => 1.0 / eps,
        Direction::Descending => -1.0 / eps,
    }
}

/// `(sigmoid(t), sigmoid(−t))` from one `exp(−|t|)`, which never overflows.
#[inline(always)]
fn sigmoid_pair(t: f64) -> (f64, f64, f64) {
    let e = (-t.abs()).exp();
    let d = 1.0 / (1.0 + e);
    // sigmoid(|t|) = 1/(1+e), sigmoid(−|t|) = e/(1+e); sigmoid' = e/(1+e)².
    let (big, small) = (d, e * d);
    let slope = small * d;
    if t >= 0.0 {
        (big, small, slope)
    } else {
        (small, big, slope)
    }
}

fn forward_row<T: Real>(c: f64, acc: &mut Vec<f64>, x: &[T], r: &mut [T]) {
    let n = x.len();
    // Accumulate in f64; one pass over pairs i < j gives sigmoid(t_ij) to i and sigmoid(−t_ij)
    // to j.
    let acc = take(acc, n);
    acc.fill(1.0);
    for i in 0..n {
        let xi = x[i].to_f64();
        for j in i + 1..n {
            let (p, q, _) = sigmoid_pair(c * (xi - x[j].to_f64()));
            acc[i] += p;
            acc[j] += q;
        }
    }
    for (ri, a) in r.iter_mut().zip(acc.iter()) {
        *ri = T::from_f64(*a);
    }
}

/// One row of the backward; writes `g` and returns `⟨g, x⟩` (for the ε-gradient `−⟨g, x⟩/ε`).
///
/// `⟨g, x⟩ = Σ_{i<j} d_ij · t_ij` with `t_ij = c·(x_i − x_j)` and `d_ij = sigmoid'(t_ij)·(u_i −
/// u_j)`, summed pair by pair: `sigmoid'(t)·t` is bounded, so the sum stays finite where a plain
/// `⟨g, x⟩` would not (ties at |x| = 1e300 with ε = 1e-8 give `∞ − ∞` there).
fn backward_row<T: Real>(c: f64, acc: &mut Vec<f64>, x: &[T], u: &[T], g: &mut [T]) -> f64 {
    let n = x.len();
    // sigmoid' is even: each pair adds d to g_i and −d to g_j.
    let acc = take(acc, n);
    acc.fill(0.0);
    let mut dot = 0.0;
    for i in 0..n {
        let (xi, ui) = (x[i].to_f64(), u[i].to_f64());
        for j in i + 1..n {
            let t = c * (xi - x[j].to_f64());
            let (_, _, slope) = sigmoid_pair(t);
            let d = slope * (ui - u[j].to_f64());
            acc[i] += d;
            acc[j] -= d;
            // slope is exactly 0 where |t| > 745, which covers t = ±∞ (0 · ∞ would be NaN).
            if slope != 0.0 {
                dot += d * t;
            }
        }
    }
    for (gi, a) in g.iter_mut().zip(acc.iter()) {
        *gi = T::from_f64(c * a);
    }
    dot
}
