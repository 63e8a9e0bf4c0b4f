//! `ndcg_loss`: one minus the NDCG of the soft ranks of the scores.
//!
//! Per row: `r = soft_rank(scores, descending)`, gains `G = 2^relevance − 1`,
//! `DCG = Σ G_i / log2(1 + r_i)`, `IDCG = Σ_j G_(j) / log2(1 + j)` (gains sorted decreasingly),
//! `loss = 1 − DCG/IDCG`, or 0 (with zero gradient) when `IDCG = 0`. Relevance receives no
//! gradient.
//!
//! [`backward`] is the VJP and [`jvp`] the JVP, which chains the soft ranks' JVP of the scores
//! (the relevance has no tangent); [`hvp`] is the derivative of the backward.

use std::f64::consts::LN_2;
use std::sync::Arc;

use super::soft_rank::{hvp_checks, row_work, tangent_checks, Ranker, Weighed};
use crate::check::{scan_rows_min, Check, RangeScan};
use crate::masked::{Layout, Masked};
use crate::num::ln_table;
use crate::scratch::{take, with_scratch};
use crate::threads::{run_rows, In, Out};
use crate::{Direction, Error, Real, Regularization, Shape};

const OP: &str = "ndcg_loss";

/// Parameters of `ndcg_loss`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Params<T> {
    /// Regularization strength ε of the soft ranks, finite and > 0.
    pub regularization_strength: T,
    /// Regularization of the soft ranks, `l2` or `kl`.
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

/// Loss per row (`loss`, `[batch]`) of `scores` against graded `relevance` (both
/// `[batch, n]`, relevance finite and ≥ 0), with the descending soft ranks of the scores and
/// their packed residual (`[batch, n]` each) for the backward. Rows with `n = 0` have loss 0.
///
/// `mask`: which items are present (`None`: all); see [masked rows](crate#masked-rows).
#[allow(clippy::too_many_arguments)]
pub fn forward<T: Real>(
    shape: Shape,
    params: &Params<T>,
    scores: &[T],
    relevance: &[T],
    mask: Option<&[bool]>,
    loss: &mut [T],
    ranks: &mut [T],
    permutation: &mut [i32],
) -> Result<(), Error> {
    let Some(mask) = mask else {
        return forward_dense(shape, params, scores, relevance, loss, ranks, permutation);
    };
    Masked::new(OP, shape, mask)
        .real("scores", scores, Layout::Items)
        .real("relevance", relevance, Layout::Items)
        .real_out("loss", loss, Layout::Row)
        .real_out("ranks", ranks, Layout::Items)
        .int_out("permutation", permutation, Layout::Sorted)
        .run(|b, _| {
            let (shape, [scores, relevance], [], [loss, ranks], [permutation]) = b.split();
            forward_dense(shape, params, scores, relevance, loss, ranks, permutation)
        })
}

/// [`forward`] without a mask.
#[allow(clippy::too_many_arguments)]
fn forward_dense<T: Real>(
    shape: Shape,
    params: &Params<T>,
    scores: &[T],
    relevance: &[T],
    loss: &mut [T],
    ranks: &mut [T],
    permutation: &mut [i32],
) -> Result<(), Error> {
    let check = Check::new(OP, shape)?;
    check.matrix("scores", scores.len())?;
    check.matrix("relevance", relevance.len())?;
    check.vector("loss", loss.len())?;
    check.matrix("ranks", ranks.len())?;
    check.matrix("permutation", permutation.len())?;
    let eps = check.strength(params.regularization_strength)?;
    // The value checks in one parallel pass, their errors taken in argument order.
    let [ss, srel] = scan_rows_min(shape, [scores, relevance]);
    let max_abs = check.finite_scanned("scores", scores, ss.scan)?;
    check.nonnegative_scanned("relevance", relevance, srel)?;
    if shape.batch == 0 {
        // Nothing to compute; never size tables by n for an empty batch.
        return Ok(());
    }
    let n = shape.n;
    check.no_overflow("scores", max_abs, eps, max_abs / eps + n as f64)?;

    let ndcg = Ndcg::new(eps, params.regularization, n);
    let bufs = (
        In::new(scores, n),
        In::new(relevance, n),
        Out::new(loss, 1),
        Out::new(ranks, n),
        Out::new(permutation, n),
    );
    run_rows(
        shape.batch,
        row_work(n),
        bufs,
        |rows, (x, rel, mut l, mut r, mut p)| {
            with_scratch(|sc| {
                for i in 0..rows {
                    let (x, rel, r, p) = (x.row(i), rel.row(i), r.row(i), p.row(i));
                    ndcg.ranker.forward_row(&mut sc.row, x, r, p);
                    let gains = take(&mut sc.loss1, n);
                    let idcg = ndcg.ideal_dcg(rel, gains, &mut sc.loss2);
                    let value = if idcg == 0.0 {
                        0.0
                    } else {
                        let dcg: f64 = gains
                            .iter()
                            .zip(r.iter())
                            .map(|(g, rk)| g * LN_2 / rk.to_f64().ln_1p())
                            .sum();
                        1.0 - dcg / idcg
                    };
                    *l.at(i) = T::from_f64(value);
                }
            })
        },
    );
    Ok(())
}

