//! `neural_sort`: NeuralSort's relaxed permutation matrix (Grover et al. 2019), O(n²) per row
//! (core only so far, not yet in the spec).
//!
//! Per row `x`: `z = sign·x` (`sign = −1` ascending, `+1` descending), `B_j = Σ_k |z_j − z_k|`,
//! and for `i = 1..n`: `P_{i,·} = softmax_j(((n + 1 − 2i)·z_j − B_j)/τ)`, τ the
//! `regularization_strength`. `P·x` approximates `x` sorted in the chosen direction; as τ → 0
//! each row of P tends to one-hot (for distinct values). The output `p` is `[batch, n, n]`, row
//! `i` of a row's matrix at `p[row·n² + i·n ..]`.
//!
//! - [`forward`]: `B` from one sort and group sums (O(n log n)), then each row of P as a softmax
//!   that never overflows: its largest logit is known without a pass (row `i`'s is at the
//!   `i`-th largest `z`), so each logit less the row max is ≤ 0.
//! - [`backward`]: `D = P ∘ (U − rowsum(P ∘ U))`, `c_j = Σ_i D_ij`, and
//!   `dz_j = (Σ_i (n + 1 − 2i)·D_ij − Σ_k (c_j + c_k)·sgn(z_j − z_k))/τ`, the pairwise sgn term in
//!   O(n log n) from the sorted order (group sums of `c`); `grad_values = sign·dz`. The
//!   τ-gradient is `−Σ_ij D_ij·ℓ_ij/τ` (ℓ the logits less their row max: bounded, where the
//!   equal `−⟨g, x⟩/τ` can overflow).
//! - [`jvp`]: `dP_ij = P_ij·(q_ij − Σ_k P_ik q_ik)` with `q_ij = ((n + 1 − 2i)·dz_j − dB_j −
//!   ℓ_ij·t_τ)/τ`, `dB_j = Σ_k sgn(z_j − z_k)(dz_j − dz_k)`; adjoint to [`backward`].
//! - [`hvp`]: the derivative of [`backward`] along `(t, t_τ)`. `B` is linear between ties, so
//!   only the softmax and τ bend: with `Ũ_ij = U_ij − Σ_k P_ik U_ik`, `q̃_ij = q_ij − Σ_k P_ik
//!   q_ik`, `γ_i = Σ_j P_ij·q̃_ij·Ũ_ij`, `k = t_τ/τ`: `D'_ij = P_ij·(q̃_ij·Ũ_ij − γ_i) − k·D_ij`,
//!   `hvp_values` the backward's map applied to `D'`, and `hvp_regularization_strength =
//!   −(Σ_ij D'_ij·ℓ_ij + Σ_ij D_ij·q_ij)/τ`. O(n²) per row, O(n) scratch.
//!
//! For `P·payload` without forming P (O(n) memory per row) see
//! [`neural_sort_apply`](super::neural_sort_apply).

use std::cell::RefCell;

use crate::check::{Check, Num};
use crate::fastexp::Lane;
use crate::masked::{Layout, Masked};
use crate::scratch::take;
use crate::threads::{run_rows, In, Out};
use crate::{Direction, Error, Real, Shape};

const OP: &str = "neural_sort";

/// Parameters of `neural_sort`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Params<T> {
    /// The temperature τ, finite and > 0.
    pub regularization_strength: T,
    /// Sorting direction: `Ascending` puts the smallest value first (row 1 of P picks it).
    pub direction: Direction,
}

impl<T: Real> Default for Params<T> {
    /// τ = 1, ascending.
    fn default() -> Self {
        Params {
            regularization_strength: T::from_f64(1.0),
            direction: Direction::Ascending,
        }
    }
}

/// The relaxed permutation matrix of each row of `values` (`[batch, n]`) into `permutation_matrix`
/// (`[batch, n, n]`).
///
/// `mask`: which items are present (`None`: all); see [masked rows](crate#masked-rows).
#[allow(clippy::too_many_arguments)]
pub fn forward<T: Real>(
    shape: Shape,
    params: &Params<T>,
    values: &[T],
    mask: Option<&[bool]>,
    permutation_matrix: &mut [T],
) -> Result<(), Error> {
    let Some(mask) = mask else {
        return forward_dense(shape, params, values, permutation_matrix);
    };
    Masked::new(OP, shape, mask)
        .real("values", values, Layout::Items)
        .real_out("permutation_matrix", permutation_matrix, Layout::Square)
        .run(|b, _| {
            let (shape, [values], [], [permutation_matrix], []) = b.split();
            forward_dense(shape, params, values, permutation_matrix)
        })
}

/// [`forward`] without a mask.
fn forward_dense<T: Real>(
    shape: Shape,
    params: &Params<T>,
    values: &[T],
    permutation_matrix: &mut [T],
) -> Result<(), Error> {
    let check = Check::new(OP, shape)?;
    check.matrix("values", values.len())?;
    check.cube("permutation_matrix", permutation_matrix.len())?;
    let tau = tau_and_values(check, params, values)?;

    let n = shape.n;
    if shape.batch == 0 || n == 0 {
        return Ok(());
    }
    let sign = sign(params.direction);
    let inv_tau = 1.0 / tau;
    run_rows(
        shape.batch,
        n * n,
        (In::new(values, n), Out::new(permutation_matrix, n * n)),
        |rows, (x, mut p)| {
            with_bufs(|bf| {
                for r in 0..rows {
                    let (x, p) = (x.row(r), p.row(r));
                    let prep = &mut bf.prep;
                    prep.prepare(x, sign);
                    let e = take(&mut bf.f[0], n);
                    for (ii, p) in p.chunks_exact_mut(n).enumerate() {
                        let row = prep.row(ii, inv_tau);
                        let s = exp_row(row, prep.z(), prep.b(), e);
                        let inv = 1.0 / s;
                        for (pj, ej) in p.iter_mut().zip(e.iter()) {
                            *pj = T::from_f64(ej * inv);
                        }
                    }
                }
            })
        },
    );
    Ok(())
}

