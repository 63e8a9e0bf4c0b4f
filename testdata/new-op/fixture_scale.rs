//! `fixture_scale`: `y = values / ε`, the smallest op with every kernel (a fixture for the cost of
//! a new op; `scripts/test-new-op.sh` copies it into `src/ops/` of a scratch tree).

use crate::check::Check;
use crate::masked::{Layout, Masked};
use crate::{Error, Real, Shape};

const OP: &str = "fixture_scale";

/// Parameters of `fixture_scale`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Params<T> {
    /// ε, finite and > 0.
    pub regularization_strength: T,
}

impl<T: Real> Default for Params<T> {
    fn default() -> Self {
        Params {
            regularization_strength: T::from_f64(1.0),
        }
    }
}

/// The checks every kernel shares: the shape, each buffer, finite values, ε.
fn check<T: Real>(
    shape: Shape,
    params: &Params<T>,
    bufs: &[(&str, usize, bool)],
    values: &[T],
) -> Result<f64, Error> {
    let check = Check::new(OP, shape)?;
    for &(name, len, per_row) in bufs {
        if per_row {
            check.vector(name, len)?;
        } else {
            check.matrix(name, len)?;
        }
    }
    let eps = check.strength(params.regularization_strength)?;
    check.finite("values", values)?;
    Ok(eps)
}

/// `scaled = values / ε`.
pub fn forward<T: Real>(
    shape: Shape,
    params: &Params<T>,
    values: &[T],
    mask: Option<&[bool]>,
    scaled: &mut [T],
) -> Result<(), Error> {
    let Some(mask) = mask else {
        return forward_dense(shape, params, values, scaled);
    };
    Masked::new(OP, shape, mask)
        .real("values", values, Layout::Items)
        .real_out("scaled", scaled, Layout::Items)
        .run(|b, _| {
            let (shape, [values], [], [scaled], []) = b.split();
            forward_dense(shape, params, values, scaled)
        })
}

fn forward_dense<T: Real>(
    shape: Shape,
    params: &Params<T>,
    values: &[T],
    scaled: &mut [T],
) -> Result<(), Error> {
    let eps = check(
        shape,
        params,
        &[
            ("values", values.len(), false),
            ("scaled", scaled.len(), false),
        ],
        values,
    )?;
    for (y, x) in scaled.iter_mut().zip(values) {
        *y = T::from_f64(x.to_f64() / eps);
    }
    Ok(())
}

/// `grad_values = u / ε`, per row `grad_ε = −Σ u·x / ε²`.
#[allow(clippy::too_many_arguments)]
pub fn backward<T: Real>(
    shape: Shape,
    params: &Params<T>,
    values: &[T],
    mask: Option<&[bool]>,
    cotangent_scaled: &[T],
    grad_values: &mut [T],
    grad_regularization_strength: &mut [T],
) -> Result<(), Error> {
    let Some(mask) = mask else {
        return backward_dense(
            shape,
            params,
            values,
            cotangent_scaled,
            grad_values,
            grad_regularization_strength,
        );
    };
    Masked::new(OP, shape, mask)
        .real("values", values, Layout::Items)
        .real("cotangent_scaled", cotangent_scaled, Layout::Items)
        .real_out("grad_values", grad_values, Layout::Items)
        .real_out(
            "grad_regularization_strength",
            grad_regularization_strength,
            Layout::Row,
        )
        .run(|b, _| {
            let (shape, [values, u], [], [g, ge], []) = b.split();
            backward_dense(shape, params, values, u, g, ge)
        })
}

fn backward_dense<T: Real>(
    shape: Shape,
    params: &Params<T>,
    values: &[T],
    u: &[T],
    g: &mut [T],
    ge: &mut [T],
) -> Result<(), Error> {
    let bufs = [
        ("cotangent_scaled", u.len(), false),
        ("grad_values", g.len(), false),
        ("grad_regularization_strength", ge.len(), true),
    ];
    let eps = check(shape, params, &bufs, values)?;
    Check::new(OP, shape)?.finite("cotangent_scaled", u)?;
    for r in 0..shape.batch {
        let row = r * shape.n..(r + 1) * shape.n;
        let mut d = 0.0;
        for j in row {
            g[j] = T::from_f64(u[j].to_f64() / eps);
            d -= u[j].to_f64() * values[j].to_f64() / (eps * eps);
        }
        ge[r] = T::from_f64(d);
    }
    Ok(())
}

/// `tangent_scaled = t / ε − x·t_ε / ε²`.
pub fn jvp<T: Real>(
    shape: Shape,
    params: &Params<T>,
    values: &[T],
    mask: Option<&[bool]>,
    tangent_values: &[T],
    tangent_regularization_strength: T,
    tangent_scaled: &mut [T],
) -> Result<(), Error> {
    let te = tangent_regularization_strength;
    let Some(mask) = mask else {
        return jvp_dense(shape, params, values, tangent_values, te, tangent_scaled);
    };
    Masked::new(OP, shape, mask)
        .real("values", values, Layout::Items)
        .real("tangent_values", tangent_values, Layout::Items)
        .real_out("tangent_scaled", tangent_scaled, Layout::Items)
        .run(|b, _| {
            let (shape, [values, t], [], [out], []) = b.split();
            jvp_dense(shape, params, values, t, te, out)
        })
}

