//! `spearman_loss`: one minus the Spearman correlation of the soft ranks.
//!
//! Per row: `a = soft_rank(predictions)`, `b = soft_rank(targets)` (ascending), `ā, b̄` their
//! centred copies; `loss = 1 − ⟨ā, b̄⟩/(‖ā‖‖b̄‖)`, or 1 (with zero gradient) when
//! `‖ā‖‖b̄‖ = 0`. Rows need `n ≥ 2`.
//!
//! [`backward`] is the VJP and [`jvp`] the JVP, which chains the soft ranks' JVPs of both
//! inputs into the correlation's derivative; [`hvp`] is the derivative of the backward (the
//! correlation's Hessian through the soft ranks' Jacobians, plus the soft ranks' own second
//! order with the backward's cotangents).

use super::soft_rank::{hvp_checks, row_work, Ranker, Weighed};
use crate::check::{scan_rows, scan_rows_min, Check, RangeScan};
use crate::masked::{Layout, Masked};
use crate::scratch::{take, with_scratch};
use crate::threads::{run_rows, In, Out};
use crate::{Direction, Error, Real, Regularization, Shape};

const OP: &str = "spearman_loss";

/// Parameters of `spearman_loss`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Params<T> {
    /// Regularization strength ε of both soft ranks, finite and > 0.
    pub regularization_strength: T,
    /// Regularization of both soft ranks, `l2` or `kl`.
    pub regularization: Regularization,
}

impl<T: Real> Default for Params<T> {
    /// The spec's defaults: ε = 1, l2.
    fn default() -> Self {
        Params {
            regularization_strength: T::from_f64(1.0),
            regularization: Regularization::L2,
        }
    }
}

/// Loss per row (`loss`, `[batch]`) of `predictions` against `targets` (both `[batch, n]`),
/// with the soft ranks and packed residuals of both (`[batch, n]` each) for the backward.
///
/// `mask`: which items are present (`None`: all); see [masked rows](crate#masked-rows).
#[allow(clippy::too_many_arguments)]
pub fn forward<T: Real>(
    shape: Shape,
    params: &Params<T>,
    predictions: &[T],
    targets: &[T],
    mask: Option<&[bool]>,
    loss: &mut [T],
    prediction_ranks: &mut [T],
    prediction_permutation: &mut [i32],
    target_ranks: &mut [T],
    target_permutation: &mut [i32],
) -> Result<(), Error> {
    let Some(mask) = mask else {
        return forward_dense(
            shape,
            params,
            predictions,
            targets,
            loss,
            prediction_ranks,
            prediction_permutation,
            target_ranks,
            target_permutation,
        );
    };
    Masked::new(OP, shape, mask)
        .min_present(2)
        .real("predictions", predictions, Layout::Items)
        .real("targets", targets, Layout::Items)
        .real_out("loss", loss, Layout::Row)
        .real_out("prediction_ranks", prediction_ranks, Layout::Items)
        .int_out(
            "prediction_permutation",
            prediction_permutation,
            Layout::Sorted,
        )
        .real_out("target_ranks", target_ranks, Layout::Items)
        .int_out("target_permutation", target_permutation, Layout::Sorted)
        .run(|b, _| {
            let (
                shape,
                [predictions, targets],
                [],
                [loss, prediction_ranks, target_ranks],
                [prediction_permutation, target_permutation],
            ) = b.split();
            forward_dense(
                shape,
                params,
                predictions,
                targets,
                loss,
                prediction_ranks,
                prediction_permutation,
                target_ranks,
                target_permutation,
            )
        })
}