/// Vector-Jacobian product of `neural_sort` from the saved `values` and `permutation_matrix` (the forward's
/// output); per row also the τ-gradient into `grad_regularization_strength` (`[batch]`).
///
/// `mask`: which items are present (`None`: all); see [masked rows](crate#masked-rows).
#[allow(clippy::too_many_arguments)]
pub fn backward<T: Real>(
    shape: Shape,
    params: &Params<T>,
    values: &[T],
    mask: Option<&[bool]>,
    permutation_matrix: &[T],
    cotangent_permutation_matrix: &[T],
    grad_values: &mut [T],
    grad_regularization_strength: &mut [T],
) -> Result<(), Error> {
    let Some(mask) = mask else {
        return backward_dense(
            shape,
            params,
            values,
            permutation_matrix,
            cotangent_permutation_matrix,
            grad_values,
            grad_regularization_strength,
        );
    };
    Masked::new(OP, shape, mask)
        .real("values", values, Layout::Items)
        .real("permutation_matrix", permutation_matrix, Layout::Square)
        .real(
            "cotangent_permutation_matrix",
            cotangent_permutation_matrix,
            Layout::Square,
        )
        .real_out("grad_values", grad_values, Layout::Items)
        .real_out(
            "grad_regularization_strength",
            grad_regularization_strength,
            Layout::Row,
        )
        .run(|b, _| {
            let (
                shape,
                [values, permutation_matrix, cotangent_permutation_matrix],
                [],
                [grad_values, grad_regularization_strength],
                [],
            ) = b.split();
            backward_dense(
                shape,
                params,
                values,
                permutation_matrix,
                cotangent_permutation_matrix,
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
    permutation_matrix: &[T],
    cotangent_permutation_matrix: &[T],
    grad_values: &mut [T],
    grad_regularization_strength: &mut [T],
) -> Result<(), Error> {
    let check = Check::new(OP, shape)?;
    check.matrix("values", values.len())?;
    check.cube("permutation_matrix", permutation_matrix.len())?;
    check.cube(
        "cotangent_permutation_matrix",
        cotangent_permutation_matrix.len(),
    )?;
    check.matrix("grad_values", grad_values.len())?;
    check.vector(
        "grad_regularization_strength",
        grad_regularization_strength.len(),
    )?;
    let tau = tau_and_values(check, params, values)?;
    check.probabilities("permutation_matrix", permutation_matrix)?;
    let max_u = check.finite_cube("cotangent_permutation_matrix", cotangent_permutation_matrix)?;
    // |dz| ≤ 8n²·max|U|/τ, |τ-gradient| ≤ 2000n·max|U|/τ (the logits are clamped at −1000).
    let nf = shape.n as f64;
    check.no_overflow(
        "cotangent_permutation_matrix",
        max_u,
        tau,
        max_u * (8.0 * nf).max(2000.0) / tau,
    )?;

    let n = shape.n;
    if shape.batch == 0 {
        return Ok(());
    }
    if n == 0 {
        grad_regularization_strength.fill(T::from_f64(0.0));
        return Ok(());
    }
    let sign = sign(params.direction);
    let inv_tau = 1.0 / tau;
    let bufs = (
        In::new(values, n),
        In::new(permutation_matrix, n * n),
        In::new(cotangent_permutation_matrix, n * n),
        Out::new(grad_values, n),
        Out::new(grad_regularization_strength, 1),
    );
    run_rows(
        shape.batch,
        2 * n * n,
        bufs,
        |rows, (x, p, u, mut g, mut ge)| {
            with_bufs(|bf| {
                for r in 0..rows {
                    let (x, p, u, g) = (x.row(r), p.row(r), u.row(r), g.row(r));
                    let prep = &mut bf.prep;
                    prep.prepare(x, sign);
                    let [f0, f1, f2, f3, f4, ..] = &mut bf.f;
                    let c = take(f0, n);
                    let rr = take(f1, n);
                    c.fill(0.0);
                    rr.fill(0.0);
                    let (pf, uf) = (take(f2, n), take(f3, n));
                    let mut dt = 0.0;
                    for ii in 0..n {
                        widen_into(pf, &p[ii * n..(ii + 1) * n]);
                        widen_into(uf, &u[ii * n..(ii + 1) * n]);
                        let row = prep.row(ii, inv_tau);
                        dt += nsort_backward(row, prep.z(), prep.b(), pf, uf, c, rr);
                    }
                    prep.grad_values((c, rr), take(f4, n), (sign, inv_tau), g);
                    *ge.at(r) = T::from_f64(-dt * inv_tau);
                }
            })
        },
    );
    Ok(())
}

/// Jacobian-vector product of `neural_sort`: `tangent_permutation_matrix = ∂P/∂values · tangent_values +
/// ∂P/∂τ · tangent_regularization_strength`, from the saved `values` and `permutation_matrix`. The τ-tangent is
/// one scalar for the call, like τ itself: `⟨U, jvp(t, t_τ)⟩ = ⟨backward(U), t⟩ + t_τ ·
/// Σ_rows grad_regularization_strength`.
///
/// `mask`: which items are present (`None`: all); see [masked rows](crate#masked-rows).
#[allow(clippy::too_many_arguments)]
pub fn jvp<T: Real>(
    shape: Shape,
    params: &Params<T>,
    values: &[T],
    mask: Option<&[bool]>,
    permutation_matrix: &[T],
    tangent_values: &[T],
    tangent_regularization_strength: T,
    tangent_permutation_matrix: &mut [T],
) -> Result<(), Error> {
    let Some(mask) = mask else {
        return jvp_dense(
            shape,
            params,
            values,
            permutation_matrix,
            tangent_values,
            tangent_regularization_strength,
            tangent_permutation_matrix,
        );
    };
    Masked::new(OP, shape, mask)
        .real("values", values, Layout::Items)
        .real("permutation_matrix", permutation_matrix, Layout::Square)
        .real("tangent_values", tangent_values, Layout::Items)
        .real_out(
            "tangent_permutation_matrix",
            tangent_permutation_matrix,
            Layout::Square,
        )
        .run(|b, _| {
            let (
                shape,
                [values, permutation_matrix, tangent_values],
                [],
                [tangent_permutation_matrix],
                [],
            ) = b.split();
            jvp_dense(
                shape,
                params,
                values,
                permutation_matrix,
                tangent_values,
                tangent_regularization_strength,
                tangent_permutation_matrix,
            )
        })
}

/// [`jvp`] without a mask.
fn jvp_dense<T: Real>(
    shape: Shape,
    params: &Params<T>,
    values: &[T],
    permutation_matrix: &[T],
    tangent_values: &[T],
    tangent_regularization_strength: T,
    tangent_permutation_matrix: &mut [T],
) -> Result<(), Error> {
    let check = Check::new(OP, shape)?;
    check.matrix("values", values.len())?;
    check.cube("permutation_matrix", permutation_matrix.len())?;
    check.matrix("tangent_values", tangent_values.len())?;
    check.cube(
        "tangent_permutation_matrix",
        tangent_permutation_matrix.len(),
    )?;
    let tau = tau_and_values(check, params, values)?;
    check.probabilities("permutation_matrix", permutation_matrix)?;
    let max_t = check.finite("tangent_values", tangent_values)?;
    let t_tau = check.finite_scalar(
        "tangent_regularization_strength",
        tangent_regularization_strength,
    )?;
    tangent_in_range(check, tau, (max_t, t_tau), 1.0)?;

    let n = shape.n;
    if shape.batch == 0 || n == 0 {
        return Ok(());
    }
    let sign = sign(params.direction);
    let inv_tau = 1.0 / tau;
    let bufs = (
        In::new(values, n),
        In::new(permutation_matrix, n * n),
        In::new(tangent_values, n),
        Out::new(tangent_permutation_matrix, n * n),
    );
    run_rows(shape.batch, 2 * n * n, bufs, |rows, (x, p, t, mut dp)| {
        with_bufs(|bf| {
            for r in 0..rows {
                let (x, p, t, dp) = (x.row(r), p.row(r), t.row(r), dp.row(r));
                let prep = &mut bf.prep;
                prep.prepare(x, sign);
                let [f0, f1, f2, f3, f4, ..] = &mut bf.f;
                let (dz, db) = prep.tangents(t, sign, f0, f1);
                let (pf, q, out) = (take(f2, n), take(f3, n), take(f4, n));
                for ii in 0..n {
                    widen_into(pf, &p[ii * n..(ii + 1) * n]);
                    let row = prep.row(ii, inv_tau);
                    nsort_jvp(row, t_tau, (prep.z(), prep.b()), (dz, db), pf, q, out);
                    for (d, o) in dp[ii * n..(ii + 1) * n].iter_mut().zip(out.iter()) {
                        *d = T::from_f64(*o);
                    }
                }
            }
        })
    });
    Ok(())
}

/// Hessian-vector product of `neural_sort`: the derivative of [`backward`] (at the fixed
/// cotangent `U`) along `(tangent_values, tangent_regularization_strength)`, from the saved
/// `values` and `permutation_matrix`.
///
/// The logits `L = N(z)/τ` are linear in `z` between ties (`B` is piecewise linear), so the
/// curvature is the softmax's and τ's. Per row `i` of P, with the logit tangent `q` of [`jvp`],
/// `Ũ_ij = U_ij − Σ_k P_ik U_ik`, `D_ij = P_ij·Ũ_ij` (the backward's), `q̃_ij = q_ij − Σ_k P_ik
/// q_ik`, `γ_i = Σ_j P_ij·q̃_ij·Ũ_ij` and `k = t_τ/τ`:
///
/// - `D'_ij = P_ij·(q̃_ij·Ũ_ij − γ_i) − k·D_ij` (the derivative of `D`, and of the backward's
///   `1/τ`);
/// - `hvp_values` is the backward's map applied to `D'`: `c'_j = Σ_i D'_ij`, `r'_j = Σ_i (n + 1
///   − 2i)·D'_ij`, `dz'_j = (r'_j − Σ_k (c'_j + c'_k)·sgn(z_j − z_k))/τ`, times `sign`;
/// - `hvp_regularization_strength = −(Σ_ij D'_ij·ℓ_ij + Σ_ij D_ij·q_ij)/τ`.
///
/// O(n²) per row with O(n) scratch, like the backward. Symmetric: `⟨(w, c), hvp(t, s)⟩ = ⟨(t,
/// s), hvp(w, c)⟩` summed over the rows.
///
/// `mask`: which items are present (`None`: all); see [masked rows](crate#masked-rows).
#[allow(clippy::too_many_arguments)]
pub fn hvp<T: Real>(
    shape: Shape,
    params: &Params<T>,
    values: &[T],
    mask: Option<&[bool]>,
    permutation_matrix: &[T],
    cotangent_permutation_matrix: &[T],
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
            permutation_matrix,
            cotangent_permutation_matrix,
            tangent_values,
            tangent_regularization_strength,
            hvp_values,
            hvp_regularization_strength,
        );
    };
    Masked::new(OP, shape, mask)
        .real("values", values, Layout::Items)
        .real("permutation_matrix", permutation_matrix, Layout::Square)
        .real(
            "cotangent_permutation_matrix",
            cotangent_permutation_matrix,
            Layout::Square,
        )
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
                [values, permutation_matrix, cotangent_permutation_matrix, tangent_values],
                [],
                [hvp_values, hvp_regularization_strength],
                [],
            ) = b.split();
            hvp_dense(
                shape,
                params,
                values,
                permutation_matrix,
                cotangent_permutation_matrix,
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
    permutation_matrix: &[T],
    cotangent_permutation_matrix: &[T],
    tangent_values: &[T],
    tangent_regularization_strength: T,
    hvp_values: &mut [T],
    hvp_regularization_strength: &mut [T],
) -> Result<(), Error> {
    let check = Check::new(OP, shape)?;
    check.matrix("values", values.len())?;
    check.cube("permutation_matrix", permutation_matrix.len())?;
    check.cube(
        "cotangent_permutation_matrix",
        cotangent_permutation_matrix.len(),
    )?;
    check.matrix("tangent_values", tangent_values.len())?;
    check.matrix("hvp_values", hvp_values.len())?;
    check.vector(
        "hvp_regularization_strength",
        hvp_regularization_strength.len(),
    )?;
    let tau = tau_and_values(check, params, values)?;
    check.probabilities("permutation_matrix", permutation_matrix)?;
    let max_u = check.finite_cube("cotangent_permutation_matrix", cotangent_permutation_matrix)?;
    let max_t = check.finite("tangent_values", tangent_values)?;
    let t_tau = check.finite_scalar(
        "tangent_regularization_strength",
        tangent_regularization_strength,
    )?;
    hvp_in_range(check, tau, max_u, (max_t, t_tau))?;

    let n = shape.n;
    if shape.batch == 0 {
        return Ok(());
    }
    if n == 0 {
        hvp_regularization_strength.fill(T::from_f64(0.0));
        return Ok(());
    }
    let sign = sign(params.direction);
    let inv_tau = 1.0 / tau;
    let bufs = (
        In::new(values, n),
        In::new(permutation_matrix, n * n),
        In::new(cotangent_permutation_matrix, n * n),
        In::new(tangent_values, n),
        Out::new(hvp_values, n),
        Out::new(hvp_regularization_strength, 1),
    );
    run_rows(
        shape.batch,
        3 * n * n,
        bufs,
        |rows, (x, p, u, t, mut h, mut he)| {
            with_bufs(|bf| {
                for r in 0..rows {
                    let (x, p, u, t) = (x.row(r), p.row(r), u.row(r), t.row(r));
                    let prep = &mut bf.prep;
                    prep.prepare(x, sign);
                    let [f0, f1, f2, f3, f4, f5, f6, f7, ..] = &mut bf.f;
                    let (dz, db) = prep.tangents(t, sign, f0, f1);
                    let (c, rr) = (take(f2, n), take(f3, n));
                    c.fill(0.0);
                    rr.fill(0.0);
                    let (pf, uf, q) = (take(f4, n), take(f5, n), take(f6, n));
                    let mut acc = 0.0;
                    for ii in 0..n {
                        widen_into(pf, &p[ii * n..(ii + 1) * n]);
                        widen_into(uf, &u[ii * n..(ii + 1) * n]);
                        let row = prep.row(ii, inv_tau);
                        let zb = (prep.z(), prep.b());
                        acc += nsort_hvp(row, t_tau, zb, (dz, db), (pf, uf), q, (c, rr));
                    }
                    prep.grad_values((c, rr), take(f7, n), (sign, inv_tau), h.row(r));
                    *he.at(r) = T::from_f64(-acc * inv_tau);
                }
            })
        },
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Shared with `neural_sort_apply`.

/// `z = sign·x`: `−1` ascending, `+1` descending.
pub(crate) fn sign(direction: Direction) -> f64 {
    match direction {
        Direction::Ascending => -1.0,
        Direction::Descending => 1.0,
    }
}

/// τ and `values` as every kernel of `neural_sort` and `neural_sort_apply` checks them (τ
/// first, then `values` finite, then [`values_in_range`]); returns τ.
pub(crate) fn tau_and_values<T: Real>(
    check: Check,
    params: &Params<T>,
    values: &[T],
) -> Result<f64, Error> {
    let tau = check.strength(params.regularization_strength)?;
    let max_x = check.finite("values", values)?;
    values_in_range(check, max_x)?;
    Ok(tau)
}

/// The logits' numerators `(n + 1 − 2i)·z_j − B_j` are at most `6n·max|x|` in magnitude: refuse
/// values for which that overflows (|x| near f64's largest, or f32's times n).
pub(crate) fn values_in_range(check: Check, max_x: f64) -> Result<(), Error> {
    let n = check.shape.n as f64;
    if !(6.0 * n * max_x).is_finite() {
        return Err(Error::invalid_argument(
            check.op,
            format_args!(
                "values are too large: 6 × n × max |values| overflows (max |values| = {}, n = {})",
                Num(max_x),
                check.shape.n
            ),
        ));
    }
    Ok(())
}

/// The logit tangents `q = ((n + 1 − 2i)·dz − dB − ℓ·t_τ)/τ` are at most `(3n·max|t| + 1000·
/// |t_τ|)/τ` (ℓ clamped at −1000) and an output tangent `2·scale·max|q|`: refuse what overflows.
pub(crate) fn tangent_in_range(
    check: Check,
    tau: f64,
    (max_t, t_tau): (f64, f64),
    scale: f64,
) -> Result<(), Error> {
    let n = check.shape.n as f64;
    check.no_overflow("tangent_values", max_t, tau, 6.0 * n * max_t * scale / tau)?;
    let max_q = (3.0 * n * max_t + 1000.0 * t_tau.abs()) / tau;
    check.no_overflow(
        "tangent_regularization_strength",
        t_tau.abs(),
        tau,
        2.0 * max_q * scale,
    )
}

/// The HVP's terms are the JVP's logit tangents times the backward's cotangent: with
/// `max|q| ≤ (3n·max|t| + 1000·|t_τ|)/τ` (see [`tangent_in_range`]), `|D'_ij| ≤ P_ij·max|U|·(8
/// max|q| + 2|t_τ|/τ)`; refuse what the backward's bound would overflow with that in place of
/// `max|U|` (and the tangents' own bounds, as the JVP).
pub(crate) fn hvp_in_range(
    check: Check,
    tau: f64,
    max_u: f64,
    (max_t, t_tau): (f64, f64),
) -> Result<(), Error> {
    let n = check.shape.n as f64;
    let name = check_name_cotangent(check.op);
    check.no_overflow(name, max_u, tau, max_u * (8.0 * n).max(2000.0) / tau)?;
    tangent_in_range(check, tau, (max_t, t_tau), 1.0)?;
    let max_q = (3.0 * n * max_t + 1000.0 * t_tau.abs()) / tau;
    let max_d = max_u * (8.0 * max_q + 2.0 * t_tau.abs() / tau);
    let bound = (max_d * (8.0 * n).max(2000.0) + 2.0 * max_u * max_q * n) / tau;
    let (name, max) = if 3.0 * n * max_t >= 1000.0 * t_tau.abs() {
        ("tangent_values", max_t)
    } else {
        ("tangent_regularization_strength", t_tau.abs())
    };
    check.no_overflow(name, max, tau, bound)
}

/// The cotangent's name in each op's messages.
fn check_name_cotangent(op: &str) -> &'static str {
    if op == OP {
        "cotangent_permutation_matrix"
    } else {
        "cotangent_output"
    }
}

/// One row of P: its weight `w = n + 1 − 2i`, the position `at` of its largest logit (the
/// `i`-th largest `z`), and `1/τ`.
///
/// The loops measure what they sum against the value at `at` (`u_j − u_at`, `y_j − y_at`,
/// `q_j − q_at`; a softmax row's weighted mean does not change): where the row is nearly
/// one-hot, `Σ_k P_k (u_k − u_at)` is small and exact to its own precision, where `Σ_k P_k u_k`
/// would round away everything below `eps·|u_at|`.
#[derive(Clone, Copy)]
pub(crate) struct Row {
    pub w: f64,
    pub at: usize,
    pub inv_tau: f64,
}

/// A row of values prepared for its n softmax rows.
#[derive(Default)]
pub(crate) struct Prep {
    /// `sign·x` less the midpoint of its range (P does not change: `B` does not, and the
    /// logits of a softmax row move together), so no precision is lost to an offset.
    pub z: Vec<f64>,
    /// `B_j = Σ_k |z_j − z_k|`.
    pub b: Vec<f64>,
    /// `Σ_k sgn(z_j − z_k)`: the count below less the count above.
    pub cnt: Vec<f64>,
    /// Positions in ascending order of `z`.
    pub order: Vec<u32>,
    /// The row length (the buffers may be longer).
    pub n: usize,
}

impl Prep {
    /// Fills `z`, `order`, `cnt` and `b` for the row `x`.
    pub fn prepare<T: Real>(&mut self, x: &[T], sign: f64) {
        let n = x.len();
        self.n = n;
        let (lo, hi) = x
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), v| {
                let v = sign * v.to_f64();
                (l.min(v), h.max(v))
            });
        let mid = 0.5 * lo + 0.5 * hi;
        let z = take(&mut self.z, n);
        for (z, v) in z.iter_mut().zip(x) {
            *z = sign * v.to_f64() - mid;
        }
        let order = take(&mut self.order, n);
        for (k, o) in order.iter_mut().enumerate() {
            *o = k as u32;
        }
        order.sort_unstable_by(|&a, &b| z[a as usize].total_cmp(&z[b as usize]));
        let cnt = take(&mut self.cnt, n);
        for_groups(order, z, |start, end| {
            let c = start as f64 - (n - end) as f64;
            for &o in &order[start..end] {
                cnt[o as usize] = c;
            }
        });
        let b = take(&mut self.b, n);
        signed_sums(order, z, z, b);
        for j in 0..n {
            b[j] = z[j] * cnt[j] - b[j];
        }
    }

    /// Row `ii` (0-based) of P.
    #[inline]
    pub fn row(&self, ii: usize, inv_tau: f64) -> Row {
        let n = self.n;
        let at = self.order[n - 1 - ii] as usize;
        Row {
            w: (n - 1) as f64 - 2.0 * ii as f64,
            at,
            inv_tau,
        }
    }

    /// `z` of the row.
    #[inline]
    pub fn z(&self) -> &[f64] {
        &self.z[..self.n]
    }

    /// `B` of the row.
    #[inline]
    pub fn b(&self) -> &[f64] {
        &self.b[..self.n]
    }

    /// `Σ_k sgn(z_j − z_k)` of the row.
    #[inline]
    pub fn cnt(&self) -> &[f64] {
        &self.cnt[..self.n]
    }

    /// `out_j = Σ_k sgn(z_j − z_k)·a_k` (O(n) from the sorted order).
    pub fn signed_sums(&self, a: &[f64], out: &mut [f64]) {
        signed_sums(&self.order[..self.n], self.z(), a, out)
    }

    /// A row's `grad_values = sign·dz` from `c_j = Σ_i D_ij` and `rr_j = Σ_i (n + 1 − 2i)·D_ij`:
    /// `dz_j = (rr_j − Σ_k (c_j + c_k)·sgn(z_j − z_k))/τ`, the sgn term from the sorted order
    /// (`sc` its scratch).
    pub fn grad_values<T: Real>(
        &self,
        (c, rr): (&[f64], &[f64]),
        sc: &mut [f64],
        (sign, inv_tau): (f64, f64),
        g: &mut [T],
    ) {
        self.signed_sums(c, sc);
        let cnt = self.cnt();
        for j in 0..self.n {
            let dz = (rr[j] - (c[j] * cnt[j] + sc[j])) * inv_tau;
            g[j] = T::from_f64(sign * dz);
        }
    }

    /// The tangents of `z` (`sign·t`) and of `B` (`dB_j = Σ_k sgn(z_j − z_k)(dz_j − dz_k)`) in
    /// `f0`, `f1`.
    pub fn tangents<'a, T: Real>(
        &self,
        t: &[T],
        sign: f64,
        f0: &'a mut Vec<f64>,
        f1: &'a mut Vec<f64>,
    ) -> (&'a [f64], &'a [f64]) {
        let n = t.len();
        let dz = take(f0, n);
        for (d, v) in dz.iter_mut().zip(t) {
            *d = sign * v.to_f64();
        }
        let db = take(f1, n);
        self.signed_sums(dz, db);
        let cnt = self.cnt();
        for j in 0..n {
            db[j] = dz[j] * cnt[j] - db[j];
        }
        (dz, db)
    }
}

