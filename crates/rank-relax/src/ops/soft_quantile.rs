//! `soft_quantile`: differentiable quantiles of each row. Core only so far: not yet in the spec.
//!
//! Per row `x`: `S = soft_sort(x; ε, regularization, ascending)`; for each `q` of the `m`
//! quantiles: `t = q·(n − 1)`, `i = min(⌊t⌋, n − 2)`, `f = t − i`, `out = (1 − f)·S_i + f·S_{i+1}`
//! (0-based; for `n = 1`, `out = S_0`). As ε → 0 these are the hard quantiles (NumPy's "linear"
//! method). The output is `[batch, m]`.
//!
//! The row kernels are soft_sort's (the sorted row is held in f64 scratch, never in `T`):
//! [`backward`] spreads the cotangent onto `S` (`(1 − f)·g` at `i`, `f·g` at `i + 1`) and applies
//! soft_sort's VJP, ε-gradient included; [`jvp`] takes soft_sort's JVP and interpolates it. Both
//! are O(n + m) per row from the saved `permutation` residual (soft_sort's), no sort.
//! [`hvp`], the derivative of the backward along `(t, t_ε)` at a fixed cotangent, is soft_sort's
//! HVP at the spread cotangent (the interpolation is linear and does not depend on `x` or ε):
//! `H_xx = 0` for l2, `(H_xx t)[σ_j] = −U_B·p_j·(t[σ_j] − Σ_B p_i t[σ_i])` for kl (ascending:
//! `sign = −1`), `H_εε` as in soft_sort, `H_xε = 0`.

use super::soft_sort::{self, Sorter};
use crate::check::{scan_rows, Check, Num};
use crate::error::Error;
use crate::masked::{Layout, Masked};
use crate::scratch::{take, with_scratch};
use crate::threads::{run_rows, In, Out};
use crate::{Direction, Real, Regularization, Shape};

const OP: &str = "soft_quantile";

/// Parameters of `soft_quantile`.
#[derive(Clone, Debug, PartialEq)]
pub struct Params<T> {
    /// The quantile levels, `m ≥ 1` numbers in `[0, 1]`; the output has `m` columns.
    pub quantiles: Vec<T>,
    /// Regularization strength ε, finite and > 0; smaller is closer to the hard quantiles.
    pub regularization_strength: T,
    /// Regularization of soft_sort's projection, `l2` or `kl`.
    pub regularization: Regularization,
}

impl<T: Real> Default for Params<T> {
    /// The median, ε = 1, l2.
    fn default() -> Self {
        Params {
            quantiles: vec![T::from_f64(0.5)],
            regularization_strength: T::from_f64(1.0),
            regularization: Regularization::L2,
        }
    }
}

/// Where one quantile reads the sorted row: `(i, f)`, `out = (1 − f)·S_i + f·S_{i+1}`.
#[derive(Clone, Copy)]
struct Level {
    i: usize,
    f: f64,
}

fn levels(n: usize, quantiles: &[f64]) -> Vec<Level> {
    quantiles
        .iter()
        .map(|&q| {
            if n < 2 {
                return Level { i: 0, f: 0.0 };
            }
            let t = q * (n - 1) as f64;
            let i = (t.floor() as usize).min(n - 2);
            Level { i, f: t - i as f64 }
        })
        .collect()
}

/// The quantiles: non-empty, each finite and in `[0, 1]`; as `f64`.
fn check_quantiles<T: Real>(quantiles: &[T]) -> Result<Vec<f64>, Error> {
    if quantiles.is_empty() {
        return Err(Error::invalid_argument(
            OP,
            format_args!("quantiles is empty; needs at least one quantile"),
        ));
    }
    quantiles
        .iter()
        .enumerate()
        .map(|(j, &q)| {
            let v = q.to_f64();
            if !q.is_finite() {
                Err(Error::invalid_argument(
                    OP,
                    format_args!("quantiles[{j}] is {}", Num(q)),
                ))
            } else if !(0.0..=1.0).contains(&v) {
                Err(Error::invalid_argument(
                    OP,
                    format_args!("quantiles[{j}] = {} is not in [0, 1]", Num(q)),
                ))
            } else {
                Ok(v)
            }
        })
        .collect()
}

