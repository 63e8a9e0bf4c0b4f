//! `soft_topk`: the sparse, differentiable top-k mask of each row (Sander et al. 2023, "Fast,
//! Differentiable and Sparse Top-k: a Convex Analysis Perspective"). Core only so far: not yet
//! in the spec.
//!
//! Per row `x`: `sign = +1` descending (the k largest, the default), `−1` ascending (the k
//! smallest); `z = sign·x`; `σ` sorts `z` decreasingly, `s = z[σ]`; `w = (1, …, 1, 0, …, 0)` with
//! `k` ones (`0 ≤ k ≤ n`). The mask is `argmax_{y ∈ [0,1]ⁿ, Σy = k} ⟨z, y⟩ − ε·Ω(y)`:
//! - l2 (`Ω = ½‖y‖²`): `v = PAV_l2(s/ε − w)`, `y = s/ε − v`;
//! - p43 (`Ω = ¾ Σ y^{4/3}`): `v` is the non-increasing minimiser of `Σ ¼(s_i − v_i)⁴ + ε³ w_i
//!   v_i`, a block's value the real root of `Σ_B (s_i − v)³ = ε³ Σ_B w_i`, `y = ((s − v)/ε)³`;
//!
//! and `mask = y[σ⁻¹]`. Every entry lies in `[0, 1]`, each row sums to `k`, and as ε → 0 the
//! mask is the hard top-k indicator (tied values share).
//!
//! # The one block
//!
//! With `w` a step, the PAV scan never merges within the top `k` (their `s_i − ε` do not
//! increase) nor within the rest (their `s_i` do not increase): blocks merge on a strict
//! violation only, so tied values where `w` is flat stay apart — their mask is locally
//! constant (exactly 1 or 0), and pooling them would give it a non-zero gradient. The only
//! block of more than one item is the boundary block `[a, b)` around positions `k − 1, k`; it
//! grows while its neighbours violate, and every value in it lies within ε of the block's value
//! (so `(s_i − v)/ε ∈ [0, 1]`). Outside it the mask is exactly 1 (before) or exactly 0 (after).
//! The scan is O(n) after the sort; the block's power sums are taken about the block's mean,
//! in units of ε, and the p43 cubic is solved in closed form without cancellation, so the mask
//! keeps full relative accuracy at any `|x|` and ε.
//!
//! [`backward`] is the VJP and [`jvp`] the JVP, both O(n) per row from the saved `permutation`
//! residual (sorting permutation + PAV blocks, as soft_rank's): with `e = (s − v)/ε` on the
//! block, the Jacobian of `y` in `s/ε` is `I − 11ᵀ/|B|` (l2) or `diag(3e²)(I − 1cᵀ/Σc)` with
//! `c = e²` (p43), and zero outside the block. The mask depends on `x/ε` only, so the
//! ε-gradient is `−⟨g, x⟩/ε`, taken as `−⟨g_s, e⟩` (the block's value cancels).
//!
//! [`hvp`], the derivative of the backward (the Hessian of `⟨u, mask⟩` in `(x, ε)` applied to a
//! tangent), is O(n) per row from the same residual. l2's mask is linear in `x/ε` on each
//! piece, so `H_xx = 0` and only the terms in ε remain; p43 differentiates the block equation
//! `Σ_B e³ = ones` twice, which gives `d²v = 2ε·Σ_B e·de·de′ / Σ_B e²` and the formulas at
//! [`hvp`]. Outside the block the mask is constant, and so is the backward.

use super::{permutation_backward_rows, CotangentGrad, PermutationBackward};
use crate::check::{scan_rows, Check, Num};
use crate::error::Error;
use crate::masked::{self, Layout, Masked};
use crate::pav::{column, for_each_block};
use crate::scratch::{take, with_scratch, RowScratch};
use crate::sort::sort_row;
use crate::threads::{run_rows, In, Out};
use crate::{Direction, Real, Shape, TopkRegularization};

const OP: &str = "soft_topk";

/// Parameters of `soft_topk`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Params<T> {
    /// How many items the mask selects: `0 ≤ k ≤ n` (checked against each call's `n`).
    pub k: i64,
    /// Regularization strength ε, finite and > 0; smaller is closer to the hard top-k.
    pub regularization_strength: T,
    /// The penalty of the mask, `l2` or `p43`.
    pub regularization: TopkRegularization,
    /// `Descending` (the default) selects the k largest values, `Ascending` the k smallest.
    pub direction: Direction,
}

impl<T: Real> Default for Params<T> {
    /// k = 1, ε = 1, l2, descending.
    fn default() -> Self {
        Params {
            k: 1,
            regularization_strength: T::from_f64(1.0),
            regularization: TopkRegularization::L2,
            direction: Direction::Descending,
        }
    }
}