/// Calls `f(start, end)` for each group of equal `z` in the sorted `order`.
fn for_groups(order: &[u32], z: &[f64], mut f: impl FnMut(usize, usize)) {
    let n = order.len();
    let mut start = 0;
    while start < n {
        let v = z[order[start] as usize];
        let mut end = start + 1;
        while end < n && z[order[end] as usize] == v {
            end += 1;
        }
        f(start, end);
        start = end;
    }
}

/// `out_j = Σ_{z_k < z_j} a_k − Σ_{z_k > z_j} a_k`: the sums below and above each group, each
/// accumulated from its own end (no cancellation against a total).
fn signed_sums(order: &[u32], z: &[f64], a: &[f64], out: &mut [f64]) {
    let mut below = 0.0;
    for_groups(order, z, |start, end| {
        let mut group = 0.0;
        for &o in &order[start..end] {
            out[o as usize] = below;
            group += a[o as usize];
        }
        below += group;
    });
    // Groups from the top: the same groups, found from the other end.
    let n = order.len();
    let mut above = 0.0;
    let mut end = n;
    while end > 0 {
        let v = z[order[end - 1] as usize];
        let mut start = end - 1;
        while start > 0 && z[order[start - 1] as usize] == v {
            start -= 1;
        }
        let mut group = 0.0;
        for &o in &order[start..end] {
            out[o as usize] -= above;
            group += a[o as usize];
        }
        above += group;
        end = start;
    }
}

