//! The JVPs (forward-mode products) of every op: against central finite differences of the
//! forward, adjoint to the VJPs, f32 against f64, independent of the thread count, and their
//! errors on bad input.

mod common;

use std::sync::Mutex;

use common::{
    cast, data, forward, inputs_of, is_loss, random_inputs as inputs, run, variants, widen, zeros,
    OPS, P,
};
use rank_relax::ops::{ndcg_loss, sigmoid_rank, soft_rank, soft_sort, spearman_loss};
use rank_relax::{set_num_threads, Direction, Error, Real, Regularization, Shape};

/// Serialises the tests that set the process-wide thread count.
static THREADS: Mutex<()> = Mutex::new(());

/// Runs the op's forward, then its JVP with one tangent per differentiable input (in spec
/// order) and the ε-tangent; returns the output tangent, widened.
fn jvp<T: Real>(
    op: &str,
    p: P,
    shape: Shape,
    inputs: &[Vec<T>],
    tangents: &[Vec<T>],
    t_eps: T,
) -> Result<Vec<f64>, Error> {
    let saved = forward(op, p, shape, inputs)?;
    let (x, t, r, i) = (inputs, tangents, &saved.real, &saved.int);
    let mut d = zeros::<T>(saved.output.len());
    match op {
        "soft_rank" => {
            let params = p.soft_rank();
            soft_rank::jvp(
                shape, &params, &x[0], None, &r[0], &i[0], &t[0], t_eps, &mut d,
            )?;
        }
        "soft_sort" => {
            soft_sort::jvp(
                shape,
                &p.soft_sort(),
                &x[0],
                None,
                &i[0],
                &t[0],
                t_eps,
                &mut d,
            )?;
        }
        "sigmoid_rank" => {
            sigmoid_rank::jvp(shape, &p.sigmoid_rank(), &x[0], None, &t[0], t_eps, &mut d)?;
        }
        "spearman_loss" => {
            spearman_loss::jvp(
                shape,
                &p.spearman_loss(),
                &x[0],
                &x[1],
                None,
                &r[0],
                &i[0],
                &r[1],
                &i[1],
                &t[0],
                &t[1],
                t_eps,
                &mut d,
            )?;
        }
        "ndcg_loss" => {
            ndcg_loss::jvp(
                shape,
                &p.ndcg_loss(),
                &x[0],
                &x[1],
                None,
                &r[0],
                &i[0],
                &t[0],
                t_eps,
                &mut d,
            )?;
        }
        _ => panic!("unknown op {op}"),
    }
    Ok(widen(&d))
}

/// Random tangents, one per differentiable input.
fn tangents(op: &str, shape: Shape, seed: u64) -> Vec<Vec<f64>> {
    let mut rng = data::rng(seed);
    let len = shape.batch * shape.n;
    inputs_of(op)
        .iter()
        .filter(|(_, diff)| *diff)
        .map(|_| data::uniform(&mut rng, len, -1.0, 1.0))
        .collect()
}

/// The op's output at `inputs + h·tangents` (differentiable inputs only) and `ε + h·t_ε`.
fn moved(
    op: &str,
    p: P,
    shape: Shape,
    x: &[Vec<f64>],
    t: &[Vec<f64>],
    t_eps: f64,
    h: f64,
) -> Vec<f64> {
    let mut k = 0;
    let shifted: Vec<Vec<f64>> = inputs_of(op)
        .iter()
        .zip(x)
        .map(|((_, diff), xi)| {
            if !*diff {
                return xi.clone();
            }
            k += 1;
            xi.iter().zip(&t[k - 1]).map(|(a, b)| a + h * b).collect()
        })
        .collect();
    let p = P::new(p.eps + h * t_eps, p.reg, p.dir);
    run::<f64>(op, p, shape, &shifted, None)
        .expect("forward")
        .output
}

