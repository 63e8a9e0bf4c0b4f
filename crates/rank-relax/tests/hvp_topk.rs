//! soft_topk's Hessian-vector product (`soft_topk::hvp`, the derivative of the backward), l2 and
//! p43, both directions, every k: against central finite differences of the backward (in the
//! values, in ε, and both together), symmetry of the Hessian, f32 against f64, thread counts,
//! l2's zero second derivative in the values, and bad input.

#![allow(clippy::needless_range_loop)]

mod common;

use std::sync::Mutex;

use common::data::{rng, spanning, uniform};
use common::{cast, widen, zeros};
use rank_relax::ops::soft_topk;
use rank_relax::{set_num_threads, Direction, Error, ErrorKind, Real, Shape, TopkRegularization};

/// Serialises the tests that set the process-wide thread count.
static THREADS: Mutex<()> = Mutex::new(());

#[derive(Clone, Copy, Debug)]
struct P {
    k: i64,
    eps: f64,
    reg: TopkRegularization,
    dir: Direction,
}

impl P {
    fn params<T: Real>(&self) -> soft_topk::Params<T> {
        soft_topk::Params {
            k: self.k,
            regularization_strength: T::from_f64(self.eps),
            regularization: self.reg,
            direction: self.dir,
        }
    }

    fn with_eps(self, eps: f64) -> P {
        P { eps, ..self }
    }
}

/// Every regularization and direction, with k from `0, 1, n/2, n − 1, n` by `seed`.
fn variants(n: usize, eps: f64, seed: usize) -> Vec<P> {
    let ks = [0, 1.min(n), n / 2, n.saturating_sub(1), n];
    let mut out = vec![];
    for (i, &reg) in TopkRegularization::ALL.iter().enumerate() {
        for (j, &dir) in Direction::ALL.iter().enumerate() {
            out.push(P {
                k: ks[(seed + 2 * i + j) % ks.len()] as i64,
                eps,
                reg,
                dir,
            });
        }
    }
    out
}

/// The forward's permutation residual.
fn forward<T: Real>(p: &P, shape: Shape, x: &[T]) -> Result<Vec<i32>, Error> {
    let (mut m, mut perm) = (zeros::<T>(x.len()), vec![0i32; x.len()]);
    soft_topk::forward(shape, &p.params::<T>(), x, None, &mut m, &mut perm)?;
    Ok(perm)
}

/// Forward + backward: `(grad_values, grad_regularization_strength)`.
fn backward(p: &P, shape: Shape, x: &[f64], u: &[f64]) -> (Vec<f64>, Vec<f64>) {
    let perm = forward(p, shape, x).expect("forward");
    let (mut g, mut ge) = (vec![0.0; x.len()], vec![0.0; shape.batch]);
    soft_topk::backward(shape, &p.params(), x, None, &perm, u, &mut g, &mut ge).expect("backward");
    (g, ge)
}

/// Forward + HVP: `(hvp_values, hvp_regularization_strength)`, widened.
fn hvp<T: Real>(
    p: &P,
    shape: Shape,
    x: &[T],
    u: &[T],
    t: &[T],
    t_eps: T,
) -> Result<(Vec<f64>, Vec<f64>), Error> {
    let perm = forward(p, shape, x)?;
    let (mut h, mut he) = (zeros::<T>(x.len()), zeros::<T>(shape.batch));
    soft_topk::hvp(
        shape,
        &p.params::<T>(),
        x,
        None,
        &perm,
        u,
        t,
        t_eps,
        &mut h,
        &mut he,
    )?;
    Ok((widen(&h), widen(&he)))
}

/// Distinct values spread on the scale of ε, so the boundary block holds several of them.
fn rows(shape: Shape, eps: f64, seed: u64) -> Vec<f64> {
    let s = eps * 1.5;
    uniform(&mut rng(seed), shape.batch * shape.n, -s, s)
}

fn max_abs(v: &[f64]) -> f64 {
    v.iter().fold(0.0, |m: f64, a| m.max(a.abs()))
}

