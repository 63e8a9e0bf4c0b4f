//! `soft_rank`: differentiable ranks of each row (1 = first in the chosen direction).
//!
//! Per row `x`: `θ = sign·x/ε` (`sign = +1` ascending, `−1` descending), `σ` sorts `θ`
//! decreasingly, `s = θ[σ]`, `w = (n, …, 1)`.
//! - l2: `v = PAV_l2(s − w)`, `ranks = (s − v)[σ⁻¹]`;
//! - kl: `v = PAV_kl(s, ln w)`, `ranks = exp(s − v)[σ⁻¹]`.
//!
//! As ε → 0 the ranks are the hard ranks, tied values sharing the mean of theirs. Every l2 rank
//! lies in `[1, n]` and a row's l2 ranks sum to `n(n+1)/2`.
//!
//! [`backward`] is the VJP and [`jvp`] the JVP (forward mode), both O(n) per row from the saved
//! `permutation` residual: the Jacobian is block-diagonal in sorted order, `c·(I − Pᵀ B P)` for
//! l2 (`c = sign/ε`, `B` the block averaging) and `c·diag(ranks)·(I − 1·softmax(s_B)ᵀ)` per block
//! for kl. [`hvp`] is the derivative of the backward (the Hessian of `⟨u, ranks⟩` in values and
//! ε), O(n) per row too.

use std::sync::Arc;

use super::{cotangent_row, CotangentGrad};
use crate::check::{scan_rows, scan_rows_min, Check, RangeScan};
use crate::masked::{self, Layout, Masked};
use crate::num::{ln_table, sum4};
use crate::pav::{column, for_each_block, mark_blocks, pav_kl, pav_l2};
use crate::scratch::{take, with_scratch, RowScratch};
use crate::sort::sort_row;
use crate::threads::{run_rows, In, Out};
use crate::{Direction, Error, Real, Regularization, Shape};

const OP: &str = "soft_rank";

/// Parameters of `soft_rank`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Params<T> {
    /// Regularization strength ε, finite and > 0; smaller is closer to the hard ranks.
    pub regularization_strength: T,
    /// Regularization of the projection, `l2` or `kl`.
    pub regularization: Regularization,
    /// Ranking direction: `Ascending` gives the smallest value rank 1.
    pub direction: Direction,
}

impl<T: Real> Default for Params<T> {
    /// The spec's defaults: ε = 1, l2, ascending.
    fn default() -> Self {
        Params {
            regularization_strength: T::from_f64(1.0),
            regularization: Regularization::L2,
            direction: Direction::Ascending,
        }
    }
}

/// Soft ranks of each row of `values` (`[batch, n]`, row-major) into `ranks`, and the packed
/// sort + PAV residual into `permutation` (both `[batch, n]`).
///
/// `mask`: which items are present (`None`: all); see [masked rows](crate#masked-rows).
#[allow(clippy::too_many_arguments)]
pub fn forward<T: Real>(
    shape: Shape,
    params: &Params<T>,
    values: &[T],
    mask: Option<&[bool]>,
    ranks: &mut [T],
    permutation: &mut [i32],
) -> Result<(), Error> {
    let Some(mask) = mask else {
        return forward_dense(shape, params, values, ranks, permutation);
    };
    Masked::new(OP, shape, mask)
        .real("values", values, Layout::Items)
        .real_out("ranks", ranks, Layout::Items)
        .int_out("permutation", permutation, Layout::Sorted)
        .run(|b, _| {
            let (shape, [values], [], [ranks], [permutation]) = b.split();
            forward_dense(shape, params, values, ranks, permutation)
        })
}

/// [`forward`] without a mask.
fn forward_dense<T: Real>(
    shape: Shape,
    params: &Params<T>,
    values: &[T],
    ranks: &mut [T],
    permutation: &mut [i32],
) -> Result<(), Error> {
    let check = Check::new(OP, shape)?;
    check.matrix("values", values.len())?;
    check.matrix("ranks", ranks.len())?;
    check.matrix("permutation", permutation.len())?;
    let eps = forward_checks(check, params, values)?;

    if shape.batch == 0 || shape.n == 0 {
        // Nothing to compute (and a batch of empty rows needs no memory: do not walk it).
        return Ok(());
    }
    let n = shape.n;
    let ranker = Ranker::new(eps, params.regularization, params.direction, n);
    let bufs = (
        In::new(values, n),
        Out::new(ranks, n),
        Out::new(permutation, n),
    );
    run_rows(shape.batch, row_work(n), bufs, |rows, (x, mut r, mut p)| {
        with_scratch(|sc| {
            for i in 0..rows {
                ranker.forward_row(&mut sc.row, x.row(i), r.row(i), p.row(i));
            }
        })
    });
    Ok(())
}

/// What the forward checks after the buffers' lengths (soft_rank_grouped's too): ε, finite values
/// and no overflow of `θ = x/ε` with the ranks; returns ε.
pub(crate) fn forward_checks<T: Real>(
    check: Check,
    params: &Params<T>,
    values: &[T],
) -> Result<f64, Error> {
    let eps = check.strength(params.regularization_strength)?;
    let [scanned] = scan_rows(check.shape, [values]);
    let max_abs = check.finite_scanned("values", values, scanned)?;
    check.no_overflow("values", max_abs, eps, max_abs / eps + check.shape.n as f64)?;
    Ok(eps)
}

