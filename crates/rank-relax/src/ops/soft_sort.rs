//! `soft_sort`: differentiable sorted values of each row.
//!
//! Per row `x`: `sign = −1` ascending, `+1` descending; `z = sign·x`; `σ` sorts `z`
//! decreasingly, `s = z[σ]`; `w = (n, …, 1)/ε`.
//! - l2: `v = PAV_l2(w − s)`, `sorted = sign·(w − v)`;
//! - kl: `v = PAV_kl(w, s)`, `sorted = sign·(w − v)`.
//!
//! The output is in sorted order and monotone along the row; as ε → 0 it is the hard sort.
//!
//! [`backward`] is the VJP (`g[σ] = M(u)`) and [`jvp`] the JVP, its transpose (`Mᵀ(t[σ])`, in
//! sorted order), both O(n) per row from the saved `permutation` residual. [`hvp`] is the
//! derivative of the backward along `(t, t_ε)` at a fixed cotangent `u` (the Hessian of
//! `⟨u, sorted⟩` applied to `(t, t_ε)`), O(n) per row as well. On each block `B` of the
//! forward the gradient in `x` does not depend on ε, so `H_xε = 0`; with `U_B = Σ_B u`:
//! - l2: `H_xx = 0` (piecewise linear);
//! - kl: `(H_xx t)[σ_j] = sign·U_B·p_j·(t[σ_j] − Σ_B p_i t[σ_i])`, `p = softmax(s_B)`;
//! - both: `H_εε = sign/ε³ · (2C − Σ_B U_B·Var_B / ε)`, `C = Σ_B Σ_j u_{a+j}(μ_B − j)`, where
//!   `μ_B`, `Var_B` are the mean and variance of the offset `j` in the block (starting at `a`)
//!   under `π = softmax(w_B)`, uniform for l2 (`Var_B` drops out: `π` is then fixed); the
//!   ε-gradient is `−sign·C/ε²`.

use super::{permutation_backward_rows, CotangentGrad, PermutationBackward};
use crate::check::{scan_rows, Check};
use crate::masked::{self, Layout, Masked};
use crate::num::sum4;
use crate::pav::{column, for_each_block, mark_blocks, pav_kl, pav_l2};
use crate::scratch::{take, with_scratch, RowScratch};
use crate::sort::sort_row;
use crate::threads::{run_rows, In, Out};
use crate::{Direction, Error, Real, Regularization, Shape};

const OP: &str = "soft_sort";

/// Parameters of `soft_sort`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Params<T> {
    /// Regularization strength ε, finite and > 0; smaller is closer to the hard sort.
    pub regularization_strength: T,
    /// Regularization of the projection, `l2` or `kl`.
    pub regularization: Regularization,
    /// Sorting direction: `Ascending` returns increasing values.
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

/// `values` as the forward checks them, and the backward and the JVP again (the sorted values
/// and the ε-gradient scale like `(max|x| + n)/ε`), from their [`scan_rows`] result.
pub(crate) fn check_values<T: Real>(
    check: Check,
    eps: f64,
    values: &[T],
    scanned: (bool, f64),
) -> Result<(), Error> {
    let max_abs = check.finite_scanned("values", values, scanned)?;
    let n = check.shape.n as f64;
    check.no_overflow("values", max_abs, eps, (max_abs + n) / eps)
}

/// The JVP's inputs past the lengths, as soft_sort's and soft_quantile's JVPs check them (from
/// one [`scan_rows`] of `values` and `tangent_values`); returns the ε-tangent.
pub(crate) fn check_jvp_inputs<T: Real>(
    check: Check,
    eps: f64,
    (values, sv): (&[T], (bool, f64)),
    permutation: &[i32],
    (tangent_values, st): (&[T], (bool, f64)),
    tangent_regularization_strength: T,
) -> Result<f64, Error> {
    check_values(check, eps, values, sv)?;
    check.permutation("permutation", permutation)?;
    let max_t = check.finite_scanned("tangent_values", tangent_values, st)?;
    let t_eps = check.finite_scalar(
        "tangent_regularization_strength",
        tangent_regularization_strength,
    )?;
    // The tangents are block averages of `t` plus the ε part, up to `|t_ε|·n/ε²`.
    check.no_overflow("tangent_values", max_t, eps, max_t)?;
    let n = check.shape.n as f64;
    check.no_overflow(
        "tangent_regularization_strength",
        t_eps.abs(),
        eps,
        max_t + t_eps.abs() * n / eps / eps,
    )?;
    Ok(t_eps)
}

