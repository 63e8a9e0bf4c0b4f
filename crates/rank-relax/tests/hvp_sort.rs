//! The HVP kernels of soft_sort and soft_quantile (the derivative of the backward at a fixed
//! cotangent): against central finite differences of `backward` in x and in ε, separately and
//! together; symmetry of the Hessian; l2's zero `H_xx`; f32 against f64; thread counts; bad input.

use std::sync::Mutex;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rank_relax::ops::{soft_quantile, soft_sort};
use rank_relax::{set_num_threads, Direction, Error, ErrorKind, Real, Regularization, Shape};

/// Serialises the tests that set the process-wide thread count.
static THREADS: Mutex<()> = Mutex::new(());

const QUANTILES: [f64; 5] = [0.0, 0.25, 0.5, 0.9, 1.0];

/// One op with its params; `eps` is set per call.
#[derive(Clone, Copy, Debug)]
enum Op {
    Sort(Regularization, Direction),
    Quantile(Regularization),
}

fn cases() -> Vec<Op> {
    let mut v = vec![];
    for &reg in Regularization::ALL {
        for &dir in Direction::ALL {
            v.push(Op::Sort(reg, dir));
        }
        v.push(Op::Quantile(reg));
    }
    v
}

fn cast<T: Real>(v: &[f64]) -> Vec<T> {
    v.iter().map(|&x| T::from_f64(x)).collect()
}

fn widen<T: Real>(v: &[T]) -> Vec<f64> {
    v.iter().map(|x| x.to_f64()).collect()
}

fn sort_params<T: Real>(reg: Regularization, dir: Direction, eps: f64) -> soft_sort::Params<T> {
    soft_sort::Params {
        regularization_strength: T::from_f64(eps),
        regularization: reg,
        direction: dir,
    }
}

fn quantile_params<T: Real>(reg: Regularization, eps: f64) -> soft_quantile::Params<T> {
    soft_quantile::Params {
        quantiles: cast(&QUANTILES),
        regularization_strength: T::from_f64(eps),
        regularization: reg,
    }
}

impl Op {
    /// The cotangent's width: n, or the number of quantiles.
    fn width(self, n: usize) -> usize {
        match self {
            Op::Sort(..) => n,
            Op::Quantile(_) => QUANTILES.len(),
        }
    }

    fn forward<T: Real>(self, shape: Shape, eps: f64, x: &[T]) -> Vec<i32> {
        self.try_forward(shape, eps, x).unwrap()
    }

    fn try_forward<T: Real>(self, shape: Shape, eps: f64, x: &[T]) -> Result<Vec<i32>, Error> {
        let mut perm = vec![0i32; x.len()];
        let mut out = vec![T::from_f64(0.0); shape.batch * self.width(shape.n)];
        match self {
            Op::Sort(reg, dir) => soft_sort::forward(
                shape,
                &sort_params(reg, dir, eps),
                x,
                None,
                &mut out,
                &mut perm,
            ),
            Op::Quantile(reg) => soft_quantile::forward(
                shape,
                &quantile_params(reg, eps),
                x,
                None,
                &mut out,
                &mut perm,
            ),
        }?;
        Ok(perm)
    }

    /// A forward and a backward at cotangent `u`: the gradient and the ε-gradients, with the
    /// forward's residual.
    fn backward(
        self,
        shape: Shape,
        eps: f64,
        x: &[f64],
        u: &[f64],
    ) -> (Vec<f64>, Vec<f64>, Vec<i32>) {
        let perm = self.forward(shape, eps, x);
        let mut g = vec![0.0; x.len()];
        let mut ge = vec![0.0; shape.batch];
        match self {
            Op::Sort(reg, dir) => {
                let p = sort_params(reg, dir, eps);
                soft_sort::backward(shape, &p, x, None, &perm, u, &mut g, &mut ge)
            }
            Op::Quantile(reg) => {
                let p = quantile_params(reg, eps);
                soft_quantile::backward(shape, &p, x, None, &perm, u, &mut g, &mut ge)
            }
        }
        .unwrap();
        (g, ge, perm)
    }