/// Vector-Jacobian product of `soft_rank`: `grad_values = cotangent_ranksᵀ · ∂ranks/∂values`,
/// and per row `grad_regularization_strength = ⟨cotangent_ranks, ∂ranks/∂ε⟩ = −⟨grad_values,
/// values⟩/ε`. `values`, `ranks` and `permutation` are the forward's; O(n) per row, no sort.
///
/// `mask`: which items are present (`None`: all); see [masked rows](crate#masked-rows).
#[allow(clippy::too_many_arguments)]
pub fn backward<T: Real>(
    shape: Shape,
    params: &Params<T>,
    values: &[T],
    mask: Option<&[bool]>,
    ranks: &[T],
    permutation: &[i32],
    cotangent_ranks: &[T],
    grad_values: &mut [T],
    grad_regularization_strength: &mut [T],
) -> Result<(), Error> {
    backward_for(
        OP,
        shape,
        params,
        values,
        mask,
        ranks,
        permutation,
        cotangent_ranks,
        grad_values,
        grad_regularization_strength,
    )
}

/// [`backward`] under the name of `op` (its errors and checks): soft_rank_grouped runs
/// soft_rank's derivative kernels on its own residual.
#[allow(clippy::too_many_arguments)]
pub(crate) fn backward_for<T: Real>(
    op: &'static str,
    shape: Shape,
    params: &Params<T>,
    values: &[T],
    mask: Option<&[bool]>,
    ranks: &[T],
    permutation: &[i32],
    cotangent_ranks: &[T],
    grad_values: &mut [T],
    grad_regularization_strength: &mut [T],
) -> Result<(), Error> {
    let Some(mask) = mask else {
        return backward_dense(
            op,
            shape,
            params,
            values,
            ranks,
            permutation,
            cotangent_ranks,
            grad_values,
            grad_regularization_strength,
        );
    };
    Masked::new(op, shape, mask)
        .real("values", values, Layout::Items)
        .real("ranks", ranks, Layout::Items)
        .int("permutation", permutation, Layout::Sorted)
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
                [values, ranks, cotangent_ranks],
                [permutation],
                [grad_values, grad_regularization_strength],
                [],
            ) = b.split();
            backward_dense(
                op,
                shape,
                params,
                values,
                ranks,
                permutation,
                cotangent_ranks,
                grad_values,
                grad_regularization_strength,
            )
        })
}

/// [`backward`] without a mask.
#[allow(clippy::too_many_arguments)]
fn backward_dense<T: Real>(
    op: &'static str,
    shape: Shape,
    params: &Params<T>,
    values: &[T],
    ranks: &[T],
    permutation: &[i32],
    cotangent_ranks: &[T],
    grad_values: &mut [T],
    grad_regularization_strength: &mut [T],
) -> Result<(), Error> {
    let cg = CotangentGrad::Separate(cotangent_ranks, grad_values);
    backward_impl(
        op,
        shape,
        params,
        values,
        ranks,
        permutation,
        cg,
        grad_regularization_strength,
    )
}

/// [`backward`] with the gradient written over the cotangent: `cotangent_grad` holds
/// `cotangent_ranks` on entry and `grad_values` on return (bit for bit what [`backward`] gives).
/// A forward + backward then needs one `[batch, n]` array less at its peak. On an error the
/// buffer is unchanged.
///
/// `mask`: which items are present (`None`: all); see [masked rows](crate#masked-rows).
#[allow(clippy::too_many_arguments)]
pub fn backward_in_place<T: Real>(
    shape: Shape,
    params: &Params<T>,
    values: &[T],
    mask: Option<&[bool]>,
    ranks: &[T],
    permutation: &[i32],
    cotangent_grad: &mut [T],
    grad_regularization_strength: &mut [T],
) -> Result<(), Error> {
    backward_in_place_for(
        OP,
        shape,
        params,
        values,
        mask,
        ranks,
        permutation,
        cotangent_grad,
        grad_regularization_strength,
    )
}

/// [`backward_in_place`] under the name of `op` (its errors and checks): soft_rank_grouped runs
/// soft_rank's derivative kernels on its own residual.
#[allow(clippy::too_many_arguments)]
pub(crate) fn backward_in_place_for<T: Real>(
    op: &'static str,
    shape: Shape,
    params: &Params<T>,
    values: &[T],
    mask: Option<&[bool]>,
    ranks: &[T],
    permutation: &[i32],
    cotangent_grad: &mut [T],
    grad_regularization_strength: &mut [T],
) -> Result<(), Error> {
    let Some(mask) = mask else {
        return backward_in_place_dense(
            op,
            shape,
            params,
            values,
            ranks,
            permutation,
            cotangent_grad,
            grad_regularization_strength,
        );
    };
    masked::in_place_from_copy(cotangent_grad, |cotangent, grad| {
        backward_for(
            op,
            shape,
            params,
            values,
            Some(mask),
            ranks,
            permutation,
            cotangent,
            grad,
            grad_regularization_strength,
        )
    })
}

/// [`backward_in_place`] without a mask.
#[allow(clippy::too_many_arguments)]
fn backward_in_place_dense<T: Real>(
    op: &'static str,
    shape: Shape,
    params: &Params<T>,
    values: &[T],
    ranks: &[T],
    permutation: &[i32],
    cotangent_grad: &mut [T],
    grad_regularization_strength: &mut [T],
) -> Result<(), Error> {
    let cg = CotangentGrad::InPlace(cotangent_grad);
    backward_impl(
        op,
        shape,
        params,
        values,
        ranks,
        permutation,
        cg,
        grad_regularization_strength,
    )
}