fn sorter<T: Real>(eps: f64, params: &Params<T>) -> Sorter {
    let sp = soft_sort::Params {
        regularization_strength: params.regularization_strength,
        regularization: params.regularization,
        direction: Direction::Ascending,
    };
    Sorter::new(eps, &sp)
}

/// Soft quantiles of the rows of `values` (`[batch, n]`, row-major, `n ≥ 1`) into `result`
/// (`[batch, m]`, `m` the number of quantiles), and soft_sort's packed sort + PAV residual into
/// `permutation` (`[batch, n]`).
///
/// `mask`: which items are present (`None`: all); see [masked rows](crate#masked-rows).
#[allow(clippy::too_many_arguments)]
pub fn forward<T: Real>(
    shape: Shape,
    params: &Params<T>,
    values: &[T],
    mask: Option<&[bool]>,
    result: &mut [T],
    permutation: &mut [i32],
) -> Result<(), Error> {
    let Some(mask) = mask else {
        return forward_dense(shape, params, values, result, permutation);
    };
    Masked::new(OP, shape, mask)
        .real("values", values, Layout::Items)
        .real_out("result", result, Layout::Fixed(params.quantiles.len()))
        .int_out("permutation", permutation, Layout::Sorted)
        .run(|b, _| {
            let (shape, [values], [], [result], [permutation]) = b.split();
            forward_dense(shape, params, values, result, permutation)
        })
}

/// [`forward`] without a mask.
fn forward_dense<T: Real>(
    shape: Shape,
    params: &Params<T>,
    values: &[T],
    result: &mut [T],
    permutation: &mut [i32],
) -> Result<(), Error> {
    let check = Check::new(OP, shape)?.min_n(1)?;
    let q = check_quantiles(&params.quantiles)?;
    let m = q.len();
    check.matrix("values", values.len())?;
    check.wide("result", result.len(), m)?;
    check.matrix("permutation", permutation.len())?;
    let eps = check.strength(params.regularization_strength)?;
    let [scanned] = scan_rows(shape, [values]);
    soft_sort::check_values(check, eps, values, scanned)?;

    if shape.batch == 0 {
        return Ok(());
    }
    let n = shape.n;
    let sorter = sorter(eps, params);
    let lv = levels(n, &q);
    let bufs = (
        In::new(values, n),
        Out::new(result, m),
        Out::new(permutation, n),
    );
    run_rows(
        shape.batch,
        super::soft_rank::row_work(n),
        bufs,
        |rows, (x, mut out, mut p)| {
            with_scratch(|sc| {
                for i in 0..rows {
                    let s = take(&mut sc.loss1, n);
                    sorter.forward_row(&mut sc.row, x.row(i), s, p.row(i));
                    interpolate(&lv, s, out.row(i));
                }
            })
        },
    );
    Ok(())
}

/// `out_j = (1 − f_j)·S_{i_j} + f_j·S_{i_j + 1}`.
fn interpolate<T: Real>(lv: &[Level], s: &[f64], out: &mut [T]) {
    for (o, l) in out.iter_mut().zip(lv) {
        let v = if l.f == 0.0 {
            s[l.i]
        } else {
            (1.0 - l.f) * s[l.i] + l.f * s[l.i + 1]
        };
        *o = T::from_f64(v);
    }
}

/// The cotangent `u` of a row's quantiles spread onto its sorted row `us` (`(1 − f)·u` at `i`,
/// `f·u` at `i + 1`), the transpose of [`interpolate`].
fn spread<'a, T: Real>(lv: &[Level], u: &[T], us: &'a mut [f64]) -> &'a [f64] {
    us.fill(0.0);
    for (l, &uj) in lv.iter().zip(u) {
        let uj = uj.to_f64();
        us[l.i] += (1.0 - l.f) * uj;
        if l.f != 0.0 {
            us[l.i + 1] += l.f * uj;
        }
    }
    us
}