/// Vector-Jacobian product of `ndcg_loss` with one cotangent per row. Only the scores get a
/// gradient; per row also `grad_regularization_strength = −⟨grad_scores, scores⟩/ε`.
///
/// The ideal DCG is recomputed from the relevance (a sort of the row's positive gains, not of
/// the scores: the scores' order comes from `permutation`).
///
/// `mask`: which items are present (`None`: all); see [masked rows](crate#masked-rows).
#[allow(clippy::too_many_arguments)]
pub fn backward<T: Real>(
    shape: Shape,
    params: &Params<T>,
    scores: &[T],
    relevance: &[T],
    mask: Option<&[bool]>,
    ranks: &[T],
    permutation: &[i32],
    cotangent_loss: &[T],
    grad_scores: &mut [T],
    grad_regularization_strength: &mut [T],
) -> Result<(), Error> {
    let Some(mask) = mask else {
        return backward_dense(
            shape,
            params,
            scores,
            relevance,
            ranks,
            permutation,
            cotangent_loss,
            grad_scores,
            grad_regularization_strength,
        );
    };
    Masked::new(OP, shape, mask)
        .real("scores", scores, Layout::Items)
        .real("relevance", relevance, Layout::Items)
        .real("ranks", ranks, Layout::Items)
        .int("permutation", permutation, Layout::Sorted)
        .real("cotangent_loss", cotangent_loss, Layout::Row)
        .real_out("grad_scores", grad_scores, Layout::Items)
        .real_out(
            "grad_regularization_strength",
            grad_regularization_strength,
            Layout::Row,
        )
        .run(|b, _| {
            let (
                shape,
                [scores, relevance, ranks, cotangent_loss],
                [permutation],
                [grad_scores, grad_regularization_strength],
                [],
            ) = b.split();
            backward_dense(
                shape,
                params,
                scores,
                relevance,
                ranks,
                permutation,
                cotangent_loss,
                grad_scores,
                grad_regularization_strength,
            )
        })
}