#[allow(clippy::too_many_arguments)]
fn backward_impl<T: Real>(
    op: &'static str,
    shape: Shape,
    params: &Params<T>,
    values: &[T],
    ranks: &[T],
    permutation: &[i32],
    cg: CotangentGrad<'_, T>,
    grad_regularization_strength: &mut [T],
) -> Result<(), Error> {
    let (cotangent_ranks, grad_len) = cg.cotangent();
    let check = Check::new(op, shape)?;
    check.matrix("values", values.len())?;
    check.matrix("ranks", ranks.len())?;
    check.matrix("permutation", permutation.len())?;
    check.matrix("cotangent_ranks", cotangent_ranks.len())?;
    check.matrix("grad_values", grad_len)?;
    check.vector(
        "grad_regularization_strength",
        grad_regularization_strength.len(),
    )?;
    let eps = check.strength(params.regularization_strength)?;
    // The finite checks in one parallel pass, their errors taken below in argument order.
    // (kl also needs the smallest rank, for the range check below.)
    let kl = params.regularization == Regularization::Kl;
    let [sv, sr, su] = if kl {
        scan_rows_min(shape, [values, ranks, cotangent_ranks])
    } else {
        scan_rows(shape, [values, ranks, cotangent_ranks]).map(RangeScan::without_min)
    };
    check_saves(check, eps, kl, (values, sv), (ranks, sr), permutation)?;
    let max_u = check.finite_scanned("cotangent_ranks", cotangent_ranks, su.scan)?;
    // The gradients scale like |u|·n/ε (soft_sort's ε-gradient like |u|·n²/ε²): refuse what
    // would overflow f64 rather than return ±∞ or NaN.
    check.no_overflow("cotangent_ranks", max_u, eps, max_u * shape.n as f64 / eps)?;

    if shape.batch == 0 {
        // Nothing to compute; never size tables by n for an empty batch.
        return Ok(());
    }
    let n = shape.n;
    let ranker = Ranker::new(eps, params.regularization, params.direction, n);
    let (x, r, p) = (
        In::new(values, n),
        In::new(ranks, n),
        In::new(permutation, n),
    );
    let ge = Out::new(grad_regularization_strength, 1);
    match cg {
        CotangentGrad::Separate(cotangent_ranks, grad_values) => {
            let bufs = (
                x,
                r,
                p,
                In::new(cotangent_ranks, n),
                Out::new(grad_values, n),
                ge,
            );
            run_rows(
                shape.batch,
                row_work(n),
                bufs,
                |rows, (x, r, p, u, mut g, mut ge)| {
                    for i in 0..rows {
                        let dot =
                            ranker.backward_row(x.row(i), r.row(i), p.row(i), u.row(i), g.row(i));
                        *ge.at(i) = T::from_f64(-dot / eps);
                    }
                },
            );
        }
        CotangentGrad::InPlace(buf) => {
            let bufs = (x, r, p, Out::new(buf, n), ge);
            run_rows(
                shape.batch,
                row_work(n),
                bufs,
                |rows, (x, r, p, mut ug, mut ge)| {
                    with_scratch(|sc| {
                        for i in 0..rows {
                            let g = ug.row(i);
                            let u = cotangent_row(&mut sc.loss1, g);
                            let dot = ranker.backward_row(x.row(i), r.row(i), p.row(i), u, g);
                            *ge.at(i) = T::from_f64(-dot / eps);
                        }
                    })
                },
            );
        }
    }
    Ok(())
}

/// The forward's `values`, `ranks` and `permutation` as the backward and the JVP check them,
/// from one scan (`kl`: `sr` with its smallest value), errors in argument order.
fn check_saves<T: Real>(
    check: Check,
    eps: f64,
    kl: bool,
    (values, sv): (&[T], RangeScan),
    (ranks, sr): (&[T], RangeScan),
    permutation: &[i32],
) -> Result<(), Error> {
    // As the forward checked: the ε-gradient sums values relative to their block.
    let max_abs = check.finite_scanned("values", values, sv.scan)?;
    check.no_overflow("values", max_abs, eps, max_abs / eps + check.shape.n as f64)?;
    if kl {
        // The kl backward and JVP divide by block sums of the ranks (which the forward makes
        // > 0).
        check.soft_ranks_scanned("ranks", ranks, sr)?;
    } else {
        check.finite_scanned("ranks", ranks, sr.scan)?;
    }
    check.permutation("permutation", permutation)
}

/// Jacobian-vector product of `soft_rank`: `tangent_ranks = ∂ranks/∂values · tangent_values +
/// ∂ranks/∂ε · tangent_regularization_strength`. `values`, `ranks` and `permutation` are the
/// forward's; O(n) per row, no sort.
///
/// The Jacobian has the VJP's block structure. With `c = sign/ε`, `k = tangent_ε/ε` and, in
/// sorted order, `ds = c·(t[σ] − k·(x[σ] − x_B))` (`x_B` the block's first value: the ranks
/// depend on `x/ε` only, and a constant per block cancels in the projection), per block `B`:
/// - l2: `d ranks = ds − mean_B ds` (the Jacobian `c·(I − Pᵀ B P)` is symmetric);
/// - kl: `d ranks = ranks ∘ (ds − Σ_B softmax(s_B) ds)`, with `softmax(s_B) = ranks_B/Σ_B ranks`.
///
/// Singleton blocks have zero tangent. The ε-tangent is one scalar for the call, like ε itself
/// (the per-row `grad_regularization_strength` of [`backward`] is what wrappers sum over rows):
/// `⟨u, jvp(t, t_ε)⟩ = ⟨backward(u), t⟩ + t_ε · Σ_rows grad_regularization_strength`.
///
/// `mask`: which items are present (`None`: all); see [masked rows](crate#masked-rows).
#[allow(clippy::too_many_arguments)]
pub fn jvp<T: Real>(
    shape: Shape,
    params: &Params<T>,
    values: &[T],
    mask: Option<&[bool]>,
    ranks: &[T],
    permutation: &[i32],
    tangent_values: &[T],
    tangent_regularization_strength: T,
    tangent_ranks: &mut [T],
) -> Result<(), Error> {
    jvp_for(
        OP,
        shape,
        params,
        values,
        mask,
        ranks,
        permutation,
        tangent_values,
        tangent_regularization_strength,
        tangent_ranks,
    )
}

