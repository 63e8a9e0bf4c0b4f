//! The Hessian-vector products of soft_rank, spearman_loss and ndcg_loss: against central finite
//! differences of the backward (in the inputs, in ε and both), symmetric, f32 against f64,
//! independent of the thread count, finite on extreme valid input, and their errors on bad input.

mod common;

use std::sync::Mutex;

use common::{cast, forward, random_inputs, run, variants, widen, zeros, P};
use rank_relax::ops::{ndcg_loss, soft_rank, spearman_loss};
use rank_relax::{set_num_threads, Direction, Error, ErrorKind, Real, Regularization, Shape};

/// Serialises the tests that set the process-wide thread count.
static THREADS: Mutex<()> = Mutex::new(());

/// A bad-input case: an edit of the valid arguments, the error kind and the name it reports.
type Case<A> = (Box<dyn Fn(&mut A)>, ErrorKind, &'static str);

const OPS: [&str; 3] = ["ndcg_loss", "soft_rank", "spearman_loss"];

/// What a Hessian-vector product wrote, widened: one buffer per differentiable input and the
/// ε entry per row.
#[derive(Clone, Debug, PartialEq)]
struct Hvp {
    inputs: Vec<Vec<f64>>,
    eps: Vec<f64>,
}

/// How many differentiable inputs the op has (relevance has none).
fn diff_inputs(op: &str) -> usize {
    if op == "spearman_loss" {
        2
    } else {
        1
    }
}

/// Runs the op's forward, then its Hessian-vector product with cotangent `u` (the output's),
/// one tangent per differentiable input and the ε-tangent.
fn hvp<T: Real>(
    op: &str,
    p: P,
    shape: Shape,
    inputs: &[Vec<T>],
    u: &[T],
    tangents: &[Vec<T>],
    t_eps: T,
) -> Result<Hvp, Error> {
    let saved = forward(op, p, shape, inputs)?;
    let (x, t, r, i) = (inputs, tangents, &saved.real, &saved.int);
    let len = shape.batch * shape.n;
    let mut h = vec![zeros::<T>(len); diff_inputs(op)];
    let mut he = zeros::<T>(shape.batch);
    match op {
        "soft_rank" => {
            let params = p.soft_rank();
            soft_rank::hvp(
                shape, &params, &x[0], None, &r[0], &i[0], u, &t[0], t_eps, &mut h[0], &mut he,
            )?;
        }
        "spearman_loss" => {
            let (h0, h1) = h.split_at_mut(1);
            spearman_loss::hvp(
                shape,
                &p.spearman_loss(),
                &x[0],
                &x[1],
                None,
                &r[0],
                &i[0],
                &r[1],
                &i[1],
                u,
                &t[0],
                &t[1],
                t_eps,
                &mut h0[0],
                &mut h1[0],
                &mut he,
            )?;
        }
        "ndcg_loss" => {
            ndcg_loss::hvp(
                shape,
                &p.ndcg_loss(),
                &x[0],
                &x[1],
                None,
                &r[0],
                &i[0],
                u,
                &t[0],
                t_eps,
                &mut h[0],
                &mut he,
            )?;
        }
        _ => panic!("unknown op {op}"),
    }
    Ok(Hvp {
        inputs: h.iter().map(|v| widen(v)).collect(),
        eps: widen(&he),
    })
}

/// The backward's gradients (inputs, then the ε entries) at `inputs + h·t` and `ε + h·t_ε`.
fn moved_backward(
    op: &str,
    p: P,
    shape: Shape,
    (x, u): (&[Vec<f64>], &[f64]),
    (t, t_eps): (&[Vec<f64>], f64),
    h: f64,
) -> Hvp {
    let shifted: Vec<Vec<f64>> = x
        .iter()
        .enumerate()
        .map(|(k, xi)| match t.get(k) {
            // relevance (ndcg's second input) has no tangent
            Some(tk) if k < diff_inputs(op) => xi.iter().zip(tk).map(|(a, b)| a + h * b).collect(),
            _ => xi.clone(),
        })
        .collect();
    let p = P::new(p.eps + h * t_eps, p.reg, p.dir);
    let out = run::<f64>(op, p, shape, &shifted, Some(u)).expect("backward");
    Hvp {
        inputs: out.grads,
        eps: out.grad_eps,
    }
}

fn cases(op: &str) -> Vec<(Regularization, Direction)> {
    variants(op)
}

fn uniform(len: usize, seed: u64) -> Vec<f64> {
    let mut rng = common::data::rng(seed);
    common::data::uniform(&mut rng, len, -1.0, 1.0)
}

/// A cotangent of the op's output and tangents of its differentiable inputs.
fn directions(op: &str, shape: Shape, seed: u64) -> (Vec<f64>, Vec<Vec<f64>>) {
    let out_len = if op == "soft_rank" {
        shape.batch * shape.n
    } else {
        shape.batch
    };
    let u = uniform(out_len, seed);
    let t = (0..diff_inputs(op))
        .map(|k| uniform(shape.batch * shape.n, seed ^ (0x7a11 + k as u64)))
        .collect();
    (u, t)
}

fn max_abs(h: &Hvp) -> f64 {
    h.inputs
        .iter()
        .flatten()
        .chain(&h.eps)
        .fold(0.0f64, |m, v| m.max(v.abs()))
}

#[test]
fn hvp_matches_finite_differences_of_the_backward() {
    let mut checked = 0usize;
    let mut nonzero = std::collections::BTreeMap::<String, usize>::new();
    for op in OPS {
        for (reg, dir) in cases(op) {
            for eps in [0.1, 0.5, 1.0, 10.0] {
                for n in [1usize, 2, 5, 16] {
                    if op == "spearman_loss" && n < 2 {
                        continue;
                    }
                    // Along the inputs only, ε only, and both.
                    for (with_t, t_eps) in [(true, 0.0), (false, 0.7), (true, -1.3)] {
                        checked += 1;
                        let shape = Shape { batch: 3, n };
                        let seed = checked as u64 * 7919 + 11;
                        let x = random_inputs(op, shape, seed);
                        let (u, mut t) = directions(op, shape, seed ^ 0x5eed);
                        if !with_t {
                            t.iter_mut().for_each(|v| v.fill(0.0));
                        }
                        let p = P::new(eps, reg, dir);
                        let what = format!("{op} {reg} {dir} ε={eps} n={n} t={with_t} t_ε={t_eps}");
                        let got = hvp::<f64>(op, p, shape, &x, &u, &t, t_eps).expect(&what);
                        // A step relative to ε: the backward varies on the scale of x/ε.
                        let h = 1e-5 * eps;
                        let plus = moved_backward(op, p, shape, (&x, &u), (&t, t_eps), h);
                        let minus = moved_backward(op, p, shape, (&x, &u), (&t, t_eps), -h);
                        let fd = |a: &[f64], b: &[f64]| -> Vec<f64> {
                            a.iter().zip(b).map(|(a, b)| (a - b) / (2.0 * h)).collect()
                        };
                        let want = Hvp {
                            inputs: plus
                                .inputs
                                .iter()
                                .zip(&minus.inputs)
                                .map(|(a, b)| fd(a, b))
                                .collect(),
                            eps: fd(&plus.eps, &minus.eps),
                        };
                        let scale = max_abs(&want).max(max_abs(&got));
                        let tol = 1e-6 * (1.0 + scale);
                        let pairs = got
                            .inputs
                            .iter()
                            .flatten()
                            .chain(&got.eps)
                            .zip(want.inputs.iter().flatten().chain(&want.eps));
                        for (k, (a, b)) in pairs.enumerate() {
                            assert!(
                                (a - b).abs() <= tol,
                                "{what}: entry {k}: hvp {a} vs finite difference {b} (tol {tol})"
                            );
                            if b.abs() > 1e-3 {
                                *nonzero
                                    .entry(format!("{op} {reg} t_ε={t_eps}"))
                                    .or_default() += 1;
                            }
                        }
                    }
                }
            }
        }
    }
    // Every op, regularization and direction produced second derivatives that are not zero
    // (l2 too: through ε).
    for op in OPS {
        for (reg, _) in cases(op) {
            for t_eps in [0.0, 0.7, -1.3] {
                let key = format!("{op} {reg} t_ε={t_eps}");
                let zero_ok = reg == Regularization::L2 && t_eps == 0.0;
                if !zero_ok {
                    assert!(
                        nonzero.get(&key).copied().unwrap_or(0) > 0,
                        "{key}: all zero"
                    );
                }
            }
        }
    }
}

/// l2 soft_rank is piecewise linear in the values: along the values alone its second
/// derivative in them is zero, but the ε entry is not.
#[test]
fn l2_soft_rank_has_no_second_derivative_in_the_values_alone() {
    for dir in Direction::ALL.iter().copied() {
        let shape = Shape { batch: 4, n: 9 };
        let x = random_inputs("soft_rank", shape, 3);
        let (u, t) = directions("soft_rank", shape, 4);
        let p = P::new(0.5, Regularization::L2, dir);
        let got = hvp::<f64>("soft_rank", p, shape, &x, &u, &t, 0.0).unwrap();
        assert!(got.inputs[0].iter().all(|&v| v == 0.0));
        assert!(got.eps.iter().any(|&v| v.abs() > 1e-3));
    }
}

/// `⟨v, H w⟩ = ⟨w, H v⟩` over (inputs, ε), the ε parts summed over rows (ε is one value for the
/// call).
#[test]
fn hvp_is_symmetric() {
    let mut seed = 100;
    for op in OPS {
        for (reg, dir) in cases(op) {
            for eps in [0.2, 1.0, 5.0] {
                for n in [2usize, 7, 33] {
                    seed += 1;
                    let shape = Shape { batch: 4, n };
                    let x = random_inputs(op, shape, seed);
                    let (u, t1) = directions(op, shape, seed ^ 1);
                    let (_, t2) = directions(op, shape, seed ^ 2);
                    let (s1, s2) = (0.6, -1.1);
                    let p = P::new(eps, reg, dir);
                    let h1 = hvp::<f64>(op, p, shape, &x, &u, &t1, s1).unwrap();
                    let h2 = hvp::<f64>(op, p, shape, &x, &u, &t2, s2).unwrap();
                    let inner = |t: &[Vec<f64>], s: f64, h: &Hvp| -> f64 {
                        let xs: f64 = t
                            .iter()
                            .zip(&h.inputs)
                            .map(|(a, b)| a.iter().zip(b).map(|(a, b)| a * b).sum::<f64>())
                            .sum();
                        xs + s * h.eps.iter().sum::<f64>()
                    };
                    let (a, b) = (inner(&t2, s2, &h1), inner(&t1, s1, &h2));
                    let what = format!("{op} {reg} {dir} ε={eps} n={n}");
                    assert!(
                        (a - b).abs() <= 1e-10 * (1.0 + a.abs().max(b.abs())),
                        "{what}: {a} vs {b}"
                    );
                }
            }
        }
    }
}

#[test]
fn f32_matches_f64() {
    let mut seed = 500;
    for op in OPS {
        for (reg, dir) in cases(op) {
            for eps in [0.3, 1.0, 4.0] {
                seed += 1;
                let shape = Shape { batch: 5, n: 12 };
                let x = random_inputs(op, shape, seed);
                let (u, t) = directions(op, shape, seed ^ 9);
                let p = P::new(eps, reg, dir);
                let want = hvp::<f64>(op, p, shape, &x, &u, &t, 0.8).unwrap();
                let x32: Vec<Vec<f32>> = x.iter().map(|v| cast(v)).collect();
                let t32: Vec<Vec<f32>> = t.iter().map(|v| cast(v)).collect();
                let got = hvp::<f32>(op, p, shape, &x32, &cast(&u), &t32, 0.8).unwrap();
                let tol = 2e-3 * (1.0 + max_abs(&want));
                let what = format!("{op} {reg} {dir} ε={eps}");
                let a = got.inputs.iter().flatten().chain(&got.eps);
                let b = want.inputs.iter().flatten().chain(&want.eps);
                for (k, (a, b)) in a.zip(b).enumerate() {
                    assert!(
                        (a - b).abs() <= tol,
                        "{what}: entry {k}: f32 {a} vs f64 {b}"
                    );
                }
            }
        }
    }
}

#[test]
fn hvp_is_independent_of_the_thread_count() {
    let _guard = THREADS.lock().unwrap_or_else(|e| e.into_inner());
    for op in OPS {
        for (reg, dir) in cases(op) {
            let shape = Shape { batch: 300, n: 64 };
            let x = random_inputs(op, shape, 77);
            let (u, t) = directions(op, shape, 78);
            let p = P::new(0.7, reg, dir);
            let mut results = vec![];
            for threads in [1, 2, 3, 8] {
                set_num_threads(threads);
                results.push(hvp::<f64>(op, p, shape, &x, &u, &t, -0.4).unwrap());
                let x32: Vec<Vec<f32>> = x.iter().map(|v| cast(v)).collect();
                let t32: Vec<Vec<f32>> = t.iter().map(|v| cast(v)).collect();
                results.push(hvp::<f32>(op, p, shape, &x32, &cast(&u), &t32, -0.4).unwrap());
            }
            set_num_threads(0);
            for r in results.chunks(2).skip(1) {
                assert_eq!(r[0], results[0], "{op} {reg} {dir} f64");
                assert_eq!(r[1], results[1], "{op} {reg} {dir} f32");
            }
        }
    }
}

/// Extreme valid input (tiny and huge ε, huge values, ties, one item per row) gives finite
/// results, never NaN.
#[test]
fn hvp_is_finite_on_extreme_valid_input() {
    for op in OPS {
        for (reg, dir) in cases(op) {
            for (eps, scale) in [
                (1e-6, 1.0),
                (1e6, 1.0),
                (1e-3, 1e6),
                (1.0, 1e100),
                (1.0, 0.0),
            ] {
                for n in [2usize, 3, 40] {
                    let shape = Shape { batch: 3, n };
                    let mut x = random_inputs(op, shape, 9);
                    x[0].iter_mut().for_each(|v| *v *= scale);
                    if op == "spearman_loss" {
                        x[1].iter_mut().for_each(|v| *v *= scale);
                    }
                    // Ties in the first row.
                    x[0][1] = x[0][0];
                    let (u, t) = directions(op, shape, 10);
                    let p = P::new(eps, reg, dir);
                    let what = format!("{op} {reg} {dir} ε={eps} scale={scale} n={n}");
                    let got = hvp::<f64>(op, p, shape, &x, &u, &t, 0.5).expect(&what);
                    let all = got.inputs.iter().flatten().chain(&got.eps);
                    assert!(all.clone().all(|v| v.is_finite()), "{what}: {got:?}");
                }
            }
        }
    }
}

/// The soft_rank errors: every argument named, the op first.
#[test]
fn soft_rank_bad_input() {
    let shape = Shape { batch: 2, n: 4 };
    let x = random_inputs("soft_rank", shape, 1);
    let (u, t) = directions("soft_rank", shape, 2);
    let p = P::new(1.0, Regularization::Kl, Direction::Ascending);
    let saved = forward::<f64>("soft_rank", p, shape, &x).unwrap();
    let (r, perm) = (&saved.real[0], &saved.int[0]);
    let params = p.soft_rank::<f64>();
    type Args = (
        soft_rank::Params<f64>,
        Vec<f64>,
        Vec<i32>,
        Vec<f64>,
        Vec<f64>,
        f64,
        Vec<f64>,
        Vec<f64>,
    );
    let base: Args = (
        params,
        r.clone(),
        perm.clone(),
        u.clone(),
        t[0].clone(),
        0.5,
        zeros(8),
        zeros(2),
    );
    let call = |a: Args| {
        let (params, r, perm, u, t, s, mut h, mut he) = a;
        soft_rank::hvp(
            shape, &params, &x[0], None, &r, &perm, &u, &t, s, &mut h, &mut he,
        )
    };
    call(base.clone()).unwrap();
    let cases: Vec<Case<Args>> = vec![
        (
            Box::new(|a| a.6.truncate(7)),
            ErrorKind::ShapeMismatch,
            "hvp_values",
        ),
        (
            Box::new(|a| a.7.push(0.0)),
            ErrorKind::ShapeMismatch,
            "hvp_regularization_strength",
        ),
        (
            Box::new(|a| a.4.pop().map(drop).unwrap()),
            ErrorKind::ShapeMismatch,
            "tangent_values",
        ),
        (
            Box::new(|a| a.3[2] = f64::NAN),
            ErrorKind::InvalidValue,
            "cotangent_ranks[0, 2]",
        ),
        (
            Box::new(|a| a.4[5] = f64::INFINITY),
            ErrorKind::InvalidValue,
            "tangent_values[1, 1]",
        ),
        (
            Box::new(|a| a.5 = f64::NAN),
            ErrorKind::InvalidValue,
            "tangent_regularization_strength",
        ),
        (
            Box::new(|a| a.0.regularization_strength = 0.0),
            ErrorKind::InvalidArgument,
            "regularization_strength",
        ),
        (
            Box::new(|a| a.2[0] = 1),
            ErrorKind::InvalidValue,
            "permutation[0, 0]",
        ),
        (
            Box::new(|a| a.1[3] = 0.0),
            ErrorKind::InvalidValue,
            "ranks[0, 3]",
        ),
        (
            Box::new(|a| a.5 = 1e306),
            ErrorKind::InvalidArgument,
            "tangent_regularization_strength",
        ),
    ];
    for (edit, kind, name) in cases {
        let mut a = base.clone();
        edit(&mut a);
        let e = call(a).expect_err(name);
        assert_eq!(e.kind, kind, "{name}: {e}");
        assert!(e.message.starts_with("soft_rank: "), "{e}");
        assert!(e.message.contains(name), "{name}: {e}");
    }
}

#[test]
fn spearman_loss_bad_input() {
    let shape = Shape { batch: 2, n: 4 };
    let x = random_inputs("spearman_loss", shape, 1);
    let (u, t) = directions("spearman_loss", shape, 2);
    let p = P::new(1.0, Regularization::L2, Direction::Ascending);
    let saved = forward::<f64>("spearman_loss", p, shape, &x).unwrap();
    let params = p.spearman_loss::<f64>();
    // (cotangent, tangents, t_ε, hvp buffers, permutations)
    type Args = (Vec<f64>, Vec<Vec<f64>>, f64, Vec<Vec<f64>>, Vec<Vec<i32>>);
    let base: Args = (
        u,
        t,
        0.5,
        vec![zeros(8), zeros(8), zeros(2)],
        saved.int.clone(),
    );
    let call = |a: Args| {
        let (u, t, s, mut h, perm) = a;
        let (h0, rest) = h.split_at_mut(1);
        let (h1, he) = rest.split_at_mut(1);
        spearman_loss::hvp(
            shape,
            &params,
            &x[0],
            &x[1],
            None,
            &saved.real[0],
            &perm[0],
            &saved.real[1],
            &perm[1],
            &u,
            &t[0],
            &t[1],
            s,
            &mut h0[0],
            &mut h1[0],
            &mut he[0],
        )
    };
    call(base.clone()).unwrap();
    let cases: Vec<Case<Args>> = vec![
        (
            Box::new(|a| a.3[0].pop().map(drop).unwrap()),
            ErrorKind::ShapeMismatch,
            "hvp_predictions",
        ),
        (
            Box::new(|a| a.3[1].push(0.0)),
            ErrorKind::ShapeMismatch,
            "hvp_targets",
        ),
        (
            Box::new(|a| a.3[2].push(0.0)),
            ErrorKind::ShapeMismatch,
            "hvp_regularization_strength",
        ),
        (
            Box::new(|a| a.1[1].push(0.0)),
            ErrorKind::ShapeMismatch,
            "tangent_targets",
        ),
        (
            Box::new(|a| a.0.push(0.0)),
            ErrorKind::ShapeMismatch,
            "cotangent_loss",
        ),
        (
            Box::new(|a| a.0[1] = f64::NAN),
            ErrorKind::InvalidValue,
            "cotangent_loss[1]",
        ),
        (
            Box::new(|a| a.1[0][0] = f64::NAN),
            ErrorKind::InvalidValue,
            "tangent_predictions[0, 0]",
        ),
        (
            Box::new(|a| a.1[1][7] = f64::NAN),
            ErrorKind::InvalidValue,
            "tangent_targets[1, 3]",
        ),
        (
            Box::new(|a| a.2 = f64::INFINITY),
            ErrorKind::InvalidValue,
            "tangent_regularization_strength",
        ),
        (
            Box::new(|a| a.4[1][4] = 9),
            ErrorKind::InvalidValue,
            "target_permutation[1, 0]",
        ),
    ];
    for (edit, kind, name) in cases {
        let mut a = base.clone();
        edit(&mut a);
        let e = call(a).expect_err(name);
        assert_eq!(e.kind, kind, "{name}: {e}");
        assert!(e.message.starts_with("spearman_loss: "), "{e}");
        assert!(e.message.contains(name), "{name}: {e}");
    }
    // n = 1 is refused as by the forward.
    let one = Shape { batch: 1, n: 1 };
    let e = spearman_loss::hvp(
        one,
        &params,
        &[0.0],
        &[0.0],
        None,
        &[1.0],
        &[-1],
        &[1.0],
        &[-1],
        &[1.0],
        &[0.0],
        &[0.0],
        0.0,
        &mut [0.0],
        &mut [0.0],
        &mut [0.0],
    )
    .unwrap_err();
    assert_eq!(e.kind, ErrorKind::InvalidArgument, "{e}");
}

#[test]
fn ndcg_loss_bad_input() {
    let shape = Shape { batch: 2, n: 4 };
    let x = random_inputs("ndcg_loss", shape, 1);
    let (u, t) = directions("ndcg_loss", shape, 2);
    let p = P::new(1.0, Regularization::Kl, Direction::Ascending);
    let saved = forward::<f64>("ndcg_loss", p, shape, &x).unwrap();
    let params = p.ndcg_loss::<f64>();
    // (relevance, cotangent, tangent, t_ε, hvp_scores, hvp ε, ranks)
    type Args = (
        Vec<f64>,
        Vec<f64>,
        Vec<f64>,
        f64,
        Vec<f64>,
        Vec<f64>,
        Vec<f64>,
    );
    let base: Args = (
        x[1].clone(),
        u,
        t[0].clone(),
        -0.5,
        zeros(8),
        zeros(2),
        saved.real[0].clone(),
    );
    let call = |a: Args| {
        let (rel, u, t, s, mut h, mut he, r) = a;
        ndcg_loss::hvp(
            shape,
            &params,
            &x[0],
            &rel,
            None,
            &r,
            &saved.int[0],
            &u,
            &t,
            s,
            &mut h,
            &mut he,
        )
    };
    call(base.clone()).unwrap();
    let cases: Vec<Case<Args>> = vec![
        (
            Box::new(|a| a.4.push(0.0)),
            ErrorKind::ShapeMismatch,
            "hvp_scores",
        ),
        (
            Box::new(|a| a.5.clear()),
            ErrorKind::ShapeMismatch,
            "hvp_regularization_strength",
        ),
        (
            Box::new(|a| a.2.push(0.0)),
            ErrorKind::ShapeMismatch,
            "tangent_scores",
        ),
        (
            Box::new(|a| a.0[6] = -1.0),
            ErrorKind::InvalidValue,
            "relevance[1, 2]",
        ),
        (
            Box::new(|a| a.1[0] = f64::NAN),
            ErrorKind::InvalidValue,
            "cotangent_loss[0]",
        ),
        (
            Box::new(|a| a.2[3] = f64::NAN),
            ErrorKind::InvalidValue,
            "tangent_scores[0, 3]",
        ),
        (
            Box::new(|a| a.3 = f64::NAN),
            ErrorKind::InvalidValue,
            "tangent_regularization_strength",
        ),
        (
            Box::new(|a| a.6[1] = 100.0),
            ErrorKind::InvalidValue,
            "ranks[0, 1]",
        ),
    ];
    for (edit, kind, name) in cases {
        let mut a = base.clone();
        edit(&mut a);
        let e = call(a).expect_err(name);
        assert_eq!(e.kind, kind, "{name}: {e}");
        assert!(e.message.starts_with("ndcg_loss: "), "{e}");
        assert!(e.message.contains(name), "{name}: {e}");
    }
    // A corrupt residual.
    let mut perm = saved.int[0].clone();
    perm[5] = 4;
    let (mut h, mut he) = (zeros(8), zeros(2));
    let e = ndcg_loss::hvp(
        shape,
        &params,
        &x[0],
        &x[1],
        None,
        &saved.real[0],
        &perm,
        &base.1,
        &base.2,
        0.0,
        &mut h,
        &mut he,
    )
    .unwrap_err();
    assert_eq!(e.kind, ErrorKind::InvalidValue, "{e}");
    assert!(e.message.starts_with("ndcg_loss: permutation[1, 1]"), "{e}");
}

/// An empty batch writes nothing and succeeds.
#[test]
fn empty_batch() {
    let shape = Shape { batch: 0, n: 5 };
    let p = soft_rank::Params::<f64>::default();
    soft_rank::hvp(
        shape,
        &p,
        &[],
        None,
        &[],
        &[],
        &[],
        &[],
        1.0,
        &mut [],
        &mut [],
    )
    .unwrap();
    let p = ndcg_loss::Params::<f64>::default();
    ndcg_loss::hvp(
        shape,
        &p,
        &[],
        &[],
        None,
        &[],
        &[],
        &[],
        &[],
        1.0,
        &mut [],
        &mut [],
    )
    .unwrap();
}