/// The HVP's tangents, as soft_sort's and soft_quantile's HVPs check them after the saves,
/// the residual and the cotangent (`max_u`: the largest magnitude of the cotangent spread onto
/// the sorted row); returns the ε-tangent.
pub(crate) fn check_hvp_tangents<T: Real>(
    check: Check,
    eps: f64,
    (tangent_values, st): (&[T], (bool, f64)),
    tangent_regularization_strength: T,
    max_u: f64,
) -> Result<f64, Error> {
    let max_t = check.finite_scanned("tangent_values", tangent_values, st)?;
    let t_eps = check.finite_scalar(
        "tangent_regularization_strength",
        tangent_regularization_strength,
    )?;
    let n = check.shape.n as f64;
    // kl's `H_xx t` is at most n·|u|·2|t| an element.
    check.no_overflow("tangent_values", max_t, eps, 2.0 * n * max_u * max_t)?;
    // |C| ≤ n²|u|, and Var_B/ε⁴ ≤ n²/4 + 40 for every ε (it falls like e^(−1/ε)/ε⁴ as ε → 0);
    // the products start from |t_ε|·|u|, so a zero tangent never meets a large 1/ε³.
    let a = t_eps.abs() * max_u;
    check.no_overflow(
        "tangent_regularization_strength",
        t_eps.abs(),
        eps,
        a * 2.0 * n / eps / eps / eps + a * (n * n / 4.0 + 40.0),
    )?;
    Ok(t_eps)
}

/// Soft-sorted rows of `values` (`[batch, n]`, row-major) into `sorted`, and the packed sort +
/// PAV residual into `permutation` (both `[batch, n]`).
///
/// `mask`: which items are present (`None`: all); see [masked rows](crate#masked-rows).
#[allow(clippy::too_many_arguments)]
pub fn forward<T: Real>(
    shape: Shape,
    params: &Params<T>,
    values: &[T],
    mask: Option<&[bool]>,
    sorted: &mut [T],
    permutation: &mut [i32],
) -> Result<(), Error> {
    let Some(mask) = mask else {
        return forward_dense(shape, params, values, sorted, permutation);
    };
    Masked::new(OP, shape, mask)
        .real("values", values, Layout::Items)
        .real_out("sorted", sorted, Layout::Sorted)
        .int_out("permutation", permutation, Layout::Sorted)
        .run(|b, _| {
            let (shape, [values], [], [sorted], [permutation]) = b.split();
            forward_dense(shape, params, values, sorted, permutation)
        })
}

/// [`forward`] without a mask.
fn forward_dense<T: Real>(
    shape: Shape,
    params: &Params<T>,
    values: &[T],
    sorted: &mut [T],
    permutation: &mut [i32],
) -> Result<(), Error> {
    let check = Check::new(OP, shape)?;
    check.matrix("values", values.len())?;
    check.matrix("sorted", sorted.len())?;
    check.matrix("permutation", permutation.len())?;
    let eps = check.strength(params.regularization_strength)?;
    let [scanned] = scan_rows(shape, [values]);
    check_values(check, eps, values, scanned)?;

    if shape.batch == 0 || shape.n == 0 {
        // Nothing to compute (and a batch of empty rows needs no memory: do not walk it).
        return Ok(());
    }
    let n = shape.n;
    let sorter = Sorter::new(eps, params);
    let bufs = (
        In::new(values, n),
        Out::new(sorted, n),
        Out::new(permutation, n),
    );
    run_rows(
        shape.batch,
        super::soft_rank::row_work(n),
        bufs,
        |rows, (x, mut out, mut p)| {
            with_scratch(|sc| {
                for i in 0..rows {
                    sorter.forward_row(&mut sc.row, x.row(i), out.row(i), p.row(i));
                }
            })
        },
    );
    Ok(())
}