/// Vector-Jacobian product of `soft_quantile`: `grad_values = cotangent_resultᵀ ·
/// ∂result/∂values` and per row `grad_regularization_strength = ⟨cotangent_result,
/// ∂result/∂ε⟩`. `values` and `permutation` are the forward's; O(n + m) per row, no sort.
///
/// `mask`: which items are present (`None`: all); see [masked rows](crate#masked-rows).
#[allow(clippy::too_many_arguments)]
pub fn backward<T: Real>(
    shape: Shape,
    params: &Params<T>,
    values: &[T],
    mask: Option<&[bool]>,
    permutation: &[i32],
    cotangent_result: &[T],
    grad_values: &mut [T],
    grad_regularization_strength: &mut [T],
) -> Result<(), Error> {
    let Some(mask) = mask else {
        return backward_dense(
            shape,
            params,
            values,
            permutation,
            cotangent_result,
            grad_values,
            grad_regularization_strength,
        );
    };
    Masked::new(OP, shape, mask)
        .real("values", values, Layout::Items)
        .int("permutation", permutation, Layout::Sorted)
        .real(
            "cotangent_result",
            cotangent_result,
            Layout::Fixed(params.quantiles.len()),
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
                [values, cotangent_result],
                [permutation],
                [grad_values, grad_regularization_strength],
                [],
            ) = b.split();
            backward_dense(
                shape,
                params,
                values,
                permutation,
                cotangent_result,
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
    cotangent_result: &[T],
    grad_values: &mut [T],
    grad_regularization_strength: &mut [T],
) -> Result<(), Error> {
    let check = Check::new(OP, shape)?.min_n(1)?;
    let q = check_quantiles(&params.quantiles)?;
    let m = q.len();
    check.matrix("values", values.len())?;
    check.matrix("permutation", permutation.len())?;
    check.wide("cotangent_result", cotangent_result.len(), m)?;
    check.matrix("grad_values", grad_values.len())?;
    check.vector(
        "grad_regularization_strength",
        grad_regularization_strength.len(),
    )?;
    let eps = check.strength(params.regularization_strength)?;
    let [sv] = scan_rows(shape, [values]);
    soft_sort::check_values(check, eps, values, sv)?;
    check.permutation("permutation", permutation)?;
    let max_u = check.finite_columns("cotangent_result", cotangent_result, m)?;
    // The spread cotangent is at most m·max|u| per item; soft_sort's bound from there.
    let max_s = max_u * m as f64;
    check.no_overflow(
        "cotangent_result",
        max_u,
        eps,
        max_s * shape.n as f64 / eps / eps,
    )?;

    if shape.batch == 0 {
        return Ok(());
    }
    let n = shape.n;
    let sorter = sorter(eps, params);
    let lv = levels(n, &q);
    let bufs = (
        In::new(values, n),
        In::new(permutation, n),
        In::new(cotangent_result, m),
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
                    let us = spread(&lv, u.row(i), take(&mut sc.loss1, n));
                    let d = sorter.backward_row(&mut sc.row, x.row(i), p.row(i), us, g.row(i));
                    *ge.at(i) = T::from_f64(d);
                }
            })
        },
    );
    Ok(())
}

/// Jacobian-vector product of `soft_quantile`: `tangent_result = ∂result/∂values ·
/// tangent_values + ∂result/∂ε · tangent_regularization_strength`: soft_sort's JVP, interpolated
/// like the forward. O(n + m) per row, no sort. The ε-tangent is one scalar for the call:
/// `⟨u, jvp(t, t_ε)⟩ = ⟨backward(u), t⟩ + t_ε · Σ_rows grad_regularization_strength`.
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
    tangent_result: &mut [T],
) -> Result<(), Error> {
    let Some(mask) = mask else {
        return jvp_dense(
            shape,
            params,
            values,
            permutation,
            tangent_values,
            tangent_regularization_strength,
            tangent_result,
        );
    };
    Masked::new(OP, shape, mask)
        .real("values", values, Layout::Items)
        .int("permutation", permutation, Layout::Sorted)
        .real("tangent_values", tangent_values, Layout::Items)
        .real_out(
            "tangent_result",
            tangent_result,
            Layout::Fixed(params.quantiles.len()),
        )
        .run(|b, _| {
            let (shape, [values, tangent_values], [permutation], [tangent_result], []) = b.split();
            jvp_dense(
                shape,
                params,
                values,
                permutation,
                tangent_values,
                tangent_regularization_strength,
                tangent_result,
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
    tangent_result: &mut [T],
) -> Result<(), Error> {
    let check = Check::new(OP, shape)?.min_n(1)?;
    let q = check_quantiles(&params.quantiles)?;
    let m = q.len();
    check.matrix("values", values.len())?;
    check.matrix("permutation", permutation.len())?;
    check.matrix("tangent_values", tangent_values.len())?;
    check.wide("tangent_result", tangent_result.len(), m)?;
    let eps = check.strength(params.regularization_strength)?;
    let [sv, st] = scan_rows(shape, [values, tangent_values]);
    let t_eps = soft_sort::check_jvp_inputs(
        check,
        eps,
        (values, sv),
        permutation,
        (tangent_values, st),
        tangent_regularization_strength,
    )?;

    if shape.batch == 0 {
        return Ok(());
    }
    let n = shape.n;
    let sorter = sorter(eps, params);
    let lv = levels(n, &q);
    let bufs = (
        In::new(values, n),
        In::new(permutation, n),
        In::new(tangent_values, n),
        Out::new(tangent_result, m),
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
                    interpolate(&lv, ds, out.row(i));
                }
            })
        },
    );
    Ok(())
}

