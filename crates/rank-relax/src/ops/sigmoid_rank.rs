//! `sigmoid_rank`: the pairwise-sigmoid relaxation of the ranks, O(n²) per row.
//!
//! `r_i = 1 + Σ_{j≠i} sigmoid(sign·(x_i − x_j)/ε)`, `sign = +1` ascending, `−1` descending.
//!
//! The work is quadratic in `n`, so a call whose pairwise work exceeds a limit is refused (an
//! [`ErrorKind::InvalidArgument`](crate::ErrorKind::InvalidArgument) naming the op, `n` and the
//! limit) rather than running for hours: see [`DEFAULT_MAX_PAIRS`] and [`set_max_pairs`]
//! (re-exported as `rank_relax::set_sigmoid_rank_max_pairs`).
//!
//! [`backward`] is the VJP and [`jvp`] the JVP; the Jacobian is symmetric, so both are the same
//! pairwise pass (the JVP's tangent taking the cotangent's place). [`hvp`] is the derivative of
//! the backward along `(t, s)` in `(values, ε)`, one more pass over the pairs: with `a_ij = u_i −
//! u_j`, `t_ij = c·(x_i − x_j)` (`c = sign/ε`), `dt_ij = c·(t_i − t_j) − k·t_ij` (`k = s/ε`):
//! `hvp_values_i = c·Σ_{j≠i} a_ij·(sigmoid''(t_ij)·dt_ij − k·sigmoid'(t_ij))` and
//! `hvp_regularization_strength = Σ_{i<j} a_ij·(k·sigmoid'·t_ij − (sigmoid''·t_ij +
//! sigmoid')·dt_ij)/ε`.

use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

use crate::check::Check;
use crate::fastexp::Lane;
use crate::masked::{Layout, Masked};
use crate::scratch::take;
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
///
/// `mask`: which items are present (`None`: all); see [masked rows](crate#masked-rows).
#[allow(clippy::too_many_arguments)]
pub fn forward<T: Real>(
    shape: Shape,
    params: &Params<T>,
    values: &[T],
    mask: Option<&[bool]>,
    ranks: &mut [T],
) -> Result<(), Error> {
    let Some(mask) = mask else {
        return forward_dense(shape, params, values, ranks);
    };
    Masked::new(OP, shape, mask)
        .real("values", values, Layout::Items)
        .real_out("ranks", ranks, Layout::Items)
        .run(|b, _| {
            let (shape, [values], [], [ranks], []) = b.split();
            forward_dense(shape, params, values, ranks)
        })
}

/// [`forward`] without a mask.
fn forward_dense<T: Real>(
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
            if lanes_f32::<T>(c) {
                forward_rows::<T, f32>(isa(), c, rows, &x, &mut r)
            } else {
                forward_rows::<T, f64>(isa(), c, rows, &x, &mut r)
            }
        },
    );
    Ok(())
}

/// Vector-Jacobian product of `sigmoid_rank`; per row also
/// `grad_regularization_strength = −⟨grad_values, values⟩/ε` (the ranks depend on `x/ε` only).
///
/// `mask`: which items are present (`None`: all); see [masked rows](crate#masked-rows).
#[allow(clippy::too_many_arguments)]
pub fn backward<T: Real>(
    shape: Shape,
    params: &Params<T>,
    values: &[T],
    mask: Option<&[bool]>,
    cotangent_ranks: &[T],
    grad_values: &mut [T],
    grad_regularization_strength: &mut [T],
) -> Result<(), Error> {
    let Some(mask) = mask else {
        return backward_dense(
            shape,
            params,
            values,
            cotangent_ranks,
            grad_values,
            grad_regularization_strength,
        );
    };
    Masked::new(OP, shape, mask)
        .real("values", values, Layout::Items)
        .real("cotangent_ranks", cotangent_ranks, Layout::Items)
        .real_out("grad_values", grad_values, Layout::Items)
        .real_out(
            "grad_regularization_strength",
            grad_regularization_strength,
            Layout::Row,
        )
        .run(|b, _| {
            let (
                shape,
                [values, cotangent_ranks],
                [],
                [grad_values, grad_regularization_strength],
                [],
            ) = b.split();
            backward_dense(
                shape,
                params,
                values,
                cotangent_ranks,
                grad_values,
                grad_regularization_strength,
            )
        })
}

/// [`backward`] without a mask.
fn backward_dense<T: Real>(
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
        let (xu, g) = ((&x, &u), (&mut g, &mut ge));
        if lanes_f32::<T>(c) {
            backward_rows::<T, f32>(isa(), (c, eps), rows, xu, g)
        } else {
            backward_rows::<T, f64>(isa(), (c, eps), rows, xu, g)
        }
    });
    Ok(())
}

/// Jacobian-vector product of `sigmoid_rank`: `tangent_ranks = ∂ranks/∂values · tangent_values
/// + ∂ranks/∂ε · tangent_regularization_strength`.
///
/// The Jacobian `c·(D − S)` (`c = sign/ε`, `S_ij = sigmoid'(t_ij)`, `D` its row sums) is
/// symmetric, so the JVP is the VJP's pairwise loop with the tangent in place of the cotangent:
/// `dr_i = c·Σ_{j≠i} sigmoid'(t_ij)·(t'_i − t'_j)`. The ranks depend on `x/ε` only, so the
/// ε-tangent enters as `t' = t − (t_ε/ε)·(x − x_0)` (`x_0` the row's first value: only
/// differences count). One O(n²) pass, like the VJP. The ε-tangent is one scalar for the call,
/// like ε itself: `⟨u, jvp(t, t_ε)⟩ = ⟨backward(u), t⟩ + t_ε · Σ_rows grad_regularization_strength`.
///
/// `mask`: which items are present (`None`: all); see [masked rows](crate#masked-rows).
#[allow(clippy::too_many_arguments)]
pub fn jvp<T: Real>(
    shape: Shape,
    params: &Params<T>,
    values: &[T],
    mask: Option<&[bool]>,
    tangent_values: &[T],
    tangent_regularization_strength: T,
    tangent_ranks: &mut [T],
) -> Result<(), Error> {
    let Some(mask) = mask else {
        return jvp_dense(
            shape,
            params,
            values,
            tangent_values,
            tangent_regularization_strength,
            tangent_ranks,
        );
    };
    Masked::new(OP, shape, mask)
        .real("values", values, Layout::Items)
        .real("tangent_values", tangent_values, Layout::Items)
        .real_out("tangent_ranks", tangent_ranks, Layout::Items)
        .run(|b, _| {
            let (shape, [values, tangent_values], [], [tangent_ranks], []) = b.split();
            jvp_dense(
                shape,
                params,
                values,
                tangent_values,
                tangent_regularization_strength,
                tangent_ranks,
            )
        })
}