impl<T: Copy> Params<T> {
    /// The params of a masked row of `n_valid` present items out of `n`: a valid `k` above
    /// `n_valid` selects every present item (an invalid one is left for the check to report).
    fn for_present(&self, n: usize, n_valid: usize) -> Self {
        let k = match usize::try_from(self.k) {
            Ok(k) if k <= n => k.min(n_valid) as i64,
            _ => self.k,
        };
        Params { k, ..*self }
    }
}

/// The top-k masks of the rows of `values` (`[batch, n]`, row-major) into `mask`, and the packed
/// sort + PAV residual into `permutation` (both `[batch, n]`). O(n log n) per row.
///
/// `mask`: which items are present (`None`: all); see [masked rows](crate#masked-rows).
#[allow(clippy::too_many_arguments)]
pub fn forward<T: Real>(
    shape: Shape,
    params: &Params<T>,
    values: &[T],
    mask: Option<&[bool]>,
    selection: &mut [T],
    permutation: &mut [i32],
) -> Result<(), Error> {
    let Some(mask) = mask else {
        return forward_dense(shape, params, values, selection, permutation);
    };
    let n = shape.n;
    Masked::new(OP, shape, mask)
        .real("values", values, Layout::Items)
        .real_out("selection", selection, Layout::Items)
        .int_out("permutation", permutation, Layout::Sorted)
        .run(|b, n_valid| {
            let (shape, [values], [], [selection], [permutation]) = b.split();
            let params = &params.for_present(n, n_valid);
            forward_dense(shape, params, values, selection, permutation)
        })
}

/// [`forward`] without a mask.
fn forward_dense<T: Real>(
    shape: Shape,
    params: &Params<T>,
    values: &[T],
    selection: &mut [T],
    permutation: &mut [i32],
) -> Result<(), Error> {
    let check = Check::new(OP, shape)?;
    check.matrix("values", values.len())?;
    check.matrix("selection", selection.len())?;
    check.matrix("permutation", permutation.len())?;
    let k = check.up_to_n("k", params.k)?;
    let eps = check.strength(params.regularization_strength)?;
    let [scanned] = scan_rows(shape, [values]);
    // Nothing overflows here: the block's sums are in units of ε over values within ε of each
    // other, and values far apart are only compared.
    check.finite_scanned("values", values, scanned)?;

    if shape.batch == 0 || shape.n == 0 {
        return Ok(());
    }
    let n = shape.n;
    let topk = Topk::new(eps, k, params);
    let bufs = (
        In::new(values, n),
        Out::new(selection, n),
        Out::new(permutation, n),
    );
    run_rows(
        shape.batch,
        super::soft_rank::row_work(n),
        bufs,
        |rows, (x, mut y, mut p)| {
            with_scratch(|sc| {
                for i in 0..rows {
                    topk.forward_row(&mut sc.row, x.row(i), y.row(i), p.row(i));
                }
            })
        },
    );
    Ok(())
}

/// Vector-Jacobian product of `soft_topk`: `grad_values = cotangent_selectionᵀ · ∂mask/∂values` and
/// per row `grad_regularization_strength = −⟨grad_values, values⟩/ε`. `values` and
/// `permutation` are the forward's; O(n) per row, no sort. Only the boundary block has a
/// non-zero gradient.
///
/// `mask`: which items are present (`None`: all); see [masked rows](crate#masked-rows).
#[allow(clippy::too_many_arguments)]
pub fn backward<T: Real>(
    shape: Shape,
    params: &Params<T>,
    values: &[T],
    mask: Option<&[bool]>,
    permutation: &[i32],
    cotangent_selection: &[T],
    grad_values: &mut [T],
    grad_regularization_strength: &mut [T],
) -> Result<(), Error> {
    let Some(mask) = mask else {
        return backward_dense(
            shape,
            params,
            values,
            permutation,
            cotangent_selection,
            grad_values,
            grad_regularization_strength,
        );
    };
    let n = shape.n;
    Masked::new(OP, shape, mask)
        .real("values", values, Layout::Items)
        .int("permutation", permutation, Layout::Sorted)
        .real("cotangent_selection", cotangent_selection, Layout::Items)
        .real_out("grad_values", grad_values, Layout::Items)
        .real_out(
            "grad_regularization_strength",
            grad_regularization_strength,
            Layout::Row,
        )
        .run(|b, n_valid| {
            let (
                shape,
                [values, cotangent_selection],
                [permutation],
                [grad_values, grad_regularization_strength],
                [],
            ) = b.split();
            let params = &params.for_present(n, n_valid);
            backward_dense(
                shape,
                params,
                values,
                permutation,
                cotangent_selection,
                grad_values,
                grad_regularization_strength,
            )
        })
}