#[test]
fn hvp_matches_finite_differences_of_the_backward() {
    let mut checked = 0usize;
    // Non-zero entries seen: values part from x alone (p43 only), values part from ε, ε part.
    let (mut nz_xx, mut nz_xe, mut nz_e) = (0usize, 0usize, 0usize);
    for eps in [1e-3, 0.1, 1.0, 30.0] {
        for n in [1usize, 2, 3, 6, 17, 40] {
            for seed in 0..3 {
                for p in variants(n, eps, seed + n) {
                    let shape = Shape { batch: 2, n };
                    let s = (checked * 7 + seed) as u64;
                    let x = rows(shape, eps, s);
                    let u = uniform(&mut rng(s ^ 0x11), x.len(), -1.0, 1.0);
                    let t = uniform(&mut rng(s ^ 0x22), x.len(), -1.0, 1.0);
                    let t_eps = 0.7;
                    // Along t in x, along τ in ε, and both together.
                    for (wx, we) in [(1.0, 0.0), (0.0, 1.0), (1.0, 1.0)] {
                        let tw: Vec<f64> = t.iter().map(|a| a * wx).collect();
                        let what = format!("{p:?} n={n} seed={s} direction=({wx}, {we})");
                        let (h, he) = hvp::<f64>(&p, shape, &x, &u, &tw, t_eps * we).expect(&what);
                        let step = 1e-6 * eps;
                        let moved = |sgn: f64| {
                            let xs: Vec<f64> =
                                x.iter().zip(&tw).map(|(a, b)| a + sgn * step * b).collect();
                            let pe = p.with_eps(eps + sgn * step * t_eps * we);
                            backward(&pe, shape, &xs, &u)
                        };
                        let ((gp, gep), (gm, gem)) = (moved(1.0), moved(-1.0));
                        let scale = max_abs(&h).max(max_abs(&he)).max(1e-300);
                        for k in 0..x.len() {
                            let fd = (gp[k] - gm[k]) / (2.0 * step);
                            assert!(
                                (h[k] - fd).abs() <= 1e-5 * scale.max(fd.abs()),
                                "{what} [{k}]: hvp {:e} vs fd {fd:e}",
                                h[k]
                            );
                            if h[k].abs() > 1e-3 * scale {
                                if we == 0.0 {
                                    nz_xx += 1;
                                } else if wx == 0.0 {
                                    nz_xe += 1;
                                }
                            }
                        }
                        for r in 0..shape.batch {
                            let fd = (gep[r] - gem[r]) / (2.0 * step);
                            assert!(
                                (he[r] - fd).abs() <= 1e-5 * scale.max(fd.abs()),
                                "{what} row {r}: hvp_ε {:e} vs fd {fd:e}",
                                he[r]
                            );
                            nz_e += (he[r].abs() > 1e-3 * scale) as usize;
                        }
                        if p.reg == TopkRegularization::L2 && we == 0.0 {
                            assert!(h.iter().all(|&a| a == 0.0), "{what}: l2 H_xx ≠ 0");
                        }
                    }
                    checked += 1;
                }
            }
        }
    }
    assert!(
        checked >= 250 && nz_xx > 300 && nz_xe > 300 && nz_e > 300,
        "{checked} cases; non-zero: {nz_xx} H_xx t, {nz_xe} H_xε τ, {nz_e} ε-entries"
    );
}

/// `Σ_rows ⟨(w, ω), hvp(t, τ)⟩` and its scale.
fn pairing(w: &[f64], omega: f64, h: &[f64], he: &[f64]) -> (f64, f64) {
    let mut sum = 0.0;
    let mut scale = 0.0;
    for (a, b) in w.iter().zip(h) {
        sum += a * b;
        scale += (a * b).abs();
    }
    for &b in he {
        sum += omega * b;
        scale += (omega * b).abs();
    }
    (sum, scale)
}