/// [`jvp`] under the name of `op` (its errors and checks): soft_rank_grouped runs
/// soft_rank's derivative kernels on its own residual.
#[allow(clippy::too_many_arguments)]
pub(crate) fn jvp_for<T: Real>(
    op: &'static str,
    shape: Shape,
    params: &Params<T>,
    values: &[T],
    mask: Option<&[bool]>,
    ranks: &[T],
    permutation: &[i32],
    tangent_values: &[T],
    tangent_regularization_strength: T,
    tangent_ranks: &mut [T],
) -> Result<(), Error> {
    let Some(mask) = mask else {
        return jvp_dense(
            op,
            shape,
            params,
            values,
            ranks,
            permutation,
            tangent_values,
            tangent_regularization_strength,
            tangent_ranks,
        );
    };
    Masked::new(op, shape, mask)
        .real("values", values, Layout::Items)
        .real("ranks", ranks, Layout::Items)
        .int("permutation", permutation, Layout::Sorted)
        .real("tangent_values", tangent_values, Layout::Items)
        .real_out("tangent_ranks", tangent_ranks, Layout::Items)
        .run(|b, _| {
            let (shape, [values, ranks, tangent_values], [permutation], [tangent_ranks], []) =
                b.split();
            jvp_dense(
                op,
                shape,
                params,
                values,
                ranks,
                permutation,
                tangent_values,
                tangent_regularization_strength,
                tangent_ranks,
            )
        })
}

/// [`jvp`] without a mask.
#[allow(clippy::too_many_arguments)]
fn jvp_dense<T: Real>(
    op: &'static str,
    shape: Shape,
    params: &Params<T>,
    values: &[T],
    ranks: &[T],
    permutation: &[i32],
    tangent_values: &[T],
    tangent_regularization_strength: T,
    tangent_ranks: &mut [T],
) -> Result<(), Error> {
    let check = Check::new(op, shape)?;
    check.matrix("values", values.len())?;
    check.matrix("ranks", ranks.len())?;
    check.matrix("permutation", permutation.len())?;
    check.matrix("tangent_values", tangent_values.len())?;
    check.matrix("tangent_ranks", tangent_ranks.len())?;
    let eps = check.strength(params.regularization_strength)?;
    // The finite checks in one parallel pass, their errors taken below in argument order.
    let kl = params.regularization == Regularization::Kl;
    let [sv, sr, st] = if kl {
        scan_rows_min(shape, [values, ranks, tangent_values])
    } else {
        scan_rows(shape, [values, ranks, tangent_values]).map(RangeScan::without_min)
    };
    check_saves(check, eps, kl, (values, sv), (ranks, sr), permutation)?;
    let max_t = check.finite_scanned("tangent_values", tangent_values, st.scan)?;
    let t_eps = check.finite_scalar(
        "tangent_regularization_strength",
        tangent_regularization_strength,
    )?;
    tangent_checks(check, eps, "tangent_values", max_t, t_eps)?;

    if shape.batch == 0 {
        // Nothing to compute; never size tables by n for an empty batch.
        return Ok(());
    }
    let n = shape.n;
    let ranker = Ranker::new(eps, params.regularization, params.direction, n);
    let k = t_eps / eps;
    let bufs = (
        In::new(values, n),
        In::new(ranks, n),
        In::new(permutation, n),
        In::new(tangent_values, n),
        Out::new(tangent_ranks, n),
    );
    run_rows(
        shape.batch,
        row_work(n),
        bufs,
        |rows, (x, r, p, t, mut dr)| {
            for i in 0..rows {
                ranker.jvp_row(x.row(i), r.row(i), p.row(i), t.row(i), k, dr.row(i));
            }
        },
    );
    Ok(())
}

