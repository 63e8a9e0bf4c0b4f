//! soft_topk and soft_quantile (core only so far, not yet in the spec): every case of
//! `testdata/reference/wave2-topk-quantile.json` (`RANK_RELAX_REFERENCE_WAVE2` overrides it) in
//! f64 against the file and in f32 against our own f64 result on the f32-rounded inputs; VJPs,
//! ε-gradients and JVPs against central finite differences, JVP adjoint to VJP; the mask's
//! properties; bad input; threads.

#![allow(clippy::needless_range_loop)]

mod common;

use std::sync::Mutex;

use common::data::{rng, uniform};
use common::{cast, widen, zeros};
use rand::rngs::StdRng;
use rand::Rng;
use rank_relax::ops::{soft_quantile, soft_topk};
use rank_relax::{
    set_num_threads, Direction, Error, ErrorKind, Real, Regularization, Shape, TopkRegularization,
};
use serde_json::Value;

/// Serialises the tests that set the process-wide thread count.
static THREADS: Mutex<()> = Mutex::new(());

/// The params of either op.
#[derive(Clone, Debug)]
enum P {
    Topk {
        k: i64,
        eps: f64,
        reg: TopkRegularization,
        dir: Direction,
    },
    Quantile {
        q: Vec<f64>,
        eps: f64,
        reg: Regularization,
    },
}

impl P {
    fn eps(&self) -> f64 {
        match self {
            P::Topk { eps, .. } | P::Quantile { eps, .. } => *eps,
        }
    }

    fn with_eps(&self, e: f64) -> P {
        let mut p = self.clone();
        match &mut p {
            P::Topk { eps, .. } | P::Quantile { eps, .. } => *eps = e,
        }
        p
    }

    /// Output columns for rows of `n` values.
    fn width(&self, n: usize) -> usize {
        match self {
            P::Topk { .. } => n,
            P::Quantile { q, .. } => q.len(),
        }
    }

    fn topk<T: Real>(&self) -> soft_topk::Params<T> {
        match self {
            P::Topk { k, eps, reg, dir } => soft_topk::Params {
                k: *k,
                regularization_strength: T::from_f64(*eps),
                regularization: *reg,
                direction: *dir,
            },
            _ => unreachable!(),
        }
    }

    fn quantile<T: Real>(&self) -> soft_quantile::Params<T> {
        match self {
            P::Quantile { q, eps, reg } => soft_quantile::Params {
                quantiles: q.iter().map(|&v| T::from_f64(v)).collect(),
                regularization_strength: T::from_f64(*eps),
                regularization: *reg,
            },
            _ => unreachable!(),
        }
    }
}

#[derive(Debug)]
struct Outcome {
    output: Vec<f64>,
    grad: Vec<f64>,
    grad_eps: Vec<f64>,
}

/// Forward and, with a cotangent, backward.
fn run<T: Real>(p: &P, shape: Shape, x: &[T], u: Option<&[T]>) -> Result<Outcome, Error> {
    let (b, n) = (shape.batch, shape.n);
    let w = p.width(n);
    let (mut out, mut perm) = (zeros::<T>(b * w), vec![0i32; b * n]);
    let (mut g, mut ge) = (zeros::<T>(b * n), zeros::<T>(b));
    match p {
        P::Topk { .. } => {
            let params = p.topk::<T>();
            soft_topk::forward(shape, &params, x, None, &mut out, &mut perm)?;
            if let Some(u) = u {
                soft_topk::backward(shape, &params, x, None, &perm, u, &mut g, &mut ge)?;
            }
        }
        P::Quantile { .. } => {
            let params = p.quantile::<T>();
            soft_quantile::forward(shape, &params, x, None, &mut out, &mut perm)?;
            if let Some(u) = u {
                soft_quantile::backward(shape, &params, x, None, &perm, u, &mut g, &mut ge)?;
            }
        }
    }
    Ok(Outcome {
        output: widen(&out),
        grad: widen(&g),
        grad_eps: widen(&ge),
    })
}

/// Forward, then the JVP with tangent `t` and ε-tangent `t_eps`.
fn jvp<T: Real>(p: &P, shape: Shape, x: &[T], t: &[T], t_eps: T) -> Result<Vec<f64>, Error> {
    let (b, n) = (shape.batch, shape.n);
    let w = p.width(n);
    let (mut out, mut perm) = (zeros::<T>(b * w), vec![0i32; b * n]);
    let mut dt = zeros::<T>(b * w);
    match p {
        P::Topk { .. } => {
            let params = p.topk::<T>();
            soft_topk::forward(shape, &params, x, None, &mut out, &mut perm)?;
            soft_topk::jvp(shape, &params, x, None, &perm, t, t_eps, &mut dt)?;
        }
        P::Quantile { .. } => {
            let params = p.quantile::<T>();
            soft_quantile::forward(shape, &params, x, None, &mut out, &mut perm)?;
            soft_quantile::jvp(shape, &params, x, None, &perm, t, t_eps, &mut dt)?;
        }
    }
    Ok(widen(&dt))
}

