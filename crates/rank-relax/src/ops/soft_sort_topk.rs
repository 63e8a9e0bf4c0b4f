//! `soft_sort_topk`: the first `k` values of soft_sort with the indices of the hard top-k, what
//! `torch.topk` returns, with a gradient through the values.
//!
//! Per row `x`: `top_values = soft_sort(x; ε, regularization, direction)[..k]` and
//! `indices = σ[..k]`, the items of the hard sort in the same direction (ties by position; the
//! permutation soft_sort sorts by). The indices are integers and carry no derivative. As ε → 0,
//! `top_values[j] = x[indices[j]]`.
//!
//! The row kernels are soft_sort's, on the sorted row held in f64 scratch: [`backward`] pads the
//! `[batch, k]` cotangent with zeros to the row and applies soft_sort's VJP (ε-gradient
//! included), [`jvp`] keeps the first `k` entries of soft_sort's JVP and [`hvp`] is soft_sort's
//! HVP at the padded cotangent. Forward O(n log n), the others O(n) per row from the saved
//! `permutation` residual (soft_sort's), no sort.
//!
//! With a mask, a row with fewer than `k` present items returns them all: its `top_values` and
//! `indices` hold them first, then `0` and `−1`.

use super::soft_sort::{self, Sorter};
use crate::check::{scan_rows, Check};
use crate::error::Error;
use crate::masked::{Layout, Masked};
use crate::pav::column;
use crate::scratch::{take, with_scratch};
use crate::threads::{run_rows, In, Out};
use crate::{Direction, Real, Regularization, Shape};

const OP: &str = "soft_sort_topk";

/// Parameters of `soft_sort_topk`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Params<T> {
    /// How many values each row returns, `0 ≤ k ≤ n`.
    pub k: i64,
    /// Regularization strength ε, finite and > 0; smaller is closer to the hard top-k.
    pub regularization_strength: T,
    /// Regularization of soft_sort's projection, `l2` or `kl`.
    pub regularization: Regularization,
    /// `descending` (the k largest values, largest first) or `ascending` (the k smallest).
    pub direction: Direction,
}

impl<T: Real> Default for Params<T> {
    /// The largest value, ε = 1, l2.
    fn default() -> Self {
        Params {
            k: 1,
            regularization_strength: T::from_f64(1.0),
            regularization: Regularization::L2,
            direction: Direction::Descending,
        }
    }
}

impl<T: Copy> Params<T> {
    /// A masked row's params: `k` capped at its present items (a valid `k`; a bad one is left
    /// for the check to report with the full row length).
    fn for_present(&self, n: usize, n_valid: usize) -> Self {
        let k = match usize::try_from(self.k) {
            Ok(k) if k <= n => k.min(n_valid) as i64,
            _ => self.k,
        };
        Params { k, ..*self }
    }
}

/// The checked `k` and ε, and the row kernels for them.
fn setup<T: Real>(check: Check, params: &Params<T>) -> Result<(usize, f64, Sorter), Error> {
    let k = check.up_to_n("k", params.k)?;
    let eps = check.strength(params.regularization_strength)?;
    let sp = soft_sort::Params {
        regularization_strength: params.regularization_strength,
        regularization: params.regularization,
        direction: params.direction,
    };
    Ok((k, eps, Sorter::new(eps, &sp)))
}

/// The checked `k` of a masked call (before the driver sizes the `[batch, k]` buffers by it).
fn masked_k<T>(shape: Shape, params: &Params<T>) -> Result<usize, Error> {
    Check::new(OP, shape)?.up_to_n("k", params.k)
}

/// The first `k` soft-sorted values of each row of `values` (`[batch, n]`, row-major) into
/// `top_values` and the hard top-k items into `indices` (both `[batch, k]`), and soft_sort's
/// packed sort + PAV residual into `permutation` (`[batch, n]`). O(n log n) per row.
///
/// `mask`: which items are present (`None`: all); see [masked rows](crate#masked-rows).
#[allow(clippy::too_many_arguments)]
pub fn forward<T: Real>(
    shape: Shape,
    params: &Params<T>,
    values: &[T],
    mask: Option<&[bool]>,
    top_values: &mut [T],
    indices: &mut [i32],
    permutation: &mut [i32],
) -> Result<(), Error> {
    let Some(mask) = mask else {
        return forward_dense(shape, params, values, top_values, indices, permutation);
    };
    let (n, k) = (shape.n, masked_k(shape, params)?);
    Masked::new(OP, shape, mask)
        .real("values", values, Layout::Items)
        .real_out("top_values", top_values, Layout::Head(k))
        .int_out("indices", indices, Layout::HeadItems(k))
        .int_out("permutation", permutation, Layout::Sorted)
        .run(|b, n_valid| {
            let (shape, [values], [], [top_values], [indices, permutation]) = b.split();
            let params = &params.for_present(n, n_valid);
            forward_dense(shape, params, values, top_values, indices, permutation)
        })
}