/// Hessian-vector product of `soft_rank`: the derivative of [`backward`] (at fixed
/// `cotangent_ranks` = `u`) along `tangent_values` = `t` and the one ε-tangent
/// `tangent_regularization_strength` = `t_ε`. With `φ = ⟨u, ranks⟩` per row,
/// `hvp_values = ∂²φ/∂x² · t + ∂²φ/∂x∂ε · t_ε` and per row `hvp_regularization_strength =
/// ∂²φ/∂ε∂x · t + ∂²φ/∂ε² · t_ε`. `values`, `ranks` and `permutation` are the forward's; O(n)
/// per row, no sort.
///
/// The ranks depend on `z = x/ε` only, so with `g` the backward's gradient, `k = t_ε/ε` and, per
/// block `B` in sorted order, `d = t − k·(x − x_B)` (as in [`jvp`]):
/// - `hvp_values = H_z d/ε² − k·g`, where `H_z` (the Hessian of `⟨u, ranks⟩` in `z`) is 0 for
///   l2 (piecewise linear) and, for kl, with `p = softmax(s_B) = ranks_B/Σ_B ranks`,
///   `ū = ⟨p, u⟩`, `δ = d − ⟨p, d⟩`, `v = δ ∘ (u − ū)`: `H_z d = ranks ∘ (v − ⟨p, v⟩)`;
/// - `hvp_regularization_strength = −(⟨hvp_values, x⟩ + ⟨g, t⟩)/ε + k·⟨g, x⟩/ε` (the derivative
///   of `∂φ/∂ε = −⟨g, x⟩/ε`), each `⟨·, x⟩` taken relative to the block's first value.
///
/// Singleton blocks get 0. The result is symmetric: `⟨(t', t'_ε), hvp(t, t_ε)⟩ =
/// ⟨(t, t_ε), hvp(t', t'_ε)⟩`, the ε parts summed over rows.
///
/// `mask`: which items are present (`None`: all); see [masked rows](crate#masked-rows).
#[allow(clippy::too_many_arguments)]
pub fn hvp<T: Real>(
    shape: Shape,
    params: &Params<T>,
    values: &[T],
    mask: Option<&[bool]>,
    ranks: &[T],
    permutation: &[i32],
    cotangent_ranks: &[T],
    tangent_values: &[T],
    tangent_regularization_strength: T,
    hvp_values: &mut [T],
    hvp_regularization_strength: &mut [T],
) -> Result<(), Error> {
    hvp_for(
        OP,
        shape,
        params,
        values,
        mask,
        ranks,
        permutation,
        cotangent_ranks,
        tangent_values,
        tangent_regularization_strength,
        hvp_values,
        hvp_regularization_strength,
    )
}

/// [`hvp`] under the name of `op` (its errors and checks): soft_rank_grouped runs
/// soft_rank's derivative kernels on its own residual.
#[allow(clippy::too_many_arguments)]
pub(crate) fn hvp_for<T: Real>(
    op: &'static str,
    shape: Shape,
    params: &Params<T>,
    values: &[T],
    mask: Option<&[bool]>,
    ranks: &[T],
    permutation: &[i32],
    cotangent_ranks: &[T],
    tangent_values: &[T],
    tangent_regularization_strength: T,
    hvp_values: &mut [T],
    hvp_regularization_strength: &mut [T],
) -> Result<(), Error> {
    let Some(mask) = mask else {
        return hvp_dense(
            op,
            shape,
            params,
            values,
            ranks,
            permutation,
            cotangent_ranks,
            tangent_values,
            tangent_regularization_strength,
            hvp_values,
            hvp_regularization_strength,
        );
    };
    Masked::new(op, shape, mask)
        .real("values", values, Layout::Items)
        .real("ranks", ranks, Layout::Items)
        .int("permutation", permutation, Layout::Sorted)
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
                [values, ranks, cotangent_ranks, tangent_values],
                [permutation],
                [hvp_values, hvp_regularization_strength],
                [],
            ) = b.split();
            hvp_dense(
                op,
                shape,
                params,
                values,
                ranks,
                permutation,
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
    op: &'static str,
    shape: Shape,
    params: &Params<T>,
    values: &[T],
    ranks: &[T],
    permutation: &[i32],
    cotangent_ranks: &[T],
    tangent_values: &[T],
    tangent_regularization_strength: T,
    hvp_values: &mut [T],
    hvp_regularization_strength: &mut [T],
) -> Result<(), Error> {
    let check = Check::new(op, shape)?;
    check.matrix("values", values.len())?;
    check.matrix("ranks", ranks.len())?;
    check.matrix("permutation", permutation.len())?;
    check.matrix("cotangent_ranks", cotangent_ranks.len())?;
    check.matrix("tangent_values", tangent_values.len())?;
    check.matrix("hvp_values", hvp_values.len())?;
    check.vector(
        "hvp_regularization_strength",
        hvp_regularization_strength.len(),
    )?;
    let eps = check.strength(params.regularization_strength)?;
    // The finite checks in one parallel pass, their errors taken below in argument order.
    let kl = params.regularization == Regularization::Kl;
    let bufs = [values, ranks, cotangent_ranks, tangent_values];
    let [sv, sr, su, st] = if kl {
        scan_rows_min(shape, bufs)
    } else {
        scan_rows(shape, bufs).map(RangeScan::without_min)
    };
    check_saves(check, eps, kl, (values, sv), (ranks, sr), permutation)?;
    let max_u = check.finite_scanned("cotangent_ranks", cotangent_ranks, su.scan)?;
    check.no_overflow("cotangent_ranks", max_u, eps, max_u * shape.n as f64 / eps)?;
    let max_t = check.finite_scanned("tangent_values", tangent_values, st.scan)?;
    let t_eps = check.finite_scalar(
        "tangent_regularization_strength",
        tangent_regularization_strength,
    )?;
    tangent_checks(check, eps, "tangent_values", max_t, t_eps)?;
    let tangents = [
        ("tangent_values", max_t),
        ("tangent_regularization_strength", t_eps.abs()),
    ];
    hvp_checks(check, eps, max_u, &tangents)?;

    if shape.batch == 0 {
        // Nothing to compute; never size tables by n for an empty batch.
        return Ok(());
    }
    let n = shape.n;
    let ranker = Ranker::new(eps, params.regularization, params.direction, n);
    let k = t_eps / eps;
    let bufs = (
        In::new(values, n),
        In::new(ranks, n),
        In::new(permutation, n),
        In::new(cotangent_ranks, n),
        In::new(tangent_values, n),
        Out::new(hvp_values, n),
        Out::new(hvp_regularization_strength, 1),
    );
    run_rows(
        shape.batch,
        row_work(n),
        bufs,
        |rows, (x, r, p, u, t, mut h, mut he)| {
            for i in 0..rows {
                let u = u.row(i);
                let dots = ranker.hvp_row(
                    x.row(i),
                    r.row(i),
                    p.row(i),
                    |j| u[j].to_f64(),
                    |_| 0.0,
                    t.row(i),
                    k,
                    h.row(i),
                );
                *he.at(i) = T::from_f64(dots.eps_entry(eps, k));
            }
        },
    );
    Ok(())
}