/// [`forward`] without a mask.
#[allow(clippy::too_many_arguments)]
fn forward_dense<T: Real>(
    shape: Shape,
    params: &Params<T>,
    predictions: &[T],
    targets: &[T],
    loss: &mut [T],
    prediction_ranks: &mut [T],
    prediction_permutation: &mut [i32],
    target_ranks: &mut [T],
    target_permutation: &mut [i32],
) -> Result<(), Error> {
    let check = Check::new(OP, shape)?.min_n(2)?;
    check.matrix("predictions", predictions.len())?;
    check.matrix("targets", targets.len())?;
    check.vector("loss", loss.len())?;
    check.matrix("prediction_ranks", prediction_ranks.len())?;
    check.matrix("prediction_permutation", prediction_permutation.len())?;
    check.matrix("target_ranks", target_ranks.len())?;
    check.matrix("target_permutation", target_permutation.len())?;
    let eps = check.strength(params.regularization_strength)?;
    if shape.batch == 0 {
        // Nothing to compute; never size tables by n for an empty batch.
        return Ok(());
    }
    let n = shape.n;
    // The finite checks in one parallel pass, their errors taken in argument order.
    let scanned = scan_rows(shape, [predictions, targets]);
    for ((name, data), s) in [("predictions", predictions), ("targets", targets)]
        .into_iter()
        .zip(scanned)
    {
        let max_abs = check.finite_scanned(name, data, s)?;
        check.no_overflow(name, max_abs, eps, max_abs / eps + n as f64)?;
    }

    let ranker = Ranker::new(eps, params.regularization, Direction::Ascending, n);
    let bufs = (
        In::new(predictions, n),
        In::new(targets, n),
        Out::new(loss, 1),
        Out::new(prediction_ranks, n),
        Out::new(prediction_permutation, n),
        Out::new(target_ranks, n),
        Out::new(target_permutation, n),
    );
    run_rows(
        shape.batch,
        2 * row_work(n),
        bufs,
        |rows, (x, y, mut l, mut xr, mut xp, mut yr, mut yp)| {
            with_scratch(|sc| {
                for i in 0..rows {
                    ranker.forward_row(&mut sc.row, x.row(i), xr.row(i), xp.row(i));
                    ranker.forward_row(&mut sc.row, y.row(i), yr.row(i), yp.row(i));
                    let a = take(&mut sc.loss1, n);
                    let b = take(&mut sc.loss2, n);
                    let corr = Correlation::new(xr.row(i), yr.row(i), a, b);
                    *l.at(i) = T::from_f64(corr.map_or(1.0, |c| 1.0 - c.c));
                }
            })
        },
    );
    Ok(())
}

/// Vector-Jacobian product of `spearman_loss` with one cotangent per row; per row also
/// `grad_regularization_strength = −(⟨grad_predictions, predictions⟩ + ⟨grad_targets,
/// targets⟩)/ε`.
///
/// `mask`: which items are present (`None`: all); see [masked rows](crate#masked-rows).
#[allow(clippy::too_many_arguments)]
pub fn backward<T: Real>(
    shape: Shape,
    params: &Params<T>,
    predictions: &[T],
    targets: &[T],
    mask: Option<&[bool]>,
    prediction_ranks: &[T],
    prediction_permutation: &[i32],
    target_ranks: &[T],
    target_permutation: &[i32],
    cotangent_loss: &[T],
    grad_predictions: &mut [T],
    grad_targets: &mut [T],
    grad_regularization_strength: &mut [T],
) -> Result<(), Error> {
    let Some(mask) = mask else {
        return backward_dense(
            shape,
            params,
            predictions,
            targets,
            prediction_ranks,
            prediction_permutation,
            target_ranks,
            target_permutation,
            cotangent_loss,
            grad_predictions,
            grad_targets,
            grad_regularization_strength,
        );
    };
    Masked::new(OP, shape, mask)
        .min_present(2)
        .real("predictions", predictions, Layout::Items)
        .real("targets", targets, Layout::Items)
        .real("prediction_ranks", prediction_ranks, Layout::Items)
        .int(
            "prediction_permutation",
            prediction_permutation,
            Layout::Sorted,
        )
        .real("target_ranks", target_ranks, Layout::Items)
        .int("target_permutation", target_permutation, Layout::Sorted)
        .real("cotangent_loss", cotangent_loss, Layout::Row)
        .real_out("grad_predictions", grad_predictions, Layout::Items)
        .real_out("grad_targets", grad_targets, Layout::Items)
        .real_out(
            "grad_regularization_strength",
            grad_regularization_strength,
            Layout::Row,
        )
        .run(|b, _| {
            let (
                shape,
                [predictions, targets, prediction_ranks, target_ranks, cotangent_loss],
                [prediction_permutation, target_permutation],
                [grad_predictions, grad_targets, grad_regularization_strength],
                [],
            ) = b.split();
            backward_dense(
                shape,
                params,
                predictions,
                targets,
                prediction_ranks,
                prediction_permutation,
                target_ranks,
                target_permutation,
                cotangent_loss,
                grad_predictions,
                grad_targets,
                grad_regularization_strength,
            )
        })
}