/// [`forward`] without a mask.
fn forward_dense<T: Real>(
    shape: Shape,
    params: &Params<T>,
    values: &[T],
    top_values: &mut [T],
    indices: &mut [i32],
    permutation: &mut [i32],
) -> Result<(), Error> {
    let check = Check::new(OP, shape)?;
    check.matrix("values", values.len())?;
    let (k, eps, sorter) = setup(check, params)?;
    check.columns("top_values", top_values.len(), "k", k, "")?;
    check.columns("indices", indices.len(), "k", k, "")?;
    check.matrix("permutation", permutation.len())?;
    let [scanned] = scan_rows(shape, [values]);
    soft_sort::check_values(check, eps, values, scanned)?;

    if shape.batch == 0 || shape.n == 0 {
        return Ok(());
    }
    let n = shape.n;
    let bufs = (
        In::new(values, n),
        Out::new(top_values, k),
        Out::new(indices, k),
        Out::new(permutation, n),
    );
    run_rows(
        shape.batch,
        super::soft_rank::row_work(n),
        bufs,
        |rows, (x, mut out, mut idx, mut p)| {
            with_scratch(|sc| {
                for i in 0..rows {
                    let s = take(&mut sc.loss1, n);
                    let p = p.row(i);
                    sorter.forward_row(&mut sc.row, x.row(i), s, p);
                    for (o, &v) in out.row(i).iter_mut().zip(s.iter()) {
                        *o = T::from_f64(v);
                    }
                    for (o, &pk) in idx.row(i).iter_mut().zip(p.iter()) {
                        *o = column(pk) as i32;
                    }
                }
            })
        },
    );
    Ok(())
}

/// The cotangent `u` of a row's first `k` sorted values, padded with zeros to the row.
fn pad<'a, T: Real>(u: &[T], us: &'a mut [f64]) -> &'a [f64] {
    us.fill(0.0);
    for (s, &uj) in us.iter_mut().zip(u) {
        *s = uj.to_f64();
    }
    us
}

/// The checks of a cotangent `[batch, k]`: finite, and soft_sort's overflow bound.
fn check_cotangent<T: Real>(check: Check, eps: f64, k: usize, u: &[T]) -> Result<f64, Error> {
    check.columns("cotangent_top_values", u.len(), "k", k, "")?;
    let max_u = check.finite_columns("cotangent_top_values", u, k.max(1))?;
    check.no_overflow(
        "cotangent_top_values",
        max_u,
        eps,
        max_u * check.shape.n as f64 / eps / eps,
    )?;
    Ok(max_u)
}