/// The overflow check of a Hessian-vector product (soft_rank and the losses): with `u` the
/// largest first-order cotangent of the ranks times the largest factor the loss puts on it, and
/// `tangents` each tangent's name and largest magnitude, the entries scale like
/// `u·Σ|t|·n³/ε²` (ranks ≤ n, a block spans at most about `n` in `x/ε`). Refused under the
/// largest tangent's name.
pub(crate) fn hvp_checks(
    check: Check,
    eps: f64,
    u: f64,
    tangents: &[(&str, f64)],
) -> Result<(), Error> {
    let n = check.shape.n as f64;
    let sum: f64 = tangents.iter().map(|t| t.1).sum();
    let (name, max) = tangents
        .iter()
        .copied()
        .fold(("", 0.0), |a, t| if t.1 > a.1 { t } else { a });
    let bound = u * (sum * n / eps) * (n * n / eps);
    check.no_overflow(name, max, eps, bound)
}

/// The overflow checks of a soft-rank JVP's tangents (soft_rank and the losses, `name` the input
/// tangent with largest magnitude `max_t`): the rank tangents scale like `(|t| + |t_ε|)·n/ε` (a
/// block spans at most `n` in `x/ε`).
pub(crate) fn tangent_checks(
    check: Check,
    eps: f64,
    name: &str,
    max_t: f64,
    t_eps: f64,
) -> Result<(), Error> {
    let n = check.shape.n as f64;
    check.no_overflow(name, max_t, eps, max_t * n / eps)?;
    check.no_overflow(
        "tangent_regularization_strength",
        t_eps.abs(),
        eps,
        (max_t + t_eps.abs()) * n / eps,
    )
}

/// Estimated cost of one row in element operations, for the parallel threshold.
pub(crate) fn row_work(n: usize) -> usize {
    n * (usize::BITS - n.leading_zeros() + 4) as usize
}

/// Where [`Ranker::jvp_row`] puts the rank tangents of each block: a row of the output, or a
/// loss's weighed sum of them.
pub(crate) trait RankTangents {
    /// Takes the tangent `f(i)` of the rank in column `i`, for each column `i` of `block` (its
    /// packed residual entries).
    fn put_block(&mut self, block: &[i32], f: impl Fn(usize) -> f64);
}

impl<V: Real> RankTangents for [V] {
    #[inline(always)]
    fn put_block(&mut self, block: &[i32], f: impl Fn(usize) -> f64) {
        for &p in block {
            let i = column(p);
            self[i] = V::from_f64(f(i));
        }
    }
}

/// `Σ_i w_i · dr_i`, summed block by block in four lanes: a loss's tangent straight from the
/// rank tangents, which are never stored.
pub(crate) struct Weighed<'a> {
    pub w: &'a [f64],
    pub sum: f64,
}

impl RankTangents for Weighed<'_> {
    #[inline(always)]
    fn put_block(&mut self, block: &[i32], f: impl Fn(usize) -> f64) {
        let w = self.w;
        self.sum += sum4(block, |p| {
            let i = column(p);
            w[i] * f(i)
        });
    }
}

/// What a row of a Hessian-vector product sums besides its input entries: `⟨h, x⟩`, `⟨g, t⟩`
/// and `⟨g, x⟩` (`g` the backward's gradient, `h` the product's entries, each `⟨·, x⟩` relative
/// to the block's first value), over every input of the row.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct HvpDots {
    hx: f64,
    gt: f64,
    gx: f64,
}

impl HvpDots {
    #[inline(always)]
    fn add(&mut self, g: f64, h: f64, dx: f64, t: f64) {
        self.hx += h * dx;
        self.gt += g * t;
        self.gx += g * dx;
    }

    /// The dots of two inputs of one row (a loss of two soft ranks).
    pub fn plus(self, o: HvpDots) -> HvpDots {
        HvpDots {
            hx: self.hx + o.hx,
            gt: self.gt + o.gt,
            gx: self.gx + o.gx,
        }
    }

    /// The row's ε entry, the derivative of `∂φ/∂ε = −⟨g, x⟩/ε` (φ depends on `x/ε` only):
    /// `−(⟨h, x⟩ + ⟨g, t⟩)/ε + k·⟨g, x⟩/ε`.
    pub fn eps_entry(self, eps: f64, k: f64) -> f64 {
        (k * self.gx - (self.hx + self.gt)) / eps
    }
}

/// The soft_rank row kernels with their parameters resolved; the losses use them too.
pub(crate) struct Ranker {
    eps: f64,
    /// Sort `x` decreasingly (ascending ranks: the largest value gets rank n).
    descending: bool,
    regularization: Regularization,
    /// `ln 1, ln 2, …` (kl only).
    ln: Option<Arc<[f64]>>,
}

impl Ranker {
    pub fn new(eps: f64, regularization: Regularization, direction: Direction, n: usize) -> Self {
        Ranker {
            eps,
            descending: direction == Direction::Ascending,
            regularization,
            ln: (regularization == Regularization::Kl).then(|| ln_table(n)),
        }
    }

    /// `sign/ε`, the factor of every gradient.
    fn scale(&self) -> f64 {
        if self.descending {
            1.0 / self.eps
        } else {
            -1.0 / self.eps
        }
    }