/// [`backward`] without a mask.
#[allow(clippy::too_many_arguments)]
fn backward_dense<T: Real>(
    shape: Shape,
    params: &Params<T>,
    values: &[T],
    permutation: &[i32],
    cotangent_selection: &[T],
    grad_values: &mut [T],
    grad_regularization_strength: &mut [T],
) -> Result<(), Error> {
    let cg = CotangentGrad::Separate(cotangent_selection, grad_values);
    backward_impl(
        shape,
        params,
        values,
        permutation,
        cg,
        grad_regularization_strength,
    )
}

/// [`backward`] with the gradient written over the cotangent: `cotangent_grad` holds
/// `cotangent_selection` on entry and `grad_values` on return (bit for bit what [`backward`] gives).
/// On an error the buffer is unchanged.
///
/// `mask`: which items are present (`None`: all); see [masked rows](crate#masked-rows).
#[allow(clippy::too_many_arguments)]
pub fn backward_in_place<T: Real>(
    shape: Shape,
    params: &Params<T>,
    values: &[T],
    mask: Option<&[bool]>,
    permutation: &[i32],
    cotangent_grad: &mut [T],
    grad_regularization_strength: &mut [T],
) -> Result<(), Error> {
    let Some(mask) = mask else {
        return backward_in_place_dense(
            shape,
            params,
            values,
            permutation,
            cotangent_grad,
            grad_regularization_strength,
        );
    };
    masked::in_place_from_copy(cotangent_grad, |cotangent, grad| {
        backward(
            shape,
            params,
            values,
            Some(mask),
            permutation,
            cotangent,
            grad,
            grad_regularization_strength,
        )
    })
}

/// [`backward_in_place`] without a mask.
fn backward_in_place_dense<T: Real>(
    shape: Shape,
    params: &Params<T>,
    values: &[T],
    permutation: &[i32],
    cotangent_grad: &mut [T],
    grad_regularization_strength: &mut [T],
) -> Result<(), Error> {
    let cg = CotangentGrad::InPlace(cotangent_grad);
    backward_impl(
        shape,
        params,
        values,
        permutation,
        cg,
        grad_regularization_strength,
    )
}

fn backward_impl<T: Real>(
    shape: Shape,
    params: &Params<T>,
    values: &[T],
    permutation: &[i32],
    cg: CotangentGrad<'_, T>,
    grad_regularization_strength: &mut [T],
) -> Result<(), Error> {
    let (cotangent_selection, grad_len) = cg.cotangent();
    let check = Check::new(OP, shape)?;
    check.matrix("values", values.len())?;
    check.matrix("permutation", permutation.len())?;
    check.matrix("cotangent_selection", cotangent_selection.len())?;
    check.matrix("grad_values", grad_len)?;
    check.vector(
        "grad_regularization_strength",
        grad_regularization_strength.len(),
    )?;
    let k = check.up_to_n("k", params.k)?;
    let eps = check.strength(params.regularization_strength)?;
    let [sv, su] = scan_rows(shape, [values, cotangent_selection]);
    check.finite_scanned("values", values, sv)?;
    check.permutation("permutation", permutation)?;
    let max_u = check.finite_scanned("cotangent_selection", cotangent_selection, su)?;
    // |g| ≤ 3|u|·2/ε per item (e ∈ [0, 1]), and the ε-gradient sums n of them.
    check.no_overflow("cotangent_selection", max_u, eps, 6.0 * max_u / eps)?;

    if shape.batch == 0 {
        return Ok(());
    }
    let n = shape.n;
    let topk = Topk::new(eps, k, params);
    permutation_backward_rows(
        &topk,
        (shape.batch, n, n * 4),
        values,
        permutation,
        cg,
        grad_regularization_strength,
    );
    Ok(())
}

/// Jacobian-vector product of `soft_topk`: `tangent_selection = ∂mask/∂values · tangent_values +
/// ∂mask/∂ε · tangent_regularization_strength`. `values` and `permutation` are the forward's;
/// O(n) per row, no sort.
///
/// On the boundary block, in sorted order, with `q = sign·t[σ] − t_ε·e` (`e = (s − v)/ε`):
/// `d mask = (q − mean_B q)/ε` (l2) or `3e²∘(q − Σ_B e²q / Σ_B e²)/ε` (p43); 0 elsewhere. The
/// ε-tangent is one scalar for the call: `⟨u, jvp(t, t_ε)⟩ = ⟨backward(u), t⟩ + t_ε · Σ_rows
/// grad_regularization_strength`.
///
/// `mask`: which items are present (`None`: all); see [masked rows](crate#masked-rows).
#[allow(clippy::too_many_arguments)]
pub fn jvp<T: Real>(
    shape: Shape,
    params: &Params<T>,
    values: &[T],
    mask: Option<&[bool]>,
    permutation: &[i32],
    tangent_values: &[T],
    tangent_regularization_strength: T,
    tangent_selection: &mut [T],
) -> Result<(), Error> {
    let Some(mask) = mask else {
        return jvp_dense(
            shape,
            params,
            values,
            permutation,
            tangent_values,
            tangent_regularization_strength,
            tangent_selection,
        );
    };
    let n = shape.n;
    Masked::new(OP, shape, mask)
        .real("values", values, Layout::Items)
        .int("permutation", permutation, Layout::Sorted)
        .real("tangent_values", tangent_values, Layout::Items)
        .real_out("tangent_selection", tangent_selection, Layout::Items)
        .run(|b, n_valid| {
            let (shape, [values, tangent_values], [permutation], [tangent_selection], []) =
                b.split();
            let params = &params.for_present(n, n_valid);
            jvp_dense(
                shape,
                params,
                values,
                permutation,
                tangent_values,
                tangent_regularization_strength,
                tangent_selection,
            )
        })
}