fn jvp_dense<T: Real>(
    shape: Shape,
    params: &Params<T>,
    values: &[T],
    t: &[T],
    te: T,
    out: &mut [T],
) -> Result<(), Error> {
    let eps = check(
        shape,
        params,
        &[
            ("tangent_values", t.len(), false),
            ("tangent_scaled", out.len(), false),
        ],
        values,
    )?;
    Check::new(OP, shape)?.finite("tangent_values", t)?;
    let te = Check::new(OP, shape)?.finite_scalar("tangent_regularization_strength", te)?;
    for ((o, x), t) in out.iter_mut().zip(values).zip(t) {
        *o = T::from_f64(t.to_f64() / eps - x.to_f64() * te / (eps * eps));
    }
    Ok(())
}

/// The derivative of [`backward`] along `(t, t_ε)`: `−u·t_ε / ε²` and per row
/// `−Σ u·t / ε² + 2·t_ε·Σ u·x / ε³`.
#[allow(clippy::too_many_arguments)]
pub fn hvp<T: Real>(
    shape: Shape,
    params: &Params<T>,
    values: &[T],
    mask: Option<&[bool]>,
    cotangent_scaled: &[T],
    tangent_values: &[T],
    tangent_regularization_strength: T,
    hvp_values: &mut [T],
    hvp_regularization_strength: &mut [T],
) -> Result<(), Error> {
    let te = tangent_regularization_strength;
    let Some(mask) = mask else {
        return hvp_dense(
            shape,
            params,
            values,
            cotangent_scaled,
            tangent_values,
            te,
            hvp_values,
            hvp_regularization_strength,
        );
    };
    Masked::new(OP, shape, mask)
        .real("values", values, Layout::Items)
        .real("cotangent_scaled", cotangent_scaled, Layout::Items)
        .real("tangent_values", tangent_values, Layout::Items)
        .real_out("hvp_values", hvp_values, Layout::Items)
        .real_out(
            "hvp_regularization_strength",
            hvp_regularization_strength,
            Layout::Row,
        )
        .run(|b, _| {
            let (shape, [values, u, t], [], [h, he], []) = b.split();
            hvp_dense(shape, params, values, u, t, te, h, he)
        })
}

#[allow(clippy::too_many_arguments)]
fn hvp_dense<T: Real>(
    shape: Shape,
    params: &Params<T>,
    values: &[T],
    u: &[T],
    t: &[T],
    te: T,
    h: &mut [T],
    he: &mut [T],
) -> Result<(), Error> {
    let bufs = [
        ("cotangent_scaled", u.len(), false),
        ("tangent_values", t.len(), false),
        ("hvp_values", h.len(), false),
        ("hvp_regularization_strength", he.len(), true),
    ];
    let eps = check(shape, params, &bufs, values)?;
    let c = Check::new(OP, shape)?;
    c.finite("cotangent_scaled", u)?;
    c.finite("tangent_values", t)?;
    let te = c.finite_scalar("tangent_regularization_strength", te)?;
    for r in 0..shape.batch {
        let mut d = 0.0;
        for j in r * shape.n..(r + 1) * shape.n {
            let (uj, xj, tj) = (u[j].to_f64(), values[j].to_f64(), t[j].to_f64());
            h[j] = T::from_f64(-uj * te / (eps * eps));
            d += -uj * tj / (eps * eps) + 2.0 * te * uj * xj / (eps * eps * eps);
        }
        he[r] = T::from_f64(d);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernels_by_hand() {
        let shape = Shape::new(1, 3);
        let p = Params {
            regularization_strength: 2.0,
        };
        let x = [3.0, 1.0, 2.0];
        let mut y = [0.0; 3];
        forward(shape, &p, &x, None, &mut y).unwrap();
        assert_eq!(y, [1.5, 0.5, 1.0]);
        let (mut g, mut ge) = ([0.0; 3], [0.0]);
        backward(shape, &p, &x, None, &[1.0, 0.0, 2.0], &mut g, &mut ge).unwrap();
        assert_eq!((g, ge), ([0.5, 0.0, 1.0], [-1.75]));
        let mut t = [0.0; 3];
        jvp(shape, &p, &x, None, &[2.0, 0.0, 0.0], 1.0, &mut t).unwrap();
        assert_eq!(t, [0.25, -0.25, -0.5]);
        let mask = [true, false, true];
        forward(shape, &p, &x, Some(&mask), &mut y).unwrap();
        assert_eq!(y, [1.5, 0.0, 1.0]);
    }
}