    /// One row of the forward.
    pub fn forward_row<T: Real>(
        &self,
        sc: &mut RowScratch,
        x: &[T],
        ranks: &mut [T],
        perm: &mut [i32],
    ) {
        let n = x.len();
        let theta = take(&mut sc.f1, n);
        sort_row(x, self.descending, &mut sc.sort, perm, theta);
        // θ = x · (1/ε): a division per element costs several times as much. The checks made
        // 1/ε finite and (max |x|/ε + n)·n finite, so for n ≥ 2 every |θ| ≤ MAX/2·(1 + 2⁻⁵²); a
        // single entry is a singleton block, whose rank never reads θ.
        let inv_eps = 1.0 / self.eps;
        theta.iter_mut().for_each(|t| *t *= inv_eps);
        let theta = &*theta;
        let rho = |k: usize| (n - k) as f64;
        let pav = &mut sc.pav;
        let nb = match &self.ln {
            None => {
                let nb = pav_l2::<false>(n, |k| theta[k], 1.0, pav);
                for j in 0..nb {
                    let (a, b) = (pav.starts[j] as usize, pav.starts[j + 1] as usize);
                    if b - a == 1 {
                        // s − (s − w) is w; write it exactly.
                        ranks[perm[a] as usize] = T::from_f64(rho(a));
                        continue;
                    }
                    // s − v with v = mean_B(s − w) = mean_B s − mean_B w, written as
                    // (s − mean_B s) + mean_B w: tied values get exactly the mean of their hard
                    // ranks, and |s| ≫ n loses nothing to cancellation.
                    let m = (b - a) as f64;
                    let mean_s = theta[a] + sum4(&theta[a..b], |t| t - theta[a]) / m;
                    let mean_w = n as f64 - (a + b - 1) as f64 / 2.0;
                    for k in a..b {
                        ranks[perm[k] as usize] = T::from_f64((theta[k] - mean_s) + mean_w);
                    }
                }
                nb
            }
            Some(ln) => {
                // y = s, w = ln ρ: the w-side ratio exp(w_b − w_a) is ρ_b/ρ_a.
                let nb = pav_kl(
                    n,
                    |k| theta[k],
                    |k| ln[n - 1 - k],
                    |a, b| rho(b) / rho(a),
                    pav,
                );
                for j in 0..nb {
                    let (a, b) = (pav.starts[j] as usize, pav.starts[j + 1] as usize);
                    if b - a == 1 {
                        ranks[perm[a] as usize] = T::from_f64(rho(a));
                        continue;
                    }
                    // exp(s_k − v) = exp(s_k − s_a) · Σ_B ρ / Σ_B exp(s − s_a): the exponent is
                    // ≤ 0, so nothing overflows at any ε. Σ_B ρ = |B| · mean_B ρ in closed form
                    // (not PAV's running Σ_B ρ/ρ_a), so tied values get exactly their mean rank.
                    let m = (b - a) as f64;
                    let f = m * (n as f64 - (a + b - 1) as f64 / 2.0) / pav.a[j];
                    for k in a..b {
                        ranks[perm[k] as usize] = T::from_f64((theta[k] - theta[a]).exp() * f);
                    }
                }
                nb
            }
        };
        mark_blocks(perm, &pav.starts[..nb]);
    }

    /// One row of the JVP with tangent `t` and `k = t_ε/ε`: puts each rank tangent into `dr`
    /// (a row, or a loss's weighed sum).
    ///
    /// Walks the residual block by block like [`Ranker::backward_row`] (singletons get 0, a
    /// larger block is gathered twice). The ε part enters as `−k·(x − x_first)` per block:
    /// pooled values lie close together, so this stays finite and accurate at any `|x|`.
    pub fn jvp_row<T: Real, U: Real, S: RankTangents + ?Sized>(
        &self,
        x: &[T],
        ranks: &[T],
        perm: &[i32],
        t: &[U],
        k: f64,
        dr: &mut S,
    ) {
        let c = self.scale();
        for_each_block(perm, |_, block| {
            if block.len() == 1 {
                dr.put_block(block, |_| 0.0);
                return;
            }
            let x0 = x[column(block[0])].to_f64();
            // ds / c: the tangent of the sorted θ, less a constant per block.
            let ds = |i: usize| t[i].to_f64() - k * (x[i].to_f64() - x0);
            match self.regularization {
                Regularization::L2 => {
                    // d ranks = c·(ds − M_l2(ds)).
                    let mean = sum4(block, |p| ds(column(p))) / block.len() as f64;
                    dr.put_block(block, |i| c * (ds(i) - mean));
                }
                Regularization::Kl => {
                    // d ranks = c·ranks ∘ (ds − ⟨softmax(s_B), ds⟩), softmax(s_B) = ranks/Σ_B ranks.
                    let sum_rd = sum4(block, |p| ranks[column(p)].to_f64() * ds(column(p)));
                    let sum_r = sum4(block, |p| ranks[column(p)].to_f64());
                    let f = sum_rd / sum_r;
                    dr.put_block(block, |i| {
                        let r = ranks[i].to_f64();
                        c * (r * ds(i) - r * f)
                    });
                }
            }
        });
    }