// ------------------------------------------------------------------ the reference file

struct Case {
    p: P,
    shape: Shape,
    x: Vec<f64>,
    output: Vec<f64>,
    cotangent: Option<Vec<f64>>,
    vjp: Option<Vec<f64>>,
}

fn flat(v: &Value) -> (Vec<f64>, usize) {
    let rows = v.as_array().expect("rows");
    let mut out = vec![];
    for r in rows {
        out.extend(
            r.as_array()
                .expect("row")
                .iter()
                .map(|x| x.as_f64().expect("number")),
        );
    }
    (out, rows.len())
}

fn load() -> Vec<Case> {
    let cases: Vec<Case> =
        common::reference::cases("RANK_RELAX_REFERENCE_WAVE2", "wave2-topk-quantile.json")
            .iter()
            .map(|c| {
                let pr = &c["params"];
                let eps = pr["regularization_strength"].as_f64().expect("ε");
                let p = match c["op"].as_str().expect("op") {
                    "soft_topk" => P::Topk {
                        k: pr["k"].as_i64().expect("k"),
                        eps,
                        reg: TopkRegularization::parse(pr["regularization"].as_str().unwrap())
                            .expect("reg"),
                        dir: Direction::parse(pr["direction"].as_str().unwrap()).expect("dir"),
                    },
                    "soft_quantile" => P::Quantile {
                        q: pr["quantiles"]
                            .as_array()
                            .expect("quantiles")
                            .iter()
                            .map(|v| v.as_f64().unwrap())
                            .collect(),
                        eps,
                        reg: Regularization::parse(pr["regularization"].as_str().unwrap())
                            .expect("reg"),
                    },
                    op => panic!("unexpected op {op}"),
                };
                let (x, batch) = flat(&c["inputs"]["values"]);
                let n = x.len() / batch;
                Case {
                    p,
                    shape: Shape { batch, n },
                    x,
                    output: flat(&c["output"]).0,
                    cotangent: c.get("cotangent").map(|v| flat(v).0),
                    vjp: c.get("vjp").map(|v| flat(&v["values"]).0),
                }
            })
            .collect();
    assert!(!cases.is_empty());
    cases
}

fn describe(i: usize, c: &Case) -> String {
    format!("case {i} ({:?}, {}×{})", c.p, c.shape.batch, c.shape.n)
}

#[test]
fn reference_cases_f64() {
    let cases = load();
    let (mut outputs, mut vjps) = (0, 0);
    let mut seen = std::collections::BTreeSet::new();
    for (i, c) in cases.iter().enumerate() {
        let what = describe(i, c);
        let got = run::<f64>(&c.p, c.shape, &c.x, c.cotangent.as_deref())
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        for (k, (g, w)) in got.output.iter().zip(&c.output).enumerate() {
            assert!(
                (g - w).abs() <= 1e-9 + 1e-9 * w.abs(),
                "{what} output[{k}]: got {g:e}, want {w:e}"
            );
        }
        assert_eq!(got.output.len(), c.output.len(), "{what}");
        outputs += 1;
        if let Some(want) = &c.vjp {
            for (k, (g, w)) in got.grad.iter().zip(want).enumerate() {
                assert!(
                    (g - w).abs() <= 1e-7 + 1e-9 * w.abs(),
                    "{what} vjp[{k}]: got {g:e}, want {w:e}"
                );
            }
            vjps += 1;
        }
        let key = match &c.p {
            P::Topk { reg, dir, .. } => format!("soft_topk {reg} {dir}"),
            P::Quantile { reg, .. } => format!("soft_quantile {reg}"),
        };
        seen.insert(key);
    }
    // Every regularization and direction of both ops.
    assert_eq!(seen.len(), 6, "{seen:?}");
    assert!(
        outputs >= 300 && vjps >= 250,
        "{outputs} outputs, {vjps} VJPs"
    );
}

#[test]
fn reference_cases_f32() {
    for (i, c) in load().iter().enumerate() {
        let what = describe(i, c);
        let x32: Vec<f32> = cast(&c.x);
        let u32_: Option<Vec<f32>> = c.cotangent.as_deref().map(cast);
        let p = c.p.with_eps(c.p.eps() as f32 as f64);
        let want = run::<f64>(
            &p,
            c.shape,
            &widen(&x32),
            u32_.as_deref().map(widen).as_deref(),
        )
        .unwrap_or_else(|e| panic!("{what}: {e}"));
        let got = run::<f32>(&p, c.shape, &x32, u32_.as_deref())
            .unwrap_or_else(|e| panic!("{what} f32: {e}"));
        let check = |name: &str, g: &[f64], w: &[f64], width: usize| {
            for (r, (gr, wr)) in g.chunks(width).zip(w.chunks(width)).enumerate() {
                let scale = wr.iter().fold(1e-8, |m: f64, v| m.max(v.abs()));
                for (k, (a, b)) in gr.iter().zip(wr).enumerate() {
                    assert!(
                        (a - b).abs() <= 1e-4 * scale,
                        "{what} {name}[{r}, {k}]: f32 {a:e} vs f64 {b:e} (row scale {scale:e})"
                    );
                }
            }
        };
        check("output", &got.output, &want.output, c.p.width(c.shape.n));
        check("vjp", &got.grad, &want.grad, c.shape.n.max(1));
    }
}