/// [`jvp`] without a mask.
#[allow(clippy::too_many_arguments)]
fn jvp_dense<T: Real>(
    shape: Shape,
    params: &Params<T>,
    values: &[T],
    permutation: &[i32],
    tangent_values: &[T],
    tangent_regularization_strength: T,
    tangent_selection: &mut [T],
) -> Result<(), Error> {
    let check = Check::new(OP, shape)?;
    check.matrix("values", values.len())?;
    check.matrix("permutation", permutation.len())?;
    check.matrix("tangent_values", tangent_values.len())?;
    check.matrix("tangent_selection", tangent_selection.len())?;
    let k = check.up_to_n("k", params.k)?;
    let eps = check.strength(params.regularization_strength)?;
    let [sv, st] = scan_rows(shape, [values, tangent_values]);
    check.finite_scanned("values", values, sv)?;
    check.permutation("permutation", permutation)?;
    let max_t = check.finite_scanned("tangent_values", tangent_values, st)?;
    let t_eps = check.finite_scalar(
        "tangent_regularization_strength",
        tangent_regularization_strength,
    )?;
    // |d mask| ≤ 3·2·(|t| + |t_ε|)/ε.
    check.no_overflow("tangent_values", max_t, eps, 6.0 * max_t / eps)?;
    check.no_overflow(
        "tangent_regularization_strength",
        t_eps.abs(),
        eps,
        6.0 * (max_t + t_eps.abs()) / eps,
    )?;

    if shape.batch == 0 {
        return Ok(());
    }
    let n = shape.n;
    let topk = Topk::new(eps, k, params);
    let bufs = (
        In::new(values, n),
        In::new(permutation, n),
        In::new(tangent_values, n),
        Out::new(tangent_selection, n),
    );
    run_rows(shape.batch, n * 4, bufs, |rows, (x, p, t, mut out)| {
        with_scratch(|sc| {
            for i in 0..rows {
                topk.jvp_row(&mut sc.row, x.row(i), p.row(i), t.row(i), t_eps, out.row(i));
            }
        })
    });
    Ok(())
}