#[test]
fn jvp_matches_finite_differences() {
    let mut checked = 0usize;
    // Per op and regularization: output tangents checked that were far from zero.
    let mut nonzero = std::collections::BTreeMap::<String, usize>::new();
    for op in OPS {
        for (reg, dir) in variants(op) {
            for eps in [1e-3, 0.1, 1.0, 10.0, 100.0] {
                for n in [1usize, 2, 5, 16] {
                    if op == "spearman_loss" && n < 2 {
                        continue;
                    }
                    for t_eps in [0.0, 0.7, -1.3] {
                        let shape = Shape { batch: 3, n };
                        let seed = checked as u64 * 7919 + 5;
                        let x = inputs(op, shape, seed);
                        let t = tangents(op, shape, seed ^ 0x5eed);
                        let p = P::new(eps, reg, dir);
                        let what = format!("{op} {reg} {dir} ε={eps} n={n} t_ε={t_eps}");
                        let got = jvp::<f64>(op, p, shape, &x, &t, t_eps).expect(&what);
                        // A step relative to ε: the outputs vary on the scale of x/ε.
                        let h = 1e-5 * eps.min(1.0);
                        let plus = moved(op, p, shape, &x, &t, t_eps, h);
                        let minus = moved(op, p, shape, &x, &t, t_eps, -h);
                        for (k, &a) in got.iter().enumerate() {
                            let fd = (plus[k] - minus[k]) / (2.0 * h);
                            // 1e-6 relative, plus the rounding of the forward divided by the step.
                            let noise = 8.0 * f64::EPSILON * plus[k].abs().max(minus[k].abs()) / h;
                            let tol = 1e-6 * a.abs().max(fd.abs()).max(1.0) + noise;
                            assert!(
                                (a - fd).abs() <= tol,
                                "{what} [{k}]: jvp {a:e} vs finite difference {fd:e}"
                            );
                            if a.abs() > 1e-3 {
                                *nonzero.entry(format!("{op} {reg}")).or_default() += 1;
                            }
                        }
                        checked += 1;
                    }
                }
            }
        }
    }
    assert!(checked > 500, "checked {checked}");
    for (key, count) in nonzero {
        assert!(count >= 30, "{key}: only {count} non-zero tangents");
    }
}

/// Rows with ties (a coarse grid): the JVP and VJP use the same blocks, so adjointness holds
/// there too.
fn tied(x: &[Vec<f64>], op: &str) -> Vec<Vec<f64>> {
    inputs_of(op)
        .iter()
        .zip(x)
        .map(|((name, _), v)| {
            if *name == "relevance" {
                v.clone()
            } else {
                v.iter().map(|a| (a * 2.0).round() / 2.0).collect()
            }
        })
        .collect()
}

/// `⟨u, jvp(t, t_ε)⟩ = ⟨vjp(u), t⟩ + t_ε · grad_ε`, row by row, to rounding.
#[test]
fn jvp_is_adjoint_to_the_vjp() {
    let mut checked = 0usize;
    for op in OPS {
        for (reg, dir) in variants(op) {
            for eps in [1e-3, 0.1, 1.0, 100.0] {
                for n in [1usize, 2, 7, 33] {
                    if op == "spearman_loss" && n < 2 {
                        continue;
                    }
                    for ties in [false, true] {
                        let shape = Shape { batch: 4, n };
                        let seed = checked as u64 * 104_729 + 11;
                        let mut x = inputs(op, shape, seed);
                        if ties {
                            x = tied(&x, op);
                        }
                        let t = tangents(op, shape, seed ^ 0xface);
                        let width = if is_loss(op) { 1 } else { n };
                        let mut rng = data::rng(seed ^ 0xbeef);
                        let u = data::uniform(&mut rng, shape.batch * width, -1.0, 1.0);
                        let t_eps = 0.37;
                        let p = P::new(eps, reg, dir);
                        let what = format!("{op} {reg} {dir} ε={eps} n={n} ties={ties}");
                        let fwd = jvp::<f64>(op, p, shape, &x, &t, t_eps).expect(&what);
                        let bwd = run::<f64>(op, p, shape, &x, Some(&u)).expect(&what);
                        for r in 0..shape.batch {
                            let (mut lhs, mut scale) = (0.0, 0.0);
                            for k in r * width..(r + 1) * width {
                                lhs += u[k] * fwd[k];
                                scale += (u[k] * fwd[k]).abs();
                            }
                            let ge = t_eps * bwd.grad_eps[r];
                            let (mut rhs, mut rscale) = (ge, ge.abs());
                            for (g, ti) in bwd.grads.iter().zip(&t) {
                                for k in r * n..(r + 1) * n {
                                    rhs += g[k] * ti[k];
                                    rscale += (g[k] * ti[k]).abs();
                                }
                            }
                            let tol = 1e-12 * scale.max(rscale) + 1e-300;
                            assert!(
                                (lhs - rhs).abs() <= tol,
                                "{what} row {r}: ⟨u, jvp⟩ = {lhs:e} vs ⟨vjp, t⟩ = {rhs:e}"
                            );
                        }
                        checked += 1;
                    }
                }
            }
        }
    }
    assert!(checked > 200, "checked {checked}");
}