// ------------------------------------------------------------------ derivatives

/// Every variant of both ops, with a k or a quantile list for rows of `n`.
fn variants(n: usize, eps: f64, seed: u64) -> Vec<P> {
    let mut out = vec![];
    let ks = [0, 1.min(n), n / 2, n.saturating_sub(1), n];
    for &reg in TopkRegularization::ALL {
        for &dir in Direction::ALL {
            out.push(P::Topk {
                k: ks[seed as usize % ks.len()] as i64,
                eps,
                reg,
                dir,
            });
        }
    }
    let qs: [&[f64]; 3] = [&[0.5], &[0.0, 0.3, 1.0], &[0.1, 0.25, 0.5, 0.9, 1.0]];
    for &reg in Regularization::ALL {
        out.push(P::Quantile {
            q: qs[seed as usize % qs.len()].to_vec(),
            eps,
            reg,
        });
    }
    out
}

/// Rows spread on the scale of ε (so there are non-trivial blocks).
fn rows(shape: Shape, eps: f64, seed: u64) -> Vec<f64> {
    let s = eps.max(0.05) * 3.0;
    uniform(&mut rng(seed), shape.batch * shape.n, -s, s)
}

#[test]
fn vjp_and_grad_eps_match_finite_differences() {
    let mut checked = 0usize;
    let mut nonzero = 0usize;
    for eps in [1e-3, 0.1, 1.0, 10.0] {
        for n in [1usize, 2, 5, 16, 40] {
            for (v, p) in variants(n, eps, n as u64 + 3).into_iter().enumerate() {
                let shape = Shape { batch: 2, n };
                let seed = (checked * 31 + v) as u64;
                let x = rows(shape, eps, seed);
                let w = p.width(n);
                let u = uniform(&mut rng(seed ^ 0xabc), shape.batch * w, -1.0, 1.0);
                let got = run::<f64>(&p, shape, &x, Some(&u)).expect("run");
                let obj = |x: &[f64], p: &P| -> Vec<f64> {
                    let o = run::<f64>(p, shape, x, None).expect("fwd").output;
                    o.chunks(w)
                        .zip(u.chunks(w))
                        .map(|(a, b)| a.iter().zip(b).map(|(a, b)| a * b).sum())
                        .collect()
                };
                let h = 1e-6 * eps.min(1.0);
                let what = format!("{p:?} n={n}");
                for j in 0..x.len() {
                    let (mut xp, mut xm) = (x.clone(), x.clone());
                    xp[j] += h;
                    xm[j] -= h;
                    let r = j / n;
                    let fd = (obj(&xp, &p)[r] - obj(&xm, &p)[r]) / (2.0 * h);
                    let a = got.grad[j];
                    assert!(
                        (a - fd).abs() <= 1e-5 * a.abs().max(fd.abs()).max(1.0),
                        "{what} [{j}]: vjp {a:e} vs fd {fd:e}"
                    );
                    nonzero += (a.abs() > 1e-3) as usize;
                }
                let he = 1e-6 * eps;
                let (op, om) = (
                    obj(&x, &p.with_eps(eps + he)),
                    obj(&x, &p.with_eps(eps - he)),
                );
                for r in 0..shape.batch {
                    let fd = (op[r] - om[r]) / (2.0 * he);
                    let a = got.grad_eps[r];
                    assert!(
                        (a - fd).abs() <= 1e-5 * a.abs().max(fd.abs()).max(1.0),
                        "{what} row {r}: grad_ε {a:e} vs fd {fd:e}"
                    );
                }
                checked += 1;
            }
        }
    }
    assert!(
        checked >= 100 && nonzero > 300,
        "{checked} cases, {nonzero} non-zero"
    );
}