/// Widens a row of `T` into `dst` (as long).
#[inline]
pub(crate) fn widen_into<T: Real>(dst: &mut [f64], src: &[T]) {
    for (d, s) in dst.iter_mut().zip(src) {
        *d = s.to_f64();
    }
}

/// Per-thread buffers: a prepared row and row-length scratch.
#[derive(Default)]
pub(crate) struct Bufs {
    pub prep: Prep,
    pub f: [Vec<f64>; 9],
}

/// Runs `f` with this thread's buffers (fresh ones if they are in use, which only a re-entrant
/// call could cause).
pub(crate) fn with_bufs<R>(f: impl FnOnce(&mut Bufs) -> R) -> R {
    thread_local! {
        static BUFS: RefCell<Bufs> = RefCell::new(Bufs::default());
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

// ---------------------------------------------------------------------------------------------
// The row loops: branch-free over j in chunks of `L` lanes (so they vectorise), compiled for
// AVX2 + FMA where the CPU has it and for the baseline otherwise.

/// Lanes per chunk: two AVX2 vectors of f64.
const L: usize = 8;

/// The logit of column `j` less the row max, times `1/τ`: ≤ 0 (up to rounding, clamped), and
/// clamped at −1000 (where the exp is 0 either way), so `ℓ·0 = 0` and no product overflows.
#[inline(always)]
fn logit<const FMA: bool>(r: Row, m: f64, z: f64, b: f64) -> f64 {
    let t = (f64::madd::<FMA>(r.w, z, -b) - m) * r.inv_tau;
    let t = if t > 0.0 { 0.0 } else { t };
    if t < -1000.0 {
        -1000.0
    } else {
        t
    }
}

/// The row max of the numerators, computed as [`logit`] computes each.
#[inline(always)]
fn row_max<const FMA: bool>(r: Row, z: &[f64], b: &[f64]) -> f64 {
    f64::madd::<FMA>(r.w, z[r.at], -b[r.at])
}

#[inline(always)]
fn chunk(s: &[f64], j: usize) -> &[f64; L] {
    s[j..j + L].try_into().expect("L lanes")
}

#[inline(always)]
fn chunk_mut(s: &mut [f64], j: usize) -> &mut [f64; L] {
    (&mut s[j..j + L]).try_into().expect("L lanes")
}

#[inline(always)]
fn lane_sum(a: [f64; L]) -> f64 {
    ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]))
}