/// [`backward`] without a mask.
#[allow(clippy::too_many_arguments)]
fn backward_dense<T: Real>(
    shape: Shape,
    params: &Params<T>,
    predictions: &[T],
    targets: &[T],
    prediction_ranks: &[T],
    prediction_permutation: &[i32],
    target_ranks: &[T],
    target_permutation: &[i32],
    cotangent_loss: &[T],
    grad_predictions: &mut [T],
    grad_targets: &mut [T],
    grad_regularization_strength: &mut [T],
) -> Result<(), Error> {
    let check = Check::new(OP, shape)?.min_n(2)?;
    check.matrix("predictions", predictions.len())?;
    check.matrix("targets", targets.len())?;
    check.matrix("prediction_ranks", prediction_ranks.len())?;
    check.matrix("prediction_permutation", prediction_permutation.len())?;
    check.matrix("target_ranks", target_ranks.len())?;
    check.matrix("target_permutation", target_permutation.len())?;
    check.vector("cotangent_loss", cotangent_loss.len())?;
    check.matrix("grad_predictions", grad_predictions.len())?;
    check.matrix("grad_targets", grad_targets.len())?;
    check.vector(
        "grad_regularization_strength",
        grad_regularization_strength.len(),
    )?;
    let eps = check.strength(params.regularization_strength)?;
    // The value and range checks in one parallel pass, their errors taken in argument order.
    let [sx, sy, sxr, syr] = scan_rows_min(
        shape,
        [predictions, targets, prediction_ranks, target_ranks],
    );
    check_saves(
        check,
        eps,
        [(predictions, sx), (targets, sy)],
        [(prediction_ranks, sxr), (target_ranks, syr)],
        [prediction_permutation, target_permutation],
    )?;
    let max_g = check.finite_vector("cotangent_loss", cotangent_loss)?;
    // The gradients scale like |g|/‖ā‖ · n/ε, and ranks ≥ 1/2 that are not all equal have
    // ‖ā‖ ≥ 2^-54: refuse what could overflow f64.
    check.no_overflow(
        "cotangent_loss",
        max_g,
        eps,
        max_g * shape.n as f64 / eps * 2f64.powi(56),
    )?;

    if shape.batch == 0 {
        // Nothing to compute; never size tables by n for an empty batch.
        return Ok(());
    }
    let n = shape.n;
    let ranker = Ranker::new(eps, params.regularization, Direction::Ascending, n);
    let bufs = (
        In::new(predictions, n),
        In::new(targets, n),
        In::new(prediction_ranks, n),
        In::new(prediction_permutation, n),
        In::new(target_ranks, n),
        In::new(target_permutation, n),
        In::new(cotangent_loss, 1),
        Out::new(grad_predictions, n),
        Out::new(grad_targets, n),
        Out::new(grad_regularization_strength, 1),
    );
    run_rows(
        shape.batch,
        2 * row_work(n),
        bufs,
        |rows, (x, y, xr, xp, yr, yp, gl, mut gx, mut gy, mut ge)| {
            with_scratch(|sc| {
                for i in 0..rows {
                    let a = take(&mut sc.loss1, n);
                    let b = take(&mut sc.loss2, n);
                    let Some(corr) = Correlation::new(xr.row(i), yr.row(i), a, b) else {
                        gx.row(i).fill(T::from_f64(0.0));
                        gy.row(i).fill(T::from_f64(0.0));
                        *ge.at(i) = T::from_f64(0.0);
                        continue;
                    };
                    // d loss/d a = −(b̄/(‖ā‖‖b̄‖) − c·ā/‖ā‖²), and symmetrically for b; the
                    // centring is a projection that leaves ā and b̄ unchanged.
                    let g = gl.row(i)[0].to_f64();
                    let inv_ab = 1.0 / (corr.norm_a * corr.norm_b);
                    let ca = corr.c / (corr.norm_a * corr.norm_a);
                    let cb = corr.c / (corr.norm_b * corr.norm_b);
                    for (ak, bk) in a.iter_mut().zip(b.iter_mut()) {
                        let (abar, bbar) = (*ak, *bk);
                        *ak = -g * (bbar * inv_ab - ca * abar);
                        *bk = -g * (abar * inv_ab - cb * bbar);
                    }
                    let dot_x = ranker.backward_row(x.row(i), xr.row(i), xp.row(i), &*a, gx.row(i));
                    let dot_y = ranker.backward_row(y.row(i), yr.row(i), yp.row(i), &*b, gy.row(i));
                    *ge.at(i) = T::from_f64(-(dot_x + dot_y) / eps);
                }
            })
        },
    );
    Ok(())
}