#[test]
fn jvp_matches_finite_differences_and_is_adjoint_to_the_vjp() {
    let mut checked = 0usize;
    for eps in [1e-3, 0.1, 1.0, 100.0] {
        for n in [1usize, 2, 7, 33] {
            for ties in [false, true] {
                for (v, p) in variants(n, eps, n as u64 + ties as u64)
                    .into_iter()
                    .enumerate()
                {
                    let shape = Shape { batch: 3, n };
                    let seed = (checked * 17 + v) as u64;
                    let mut x = rows(shape, eps, seed);
                    if ties {
                        let step = eps.max(0.05);
                        x.iter_mut().for_each(|a| *a = (*a / step).round() * step);
                    }
                    let w = p.width(n);
                    let t = uniform(&mut rng(seed ^ 1), x.len(), -1.0, 1.0);
                    let u = uniform(&mut rng(seed ^ 2), shape.batch * w, -1.0, 1.0);
                    let t_eps = 0.37;
                    let what = format!("{p:?} n={n} ties={ties}");
                    let dt = jvp::<f64>(&p, shape, &x, &t, t_eps).expect(&what);
                    let bwd = run::<f64>(&p, shape, &x, Some(&u)).expect(&what);
                    for r in 0..shape.batch {
                        let (mut lhs, mut scale) = (0.0, 0.0);
                        for k in r * w..(r + 1) * w {
                            lhs += u[k] * dt[k];
                            scale += (u[k] * dt[k]).abs();
                        }
                        let mut rhs = t_eps * bwd.grad_eps[r];
                        let mut rscale = rhs.abs();
                        for k in r * n..(r + 1) * n {
                            rhs += bwd.grad[k] * t[k];
                            rscale += (bwd.grad[k] * t[k]).abs();
                        }
                        assert!(
                            (lhs - rhs).abs() <= 1e-12 * scale.max(rscale) + 1e-300,
                            "{what} row {r}: ⟨u, jvp⟩ = {lhs:e} vs ⟨vjp, t⟩ = {rhs:e}"
                        );
                    }
                    if !ties {
                        let h = 1e-6 * eps.min(1.0);
                        let moved = |s: f64| {
                            let xs: Vec<f64> = x.iter().zip(&t).map(|(a, b)| a + s * b).collect();
                            run::<f64>(&p.with_eps(eps + s * t_eps), shape, &xs, None)
                                .expect("fwd")
                                .output
                        };
                        let (plus, minus) = (moved(h), moved(-h));
                        for (k, &a) in dt.iter().enumerate() {
                            let fd = (plus[k] - minus[k]) / (2.0 * h);
                            assert!(
                                (a - fd).abs() <= 1e-5 * a.abs().max(fd.abs()).max(1.0),
                                "{what} [{k}]: jvp {a:e} vs fd {fd:e}"
                            );
                        }
                    }
                    checked += 1;
                }
            }
        }
    }
    assert!(checked >= 150, "{checked}");
}

#[test]
fn jvp_f32_agrees_with_f64() {
    for eps in [0.01, 0.3, 3.0] {
        for p in variants(40, eps, 2) {
            let shape = Shape { batch: 4, n: 40 };
            let round = |v: Vec<f64>| -> Vec<f64> { v.iter().map(|&a| a as f32 as f64).collect() };
            let x = round(rows(shape, eps, 5));
            let t = round(uniform(&mut rng(6), x.len(), -1.0, 1.0));
            let p = p.with_eps(eps as f32 as f64);
            let want = jvp::<f64>(&p, shape, &x, &t, 0.5).expect("f64");
            let got = jvp::<f32>(&p, shape, &cast(&x), &cast(&t), 0.5).expect("f32");
            let w = p.width(40);
            for (r, (a, b)) in want.chunks(w).zip(got.chunks(w)).enumerate() {
                let max = a.iter().fold(1e-8, |m: f64, v| m.max(v.abs()));
                for (k, (a, b)) in a.iter().zip(b).enumerate() {
                    assert!(
                        (a - b).abs() <= 1e-4 * max,
                        "{p:?} [{r}, {k}]: f32 {b:e} vs f64 {a:e}"
                    );
                }
            }
        }
    }
}

// ------------------------------------------------------------------ properties

fn topk_mask(x: &[f64], n: usize, k: i64, eps: f64, reg: TopkRegularization) -> Vec<f64> {
    let p = P::Topk {
        k,
        eps,
        reg,
        dir: Direction::Descending,
    };
    let shape = Shape {
        batch: x.len() / n,
        n,
    };
    run::<f64>(&p, shape, x, None).expect("forward").output
}

#[test]
fn mask_lies_in_unit_interval_sums_to_k_and_is_sparse() {
    let mut r = rng(9);
    for &reg in TopkRegularization::ALL {
        for eps in [1e-4, 0.01, 0.3, 2.0, 100.0] {
            for n in [1usize, 2, 3, 10, 100, 1000] {
                for k in [0, 1.min(n), n / 3, n - 1.min(n), n] {
                    let x = uniform(&mut r, 3 * n, -1.0, 1.0);
                    let m = topk_mask(&x, n, k as i64, eps, reg);
                    for (row, xr) in m.chunks(n).zip(x.chunks(n)) {
                        assert!(row.iter().all(|&v| (0.0..=1.0).contains(&v)), "{row:?}");
                        let sum: f64 = row.iter().sum();
                        assert!(
                            (sum - k as f64).abs() <= 1e-9 * n as f64,
                            "{reg} {eps} {k}: {sum}"
                        );
                        // Exactly 0 outside the top-k region: every item more than ε below the
                        // k-th largest (beyond the boundary block) is 0, and more than ε above
                        // the (k+1)-th is 1.
                        let mut sorted = xr.to_vec();
                        sorted.sort_by(|a, b| b.total_cmp(a));
                        for (&v, &xv) in row.iter().zip(xr) {
                            if k < n && k > 0 && xv < sorted[k - 1] - eps {
                                assert_eq!(v, 0.0, "{reg} ε={eps} k={k}");
                            }
                            if k > 0 && k < n && xv > sorted[k] + eps {
                                assert_eq!(v, 1.0, "{reg} ε={eps} k={k}");
                            }
                        }
                        if k == 0 {
                            assert!(row.iter().all(|&v| v == 0.0));
                        }
                        if k == n {
                            assert!(row.iter().all(|&v| v == 1.0));
                        }
                    }
                }
            }
        }
    }
}