/// Vector-Jacobian product of `soft_sort`: `grad_values = cotangent_sortedᵀ · ∂sorted/∂values`
/// and per row `grad_regularization_strength = ⟨cotangent_sorted, ∂sorted/∂ε⟩`. `values` and
/// `permutation` are the forward's; O(n) per row, no sort.
///
/// Since `w = (n, …, 1)/ε` depends on ε, the ε-gradient is not `−⟨g, x⟩/ε` here: with `u` the
/// cotangent, per block `B`
/// - l2: `−sign/ε · Σ_B (u_k − mean_B u) w_k`;
/// - kl: `−sign/ε · Σ_B (Σ_k u_k w_k − (Σ_k u_k) · Σ_k softmax(w_B)_k w_k)`.
///
/// `mask`: which items are present (`None`: all); see [masked rows](crate#masked-rows).
#[allow(clippy::too_many_arguments)]
pub fn backward<T: Real>(
    shape: Shape,
    params: &Params<T>,
    values: &[T],
    mask: Option<&[bool]>,
    permutation: &[i32],
    cotangent_sorted: &[T],
    grad_values: &mut [T],
    grad_regularization_strength: &mut [T],
) -> Result<(), Error> {
    let Some(mask) = mask else {
        return backward_dense(
            shape,
            params,
            values,
            permutation,
            cotangent_sorted,
            grad_values,
            grad_regularization_strength,
        );
    };
    Masked::new(OP, shape, mask)
        .real("values", values, Layout::Items)
        .int("permutation", permutation, Layout::Sorted)
        .real("cotangent_sorted", cotangent_sorted, Layout::Sorted)
        .real_out("grad_values", grad_values, Layout::Items)
        .real_out(
            "grad_regularization_strength",
            grad_regularization_strength,
            Layout::Row,
        )
        .run(|b, _| {
            let (
                shape,
                [values, cotangent_sorted],
                [permutation],
                [grad_values, grad_regularization_strength],
                [],
            ) = b.split();
            backward_dense(
                shape,
                params,
                values,
                permutation,
                cotangent_sorted,
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
    cotangent_sorted: &[T],
    grad_values: &mut [T],
    grad_regularization_strength: &mut [T],
) -> Result<(), Error> {
    let cg = CotangentGrad::Separate(cotangent_sorted, grad_values);
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
/// `cotangent_sorted` on entry and `grad_values` on return (bit for bit what [`backward`]
/// gives). A forward + backward then needs one `[batch, n]` array less at its peak. On an error
/// the buffer is unchanged.
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
    let (cotangent_sorted, grad_len) = cg.cotangent();
    let check = Check::new(OP, shape)?;
    check.matrix("values", values.len())?;
    check.matrix("permutation", permutation.len())?;
    check.matrix("cotangent_sorted", cotangent_sorted.len())?;
    check.matrix("grad_values", grad_len)?;
    check.vector(
        "grad_regularization_strength",
        grad_regularization_strength.len(),
    )?;
    let eps = check.strength(params.regularization_strength)?;
    // The finite checks in one parallel pass, their errors taken below in argument order.
    let [sv, su] = scan_rows(shape, [values, cotangent_sorted]);
    check_values(check, eps, values, sv)?;
    check.permutation("permutation", permutation)?;
    let max_u = check.finite_scanned("cotangent_sorted", cotangent_sorted, su)?;
    // The gradients scale like |u|·n/ε (soft_sort's ε-gradient like |u|·n²/ε²): refuse what
    // would overflow f64 rather than return ±∞ or NaN.
    check.no_overflow(
        "cotangent_sorted",
        max_u,
        eps,
        max_u * shape.n as f64 / eps / eps,
    )?;

    if shape.batch == 0 {
        // Nothing to compute; never size tables by n for an empty batch.
        return Ok(());
    }
    let n = shape.n;
    let sorter = Sorter::new(eps, params);
    let work = super::soft_rank::row_work(n);
    permutation_backward_rows(
        &sorter,
        (shape.batch, n, work),
        values,
        permutation,
        cg,
        grad_regularization_strength,
    );
    Ok(())
}

/// Jacobian-vector product of `soft_sort`: `tangent_sorted = ∂sorted/∂values · tangent_values +
/// ∂sorted/∂ε · tangent_regularization_strength`, in sorted order like `sorted`. `values` and
/// `permutation` are the forward's; O(n) per row, no sort.
///
/// The transpose of the VJP (`g[σ] = M(u)`): `tangent_sorted = Mᵀ(t[σ])`, per block `B`:
/// - l2: the mean of `t[σ]` over `B`;
/// - kl: `Σ_B softmax(s_B)_j t[σ_j]` (the softmax over the sorted values, as in the VJP);
///
/// plus the ε part from `w = (n, …, 1)/ε`, `dw = −w·t_ε/ε`: `−sign·t_ε/ε · (w_k − Σ_B π_j w_j)`
/// with `π` uniform (l2) or `softmax(w_B)` (kl), i.e. `−sign·t_ε/ε² · (μ_B − (k − a))` for
/// position `k` of a block starting at `a`, `μ_B` the mean offset `j` under `π`. The ε-tangent
/// is one scalar for the call, like ε itself: `⟨u, jvp(t, t_ε)⟩ = ⟨backward(u), t⟩ +
/// t_ε · Σ_rows grad_regularization_strength`.
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
    tangent_sorted: &mut [T],
) -> Result<(), Error> {
    let Some(mask) = mask else {
        return jvp_dense(
            shape,
            params,
            values,
            permutation,
            tangent_values,
            tangent_regularization_strength,
            tangent_sorted,
        );
    };
    Masked::new(OP, shape, mask)
        .real("values", values, Layout::Items)
        .int("permutation", permutation, Layout::Sorted)
        .real("tangent_values", tangent_values, Layout::Items)
        .real_out("tangent_sorted", tangent_sorted, Layout::Sorted)
        .run(|b, _| {
            let (shape, [values, tangent_values], [permutation], [tangent_sorted], []) = b.split();
            jvp_dense(
                shape,
                params,
                values,
                permutation,
                tangent_values,
                tangent_regularization_strength,
                tangent_sorted,
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
    tangent_sorted: &mut [T],
) -> Result<(), Error> {
    let check = Check::new(OP, shape)?;
    check.matrix("values", values.len())?;
    check.matrix("permutation", permutation.len())?;
    check.matrix("tangent_values", tangent_values.len())?;
    check.matrix("tangent_sorted", tangent_sorted.len())?;
    let eps = check.strength(params.regularization_strength)?;
    // The finite checks in one parallel pass, their errors taken below in argument order.
    let [sv, st] = scan_rows(shape, [values, tangent_values]);
    let t_eps = check_jvp_inputs(
        check,
        eps,
        (values, sv),
        permutation,
        (tangent_values, st),
        tangent_regularization_strength,
    )?;

    if shape.batch == 0 {
        // Nothing to compute; never size tables by n for an empty batch.
        return Ok(());
    }
    let n = shape.n;
    let sorter = Sorter::new(eps, params);
    let bufs = (
        In::new(values, n),
        In::new(permutation, n),
        In::new(tangent_values, n),
        Out::new(tangent_sorted, n),
    );
    let work = super::soft_rank::row_work(n);
    run_rows(shape.batch, work, bufs, |rows, (x, p, t, mut out)| {
        with_scratch(|sc| {
            for i in 0..rows {
                sorter.jvp_row(&mut sc.row, x.row(i), p.row(i), t.row(i), t_eps, out.row(i));
            }
        })
    });
    Ok(())
}

/// Hessian-vector product of `soft_sort`: the derivative of [`backward`] at the fixed cotangent
/// `cotangent_sorted` along `tangent_values` and the ε-tangent `tangent_regularization_strength`
/// (one scalar for the call). Per row, with `φ = ⟨cotangent_sorted, sorted⟩`:
/// `hvp_values = H_xx·tangent_values + H_xε·t_ε` and `hvp_regularization_strength = H_εx·
/// tangent_values + H_εε·t_ε`, the formulas in the module docs (`H_xε = H_εx = 0`, and
/// `H_xx = 0` for l2). `values` and `permutation` are the forward's; O(n) per row, no sort. At
/// ties (a kink) it is the derivative on the piece the forward chose.
///
/// `mask`: which items are present (`None`: all); see [masked rows](crate#masked-rows).
#[allow(clippy::too_many_arguments)]
pub fn hvp<T: Real>(
    shape: Shape,
    params: &Params<T>,
    values: &[T],
    mask: Option<&[bool]>,
    permutation: &[i32],
    cotangent_sorted: &[T],
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
            cotangent_sorted,
            tangent_values,
            tangent_regularization_strength,
            hvp_values,
            hvp_regularization_strength,
        );
    };
    Masked::new(OP, shape, mask)
        .real("values", values, Layout::Items)
        .int("permutation", permutation, Layout::Sorted)
        .real("cotangent_sorted", cotangent_sorted, Layout::Sorted)
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
                [values, cotangent_sorted, tangent_values],
                [permutation],
                [hvp_values, hvp_regularization_strength],
                [],
            ) = b.split();
            hvp_dense(
                shape,
                params,
                values,
                permutation,
                cotangent_sorted,
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
    cotangent_sorted: &[T],
    tangent_values: &[T],
    tangent_regularization_strength: T,
    hvp_values: &mut [T],
    hvp_regularization_strength: &mut [T],
) -> Result<(), Error> {
    let check = Check::new(OP, shape)?;
    check.matrix("values", values.len())?;
    check.matrix("permutation", permutation.len())?;
    check.matrix("cotangent_sorted", cotangent_sorted.len())?;
    check.matrix("tangent_values", tangent_values.len())?;
    check.matrix("hvp_values", hvp_values.len())?;
    check.vector(
        "hvp_regularization_strength",
        hvp_regularization_strength.len(),
    )?;
    let eps = check.strength(params.regularization_strength)?;
    // The finite checks in one parallel pass, their errors taken below in argument order.
    let [sv, su, st] = scan_rows(shape, [values, cotangent_sorted, tangent_values]);
    check_values(check, eps, values, sv)?;
    check.permutation("permutation", permutation)?;
    let max_u = check.finite_scanned("cotangent_sorted", cotangent_sorted, su)?;
    check.no_overflow(
        "cotangent_sorted",
        max_u,
        eps,
        max_u * shape.n as f64 / eps / eps,
    )?;
    let t_eps = check_hvp_tangents(
        check,
        eps,
        (tangent_values, st),
        tangent_regularization_strength,
        max_u,
    )?;

    if shape.batch == 0 {
        // Nothing to compute; never size tables by n for an empty batch.
        return Ok(());
    }
    let n = shape.n;
    let sorter = Sorter::new(eps, params);
    let bufs = (
        In::new(values, n),
        In::new(permutation, n),
        In::new(cotangent_sorted, n),
        In::new(tangent_values, n),
        Out::new(hvp_values, n),
        Out::new(hvp_regularization_strength, 1),
    );
    let work = super::soft_rank::row_work(n);
    run_rows(
        shape.batch,
        work,
        bufs,
        |rows, (x, p, u, t, mut h, mut he)| {
            with_scratch(|sc| {
                for i in 0..rows {
                    let (x, p, u, t) = (x.row(i), p.row(i), u.row(i), t.row(i));
                    *he.at(i) =
                        T::from_f64(sorter.hvp_row(&mut sc.row, x, p, u, t, t_eps, h.row(i)));
                }
            })
        },
    );
    Ok(())
}

/// The soft_sort row kernels with their parameters resolved (soft_quantile uses them too).
pub(crate) struct Sorter {
    eps: f64,
    /// Sort `x` decreasingly (`sign = +1`, descending direction).
    descending: bool,
    regularization: Regularization,
}

impl PermutationBackward for Sorter {
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

impl Sorter {
    pub(crate) fn new<T: Real>(eps: f64, params: &Params<T>) -> Self {
        Sorter {
            eps,
            descending: params.direction == Direction::Descending,
            regularization: params.regularization,
        }
    }

    fn sign(&self) -> f64 {
        if self.descending {
            1.0
        } else {
            -1.0
        }
    }

    /// One row of the forward: the soft-sorted row into `out` (of any float type), the packed
    /// residual into `perm`.
    pub(crate) fn forward_row<T: Real, V: Real>(
        &self,
        sc: &mut RowScratch,
        x: &[T],
        out: &mut [V],
        perm: &mut [i32],
    ) {
        let n = x.len();
        let sign = self.sign();
        let s = take(&mut sc.f1, n);
        sort_row(x, self.descending, &mut sc.sort, perm, s);
        let s = &*s;
        let pav = &mut sc.pav;
        let nb = match self.regularization {
            // y = w − s with the line w = ρ/ε of slope −1/ε, never formed.
            Regularization::L2 => pav_l2::<true>(n, |k| s[k], 1.0 / self.eps, pav),
            Regularization::Kl => {
                let w = take(&mut sc.f2, n);
                for (k, wk) in w.iter_mut().enumerate() {
                    *wk = (n - k) as f64 / self.eps;
                }
                let w = &*w;
                pav_kl(n, |k| w[k], |k| s[k], |a, b| (s[b] - s[a]).exp(), pav)
            }
        };
        for j in 0..nb {
            let (a, b) = (pav.starts[j] as usize, pav.starts[j + 1] as usize);
            if b - a == 1 {
                // w − (w − s) is s: the hard-sorted value, written exactly.
                out[a] = V::from_f64(sign * s[a]);
                continue;
            }
            // w − v, arranged so the large w = ρ/ε cancels exactly: w_k − w_a = −(k − a)/ε.
            match self.regularization {
                Regularization::L2 => {
                    // v = mean_B(w − s): w − v = (w − mean_B w) + mean_B s.
                    let mean_s = s[a] + sum4(&s[a..b], |t| t - s[a]) / (b - a) as f64;
                    let mid = (a + b - 1) as f64 / 2.0;
                    for k in a..b {
                        out[k] = V::from_f64(sign * ((mid - k as f64) / self.eps + mean_s));
                    }
                }
                Regularization::Kl => {
                    // v = w_a − s_a + ln(Σ_B exp(w − w_a) / Σ_B exp(s − s_a)).
                    let c = s[a] - (pav.a[j] / pav.b[j]).ln();
                    for k in a..b {
                        out[k] = V::from_f64(sign * (c - (k - a) as f64 / self.eps));
                    }
                }
            }
        }
        mark_blocks(perm, &pav.starts[..nb]);
    }

    /// One row of the JVP with tangent `t` and ε-tangent `t_eps`; writes `out` (sorted order).
    pub(crate) fn jvp_row<T: Real, U: Real, V: Real>(
        &self,
        sc: &mut RowScratch,
        x: &[T],
        perm: &[i32],
        t: &[U],
        t_eps: f64,
        out: &mut [V],
    ) {
        let n = x.len();
        let sign = self.sign();
        let inv_eps = 1.0 / self.eps;
        // d out_k = M(t[σ])_k − ke·(μ_B − (k − a)).
        let ke = sign * t_eps * inv_eps * inv_eps;
        match self.regularization {
            Regularization::L2 => {
                for_each_block(perm, |a, block| {
                    let out = &mut out[a..a + block.len()];
                    if block.len() == 1 {
                        out[0] = V::from_f64(t[column(block[0])].to_f64());
                        return;
                    }
                    let mean = sum4(block, |p| t[column(p)].to_f64()) / block.len() as f64;
                    // μ_B of the uniform weights: the middle offset.
                    let mu = (block.len() - 1) as f64 / 2.0;
                    for (j, o) in out.iter_mut().enumerate() {
                        *o = V::from_f64(mean - ke * (mu - j as f64));
                    }
                });
            }
            Regularization::Kl => {
                let e = take(&mut sc.f1, n);
                // exp(−1/ε): the ratio of consecutive softmax(w_B) weights.
                let q = (-inv_eps).exp();
                for_each_block(perm, |a, block| {
                    let out = &mut out[a..a + block.len()];
                    if block.len() == 1 {
                        out[0] = V::from_f64(t[column(block[0])].to_f64());
                        return;
                    }
                    let e = &mut e[..block.len()];
                    let z = block_softmax(sign, x, block, e);
                    let mut sum_et = 0.0;
                    for (&ej, &p) in e.iter().zip(block) {
                        sum_et += ej * t[column(p)].to_f64();
                    }
                    let m = sum_et / z;
                    // μ_B = Σ_j j·q^j / Σ_j q^j, the mean offset under softmax(w_B).
                    let (mut wt, mut zw, mut mj) = (1.0, 0.0, 0.0);
                    for j in 0..block.len() {
                        zw += wt;
                        mj += wt * j as f64;
                        wt *= q;
                    }
                    let mu = mj / zw;
                    for (j, o) in out.iter_mut().enumerate() {
                        *o = V::from_f64(m - ke * (mu - j as f64));
                    }
                });
            }
        }
    }

    /// One row of the HVP at cotangent `u` (sorted order) along `(t, t_eps)`: writes `H_xx t`
    /// into `h` (input order) and returns `H_εε t_eps` (`H_xε = H_εx = 0`).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn hvp_row<T: Real, U: Real, V: Real>(
        &self,
        sc: &mut RowScratch,
        x: &[T],
        perm: &[i32],
        u: &[U],
        t: &[V],
        t_eps: f64,
        h: &mut [T],
    ) -> f64 {
        let n = x.len();
        let sign = self.sign();
        let inv_eps = 1.0 / self.eps;
        // C = Σ_B Σ_j u_{a+j}(μ_B − j) and Σ_B U_B·Var_B, offsets j within each block.
        let (mut c, mut uv) = (0.0, 0.0);
        match self.regularization {
            Regularization::L2 => {
                for_each_block(perm, |a, block| {
                    for &p in block {
                        h[column(p)] = T::from_f64(0.0);
                    }
                    let mu = (block.len() - 1) as f64 / 2.0;
                    for (j, uj) in u[a..a + block.len()].iter().enumerate() {
                        c += uj.to_f64() * (mu - j as f64);
                    }
                });
            }
            Regularization::Kl => {
                let e = take(&mut sc.f1, n);
                // exp(−1/ε): the ratio of consecutive softmax(w_B) weights.
                let q = (-inv_eps).exp();
                for_each_block(perm, |a, block| {
                    if block.len() == 1 {
                        h[column(block[0])] = T::from_f64(0.0);
                        return;
                    }
                    let u = &u[a..a + block.len()];
                    let e = &mut e[..block.len()];
                    let z = block_softmax(sign, x, block, e);
                    let sum_u = sum4(u, |v| v.to_f64());
                    let mut sum_et = 0.0;
                    for (&ej, &p) in e.iter().zip(block) {
                        sum_et += ej * t[column(p)].to_f64();
                    }
                    let pt = sum_et / z;
                    let k = sign * sum_u / z;
                    for (&ej, &p) in e.iter().zip(block) {
                        h[column(p)] = T::from_f64(k * ej * (t[column(p)].to_f64() - pt));
                    }
                    // μ_B and Var_B of the offset under π_j ∝ q^j, the variance in a second
                    // pass (it is ≈ q, far below μ_B², as ε → 0).
                    let (mut wt, mut zw, mut mj) = (1.0, 0.0, 0.0);
                    for j in 0..block.len() {
                        zw += wt;
                        mj += wt * j as f64;
                        wt *= q;
                    }
                    let mu = mj / zw;
                    let (mut wt, mut vj) = (1.0, 0.0);
                    for (j, uj) in u.iter().enumerate() {
                        let d = mu - j as f64;
                        vj += wt * d * d;
                        wt *= q;
                        c += uj.to_f64() * d;
                    }
                    uv += sum_u * (vj / zw);
                });
            }
        }
        // t_ε·sign/ε³·(2C − Σ U_B Var_B/ε), multiplied from t_ε up so a zero stays zero.
        t_eps * sign * (2.0 * c - uv * inv_eps) * inv_eps * inv_eps * inv_eps
    }

    /// One row of the backward; writes `g` and returns the ε-gradient of the row.
    pub(crate) fn backward_row<T: Real, U: Real>(
        &self,
        sc: &mut RowScratch,
        x: &[T],
        perm: &[i32],
        u: &[U],
        g: &mut [T],
    ) -> f64 {
        let n = x.len();
        let inv_eps = 1.0 / self.eps;
        let w = |k: usize| (n - k) as f64 * inv_eps;
        let mut eps_dot = 0.0;
        match self.regularization {
            Regularization::L2 => {
                // g[σ] = M_l2(u); ∂/∂ε: −sign/ε · ⟨u − M_l2(u), w⟩.
                for_each_block(perm, |a, block| {
                    let u = &u[a..a + block.len()];
                    if block.len() == 1 {
                        g[column(block[0])] = T::from_f64(u[0].to_f64());
                        return;
                    }
                    let mean = sum4(u, |v| v.to_f64()) / u.len() as f64;
                    let gm = T::from_f64(mean);
                    // A local accumulator (the same order of additions), not the capture.
                    let mut acc = eps_dot;
                    for (j, (&p, uk)) in block.iter().zip(u).enumerate() {
                        g[column(p)] = gm;
                        acc += (uk.to_f64() - mean) * w(a + j);
                    }
                    eps_dot = acc;
                });
            }
            Regularization::Kl => {
                // g[σ] = M_kl(u; s), softmax over the sorted values s.
                let sign = self.sign();
                let e = take(&mut sc.f1, n);
                // exp(−1/ε): the ratio of consecutive softmax(w_B) weights.
                let q = (-inv_eps).exp();
                for_each_block(perm, |a, block| {
                    let u = &u[a..a + block.len()];
                    if block.len() == 1 {
                        g[column(block[0])] = T::from_f64(u[0].to_f64());
                        return;
                    }
                    let e = &mut e[..block.len()];
                    let z = block_softmax(sign, x, block, e);
                    let (mut sum_u, mut sum_uw) = (0.0, 0.0);
                    for (j, uj) in u.iter().enumerate() {
                        let uj = uj.to_f64();
                        sum_u += uj;
                        sum_uw += uj * w(a + j);
                    }
                    for (&ej, &p) in e.iter().zip(block) {
                        g[column(p)] = T::from_f64(ej / z * sum_u);
                    }
                    // Σ softmax(w_B)_k w_k with weights q^(k−a) (w falls by 1/ε a step).
                    let (mut wt, mut zw, mut mw) = (1.0, 0.0, 0.0);
                    for j in 0..block.len() {
                        zw += wt;
                        mw += wt * w(a + j);
                        wt *= q;
                    }
                    eps_dot += sum_uw - sum_u * (mw / zw);
                });
            }
        }
        -self.sign() * inv_eps * eps_dot
    }
}

/// The unnormalised `softmax(s_B)` of a block (`s = sign·x[σ]`, relative to the block's largest)
/// into `e`; returns its sum. The VJP's `M_kl` and the JVP's transpose both weigh by it.
fn block_softmax<T: Real>(sign: f64, x: &[T], block: &[i32], e: &mut [f64]) -> f64 {
    let mut max = f64::NEG_INFINITY;
    for (ej, &p) in e.iter_mut().zip(block) {
        *ej = sign * x[column(p)].to_f64();
        max = max.max(*ej);
    }
    let mut z = 0.0;
    for ej in e.iter_mut() {
        *ej = (*ej - max).exp();
        z += *ej;
    }
    z
}