/// f32 JVPs agree with the f64 JVPs of the same f32-rounded inputs to 1e-4 of the row's
/// largest magnitude.
#[test]
fn f32_agrees_with_f64() {
    let round = |v: &[f64]| -> Vec<f64> { v.iter().map(|&a| a as f32 as f64).collect() };
    for op in OPS {
        for (reg, dir) in variants(op) {
            for eps in [0.01, 0.3, 3.0] {
                let shape = Shape { batch: 5, n: 40 };
                let x: Vec<Vec<f64>> = inputs(op, shape, 3).iter().map(|v| round(v)).collect();
                let t: Vec<Vec<f64>> = tangents(op, shape, 4).iter().map(|v| round(v)).collect();
                let t_eps = 0.5;
                let p = P::new(eps as f32 as f64, reg, dir);
                let what = format!("{op} {reg} {dir} ε={eps}");
                let want = jvp::<f64>(op, p, shape, &x, &t, t_eps).expect(&what);
                let x32: Vec<Vec<f32>> = x.iter().map(|v| cast(v)).collect();
                let t32: Vec<Vec<f32>> = t.iter().map(|v| cast(v)).collect();
                let got = jvp::<f32>(op, p, shape, &x32, &t32, t_eps as f32).expect(&what);
                let width = want.len() / shape.batch;
                for (r, (w, g)) in want.chunks(width).zip(got.chunks(width)).enumerate() {
                    // A loss row is one number: its scale is that of the rank tangents (≈ 1/ε).
                    let floor = if is_loss(op) { 1e-3 / eps } else { 0.0 };
                    let max = w.iter().fold(floor, |m: f64, v| m.max(v.abs()));
                    for (k, (a, b)) in w.iter().zip(g).enumerate() {
                        assert!(
                            (a - b).abs() <= 1e-4 * max,
                            "{what} [{r}, {k}]: f32 {b:e} vs f64 {a:e} (row max {max:e})"
                        );
                    }
                }
            }
        }
    }
}

/// Bit-identical results on 1, 2 and 4 threads, for batches large enough to run in parallel.
#[test]
fn jvp_does_not_depend_on_threads() {
    let _threads = THREADS.lock().unwrap_or_else(|e| e.into_inner());
    for op in OPS {
        let shape = if op == "sigmoid_rank" {
            Shape { batch: 64, n: 100 }
        } else {
            Shape { batch: 300, n: 257 }
        };
        let x = inputs(op, shape, 21);
        let t = tangents(op, shape, 22);
        for (reg, dir) in variants(op) {
            let p = P::new(0.2, reg, dir);
            let mut seen: Vec<Vec<u64>> = vec![];
            for threads in [1, 2, 4] {
                set_num_threads(threads);
                let got = jvp::<f64>(op, p, shape, &x, &t, 0.3).expect(op);
                seen.push(got.iter().map(|v| v.to_bits()).collect());
            }
            set_num_threads(0);
            assert!(
                seen.windows(2).all(|w| w[0] == w[1]),
                "{op} {reg} {dir}: results differ across thread counts"
            );
        }
    }
}