#[test]
fn hard_topk_as_eps_goes_to_zero_with_ties_sharing() {
    for &reg in TopkRegularization::ALL {
        let m = topk_mask(&[3.0, 1.0, 2.0, 2.0, -5.0], 5, 2, 1e-9, reg);
        let want = [1.0, 0.0, 0.5, 0.5, 0.0];
        assert!(
            m.iter().zip(want).all(|(a, b)| (a - b).abs() < 1e-15),
            "{reg}: {m:?}"
        );
        let m = topk_mask(&[0.1, 0.7, 0.3, 0.9, 0.5], 5, 3, 1e-6, reg);
        assert_eq!(m, [0.0, 1.0, 0.0, 1.0, 1.0], "{reg}");
        // Ascending: the k smallest.
        let p = P::Topk {
            k: 2,
            eps: 1e-9,
            reg,
            dir: Direction::Ascending,
        };
        let m = run::<f64>(&p, Shape { batch: 1, n: 4 }, &[3.0, 1.0, 2.0, 0.0], None)
            .unwrap()
            .output;
        assert_eq!(m, [0.0, 1.0, 0.0, 1.0]);
    }
    // Ties inside the top k (or outside it) stay apart: their mask is locally constant, so its
    // gradient is 0, as finite differences say.
    let p = P::Topk {
        k: 2,
        eps: 0.1,
        reg: TopkRegularization::P43,
        dir: Direction::Descending,
    };
    let out = run::<f64>(
        &p,
        Shape { batch: 1, n: 4 },
        &[5.0, 5.0, 1.0, 1.0],
        Some(&[1.0, -2.0, 0.5, 3.0]),
    )
    .unwrap();
    assert_eq!(out.output, [1.0, 1.0, 0.0, 0.0]);
    assert_eq!(out.grad, [0.0; 4]);
}

/// Quantiles of ε → 0 are NumPy's "linear" quantiles.
#[test]
fn hard_quantiles_as_eps_goes_to_zero() {
    let x = [0.5, -2.0, 3.0, 1.0, 0.0];
    // np.quantile(x, [0, 0.3, 0.5, 0.9, 1]).
    let want = [-2.0, 0.1, 0.5, 2.2, 3.0];
    for &reg in Regularization::ALL {
        let p = P::Quantile {
            q: vec![0.0, 0.3, 0.5, 0.9, 1.0],
            eps: 1e-6,
            reg,
        };
        let got = run::<f64>(&p, Shape { batch: 1, n: 5 }, &x, None)
            .unwrap()
            .output;
        for (g, w) in got.iter().zip(want) {
            assert!((g - w).abs() < 1e-9, "{reg}: {got:?}");
        }
    }
}