#[test]
fn the_hessian_is_symmetric() {
    let mut checked = 0usize;
    for eps in [1e-3, 0.2, 5.0] {
        for n in [1usize, 2, 5, 23, 100] {
            for ties in [false, true] {
                for seed in 0..2 {
                    for p in variants(n, eps, seed + 3 * n) {
                        let shape = Shape { batch: 3, n };
                        let s = (checked * 13 + seed) as u64;
                        let mut x = rows(shape, eps, s);
                        if ties {
                            let step = eps * 0.4;
                            x.iter_mut().for_each(|a| *a = (*a / step).round() * step);
                        }
                        let u = uniform(&mut rng(s ^ 1), x.len(), -1.0, 1.0);
                        let t = uniform(&mut rng(s ^ 2), x.len(), -1.0, 1.0);
                        let w = uniform(&mut rng(s ^ 3), x.len(), -1.0, 1.0);
                        let (tau, omega) = (0.6, -1.3);
                        let what = format!("{p:?} n={n} ties={ties} seed={s}");
                        let (ht, het) = hvp::<f64>(&p, shape, &x, &u, &t, tau).expect(&what);
                        let (hw, hew) = hvp::<f64>(&p, shape, &x, &u, &w, omega).expect(&what);
                        let (lhs, ls) = pairing(&w, omega, &ht, &het);
                        let (rhs, rs) = pairing(&t, tau, &hw, &hew);
                        assert!(
                            (lhs - rhs).abs() <= 1e-12 * ls.max(rs) + 1e-300,
                            "{what}: ⟨(w, ω), H(t, τ)⟩ = {lhs:e} vs ⟨(t, τ), H(w, ω)⟩ = {rhs:e}"
                        );
                        checked += 1;
                    }
                }
            }
        }
    }
    assert!(checked >= 200, "{checked}");
}

#[test]
fn nothing_moves_outside_the_boundary_block() {
    // k = 0 and k = n have no block, and values far apart (≫ ε) have a block of one boundary
    // pair at most: the mask is constant there, so is the backward.
    for p in variants(8, 0.01, 0) {
        for k in [0, 8] {
            let p = P { k, ..p };
            let shape = Shape { batch: 2, n: 8 };
            let x = rows(shape, 1.0, 4);
            let u = uniform(&mut rng(5), x.len(), -1.0, 1.0);
            let t = uniform(&mut rng(6), x.len(), -1.0, 1.0);
            let (h, he) = hvp::<f64>(&p, shape, &x, &u, &t, 0.9).unwrap();
            assert!(h.iter().chain(&he).all(|&a| a == 0.0), "{p:?}");
        }
    }
    let p = P {
        k: 3,
        eps: 0.1,
        reg: TopkRegularization::P43,
        dir: Direction::Descending,
    };
    let shape = Shape { batch: 1, n: 6 };
    let x = [0.0, 5.0, 1.0, 4.0, 2.0, 3.0];
    let (h, he) = hvp::<f64>(&p, shape, &x, &[1.0; 6], &[1.0; 6], 1.0).unwrap();
    assert!(h.iter().chain(&he).all(|&a| a == 0.0), "{h:?} {he:?}");
}

#[test]
fn hvp_f32_agrees_with_f64() {
    for eps in [0.01, 0.3, 3.0] {
        for seed in 0..3 {
            for p in variants(40, eps as f32 as f64, seed) {
                let shape = Shape { batch: 4, n: 40 };
                let round =
                    |v: Vec<f64>| -> Vec<f64> { v.iter().map(|&a| a as f32 as f64).collect() };
                let x = round(rows(shape, eps, 5 + seed as u64));
                let u = round(uniform(&mut rng(6), x.len(), -1.0, 1.0));
                let t = round(uniform(&mut rng(7), x.len(), -1.0, 1.0));
                let want = hvp::<f64>(&p, shape, &x, &u, &t, 0.5).expect("f64");
                let got = hvp::<f32>(&p, shape, &cast(&x), &cast(&u), &cast(&t), 0.5).expect("f32");
                let max = max_abs(&want.0).max(max_abs(&want.1)).max(1e-30);
                for (a, b) in want.0.iter().chain(&want.1).zip(got.0.iter().chain(&got.1)) {
                    assert!(
                        (a - b).abs() <= 1e-4 * max,
                        "{p:?}: f32 {b:e} vs f64 {a:e} (max {max:e})"
                    );
                }
            }
        }
    }
}