    /// The HVP with the given residual.
    #[allow(clippy::too_many_arguments)]
    fn hvp_with<T: Real>(
        self,
        shape: Shape,
        eps: T,
        x: &[T],
        perm: &[i32],
        u: &[T],
        t: &[T],
        t_eps: T,
    ) -> Result<(Vec<T>, Vec<T>), Error> {
        let mut h = vec![T::from_f64(0.0); x.len()];
        let mut he = vec![T::from_f64(0.0); shape.batch];
        let eps = eps.to_f64();
        match self {
            Op::Sort(reg, dir) => {
                let p = sort_params::<T>(reg, dir, eps);
                soft_sort::hvp(shape, &p, x, None, perm, u, t, t_eps, &mut h, &mut he)?
            }
            Op::Quantile(reg) => {
                let p = quantile_params::<T>(reg, eps);
                soft_quantile::hvp(shape, &p, x, None, perm, u, t, t_eps, &mut h, &mut he)?
            }
        }
        Ok((h, he))
    }

    /// A forward, then the HVP.
    fn hvp<T: Real>(
        self,
        shape: Shape,
        eps: f64,
        x: &[T],
        u: &[T],
        t: &[T],
        t_eps: f64,
    ) -> Result<(Vec<T>, Vec<T>), Error> {
        let perm = self.try_forward(shape, eps, x)?;
        self.hvp_with(shape, T::from_f64(eps), x, &perm, u, t, T::from_f64(t_eps))
    }
}

fn uniform(rng: &mut StdRng, len: usize, lo: f64, hi: f64) -> Vec<f64> {
    (0..len).map(|_| rng.random_range(lo..hi)).collect()
}