/// The forward's inputs and saves as the backward and the JVP check them, from one scan,
/// errors in argument order.
fn check_saves<T: Real>(
    check: Check,
    eps: f64,
    [(predictions, sx), (targets, sy)]: [(&[T], RangeScan); 2],
    [(prediction_ranks, sxr), (target_ranks, syr)]: [(&[T], RangeScan); 2],
    [prediction_permutation, target_permutation]: [&[i32]; 2],
) -> Result<(), Error> {
    let n = check.shape.n as f64;
    // As the forward checked: the ε-gradient sums values relative to their block.
    let max_abs = check.finite_scanned("predictions", predictions, sx.scan)?;
    check.no_overflow("predictions", max_abs, eps, max_abs / eps + n)?;
    let max_abs = check.finite_scanned("targets", targets, sy.scan)?;
    check.no_overflow("targets", max_abs, eps, max_abs / eps + n)?;
    check.soft_ranks_scanned("prediction_ranks", prediction_ranks, sxr)?;
    check.permutation("prediction_permutation", prediction_permutation)?;
    check.soft_ranks_scanned("target_ranks", target_ranks, syr)?;
    check.permutation("target_permutation", target_permutation)
}

/// Jacobian-vector product of `spearman_loss`: per row `tangent_loss = ⟨∂loss/∂a, da⟩ +
/// ⟨∂loss/∂b, db⟩` with `da`, `db` the JVPs of the two soft ranks (`tangent_predictions`,
/// `tangent_targets` and the one ε-tangent `tangent_regularization_strength` shared by both)
/// and `∂loss/∂a = −(b̄/(‖ā‖‖b̄‖) − c·ā/‖ā‖²)`, symmetrically for b. 0 where `‖ā‖‖b̄‖ = 0`.
/// The saves and residuals are the forward's; O(n) per row, no sort.
///
/// `mask`: which items are present (`None`: all); see [masked rows](crate#masked-rows).
#[allow(clippy::too_many_arguments)]
pub fn jvp<T: Real>(
    shape: Shape,
    params: &Params<T>,
    predictions: &[T],
    targets: &[T],
    mask: Option<&[bool]>,
    prediction_ranks: &[T],
    prediction_permutation: &[i32],
    target_ranks: &[T],
    target_permutation: &[i32],
    tangent_predictions: &[T],
    tangent_targets: &[T],
    tangent_regularization_strength: T,
    tangent_loss: &mut [T],
) -> Result<(), Error> {
    let Some(mask) = mask else {
        return jvp_dense(
            shape,
            params,
            predictions,
            targets,
            prediction_ranks,
            prediction_permutation,
            target_ranks,
            target_permutation,
            tangent_predictions,
            tangent_targets,
            tangent_regularization_strength,
            tangent_loss,
        );
    };
    Masked::new(OP, shape, mask)
        .min_present(2)
        .real("predictions", predictions, Layout::Items)
        .real("targets", targets, Layout::Items)
        .real("prediction_ranks", prediction_ranks, Layout::Items)
        .int("prediction_permutation", prediction_permutation, Layout::Sorted)
        .real("target_ranks", target_ranks, Layout::Items)
        .int("target_permutation", target_permutation, Layout::Sorted)
        .real("tangent_predictions", tangent_predictions, Layout::Items)
        .real("tangent_targets", tangent_targets, Layout::Items)
        .real_out("tangent_loss", tangent_loss, Layout::Row)
        .run(|b, _| {
            let (shape, [predictions, targets, prediction_ranks, target_ranks, tangent_predictions, tangent_targets], [prediction_permutation, target_permutation], [tangent_loss], []) = b.split();
            jvp_dense(shape, params, predictions, targets, prediction_ranks, prediction_permutation, target_ranks, target_permutation, tangent_predictions, tangent_targets, tangent_regularization_strength, tangent_loss)
        })
}

