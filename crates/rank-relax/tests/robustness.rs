//! Numerical robustness in f64: values spanning 1e-300 to 1e300, all-equal rows and ε from 1e-8
//! to 1e8 give finite outputs and gradients for every op — or, only where `n · max|x|/ε` does
//! not fit an f64, the documented `… / regularization_strength overflows` error. Never a NaN or
//! an infinity. f32 saturation is pinned in `f32_saturates_only_where_documented`.

mod common;

use common::{data, inputs_of, is_loss, run, Outcome, OPS, P};
use rank_relax::{Direction, ErrorKind, Regularization, Shape};

const EPS: [f64; 9] = [1e-8, 1e-6, 1e-4, 1e-2, 1.0, 1e2, 1e4, 1e6, 1e8];

fn all_finite(o: &Outcome) -> bool {
    o.output
        .iter()
        .chain(o.grads.iter().flatten())
        .chain(&o.grad_eps)
        .all(|v| v.is_finite())
}

/// Runs `op` forward + backward and checks the outcome: finite, or the overflow error where the
/// scaled values cannot be summed in f64.
fn check(op: &str, p: P, shape: Shape, inputs: &[Vec<f64>], what: &str) {
    let mut rng = data::rng(11);
    let width = if is_loss(op) { 1 } else { shape.n };
    let u = data::uniform(&mut rng, shape.batch * width, -1.0, 1.0);
    match run::<f64>(op, p, shape, inputs, Some(&u)) {
        Ok(o) => assert!(all_finite(&o), "{op} {what} ε={:e}: {o:?}", p.eps),
        Err(e) => {
            let max = inputs[0].iter().fold(0.0f64, |m, v| m.max(v.abs()));
            let n = shape.n as f64;
            let bound = if op == "soft_sort" {
                (max + n) / p.eps
            } else {
                max / p.eps + n
            };
            assert!(
                e.kind == ErrorKind::InvalidArgument
                    && e.message.contains("/ regularization_strength overflows")
                    && !(bound * n).is_finite(),
                "{op} {what} ε={:e}: unexpected error {}",
                p.eps,
                e.message
            );
        }
    }
}

fn inputs_for(op: &str, values: &[f64], shape: Shape) -> Vec<Vec<f64>> {
    let mut rng = data::rng(5);
    inputs_of(op)
        .iter()
        .map(|(name, _)| match *name {
            "relevance" => data::grades(&mut rng, shape.batch * shape.n),
            "targets" => values.iter().rev().copied().collect(),
            _ => values.to_vec(),
        })
        .collect()
}

fn params() -> impl Iterator<Item = (Regularization, Direction)> {
    [Regularization::L2, Regularization::Kl]
        .into_iter()
        .flat_map(|r| [Direction::Ascending, Direction::Descending].map(|d| (r, d)))
}

#[test]
fn magnitudes_from_1e_300_to_1e300_at_every_eps() {
    let shape = Shape { batch: 4, n: 33 };
    for (lo, hi) in [
        (1e-300, 1e300),
        (1e-300, 1e-290),
        (1e-300, 1.0),
        (1.0, 1e300),
        (1e200, 1e300),
    ] {
        let values = data::spanning(shape, lo, hi, 3);
        for op in OPS {
            let x = inputs_for(op, &values, shape);
            for (reg, dir) in params() {
                for eps in EPS {
                    check(
                        op,
                        P::new(eps, reg, dir),
                        shape,
                        &x,
                        &format!("{lo:e}..{hi:e} {reg} {dir}"),
                    );
                }
            }
        }
    }
}

#[test]
fn largest_magnitudes_that_fit_are_computed_not_refused() {
    // n · max|x|/ε well inside f64: every op computes (no error at all).
    let shape = Shape { batch: 2, n: 16 };
    for eps in EPS {
        let hi = 1e300 * eps.min(1.0);
        let values = data::spanning(shape, 1e-300, hi, 7);
        for op in OPS {
            let x = inputs_for(op, &values, shape);
            for (reg, dir) in params() {
                let mut rng = data::rng(1);
                let width = if is_loss(op) { 1 } else { shape.n };
                let u = data::uniform(&mut rng, shape.batch * width, -1.0, 1.0);
                let o = run::<f64>(op, P::new(eps, reg, dir), shape, &x, Some(&u)).unwrap_or_else(
                    |e| panic!("{op} {reg} {dir} ε={eps:e} max={hi:e}: {}", e.message),
                );
                assert!(all_finite(&o), "{op} {reg} {dir} ε={eps:e}: {o:?}");
            }
        }
    }
}