/// `x + h·t`.
fn axpy(x: &[f64], h: f64, t: &[f64]) -> Vec<f64> {
    x.iter().zip(t).map(|(a, b)| a + h * b).collect()
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn max_abs(v: &[f64]) -> f64 {
    v.iter().fold(0.0, |m: f64, x| m.max(x.abs()))
}

/// Central differences of the backward along `(t, s)` against the HVP, for distinct values on
/// one piece (the residual, blocks included, is the same at both ends of the step), with the ε
/// direction alone, the values alone and both; every op, regularization and direction.
#[test]
fn hvp_matches_finite_differences_of_the_backward() {
    let mut rng = StdRng::seed_from_u64(7);
    let h = 1e-6;
    let mut checked = 0;
    let mut nontrivial_blocks = 0;
    for op in cases() {
        for eps in [0.1, 0.5, 1.0, 3.0] {
            let mut tries = 0;
            let mut done = 0;
            while done < 6 {
                tries += 1;
                assert!(tries < 200, "{op:?} ε = {eps}: no draw stays on one piece");
                let n = rng.random_range(2..12);
                let shape = Shape { batch: 3, n };
                let x = uniform(&mut rng, 3 * n, -2.0, 2.0);
                let u = uniform(&mut rng, 3 * op.width(n), -1.0, 1.0);
                let t = uniform(&mut rng, 3 * n, -1.0, 1.0);
                let s = rng.random_range(-1.0..1.0);
                let perm = op.forward(shape, eps, &x);
                let ends = [
                    op.backward(shape, eps + h * s, &axpy(&x, h, &t), &u),
                    op.backward(shape, eps - h * s, &axpy(&x, -h, &t), &u),
                    op.backward(shape, eps, &axpy(&x, h, &t), &u),
                    op.backward(shape, eps, &axpy(&x, -h, &t), &u),
                    op.backward(shape, eps + h * s, &x, &u),
                    op.backward(shape, eps - h * s, &x, &u),
                ];
                if ends.iter().any(|e| e.2 != perm) {
                    continue;
                }
                nontrivial_blocks += perm.iter().skip(1).filter(|&&p| p >= 0).count();
                for (k, (tt, ss)) in [(t.clone(), s), (t.clone(), 0.0), (vec![0.0; t.len()], s)]
                    .into_iter()
                    .enumerate()
                {
                    let (hv, he) = op.hvp(shape, eps, &x, &u, &tt, ss).unwrap();
                    let (plus, minus) = (&ends[2 * k], &ends[2 * k + 1]);
                    let fd: Vec<f64> = plus
                        .0
                        .iter()
                        .zip(&minus.0)
                        .map(|(a, b)| (a - b) / (2.0 * h))
                        .collect();
                    let fde: Vec<f64> = plus
                        .1
                        .iter()
                        .zip(&minus.1)
                        .map(|(a, b)| (a - b) / (2.0 * h))
                        .collect();
                    let scale = 1.0 + max_abs(&fd).max(max_abs(&fde));
                    for (i, (a, b)) in hv.iter().zip(&fd).enumerate() {
                        assert!(
                            (a - b).abs() <= 1e-6 * scale,
                            "{op:?} ε = {eps} direction {k}: hvp_values[{i}] = {a}, fd {b}"
                        );
                    }
                    for (r, (a, b)) in he.iter().zip(&fde).enumerate() {
                        assert!(
                            (a - b).abs() <= 1e-6 * scale,
                            "{op:?} ε = {eps} direction {k}: hvp_ε[{r}] = {a}, fd {b}"
                        );
                    }
                    if k == 2 {
                        // H_xε = 0: the gradient in x does not move with ε on a piece.
                        assert!(hv.iter().all(|&v| v == 0.0), "{op:?}: {hv:?}");
                    }
                    if matches!(
                        op,
                        Op::Sort(Regularization::L2, _) | Op::Quantile(Regularization::L2)
                    ) {
                        assert!(hv.iter().all(|&v| v == 0.0), "{op:?} l2 H_xx t: {hv:?}");
                    }
                    checked += 1;
                }
                done += 1;
            }
        }
    }
    assert_eq!(checked, cases().len() * 4 * 6 * 3);
    // The draws pooled items into blocks (otherwise every second derivative is 0).
    assert!(nontrivial_blocks > 100, "{nontrivial_blocks}");
}

/// The kl `H_xx` and both `H_εε` are not zero where items pool (a block of the whole row).
#[test]
fn pooled_rows_have_nonzero_second_derivatives() {
    let shape = Shape { batch: 1, n: 4 };
    let x = [0.3, -0.1, 0.2, 0.05];
    let t = [0.5, 1.0, -1.0, 0.3];
    for op in cases() {
        let u: Vec<f64> = (0..op.width(4))
            .map(|i| 1.0 + i as f64 * i as f64)
            .collect();
        let (hv, he) = op.hvp(shape, 10.0, &x, &u, &t, 1.0).unwrap();
        assert!(he[0] != 0.0, "{op:?}");
        match op {
            Op::Sort(Regularization::Kl, _) | Op::Quantile(Regularization::Kl) => {
                assert!(hv.iter().any(|&v| v != 0.0), "{op:?}")
            }
            _ => assert!(hv.iter().all(|&v| v == 0.0), "{op:?}"),
        }
    }
}

/// The Hessian is symmetric: `⟨(w, c), H(t, s)⟩ = ⟨(t, s), H(w, c)⟩`, the ε entry of `H(t, s)`
/// being the sum of the rows' `hvp_regularization_strength` (ε is one number for the call).
#[test]
fn hessian_is_symmetric() {
    let mut rng = StdRng::seed_from_u64(11);
    for op in cases() {
        for eps in [0.05, 0.3, 1.0, 4.0] {
            for ties in [false, true] {
                let shape = Shape { batch: 5, n: 17 };
                let len = shape.batch * shape.n;
                let mut x = uniform(&mut rng, len, -2.0, 2.0);
                if ties {
                    // Tied values: the HVP is that of the piece the forward chose, still a Hessian.
                    x.iter_mut().for_each(|v| *v = (*v * 2.0).round() / 2.0);
                }
                let u = uniform(&mut rng, shape.batch * op.width(shape.n), -1.0, 1.0);
                let (t, w) = (
                    uniform(&mut rng, len, -1.0, 1.0),
                    uniform(&mut rng, len, -1.0, 1.0),
                );
                let (s, c) = (0.7, -1.3);
                let (ht, hte) = op.hvp(shape, eps, &x, &u, &t, s).unwrap();
                let (hw, hwe) = op.hvp(shape, eps, &x, &u, &w, c).unwrap();
                let lhs = dot(&w, &ht) + c * hte.iter().sum::<f64>();
                let rhs = dot(&t, &hw) + s * hwe.iter().sum::<f64>();
                let scale = 1.0 + lhs.abs().max(rhs.abs());
                assert!(
                    (lhs - rhs).abs() <= 1e-10 * scale,
                    "{op:?} ε = {eps} ties {ties}: {lhs} vs {rhs}"
                );
            }
        }
    }
}

/// f32 agrees with f64 computed on the same f32-rounded inputs, to 1e-4 of the largest
/// magnitude.
#[test]
fn f32_agrees_with_f64() {
    let mut rng = StdRng::seed_from_u64(3);
    for op in cases() {
        for eps in [0.1, 1.0] {
            let shape = Shape { batch: 7, n: 40 };
            let len = shape.batch * shape.n;
            let x32: Vec<f32> = cast(&uniform(&mut rng, len, -3.0, 3.0));
            let u32: Vec<f32> = cast(&uniform(
                &mut rng,
                shape.batch * op.width(shape.n),
                -1.0,
                1.0,
            ));
            let t32: Vec<f32> = cast(&uniform(&mut rng, len, -1.0, 1.0));
            let (h32, he32) = op.hvp(shape, eps, &x32, &u32, &t32, 0.4).unwrap();
            let (x, u, t) = (widen(&x32), widen(&u32), widen(&t32));
            let (h64, he64) = op
                .hvp(shape, f32::from_f64(eps).to_f64(), &x, &u, &t, 0.4)
                .unwrap();
            for (a, b) in [(widen(&h32), h64), (widen(&he32), he64)] {
                let scale = max_abs(&b).max(1e-30);
                for (i, (p, q)) in a.iter().zip(&b).enumerate() {
                    assert!(
                        (p - q).abs() <= 1e-4 * scale,
                        "{op:?} ε = {eps}: [{i}] f32 {p} vs f64 {q}"
                    );
                }
            }
        }
    }
}

/// The same bits on 1, 2 and 4 threads (rows are independent and computed alike).
#[test]
fn hvp_does_not_depend_on_threads() {
    let _g = THREADS.lock().unwrap_or_else(|e| e.into_inner());
    let mut rng = StdRng::seed_from_u64(5);
    let shape = Shape { batch: 300, n: 257 };
    let len = shape.batch * shape.n;
    let x: Vec<f64> = uniform(&mut rng, len, -2.0, 2.0)
        .into_iter()
        .map(|v| (v * 8.0).round() / 8.0)
        .collect();
    let t = uniform(&mut rng, len, -1.0, 1.0);
    for op in cases() {
        let u = uniform(&mut rng, shape.batch * op.width(shape.n), -1.0, 1.0);
        let mut seen = vec![];
        for threads in [1, 2, 4] {
            set_num_threads(threads);
            let (h, he) = op.hvp(shape, 0.2, &x, &u, &t, 0.3).unwrap();
            seen.push((h.iter().map(|v| v.to_bits()).collect::<Vec<_>>(), he));
        }
        set_num_threads(0);
        for w in seen.windows(2) {
            assert!(w[0].0 == w[1].0, "{op:?}: hvp_values differ across threads");
            assert!(
                w[0].1
                    .iter()
                    .zip(&w[1].1)
                    .all(|(a, b)| a.to_bits() == b.to_bits()),
                "{op:?}: hvp_regularization_strength differs across threads"
            );
        }
    }
}

/// Empty batches and rows, n = 1, and values at 1e300 with small or large ε give finite results
/// (or the documented overflow error), never a NaN.
#[test]
fn edge_shapes_and_extreme_values() {
    for op in cases() {
        let shapes: &[Shape] = match op {
            Op::Sort(..) => &[
                Shape { batch: 0, n: 4 },
                Shape { batch: 3, n: 0 },
                Shape { batch: 2, n: 1 },
            ],
            Op::Quantile(_) => &[Shape { batch: 0, n: 4 }, Shape { batch: 2, n: 1 }],
        };
        for &shape in shapes {
            let len = shape.batch * shape.n;
            let u = vec![1.0; shape.batch * op.width(shape.n)];
            let (h, he) = op
                .hvp(shape, 0.5, &vec![0.25; len], &u, &vec![1.0; len], 1.0)
                .unwrap();
            assert_eq!(h, vec![0.0; len], "{op:?} {shape:?}");
            assert_eq!(he, vec![0.0; shape.batch], "{op:?} {shape:?}");
        }
        let shape = Shape { batch: 2, n: 6 };
        let x = [
            1e300, 1e300, 1e300, -1e300, 0.0, 1e-300, //
            5e299, -1e299, 3.0, 3.0, 3.0, -2.0,
        ];
        let u: Vec<f64> = (0..2 * op.width(6))
            .map(|i| (i as f64 * 0.37).sin())
            .collect();
        let t: Vec<f64> = (0..12).map(|i| (i as f64 * 0.91).cos()).collect();
        for eps in [1e-8, 1e-3, 1.0, 1e3, 1e8] {
            for t_eps in [0.0, 1.0] {
                match op.hvp(shape, eps, &x, &u, &t, t_eps) {
                    Ok((h, he)) => assert!(
                        h.iter().chain(&he).all(|v| v.is_finite()),
                        "{op:?} ε = {eps}: {h:?} {he:?}"
                    ),
                    Err(e) => assert!(e.to_string().contains("overflows"), "{op:?} ε = {eps}: {e}"),
                }
            }
        }
        // A zero ε-tangent at tiny ε (where 1/ε³ overflows) is fine.
        let (_, he) = op.hvp(shape, 1e-150, &[0.0; 12], &u, &t, 0.0).unwrap();
        assert!(he.iter().all(|v| v.is_finite()), "{op:?}: {he:?}");
    }
}

/// Lengths, non-finite saves, cotangents and tangents, ε, the ε-tangent and a corrupt residual
/// are refused with the op's message, naming the argument (and the element).
#[test]
fn bad_input_is_a_clear_error() {
    let shape = Shape { batch: 2, n: 3 };
    let x = [0.3, 0.1, 0.2, 1.0, -1.0, 0.5];
    let t = [1.0, -0.5, 0.25, 0.0, 2.0, -1.0];
    for op in cases() {
        let name = match op {
            Op::Sort(..) => "soft_sort",
            Op::Quantile(_) => "soft_quantile",
        };
        let cot = match op {
            Op::Sort(..) => "cotangent_sorted",
            Op::Quantile(_) => "cotangent_result",
        };
        let m = op.width(3);
        let u: Vec<f64> = (0..2 * m).map(|i| i as f64 * 0.1 - 0.2).collect();
        let perm = op.forward(shape, 0.5, &x);
        let run = |x: &[f64], perm: &[i32], u: &[f64], t: &[f64], eps: f64, t_eps: f64| {
            op.hvp_with(shape, eps, x, perm, u, t, t_eps)
                .expect_err(name)
        };
        let msg = |e: Error| e.to_string();

        // Lengths, in argument order.
        assert_eq!(
            msg(run(&x[..5], &perm, &u, &t, 0.5, 0.0)),
            format!("{name}: values has 5 elements, expected batch × n = 2 × 3 = 6")
        );
        assert_eq!(
            msg(run(&x, &perm[..5], &u, &t, 0.5, 0.0)),
            format!("{name}: permutation has 5 elements, expected batch × n = 2 × 3 = 6")
        );
        let e = msg(run(&x, &perm, &u[..u.len() - 1], &t, 0.5, 0.0));
        assert!(
            e.starts_with(&format!("{name}: {cot} has {} elements", 2 * m - 1)),
            "{e}"
        );
        assert_eq!(
            msg(run(&x, &perm, &u, &t[..5], 0.5, 0.0)),
            format!("{name}: tangent_values has 5 elements, expected batch × n = 2 × 3 = 6")
        );
        let mut h = vec![0.0; 5];
        let mut he = vec![0.0; 2];
        let short = match op {
            Op::Sort(reg, dir) => soft_sort::hvp(
                shape,
                &sort_params(reg, dir, 0.5),
                &x,
                None,
                &perm,
                &u,
                &t,
                0.0,
                &mut h,
                &mut he,
            ),
            Op::Quantile(reg) => soft_quantile::hvp(
                shape,
                &quantile_params(reg, 0.5),
                &x,
                None,
                &perm,
                &u,
                &t,
                0.0,
                &mut h,
                &mut he,
            ),
        };
        assert_eq!(
            msg(short.unwrap_err()),
            format!("{name}: hvp_values has 5 elements, expected batch × n = 2 × 3 = 6")
        );
        let mut h = vec![0.0; 6];
        let mut he = vec![0.0; 1];
        let short = match op {
            Op::Sort(reg, dir) => soft_sort::hvp(
                shape,
                &sort_params(reg, dir, 0.5),
                &x,
                None,
                &perm,
                &u,
                &t,
                0.0,
                &mut h,
                &mut he,
            ),
            Op::Quantile(reg) => soft_quantile::hvp(
                shape,
                &quantile_params(reg, 0.5),
                &x,
                None,
                &perm,
                &u,
                &t,
                0.0,
                &mut h,
                &mut he,
            ),
        };
        assert_eq!(
            msg(short.unwrap_err()),
            format!("{name}: hvp_regularization_strength has 1 elements, expected batch = 2")
        );

        // ε.
        for eps in [0.0, -1.0, f64::NAN] {
            let e = run(&x, &perm, &u, &t, eps, 0.0);
            assert_eq!(e.kind(), ErrorKind::InvalidArgument);
            assert!(msg(e).starts_with(&format!(
                "{name}: regularization_strength must be finite and > 0"
            )),);
        }

        // Non-finite values, cotangents, tangents.
        for (v, shown) in [
            (f64::NAN, "NaN"),
            (f64::INFINITY, "+inf"),
            (f64::NEG_INFINITY, "-inf"),
        ] {
            let mut bx = x;
            bx[4] = v;
            assert_eq!(
                msg(run(&bx, &perm, &u, &t, 0.5, 0.0)),
                format!("{name}: values[1, 1] is {shown}")
            );
            let mut bu = u.clone();
            bu[m + 1] = v;
            assert_eq!(
                msg(run(&x, &perm, &bu, &t, 0.5, 0.0)),
                format!("{name}: {cot}[1, 1] is {shown}")
            );
            let mut bt = t;
            bt[5] = v;
            assert_eq!(
                msg(run(&x, &perm, &u, &bt, 0.5, 0.0)),
                format!("{name}: tangent_values[1, 2] is {shown}")
            );
            assert_eq!(
                msg(run(&x, &perm, &u, &t, 0.5, v)),
                format!("{name}: tangent_regularization_strength is {shown}")
            );
        }

        // A corrupt residual.
        let mut bad = perm.clone();
        bad[4] = 7;
        assert_eq!(
            msg(run(&x, &bad, &u, &t, 0.5, 0.0)),
            format!(
                "{name}: permutation[1, 1] = 7 is not a valid permutation residual entry for n = 3"
            )
        );

        // An ε-tangent or a tangent whose products would overflow.
        let e = msg(run(&x, &perm, &u, &t, 0.5, 1e308));
        assert!(
            e.starts_with(&format!("{name}: tangent_regularization_strength"))
                && e.contains("overflows"),
            "{e}"
        );
        let big = [1e308; 6];
        let e = msg(run(&x, &perm, &u, &big, 0.5, 0.0));
        assert!(
            e.starts_with(&format!("{name}: tangent_values")) && e.contains("overflows"),
            "{e}"
        );
    }
}