/// Vector-Jacobian product of `soft_sort_topk`: `grad_values = cotangent_top_valuesᵀ ·
/// ∂top_values/∂values` and per row `grad_regularization_strength = ⟨cotangent_top_values,
/// ∂top_values/∂ε⟩` (`indices` has no cotangent). `values` and `permutation` are the forward's;
/// O(n) per row, no sort.
///
/// `mask`: which items are present (`None`: all); see [masked rows](crate#masked-rows).
#[allow(clippy::too_many_arguments)]
pub fn backward<T: Real>(
    shape: Shape,
    params: &Params<T>,
    values: &[T],
    mask: Option<&[bool]>,
    permutation: &[i32],
    cotangent_top_values: &[T],
    grad_values: &mut [T],
    grad_regularization_strength: &mut [T],
) -> Result<(), Error> {
    let Some(mask) = mask else {
        return backward_dense(
            shape,
            params,
            values,
            permutation,
            cotangent_top_values,
            grad_values,
            grad_regularization_strength,
        );
    };
    let (n, k) = (shape.n, masked_k(shape, params)?);
    Masked::new(OP, shape, mask)
        .real("values", values, Layout::Items)
        .int("permutation", permutation, Layout::Sorted)
        .real(
            "cotangent_top_values",
            cotangent_top_values,
            Layout::Head(k),
        )
        .real_out("grad_values", grad_values, Layout::Items)
        .real_out(
            "grad_regularization_strength",
            grad_regularization_strength,
            Layout::Row,
        )
        .run(|b, n_valid| {
            let (
                shape,
                [values, cotangent_top_values],
                [permutation],
                [grad_values, grad_regularization_strength],
                [],
            ) = b.split();
            backward_dense(
                shape,
                &params.for_present(n, n_valid),
                values,
                permutation,
                cotangent_top_values,
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
    cotangent_top_values: &[T],
    grad_values: &mut [T],
    grad_regularization_strength: &mut [T],
) -> Result<(), Error> {
    let check = Check::new(OP, shape)?;
    check.matrix("values", values.len())?;
    let (k, eps, sorter) = setup(check, params)?;
    check.matrix("permutation", permutation.len())?;
    check.matrix("grad_values", grad_values.len())?;
    check.vector(
        "grad_regularization_strength",
        grad_regularization_strength.len(),
    )?;
    let [sv] = scan_rows(shape, [values]);
    soft_sort::check_values(check, eps, values, sv)?;
    check.permutation("permutation", permutation)?;
    check_cotangent(check, eps, k, cotangent_top_values)?;

    if shape.batch == 0 {
        return Ok(());
    }
    let n = shape.n;
    if n == 0 {
        grad_regularization_strength.fill(T::from_f64(0.0));
        return Ok(());
    }
    let bufs = (
        In::new(values, n),
        In::new(permutation, n),
        In::new(cotangent_top_values, k),
        Out::new(grad_values, n),
        Out::new(grad_regularization_strength, 1),
    );
    run_rows(
        shape.batch,
        super::soft_rank::row_work(n),
        bufs,
        |rows, (x, p, u, mut g, mut ge)| {
            with_scratch(|sc| {
                for i in 0..rows {
                    let us = pad(u.row(i), take(&mut sc.loss1, n));
                    let d = sorter.backward_row(&mut sc.row, x.row(i), p.row(i), us, g.row(i));
                    *ge.at(i) = T::from_f64(d);
                }
            })
        },
    );
    Ok(())
}

/// Jacobian-vector product of `soft_sort_topk`: `tangent_top_values = ∂top_values/∂values ·
/// tangent_values + ∂top_values/∂ε · tangent_regularization_strength` (the first `k` entries of
/// soft_sort's JVP; `indices` has no tangent). O(n) per row, no sort. The ε-tangent is one
/// scalar for the call.
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
    tangent_top_values: &mut [T],
) -> Result<(), Error> {
    let Some(mask) = mask else {
        return jvp_dense(
            shape,
            params,
            values,
            permutation,
            tangent_values,
            tangent_regularization_strength,
            tangent_top_values,
        );
    };
    let (n, k) = (shape.n, masked_k(shape, params)?);
    Masked::new(OP, shape, mask)
        .real("values", values, Layout::Items)
        .int("permutation", permutation, Layout::Sorted)
        .real("tangent_values", tangent_values, Layout::Items)
        .real_out("tangent_top_values", tangent_top_values, Layout::Head(k))
        .run(|b, n_valid| {
            let (shape, [values, tangent_values], [permutation], [tangent_top_values], []) =
                b.split();
            jvp_dense(
                shape,
                &params.for_present(n, n_valid),
                values,
                permutation,
                tangent_values,
                tangent_regularization_strength,
                tangent_top_values,
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
    tangent_top_values: &mut [T],
) -> Result<(), Error> {
    let check = Check::new(OP, shape)?;
    check.matrix("values", values.len())?;
    let (k, eps, sorter) = setup(check, params)?;
    check.matrix("permutation", permutation.len())?;
    check.matrix("tangent_values", tangent_values.len())?;
    check.columns("tangent_top_values", tangent_top_values.len(), "k", k, "")?;
    let [sv, st] = scan_rows(shape, [values, tangent_values]);
    let t_eps = soft_sort::check_jvp_inputs(
        check,
        eps,
        (values, sv),
        permutation,
        (tangent_values, st),
        tangent_regularization_strength,
    )?;

    if shape.batch == 0 || shape.n == 0 {
        return Ok(());
    }
    let n = shape.n;
    let bufs = (
        In::new(values, n),
        In::new(permutation, n),
        In::new(tangent_values, n),
        Out::new(tangent_top_values, k),
    );
    run_rows(
        shape.batch,
        super::soft_rank::row_work(n),
        bufs,
        |rows, (x, p, t, mut out)| {
            with_scratch(|sc| {
                for i in 0..rows {
                    let ds = take(&mut sc.loss1, n);
                    sorter.jvp_row(&mut sc.row, x.row(i), p.row(i), t.row(i), t_eps, ds);
                    for (o, &v) in out.row(i).iter_mut().zip(ds.iter()) {
                        *o = T::from_f64(v);
                    }
                }
            })
        },
    );
    Ok(())
}

/// Hessian-vector product of `soft_sort_topk`: the derivative of [`backward`] at the fixed
/// cotangent `cotangent_top_values` along `tangent_values` and the ε-tangent
/// `tangent_regularization_strength` (one scalar for the call), written to `hvp_values`
/// (`[batch, n]`) and `hvp_regularization_strength` (`[batch]`): soft_sort's HVP at the
/// cotangent padded with zeros. O(n) per row, no sort.
///
/// `mask`: which items are present (`None`: all); see [masked rows](crate#masked-rows).
#[allow(clippy::too_many_arguments)]
pub fn hvp<T: Real>(
    shape: Shape,
    params: &Params<T>,
    values: &[T],
    mask: Option<&[bool]>,
    permutation: &[i32],
    cotangent_top_values: &[T],
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
            cotangent_top_values,
            tangent_values,
            tangent_regularization_strength,
            hvp_values,
            hvp_regularization_strength,
        );
    };
    let (n, k) = (shape.n, masked_k(shape, params)?);
    Masked::new(OP, shape, mask)
        .real("values", values, Layout::Items)
        .int("permutation", permutation, Layout::Sorted)
        .real(
            "cotangent_top_values",
            cotangent_top_values,
            Layout::Head(k),
        )
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
                [values, cotangent_top_values, tangent_values],
                [permutation],
                [hvp_values, hvp_regularization_strength],
                [],
            ) = b.split();
            hvp_dense(
                shape,
                &params.for_present(n, n_valid),
                values,
                permutation,
                cotangent_top_values,
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
    cotangent_top_values: &[T],
    tangent_values: &[T],
    tangent_regularization_strength: T,
    hvp_values: &mut [T],
    hvp_regularization_strength: &mut [T],
) -> Result<(), Error> {
    let check = Check::new(OP, shape)?;
    check.matrix("values", values.len())?;
    let (k, eps, sorter) = setup(check, params)?;
    check.matrix("permutation", permutation.len())?;
    check.matrix("tangent_values", tangent_values.len())?;
    check.matrix("hvp_values", hvp_values.len())?;
    check.vector(
        "hvp_regularization_strength",
        hvp_regularization_strength.len(),
    )?;
    let [sv, st] = scan_rows(shape, [values, tangent_values]);
    soft_sort::check_values(check, eps, values, sv)?;
    check.permutation("permutation", permutation)?;
    let max_u = check_cotangent(check, eps, k, cotangent_top_values)?;
    let t_eps = soft_sort::check_hvp_tangents(
        check,
        eps,
        (tangent_values, st),
        tangent_regularization_strength,
        max_u,
    )?;

    if shape.batch == 0 {
        return Ok(());
    }
    let n = shape.n;
    if n == 0 {
        hvp_regularization_strength.fill(T::from_f64(0.0));
        return Ok(());
    }
    let bufs = (
        In::new(values, n),
        In::new(permutation, n),
        In::new(cotangent_top_values, k),
        In::new(tangent_values, n),
        Out::new(hvp_values, n),
        Out::new(hvp_regularization_strength, 1),
    );
    run_rows(
        shape.batch,
        super::soft_rank::row_work(n),
        bufs,
        |rows, (x, p, u, t, mut h, mut he)| {
            with_scratch(|sc| {
                for i in 0..rows {
                    let us = pad(u.row(i), take(&mut sc.loss1, n));
                    let (x, p, t) = (x.row(i), p.row(i), t.row(i));
                    let d = sorter.hvp_row(&mut sc.row, x, p, us, t, t_eps, h.row(i));
                    *he.at(i) = T::from_f64(d);
                }
            })
        },
    );
    Ok(())
}