#[test]
fn all_equal_rows_at_every_eps() {
    let shape = Shape { batch: 3, n: 9 };
    for c in [0.0, -0.0, 1e-300, -1e300, 0.75, 1e300] {
        let values = vec![c; shape.batch * shape.n];
        for op in OPS {
            let x = inputs_for(op, &values, shape);
            for (reg, dir) in params() {
                for eps in EPS {
                    check(
                        op,
                        P::new(eps, reg, dir),
                        shape,
                        &x,
                        &format!("all {c:e} {reg} {dir}"),
                    );
                    let Ok(o) = run::<f64>(op, P::new(eps, reg, dir), shape, &x, None) else {
                        continue;
                    };
                    // Tied values share their ranks exactly; sorted ties stay the value.
                    let mid = (shape.n as f64 + 1.0) / 2.0;
                    match op {
                        "soft_rank" | "sigmoid_rank" => {
                            assert!(
                                o.output.iter().all(|&r| r == mid),
                                "{op} {c:e}: {:?}",
                                o.output
                            )
                        }
                        "soft_sort" => {
                            assert!(o.output.iter().all(|&s| s == c), "{op}: {:?}", o.output)
                        }
                        "spearman_loss" => assert!(o.output.iter().all(|&l| l == 1.0)),
                        _ => assert!(o.output.iter().all(|l| (0.0..=1.0).contains(l))),
                    }
                }
            }
        }
    }
}

/// Runs in f32; returns (outputs finite, gradients finite, any NaN).
fn run_f32(
    op: &str,
    p: P,
    shape: Shape,
    values: &[f64],
) -> Result<(bool, bool, bool), rank_relax::Error> {
    let x: Vec<Vec<f32>> = inputs_for(op, values, shape)
        .iter()
        .map(|v| v.iter().map(|&a| a as f32).collect())
        .collect();
    let mut rng = data::rng(2);
    let width = if is_loss(op) { 1 } else { shape.n };
    let u: Vec<f32> = data::uniform(&mut rng, shape.batch * width, -1.0, 1.0)
        .iter()
        .map(|&a| a as f32)
        .collect();
    let o = run::<f32>(op, p, shape, &x, Some(&u))?;
    let grads = o.grads.iter().flatten().chain(&o.grad_eps);
    Ok((
        o.output.iter().all(|v| v.is_finite()),
        grads.clone().all(|v| v.is_finite()),
        o.output.iter().chain(grads).any(|v| v.is_nan()),
    ))
}

#[test]
fn f32_saturates_only_where_documented() {
    // ε in [1e-8, 1e8] and values anywhere in f32's range: outputs and gradients are finite.
    let shape = Shape { batch: 2, n: 16 };
    for (lo, hi) in [(1e-38, 1e38), (1e-38, 1.0), (1.0, 1e38)] {
        let values = data::spanning(shape, lo, hi, 9);
        for op in OPS {
            for (reg, dir) in params() {
                for eps in EPS {
                    let what = format!("{op} {reg} {dir} ε={eps:e} {lo:e}..{hi:e}");
                    let (out, grads, nan) = run_f32(op, P::new(eps, reg, dir), shape, &values)
                        .unwrap_or_else(|e| panic!("{what}: {}", e.message));
                    assert!(out && grads && !nan, "{what}");
                }
            }
        }
    }
    // Far below that range gradients leave f32 (they are computed in f64 and rounded): the
    // ε-gradient of soft_sort grows like n²/ε² on pooled rows, every gradient like 1/ε. They
    // become ±inf, never NaN, and outputs stay finite.
    let values = data::spanning(shape, 1.0, 1e38, 4);
    for (op, reg, eps) in [
        ("soft_sort", Regularization::L2, 1e-20),
        ("soft_sort", Regularization::Kl, 1e-20),
        ("soft_rank", Regularization::Kl, 1e-38),
    ] {
        let p = P::new(eps, reg, Direction::Ascending);
        let (out, grads, nan) = run_f32(op, p, shape, &values).unwrap();
        assert!(
            out && !grads && !nan,
            "{op} {reg} ε={eps:e} saturates its gradients to ±inf"
        );
    }
}