/// [`jvp`] without a mask.
fn jvp_dense<T: Real>(
    shape: Shape,
    params: &Params<T>,
    values: &[T],
    tangent_values: &[T],
    tangent_regularization_strength: T,
    tangent_ranks: &mut [T],
) -> Result<(), Error> {
    let check = Check::new(OP, shape)?;
    check.matrix("values", values.len())?;
    check.matrix("tangent_values", tangent_values.len())?;
    check.matrix("tangent_ranks", tangent_ranks.len())?;
    check_work(shape)?;
    let eps = check.strength(params.regularization_strength)?;
    let max_x = check.finite("values", values)?;
    let max_t = check.finite("tangent_values", tangent_values)?;
    let t_eps = check.finite_scalar(
        "tangent_regularization_strength",
        tangent_regularization_strength,
    )?;
    // The tangents scale like |t'|·n/ε with |t'| ≤ |t| + |t_ε|/ε · 2 max |x|: refuse what would
    // overflow f64 rather than return ±∞ or NaN.
    let n = shape.n as f64;
    check.no_overflow("tangent_values", max_t, eps, max_t * n / eps)?;
    let max_u = if t_eps == 0.0 {
        max_t
    } else {
        max_t + t_eps.abs() / eps * 2.0 * max_x
    };
    check.no_overflow(
        "tangent_regularization_strength",
        t_eps.abs(),
        eps,
        max_u * n / eps,
    )?;

    if shape.batch == 0 {
        // Nothing to compute; never size tables by n for an empty batch.
        return Ok(());
    }
    let n = shape.n;
    let c = scale(eps, params.direction);
    let k = t_eps / eps;
    // f32 lanes only where t' is far inside their range.
    let f32_lanes = lanes_f32::<T>(c) && max_u < 1e30;
    let bufs = (
        In::new(values, n),
        In::new(tangent_values, n),
        Out::new(tangent_ranks, n),
    );
    run_rows(shape.batch, n * n, bufs, |rows, (x, t, mut dr)| {
        if f32_lanes {
            jvp_rows::<T, f32>(isa(), (c, k), rows, (&x, &t), &mut dr)
        } else {
            jvp_rows::<T, f64>(isa(), (c, k), rows, (&x, &t), &mut dr)
        }
    });
    Ok(())
}

/// Hessian-vector product of `sigmoid_rank`: the derivative of [`backward`] (at the fixed
/// cotangent `u`) along `(tangent_values, tangent_regularization_strength)`.
///
/// Per row, with `φ = ⟨u, ranks⟩ = Σ_{i<j} a_ij·sigmoid(t_ij) + const`, `a_ij = u_i − u_j`,
/// `t_ij = c·(x_i − x_j)` (`c = sign/ε`), along `(t, s)` each pair's argument moves by
/// `dt_ij = c·(t_i − t_j) − k·t_ij` (`k = s/ε`), and
///
/// - `hvp_values_i = c·Σ_{j≠i} a_ij·(sigmoid''(t_ij)·dt_ij − k·sigmoid'(t_ij))`,
/// - `hvp_regularization_strength = Σ_{i<j} a_ij·(k·sigmoid'(t_ij)·t_ij − (sigmoid''(t_ij)·t_ij +
///   sigmoid'(t_ij))·dt_ij)/ε`,
///
/// with `sigmoid'' = sigmoid'·(1 − 2·sigmoid)`. One O(n²) pass over the pairs, like the VJP (in
/// f64 for both dtypes). Symmetric: `⟨(w, c_ε), hvp(t, s)⟩ = ⟨(t, s), hvp(w, c_ε)⟩` summed
/// over the rows.
///
/// `mask`: which items are present (`None`: all); see [masked rows](crate#masked-rows).
#[allow(clippy::too_many_arguments)]
pub fn hvp<T: Real>(
    shape: Shape,
    params: &Params<T>,
    values: &[T],
    mask: Option<&[bool]>,
    cotangent_ranks: &[T],
    tangent_values: &[T],
    tangent_regularization_strength: T,
    hvp_values: &mut [T],
    hvp_regularization_strength: &mut [T],
) -> Result<(), Error> {
    let Some(mask) = mask else {
        return hvp_dense(
            shape,
            params,
            values,
            cotangent_ranks,
            tangent_values,
            tangent_regularization_strength,
            hvp_values,
            hvp_regularization_strength,
        );
    };
    Masked::new(OP, shape, mask)
        .real("values", values, Layout::Items)
        .real("cotangent_ranks", cotangent_ranks, Layout::Items)
        .real("tangent_values", tangent_values, Layout::Items)
        .real_out("hvp_values", hvp_values, Layout::Items)
        .real_out(
            "hvp_regularization_strength",
            hvp_regularization_strength,
            Layout::Row,
        )
        .run(|b, _| {
            let (
                shape,
                [values, cotangent_ranks, tangent_values],
                [],
                [hvp_values, hvp_regularization_strength],
                [],
            ) = b.split();
            hvp_dense(
                shape,
                params,
                values,
                cotangent_ranks,
                tangent_values,
                tangent_regularization_strength,
                hvp_values,
                hvp_regularization_strength,
            )
        })
}