/// `e_j = exp(ℓ_j)` (when `WRITE`) and `(Σ_j e_j, Σ_j e_j·(y_j − y_at))` (the second when
/// `DOT`).
#[inline(always)]
fn exp_pass<const FMA: bool, const WRITE: bool, const DOT: bool>(
    r: Row,
    z: &[f64],
    b: &[f64],
    y: &[f64],
    e: &mut [f64],
) -> (f64, f64) {
    let n = z.len();
    let m = row_max::<FMA>(r, z, b);
    let y0 = if DOT { y[r.at] } else { 0.0 };
    let (mut s, mut d) = ([0.0; L], [0.0; L]);
    let full = n - n % L;
    for j in (0..full).step_by(L) {
        let (zc, bc) = (chunk(z, j), chunk(b, j));
        let mut v = [0.0; L];
        for k in 0..L {
            v[k] = f64::exp_nonpositive::<FMA>(logit::<FMA>(r, m, zc[k], bc[k]));
            s[k] += v[k];
        }
        if DOT {
            let yc = chunk(y, j);
            for k in 0..L {
                d[k] += v[k] * (yc[k] - y0);
            }
        }
        if WRITE {
            *chunk_mut(e, j) = v;
        }
    }
    for j in full..n {
        let v = f64::exp_nonpositive::<FMA>(logit::<FMA>(r, m, z[j], b[j]));
        s[j - full] += v;
        if DOT {
            d[j - full] += v * (y[j] - y0);
        }
        if WRITE {
            e[j] = v;
        }
    }
    (lane_sum(s), lane_sum(d))
}

#[inline(always)]
fn exp_row_impl<const FMA: bool>(r: Row, z: &[f64], b: &[f64], e: &mut [f64]) -> f64 {
    exp_pass::<FMA, true, false>(r, z, b, &[], e).0
}

#[inline(always)]
fn exp_dot_impl<const FMA: bool>(r: Row, z: &[f64], b: &[f64], y: &[f64]) -> (f64, f64) {
    exp_pass::<FMA, false, true>(r, z, b, y, &mut [])
}

#[inline(always)]
fn exp_row_dot_impl<const FMA: bool>(
    r: Row,
    z: &[f64],
    b: &[f64],
    y: &[f64],
    e: &mut [f64],
) -> (f64, f64) {
    exp_pass::<FMA, true, true>(r, z, b, y, e)
}

/// One row `i` of the neural_sort backward: `D_ij = P_ij·(U_ij − Σ_k P_ik U_ik)` (measured from
/// `U_i,at`) added into `c_j` and `w·D_ij` into `r_j`; returns `Σ_j D_ij·ℓ_ij`.
#[inline(always)]
fn nsort_backward_impl<const FMA: bool>(
    r: Row,
    z: &[f64],
    b: &[f64],
    p: &[f64],
    u: &[f64],
    c: &mut [f64],
    rr: &mut [f64],
) -> f64 {
    let n = z.len();
    let full = n - n % L;
    let u0 = u[r.at];
    let mut s = [0.0; L];
    for j in (0..full).step_by(L) {
        let (pc, uc) = (chunk(p, j), chunk(u, j));
        for k in 0..L {
            s[k] += pc[k] * (uc[k] - u0);
        }
    }
    for j in full..n {
        s[j - full] += p[j] * (u[j] - u0);
    }
    let s = lane_sum(s);
    let m = row_max::<FMA>(r, z, b);
    let mut dt = [0.0; L];
    for j in (0..full).step_by(L) {
        let (zc, bc, pc, uc) = (chunk(z, j), chunk(b, j), chunk(p, j), chunk(u, j));
        let mut d = [0.0; L];
        for k in 0..L {
            d[k] = pc[k] * ((uc[k] - u0) - s);
            dt[k] += d[k] * logit::<FMA>(r, m, zc[k], bc[k]);
        }
        let cc = chunk_mut(c, j);
        for k in 0..L {
            cc[k] += d[k];
        }
        let rc = chunk_mut(rr, j);
        for k in 0..L {
            rc[k] = f64::madd::<FMA>(r.w, d[k], rc[k]);
        }
    }
    for j in full..n {
        let d = p[j] * ((u[j] - u0) - s);
        dt[j - full] += d * logit::<FMA>(r, m, z[j], b[j]);
        c[j] += d;
        rr[j] = f64::madd::<FMA>(r.w, d, rr[j]);
    }
    lane_sum(dt)
}

