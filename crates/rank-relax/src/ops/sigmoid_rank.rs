//! `sigmoid_rank`: the pairwise-sigmoid relaxation of the ranks, O(n²) per row.
//!
//! `r_i = 1 + Σ_{j≠i} sigmoid(sign·(x_i − x_j)/ε)`, `sign = +1` ascending, `−1` descending.

use crate::check::Check;
use crate::scratch::{take, with_scratch};
use crate::threads::{run_rows, In, Out};
use crate::{Direction, Error, Real, Shape};

const OP: &str = "sigmoid_rank";

/// Parameters of `sigmoid_rank`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Params<T> {
    /// Regularization strength ε (the sigmoid's temperature), finite and > 0.
    pub regularization_strength: T,
    /// Ranking direction: `Ascending` gives the smallest value rank 1.
    pub direction: Direction,
}

impl<T: Real> Default for Params<T> {
    /// The spec's defaults: ε = 1, ascending.
    fn default() -> Self {
        Params {
            regularization_strength: T::from_f64(1.0),
            direction: Direction::Ascending,
        }
    }
}

/// Pairwise-sigmoid ranks of each row of `values` (`[batch, n]`) into `ranks` (`[batch, n]`).
pub fn forward<T: Real>(
    shape: Shape,
    params: &Params<T>,
    values: &[T],
    ranks: &mut [T],
) -> Result<(), Error> {
    let check = Check::new(OP, shape)?;
    check.matrix("values", values.len())?;
    check.matrix("ranks", ranks.len())?;
    let eps = check.strength(params.regularization_strength)?;
    check.finite("values", values)?;

    let n = shape.n;
    let c = scale(eps, params.direction);
    run_rows(
        shape.batch,
        n * n,
        (In::new(values, n), Out::new(ranks, n)),
        |rows, (x, mut r)| {
            with_scratch(|sc| {
                for i in 0..rows {
                    forward_row(c, &mut sc.row.f1, x.row(i), r.row(i));
                }
            })
        },
    );
    Ok(())
}

/// Vector-Jacobian product of `sigmoid_rank`; per row also
/// `grad_regularization_strength = −⟨grad_values, values⟩/ε` (the ranks depend on `x/ε` only).
pub fn backward<T: Real>(
    shape: Shape,
    params: &Params<T>,
    values: &[T],
    cotangent_ranks: &[T],
    grad_values: &mut [T],
    grad_regularization_strength: &mut [T],
) -> Result<(), Error> {
    let check = Check::new(OP, shape)?;
    check.matrix("values", values.len())?;
    check.matrix("cotangent_ranks", cotangent_ranks.len())?;
    check.matrix("grad_values", grad_values.len())?;
    check.vector(
        "grad_regularization_strength",
        grad_regularization_strength.len(),
    )?;
    let eps = check.strength(params.regularization_strength)?;
    check.finite("values", values)?;
    check.finite("cotangent_ranks", cotangent_ranks)?;

    let n = shape.n;
    let c = scale(eps, params.direction);
    let bufs = (
        In::new(values, n),
        In::new(cotangent_ranks, n),
        Out::new(grad_values, n),
        Out::new(grad_regularization_strength, 1),
    );
    run_rows(shape.batch, n * n, bufs, |rows, (x, u, mut g, mut ge)| {
        with_scratch(|sc| {
            for i in 0..rows {
                let dot = backward_row(c, &mut sc.row.f1, x.row(i), u.row(i), g.row(i));
                *ge.at(i) = T::from_f64(-dot / eps);
            }
        })
    });
    Ok(())
}

/// `sign/ε`.
fn scale(eps: f64, direction: Direction) -> f64 {
    match direction {
        Direction::Ascending => 1.0 / eps,
        Direction::Descending => -1.0 / eps,
    }
}

/// `(sigmoid(t), sigmoid(−t))` from one `exp(−|t|)`, which never overflows.
#[inline(always)]
fn sigmoid_pair(t: f64) -> (f64, f64, f64) {
    let e = (-t.abs()).exp();
    let d = 1.0 / (1.0 + e);
    // sigmoid(|t|) = 1/(1+e), sigmoid(−|t|) = e/(1+e); sigmoid' = e/(1+e)².
    let (big, small) = (d, e * d);
    let slope = small * d;
    if t >= 0.0 {
        (big, small, slope)
    } else {
        (small, big, slope)
    }
}

fn forward_row<T: Real>(c: f64, acc: &mut Vec<f64>, x: &[T], r: &mut [T]) {
    let n = x.len();
    // Accumulate in f64; one pass over pairs i < j gives sigmoid(t_ij) to i and sigmoid(−t_ij)
    // to j.
    let acc = take(acc, n);
    acc.fill(1.0);
    for i in 0..n {
        let xi = x[i].to_f64();
        for j in i + 1..n {
            let (p, q, _) = sigmoid_pair(c * (xi - x[j].to_f64()));
            acc[i] += p;
            acc[j] += q;
        }
    }
    for (ri, a) in r.iter_mut().zip(acc.iter()) {
        *ri = T::from_f64(*a);
    }
}

fn backward_row<T: Real>(c: f64, acc: &mut Vec<f64>, x: &[T], u: &[T], g: &mut [T]) -> f64 {
    let n = x.len();
    // sigmoid' is even: each pair adds d to g_i and −d to g_j.
    let acc = take(acc, n);
    acc.fill(0.0);
    for i in 0..n {
        let (xi, ui) = (x[i].to_f64(), u[i].to_f64());
        for j in i + 1..n {
            let (_, _, slope) = sigmoid_pair(c * (xi - x[j].to_f64()));
            let d = slope * (ui - u[j].to_f64());
            acc[i] += d;
            acc[j] -= d;
        }
    }
    let mut dot = 0.0;
    for ((gi, a), xi) in g.iter_mut().zip(acc.iter()).zip(x) {
        let v = c * a;
        *gi = T::from_f64(v);
        dot += v * xi.to_f64();
    }
    dot
}