/// [`hvp`] without a mask.
#[allow(clippy::too_many_arguments)]
fn hvp_dense<T: Real>(
    shape: Shape,
    params: &Params<T>,
    values: &[T],
    cotangent_ranks: &[T],
    tangent_values: &[T],
    tangent_regularization_strength: T,
    hvp_values: &mut [T],
    hvp_regularization_strength: &mut [T],
) -> Result<(), Error> {
    let check = Check::new(OP, shape)?;
    check.matrix("values", values.len())?;
    check.matrix("cotangent_ranks", cotangent_ranks.len())?;
    check.matrix("tangent_values", tangent_values.len())?;
    check.matrix("hvp_values", hvp_values.len())?;
    check.vector(
        "hvp_regularization_strength",
        hvp_regularization_strength.len(),
    )?;
    check_work(shape)?;
    let eps = check.strength(params.regularization_strength)?;
    check.finite("values", values)?;
    let max_u = check.finite("cotangent_ranks", cotangent_ranks)?;
    let max_t = check.finite("tangent_values", tangent_values)?;
    let t_eps = check.finite_scalar(
        "tangent_regularization_strength",
        tangent_regularization_strength,
    )?;
    // |a|/ε ≤ 2 max|u|/ε, and each pair's factor is below 2 max|t|/ε + 2|k| (|sigmoid''| < 0.1,
    // |t·sigmoid''| < 0.16, |t·sigmoid'| < 0.23, |t²·sigmoid''| < 0.38): the terms, and the
    // n² of the ε-sum, stay finite when this bound does.
    let n = shape.n as f64;
    check.no_overflow("cotangent_ranks", max_u, eps, max_u * n / eps)?;
    check.no_overflow("tangent_values", max_t, eps, max_t * n / eps)?;
    let k_abs = t_eps.abs() / eps;
    check.no_overflow(
        "tangent_regularization_strength",
        t_eps.abs(),
        eps,
        k_abs * n,
    )?;
    let per_pair = 2.0 * max_u / eps * (2.0 * max_t / eps + 2.0 * k_abs);
    let name = if max_t / eps >= k_abs {
        "tangent_values"
    } else {
        "tangent_regularization_strength"
    };
    check.no_overflow(name, max_t.max(t_eps.abs()), eps, per_pair * n * n.max(1.0))?;

    if shape.batch == 0 {
        return Ok(());
    }
    let n = shape.n;
    let c = scale(eps, params.direction);
    let bufs = (
        In::new(values, n),
        In::new(cotangent_ranks, n),
        In::new(tangent_values, n),
        Out::new(hvp_values, n),
        Out::new(hvp_regularization_strength, 1),
    );
    let isa = isa();
    run_rows(
        shape.batch,
        n * n,
        bufs,
        |rows, (x, u, t, mut h, mut he)| {
            <f64 as Kernel>::with_bufs(|b| {
                for i in 0..rows {
                    let (x, u, t, h) = (x.row(i), u.row(i), t.row(i), h.row(i));
                    let xs = load(&mut b.x, x, 0.0);
                    let us = load(&mut b.u, u, 0.0);
                    let ts = load(&mut b.part, t, 0.0);
                    let acc = take(&mut b.acc, x.len());
                    acc.fill(0.0);
                    let he_row = hvp_pairs_for(isa, (c, t_eps / eps), (xs, us, ts), acc);
                    for (hv, a) in h.iter_mut().zip(acc.iter()) {
                        *hv = T::from_f64(c * a);
                    }
                    *he.at(i) = T::from_f64(he_row / eps);
                }
            })
        },
    );
    Ok(())
}

/// One pair's terms of [`hvp`] (`dx = x_i − x_j`, `du = u_i − u_j`, `dv = t_i − t_j`): its
/// `hvp_values_i/c` (and minus that of `j`) and its `ε·hvp_regularization_strength`.
///
/// Branch-free: `t_ij` is clamped to ±800, where `exp(−|t|)` is exactly 0 already, so an
/// infinite `c·dx` gives zero terms rather than `0·∞`.
#[inline(always)]
fn hvp_pair<const FMA: bool>((c, k): (f64, f64), dx: f64, du: f64, dv: f64) -> (f64, f64) {
    let t = (c * dx).clamp(-800.0, 800.0);
    let e = f64::exp_nonpositive::<FMA>(-t.abs());
    let d = (1.0 + e).recip();
    let s1 = e * d * d;
    // sigmoid'' = −sgn(t)·e(1 − e)/(1 + e)³.
    let s2 = -(s1 * (1.0 - e) * d).copysign(t);
    let dt = c * dv - k * t;
    let term = du * (s2 * dt - k * s1);
    let term_eps = du * (k * s1 * t - (s2 * t + s1) * dt);
    (term, term_eps)
}

/// The pairs of one row of [`hvp`] (`x`, `u`, `t` the row in f64, padded by [`PAD`]): adds
/// `Σ_{j≠i} term_ij` into `acc[i]` and returns `Σ_{i<j} term_eps_ij` (see [`hvp_pair`]).
#[inline(always)]
fn hvp_pairs<const FMA: bool>(
    ck: (f64, f64),
    (x, u, t): (&[f64], &[f64], &[f64]),
    acc: &mut [f64],
) -> f64 {
    const W: usize = 8;
    let n = acc.len();
    let mut he = 0.0;
    for i in 0..n {
        let (xi, ui, ti) = (x[i], u[i], t[i]);
        let (mut sh, mut se) = ([0.0; W], [0.0; W]);
        let mut j = i + 1;
        while j + W <= n {
            let (xc, uc, tc) = (
                lanes::<f64, W>(&x[j..]),
                lanes::<f64, W>(&u[j..]),
                lanes::<f64, W>(&t[j..]),
            );
            let ac = lanes_mut::<f64, W>(&mut acc[j..]);
            for l in 0..W {
                let (h, e) = hvp_pair::<FMA>(ck, xi - xc[l], ui - uc[l], ti - tc[l]);
                sh[l] += h;
                se[l] += e;
                ac[l] -= h;
            }
            j += W;
        }
        for (l, j) in (j..n).enumerate() {
            let (h, e) = hvp_pair::<FMA>(ck, xi - x[j], ui - u[j], ti - t[j]);
            sh[l] += h;
            se[l] += e;
            acc[j] -= h;
        }
        acc[i] += lane_sum(sh);
        he += lane_sum(se);
    }
    he
}

/// [`hvp_pairs`] compiled for `isa`.
fn hvp_pairs_for(isa: Isa, ck: (f64, f64), xut: (&[f64], &[f64], &[f64]), acc: &mut [f64]) -> f64 {
    #[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
    {
        #[target_feature(enable = "avx2,fma")]
        unsafe fn avx2(ck: (f64, f64), xut: (&[f64], &[f64], &[f64]), acc: &mut [f64]) -> f64 {
            hvp_pairs::<true>(ck, xut, acc)
        }
        #[target_feature(enable = "avx512f,avx512dq,avx2,fma")]
        unsafe fn avx512(ck: (f64, f64), xut: (&[f64], &[f64], &[f64]), acc: &mut [f64]) -> f64 {
            hvp_pairs::<true>(ck, xut, acc)
        }
        match isa {
            // SAFETY: each x86 Isa is only made where the CPU was found to have its features.
            Isa::Avx512Fma => return unsafe { avx512(ck, xut, acc) },
            // SAFETY: as above.
            Isa::Avx2Fma => return unsafe { avx2(ck, xut, acc) },
            Isa::Portable => {}
        }
    }
    hvp_pairs::<{ cfg!(any(target_arch = "aarch64", target_feature = "fma")) }>(ck, xut, acc)
}

/// `sign/ε`.
fn scale(eps: f64, direction: Direction) -> f64 {
    match direction {
        Direction::Ascending => 1.0 / eps,
        Direction::Descending => -1.0 / eps,
    }
}

// The pairwise loops. Each pair i < j is computed once: row i's inner loop over j > i adds its
// term to lane sums for i and the pair's term for j to a running partial. That loop is
// branch-free (the exp is `fastexp`'s, signs are bit operations or selects) and walks whole
// chunks of lanes, so the compiler vectorises it; the row is copied into a buffer padded at the
// end with ±∞, which makes t = −∞ there. The loops are compiled for AVX2 + FMA and for the
// baseline, chosen once at run time. f32 rows compute in f32 (twice the lanes of f64), each lane
// sum or partial taking at most FLUSH terms before it is added into f64.