/// The logit tangent `q_j = (w·dz_j − dB_j − ℓ_j·t_τ)·(1/τ)`.
#[inline(always)]
fn q_of<const FMA: bool>(
    r: Row,
    m: f64,
    t_tau: f64,
    (z, b): (f64, f64),
    (dz, db): (f64, f64),
) -> f64 {
    let l = logit::<FMA>(r, m, z, b);
    (f64::madd::<FMA>(r.w, dz, -db) - l * t_tau) * r.inv_tau
}

/// One row `i` of the neural_sort JVP: `out_j = P_ij·(q_j − Σ_k P_ik q_k)` (`q` scratch, measured
/// from `q_at`).
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn nsort_jvp_impl<const FMA: bool>(
    r: Row,
    t_tau: f64,
    (z, b): (&[f64], &[f64]),
    (dz, db): (&[f64], &[f64]),
    p: &[f64],
    q: &mut [f64],
    out: &mut [f64],
) -> f64 {
    let n = z.len();
    let m = row_max::<FMA>(r, z, b);
    let full = n - n % L;
    let q0 = q_of::<FMA>(r, m, t_tau, (z[r.at], b[r.at]), (dz[r.at], db[r.at]));
    let mut s = [0.0; L];
    for j in (0..full).step_by(L) {
        let (zc, bc, dzc, dbc, pc) = (
            chunk(z, j),
            chunk(b, j),
            chunk(dz, j),
            chunk(db, j),
            chunk(p, j),
        );
        let mut qv = [0.0; L];
        for k in 0..L {
            qv[k] = q_of::<FMA>(r, m, t_tau, (zc[k], bc[k]), (dzc[k], dbc[k])) - q0;
            s[k] += pc[k] * qv[k];
        }
        *chunk_mut(q, j) = qv;
    }
    for j in full..n {
        q[j] = q_of::<FMA>(r, m, t_tau, (z[j], b[j]), (dz[j], db[j])) - q0;
        s[j - full] += p[j] * q[j];
    }
    let s = lane_sum(s);
    for j in 0..n {
        out[j] = p[j] * (q[j] - s);
    }
    s
}

/// One row `i` of the neural_sort HVP (`q` scratch): `D'_j = P_j·(q̃_j·Ũ_j − γ) − k·D_j` added
/// into `c_j` and `w·D'_j` into `r_j` (`Ũ`, `q̃` measured from the row's `at`, see [`Row`]);
/// returns `Σ_j D'_j·ℓ_j + D_j·q_j`.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn nsort_hvp_impl<const FMA: bool>(
    r: Row,
    t_tau: f64,
    (z, b): (&[f64], &[f64]),
    (dz, db): (&[f64], &[f64]),
    (p, u): (&[f64], &[f64]),
    q: &mut [f64],
    (c, rr): (&mut [f64], &mut [f64]),
) -> f64 {
    let n = z.len();
    let m = row_max::<FMA>(r, z, b);
    let (u0, q0) = (
        u[r.at],
        q_of::<FMA>(r, m, t_tau, (z[r.at], b[r.at]), (dz[r.at], db[r.at])),
    );
    let (mut su, mut sq) = (0.0, 0.0);
    for j in 0..n {
        q[j] = q_of::<FMA>(r, m, t_tau, (z[j], b[j]), (dz[j], db[j])) - q0;
        su += p[j] * (u[j] - u0);
        sq += p[j] * q[j];
    }
    let mut gamma = 0.0;
    for j in 0..n {
        gamma += p[j] * (q[j] - sq) * ((u[j] - u0) - su);
    }
    let k = t_tau * r.inv_tau;
    let mut acc = 0.0;
    for j in 0..n {
        let ut = (u[j] - u0) - su;
        let d = p[j] * ut;
        let dd = p[j] * ((q[j] - sq) * ut - gamma) - k * d;
        c[j] += dd;
        rr[j] = f64::madd::<FMA>(r.w, dd, rr[j]);
        acc += dd * logit::<FMA>(r, m, z[j], b[j]) + d * q[j];
    }
    acc
}

/// One row `i` of the neural_sort_apply HVP (`e` the row's exps, `inv_s` 1/their sum, `v` the
/// cotangent of output `i`, `o` output `i` less `y_at`, `q` scratch): with `ỹ_j = y_j −
/// output_i`, `γ = Σ_j P_j·q̃_j·ỹ_j` and `dout` the JVP's output tangent, adds `v·P_j·q̃_j` into
/// `a_j` and `D'_j = v·P_j·(q̃_j·ỹ_j + dy_j − dout) − k·D_j` (`D_j = v·P_j·ỹ_j`, the backward's)
/// into `c_j`, `w·D'_j` into `r_j`; returns `Σ_j D'_j·ℓ_j + D_j·q_j`.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn apply_hvp_impl<const FMA: bool>(
    r: Row,
    (t_tau, v, inv_s, o): (f64, f64, f64, f64),
    (z, b, y, e): (&[f64], &[f64], &[f64], &[f64]),
    (dz, db, dy): (&[f64], &[f64], &[f64]),
    q: &mut [f64],
    (a, c, rr): (&mut [f64], &mut [f64], &mut [f64]),
) -> f64 {
    let n = z.len();
    let m = row_max::<FMA>(r, z, b);
    let full = n - n % L;
    let (y0, dy0, q0) = (
        y[r.at],
        dy[r.at],
        q_of::<FMA>(r, m, t_tau, (z[r.at], b[r.at]), (dz[r.at], db[r.at])),
    );
    // Σ e·q, Σ e·(dy − dy_at), Σ e·q·ỹ, Σ e·ỹ (≈ 0: it corrects γ for q's offset).
    let (mut sq, mut sdy, mut g1, mut g2) = ([0.0; L], [0.0; L], [0.0; L], [0.0; L]);
    for j in (0..full).step_by(L) {
        let (zc, bc, yc, ec) = (chunk(z, j), chunk(b, j), chunk(y, j), chunk(e, j));
        let (dzc, dbc, dyc) = (chunk(dz, j), chunk(db, j), chunk(dy, j));
        let mut qv = [0.0; L];
        for k in 0..L {
            qv[k] = q_of::<FMA>(r, m, t_tau, (zc[k], bc[k]), (dzc[k], dbc[k])) - q0;
            let yt = (yc[k] - y0) - o;
            sq[k] += ec[k] * qv[k];
            sdy[k] += ec[k] * (dyc[k] - dy0);
            g1[k] += ec[k] * qv[k] * yt;
            g2[k] += ec[k] * yt;
        }
        *chunk_mut(q, j) = qv;
    }
    for j in full..n {
        q[j] = q_of::<FMA>(r, m, t_tau, (z[j], b[j]), (dz[j], db[j])) - q0;
        let yt = (y[j] - y0) - o;
        let k = j - full;
        sq[k] += e[j] * q[j];
        sdy[k] += e[j] * (dy[j] - dy0);
        g1[k] += e[j] * q[j] * yt;
        g2[k] += e[j] * yt;
    }
    let (sq, sdy) = (lane_sum(sq) * inv_s, lane_sum(sdy) * inv_s);
    let gamma = (lane_sum(g1) - sq * lane_sum(g2)) * inv_s;
    let k = t_tau * r.inv_tau;
    let vs = v * inv_s;
    let shift = sdy + gamma;
    let mut acc = [0.0; L];
    for j in (0..full).step_by(L) {
        let (zc, bc, yc, ec) = (chunk(z, j), chunk(b, j), chunk(y, j), chunk(e, j));
        let (dyc, qc) = (chunk(dy, j), chunk(q, j));
        let (mut qt, mut dd) = ([0.0; L], [0.0; L]);
        for l in 0..L {
            let pv = vs * ec[l];
            let yt = (yc[l] - y0) - o;
            qt[l] = pv * (qc[l] - sq);
            let d = pv * yt;
            dd[l] = qt[l] * yt + pv * ((dyc[l] - dy0) - shift) - k * d;
            acc[l] += dd[l] * logit::<FMA>(r, m, zc[l], bc[l]) + d * qc[l];
        }
        let ac = chunk_mut(a, j);
        for l in 0..L {
            ac[l] += qt[l];
        }
        let cc = chunk_mut(c, j);
        for l in 0..L {
            cc[l] += dd[l];
        }
        let rc = chunk_mut(rr, j);
        for l in 0..L {
            rc[l] = f64::madd::<FMA>(r.w, dd[l], rc[l]);
        }
    }
    for j in full..n {
        let pv = vs * e[j];
        let yt = (y[j] - y0) - o;
        let qt = pv * (q[j] - sq);
        let d = pv * yt;
        let dd = qt * yt + pv * ((dy[j] - dy0) - shift) - k * d;
        acc[j - full] += dd * logit::<FMA>(r, m, z[j], b[j]) + d * q[j];
        a[j] += qt;
        c[j] += dd;
        rr[j] = f64::madd::<FMA>(r.w, dd, rr[j]);
    }
    lane_sum(acc)
}