/// [`jvp`] without a mask.
#[allow(clippy::too_many_arguments)]
fn jvp_dense<T: Real>(
    shape: Shape,
    params: &Params<T>,
    predictions: &[T],
    targets: &[T],
    prediction_ranks: &[T],
    prediction_permutation: &[i32],
    target_ranks: &[T],
    target_permutation: &[i32],
    tangent_predictions: &[T],
    tangent_targets: &[T],
    tangent_regularization_strength: T,
    tangent_loss: &mut [T],
) -> Result<(), Error> {
    let check = Check::new(OP, shape)?.min_n(2)?;
    check.matrix("predictions", predictions.len())?;
    check.matrix("targets", targets.len())?;
    check.matrix("prediction_ranks", prediction_ranks.len())?;
    check.matrix("prediction_permutation", prediction_permutation.len())?;
    check.matrix("target_ranks", target_ranks.len())?;
    check.matrix("target_permutation", target_permutation.len())?;
    check.matrix("tangent_predictions", tangent_predictions.len())?;
    check.matrix("tangent_targets", tangent_targets.len())?;
    check.vector("tangent_loss", tangent_loss.len())?;
    let eps = check.strength(params.regularization_strength)?;
    // The value and range checks in one parallel pass, their errors taken in argument order.
    let [sx, sy, sxr, syr, stx, sty] = scan_rows_min(
        shape,
        [
            predictions,
            targets,
            prediction_ranks,
            target_ranks,
            tangent_predictions,
            tangent_targets,
        ],
    );
    check_saves(
        check,
        eps,
        [(predictions, sx), (targets, sy)],
        [(prediction_ranks, sxr), (target_ranks, syr)],
        [prediction_permutation, target_permutation],
    )?;
    let max_tx = check.finite_scanned("tangent_predictions", tangent_predictions, stx.scan)?;
    let max_ty = check.finite_scanned("tangent_targets", tangent_targets, sty.scan)?;
    let t_eps = check.finite_scalar(
        "tangent_regularization_strength",
        tangent_regularization_strength,
    )?;
    // The rank tangents scale like (|t| + |t_ε|)·n/ε and ranks ≥ 1/2 that are not all equal
    // have ‖ā‖ ≥ 2^-54: refuse what could overflow f64.
    let f = shape.n as f64 / eps * 2f64.powi(56);
    check.no_overflow("tangent_predictions", max_tx, eps, max_tx * f)?;
    check.no_overflow("tangent_targets", max_ty, eps, max_ty * f)?;
    check.no_overflow(
        "tangent_regularization_strength",
        t_eps.abs(),
        eps,
        (max_tx + max_ty + t_eps.abs()) * f,
    )?;

    if shape.batch == 0 {
        // Nothing to compute; never size tables by n for an empty batch.
        return Ok(());
    }
    let n = shape.n;
    let ranker = Ranker::new(eps, params.regularization, Direction::Ascending, n);
    let k = t_eps / eps;
    let bufs = (
        In::new(predictions, n),
        In::new(targets, n),
        In::new(prediction_ranks, n),
        In::new(prediction_permutation, n),
        In::new(target_ranks, n),
        In::new(target_permutation, n),
        In::new(tangent_predictions, n),
        In::new(tangent_targets, n),
        Out::new(tangent_loss, 1),
    );
    run_rows(
        shape.batch,
        2 * row_work(n),
        bufs,
        |rows, (x, y, xr, xp, yr, yp, tx, ty, mut tl)| {
            with_scratch(|sc| {
                for i in 0..rows {
                    let a = take(&mut sc.loss1, n);
                    let b = take(&mut sc.loss2, n);
                    let Some(corr) = Correlation::new(xr.row(i), yr.row(i), a, b) else {
                        *tl.at(i) = T::from_f64(0.0);
                        continue;
                    };
                    // ∂c/∂a = b̄/(‖ā‖‖b̄‖) − c·ā/‖ā‖², and symmetrically for b, written over the
                    // centred ranks as in the backward.
                    let inv_ab = 1.0 / (corr.norm_a * corr.norm_b);
                    let ca = corr.c / (corr.norm_a * corr.norm_a);
                    let cb = corr.c / (corr.norm_b * corr.norm_b);
                    for (ak, bk) in a.iter_mut().zip(b.iter_mut()) {
                        let (abar, bbar) = (*ak, *bk);
                        *ak = bbar * inv_ab - ca * abar;
                        *bk = abar * inv_ab - cb * bbar;
                    }
                    // The rank tangents go straight into their weighed sums.
                    let mut da = Weighed { w: a, sum: 0.0 };
                    ranker.jvp_row(x.row(i), xr.row(i), xp.row(i), tx.row(i), k, &mut da);
                    let mut db = Weighed { w: b, sum: 0.0 };
                    ranker.jvp_row(y.row(i), yr.row(i), yp.row(i), ty.row(i), k, &mut db);
                    *tl.at(i) = T::from_f64(-(da.sum + db.sum));
                }
            })
        },
    );
    Ok(())
}