/// [`backward`] without a mask.
#[allow(clippy::too_many_arguments)]
fn backward_dense<T: Real>(
    shape: Shape,
    params: &Params<T>,
    scores: &[T],
    relevance: &[T],
    ranks: &[T],
    permutation: &[i32],
    cotangent_loss: &[T],
    grad_scores: &mut [T],
    grad_regularization_strength: &mut [T],
) -> Result<(), Error> {
    let check = Check::new(OP, shape)?;
    check.matrix("scores", scores.len())?;
    check.matrix("relevance", relevance.len())?;
    check.matrix("ranks", ranks.len())?;
    check.matrix("permutation", permutation.len())?;
    check.vector("cotangent_loss", cotangent_loss.len())?;
    check.matrix("grad_scores", grad_scores.len())?;
    check.vector(
        "grad_regularization_strength",
        grad_regularization_strength.len(),
    )?;
    let eps = check.strength(params.regularization_strength)?;
    // The value and range checks in one parallel pass, their errors taken in argument order.
    let [ss, srel, sr] = scan_rows_min(shape, [scores, relevance, ranks]);
    check_saves(
        check,
        eps,
        [(scores, ss), (relevance, srel), (ranks, sr)],
        permutation,
    )?;
    let max_g = check.finite_vector("cotangent_loss", cotangent_loss)?;
    // The gradients scale like |g|·n/ε: refuse what would overflow f64.
    check.no_overflow("cotangent_loss", max_g, eps, max_g * shape.n as f64 / eps)?;

    if shape.batch == 0 {
        // Nothing to compute; never size tables by n for an empty batch.
        return Ok(());
    }
    let n = shape.n;
    let ndcg = Ndcg::new(eps, params.regularization, n);
    let bufs = (
        In::new(scores, n),
        In::new(relevance, n),
        In::new(ranks, n),
        In::new(permutation, n),
        In::new(cotangent_loss, 1),
        Out::new(grad_scores, n),
        Out::new(grad_regularization_strength, 1),
    );
    run_rows(
        shape.batch,
        row_work(n),
        bufs,
        |rows, (x, rel, r, p, gl, mut g, mut ge)| {
            with_scratch(|sc| {
                for i in 0..rows {
                    let (x, r, g) = (x.row(i), r.row(i), g.row(i));
                    let h = take(&mut sc.loss1, n);
                    let idcg = ndcg.ideal_dcg(rel.row(i), h, &mut sc.loss2);
                    if idcg == 0.0 {
                        g.fill(T::from_f64(0.0));
                        *ge.at(i) = T::from_f64(0.0);
                        continue;
                    }
                    // h_i = g·G_i / (IDCG · ln 2 · (1 + r_i) · log2(1 + r_i)²)
                    // G_i / IDCG ≤ 1 comes first: g / IDCG alone overflows where the gains are
                    // tiny (relevance ~1e-300).
                    let f = gl.row(i)[0].to_f64() * LN_2;
                    for (hk, rk) in h.iter_mut().zip(r) {
                        let rk = rk.to_f64();
                        let l = rk.ln_1p();
                        *hk = f * (*hk / idcg) / ((1.0 + rk) * l * l);
                    }
                    let dot = ndcg.ranker.backward_row(x, r, p.row(i), &*h, g);
                    *ge.at(i) = T::from_f64(-dot / eps);
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
    [(scores, ss), (relevance, srel), (ranks, sr)]: [(&[T], RangeScan); 3],
    permutation: &[i32],
) -> Result<(), Error> {
    // As the forward checked: the ε-gradient sums values relative to their block.
    let max_abs = check.finite_scanned("scores", scores, ss.scan)?;
    let n = check.shape.n as f64;
    check.no_overflow("scores", max_abs, eps, max_abs / eps + n)?;
    check.nonnegative_scanned("relevance", relevance, srel)?;
    // The gradient and the tangent divide by ln(1 + rank)²: saved ranks must be soft ranks
    // (≥ 1).
    check.soft_ranks_scanned("ranks", ranks, sr)?;
    check.permutation("permutation", permutation)
}

/// Jacobian-vector product of `ndcg_loss`: per row `tangent_loss = Σ_i h_i · dr_i` with `dr` the
/// JVP of the soft ranks (`tangent_scores` and the ε-tangent `tangent_regularization_strength`)
/// and `h_i = G_i / (IDCG · ln 2 · (1 + r_i) · log2(1 + r_i)²)` (the VJP's `h` for `g = 1`). The
/// relevance has no tangent. 0 where `IDCG = 0`. O(n) per row in the scores (no sort of them;
/// the ideal DCG sorts the positive gains, as in the backward).
///
/// `mask`: which items are present (`None`: all); see [masked rows](crate#masked-rows).
#[allow(clippy::too_many_arguments)]
pub fn jvp<T: Real>(
    shape: Shape,
    params: &Params<T>,
    scores: &[T],
    relevance: &[T],
    mask: Option<&[bool]>,
    ranks: &[T],
    permutation: &[i32],
    tangent_scores: &[T],
    tangent_regularization_strength: T,
    tangent_loss: &mut [T],
) -> Result<(), Error> {
    let Some(mask) = mask else {
        return jvp_dense(
            shape,
            params,
            scores,
            relevance,
            ranks,
            permutation,
            tangent_scores,
            tangent_regularization_strength,
            tangent_loss,
        );
    };
    Masked::new(OP, shape, mask)
        .real("scores", scores, Layout::Items)
        .real("relevance", relevance, Layout::Items)
        .real("ranks", ranks, Layout::Items)
        .int("permutation", permutation, Layout::Sorted)
        .real("tangent_scores", tangent_scores, Layout::Items)
        .real_out("tangent_loss", tangent_loss, Layout::Row)
        .run(|b, _| {
            let (
                shape,
                [scores, relevance, ranks, tangent_scores],
                [permutation],
                [tangent_loss],
                [],
            ) = b.split();
            jvp_dense(
                shape,
                params,
                scores,
                relevance,
                ranks,
                permutation,
                tangent_scores,
                tangent_regularization_strength,
                tangent_loss,
            )
        })
}

/// [`jvp`] without a mask.
#[allow(clippy::too_many_arguments)]
fn jvp_dense<T: Real>(
    shape: Shape,
    params: &Params<T>,
    scores: &[T],
    relevance: &[T],
    ranks: &[T],
    permutation: &[i32],
    tangent_scores: &[T],
    tangent_regularization_strength: T,
    tangent_loss: &mut [T],
) -> Result<(), Error> {
    let check = Check::new(OP, shape)?;
    check.matrix("scores", scores.len())?;
    check.matrix("relevance", relevance.len())?;
    check.matrix("ranks", ranks.len())?;
    check.matrix("permutation", permutation.len())?;
    check.matrix("tangent_scores", tangent_scores.len())?;
    check.vector("tangent_loss", tangent_loss.len())?;
    let eps = check.strength(params.regularization_strength)?;
    // The value and range checks in one parallel pass, their errors taken in argument order.
    let [ss, srel, sr, st] = scan_rows_min(shape, [scores, relevance, ranks, tangent_scores]);
    check_saves(
        check,
        eps,
        [(scores, ss), (relevance, srel), (ranks, sr)],
        permutation,
    )?;
    let max_t = check.finite_scanned("tangent_scores", tangent_scores, st.scan)?;
    let t_eps = check.finite_scalar(
        "tangent_regularization_strength",
        tangent_regularization_strength,
    )?;
    tangent_checks(check, eps, "tangent_scores", max_t, t_eps)?;

    if shape.batch == 0 {
        // Nothing to compute; never size tables by n for an empty batch.
        return Ok(());
    }
    let n = shape.n;
    let ndcg = Ndcg::new(eps, params.regularization, n);
    let k = t_eps / eps;
    let bufs = (
        In::new(scores, n),
        In::new(relevance, n),
        In::new(ranks, n),
        In::new(permutation, n),
        In::new(tangent_scores, n),
        Out::new(tangent_loss, 1),
    );
    run_rows(
        shape.batch,
        row_work(n),
        bufs,
        |rows, (x, rel, r, p, t, mut tl)| {
            with_scratch(|sc| {
                for i in 0..rows {
                    let r = r.row(i);
                    let gains = take(&mut sc.loss1, n);
                    let idcg = ndcg.ideal_dcg(rel.row(i), gains, &mut sc.loss2);
                    if idcg == 0.0 {
                        *tl.at(i) = T::from_f64(0.0);
                        continue;
                    }
                    // h_i = G_i / (IDCG · ln 2 · (1 + r_i) · log2(1 + r_i)²), as the backward's
                    // (G_i / IDCG ≤ 1 first), written over the gains.
                    for (hk, rk) in gains.iter_mut().zip(r) {
                        let rk = rk.to_f64();
                        let l = rk.ln_1p();
                        *hk = LN_2 * (*hk / idcg) / ((1.0 + rk) * l * l);
                    }
                    let mut dl = Weighed { w: gains, sum: 0.0 };
                    ndcg.ranker
                        .jvp_row(x.row(i), r, p.row(i), t.row(i), k, &mut dl);
                    *tl.at(i) = T::from_f64(dl.sum);
                }
            })
        },
    );
    Ok(())
}

/// Hessian-vector product of `ndcg_loss`: the derivative of [`backward`] (at fixed
/// `cotangent_loss` = `g`) along `tangent_scores` and the ε-tangent
/// `tangent_regularization_strength`: `hvp_scores` and per row `hvp_regularization_strength`,
/// the Hessian of `g·loss` in (scores, ε) applied to the tangents. The relevance has no tangent.
/// 0 where `IDCG = 0`. O(n) per row in the scores, like the backward.
///
/// The loss is a sum over ranks, `∂loss/∂r_i = h_i` (the backward's `h` for `g = 1`) and
/// `∂²loss/∂r_i² = −h_i · (1 + 2/ln(1 + r_i))/(1 + r_i)`, so with `dr` the soft ranks' JVP the
/// product is the soft-rank Hessian-vector product with cotangent `u = g·h` and second cotangent
/// `g·∂²loss/∂r² ∘ dr` (see [`soft_rank::hvp`](super::soft_rank::hvp)):
/// `hvp_scores = H_z d/ε² + backward(g·∂²loss/∂r² ∘ dr − k·u)` and
/// `hvp_regularization_strength = −(⟨hvp_scores, scores⟩ + ⟨grad_scores, tangent_scores⟩)/ε −
/// k·grad_regularization_strength` (`k = t_ε/ε`).
///
/// `mask`: which items are present (`None`: all); see [masked rows](crate#masked-rows).
#[allow(clippy::too_many_arguments)]
pub fn hvp<T: Real>(
    shape: Shape,
    params: &Params<T>,
    scores: &[T],
    relevance: &[T],
    mask: Option<&[bool]>,
    ranks: &[T],
    permutation: &[i32],
    cotangent_loss: &[T],
    tangent_scores: &[T],
    tangent_regularization_strength: T,
    hvp_scores: &mut [T],
    hvp_regularization_strength: &mut [T],
) -> Result<(), Error> {
    let Some(mask) = mask else {
        return hvp_dense(
            shape,
            params,
            scores,
            relevance,
            ranks,
            permutation,
            cotangent_loss,
            tangent_scores,
            tangent_regularization_strength,
            hvp_scores,
            hvp_regularization_strength,
        );
    };
    Masked::new(OP, shape, mask)
        .real("scores", scores, Layout::Items)
        .real("relevance", relevance, Layout::Items)
        .real("ranks", ranks, Layout::Items)
        .int("permutation", permutation, Layout::Sorted)
        .real("cotangent_loss", cotangent_loss, Layout::Row)
        .real("tangent_scores", tangent_scores, Layout::Items)
        .real_out("hvp_scores", hvp_scores, Layout::Items)
        .real_out(
            "hvp_regularization_strength",
            hvp_regularization_strength,
            Layout::Row,
        )
        .run(|b, _| {
            let (
                shape,
                [scores, relevance, ranks, cotangent_loss, tangent_scores],
                [permutation],
                [hvp_scores, hvp_regularization_strength],
                [],
            ) = b.split();
            hvp_dense(
                shape,
                params,
                scores,
                relevance,
                ranks,
                permutation,
                cotangent_loss,
                tangent_scores,
                tangent_regularization_strength,
                hvp_scores,
                hvp_regularization_strength,
            )
        })
}

/// [`hvp`] without a mask.
#[allow(clippy::too_many_arguments)]
fn hvp_dense<T: Real>(
    shape: Shape,
    params: &Params<T>,
    scores: &[T],
    relevance: &[T],
    ranks: &[T],
    permutation: &[i32],
    cotangent_loss: &[T],
    tangent_scores: &[T],
    tangent_regularization_strength: T,
    hvp_scores: &mut [T],
    hvp_regularization_strength: &mut [T],
) -> Result<(), Error> {
    let check = Check::new(OP, shape)?;
    check.matrix("scores", scores.len())?;
    check.matrix("relevance", relevance.len())?;
    check.matrix("ranks", ranks.len())?;
    check.matrix("permutation", permutation.len())?;
    check.vector("cotangent_loss", cotangent_loss.len())?;
    check.matrix("tangent_scores", tangent_scores.len())?;
    check.matrix("hvp_scores", hvp_scores.len())?;
    check.vector(
        "hvp_regularization_strength",
        hvp_regularization_strength.len(),
    )?;
    let eps = check.strength(params.regularization_strength)?;
    // The value and range checks in one parallel pass, their errors taken in argument order.
    let [ss, srel, sr, st] = scan_rows_min(shape, [scores, relevance, ranks, tangent_scores]);
    check_saves(
        check,
        eps,
        [(scores, ss), (relevance, srel), (ranks, sr)],
        permutation,
    )?;
    let max_g = check.finite_vector("cotangent_loss", cotangent_loss)?;
    check.no_overflow("cotangent_loss", max_g, eps, max_g * shape.n as f64 / eps)?;
    let max_t = check.finite_scanned("tangent_scores", tangent_scores, st.scan)?;
    let t_eps = check.finite_scalar(
        "tangent_regularization_strength",
        tangent_regularization_strength,
    )?;
    tangent_checks(check, eps, "tangent_scores", max_t, t_eps)?;
    // h ≤ 1/(2 ln² 2) and its derivative in r is at most 3/ln 2 times h.
    let tangents = [
        ("tangent_scores", max_t),
        ("tangent_regularization_strength", t_eps.abs()),
    ];
    hvp_checks(check, eps, max_g * 8.0, &tangents)?;

    if shape.batch == 0 {
        // Nothing to compute; never size tables by n for an empty batch.
        return Ok(());
    }
    let n = shape.n;
    let ndcg = Ndcg::new(eps, params.regularization, n);
    let k = t_eps / eps;
    let bufs = (
        In::new(scores, n),
        In::new(relevance, n),
        In::new(ranks, n),
        In::new(permutation, n),
        In::new(cotangent_loss, 1),
        In::new(tangent_scores, n),
        Out::new(hvp_scores, n),
        Out::new(hvp_regularization_strength, 1),
    );
    run_rows(
        shape.batch,
        2 * row_work(n),
        bufs,
        |rows, (x, rel, r, p, gl, t, mut hs, mut he)| {
            with_scratch(|sc| {
                for i in 0..rows {
                    let (x, r, p, t) = (x.row(i), r.row(i), p.row(i), t.row(i));
                    let h = take(&mut sc.loss1, n);
                    let idcg = ndcg.ideal_dcg(rel.row(i), h, &mut sc.loss2);
                    if idcg == 0.0 {
                        hs.row(i).fill(T::from_f64(0.0));
                        *he.at(i) = T::from_f64(0.0);
                        continue;
                    }
                    // h_i = G_i / (IDCG · ln 2 · (1 + r_i) · log2(1 + r_i)²), as the backward's.
                    for (hk, rk) in h.iter_mut().zip(r) {
                        let rk = rk.to_f64();
                        let l = rk.ln_1p();
                        *hk = LN_2 * (*hk / idcg) / ((1.0 + rk) * l * l);
                    }
                    let dr = take(&mut sc.row.f1, n);
                    ndcg.ranker.jvp_row(x, r, p, t, k, dr);
                    let g = gl.row(i)[0].to_f64();
                    // The second cotangent g·∂²loss/∂r² ∘ dr, written over dr.
                    for ((wj, hj), rj) in dr.iter_mut().zip(&*h).zip(r) {
                        let rj = rj.to_f64();
                        *wj *= -g * hj * (1.0 + 2.0 / rj.ln_1p()) / (1.0 + rj);
                    }
                    let (h, w) = (&*h, &*dr);
                    let dots =
                        ndcg.ranker
                            .hvp_row(x, r, p, |j| g * h[j], |j| w[j], t, k, hs.row(i));
                    *he.at(i) = T::from_f64(dots.eps_entry(eps, k));
                }
            })
        },
    );
    Ok(())
}

struct Ndcg {
    ranker: Ranker,
    /// `ln 1, ln 2, …, ln(n + 1)` at least.
    ln: Arc<[f64]>,
}

impl Ndcg {
    fn new(eps: f64, regularization: Regularization, n: usize) -> Self {
        Ndcg {
            ranker: Ranker::new(eps, regularization, Direction::Descending, n),
            ln: ln_table(n + 1),
        }
    }

    /// Writes the gains of a row into `gains` and returns its ideal DCG (0 if every relevance
    /// is 0). `buf` holds the positive gains while they are sorted.
    ///
    /// Gains are `2^rel − 1` computed as `2^rel · (1 − 2^−rel)` (exact for tiny relevance) and,
    /// when the largest relevance exceeds 900, scaled by `2^−(max − 900)` so no sum overflows;
    /// the loss and its gradient only depend on gain ratios.
    fn ideal_dcg<T: Real>(&self, rel: &[T], gains: &mut [f64], buf: &mut Vec<f64>) -> f64 {
        let max = rel.iter().fold(0.0f64, |m, r| m.max(r.to_f64()));
        buf.clear();
        for (g, r) in gains.iter_mut().zip(rel) {
            let r = r.to_f64();
            // 2^(r − (max − 900)) written as 2^((r − max) + 900): `max − 900` rounds for huge
            // relevance (ulp 512 at 3e18), which could leave an exponent of 1024 (∞ gains).
            let e = if max > 900.0 { (r - max) + 900.0 } else { r };
            *g = e.exp2() * -(-r * LN_2).exp_m1();
            if *g > 0.0 {
                buf.push(*g);
            }
        }
        buf.sort_unstable_by(|a, b| b.total_cmp(a));
        // Position j (1-based) is discounted by log2(1 + j) = ln(j + 1)/ln 2.
        buf.iter()
            .enumerate()
            .map(|(j, g)| g * LN_2 / self.ln[j + 1])
            .sum()
    }
}