/// The p43 block value keeps full relative accuracy far from 0: a row shifted by a large
/// constant (on a dyadic grid, so the shift is exact) gives the same mask, for small blocks and
/// for a block of the whole row.
#[test]
fn p43_accuracy_at_large_magnitudes() {
    let mut r = rng(4);
    let (mut shifted_rows, mut blocks_checked) = (0, 0);
    for (n, spread, eps) in [
        (8usize, 1.0, 0.3),
        (50, 0.01, 1e-3),
        (4096, 1.0, 50.0),
        (1000, 1e-6, 1e-6),
    ] {
        // A dyadic grid about a thousandth of the spread: shifted rows stay exact.
        let grid = 2f64.powi((spread / 1000.0f64).log2().floor() as i32);
        let base: Vec<f64> = (0..n)
            .map(|_| (r.random_range(-1.0f64..1.0) * spread / grid).round() * grid)
            .collect();
        for shift in [1e6, 1e9, -3e11] {
            let shifted: Vec<f64> = base.iter().map(|v| v + shift).collect();
            if !shifted.iter().zip(&base).all(|(s, b)| s - shift == *b) {
                continue;
            }
            shifted_rows += 1;
            for &reg in TopkRegularization::ALL {
                for k in [1, n / 2, n - 1] {
                    let a = topk_mask(&base, n, k as i64, eps, reg);
                    let b = topk_mask(&shifted, n, k as i64, eps, reg);
                    for (j, (u, v)) in a.iter().zip(&b).enumerate() {
                        assert!(
                            (u - v).abs() <= 1e-9 * u.abs().max(1e-3),
                            "{reg} n={n} k={k} shift={shift:e} [{j}]: {u:e} vs {v:e}"
                        );
                    }
                    let sum: f64 = b.iter().sum();
                    assert!((sum - k as f64).abs() <= 1e-9 * k as f64);
                    // Optimality: on the block, x − ε·y (l2) or x − ε·∛y (p43) is one value, v.
                    let dual: Vec<f64> = base
                        .iter()
                        .zip(&b)
                        .filter(|(_, &y)| y > 1e-6 && y < 1.0 - 1e-6)
                        .map(|(&x, &y)| match reg {
                            TopkRegularization::L2 => x - eps * y,
                            TopkRegularization::P43 => x - eps * y.cbrt(),
                        })
                        .collect();
                    let (lo, hi) = dual
                        .iter()
                        .fold((f64::MAX, f64::MIN), |(l, h), &v| (l.min(v), h.max(v)));
                    blocks_checked += (dual.len() >= 2) as usize;
                    assert!(
                        dual.is_empty() || hi - lo <= 1e-9 * eps,
                        "{reg} n={n} k={k} shift={shift:e}: block values spread {:e}",
                        hi - lo
                    );
                }
            }
        }
    }
    assert!(shifted_rows >= 8, "{shifted_rows}");
    assert!(blocks_checked >= 20, "{blocks_checked}");
    // Scale invariance: the mask depends on x/ε only (powers of two scale exactly).
    let x: Vec<f64> = (0..64).map(|i| ((i * 37) % 64) as f64 / 64.0).collect();
    for &reg in TopkRegularization::ALL {
        let a = topk_mask(&x, 64, 10, 0.25, reg);
        for s in [2f64.powi(-900), 2f64.powi(900)] {
            let xs: Vec<f64> = x.iter().map(|v| v * s).collect();
            let b = topk_mask(&xs, 64, 10, 0.25 * s, reg);
            for (u, v) in a.iter().zip(&b) {
                assert!((u - v).abs() <= 1e-12, "{reg} scale {s:e}: {u} vs {v}");
            }
        }
    }
}

#[test]
fn in_place_backward_is_bit_identical() {
    let shape = Shape { batch: 50, n: 300 };
    let x = rows(shape, 0.2, 8);
    let u = uniform(&mut rng(10), x.len(), -1.0, 1.0);
    for &reg in TopkRegularization::ALL {
        let params = soft_topk::Params {
            k: 100,
            regularization_strength: 0.2,
            regularization: reg,
            direction: Direction::Descending,
        };
        let (mut m, mut perm) = (vec![0.0; x.len()], vec![0i32; x.len()]);
        soft_topk::forward(shape, &params, &x, None, &mut m, &mut perm).unwrap();
        let (mut g, mut ge) = (vec![0.0; x.len()], vec![0.0; 50]);
        soft_topk::backward(shape, &params, &x, None, &perm, &u, &mut g, &mut ge).unwrap();
        let (mut buf, mut ge2) = (u.clone(), vec![0.0; 50]);
        soft_topk::backward_in_place(shape, &params, &x, None, &perm, &mut buf, &mut ge2).unwrap();
        assert_eq!(g, buf);
        assert_eq!(ge, ge2);
        assert!(g.iter().any(|&v| v != 0.0));
    }
}

#[test]
fn results_do_not_depend_on_threads() {
    let _threads = THREADS.lock().unwrap_or_else(|e| e.into_inner());
    let shape = Shape { batch: 300, n: 257 };
    let x = rows(shape, 0.2, 21);
    let t = uniform(&mut rng(22), x.len(), -1.0, 1.0);
    for p in variants(257, 0.2, 1) {
        let u = uniform(&mut rng(23), shape.batch * p.width(257), -1.0, 1.0);
        let mut seen = vec![];
        for threads in [1, 2, 4] {
            set_num_threads(threads);
            let o = run::<f64>(&p, shape, &x, Some(&u)).unwrap();
            let dt = jvp::<f64>(&p, shape, &x, &t, 0.3).unwrap();
            let bits = |v: &[f64]| v.iter().map(|a| a.to_bits()).collect::<Vec<_>>();
            seen.push((bits(&o.output), bits(&o.grad), bits(&o.grad_eps), bits(&dt)));
        }
        set_num_threads(0);
        assert!(seen.windows(2).all(|w| w[0] == w[1]), "{p:?}");
    }
}

// ------------------------------------------------------------------ bad input

fn err<T>(r: Result<T, Error>) -> (ErrorKind, String) {
    match r {
        Ok(_) => panic!("expected an error"),
        Err(e) => (e.kind, e.message),
    }
}