/// Whether rows of `T` compute in f32: only f32 rows, and only where `c` is a normal f32 (an
/// infinite `c` would make `c·0` NaN, a subnormal one lose precision).
fn lanes_f32<T: Real>(c: f64) -> bool {
    T::DTYPE == "f32" && (c as f32).is_normal()
}

/// Terms a lane sum or partial takes in the lane type before it is added into f64.
const FLUSH: usize = 64;

/// Padding after a row: the most lanes any compiled loop walks at once.
const PAD: usize = 16;

/// The instruction sets the pairwise loops are compiled for. `Avx2Fma` and `Avx512Fma` are only
/// made after the CPU was found to have their features (by [`isa`], and by the tests).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Isa {
    /// Whatever the target enables (SSE2 on x86-64).
    Portable,
    #[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
    Avx2Fma,
    /// 512-bit vectors: one register holds a lane array (16 f32 or 8 f64), where AVX2 needs two.
    #[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
    Avx512Fma,
}

/// The best instruction set of this CPU, detected once.
fn isa() -> Isa {
    static ISA: OnceLock<Isa> = OnceLock::new();
    *ISA.get_or_init(|| *isas().last().expect("Portable is always there"))
}

/// Every instruction set this CPU runs, best last. (Miri runs the portable loops only.)
fn isas() -> Vec<Isa> {
    #[allow(unused_mut)]
    let mut all = vec![Isa::Portable];
    #[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
    if !cfg!(miri) && is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
        all.push(Isa::Avx2Fma);
        if is_x86_feature_detected!("avx512f") && is_x86_feature_detected!("avx512dq") {
            all.push(Isa::Avx512Fma);
        }
    }
    all
}

/// `sigmoid(t) − 1/2`, odd in `t`, from one `exp(−|t|)`, which never overflows.
#[inline(always)]
fn sigmoid_odd<F: Lane, const FMA: bool>(t: F) -> F {
    let e = F::exp_nonpositive::<FMA>(-t.abs());
    // sigmoid(|t|) = 1/(1+e) lies in [1/2, 1], so subtracting 1/2 is exact.
    ((F::ONE + e).recip() - F::HALF).with_sign_of(t)
}

/// `sigmoid'(t) = e/(1+e)²` with `e = exp(−|t|)`.
#[inline(always)]
fn sigmoid_slope<F: Lane, const FMA: bool>(t: F) -> F {
    let e = F::exp_nonpositive::<FMA>(-t.abs());
    let d = (F::ONE + e).recip();
    e * d * d
}

/// The sum of `lanes` (at most [`FLUSH`] terms each), halving in the lane type: a fixed order,
/// and a few vector operations where widening each lane first costs more than the pairs of a
/// short row.
#[inline(always)]
fn lane_sum<F: Lane, const L: usize>(mut lanes: [F; L]) -> f64 {
    let mut h = L / 2;
    while h > 0 {
        for k in 0..h {
            lanes[k] = lanes[k] + lanes[k + h];
        }
        h /= 2;
    }
    lanes[0].to_f64()
}

/// The first `L` lanes of `s` as an array. The loops index slices and arrays rather than chain
/// iterator adapters, and the lane loops see no bounds checks: whether the compiler inlines the
/// adapters and proves such checks away depends on how the crate is built, and an exit in the
/// lane loop, or buffers it cannot tell apart, keep it from vectorising.
#[inline(always)]
fn lanes<F, const L: usize>(s: &[F]) -> &[F; L] {
    s[..L].try_into().expect("L lanes")
}

#[inline(always)]
fn lanes_mut<F, const L: usize>(s: &mut [F]) -> &mut [F; L] {
    (&mut s[..L]).try_into().expect("L lanes")
}

/// Adds `part` into `acc` (the first `acc.len()` of it) and clears it.
#[inline(always)]
fn flush<F: Lane>(acc: &mut [f64], part: &mut [F]) {
    for k in 0..acc.len() {
        acc[k] += part[k].to_f64();
        part[k] = F::ZERO;
    }
}

// Both loops take rows a = i and b = i + 1 together, over j ≥ i + 2 (their own pair is done
// alone): each x_j, u_j and partial is loaded and stored once for two rows, and the two rows'
// chains overlap. They walk chunks of L lanes, then the rest in chunks of S < L (so short rows
// waste fewer padded lanes), each lane sum taking at most FLUSH terms.

/// The forward over `chunks` chunks of `W` lanes from `j`, for rows with values `xa`, `xb`:
/// subtracts `h_aj + h_bj` from the partials and returns `(Σ_j h_aj, Σ_j h_bj)`.
#[inline(always)]
fn forward_chunks<F: Lane, const W: usize, const FMA: bool>(
    c: F,
    (xa, xb): (F, F),
    x: &[F],
    part: &mut [F],
    mut j: usize,
    chunks: usize,
) -> (f64, f64) {
    let (mut row_a, mut row_b) = (0.0, 0.0);
    for block in (0..chunks).step_by(FLUSH) {
        let (mut sa, mut sb) = ([F::ZERO; W], [F::ZERO; W]);
        for _ in block..chunks.min(block + FLUSH) {
            let (xc, pc) = (lanes::<F, W>(&x[j..]), lanes_mut::<F, W>(&mut part[j..]));
            for k in 0..W {
                let ha = sigmoid_odd::<F, FMA>(c * (xa - xc[k]));
                let hb = sigmoid_odd::<F, FMA>(c * (xb - xc[k]));
                sa[k] = sa[k] + ha;
                sb[k] = sb[k] + hb;
                pc[k] = pc[k] - (ha + hb);
            }
            j += W;
        }
        row_a += lane_sum(sa);
        row_b += lane_sum(sb);
    }
    (row_a, row_b)
}

/// The forward's pairs of one row: `x` is the row padded by [`PAD`], `part` zeros as long;
/// adds `Σ_{j≠i} (sigmoid(c·(x_i − x_j)) − 1/2)` into `acc[i]`.
///
/// `sigmoid(t) = 1/2 + h(t)` with `h` odd: each pair adds `h` to `i` and `−h` to `j`, with no
/// select between `sigmoid(t)` and `sigmoid(−t)`. A padded `j` has `t = −∞`, `h = −1/2` exactly:
/// those are added back.
#[inline(always)]
fn forward_pairs<F: Lane, const L: usize, const S: usize, const FMA: bool>(
    c: F,
    x: &[F],
    part: &mut [F],
    acc: &mut [f64],
) {
    let n = acc.len();
    for a in (0..n.saturating_sub(1)).step_by(2) {
        let (xa, xb) = (x[a], x[a + 1]);
        let hab = sigmoid_odd::<F, FMA>(c * (xa - xb)).to_f64();
        let len = n - 2 - a;
        let (long, short) = (len / L, (len % L).div_ceil(S));
        let pad = 0.5 * (long * L + short * S - len) as f64;
        let (la, lb) = forward_chunks::<F, L, FMA>(c, (xa, xb), x, part, a + 2, long);
        let (sa, sb) = forward_chunks::<F, S, FMA>(c, (xa, xb), x, part, a + 2 + long * L, short);
        acc[a] += pad + hab + la + sa;
        acc[a + 1] += pad - hab + lb + sb;
        // Every FLUSH rows: each partial has taken FLUSH/2 sums of two terms.
        if (a + 2) % FLUSH == 0 {
            flush(acc, part);
        }
    }
    flush(acc, part);
}