#[test]
fn results_do_not_depend_on_threads() {
    let _threads = THREADS.lock().unwrap_or_else(|e| e.into_inner());
    let shape = Shape { batch: 300, n: 257 };
    let x = rows(shape, 0.2, 21);
    let u = uniform(&mut rng(22), x.len(), -1.0, 1.0);
    let t = uniform(&mut rng(23), x.len(), -1.0, 1.0);
    for seed in 0..5 {
        for p in variants(257, 0.2, seed) {
            let mut seen = vec![];
            for threads in [1, 2, 3, 8] {
                set_num_threads(threads);
                let (h, he) = hvp::<f64>(&p, shape, &x, &u, &t, 0.3).unwrap();
                let bits = |v: &[f64]| v.iter().map(|a| a.to_bits()).collect::<Vec<_>>();
                seen.push((bits(&h), bits(&he)));
            }
            set_num_threads(0);
            assert!(seen.windows(2).all(|w| w[0] == w[1]), "{p:?}");
        }
    }
}

#[test]
fn extreme_inputs_give_finite_results_or_the_overflow_error() {
    let shape = Shape { batch: 3, n: 21 };
    let (mut ok, mut refused) = (0usize, 0usize);
    for (lo, hi) in [(1e-300, 1e-280), (1e-3, 1e3), (1e280, 1e300)] {
        for eps in [1e-300, 1e-8, 1.0, 1e8, 1e300] {
            for seed in 0..5 {
                for p in variants(21, eps, seed) {
                    let x = spanning(shape, lo, hi, seed as u64);
                    let u = uniform(&mut rng(seed as u64), x.len(), -hi, hi);
                    let t = uniform(&mut rng(seed as u64 + 1), x.len(), -hi, hi);
                    match hvp::<f64>(&p, shape, &x, &u, &t, 1.0) {
                        Ok((h, he)) => {
                            assert!(
                                h.iter().chain(&he).all(|a| a.is_finite()),
                                "{p:?} [{lo:e}, {hi:e}]"
                            );
                            ok += 1;
                        }
                        Err(e) => {
                            refused += 1;
                            assert_eq!(e.kind, ErrorKind::InvalidArgument, "{}", e.message);
                            assert!(e.message.contains("overflows"), "{}", e.message);
                        }
                    }
                }
            }
        }
    }
    assert!(ok > 100 && refused > 50, "{ok} finite, {refused} refused");
}

fn message<T>(r: Result<T, Error>) -> (ErrorKind, String) {
    match r {
        Ok(_) => panic!("expected an error"),
        Err(e) => (e.kind, e.message),
    }
}