/// One row `i` of the neural_sort_apply backward (`e` the row's exps, `inv_s` 1/their sum, `v`
/// the cotangent of output `i`, `o` output `i` less `y_at`): with `q = v·P_ij`, adds `q` into
/// `a_j`, `d = q·(y_j − output_i)` into `c_j` and `w·d` into `r_j`; returns `Σ_j d·ℓ_ij`.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn apply_backward_impl<const FMA: bool>(
    r: Row,
    (inv_s, v, o): (f64, f64, f64),
    (z, b, y, e): (&[f64], &[f64], &[f64], &[f64]),
    a: &mut [f64],
    c: &mut [f64],
    rr: &mut [f64],
) -> f64 {
    let n = z.len();
    let m = row_max::<FMA>(r, z, b);
    let full = n - n % L;
    let vs = v * inv_s;
    let y0 = y[r.at];
    let mut dt = [0.0; L];
    for j in (0..full).step_by(L) {
        let (zc, bc, yc, ec) = (chunk(z, j), chunk(b, j), chunk(y, j), chunk(e, j));
        let (mut q, mut d) = ([0.0; L], [0.0; L]);
        for k in 0..L {
            q[k] = vs * ec[k];
            d[k] = q[k] * ((yc[k] - y0) - o);
            dt[k] += d[k] * logit::<FMA>(r, m, zc[k], bc[k]);
        }
        let ac = chunk_mut(a, j);
        for k in 0..L {
            ac[k] += q[k];
        }
        let cc = chunk_mut(c, j);
        for k in 0..L {
            cc[k] += d[k];
        }
        let rc = chunk_mut(rr, j);
        for k in 0..L {
            rc[k] = f64::madd::<FMA>(r.w, d[k], rc[k]);
        }
    }
    for j in full..n {
        let q = vs * e[j];
        let d = q * ((y[j] - y0) - o);
        dt[j - full] += d * logit::<FMA>(r, m, z[j], b[j]);
        a[j] += q;
        c[j] += d;
        rr[j] = f64::madd::<FMA>(r.w, d, rr[j]);
    }
    lane_sum(dt)
}

/// One row `i` of the neural_sort_apply JVP (`o` output `i` less `y_at`):
/// `Σ_j e_j·(dy_j + (q_j − q_at)·(y_j − output_i))` (times `1/Σe`, the output tangent).
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn apply_jvp_impl<const FMA: bool>(
    r: Row,
    (t_tau, o): (f64, f64),
    (z, b, y, e): (&[f64], &[f64], &[f64], &[f64]),
    (dz, db, dy): (&[f64], &[f64], &[f64]),
) -> f64 {
    let n = z.len();
    let m = row_max::<FMA>(r, z, b);
    let full = n - n % L;
    let (y0, q0) = (
        y[r.at],
        q_of::<FMA>(r, m, t_tau, (z[r.at], b[r.at]), (dz[r.at], db[r.at])),
    );
    let mut s = [0.0; L];
    for j in (0..full).step_by(L) {
        let (zc, bc, yc, ec) = (chunk(z, j), chunk(b, j), chunk(y, j), chunk(e, j));
        let (dzc, dbc, dyc) = (chunk(dz, j), chunk(db, j), chunk(dy, j));
        for k in 0..L {
            let q = q_of::<FMA>(r, m, t_tau, (zc[k], bc[k]), (dzc[k], dbc[k])) - q0;
            s[k] += ec[k] * f64::madd::<FMA>(q, (yc[k] - y0) - o, dyc[k]);
        }
    }
    for j in full..n {
        let q = q_of::<FMA>(r, m, t_tau, (z[j], b[j]), (dz[j], db[j])) - q0;
        s[j - full] += e[j] * f64::madd::<FMA>(q, (y[j] - y0) - o, dy[j]);
    }
    lane_sum(s)
}

/// The instruction set the loops run with: 0 the baseline, 1 AVX2 + FMA, 2 AVX-512 (one
/// 512-bit register holds a chunk of `L` lanes), detected once.
#[cfg(target_arch = "x86_64")]
#[inline]
fn isa() -> u8 {
    static ISA: std::sync::OnceLock<u8> = std::sync::OnceLock::new();
    *ISA.get_or_init(|| {
        if cfg!(miri) || !(is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma")) {
            0
        } else if is_x86_feature_detected!("avx512f") && is_x86_feature_detected!("avx512dq") {
            2
        } else {
            1
        }
    })
}

