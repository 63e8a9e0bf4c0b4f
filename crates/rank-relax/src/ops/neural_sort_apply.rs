//! `neural_sort_apply`: `P·payload` per row, P the NeuralSort matrix of
//! [`neural_sort`](super::neural_sort), computed without forming P (core only so far, not yet in
//! the spec).
//!
//! `output_i = Σ_j P_ij·payload_j` (e.g. the gains of NeuralNDCG: `output` is the payload in the
//! relaxed sorted order). Each row of P is a softmax streamed once: O(n²) time and O(n) memory
//! per row, where `neural_sort` then a matmul holds `n²` numbers per row.
//!
//! - [`backward`] recomputes the rows of P from the saved `values` (one row of exps at a time),
//!   and contracts neural_sort's VJP with the payload: with `v` the cotangent,
//!   `grad_payload = Pᵀv`, `D_ij = v_i·P_ij·(y_j − output_i)`, and `grad_values` from `D` as in
//!   neural_sort (`c_j = Σ_i D_ij`, `r_j = Σ_i (n + 1 − 2i)·D_ij`, the sgn term from the sorted
//!   order); the τ-gradient `−Σ_ij D_ij·ℓ_ij/τ`.
//! - [`jvp`]: `d output_i = Σ_j P_ij·(dy_j + q_ij·(y_j − output_i))`, `q` neural_sort's logit
//!   tangent; adjoint to [`backward`].
//! - [`hvp`]: the derivative of [`backward`] along `(tangent_values, tangent_payload,
//!   tangent_regularization_strength)`. With neural_sort's `q̃_ij = q_ij − Σ_k P_ik q_ik`, `ỹ_ij
//!   = y_j − output_i`, `k = t_τ/τ` and `dout` the JVP's output tangent: `hvp_payload_j = Σ_i
//!   v_i·P_ij·q̃_ij` (the payload enters linearly: no payload-payload term); `D'_ij =
//!   v_i·P_ij·(q̃_ij·ỹ_ij + dy_j − dout_i) − k·D_ij` and `hvp_values` is the backward's map
//!   applied to `D'`; `hvp_regularization_strength = −(Σ_ij D'_ij·ℓ_ij + Σ_ij D_ij·q_ij)/τ`.
//!   Streamed like the backward: O(n) memory per row.

use super::neural_sort::{
    apply_backward, apply_hvp, apply_jvp, exp_dot, exp_row_dot, hvp_in_range, sign,
    tangent_in_range, tau_and_values, widen_into, with_bufs,
};
use crate::check::Check;
use crate::masked::{Layout, Masked};
use crate::scratch::take;
use crate::threads::{run_rows, In, Out};
use crate::{Error, Real, Shape};

pub use super::neural_sort::Params;

const OP: &str = "neural_sort_apply";

/// `output = P·payload` per row (`values`, `payload`, `output` all `[batch, n]`).
///
/// `mask`: which items are present (`None`: all); see [masked rows](crate#masked-rows).
#[allow(clippy::too_many_arguments)]
pub fn forward<T: Real>(
    shape: Shape,
    params: &Params<T>,
    values: &[T],
    payload: &[T],
    mask: Option<&[bool]>,
    output: &mut [T],
) -> Result<(), Error> {
    let Some(mask) = mask else {
        return forward_dense(shape, params, values, payload, output);
    };
    Masked::new(OP, shape, mask)
        .real("values", values, Layout::Items)
        .real("payload", payload, Layout::Items)
        .real_out("output", output, Layout::Sorted)
        .run(|b, _| {
            let (shape, [values, payload], [], [output], []) = b.split();
            forward_dense(shape, params, values, payload, output)
        })
}