/// The backward over `chunks` chunks of `W` lanes from `j`, for rows with values and
/// cotangents `a`, `b`: subtracts `d_aj + d_bj` from the partials and returns `(Σ_j d_aj,
/// Σ_j d_bj, Σ_j d_aj·t_aj + d_bj·t_bj)`.
#[inline(always)]
fn backward_chunks<F: Lane, const W: usize, const FMA: bool>(
    c: F,
    ((xa, ua), (xb, ub)): ((F, F), (F, F)),
    (x, u): (&[F], &[F]),
    part: &mut [F],
    mut j: usize,
    chunks: usize,
) -> (f64, f64, f64) {
    let (mut row_a, mut row_b, mut dot) = (0.0, 0.0, 0.0);
    for block in (0..chunks).step_by(FLUSH) {
        let (mut sa, mut sb, mut sd) = ([F::ZERO; W], [F::ZERO; W], [F::ZERO; W]);
        for _ in block..chunks.min(block + FLUSH) {
            let (xc, uc) = (lanes::<F, W>(&x[j..]), lanes::<F, W>(&u[j..]));
            let pc = lanes_mut::<F, W>(&mut part[j..]);
            for k in 0..W {
                let (ta, tb) = (c * (xa - xc[k]), c * (xb - xc[k]));
                let (ga, gb) = (sigmoid_slope::<F, FMA>(ta), sigmoid_slope::<F, FMA>(tb));
                let (da, db) = (ga * (ua - uc[k]), gb * (ub - uc[k]));
                sa[k] = sa[k] + da;
                sb[k] = sb[k] + db;
                pc[k] = pc[k] - (da + db);
                // A slope is exactly 0 where e underflows, which covers t = ±∞ (and the
                // padding): 0 · ∞ would be NaN.
                let wa = if ga != F::ZERO { da * ta } else { F::ZERO };
                let wb = if gb != F::ZERO { db * tb } else { F::ZERO };
                sd[k] = sd[k] + (wa + wb);
            }
            j += W;
        }
        row_a += lane_sum(sa);
        row_b += lane_sum(sb);
        dot += lane_sum(sd);
    }
    (row_a, row_b, dot)
}

/// The backward's pairs of one row (`x` and `u` padded by [`PAD`], `u` with zeros, `part`
/// zeros): adds `Σ_j sigmoid'(t_ij)·(u_i − u_j)` into `acc[i]` and returns `Σ_{i<j} d_ij·t_ij`
/// (see [`backward_rows`]).
#[inline(always)]
fn backward_pairs<F: Lane, const L: usize, const S: usize, const FMA: bool>(
    c: F,
    x: &[F],
    u: &[F],
    part: &mut [F],
    acc: &mut [f64],
) -> f64 {
    let n = acc.len();
    let mut dot = 0.0;
    for a in (0..n.saturating_sub(1)).step_by(2) {
        let rows = ((x[a], u[a]), (x[a + 1], u[a + 1]));
        let tab = c * (x[a] - x[a + 1]);
        let gab = sigmoid_slope::<F, FMA>(tab);
        let dab = gab * (u[a] - u[a + 1]);
        if gab != F::ZERO {
            dot += (dab * tab).to_f64();
        }
        let len = n - 2 - a;
        let (long, short) = (len / L, (len % L).div_ceil(S));
        let (la, lb, ld) = backward_chunks::<F, L, FMA>(c, rows, (x, u), part, a + 2, long);
        let j = a + 2 + long * L;
        let (sa, sb, sd) = backward_chunks::<F, S, FMA>(c, rows, (x, u), part, j, short);
        acc[a] += dab.to_f64() + la + sa;
        acc[a + 1] += -dab.to_f64() + lb + sb;
        dot += ld + sd;
        if (a + 2) % FLUSH == 0 {
            flush(acc, part);
        }
    }
    flush(acc, part);
    dot
}

/// The pairwise loops compiled for an x86 instruction set (`$features`). Each takes its buffers as
/// separate slices: the compiler then knows they do not overlap, which the vectoriser needs for
/// loops this short.
macro_rules! x86_pairs {
    ($name:ident, $features:literal) => {
        #[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
        mod $name {
            use super::{backward_pairs, forward_pairs, Lane};

            #[target_feature(enable = $features)]
            pub(super) unsafe fn forward<F: Lane, const L: usize, const S: usize>(
                c: F,
                x: &[F],
                part: &mut [F],
                acc: &mut [f64],
            ) {
                forward_pairs::<F, L, S, true>(c, x, part, acc)
            }

            #[target_feature(enable = $features)]
            pub(super) unsafe fn backward<F: Lane, const L: usize, const S: usize>(
                c: F,
                x: &[F],
                u: &[F],
                part: &mut [F],
                acc: &mut [f64],
            ) -> f64 {
                backward_pairs::<F, L, S, true>(c, x, u, part, acc)
            }
        }
    };
}

x86_pairs!(avx2, "avx2,fma");
x86_pairs!(avx512, "avx512f,avx512dq,avx2,fma");

/// The pairwise loops for the target's baseline instruction set.
mod portable {
    use super::{backward_pairs, forward_pairs, Lane};

    /// Fused multiply-add where the target always has it (a libm call elsewhere).
    const FMA: bool = cfg!(any(target_arch = "aarch64", target_feature = "fma"));

    #[inline(never)]
    pub(super) fn forward<F: Lane, const L: usize, const S: usize>(
        c: F,
        x: &[F],
        part: &mut [F],
        acc: &mut [f64],
    ) {
        forward_pairs::<F, L, S, FMA>(c, x, part, acc)
    }

    #[inline(never)]
    pub(super) fn backward<F: Lane, const L: usize, const S: usize>(
        c: F,
        x: &[F],
        u: &[F],
        part: &mut [F],
        acc: &mut [f64],
    ) -> f64 {
        backward_pairs::<F, L, S, FMA>(c, x, u, part, acc)
    }
}

/// A row's buffers in the lane type `F`, one set per thread (so a warm thread never allocates).
struct Bufs<F> {
    x: Vec<F>,
    u: Vec<F>,
    part: Vec<F>,
    acc: Vec<f64>,
}

impl<F> Default for Bufs<F> {
    fn default() -> Self {
        Bufs {
            x: Vec::new(),
            u: Vec::new(),
            part: Vec::new(),
            acc: Vec::new(),
        }
    }
}