/// `$name(args)` runs `$imp::<FMA>` compiled for AVX-512 or AVX2 + FMA where the CPU has them,
/// else for the baseline (fused multiply-adds only where the target always has them).
macro_rules! dispatch {
    ($(#[$m:meta])* $vis:vis fn $name:ident($($a:ident: $t:ty),* $(,)?) -> $r:ty = $imp:ident;) => {
        $(#[$m])*
        #[allow(clippy::too_many_arguments)]
        $vis fn $name($($a: $t),*) -> $r {
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx2,fma")]
                #[allow(clippy::too_many_arguments)]
                unsafe fn avx2($($a: $t),*) -> $r {
                    $imp::<true>($($a),*)
                }
                #[target_feature(enable = "avx512f,avx512dq,avx2,fma")]
                #[allow(clippy::too_many_arguments)]
                unsafe fn avx512($($a: $t),*) -> $r {
                    $imp::<true>($($a),*)
                }
                match isa() {
                    // SAFETY: `isa` found the CPU to have these features.
                    2 => return unsafe { avx512($($a),*) },
                    // SAFETY: as above.
                    1 => return unsafe { avx2($($a),*) },
                    _ => {}
                }
            }
            $imp::<{ cfg!(any(target_arch = "aarch64", target_feature = "fma")) }>($($a),*)
        }
    };
}

dispatch! {
    /// `e_j = exp(ℓ_j)` of row `r`; returns `Σ_j e_j` (≥ 1: the row max's term is 1).
    pub(crate) fn exp_row(r: Row, z: &[f64], b: &[f64], e: &mut [f64]) -> f64 = exp_row_impl;
}
dispatch! {
    /// `(Σ_j e_j, Σ_j e_j·(y_j − y_at))` of row `r`, storing nothing.
    pub(crate) fn exp_dot(r: Row, z: &[f64], b: &[f64], y: &[f64]) -> (f64, f64) = exp_dot_impl;
}
dispatch! {
    /// [`exp_row`] and [`exp_dot`] in one pass.
    pub(crate) fn exp_row_dot(r: Row, z: &[f64], b: &[f64], y: &[f64], e: &mut [f64]) -> (f64, f64)
        = exp_row_dot_impl;
}
dispatch! {
    fn nsort_backward(
        r: Row, z: &[f64], b: &[f64], p: &[f64], u: &[f64], c: &mut [f64], rr: &mut [f64],
    ) -> f64 = nsort_backward_impl;
}
dispatch! {
    fn nsort_jvp(
        r: Row,
        t_tau: f64,
        zb: (&[f64], &[f64]),
        dzb: (&[f64], &[f64]),
        p: &[f64],
        q: &mut [f64],
        out: &mut [f64],
    ) -> f64 = nsort_jvp_impl;
}
dispatch! {
    fn nsort_hvp(
        r: Row,
        t_tau: f64,
        zb: (&[f64], &[f64]),
        dzb: (&[f64], &[f64]),
        pu: (&[f64], &[f64]),
        q: &mut [f64],
        crr: (&mut [f64], &mut [f64]),
    ) -> f64 = nsort_hvp_impl;
}
dispatch! {
    /// See [`apply_hvp_impl`].
    pub(crate) fn apply_hvp(
        r: Row,
        s: (f64, f64, f64, f64),
        rows: (&[f64], &[f64], &[f64], &[f64]),
        tangents: (&[f64], &[f64], &[f64]),
        q: &mut [f64],
        acc: (&mut [f64], &mut [f64], &mut [f64]),
    ) -> f64 = apply_hvp_impl;
}
dispatch! {
    /// See [`apply_backward_impl`].
    pub(crate) fn apply_backward(
        r: Row,
        s: (f64, f64, f64),
        rows: (&[f64], &[f64], &[f64], &[f64]),
        a: &mut [f64],
        c: &mut [f64],
        rr: &mut [f64],
    ) -> f64 = apply_backward_impl;
}
dispatch! {
    /// See [`apply_jvp_impl`].
    pub(crate) fn apply_jvp(
        r: Row,
        s: (f64, f64),
        rows: (&[f64], &[f64], &[f64], &[f64]),
        tangents: (&[f64], &[f64], &[f64]),
    ) -> f64 = apply_jvp_impl;
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every row loop as dispatched (AVX-512 or AVX2 where the CPU has them) against the same
    /// loop compiled for the baseline without fused multiply-adds, on rows of every remainder.
    #[test]
    fn dispatched_loops_match_the_baseline() {
        let close = |what: &str, a: f64, b: f64| {
            assert!(
                (a - b).abs() <= 1e-12 * a.abs().max(b.abs()).max(1.0),
                "{what}: {a:e} vs {b:e}"
            );
        };
        let closev = |what: &str, a: &[f64], b: &[f64]| {
            for (k, (x, y)) in a.iter().zip(b).enumerate() {
                close(&format!("{what}[{k}]"), *x, *y);
            }
        };
        for n in [1usize, 2, 7, 8, 9, 16, 31, 100] {
            let wave = |k: usize, f: f64| ((k as f64 * f).sin() * 2.0 * 1e3).round() / 1e3;
            let x: Vec<f64> = (0..n).map(|k| wave(k, 1.7)).collect();
            let v: Vec<f64> = (0..n).map(|k| wave(k, 0.9)).collect();
            let mut prep = Prep::default();
            prep.prepare(&x, -1.0);
            let (z, b) = (prep.z(), prep.b());
            let (dz, db) = (v.clone(), x.clone());
            for ii in 0..n {
                let r = prep.row(ii, 3.0);
                let (mut e1, mut e2) = (vec![0.0; n], vec![0.0; n]);
                let s1 = exp_row_dot(r, z, b, &v, &mut e1);
                let s2 = exp_row_dot_impl::<false>(r, z, b, &v, &mut e2);
                close("exp sum", s1.0, s2.0);
                close("exp dot", s1.1, s2.1);
                closev("exp", &e1, &e2);
                close("exp_row", exp_row(r, z, b, &mut e2), s1.0);
                close("exp_dot", exp_dot(r, z, b, &v).1, s1.1);

                let acc = || (vec![0.5; n], vec![0.25; n], vec![-1.0; n]);
                let ((mut a1, mut c1, mut r1), (mut a2, mut c2, mut r2)) = (acc(), acc());
                let args = (0.3, 0.7, 0.1);
                let t1 = apply_backward(r, args, (z, b, &v, &e1), &mut a1, &mut c1, &mut r1);
                let t2 = apply_backward_impl::<false>(
                    r,
                    args,
                    (z, b, &v, &e1),
                    &mut a2,
                    &mut c2,
                    &mut r2,
                );
                close("apply_backward", t1, t2);
                closev("a", &a1, &a2);
                closev("c", &c1, &c2);
                closev("r", &r1, &r2);
                let j1 = apply_jvp(r, (0.4, 0.1), (z, b, &v, &e1), (&dz, &db, &x));
                let j2 = apply_jvp_impl::<false>(r, (0.4, 0.1), (z, b, &v, &e1), (&dz, &db, &x));
                close("apply_jvp", j1, j2);

                let p: Vec<f64> = e1.iter().map(|e| e / s1.0).collect();
                let (mut c1, mut r1, mut c2, mut r2) = (c1.clone(), r1.clone(), c2, r2);
                let t1 = nsort_backward(r, z, b, &p, &v, &mut c1, &mut r1);
                let t2 = nsort_backward_impl::<false>(r, z, b, &p, &v, &mut c2, &mut r2);
                close("nsort_backward", t1, t2);
                closev("c", &c1, &c2);
                closev("r", &r1, &r2);
                let (mut q, mut o1, mut o2) = (vec![0.0; n], vec![0.0; n], vec![0.0; n]);
                nsort_jvp(r, 0.4, (z, b), (&dz, &db), &p, &mut q, &mut o1);
                nsort_jvp_impl::<false>(r, 0.4, (z, b), (&dz, &db), &p, &mut q, &mut o2);
                closev("nsort_jvp", &o1, &o2);
            }
        }
    }
}