/// Hessian-vector product of `spearman_loss`: the derivative of [`backward`] (at fixed
/// `cotangent_loss` = `g`) along `tangent_predictions`, `tangent_targets` and the one ε-tangent
/// `tangent_regularization_strength` (shared by both soft ranks): `hvp_predictions`,
/// `hvp_targets` and per row `hvp_regularization_strength`, the Hessian of `g·loss` in
/// (predictions, targets, ε) applied to the tangents. The saves and residuals are the
/// forward's; O(n) per row, no sort. 0 where `‖ā‖‖b̄‖ = 0` (as the backward).
///
/// With `â = ā/‖ā‖`, `b̂ = b̄/‖b̄‖`, `c = ⟨â, b̂⟩` and `δā`, `δb̄` the centred JVPs of the two soft
/// ranks, `α = ⟨â, δā⟩`, `β = ⟨b̂, δb̄⟩`, `dc = (⟨b̂, δā⟩ − cα)/‖ā‖ + (⟨â, δb̄⟩ − cβ)/‖b̄‖`,
/// `dâ = (δā − αâ)/‖ā‖`, `db̂ = (δb̄ − βb̂)/‖b̄‖`, the derivative of `∂c/∂a = (b̂ − câ)/‖ā‖` is
/// `wa = (db̂ − dc·â − c·dâ)/‖ā‖ − α·(b̂ − câ)/‖ā‖²` (and symmetrically `wb`). Each input then gets
/// the soft-rank Hessian-vector product of its ranks with cotangent `u = −g·∂c/∂a` and second
/// cotangent `−g·wa` (see [`soft_rank::hvp`](super::soft_rank::hvp)): `H_z d/ε² +
/// backward(−g·wa − k·u)`, and `hvp_regularization_strength = −(⟨hvp_predictions, predictions⟩ +
/// ⟨hvp_targets, targets⟩ + ⟨grad_predictions, tangent_predictions⟩ + ⟨grad_targets,
/// tangent_targets⟩)/ε − k·grad_regularization_strength` (`k = t_ε/ε`).
///
/// `mask`: which items are present (`None`: all); see [masked rows](crate#masked-rows).
#[allow(clippy::too_many_arguments)]
pub fn hvp<T: Real>(
    shape: Shape,
    params: &Params<T>,
    predictions: &[T],
    targets: &[T],
    mask: Option<&[bool]>,
    prediction_ranks: &[T],
    prediction_permutation: &[i32],
    target_ranks: &[T],
    target_permutation: &[i32],
    cotangent_loss: &[T],
    tangent_predictions: &[T],
    tangent_targets: &[T],
    tangent_regularization_strength: T,
    hvp_predictions: &mut [T],
    hvp_targets: &mut [T],
    hvp_regularization_strength: &mut [T],
) -> Result<(), Error> {
    let Some(mask) = mask else {
        return hvp_dense(
            shape,
            params,
            predictions,
            targets,
            prediction_ranks,
            prediction_permutation,
            target_ranks,
            target_permutation,
            cotangent_loss,
            tangent_predictions,
            tangent_targets,
            tangent_regularization_strength,
            hvp_predictions,
            hvp_targets,
            hvp_regularization_strength,
        );
    };
    Masked::new(OP, shape, mask)
        .min_present(2)
        .real("predictions", predictions, Layout::Items)
        .real("targets", targets, Layout::Items)
        .real("prediction_ranks", prediction_ranks, Layout::Items)
        .int("prediction_permutation", prediction_permutation, Layout::Sorted)
        .real("target_ranks", target_ranks, Layout::Items)
        .int("target_permutation", target_permutation, Layout::Sorted)
        .real("cotangent_loss", cotangent_loss, Layout::Row)
        .real("tangent_predictions", tangent_predictions, Layout::Items)
        .real("tangent_targets", tangent_targets, Layout::Items)
        .real_out("hvp_predictions", hvp_predictions, Layout::Items)
        .real_out("hvp_targets", hvp_targets, Layout::Items)
        .real_out("hvp_regularization_strength", hvp_regularization_strength, Layout::Row)
        .run(|b, _| {
            let (shape, [predictions, targets, prediction_ranks, target_ranks, cotangent_loss, tangent_predictions, tangent_targets], [prediction_permutation, target_permutation], [hvp_predictions, hvp_targets, hvp_regularization_strength], []) = b.split();
            hvp_dense(shape, params, predictions, targets, prediction_ranks, prediction_permutation, target_ranks, target_permutation, cotangent_loss, tangent_predictions, tangent_targets, tangent_regularization_strength, hvp_predictions, hvp_targets, hvp_regularization_strength)
        })
}