/// Hessian-vector product of `soft_topk`: the derivative of [`backward`] (at a fixed
/// `cotangent_selection` `u`) along `(tangent_values, tangent_regularization_strength)` = `(t, τ)`.
/// Per row, with `φ = ⟨u, mask⟩`: `hvp_values = H_xx t + H_xε τ` and
/// `hvp_regularization_strength = H_εx t + H_εε τ`. `values` and `permutation` are the
/// forward's; O(n) per row, no sort.
///
/// On the boundary block, in sorted order, with `t_s = sign·t[σ]`, `g_s` the backward's gradient
/// there and `g_ε` its ε-gradient (`hvp_values = sign·h_s[σ⁻¹]`, 0 outside the block):
/// - l2 (the mask is linear in `x/ε` on each piece, so `H_xx = 0`):
///   `h_s = −τ·g_s/ε`, `hvp_ε = −⟨g_s, t_s⟩/ε − 2τ·g_ε/ε`;
/// - p43 (`Σ_B e³ = ones` differentiated twice): with `c = e²`, `ũ = u_s − Σcu/Σc`,
///   `de = (q − Σcq/Σc)/ε` the JVP's (`q = t_s − τ·e`), `a = 6·ũ∘e∘de` and
///   `b = (a − c·Σa/Σc)/ε`: `h_s = b − τ·g_s/ε`, `hvp_ε = −⟨b, e⟩ − ⟨g_s, t_s⟩/ε − 2τ·g_ε/ε`.
///
/// The Hessian is symmetric: `⟨(w, ω), hvp(t, τ)⟩ = ⟨(t, τ), hvp(w, ω)⟩` summed over rows.
///
/// `mask`: which items are present (`None`: all); see [masked rows](crate#masked-rows).
#[allow(clippy::too_many_arguments)]
pub fn hvp<T: Real>(
    shape: Shape,
    params: &Params<T>,
    values: &[T],
    mask: Option<&[bool]>,
    permutation: &[i32],
    cotangent_selection: &[T],
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
            permutation,
            cotangent_selection,
            tangent_values,
            tangent_regularization_strength,
            hvp_values,
            hvp_regularization_strength,
        );
    };
    let n = shape.n;
    Masked::new(OP, shape, mask)
        .real("values", values, Layout::Items)
        .int("permutation", permutation, Layout::Sorted)
        .real("cotangent_selection", cotangent_selection, Layout::Items)
        .real("tangent_values", tangent_values, Layout::Items)
        .real_out("hvp_values", hvp_values, Layout::Items)
        .real_out(
            "hvp_regularization_strength",
            hvp_regularization_strength,
            Layout::Row,
        )
        .run(|b, n_valid| {
            let (
                shape,
                [values, cotangent_selection, tangent_values],
                [permutation],
                [hvp_values, hvp_regularization_strength],
                [],
            ) = b.split();
            let params = &params.for_present(n, n_valid);
            hvp_dense(
                shape,
                params,
                values,
                permutation,
                cotangent_selection,
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
    permutation: &[i32],
    cotangent_selection: &[T],
    tangent_values: &[T],
    tangent_regularization_strength: T,
    hvp_values: &mut [T],
    hvp_regularization_strength: &mut [T],
) -> Result<(), Error> {
    let check = Check::new(OP, shape)?;
    check.matrix("values", values.len())?;
    check.matrix("permutation", permutation.len())?;
    check.matrix("cotangent_selection", cotangent_selection.len())?;
    check.matrix("tangent_values", tangent_values.len())?;
    check.matrix("hvp_values", hvp_values.len())?;
    check.vector(
        "hvp_regularization_strength",
        hvp_regularization_strength.len(),
    )?;
    let k = check.up_to_n("k", params.k)?;
    let eps = check.strength(params.regularization_strength)?;
    let [sv, su, st] = scan_rows(shape, [values, cotangent_selection, tangent_values]);
    check.finite_scanned("values", values, sv)?;
    check.permutation("permutation", permutation)?;
    let max_u = check.finite_scanned("cotangent_selection", cotangent_selection, su)?;
    let max_t = check.finite_scanned("tangent_values", tangent_values, st)?;
    let t_eps = check.finite_scalar(
        "tangent_regularization_strength",
        tangent_regularization_strength,
    )?;
    // As the backward and the JVP: |g_s| ≤ 6|u|/ε, |de| ≤ 2(|t| + |τ|)/ε per item.
    check.no_overflow("cotangent_selection", max_u, eps, 6.0 * max_u / eps)?;
    check.no_overflow("tangent_values", max_t, eps, 6.0 * max_t / eps)?;
    check.no_overflow(
        "tangent_regularization_strength",
        t_eps.abs(),
        eps,
        6.0 * (max_t + t_eps.abs()) / eps,
    )?;
    // |a| ≤ 24|u|(|t| + |τ|)/ε, |b| ≤ (n + 1)·|a|/ε, and the ε-entry sums n of them.
    let n = shape.n as f64;
    let bound = (max_u / eps) * ((max_t + t_eps.abs()) / eps) * 48.0 * (n + 1.0) * n;
    if !bound.is_finite() {
        return Err(Error::invalid_argument(
            OP,
            format_args!(
                "cotangent_selection × tangent / regularization_strength² overflows (max |cotangent_selection| = {}, max |tangent_values| = {}, |tangent_regularization_strength| = {}, regularization_strength = {})",
                Num(max_u),
                Num(max_t),
                Num(t_eps.abs()),
                Num(eps)
            ),
        ));
    }

    if shape.batch == 0 {
        return Ok(());
    }
    let n = shape.n;
    let topk = Topk::new(eps, k, params);
    let bufs = (
        In::new(values, n),
        In::new(permutation, n),
        In::new(cotangent_selection, n),
        In::new(tangent_values, n),
        Out::new(hvp_values, n),
        Out::new(hvp_regularization_strength, 1),
    );
    run_rows(
        shape.batch,
        n * 4,
        bufs,
        |rows, (x, p, u, t, mut out, mut he)| {
            with_scratch(|sc| {
                for i in 0..rows {
                    let row = (x.row(i), p.row(i), u.row(i), t.row(i));
                    let d = topk.hvp_row(&mut sc.row, row, t_eps, out.row(i));
                    *he.at(i) = T::from_f64(d);
                }
            })
        },
    );
    Ok(())
}

/// Welford's running mean and centred second and third power sums, for the merge decisions of
/// the boundary block (values in units of ε, within a few units of each other).
#[derive(Clone, Copy, Default)]
struct Moments {
    m: f64,
    mean: f64,
    m2: f64,
    m3: f64,
}

impl Moments {
    #[inline]
    fn push(&mut self, x: f64) {
        let m1 = self.m;
        self.m += 1.0;
        let delta = x - self.mean;
        let dn = delta / self.m;
        let t1 = delta * dn * m1;
        self.mean += dn;
        self.m3 += t1 * dn * (self.m - 2.0) - 3.0 * dn * self.m2;
        self.m2 += t1;
    }
}

/// The real root `t` of `m t³ + 3 M2 t + (W − M3) = 0` (`m ≥ 1`, `M2 ≥ 0`): the p43 block value
/// less the block's mean, in units of ε, from its centred power sums. The left side increases
/// strictly in `t`, so the root is unique; Cardano's form `t = −q / (A² + p/3 + (p/3A)²)`, with
/// `A = ∛(|q|/2 + √(q²/4 + p³/27))`, adds positive terms only, so no digit cancels.
#[inline]
fn cubic_root(m: f64, m2: f64, m3: f64, w: f64) -> f64 {
    let p = 3.0 * m2.max(0.0) / m;
    let q = (w - m3) / m;
    if q == 0.0 {
        return 0.0;
    }
    let h = 0.5 * q.abs();
    let d = (h * h + p * p * p / 27.0).sqrt();
    let a = (h + d).cbrt();
    let b = p / (3.0 * a);
    let t = -q / (a * a + p / 3.0 + b * b);
    // One Newton step on the centred cubic: the closed form is already within a few ulps.
    let f = (m * t * t + 3.0 * m2) * t + (w - m3);
    let df = 3.0 * (m * t * t + m2);
    if df > 0.0 {
        t - f / df
    } else {
        t
    }
}

/// The soft_topk row kernels with their parameters resolved.
struct Topk {
    eps: f64,
    k: usize,
    descending: bool,
    p43: bool,
}

impl PermutationBackward for Topk {
    #[inline]
    fn row<T: Real, U: Real>(
        &self,
        sc: &mut RowScratch,
        x: &[T],
        perm: &[i32],
        u: &[U],
        g: &mut [T],
    ) -> f64 {
        self.backward_row(sc, x, perm, u, g)
    }
}

impl Topk {
    fn new<T: Real>(eps: f64, k: usize, params: &Params<T>) -> Self {
        Topk {
            eps,
            k,
            descending: params.direction == Direction::Descending,
            p43: params.regularization == TopkRegularization::P43,
        }
    }

    fn sign(&self) -> f64 {
        if self.descending {
            1.0
        } else {
            -1.0
        }
    }

    /// The block value in units of ε, relative to the running moments' origin.
    #[inline]
    fn value(&self, st: &Moments, ones: f64) -> f64 {
        if self.p43 {
            st.mean + cubic_root(st.m, st.m2, st.m3, ones)
        } else {
            st.mean - ones / st.m
        }
    }

    /// The boundary block `[a, b)` of the sorted row `s`, or `(k, k)` if every block is a
    /// singleton. The stack scan of PAV, specialised: only the block containing `k − 1` and `k`
    /// ever grows, by the next item on the right, then by items on the left while they violate.
    fn boundary(&self, s: &[f64]) -> (usize, usize) {
        let (n, k) = (s.len(), self.k);
        if k == 0 || k == n {
            return (k, k);
        }
        let anchor = s[k - 1];
        // A strict violation of s_{k−1} − ε ≥ s_k (exact for ties: they always pool here).
        if anchor - s[k] >= self.eps {
            return (k, k);
        }
        let inv = 1.0 / self.eps;
        let x = |i: usize| (s[i] - anchor) * inv;
        let mut st = Moments::default();
        st.push(0.0);
        st.push(x(k));
        let (mut a, mut b, mut ones) = (k - 1, k + 1, 1.0);
        loop {
            let mut v = self.value(&st, ones);
            // The singleton before the block has value x − 1 (in units of ε).
            while a > 0 && x(a - 1) - 1.0 < v {
                a -= 1;
                st.push(x(a));
                ones += 1.0;
                v = self.value(&st, ones);
            }
            if b < n && v < x(b) {
                st.push(x(b));
                b += 1;
            } else {
                return (a, b);
            }
        }
    }

    /// `e_j = (s_j − v)/ε`, clamped to `[0, 1]` (where it lies but for rounding), of a block of
    /// `e.len()` sorted values `s(j)` with `ones` of them in the top k; `e` is the output.
    /// Power sums about the block's mean, in units of ε, then the block value.
    #[allow(clippy::manual_clamp)]
    fn block_e(&self, s: impl Fn(usize) -> f64, ones: f64, e: &mut [f64]) {
        let m = e.len() as f64;
        let inv = 1.0 / self.eps;
        let s0 = s(0);
        let mut sum = 0.0;
        for (j, ej) in e.iter_mut().enumerate() {
            *ej = (s(j) - s0) * inv;
            sum += *ej;
        }
        let mean = sum / m;
        let t = if self.p43 {
            let (mut m2, mut m3, mut m1) = (0.0, 0.0, 0.0);
            for ej in e.iter_mut() {
                *ej -= mean;
                let d = *ej;
                m1 += d;
                m2 += d * d;
                m3 += d * d * d;
            }
            // The rounding residue of the mean, folded in: Σ(d − c)³ with c = m1/m.
            let c = m1 / m;
            m3 -= 3.0 * c * m2 - 2.0 * m * c * c * c;
            m2 -= m * c * c;
            c + cubic_root(m, m2, m3, ones)
        } else {
            for ej in e.iter_mut() {
                *ej -= mean;
            }
            -ones / m
        };
        for ej in e.iter_mut() {
            // max/min (not clamp): a NaN from corrupt saved values becomes 0, never output.
            *ej = (*ej - t).max(0.0).min(1.0);
        }
    }

    fn forward_row<T: Real>(&self, sc: &mut RowScratch, x: &[T], out: &mut [T], perm: &mut [i32]) {
        let n = x.len();
        let s = take(&mut sc.f1, n);
        sort_row(x, self.descending, &mut sc.sort, perm, s);
        let s = &*s;
        let (a, b) = self.boundary(s);
        let (zero, one) = (T::from_f64(0.0), T::from_f64(1.0));
        out.fill(zero);
        for &p in &perm[..a] {
            out[p as usize] = one;
        }
        if b > a {
            let e = take(&mut sc.f2, b - a);
            self.block_e(|j| s[a + j], (self.k - a) as f64, e);
            for (&ej, &p) in e.iter().zip(&perm[a..b]) {
                out[p as usize] = T::from_f64(if self.p43 { ej * ej * ej } else { ej });
            }
        }
        // Every position starts a block but those inside [a, b).
        for (j, p) in perm.iter_mut().enumerate() {
            if j <= a || j >= b {
                *p = !*p;
            }
        }
    }

    /// The blocks of more than one item of a residual row, with their `e` in `sc.f2` and their
    /// count of top-k items: calls `f(block, e)`.
    fn for_each_pooled<T: Real>(
        &self,
        sc: &mut RowScratch,
        x: &[T],
        perm: &[i32],
        mut f: impl FnMut(&[i32], &[f64]),
    ) {
        let sign = self.sign();
        let k = self.k;
        for_each_block(perm, |a, block| {
            if block.len() == 1 {
                return;
            }
            let m = block.len();
            // A valid residual of another call may pool elsewhere: clamp the count of ones.
            let ones = k.saturating_sub(a).min(m) as f64;
            let e = take(&mut sc.f2, m);
            self.block_e(|j| sign * x[column(block[j])].to_f64(), ones, e);
            f(block, e);
        });
    }

    /// One row of the backward; writes `g` and returns the ε-gradient of the row.
    fn backward_row<T: Real, U: Real>(
        &self,
        sc: &mut RowScratch,
        x: &[T],
        perm: &[i32],
        u: &[U],
        g: &mut [T],
    ) -> f64 {
        let sign = self.sign();
        let inv = 1.0 / self.eps;
        let p43 = self.p43;
        g.fill(T::from_f64(0.0));
        let mut dot = 0.0;
        self.for_each_pooled(sc, x, perm, |block, e| {
            let uj = |j: usize| u[column(block[j])].to_f64();
            if p43 {
                // g_s = 3/ε · (c∘u − c·Σcu/Σc), c = e².
                let (mut sc_, mut scu) = (0.0, 0.0);
                for (j, &ej) in e.iter().enumerate() {
                    let c = ej * ej;
                    sc_ += c;
                    scu += c * uj(j);
                }
                let f = if sc_ > 0.0 { scu / sc_ } else { 0.0 };
                for (j, &ej) in e.iter().enumerate() {
                    let gs = 3.0 * inv * (ej * ej) * (uj(j) - f);
                    g[column(block[j])] = T::from_f64(sign * gs);
                    dot += gs * ej;
                }
            } else {
                let mean = (0..e.len()).map(uj).sum::<f64>() / e.len() as f64;
                for (j, &ej) in e.iter().enumerate() {
                    let gs = inv * (uj(j) - mean);
                    g[column(block[j])] = T::from_f64(sign * gs);
                    dot += gs * ej;
                }
            }
        });
        -dot
    }

    /// One row of the JVP with tangent `t` and ε-tangent `t_eps`; writes `out` (input order).
    fn jvp_row<T: Real, U: Real>(
        &self,
        sc: &mut RowScratch,
        x: &[T],
        perm: &[i32],
        t: &[U],
        t_eps: f64,
        out: &mut [T],
    ) {
        let sign = self.sign();
        let inv = 1.0 / self.eps;
        let p43 = self.p43;
        out.fill(T::from_f64(0.0));
        self.for_each_pooled(sc, x, perm, |block, e| {
            // q = sign·t[σ] − t_ε·e: the tangent of s/ε (times ε), less a constant.
            let q = |j: usize| sign * t[column(block[j])].to_f64() - t_eps * e[j];
            if p43 {
                let (mut sc_, mut scq) = (0.0, 0.0);
                for (j, &ej) in e.iter().enumerate() {
                    let c = ej * ej;
                    sc_ += c;
                    scq += c * q(j);
                }
                let f = if sc_ > 0.0 { scq / sc_ } else { 0.0 };
                for (j, &ej) in e.iter().enumerate() {
                    out[column(block[j])] = T::from_f64(3.0 * inv * (ej * ej) * (q(j) - f));
                }
            } else {
                let mean = (0..e.len()).map(q).sum::<f64>() / e.len() as f64;
                for j in 0..e.len() {
                    out[column(block[j])] = T::from_f64(inv * (q(j) - mean));
                }
            }
        });
    }

    /// One row of the HVP with cotangent `u`, tangent `t` and ε-tangent `t_eps`; writes `out`
    /// (input order) and returns the row's ε-entry. Cotangent and tangents enter scaled by 1/ε,
    /// so every intermediate is within the checked bound on `|u|/ε · (|t| + |τ|)/ε`.
    fn hvp_row<T: Real>(
        &self,
        sc: &mut RowScratch,
        (x, perm, u, t): (&[T], &[i32], &[T], &[T]),
        t_eps: f64,
        out: &mut [T],
    ) -> f64 {
        let sign = self.sign();
        let inv = 1.0 / self.eps;
        let ti = t_eps * inv;
        let p43 = self.p43;
        out.fill(T::from_f64(0.0));
        let mut he = 0.0;
        self.for_each_pooled(sc, x, perm, |block, e| {
            let ui = |j: usize| inv * u[column(block[j])].to_f64();
            // q/ε = (t_s − τ·e)/ε.
            let tsi = |j: usize| sign * inv * t[column(block[j])].to_f64();
            let qi = |j: usize| tsi(j) - ti * e[j];
            // Σ g_s·e and Σ g_s·t_s/ε, for the ε-entry.
            let (mut ge, mut gt) = (0.0, 0.0);
            if p43 {
                let (mut sc_, mut scu, mut scq) = (0.0, 0.0, 0.0);
                for (j, &ej) in e.iter().enumerate() {
                    let c = ej * ej;
                    sc_ += c;
                    scu += c * ui(j);
                    scq += c * qi(j);
                }
                let (fu, fq) = if sc_ > 0.0 {
                    (scu / sc_, scq / sc_)
                } else {
                    (0.0, 0.0)
                };
                // ũ/ε and de (the JVP's); a/ε = 6·(ũ/ε)∘e∘de.
                let a = |j: usize| 6.0 * (ui(j) - fu) * e[j] * (qi(j) - fq);
                let mut sa = 0.0;
                for (j, &ej) in e.iter().enumerate() {
                    sa += a(j);
                    let gs = 3.0 * (ej * ej) * (ui(j) - fu);
                    ge += gs * ej;
                    gt += gs * tsi(j);
                }
                let fa = if sc_ > 0.0 { sa / sc_ } else { 0.0 };
                let mut be = 0.0;
                for (j, &ej) in e.iter().enumerate() {
                    let c = ej * ej;
                    let b = a(j) - c * fa;
                    let gs = 3.0 * c * (ui(j) - fu);
                    be += b * ej;
                    out[column(block[j])] = T::from_f64(sign * (b - ti * gs));
                }
                he -= be;
            } else {
                let mean = (0..e.len()).map(ui).sum::<f64>() / e.len() as f64;
                for (j, &ej) in e.iter().enumerate() {
                    let gs = ui(j) - mean;
                    ge += gs * ej;
                    gt += gs * tsi(j);
                    out[column(block[j])] = T::from_f64(sign * (-ti * gs));
                }
            }
            // With g_ε = −Σ g_s·e: −⟨g_s, t_s⟩/ε − 2τ·g_ε/ε.
            he += 2.0 * ti * ge - gt;
        });
        he
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cubic_root_solves_the_centred_cubic() {
        for &(m, m2, m3, w) in &[
            (1.0, 0.0, 0.0, 1.0),
            (2.0, 0.5, 0.0, 1.0),
            (5.0, 3.0, -1.0, 2.0),
            (3.0, 1e-12, 1e-18, 1.0),
            (1000.0, 80.0, 5.0, 500.0),
            (4.0, 2.0, 7.0, 0.0),
        ] {
            let t: f64 = cubic_root(m, m2, m3, w);
            let f = m * t * t * t + 3.0 * m2 * t + (w - m3);
            let scale = (m * t.abs().powi(3)) + 3.0 * m2 * t.abs() + w + m3.abs();
            assert!(
                f.abs() <= 1e-14 * scale,
                "{m} {m2} {m3} {w}: t = {t}, f = {f}"
            );
        }
    }
}