/// [`forward`] without a mask.
fn forward_dense<T: Real>(
    shape: Shape,
    params: &Params<T>,
    values: &[T],
    payload: &[T],
    output: &mut [T],
) -> Result<(), Error> {
    let check = Check::new(OP, shape)?;
    check.matrix("values", values.len())?;
    check.matrix("payload", payload.len())?;
    check.matrix("output", output.len())?;
    let tau = tau_and_values(check, params, values)?;
    check.finite("payload", payload)?;

    let n = shape.n;
    if shape.batch == 0 || n == 0 {
        return Ok(());
    }
    let sign = sign(params.direction);
    let inv_tau = 1.0 / tau;
    let bufs = (In::new(values, n), In::new(payload, n), Out::new(output, n));
    run_rows(shape.batch, n * n, bufs, |rows, (x, y, mut out)| {
        with_bufs(|bf| {
            for r in 0..rows {
                let (x, y, out) = (x.row(r), y.row(r), out.row(r));
                let prep = &mut bf.prep;
                prep.prepare(x, sign);
                let yf = take(&mut bf.f[0], n);
                widen_into(yf, y);
                for (ii, o) in out.iter_mut().enumerate() {
                    let row = prep.row(ii, inv_tau);
                    let (s, sd) = exp_dot(row, prep.z(), prep.b(), yf);
                    *o = T::from_f64(yf[row.at] + sd / s);
                }
            }
        })
    });
    Ok(())
}