    /// One row of the Hessian-vector product of `φ = L(ranks)` with `u = ∂L/∂ranks` and
    /// `w = ∇²L · d ranks` (0 for soft_rank alone), along the input tangent `t` and `k = t_ε/ε`:
    /// writes `h` (the derivative of the backward's gradient) and returns the dots that make the
    /// row's ε entry.
    ///
    /// Per block: `h = H_z d/ε² + backward(w − k·u)`, with `d = t − k·(x − x_B)` and `H_z d` the
    /// kl term `ranks ∘ (v − ⟨p, v⟩)` (`v = (d − ⟨p, d⟩) ∘ (u − ⟨p, u⟩)`, `p = ranks_B/Σ_B ranks`),
    /// 0 for l2. The backward is linear in its cotangent, so one pass writes both terms.
    #[allow(clippy::too_many_arguments)]
    pub fn hvp_row<T: Real, V: Real>(
        &self,
        x: &[T],
        ranks: &[T],
        perm: &[i32],
        u: impl Fn(usize) -> f64,
        w: impl Fn(usize) -> f64,
        t: &[V],
        k: f64,
        h: &mut [T],
    ) -> HvpDots {
        let c = self.scale();
        let mut dots = HvpDots::default();
        for_each_block(perm, |_, block| {
            if block.len() == 1 {
                h[column(block[0])] = T::from_f64(0.0);
                return;
            }
            let x0 = x[column(block[0])].to_f64();
            let mut acc = dots;
            match self.regularization {
                Regularization::L2 => {
                    let m = block.len() as f64;
                    let mean_u = sum4(block, |p| u(column(p))) / m;
                    let mean_w = sum4(block, |p| w(column(p))) / m;
                    for &p in block {
                        let i = column(p);
                        let g = c * (u(i) - mean_u);
                        let hi = c * (w(i) - mean_w) - k * g;
                        h[i] = T::from_f64(hi);
                        acc.add(g, hi, x[i].to_f64() - x0, t[i].to_f64());
                    }
                }
                Regularization::Kl => {
                    let r = |i: usize| ranks[i].to_f64();
                    let d = |i: usize| t[i].to_f64() - k * (x[i].to_f64() - x0);
                    let sum_r = sum4(block, |p| r(column(p)));
                    let mean_u = sum4(block, |p| r(column(p)) * u(column(p))) / sum_r;
                    let mean_d = sum4(block, |p| r(column(p)) * d(column(p))) / sum_r;
                    let mean_w = sum4(block, |p| r(column(p)) * w(column(p))) / sum_r;
                    let v = |i: usize| (d(i) - mean_d) * (u(i) - mean_u);
                    let mean_v = sum4(block, |p| r(column(p)) * v(column(p))) / sum_r;
                    for &p in block {
                        let i = column(p);
                        let ri = r(i);
                        let g = c * (ri * (u(i) - mean_u));
                        let hi =
                            c * c * (ri * (v(i) - mean_v)) + c * (ri * (w(i) - mean_w)) - k * g;
                        h[i] = T::from_f64(hi);
                        acc.add(g, hi, x[i].to_f64() - x0, t[i].to_f64());
                    }
                }
            }
            dots = acc;
        });
        dots
    }

    /// One row of the backward with cotangent `u`; writes `g` and returns `⟨g, x⟩` (for the
    /// ε-gradient `−⟨g, x⟩/ε`).
    ///
    /// Walks the residual block by block: a singleton block has zero gradient and is never
    /// gathered; a larger block gathers its cotangents twice (the row is cache-resident) rather
    /// than staging them in a buffer. `g` sums to zero over each block, so `⟨g, x⟩` is summed
    /// as `Σ_B ⟨g_B, x_B − x_first⟩`: pooled values lie close together, so this stays finite and
    /// accurate where `|x|` is huge (a plain `⟨g, x⟩` of ties at 1e300 is `∞ − ∞`).
    pub fn backward_row<T: Real, U: Real>(
        &self,
        x: &[T],
        ranks: &[T],
        perm: &[i32],
        u: &[U],
        g: &mut [T],
    ) -> f64 {
        let c = self.scale();
        let zero = T::from_f64(0.0);
        let mut dot = 0.0;
        match self.regularization {
            Regularization::L2 => {
                // g = sign/ε · (u − M_l2(u[σ])[σ⁻¹])
                for_each_block(perm, |_, block| {
                    if block.len() == 1 {
                        g[column(block[0])] = zero;
                        return;
                    }
                    let mean = sum4(block, |p| u[column(p)].to_f64()) / block.len() as f64;
                    let x0 = x[column(block[0])].to_f64();
                    // A local accumulator (the same order of additions): `dot` itself is the
                    // closure's capture, which would be stored and reloaded for every entry.
                    let mut acc = dot;
                    for &p in block {
                        let i = column(p);
                        let v = c * (u[i].to_f64() - mean);
                        g[i] = T::from_f64(v);
                        acc += v * (x[i].to_f64() - x0);
                    }
                    dot = acc;
                });
            }
            Regularization::Kl => {
                // a = u ∘ ranks; g = sign/ε · (a − M_kl(a[σ]; s)[σ⁻¹]), where
                // softmax(s_B)_k = ranks_k / Σ_B ranks, so no exp is needed.
                for_each_block(perm, |_, block| {
                    if block.len() == 1 {
                        g[column(block[0])] = zero;
                        return;
                    }
                    let sum_a = sum4(block, |p| u[column(p)].to_f64() * ranks[column(p)].to_f64());
                    let sum_r = sum4(block, |p| ranks[column(p)].to_f64());
                    let f = sum_a / sum_r;
                    let x0 = x[column(block[0])].to_f64();
                    let mut acc = dot;
                    for &p in block {
                        let i = column(p);
                        let r = ranks[i].to_f64();
                        let v = c * (u[i].to_f64() * r - r * f);
                        g[i] = T::from_f64(v);
                        acc += v * (x[i].to_f64() - x0);
                    }
                    dot = acc;
                });
            }
        }
        dot
    }
}