/// A lane type with its per-thread buffers and its pairwise loops for each instruction set.
trait Kernel: Lane {
    /// The shortest row `Isa::Avx512Fma` computes in 512-bit vectors; shorter ones take the AVX2
    /// loops, which were faster for them (the lane arrays are one 512-bit register, so a short
    /// row has few full chunks and the remainder dominates).
    const AVX512_MIN_N: usize;

    /// Runs `f` with this thread's buffers (fresh ones if they are in use, which only a
    /// re-entrant call could cause).
    fn with_bufs<R>(f: impl FnOnce(&mut Bufs<Self>) -> R) -> R;

    /// [`forward_pairs`] compiled for `isa`.
    fn forward_pairs(isa: Isa, c: Self, x: &[Self], part: &mut [Self], acc: &mut [f64]);

    /// [`backward_pairs`] compiled for `isa`.
    fn backward_pairs(
        isa: Isa,
        c: Self,
        x: &[Self],
        u: &[Self],
        part: &mut [Self],
        acc: &mut [f64],
    ) -> f64;
}

macro_rules! impl_kernel {
    // `$long` and `$short` lanes per chunk: two AVX2 vectors and one. Both rows' terms of a
    // chunk are in the same loop: with a single row and one vector, the compiler sometimes
    // vectorised it at half width, depending on how the crate is built (LTO, codegen units);
    // like this it used full-width vectors in every build checked.
    ($t:ty, $long:literal, $short:literal, $avx512_min_n:literal) => {
        impl Kernel for $t {
            const AVX512_MIN_N: usize = $avx512_min_n;

            fn with_bufs<R>(f: impl FnOnce(&mut Bufs<Self>) -> R) -> R {
                thread_local! {
                    static BUFS: RefCell<Bufs<$t>> = RefCell::new(Bufs::default());
                }
                let mut f = Some(f);
                let done = BUFS.try_with(|cell| {
                    let mut bufs = cell.try_borrow_mut().ok()?;
                    Some((f.take().expect("called once"))(&mut bufs))
                });
                match done {
                    Ok(Some(r)) => r,
                    _ => (f.take().expect("not yet called"))(&mut Bufs::default()),
                }
            }

            fn forward_pairs(isa: Isa, c: Self, x: &[Self], part: &mut [Self], acc: &mut [f64]) {
                match isa {
                    // SAFETY: each x86 Isa is only made where the CPU was found to have its
                    // features.
                    #[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
                    Isa::Avx512Fma if acc.len() >= Self::AVX512_MIN_N => unsafe {
                        avx512::forward::<$t, $long, $short>(c, x, part, acc)
                    },
                    #[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
                    Isa::Avx2Fma | Isa::Avx512Fma => unsafe {
                        avx2::forward::<$t, $long, $short>(c, x, part, acc)
                    },
                    Isa::Portable => portable::forward::<$t, $long, $short>(c, x, part, acc),
                }
            }

            fn backward_pairs(
                isa: Isa,
                c: Self,
                x: &[Self],
                u: &[Self],
                part: &mut [Self],
                acc: &mut [f64],
            ) -> f64 {
                match isa {
                    // SAFETY: each x86 Isa is only made where the CPU was found to have its
                    // features.
                    #[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
                    Isa::Avx512Fma if acc.len() >= Self::AVX512_MIN_N => unsafe {
                        avx512::backward::<$t, $long, $short>(c, x, u, part, acc)
                    },
                    #[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
                    Isa::Avx2Fma | Isa::Avx512Fma => unsafe {
                        avx2::backward::<$t, $long, $short>(c, x, u, part, acc)
                    },
                    Isa::Portable => portable::backward::<$t, $long, $short>(c, x, u, part, acc),
                }
            }
        }
    };
}

impl_kernel!(f32, 16, 8, 512);
impl_kernel!(f64, 8, 4, 64);

/// Copies `src` into `dst` (grown to `len + PAD`) in the lane type, then `pad` to the end.
fn load<'a, T: Real, F: Lane>(dst: &'a mut Vec<F>, src: &[T], pad: F) -> &'a mut [F] {
    let buf = take(dst, src.len() + PAD);
    for (d, s) in buf.iter_mut().zip(src) {
        *d = F::from_f64(s.to_f64());
    }
    buf[src.len()..].fill(pad);
    buf
}

/// `c` in the lane type, and the padding of `x` that makes `t = c·(x_i − pad) = −∞`.
fn lane_scale<F: Lane>(c: f64) -> (F, F) {
    let pad = if c > 0.0 { F::INFINITY } else { -F::INFINITY };
    (F::from_f64(c), pad)
}

/// The forward of `rows` rows, computed in the lane type `F`.
fn forward_rows<T: Real, F: Kernel>(
    isa: Isa,
    c: f64,
    rows: usize,
    x: &In<'_, T>,
    r: &mut Out<'_, T>,
) {
    let (cf, pad) = lane_scale::<F>(c);
    F::with_bufs(|b| {
        for i in 0..rows {
            let (x, r) = (x.row(i), r.row(i));
            let xs = load(&mut b.x, x, pad);
            let part = take(&mut b.part, x.len() + PAD);
            part.fill(F::ZERO);
            let acc = take(&mut b.acc, x.len());
            // 1 + (n − 1)/2: the ranks of a row of ties, exact in f64.
            acc.fill(1.0 + 0.5 * x.len().saturating_sub(1) as f64);
            F::forward_pairs(isa, cf, xs, part, acc);
            for (ri, a) in r.iter_mut().zip(acc.iter()) {
                *ri = T::from_f64(*a);
            }
        }
    })
}

/// The backward of `rows` rows, computed in the lane type `F`: writes `g` and the ε-gradient
/// `−⟨g, x⟩/ε` of each row.
///
/// `⟨g, x⟩ = Σ_{i<j} d_ij · t_ij` with `t_ij = c·(x_i − x_j)` and `d_ij = sigmoid'(t_ij)·(u_i −
/// u_j)`, summed pair by pair: `sigmoid'(t)·t` is bounded, so the sum stays finite where a plain
/// `⟨g, x⟩` would not (ties at |x| = 1e300 with ε = 1e-8 give `∞ − ∞` there).
fn backward_rows<T: Real, F: Kernel>(
    isa: Isa,
    (c, eps): (f64, f64),
    rows: usize,
    (x, u): (&In<'_, T>, &In<'_, T>),
    (g, ge): (&mut Out<'_, T>, &mut Out<'_, T>),
) {
    let (cf, pad) = lane_scale::<F>(c);
    F::with_bufs(|b| {
        for i in 0..rows {
            let (x, u, g) = (x.row(i), u.row(i), g.row(i));
            let xs = load(&mut b.x, x, pad);
            let us = load(&mut b.u, u, F::ZERO);
            let part = take(&mut b.part, x.len() + PAD);
            part.fill(F::ZERO);
            let acc = take(&mut b.acc, x.len());
            acc.fill(0.0);
            // sigmoid' is even: each pair adds d to g_i and −d to g_j.
            let dot = F::backward_pairs(isa, cf, xs, us, part, acc);
            for (gi, a) in g.iter_mut().zip(acc.iter()) {
                *gi = T::from_f64(c * a);
            }
            *ge.at(i) = T::from_f64(-dot / eps);
        }
    })
}