/// Every JVP checks its tangents like the backward checks its cotangents: lengths, non-finite
/// values (naming the op, the argument and the element) and the ε-tangent.
#[test]
fn bad_tangents_are_clear_errors() {
    for op in OPS {
        let shape = Shape { batch: 2, n: 3 };
        let x = inputs(op, shape, 1);
        let t = tangents(op, shape, 2);
        let p = P::new(0.5, Regularization::L2, Direction::Ascending);
        let names: Vec<String> = inputs_of(op)
            .iter()
            .filter(|(_, d)| *d)
            .map(|(name, _)| format!("tangent_{name}"))
            .collect();
        let message = |t: &[Vec<f64>], t_eps: f64| {
            jvp::<f64>(op, p, shape, &x, t, t_eps)
                .expect_err(op)
                .to_string()
        };
        for (k, name) in names.iter().enumerate() {
            // NaN, ±inf at [0, 1] and [1, 2].
            for (at, v, shown) in [
                (1, f64::NAN, "NaN"),
                (5, f64::INFINITY, "+inf"),
                (5, f64::NEG_INFINITY, "-inf"),
            ] {
                let mut bad = t.clone();
                bad[k][at] = v;
                let (row, col) = (at / 3, at % 3);
                assert_eq!(
                    message(&bad, 0.0),
                    format!("{op}: {name}[{row}, {col}] is {shown}")
                );
            }
            // Wrong lengths.
            let mut short = t.clone();
            short[k].pop();
            assert_eq!(
                message(&short, 0.0),
                format!("{op}: {name} has 5 elements, expected batch × n = 2 × 3 = 6")
            );
        }
        assert_eq!(
            message(&t, f64::NAN),
            format!("{op}: tangent_regularization_strength is NaN")
        );
        assert_eq!(
            message(&t, f64::INFINITY),
            format!("{op}: tangent_regularization_strength is +inf")
        );
        // An ε-tangent whose output tangents would overflow.
        let e = message(&t, 1e308);
        assert!(
            e.starts_with(&format!("{op}: tangent_regularization_strength"))
                && e.contains("overflows"),
            "{e}"
        );
    }
}

/// The output tangent's length is checked, and so are the saves and residuals, as in the
/// backward.
#[test]
fn bad_outputs_and_residuals_are_clear_errors() {
    let shape = Shape { batch: 2, n: 3 };
    let params = soft_rank::Params::<f64>::default();
    let x = [0.3, 0.1, 0.2, 1.0, -1.0, 0.5];
    let (mut r, mut perm) = ([0.0; 6], [0i32; 6]);
    soft_rank::forward(shape, &params, &x, None, &mut r, &mut perm).unwrap();
    let t = [1.0; 6];
    let mut short = [0.0; 5];
    let e = soft_rank::jvp(shape, &params, &x, None, &r, &perm, &t, 0.0, &mut short).unwrap_err();
    assert_eq!(
        e.to_string(),
        "soft_rank: tangent_ranks has 5 elements, expected batch × n = 2 × 3 = 6"
    );
    let mut out = [0.0; 6];
    let mut bad = perm;
    bad[4] = 7;
    let e = soft_rank::jvp(shape, &params, &x, None, &r, &bad, &t, 0.0, &mut out).unwrap_err();
    assert_eq!(
        e.to_string(),
        "soft_rank: permutation[1, 1] = 7 is not a valid permutation residual entry for n = 3"
    );

    let sp = soft_sort::Params::<f64>::default();
    let mut s = [0.0; 6];
    soft_sort::forward(shape, &sp, &x, None, &mut s, &mut perm).unwrap();
    let e = soft_sort::jvp(shape, &sp, &x, None, &perm, &t, 0.0, &mut short).unwrap_err();
    assert_eq!(
        e.to_string(),
        "soft_sort: tangent_sorted has 5 elements, expected batch × n = 2 × 3 = 6"
    );
    let gp = sigmoid_rank::Params::<f64>::default();
    let e = sigmoid_rank::jvp(shape, &gp, &x, None, &t, 0.0, &mut short).unwrap_err();
    assert_eq!(
        e.to_string(),
        "sigmoid_rank: tangent_ranks has 5 elements, expected batch × n = 2 × 3 = 6"
    );
    let np = ndcg_loss::Params::<f64>::default();
    let rel = [1.0, 0.0, 2.0, 0.0, 3.0, 1.0];
    let (mut loss, mut r2, mut p2) = ([0.0; 2], [0.0; 6], [0i32; 6]);
    ndcg_loss::forward(shape, &np, &x, &rel, None, &mut loss, &mut r2, &mut p2).unwrap();
    let mut one = [0.0; 1];
    let e = ndcg_loss::jvp(shape, &np, &x, &rel, None, &r2, &p2, &t, 0.0, &mut one).unwrap_err();
    assert_eq!(
        e.to_string(),
        "ndcg_loss: tangent_loss has 1 elements, expected batch = 2"
    );
    let mp = spearman_loss::Params::<f64>::default();
    let (mut ar, mut ap, mut br, mut bp) = ([0.0; 6], [0i32; 6], [0.0; 6], [0i32; 6]);
    spearman_loss::forward(
        shape, &mp, &x, &rel, None, &mut loss, &mut ar, &mut ap, &mut br, &mut bp,
    )
    .unwrap();
    let e = spearman_loss::jvp(
        shape, &mp, &x, &rel, None, &ar, &ap, &br, &bp, &t, &t, 0.0, &mut one,
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "spearman_loss: tangent_loss has 1 elements, expected batch = 2"
    );
}