#[test]
fn bad_input_is_a_clear_error() {
    let shape = Shape { batch: 2, n: 5 };
    let x: Vec<f64> = (0..10).map(|i| i as f64 * 0.1).collect();
    let u = vec![1.0; 10];
    let t = vec![0.5; 10];
    for reg in TopkRegularization::ALL {
        let params = soft_topk::Params {
            k: 2,
            regularization_strength: 0.5,
            regularization: *reg,
            direction: Direction::Descending,
        };
        let (mut m, mut perm) = (vec![0.0; 10], vec![0i32; 10]);
        soft_topk::forward(shape, &params, &x, None, &mut m, &mut perm).unwrap();
        let (mut h, mut he) = (vec![0.0; 10], vec![0.0; 2]);
        let call = |params: &soft_topk::Params<f64>,
                    x: &[f64],
                    perm: &[i32],
                    u: &[f64],
                    t: &[f64],
                    t_eps: f64,
                    h: &mut [f64],
                    he: &mut [f64]| {
            message(soft_topk::hvp(
                shape, params, x, None, perm, u, t, t_eps, h, he,
            ))
        };
        let mismatch = |name: &str, len: usize| {
            (
                ErrorKind::ShapeMismatch,
                format!("soft_topk: {name} has {len} elements, expected batch × n = 2 × 5 = 10"),
            )
        };
        assert_eq!(
            call(&params, &x[..9], &perm, &u, &t, 0.0, &mut h, &mut he),
            mismatch("values", 9)
        );
        assert_eq!(
            call(&params, &x, &perm[..9], &u, &t, 0.0, &mut h, &mut he),
            mismatch("permutation", 9)
        );
        assert_eq!(
            call(&params, &x, &perm, &u[..9], &t, 0.0, &mut h, &mut he),
            mismatch("cotangent_selection", 9)
        );
        assert_eq!(
            call(&params, &x, &perm, &u, &t[..9], 0.0, &mut h, &mut he),
            mismatch("tangent_values", 9)
        );
        assert_eq!(
            call(&params, &x, &perm, &u, &t, 0.0, &mut h[..9], &mut he),
            mismatch("hvp_values", 9)
        );
        assert_eq!(
            call(&params, &x, &perm, &u, &t, 0.0, &mut h, &mut he[..1]),
            (
                ErrorKind::ShapeMismatch,
                "soft_topk: hvp_regularization_strength has 1 elements, expected batch = 2".into()
            )
        );
        let p9 = soft_topk::Params { k: 9, ..params };
        assert_eq!(
            call(&p9, &x, &perm, &u, &t, 0.0, &mut h, &mut he),
            (
                ErrorKind::InvalidArgument,
                "soft_topk: k must be in [0, n] = [0, 5], got 9".into()
            )
        );
        let p0 = soft_topk::Params {
            regularization_strength: 0.0,
            ..params
        };
        assert_eq!(
            call(&p0, &x, &perm, &u, &t, 0.0, &mut h, &mut he),
            (
                ErrorKind::InvalidArgument,
                "soft_topk: regularization_strength must be finite and > 0, got 0".into()
            )
        );
        let mut bad = x.clone();
        bad[7] = f64::NAN;
        assert_eq!(
            call(&params, &bad, &perm, &u, &t, 0.0, &mut h, &mut he),
            (
                ErrorKind::InvalidValue,
                "soft_topk: values[1, 2] is NaN".into()
            )
        );
        let mut bad_perm = perm.clone();
        bad_perm[5] = 9;
        assert_eq!(
            call(&params, &x, &bad_perm, &u, &t, 0.0, &mut h, &mut he).1,
            "soft_topk: permutation[1, 0] = 9 is not a valid permutation residual entry for n = 5"
        );
        let mut bad = u.clone();
        bad[3] = f64::INFINITY;
        assert_eq!(
            call(&params, &x, &perm, &bad, &t, 0.0, &mut h, &mut he).1,
            "soft_topk: cotangent_selection[0, 3] is +inf"
        );
        let mut bad = t.clone();
        bad[8] = f64::NEG_INFINITY;
        assert_eq!(
            call(&params, &x, &perm, &u, &bad, 0.0, &mut h, &mut he).1,
            "soft_topk: tangent_values[1, 3] is -inf"
        );
        assert_eq!(
            call(&params, &x, &perm, &u, &t, f64::NAN, &mut h, &mut he),
            (
                ErrorKind::InvalidValue,
                "soft_topk: tangent_regularization_strength is NaN".into()
            )
        );
        // Each factor is fine, their product over ε² is not.
        let big = vec![1e200; 10];
        let (kind, msg) = call(&params, &x, &perm, &big, &big, 0.0, &mut h, &mut he);
        assert_eq!(kind, ErrorKind::InvalidArgument);
        assert!(
            msg.starts_with(
                "soft_topk: cotangent_selection × tangent / regularization_strength² overflows"
            ),
            "{msg}"
        );
        let (kind, msg) = call(&params, &x, &perm, &big, &t, 1e300, &mut h, &mut he);
        assert_eq!(kind, ErrorKind::InvalidArgument);
        assert!(msg.contains("overflows"), "{msg}");
        // Nothing was written on an error.
        assert!(h.iter().chain(&he).all(|&a| a == 0.0));
    }
    // Empty shapes are fine.
    let p0 = soft_topk::Params::<f64> {
        k: 0,
        ..Default::default()
    };
    let empty = Shape { batch: 3, n: 0 };
    soft_topk::hvp(
        empty,
        &p0,
        &[],
        None,
        &[],
        &[],
        &[],
        0.0,
        &mut [],
        &mut [0.0; 3],
    )
    .unwrap();
    let none = Shape { batch: 0, n: 4 };
    soft_topk::hvp(none, &p0, &[], None, &[], &[], &[], 0.0, &mut [], &mut []).unwrap();
}