#[test]
fn bad_input_is_a_clear_error() {
    let shape = Shape { batch: 2, n: 5 };
    let x: Vec<f64> = (0..10).map(|i| i as f64 * 0.1).collect();
    let topk = |k: i64, eps: f64, x: &[f64]| {
        let p = P::Topk {
            k,
            eps,
            reg: TopkRegularization::P43,
            dir: Direction::Descending,
        };
        run::<f64>(&p, shape, x, None).map(|_| ())
    };
    assert_eq!(
        err(topk(7, 1.0, &x)),
        (
            ErrorKind::InvalidArgument,
            "soft_topk: k must be in [0, n] = [0, 5], got 7".into()
        )
    );
    assert_eq!(
        err(topk(-1, 1.0, &x)).1,
        "soft_topk: k must be in [0, n] = [0, 5], got -1"
    );
    assert_eq!(
        err(topk(2, 0.0, &x)).1,
        "soft_topk: regularization_strength must be finite and > 0, got 0"
    );
    assert_eq!(
        err(topk(2, f64::NAN, &x)).1,
        "soft_topk: regularization_strength must be finite and > 0, got NaN"
    );
    let mut bad = x.clone();
    bad[7] = f64::NAN;
    assert_eq!(
        err(topk(2, 1.0, &bad)),
        (
            ErrorKind::InvalidValue,
            "soft_topk: values[1, 2] is NaN".into()
        )
    );
    assert_eq!(
        err(topk(2, 1.0, &x[..9])),
        (
            ErrorKind::ShapeMismatch,
            "soft_topk: values has 9 elements, expected batch × n = 2 × 5 = 10".into()
        )
    );
    assert_eq!(
        TopkRegularization::parse("kl")
            .unwrap_err()
            .with_op("soft_topk")
            .message,
        r#"soft_topk: regularization must be one of "l2", "p43", got "kl""#
    );
    // The backward and the JVP check k, the residual, the cotangent and the tangents.
    let params = soft_topk::Params {
        k: 2,
        regularization_strength: 0.5,
        regularization: TopkRegularization::L2,
        direction: Direction::Descending,
    };
    let (mut m, mut perm) = (vec![0.0; 10], vec![0i32; 10]);
    soft_topk::forward(shape, &params, &x, None, &mut m, &mut perm).unwrap();
    let (mut g, mut ge) = (vec![0.0; 10], vec![0.0; 2]);
    let mut u = vec![1.0; 10];
    u[3] = f64::INFINITY;
    assert_eq!(
        soft_topk::backward(shape, &params, &x, None, &perm, &u, &mut g, &mut ge)
            .unwrap_err()
            .message,
        "soft_topk: cotangent_selection[0, 3] is +inf"
    );
    let mut bad_perm = perm.clone();
    bad_perm[5] = 9;
    assert_eq!(
        soft_topk::backward(shape, &params, &x, None, &bad_perm, &m, &mut g, &mut ge)
            .unwrap_err()
            .message,
        "soft_topk: permutation[1, 0] = 9 is not a valid permutation residual entry for n = 5"
    );
    let p9 = soft_topk::Params { k: 9, ..params };
    assert_eq!(
        soft_topk::backward(shape, &p9, &x, None, &perm, &m, &mut g, &mut ge)
            .unwrap_err()
            .message,
        "soft_topk: k must be in [0, n] = [0, 5], got 9"
    );
    let mut short = vec![0.0; 9];
    assert_eq!(
        soft_topk::jvp(shape, &params, &x, None, &perm, &m, 0.0, &mut short)
            .unwrap_err()
            .message,
        "soft_topk: tangent_selection has 9 elements, expected batch × n = 2 × 5 = 10"
    );
    assert_eq!(
        soft_topk::jvp(shape, &params, &x, None, &perm, &m, f64::NAN, &mut g)
            .unwrap_err()
            .message,
        "soft_topk: tangent_regularization_strength is NaN"
    );
    // k = 0 on empty rows is fine; k = 1 is not.
    let empty = Shape { batch: 3, n: 0 };
    let p0 = soft_topk::Params::<f64> {
        k: 0,
        ..Default::default()
    };
    soft_topk::forward(empty, &p0, &[], None, &mut [], &mut []).unwrap();
    assert_eq!(
        soft_topk::forward(
            empty,
            &soft_topk::Params::<f64>::default(),
            &[],
            None,
            &mut [],
            &mut []
        )
        .unwrap_err()
        .message,
        "soft_topk: k must be in [0, n] = [0, 0], got 1"
    );

    let quantile = |q: Vec<f64>, eps: f64, x: &[f64], out: usize| {
        let params = soft_quantile::Params {
            quantiles: q,
            regularization_strength: eps,
            regularization: Regularization::Kl,
        };
        let (mut o, mut perm) = (vec![0.0; out], vec![0i32; 10]);
        soft_quantile::forward(shape, &params, x, None, &mut o, &mut perm)
    };
    assert_eq!(
        err(quantile(vec![0.5, 1.5], 1.0, &x, 4)),
        (
            ErrorKind::InvalidArgument,
            "soft_quantile: quantiles[1] = 1.5 is not in [0, 1]".into()
        )
    );
    assert_eq!(
        err(quantile(vec![-0.1], 1.0, &x, 2)).1,
        "soft_quantile: quantiles[0] = -0.1 is not in [0, 1]"
    );
    assert_eq!(
        err(quantile(vec![0.2, f64::NAN], 1.0, &x, 4)).1,
        "soft_quantile: quantiles[1] is NaN"
    );
    assert_eq!(
        err(quantile(vec![], 1.0, &x, 0)).1,
        "soft_quantile: quantiles is empty; needs at least one quantile"
    );
    assert_eq!(
        err(quantile(vec![0.5], -1.0, &x, 2)).1,
        "soft_quantile: regularization_strength must be finite and > 0, got -1"
    );
    assert_eq!(
        err(quantile(vec![0.5], 1.0, &bad, 2)).1,
        "soft_quantile: values[1, 2] is NaN"
    );
    assert_eq!(
        err(quantile(vec![0.5, 0.7], 1.0, &x, 5)),
        (
            ErrorKind::ShapeMismatch,
            "soft_quantile: result has 5 elements, expected batch × m = 2 × 2 = 4 (m = the number of quantiles)".into()
        )
    );
    let empty_rows = soft_quantile::forward(
        Shape { batch: 2, n: 0 },
        &soft_quantile::Params::<f64>::default(),
        &[],
        None,
        &mut [0.0; 2],
        &mut [],
    );
    assert_eq!(
        err(empty_rows).1,
        "soft_quantile: needs n >= 1 items per row, got n = 0"
    );
    // Backward: the cotangent has the result's shape.
    let params = soft_quantile::Params {
        quantiles: vec![0.25, 0.75],
        ..Default::default()
    };
    let (mut o, mut perm) = (vec![0.0; 4], vec![0i32; 10]);
    soft_quantile::forward(shape, &params, &x, None, &mut o, &mut perm).unwrap();
    let (mut g, mut ge) = (vec![0.0; 10], vec![0.0; 2]);
    assert_eq!(
        soft_quantile::backward(shape, &params, &x, None, &perm, &[1.0; 10], &mut g, &mut ge)
            .unwrap_err()
            .message,
        "soft_quantile: cotangent_result has 10 elements, expected batch × m = 2 × 2 = 4 (m = the number of quantiles)"
    );
    assert_eq!(
        soft_quantile::backward(
            shape,
            &params,
            &x,
            None,
            &perm,
            &[1.0, 2.0, f64::NAN, 0.0],
            &mut g,
            &mut ge
        )
        .unwrap_err()
        .message,
        "soft_quantile: cotangent_result[1, 0] is NaN"
    );
}