/// [`hvp`] without a mask.
#[allow(clippy::too_many_arguments)]
fn hvp_dense<T: Real>(
    shape: Shape,
    params: &Params<T>,
    predictions: &[T],
    targets: &[T],
    prediction_ranks: &[T],
    prediction_permutation: &[i32],
    target_ranks: &[T],
    target_permutation: &[i32],
    cotangent_loss: &[T],
    tangent_predictions: &[T],
    tangent_targets: &[T],
    tangent_regularization_strength: T,
    hvp_predictions: &mut [T],
    hvp_targets: &mut [T],
    hvp_regularization_strength: &mut [T],
) -> Result<(), Error> {
    let check = Check::new(OP, shape)?.min_n(2)?;
    check.matrix("predictions", predictions.len())?;
    check.matrix("targets", targets.len())?;
    check.matrix("prediction_ranks", prediction_ranks.len())?;
    check.matrix("prediction_permutation", prediction_permutation.len())?;
    check.matrix("target_ranks", target_ranks.len())?;
    check.matrix("target_permutation", target_permutation.len())?;
    check.vector("cotangent_loss", cotangent_loss.len())?;
    check.matrix("tangent_predictions", tangent_predictions.len())?;
    check.matrix("tangent_targets", tangent_targets.len())?;
    check.matrix("hvp_predictions", hvp_predictions.len())?;
    check.matrix("hvp_targets", hvp_targets.len())?;
    check.vector(
        "hvp_regularization_strength",
        hvp_regularization_strength.len(),
    )?;
    let eps = check.strength(params.regularization_strength)?;
    // The value and range checks in one parallel pass, their errors taken in argument order.
    let [sx, sy, sxr, syr, stx, sty] = scan_rows_min(
        shape,
        [
            predictions,
            targets,
            prediction_ranks,
            target_ranks,
            tangent_predictions,
            tangent_targets,
        ],
    );
    check_saves(
        check,
        eps,
        [(predictions, sx), (targets, sy)],
        [(prediction_ranks, sxr), (target_ranks, syr)],
        [prediction_permutation, target_permutation],
    )?;
    let max_g = check.finite_vector("cotangent_loss", cotangent_loss)?;
    // As the backward: ranks ≥ 1/2 that are not all equal have ‖ā‖ ≥ 2^-54.
    let n = shape.n as f64;
    check.no_overflow(
        "cotangent_loss",
        max_g,
        eps,
        max_g * n / eps * 2f64.powi(56),
    )?;
    let max_tx = check.finite_scanned("tangent_predictions", tangent_predictions, stx.scan)?;
    let max_ty = check.finite_scanned("tangent_targets", tangent_targets, sty.scan)?;
    let t_eps = check.finite_scalar(
        "tangent_regularization_strength",
        tangent_regularization_strength,
    )?;
    let f = n / eps * 2f64.powi(56);
    check.no_overflow("tangent_predictions", max_tx, eps, max_tx * f)?;
    check.no_overflow("tangent_targets", max_ty, eps, max_ty * f)?;
    check.no_overflow(
        "tangent_regularization_strength",
        t_eps.abs(),
        eps,
        (max_tx + max_ty + t_eps.abs()) * f,
    )?;
    // The second derivative of the correlation divides by ‖ā‖² (and ‖ā‖‖b̄‖).
    let tangents = [
        ("tangent_predictions", max_tx),
        ("tangent_targets", max_ty),
        ("tangent_regularization_strength", t_eps.abs()),
    ];
    hvp_checks(check, eps, max_g * 2f64.powi(112), &tangents)?;

    if shape.batch == 0 {
        // Nothing to compute; never size tables by n for an empty batch.
        return Ok(());
    }
    let n = shape.n;
    let ranker = Ranker::new(eps, params.regularization, Direction::Ascending, n);
    let k = t_eps / eps;
    let bufs = (
        (
            In::new(predictions, n),
            In::new(targets, n),
            In::new(prediction_ranks, n),
            In::new(prediction_permutation, n),
            In::new(target_ranks, n),
            In::new(target_permutation, n),
        ),
        In::new(cotangent_loss, 1),
        In::new(tangent_predictions, n),
        In::new(tangent_targets, n),
        Out::new(hvp_predictions, n),
        Out::new(hvp_targets, n),
        Out::new(hvp_regularization_strength, 1),
    );
    run_rows(
        shape.batch,
        3 * row_work(n),
        bufs,
        |rows, ((x, y, xr, xp, yr, yp), gl, tx, ty, mut hx, mut hy, mut he)| {
            with_scratch(|sc| {
                for i in 0..rows {
                    let a = take(&mut sc.loss1, n);
                    let b = take(&mut sc.loss2, n);
                    let Some(corr) = Correlation::new(xr.row(i), yr.row(i), a, b) else {
                        hx.row(i).fill(T::from_f64(0.0));
                        hy.row(i).fill(T::from_f64(0.0));
                        *he.at(i) = T::from_f64(0.0);
                        continue;
                    };
                    let (x, y, xr, xp, yr, yp) = (
                        x.row(i),
                        y.row(i),
                        xr.row(i),
                        xp.row(i),
                        yr.row(i),
                        yp.row(i),
                    );
                    let (tx, ty) = (tx.row(i), ty.row(i));
                    // The rank tangents, centred (the loss sees the centred ranks).
                    let da = take(&mut sc.row.f1, n);
                    ranker.jvp_row(x, xr, xp, tx, k, da);
                    centre_in_place(da);
                    let db = take(&mut sc.row.f2, n);
                    ranker.jvp_row(y, yr, yp, ty, k, db);
                    centre_in_place(db);
                    let (na, nb, c) = (corr.norm_a, corr.norm_b, corr.c);
                    let dot =
                        |p: &[f64], q: &[f64]| -> f64 { p.iter().zip(q).map(|(p, q)| p * q).sum() };
                    let alpha = dot(a, da) / na;
                    let beta = dot(b, db) / nb;
                    let dc = (dot(b, da) / nb - c * alpha) / na + (dot(a, db) / na - c * beta) / nb;
                    let g = gl.row(i)[0].to_f64();
                    // Per entry, written over the four rows (each entry reads only its own):
                    // the first cotangents −g·∂c/∂a, −g·∂c/∂b over ā, b̄ and the second ones
                    // −g·wa, −g·wb over δā, δb̄.
                    for (((aj, bj), daj), dbj) in a
                        .iter_mut()
                        .zip(b.iter_mut())
                        .zip(da.iter_mut())
                        .zip(db.iter_mut())
                    {
                        let (ha, hb) = (*aj / na, *bj / nb);
                        let ca = (hb - c * ha) / na;
                        let cb = (ha - c * hb) / nb;
                        let dhat_a = (*daj - alpha * ha) / na;
                        let dhat_b = (*dbj - beta * hb) / nb;
                        *daj = -g * ((dhat_b - dc * ha - c * dhat_a) / na - alpha * ca / na);
                        *dbj = -g * ((dhat_a - dc * hb - c * dhat_b) / nb - beta * cb / nb);
                        *aj = -g * ca;
                        *bj = -g * cb;
                    }
                    let (ua, ub, wa, wb) = (&*a, &*b, &*da, &*db);
                    let dots_x = ranker.hvp_row(x, xr, xp, |j| ua[j], |j| wa[j], tx, k, hx.row(i));
                    let dots_y = ranker.hvp_row(y, yr, yp, |j| ub[j], |j| wb[j], ty, k, hy.row(i));
                    *he.at(i) = T::from_f64(dots_x.plus(dots_y).eps_entry(eps, k));
                }
            })
        },
    );
    Ok(())
}