/// The JVP of `rows` rows, computed in the lane type `F`: the backward's pairs with the
/// tangent `t' = t − k·(x − x_0)` (`k = t_ε/ε`) as the cotangent; writes `c·Σ_j sigmoid'·(t'_i −
/// t'_j)`.
fn jvp_rows<T: Real, F: Kernel>(
    isa: Isa,
    (c, k): (f64, f64),
    rows: usize,
    (x, t): (&In<'_, T>, &In<'_, T>),
    dr: &mut Out<'_, T>,
) {
    let (cf, pad) = lane_scale::<F>(c);
    F::with_bufs(|b| {
        for i in 0..rows {
            let (x, t, dr) = (x.row(i), t.row(i), dr.row(i));
            let xs = load(&mut b.x, x, pad);
            let us = take(&mut b.u, x.len() + PAD);
            let x0 = x.first().map_or(0.0, |v| v.to_f64());
            for ((u, tv), xv) in us.iter_mut().zip(t).zip(x) {
                *u = F::from_f64(tv.to_f64() - k * (xv.to_f64() - x0));
            }
            us[x.len()..].fill(F::ZERO);
            let part = take(&mut b.part, x.len() + PAD);
            part.fill(F::ZERO);
            let acc = take(&mut b.acc, x.len());
            acc.fill(0.0);
            F::backward_pairs(isa, cf, xs, us, part, acc);
            for (d, a) in dr.iter_mut().zip(acc.iter()) {
                *d = T::from_f64(c * a);
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the kernels computed before they were vectorised (f64, `f64::exp`, each pair once):
    /// ranks, gradient, `⟨g, x⟩`, and per row the sums of the terms' magnitudes (the scale of
    /// each gradient's rounding error).
    struct Reference {
        ranks: Vec<f64>,
        grad: Vec<f64>,
        dot: f64,
        grad_scale: Vec<f64>,
        dot_scale: f64,
    }

    fn reference(c: f64, x: &[f64], u: &[f64]) -> Reference {
        let n = x.len();
        let (mut ranks, mut grad, mut grad_scale) = (vec![1.0; n], vec![0.0; n], vec![0.0; n]);
        let (mut dot, mut dot_scale) = (0.0, 0.0);
        for i in 0..n {
            for j in i + 1..n {
                let t = c * (x[i] - x[j]);
                let e = (-t.abs()).exp();
                let big = 1.0 / (1.0 + e);
                let small = e * big;
                let (p, q) = if t >= 0.0 { (big, small) } else { (small, big) };
                ranks[i] += p;
                ranks[j] += q;
                let slope = small * big;
                let d = slope * (u[i] - u[j]);
                grad[i] += d;
                grad[j] -= d;
                grad_scale[i] += d.abs();
                grad_scale[j] += d.abs();
                if slope != 0.0 {
                    dot += d * t;
                    dot_scale += (d * t).abs();
                }
            }
        }
        for (g, s) in grad.iter_mut().zip(&mut grad_scale) {
            *g *= c;
            *s *= c.abs();
        }
        Reference {
            ranks,
            grad,
            dot,
            grad_scale,
            dot_scale,
        }
    }

    /// The op's row loops on one row of `T` with instruction set `isa`: ranks, gradient and
    /// ε-gradient, widened.
    fn run<T: Real>(isa: Isa, c: f64, eps: f64, x: &[f64], u: &[f64]) -> (Vec<f64>, Vec<f64>, f64) {
        let n = x.len();
        let to_t = |v: &[f64]| v.iter().map(|&a| T::from_f64(a)).collect::<Vec<T>>();
        let (xt, ut) = (to_t(x), to_t(u));
        let (mut r, mut g, mut ge) = (to_t(&vec![0.0; n]), to_t(&vec![0.0; n]), to_t(&[0.0]));
        let (xs, us) = (In::new(&xt, n), In::new(&ut, n));
        let (mut ro, mut go, mut geo) = (
            Out::new(&mut r, n),
            Out::new(&mut g, n),
            Out::new(&mut ge, 1),
        );
        if lanes_f32::<T>(c) {
            forward_rows::<T, f32>(isa, c, 1, &xs, &mut ro);
            backward_rows::<T, f32>(isa, (c, eps), 1, (&xs, &us), (&mut go, &mut geo));
        } else {
            forward_rows::<T, f64>(isa, c, 1, &xs, &mut ro);
            backward_rows::<T, f64>(isa, (c, eps), 1, (&xs, &us), (&mut go, &mut geo));
        }
        let widen = |v: &[T]| v.iter().map(|a| a.to_f64()).collect::<Vec<f64>>();
        (widen(&r), widen(&g), ge[0].to_f64())
    }

    /// Runs row `x` (already representable in `T`) on every instruction set and compares with
    /// the reference within `tol` of each value's scale.
    fn check<T: Real>(what: &str, eps: f64, x: &[f64], u: &[f64], tol: f64) {
        let n = x.len();
        // A term whose exp(−|t|) is below the lane type's normal range is 0 in the kernels: an
        // absolute error of at most 2·MIN_POSITIVE·|c| in a gradient, 2·MIN_POSITIVE·|t| in ⟨g, x⟩
        // (|t| < 710 there).
        let tiny = if T::DTYPE == "f32" {
            f32::MIN_POSITIVE as f64
        } else {
            f64::MIN_POSITIVE
        };
        for c in [1.0 / eps, -1.0 / eps] {
            let want = reference(c, x, u);
            for isa in isas() {
                let (ranks, grad, grad_eps) = run::<T>(isa, c, eps, x, u);
                let at = format!("{what} {} n={n} c={c:e} {isa:?}", T::DTYPE);
                for i in 0..n {
                    let (r, w) = (ranks[i], want.ranks[i]);
                    assert!(
                        (r - w).abs() <= tol * n as f64,
                        "{at}: rank[{i}] {r} vs {w}"
                    );
                    let (g, w) = (grad[i], want.grad[i]);
                    let floor = 2.0 * tiny * c.abs() * n as f64;
                    assert!(
                        (g - w).abs() <= tol * want.grad_scale[i] + floor,
                        "{at}: grad[{i}] {g:e} vs {w:e}"
                    );
                }
                let w = -want.dot / eps;
                let floor = 2.0 * tiny * 710.0 * (n * n) as f64;
                assert!(
                    (grad_eps - w).abs() <= (tol * want.dot_scale + floor) / eps,
                    "{at}: grad_eps {grad_eps:e} vs {w:e}"
                );
            }
        }
    }

    /// Uniform values in `[-1, 1)` from a fixed xorshift stream.
    fn uniform(seed: u64, len: usize) -> Vec<f64> {
        let mut s = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
        (0..len)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                (s >> 11) as f64 / (1u64 << 52) as f64 - 1.0
            })
            .collect()
    }

    fn round32(v: &[f64]) -> Vec<f64> {
        v.iter().map(|&a| a as f32 as f64).collect()
    }

    #[test]
    // Safe arithmetic over many shapes (Miri takes only the portable loops): hours under Miri.
    #[cfg_attr(miri, ignore)]
    fn kernels_match_the_scalar_reference() {
        let sizes = [
            0, 1, 2, 3, 5, 8, 15, 16, 17, 31, 32, 33, 63, 64, 65, 100, 129, 200,
        ];
        for (k, &n) in sizes.iter().enumerate() {
            let (x, u) = (uniform(2 * k as u64, n), uniform(2 * k as u64 + 1, n));
            // Ties: a coarse grid.
            let ties: Vec<f64> = x.iter().map(|v| (v * 4.0).round() / 4.0).collect();
            for eps in [1e-3, 0.1, 1.0, 100.0] {
                check::<f64>("uniform", eps, &x, &u, 1e-13);
                check::<f64>("ties", eps, &ties, &u, 1e-13);
                check::<f32>("uniform", eps, &round32(&x), &round32(&u), 1e-5);
                check::<f32>("ties", eps, &ties, &round32(&u), 1e-5);
            }
        }
        // Rows long enough for several blocks of partial sums along i and along j.
        let (x, u) = (uniform(100, 1100), uniform(101, 1100));
        check::<f64>("long", 0.1, &x, &u, 1e-13);
        check::<f32>("long", 0.1, &round32(&x), &round32(&u), 1e-5);
    }

    #[test]
    fn kernels_saturate_cleanly() {
        // |t| from 0 to ∞: exp(−|t|) underflows, t itself overflows; nothing may be NaN.
        let x64 = [
            1e300, -1e300, 0.0, 1e-300, 3.0, -1e300, 1e300, 2.0, 1e10, -7e299,
        ];
        let x32 = [3e38, -3e38, 0.0, 1e-38, 3.0, -3e38, 3e38, 2.0, 1e10, -7e37];
        let u = uniform(7, x64.len());
        for eps in [1e-8, 1e-3, 1.0, 1e8] {
            check::<f64>("extreme", eps, &x64, &u, 1e-13);
            check::<f32>("extreme", eps, &x32, &round32(&u), 1e-5);
        }
        // ε so small that 1/ε is not a finite f32, or so large that it is not a normal one: f32
        // rows compute in f64.
        let u = round32(&uniform(10, 40));
        for (eps, seed) in [(1e-40, 8), (1e38, 9)] {
            check::<f32>("far eps", eps, &round32(&uniform(seed, 40)), &u, 1e-5);
        }
    }

    /// The HVP's pair loops on every instruction set against a scalar loop with `f64::exp`:
    /// rows of every remainder, ties, and arguments that underflow or overflow.
    #[test]
    #[cfg_attr(miri, ignore)]
    fn hvp_pairs_match_the_scalar_reference() {
        fn reference((c, k): (f64, f64), x: &[f64], u: &[f64], t: &[f64]) -> (Vec<f64>, f64) {
            let n = x.len();
            let (mut acc, mut he) = (vec![0.0; n], 0.0);
            for i in 0..n {
                for j in i + 1..n {
                    let tij = c * (x[i] - x[j]);
                    let e = (-tij.abs()).exp();
                    if e < f64::MIN_POSITIVE {
                        continue;
                    }
                    let sig = if tij >= 0.0 {
                        1.0 / (1.0 + e)
                    } else {
                        e / (1.0 + e)
                    };
                    let s1 = sig * (1.0 - sig);
                    let s2 = s1 * (1.0 - 2.0 * sig);
                    let (a, dt) = (u[i] - u[j], c * (t[i] - t[j]) - k * tij);
                    let term = a * (s2 * dt - k * s1);
                    acc[i] += term;
                    acc[j] -= term;
                    he += a * (k * s1 * tij - (s2 * tij + s1) * dt);
                }
            }
            (acc, he)
        }
        let pad = |v: &[f64]| {
            let mut p = v.to_vec();
            p.resize(v.len() + PAD, 0.0);
            p
        };
        let extreme = [
            1e300, -1e300, 0.0, 1e-300, 3.0, -1e300, 1e300, 2.0, 1e10, -7e299, 1e308, -1e308,
        ];
        let mut rows: Vec<Vec<f64>> = [0, 1, 2, 7, 8, 9, 17, 33, 100]
            .iter()
            .map(|&n| uniform(n as u64 + 300, n))
            .collect();
        rows.push(rows[7].iter().map(|v| (v * 4.0).round() / 4.0).collect());
        rows.push(extreme.to_vec());
        for (r, x) in rows.iter().enumerate() {
            let n = x.len();
            let (u, t) = (uniform(r as u64 + 400, n), uniform(r as u64 + 500, n));
            for eps in [1e-3, 0.3, 1.0, 50.0] {
                for c in [1.0 / eps, -1.0 / eps] {
                    let ck = (c, 0.7 / eps);
                    let (want, want_e) = reference(ck, x, &u, &t);
                    for isa in isas() {
                        let mut acc = vec![0.0; n];
                        let got_e = hvp_pairs_for(isa, ck, (&pad(x), &pad(&u), &pad(&t)), &mut acc);
                        let at = format!("row {r} n={n} c={c:e} {isa:?}");
                        let scale = want.iter().fold(1.0f64, |m, v| m.max(v.abs()));
                        for (g, w) in acc.iter().zip(&want) {
                            assert!((g - w).abs() <= 1e-11 * scale, "{at}: {g:e} vs {w:e}");
                        }
                        let tol = 1e-11 * want_e.abs().max(scale);
                        assert!(
                            (got_e - want_e).abs() <= tol,
                            "{at}: {got_e:e} vs {want_e:e}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn ties_rank_exactly_at_the_middle() {
        for isa in isas() {
            for n in [1, 2, 17, 100] {
                let x = vec![0.75; n];
                let (r64, ..) = run::<f64>(isa, 10.0, 0.1, &x, &x);
                let (r32, ..) = run::<f32>(isa, -10.0, 0.1, &x, &x);
                let mid = (n as f64 + 1.0) / 2.0;
                assert!(r64.iter().chain(&r32).all(|&r| r == mid), "{isa:?} n={n}");
            }
        }
    }
}