/// Values spanning 1e-300…1e300 (with ties and zeros) and ε from 1e-8 to 1e8: finite outputs,
/// gradients and tangents, or the documented `… overflows` error; never a NaN or a panic.
#[test]
fn extreme_values_give_finite_results_or_the_overflow_error() {
    let shape = Shape { batch: 3, n: 9 };
    let len = shape.batch * shape.n;
    let mut r = rng(77);
    let spanning = |r: &mut StdRng, lo: f64, hi: f64| -> Vec<f64> {
        (0..len)
            .map(|i| match i % 7 {
                0 => 0.0,
                1 => hi,
                2 => -hi,
                3 => lo,
                _ => {
                    let m = 10f64.powf(r.random_range(lo.log10()..hi.log10()));
                    if r.random_range(0.0..1.0) < 0.5 {
                        -m
                    } else {
                        m
                    }
                }
            })
            .collect()
    };
    let inputs = [
        spanning(&mut r, 1e-300, 1e300),
        spanning(&mut r, 1e-3, 1e3),
        vec![1e300; len],
        vec![-1e-300; len],
    ];
    let (mut finite, mut refused) = (0, 0);
    for eps in [1e-8, 1e-4, 1.0, 1e4, 1e8] {
        for p in variants(9, eps, 3).into_iter().chain(variants(9, eps, 4)) {
            for x in &inputs {
                let u = uniform(&mut rng(5), shape.batch * p.width(9), -1.0, 1.0);
                let t = uniform(&mut rng(6), len, -1.0, 1.0);
                let what = format!("{p:?}");
                let res = run::<f64>(&p, shape, x, Some(&u))
                    .and_then(|o| jvp::<f64>(&p, shape, x, &t, 1.0).map(|dt| (o, dt)));
                match res {
                    Ok((o, dt)) => {
                        let all = o.output.iter().chain(&o.grad).chain(&o.grad_eps).chain(&dt);
                        assert!(all.clone().all(|v| v.is_finite()), "{what}: {o:?}");
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
    assert!(finite > 3 * refused, "{finite} finite, {refused} refused");
}
