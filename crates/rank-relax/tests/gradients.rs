//! Finite-difference checks of every VJP, and of every ε-gradient, on random rows.

mod common;

use common::{data, inputs_of, is_loss, random_inputs as inputs, run, variants, OPS, P};
use rank_relax::{Direction, Regularization, Shape};

/// `⟨u, op(inputs)⟩` per row.
fn objective(op: &str, p: P, shape: Shape, inputs: &[Vec<f64>], u: &[f64]) -> Vec<f64> {
    let out = run::<f64>(op, p, shape, inputs, None)
        .expect("forward")
        .output;
    let width = out.len() / shape.batch;
    out.chunks(width)
        .zip(u.chunks(width))
        .map(|(o, u)| o.iter().zip(u).map(|(a, b)| a * b).sum())
        .collect()
}

/// Asserts agreement; returns whether the derivative was far from zero (a real check).
fn assert_fd(what: &str, analytic: f64, fd: f64) -> bool {
    let tol = 1e-6 * analytic.abs().max(fd.abs()).max(1.0);
    assert!(
        (analytic - fd).abs() <= tol,
        "{what}: analytic {analytic:e} vs finite difference {fd:e}"
    );
    analytic.abs() > 1e-3
}

#[test]
fn vjp_matches_finite_differences() {
    let mut checked = 0;
    let mut nonzero = std::collections::BTreeMap::<String, (usize, usize)>::new();
    for op in OPS {
        for (reg, dir) in variants(op) {
            for eps in [0.1, 1.0, 10.0] {
                for n in [1usize, 2, 5, 16] {
                    if op == "spearman_loss" && n < 2 {
                        continue;
                    }
                    let shape = Shape { batch: 3, n };
                    let seed = (checked as u64) * 7919 + 17;
                    let x = inputs(op, shape, seed);
                    let width = if is_loss(op) { 1 } else { n };
                    let mut rng = data::rng(seed ^ 0xabc);
                    let u = data::uniform(&mut rng, shape.batch * width, -1.0, 1.0);
                    let p = P::new(eps, reg, dir);
                    let what = format!("{op} {reg} {dir} ε={eps} n={n}");
                    let got = run::<f64>(op, p, shape, &x, Some(&u)).expect(&what);

                    // Directional derivatives along random directions of the differentiable inputs.
                    for trial in 0..3 {
                        let dirs: Vec<Vec<f64>> = inputs_of(op)
                            .iter()
                            .map(|(_, diff)| {
                                let d = data::uniform(&mut rng, x[0].len(), -1.0, 1.0);
                                if *diff {
                                    d
                                } else {
                                    vec![0.0; d.len()]
                                }
                            })
                            .collect();
                        let h = 1e-6;
                        let shifted = |s: f64| -> Vec<Vec<f64>> {
                            x.iter()
                                .zip(&dirs)
                                .map(|(xi, di)| xi.iter().zip(di).map(|(a, b)| a + s * b).collect())
                                .collect()
                        };
                        let plus = objective(op, p, shape, &shifted(h), &u);
                        let minus = objective(op, p, shape, &shifted(-h), &u);
                        let diff_inputs: Vec<usize> = inputs_of(op)
                            .iter()
                            .enumerate()
                            .filter(|(_, (_, d))| *d)
                            .map(|(i, _)| i)
                            .collect();
                        for r in 0..shape.batch {
                            let fd = (plus[r] - minus[r]) / (2.0 * h);
                            let analytic: f64 = diff_inputs
                                .iter()
                                .zip(&got.grads)
                                .map(|(&i, g)| {
                                    (r * n..(r + 1) * n).map(|k| g[k] * dirs[i][k]).sum::<f64>()
                                })
                                .sum();
                            let what = format!("{what} row {r} direction {trial}");
                            let e = nonzero.entry(format!("{op} {reg}")).or_default();
                            e.0 += assert_fd(&what, analytic, fd) as usize;
                        }
                    }

                    // The ε-gradient, per row.
                    let h = 1e-6 * eps;
                    let plus = objective(op, P::new(eps + h, reg, dir), shape, &x, &u);
                    let minus = objective(op, P::new(eps - h, reg, dir), shape, &x, &u);
                    for r in 0..shape.batch {
                        let fd = (plus[r] - minus[r]) / (2.0 * h);
                        let what = format!("{what} row {r} ε-gradient");
                        let e = nonzero.entry(format!("{op} {reg}")).or_default();
                        e.1 += assert_fd(&what, got.grad_eps[r], fd) as usize;
                    }
                    checked += 1;
                }
            }
        }
    }
    assert!(checked > 100, "checked {checked}");
    // Each op and regularization met many non-zero input and ε derivatives, not just flat rows.
    for (key, (dx, de)) in nonzero {
        assert!(
            dx >= 20 && de >= 5,
            "{key}: only {dx} / {de} non-zero derivatives"
        );
    }
}

/// The ε-gradient of the ops whose output depends on `x/ε` only is `−⟨g_x, x⟩/ε`; soft_sort's
/// is not, which the finite differences above check. Here: that it is not trivially zero.
#[test]
fn soft_sort_eps_gradient_is_nontrivial() {
    let shape = Shape { batch: 1, n: 6 };
    let x = vec![vec![0.3, -0.2, 0.25, 0.1, -0.15, 0.05]];
    for reg in Regularization::ALL {
        let u = vec![1.0, -0.5, 0.3, 0.2, -1.0, 0.7];
        let p = P::new(10.0, *reg, Direction::Ascending);
        let got = run::<f64>("soft_sort", p, shape, &x, Some(&u)).unwrap();
        assert!(got.grad_eps[0].abs() > 1e-3, "{reg}: {:?}", got.grad_eps);
    }
}