/// Hessian-vector product of `soft_quantile`: the derivative of [`backward`] at the fixed
/// cotangent `cotangent_result` along `tangent_values` and the ε-tangent
/// `tangent_regularization_strength` (one scalar for the call), written to `hvp_values`
/// (`[batch, n]`) and `hvp_regularization_strength` (`[batch]`). It is soft_sort's HVP with the
/// cotangent spread onto the sorted row like the backward spreads it. O(n + m) per row, no sort.
///
/// `mask`: which items are present (`None`: all); see [masked rows](crate#masked-rows).
#[allow(clippy::too_many_arguments)]
pub fn hvp<T: Real>(
    shape: Shape,
    params: &Params<T>,
    values: &[T],
    mask: Option<&[bool]>,
    permutation: &[i32],
    cotangent_result: &[T],
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
            cotangent_result,
            tangent_values,
            tangent_regularization_strength,
            hvp_values,
            hvp_regularization_strength,
        );
    };
    Masked::new(OP, shape, mask)
        .real("values", values, Layout::Items)
        .int("permutation", permutation, Layout::Sorted)
        .real(
            "cotangent_result",
            cotangent_result,
            Layout::Fixed(params.quantiles.len()),
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
                [values, cotangent_result, tangent_values],
                [permutation],
                [hvp_values, hvp_regularization_strength],
                [],
            ) = b.split();
            hvp_dense(
                shape,
                params,
                values,
                permutation,
                cotangent_result,
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
    cotangent_result: &[T],
    tangent_values: &[T],
    tangent_regularization_strength: T,
    hvp_values: &mut [T],
    hvp_regularization_strength: &mut [T],
) -> Result<(), Error> {
    let check = Check::new(OP, shape)?.min_n(1)?;
    let q = check_quantiles(&params.quantiles)?;
    let m = q.len();
    check.matrix("values", values.len())?;
    check.matrix("permutation", permutation.len())?;
    check.wide("cotangent_result", cotangent_result.len(), m)?;
    check.matrix("tangent_values", tangent_values.len())?;
    check.matrix("hvp_values", hvp_values.len())?;
    check.vector(
        "hvp_regularization_strength",
        hvp_regularization_strength.len(),
    )?;
    let eps = check.strength(params.regularization_strength)?;
    let [sv, st] = scan_rows(shape, [values, tangent_values]);
    soft_sort::check_values(check, eps, values, sv)?;
    check.permutation("permutation", permutation)?;
    let max_u = check.finite_columns("cotangent_result", cotangent_result, m)?;
    // The spread cotangent is at most m·max|u| per item; soft_sort's bounds from there.
    let max_s = max_u * m as f64;
    check.no_overflow(
        "cotangent_result",
        max_u,
        eps,
        max_s * shape.n as f64 / eps / eps,
    )?;
    let t_eps = soft_sort::check_hvp_tangents(
        check,
        eps,
        (tangent_values, st),
        tangent_regularization_strength,
        max_s,
    )?;

    if shape.batch == 0 {
        return Ok(());
    }
    let n = shape.n;
    let sorter = sorter(eps, params);
    let lv = levels(n, &q);
    let bufs = (
        In::new(values, n),
        In::new(permutation, n),
        In::new(cotangent_result, m),
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
                    let us = spread(&lv, u.row(i), take(&mut sc.loss1, n));
                    let (x, p, t) = (x.row(i), p.row(i), t.row(i));
                    let d = sorter.hvp_row(&mut sc.row, x, p, us, t, t_eps, h.row(i));
                    *he.at(i) = T::from_f64(d);
                }
            })
        },
    );
    Ok(())
}