/// Subtracts a row's mean from it.
fn centre_in_place(v: &mut [f64]) {
    let mean = v.iter().sum::<f64>() / v.len() as f64;
    v.iter_mut().for_each(|e| *e -= mean);
}

/// The correlation of two rows of ranks.
struct Correlation {
    c: f64,
    norm_a: f64,
    norm_b: f64,
}

impl Correlation {
    /// Writes the centred rows into `a` and `b`; `None` if either is constant (`‖ā‖‖b̄‖ = 0`).
    fn new<T: Real>(ranks_a: &[T], ranks_b: &[T], a: &mut [f64], b: &mut [f64]) -> Option<Self> {
        let norm_a = centre(ranks_a, a);
        let norm_b = centre(ranks_b, b);
        let dot: f64 = a.iter().zip(b.iter()).map(|(x, y)| x * y).sum();
        let norms = norm_a * norm_b;
        (norms != 0.0).then(|| Correlation {
            c: dot / norms,
            norm_a,
            norm_b,
        })
    }
}

/// Writes `r − mean(r)` into `out` and returns its norm. The mean is taken relative to `r[0]`,
/// so a constant row centres to exactly zero (no rounding residue that would fake a
/// correlation).
fn centre<T: Real>(r: &[T], out: &mut [f64]) -> f64 {
    let r0 = r[0].to_f64();
    let mean = r.iter().map(|v| v.to_f64() - r0).sum::<f64>() / r.len() as f64;
    let mut sq = 0.0;
    for (o, v) in out.iter_mut().zip(r) {
        *o = (v.to_f64() - r0) - mean;
        sq += *o * *o;
    }
    sq.sqrt()
}