/// Empty batches and rows are fine, and huge values with small ε keep finite tangents (the ε part
/// is taken relative to each block).
#[test]
fn edge_shapes_and_extreme_values() {
    for op in OPS {
        for shape in [Shape { batch: 0, n: 4 }, Shape { batch: 3, n: 0 }] {
            let len = shape.batch * shape.n;
            let p = P::new(1.0, Regularization::Kl, Direction::Ascending);
            let x = vec![vec![0.0; len]; inputs_of(op).len()];
            let t = vec![vec![1.0; len]; x.len()];
            let got = jvp::<f64>(op, p, shape, &x, &t, 1.0);
            if op == "spearman_loss" && shape.n == 0 {
                let e = got.expect_err(op).to_string();
                assert_eq!(e, "spearman_loss: needs n >= 2 items per row, got n = 0");
                continue;
            }
            // A loss row with no items has loss 0 and tangent 0.
            let want = if is_loss(op) {
                vec![0.0; shape.batch]
            } else {
                vec![]
            };
            assert_eq!(got.expect(op), want, "{op} {shape:?}");
        }
    }
    // Ties at 1e300 with ε = 1e-3: one block, the ε part exactly zero.
    let shape = Shape { batch: 1, n: 4 };
    let x = vec![vec![1e300, 1e300, 1e300, -1e300]];
    let t = vec![vec![1.0, -1.0, 0.5, 2.0]];
    for op in ["soft_rank", "soft_sort"] {
        for reg in Regularization::ALL {
            let p = P::new(1e-3, *reg, Direction::Ascending);
            let got = jvp::<f64>(op, p, shape, &x, &t, 1.0).expect(op);
            assert!(got.iter().all(|v| v.is_finite()), "{op} {reg}: {got:?}");
        }
    }
}

/// Values spanning 1e-300…1e300 (with ties and zeros) and ε from 1e-8 to 1e8 give finite
/// tangents for every op, with and without an ε-tangent — or the documented `… overflows` error.
/// Never a NaN, an infinity or a panic.
#[test]
fn extreme_values_give_finite_tangents_or_the_overflow_error() {
    let shape = Shape { batch: 2, n: 9 };
    let len = shape.batch * shape.n;
    let spanning = |lo: f64, hi: f64| data::spanning(shape, lo, hi, 77);
    let rows = [
        spanning(1e-300, 1e300),
        spanning(1e-3, 1e3),
        vec![1e300; len],
    ];
    let (mut finite, mut refused) = (0, 0);
    for op in OPS {
        for (reg, dir) in variants(op) {
            for eps in [1e-8, 1e-4, 1.0, 1e4, 1e8] {
                for values in &rows {
                    let x: Vec<Vec<f64>> = inputs_of(op)
                        .iter()
                        .map(|(name, _)| match *name {
                            "relevance" => (0..len).map(|i| (i % 4) as f64).collect(),
                            "targets" => values.iter().rev().copied().collect(),
                            _ => values.clone(),
                        })
                        .collect();
                    let t = tangents(op, shape, 9);
                    for t_eps in [0.0, 1.0] {
                        let p = P::new(eps, reg, dir);
                        let what = format!("{op} {reg} {dir} ε={eps:e} t_ε={t_eps}");
                        match jvp::<f64>(op, p, shape, &x, &t, t_eps) {
                            Ok(v) => {
                                assert!(v.iter().all(|a| a.is_finite()), "{what}: {v:?}");
                                finite += 1;
                            }
                            Err(e) => {
                                assert!(e.message.contains("overflows"), "{what}: {e}");
                                refused += 1;
                            }
                        }
                    }
                }
            }
        }
    }
    assert!(finite > 5 * refused, "{finite} finite, {refused} refused");
}