/// Vector-Jacobian product of `neural_sort_apply` from the saved `values` and `payload`: the
/// gradients of both and, per row, the τ-gradient (`grad_regularization_strength`, `[batch]`).
///
/// `mask`: which items are present (`None`: all); see [masked rows](crate#masked-rows).
#[allow(clippy::too_many_arguments)]
pub fn backward<T: Real>(
    shape: Shape,
    params: &Params<T>,
    values: &[T],
    payload: &[T],
    mask: Option<&[bool]>,
    cotangent_output: &[T],
    grad_values: &mut [T],
    grad_payload: &mut [T],
    grad_regularization_strength: &mut [T],
) -> Result<(), Error> {
    let Some(mask) = mask else {
        return backward_dense(
            shape,
            params,
            values,
            payload,
            cotangent_output,
            grad_values,
            grad_payload,
            grad_regularization_strength,
        );
    };
    Masked::new(OP, shape, mask)
        .real("values", values, Layout::Items)
        .real("payload", payload, Layout::Items)
        .real("cotangent_output", cotangent_output, Layout::Sorted)
        .real_out("grad_values", grad_values, Layout::Items)
        .real_out("grad_payload", grad_payload, Layout::Items)
        .real_out(
            "grad_regularization_strength",
            grad_regularization_strength,
            Layout::Row,
        )
        .run(|b, _| {
            let (
                shape,
                [values, payload, cotangent_output],
                [],
                [grad_values, grad_payload, grad_regularization_strength],
                [],
            ) = b.split();
            backward_dense(
                shape,
                params,
                values,
                payload,
                cotangent_output,
                grad_values,
                grad_payload,
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
    payload: &[T],
    cotangent_output: &[T],
    grad_values: &mut [T],
    grad_payload: &mut [T],
    grad_regularization_strength: &mut [T],
) -> Result<(), Error> {
    let check = Check::new(OP, shape)?;
    check.matrix("values", values.len())?;
    check.matrix("payload", payload.len())?;
    check.matrix("cotangent_output", cotangent_output.len())?;
    check.matrix("grad_values", grad_values.len())?;
    check.matrix("grad_payload", grad_payload.len())?;
    check.vector(
        "grad_regularization_strength",
        grad_regularization_strength.len(),
    )?;
    let tau = tau_and_values(check, params, values)?;
    let max_y = check.finite("payload", payload)?;
    let max_v = check.finite("cotangent_output", cotangent_output)?;
    // neural_sort's bound with the cotangent of P, v_i·y_j: |dz| ≤ 8n²·max|v|·max|y|/τ.
    let nf = shape.n as f64;
    let max_u = max_v * max_y;
    check.no_overflow(
        "cotangent_output",
        max_v,
        tau,
        (max_u * (8.0 * nf).max(2000.0)).max(max_v) / tau,
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
        In::new(payload, n),
        In::new(cotangent_output, n),
        Out::new(grad_values, n),
        Out::new(grad_payload, n),
        Out::new(grad_regularization_strength, 1),
    );
    run_rows(
        shape.batch,
        2 * n * n,
        bufs,
        |rows, (x, y, v, mut gx, mut gy, mut ge)| {
            with_bufs(|bf| {
                for r in 0..rows {
                    let (x, y, v) = (x.row(r), y.row(r), v.row(r));
                    let prep = &mut bf.prep;
                    prep.prepare(x, sign);
                    let [f0, f1, f2, f3, f4, f5, ..] = &mut bf.f;
                    let (yf, e) = (take(f0, n), take(f1, n));
                    widen_into(yf, y);
                    let (a, c, rr) = (take(f2, n), take(f3, n), take(f4, n));
                    a.fill(0.0);
                    c.fill(0.0);
                    rr.fill(0.0);
                    let mut dt = 0.0;
                    for (ii, vi) in v.iter().enumerate() {
                        let vi = vi.to_f64();
                        if vi == 0.0 {
                            // Every term of this row is exactly 0.
                            continue;
                        }
                        let row = prep.row(ii, inv_tau);
                        let (s, sd) = exp_row_dot(row, prep.z(), prep.b(), yf, e);
                        let inv_s = 1.0 / s;
                        let o = sd * inv_s;
                        dt += apply_backward(
                            row,
                            (inv_s, vi, o),
                            (prep.z(), prep.b(), yf, e),
                            a,
                            c,
                            rr,
                        );
                    }
                    prep.grad_values((c, rr), take(f5, n), (sign, inv_tau), gx.row(r));
                    for (gy, a) in gy.row(r).iter_mut().zip(a.iter()) {
                        *gy = T::from_f64(*a);
                    }
                    *ge.at(r) = T::from_f64(-dt * inv_tau);
                }
            })
        },
    );
    Ok(())
}

/// Jacobian-vector product of `neural_sort_apply`: `tangent_output = ∂output/∂values ·
/// tangent_values + ∂output/∂payload · tangent_payload + ∂output/∂τ ·
/// tangent_regularization_strength` (the τ-tangent one scalar for the call). Adjoint to
/// [`backward`]: `⟨v, jvp(t, t_y, t_τ)⟩ = ⟨grad_values, t⟩ + ⟨grad_payload, t_y⟩ + t_τ ·
/// Σ_rows grad_regularization_strength`.
///
/// `mask`: which items are present (`None`: all); see [masked rows](crate#masked-rows).
#[allow(clippy::too_many_arguments)]
pub fn jvp<T: Real>(
    shape: Shape,
    params: &Params<T>,
    values: &[T],
    payload: &[T],
    mask: Option<&[bool]>,
    tangent_values: &[T],
    tangent_payload: &[T],
    tangent_regularization_strength: T,
    tangent_output: &mut [T],
) -> Result<(), Error> {
    let Some(mask) = mask else {
        return jvp_dense(
            shape,
            params,
            values,
            payload,
            tangent_values,
            tangent_payload,
            tangent_regularization_strength,
            tangent_output,
        );
    };
    Masked::new(OP, shape, mask)
        .real("values", values, Layout::Items)
        .real("payload", payload, Layout::Items)
        .real("tangent_values", tangent_values, Layout::Items)
        .real("tangent_payload", tangent_payload, Layout::Items)
        .real_out("tangent_output", tangent_output, Layout::Sorted)
        .run(|b, _| {
            let (
                shape,
                [values, payload, tangent_values, tangent_payload],
                [],
                [tangent_output],
                [],
            ) = b.split();
            jvp_dense(
                shape,
                params,
                values,
                payload,
                tangent_values,
                tangent_payload,
                tangent_regularization_strength,
                tangent_output,
            )
        })
}

/// [`jvp`] without a mask.
#[allow(clippy::too_many_arguments)]
fn jvp_dense<T: Real>(
    shape: Shape,
    params: &Params<T>,
    values: &[T],
    payload: &[T],
    tangent_values: &[T],
    tangent_payload: &[T],
    tangent_regularization_strength: T,
    tangent_output: &mut [T],
) -> Result<(), Error> {
    let check = Check::new(OP, shape)?;
    check.matrix("values", values.len())?;
    check.matrix("payload", payload.len())?;
    check.matrix("tangent_values", tangent_values.len())?;
    check.matrix("tangent_payload", tangent_payload.len())?;
    check.matrix("tangent_output", tangent_output.len())?;
    let tau = tau_and_values(check, params, values)?;
    let max_y = check.finite("payload", payload)?;
    let max_t = check.finite("tangent_values", tangent_values)?;
    check.finite("tangent_payload", tangent_payload)?;
    let t_tau = check.finite_scalar(
        "tangent_regularization_strength",
        tangent_regularization_strength,
    )?;
    // |d output| ≤ max|t_y| + 2·max|q|·max|y|.
    tangent_in_range(check, tau, (max_t, t_tau), max_y.max(1.0))?;

    let n = shape.n;
    if shape.batch == 0 || n == 0 {
        return Ok(());
    }
    let sign = sign(params.direction);
    let inv_tau = 1.0 / tau;
    let bufs = (
        In::new(values, n),
        In::new(payload, n),
        In::new(tangent_values, n),
        In::new(tangent_payload, n),
        Out::new(tangent_output, n),
    );
    run_rows(
        shape.batch,
        2 * n * n,
        bufs,
        |rows, (x, y, t, ty, mut dout)| {
            with_bufs(|bf| {
                for r in 0..rows {
                    let (x, y, t, ty, dout) =
                        (x.row(r), y.row(r), t.row(r), ty.row(r), dout.row(r));
                    let prep = &mut bf.prep;
                    prep.prepare(x, sign);
                    let [f0, f1, f2, f3, f4, f5, ..] = &mut bf.f;
                    let (dz, db) = prep.tangents(t, sign, f0, f1);
                    let (yf, dy, e) = (take(f2, n), take(f3, n), take(f4, n));
                    widen_into(yf, y);
                    widen_into(dy, ty);
                    let _ = f5;
                    for (ii, d) in dout.iter_mut().enumerate() {
                        let row = prep.row(ii, inv_tau);
                        let (s, sd) = exp_row_dot(row, prep.z(), prep.b(), yf, e);
                        let inv_s = 1.0 / s;
                        let o = sd * inv_s;
                        let acc =
                            apply_jvp(row, (t_tau, o), (prep.z(), prep.b(), yf, e), (dz, db, dy));
                        *d = T::from_f64(acc * inv_s);
                    }
                }
            })
        },
    );
    Ok(())
}

/// Hessian-vector product of `neural_sort_apply`: the derivative of [`backward`] (at the fixed
/// cotangent `v`) along `(tangent_values, tangent_payload, tangent_regularization_strength)`,
/// from the saved `values` and `payload` (formulas in the module docs). Symmetric:
/// `⟨(w, w_y, c), hvp(t, t_y, s)⟩ = ⟨(t, t_y, s), hvp(w, w_y, c)⟩` summed over the rows.
///
/// `mask`: which items are present (`None`: all); see [masked rows](crate#masked-rows).
#[allow(clippy::too_many_arguments)]
pub fn hvp<T: Real>(
    shape: Shape,
    params: &Params<T>,
    values: &[T],
    payload: &[T],
    mask: Option<&[bool]>,
    cotangent_output: &[T],
    tangent_values: &[T],
    tangent_payload: &[T],
    tangent_regularization_strength: T,
    hvp_values: &mut [T],
    hvp_payload: &mut [T],
    hvp_regularization_strength: &mut [T],
) -> Result<(), Error> {
    let Some(mask) = mask else {
        return hvp_dense(
            shape,
            params,
            values,
            payload,
            cotangent_output,
            tangent_values,
            tangent_payload,
            tangent_regularization_strength,
            hvp_values,
            hvp_payload,
            hvp_regularization_strength,
        );
    };
    Masked::new(OP, shape, mask)
        .real("values", values, Layout::Items)
        .real("payload", payload, Layout::Items)
        .real("cotangent_output", cotangent_output, Layout::Sorted)
        .real("tangent_values", tangent_values, Layout::Items)
        .real("tangent_payload", tangent_payload, Layout::Items)
        .real_out("hvp_values", hvp_values, Layout::Items)
        .real_out("hvp_payload", hvp_payload, Layout::Items)
        .real_out(
            "hvp_regularization_strength",
            hvp_regularization_strength,
            Layout::Row,
        )
        .run(|b, _| {
            let (
                shape,
                [values, payload, cotangent_output, tangent_values, tangent_payload],
                [],
                [hvp_values, hvp_payload, hvp_regularization_strength],
                [],
            ) = b.split();
            hvp_dense(
                shape,
                params,
                values,
                payload,
                cotangent_output,
                tangent_values,
                tangent_payload,
                tangent_regularization_strength,
                hvp_values,
                hvp_payload,
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
    payload: &[T],
    cotangent_output: &[T],
    tangent_values: &[T],
    tangent_payload: &[T],
    tangent_regularization_strength: T,
    hvp_values: &mut [T],
    hvp_payload: &mut [T],
    hvp_regularization_strength: &mut [T],
) -> Result<(), Error> {
    let check = Check::new(OP, shape)?;
    check.matrix("values", values.len())?;
    check.matrix("payload", payload.len())?;
    check.matrix("cotangent_output", cotangent_output.len())?;
    check.matrix("tangent_values", tangent_values.len())?;
    check.matrix("tangent_payload", tangent_payload.len())?;
    check.matrix("hvp_values", hvp_values.len())?;
    check.matrix("hvp_payload", hvp_payload.len())?;
    check.vector(
        "hvp_regularization_strength",
        hvp_regularization_strength.len(),
    )?;
    let tau = tau_and_values(check, params, values)?;
    let max_y = check.finite("payload", payload)?;
    let max_v = check.finite("cotangent_output", cotangent_output)?;
    let max_t = check.finite("tangent_values", tangent_values)?;
    let max_ty = check.finite("tangent_payload", tangent_payload)?;
    let t_tau = check.finite_scalar(
        "tangent_regularization_strength",
        tangent_regularization_strength,
    )?;
    // neural_sort's bounds with the cotangent of P, v_i·(y_j + dy_j): the tangent of the payload
    // enters D' as the payload enters D.
    let nf = shape.n as f64;
    check.no_overflow(
        "tangent_payload",
        max_ty,
        tau,
        max_v * max_ty * (8.0 * nf).max(2000.0) / tau,
    )?;
    hvp_in_range(
        check,
        tau,
        max_v * (max_y + max_ty).max(1.0),
        (max_t, t_tau),
    )?;

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
        In::new(payload, n),
        In::new(cotangent_output, n),
        In::new(tangent_values, n),
        In::new(tangent_payload, n),
        Out::new(hvp_values, n),
        Out::new(hvp_payload, n),
        Out::new(hvp_regularization_strength, 1),
    );
    run_rows(
        shape.batch,
        3 * n * n,
        bufs,
        |rows, (x, y, v, t, ty, mut hx, mut hy, mut he)| {
            with_bufs(|bf| {
                for r in 0..rows {
                    let (x, y, v, t, ty) = (x.row(r), y.row(r), v.row(r), t.row(r), ty.row(r));
                    let prep = &mut bf.prep;
                    prep.prepare(x, sign);
                    let [f0, f1, f2, f3, f4, f5, f6, f7, f8] = &mut bf.f;
                    let (dz, db) = prep.tangents(t, sign, f0, f1);
                    let (yf, dy, e) = (take(f2, n), take(f3, n), take(f4, n));
                    widen_into(yf, y);
                    widen_into(dy, ty);
                    let (a, c, rr) = (take(f5, n), take(f6, n), take(f7, n));
                    a.fill(0.0);
                    c.fill(0.0);
                    rr.fill(0.0);
                    let q = take(f8, n);
                    let mut acc = 0.0;
                    for (ii, vi) in v.iter().enumerate() {
                        let vi = vi.to_f64();
                        if vi == 0.0 {
                            // Every term of this row is exactly 0.
                            continue;
                        }
                        let row = prep.row(ii, inv_tau);
                        let (s, sd) = exp_row_dot(row, prep.z(), prep.b(), yf, e);
                        let inv_s = 1.0 / s;
                        acc += apply_hvp(
                            row,
                            (t_tau, vi, inv_s, sd * inv_s),
                            (prep.z(), prep.b(), yf, e),
                            (dz, db, dy),
                            q,
                            (a, c, rr),
                        );
                    }
                    prep.grad_values((c, rr), q, (sign, inv_tau), hx.row(r));
                    for (h, a) in hy.row(r).iter_mut().zip(a.iter()) {
                        *h = T::from_f64(*a);
                    }
                    *he.at(r) = T::from_f64(-acc * inv_tau);
                }
            })
        },
    );
    Ok(())
}
