//! The HVPs (derivatives of the backward) of the pairwise ops: sigmoid_rank, neural_sort and
//! neural_sort_apply. Against central finite differences of the backward (in the inputs, in ε
//! and in both), symmetric, f32 against f64, independent of the thread count, and their errors.

use std::sync::Mutex;

use rank_relax::ops::{neural_sort, neural_sort_apply, sigmoid_rank};
use rank_relax::{set_num_threads, Direction, Error, Real, Shape};

/// Serialises the tests that set the process-wide thread count.
static THREADS: Mutex<()> = Mutex::new(());

#[derive(Clone, Copy, Debug, PartialEq)]
enum Op {
    SigmoidRank,
    NeuralSort,
    NeuralSortApply,
}

const OPS: [Op; 3] = [Op::SigmoidRank, Op::NeuralSort, Op::NeuralSortApply];
const DIRECTIONS: [Direction; 2] = [Direction::Ascending, Direction::Descending];

impl Op {
    fn name(self) -> &'static str {
        match self {
            Op::SigmoidRank => "sigmoid_rank",
            Op::NeuralSort => "neural_sort",
            Op::NeuralSortApply => "neural_sort_apply",
        }
    }

    /// The differentiable inputs, in order.
    fn inputs(self) -> &'static [&'static str] {
        match self {
            Op::NeuralSortApply => &["values", "payload"],
            _ => &["values"],
        }
    }

    fn cotangent(self) -> &'static str {
        match self {
            Op::SigmoidRank => "cotangent_ranks",
            Op::NeuralSort => "cotangent_permutation_matrix",
            Op::NeuralSortApply => "cotangent_output",
        }
    }

    /// Elements of the output (and its cotangent).
    fn out_len(self, shape: Shape) -> usize {
        match self {
            Op::NeuralSort => shape.batch * shape.n * shape.n,
            _ => shape.batch * shape.n,
        }
    }
}

/// A fixed xorshift stream of uniforms in `[lo, hi)`.
fn uniform(seed: u64, len: usize, lo: f64, hi: f64) -> Vec<f64> {
    let mut s = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..len)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            lo + (hi - lo) * ((s >> 11) as f64 / (1u64 << 53) as f64)
        })
        .collect()
}

/// One call's data: the inputs (one buffer per differentiable input) and the cotangent.
#[derive(Clone)]
struct Case {
    op: Op,
    shape: Shape,
    direction: Direction,
    eps: f64,
    inputs: Vec<Vec<f64>>,
    cot: Vec<f64>,
}

impl Case {
    fn new(op: Op, shape: Shape, direction: Direction, eps: f64, seed: u64) -> Self {
        let len = shape.batch * shape.n;
        let inputs = op
            .inputs()
            .iter()
            .enumerate()
            .map(|(k, _)| uniform(seed * 7 + k as u64, len, -2.0, 2.0))
            .collect();
        let cot = uniform(seed * 7 + 5, op.out_len(shape), -1.0, 1.0);
        Case {
            op,
            shape,
            direction,
            eps,
            inputs,
            cot,
        }
    }

    /// Random tangents, one per differentiable input.
    fn tangents(&self, seed: u64) -> Vec<Vec<f64>> {
        let len = self.shape.batch * self.shape.n;
        (0..self.inputs.len())
            .map(|k| uniform(seed * 11 + k as u64, len, -1.0, 1.0))
            .collect()
    }

    fn rounded32(&self) -> Case {
        let r = |v: &[f64]| v.iter().map(|&a| a as f32 as f64).collect::<Vec<_>>();
        Case {
            eps: self.eps as f32 as f64,
            inputs: self.inputs.iter().map(|v| r(v)).collect(),
            cot: r(&self.cot),
            ..self.clone()
        }
    }
}

fn cast<T: Real>(v: &[f64]) -> Vec<T> {
    v.iter().map(|&a| T::from_f64(a)).collect()
}

fn widen<T: Real>(v: &[T]) -> Vec<f64> {
    v.iter().map(|a| a.to_f64()).collect()
}

/// The backward (f64) at `inputs` and ε: one gradient per input, and the ε-gradient per row.
fn grads(c: &Case, inputs: &[Vec<f64>], eps: f64) -> (Vec<Vec<f64>>, Vec<f64>) {
    let (shape, len) = (c.shape, c.shape.batch * c.shape.n);
    let mut ge = vec![0.0; shape.batch];
    let mut g: Vec<Vec<f64>> = inputs.iter().map(|_| vec![0.0; len]).collect();
    match c.op {
        Op::SigmoidRank => {
            let p = sigmoid_rank::Params {
                regularization_strength: eps,
                direction: c.direction,
            };
            sigmoid_rank::backward(shape, &p, &inputs[0], None, &c.cot, &mut g[0], &mut ge)
                .unwrap();
        }
        Op::NeuralSort => {
            let p = neural_sort::Params {
                regularization_strength: eps,
                direction: c.direction,
            };
            let mut pm = vec![0.0; c.cot.len()];
            neural_sort::forward(shape, &p, &inputs[0], None, &mut pm).unwrap();
            neural_sort::backward(shape, &p, &inputs[0], None, &pm, &c.cot, &mut g[0], &mut ge)
                .unwrap();
        }
        Op::NeuralSortApply => {
            let p = neural_sort::Params {
                regularization_strength: eps,
                direction: c.direction,
            };
            let (gx, gy) = g.split_at_mut(1);
            neural_sort_apply::backward(
                shape, &p, &inputs[0], &inputs[1], None, &c.cot, &mut gx[0], &mut gy[0], &mut ge,
            )
            .unwrap();
        }
    }
    (g, ge)
}

/// What one HVP call takes beyond the case: its buffers, as given (so tests may corrupt them).
struct Call<T> {
    inputs: Vec<Vec<T>>,
    saved: Vec<T>,
    cot: Vec<T>,
    tangents: Vec<Vec<T>>,
    s: T,
    eps: T,
    out: Vec<Vec<T>>,
    out_eps: Vec<T>,
}

impl<T: Real> Call<T> {
    fn new(c: &Case, tangents: &[Vec<f64>], s: f64) -> Self {
        let inputs: Vec<Vec<T>> = c.inputs.iter().map(|v| cast(v)).collect();
        let eps = T::from_f64(c.eps);
        let mut saved = vec![];
        if c.op == Op::NeuralSort {
            let p = neural_sort::Params {
                regularization_strength: eps,
                direction: c.direction,
            };
            saved = vec![T::from_f64(0.0); c.cot.len()];
            neural_sort::forward(c.shape, &p, &inputs[0], None, &mut saved).unwrap();
        }
        let len = c.shape.batch * c.shape.n;
        Call {
            out: inputs.iter().map(|_| vec![T::from_f64(0.0); len]).collect(),
            inputs,
            saved,
            cot: cast(&c.cot),
            tangents: tangents.iter().map(|v| cast(v)).collect(),
            s: T::from_f64(s),
            eps,
            out_eps: vec![T::from_f64(0.0); c.shape.batch],
        }
    }

    fn run(&mut self, op: Op, shape: Shape, direction: Direction) -> Result<(), Error> {
        let (x, t) = (&self.inputs, &self.tangents);
        match op {
            Op::SigmoidRank => {
                let p = sigmoid_rank::Params {
                    regularization_strength: self.eps,
                    direction,
                };
                sigmoid_rank::hvp(
                    shape,
                    &p,
                    &x[0],
                    None,
                    &self.cot,
                    &t[0],
                    self.s,
                    &mut self.out[0],
                    &mut self.out_eps,
                )
            }
            Op::NeuralSort => {
                let p = neural_sort::Params {
                    regularization_strength: self.eps,
                    direction,
                };
                neural_sort::hvp(
                    shape,
                    &p,
                    &x[0],
                    None,
                    &self.saved,
                    &self.cot,
                    &t[0],
                    self.s,
                    &mut self.out[0],
                    &mut self.out_eps,
                )
            }
            Op::NeuralSortApply => {
                let p = neural_sort::Params {
                    regularization_strength: self.eps,
                    direction,
                };
                let (hx, hy) = self.out.split_at_mut(1);
                neural_sort_apply::hvp(
                    shape,
                    &p,
                    &x[0],
                    &x[1],
                    None,
                    &self.cot,
                    &t[0],
                    &t[1],
                    self.s,
                    &mut hx[0],
                    &mut hy[0],
                    &mut self.out_eps,
                )
            }
        }
    }
}

/// The HVP in `T`, widened: one buffer per input, and the ε-part per row.
fn hvp<T: Real>(c: &Case, tangents: &[Vec<f64>], s: f64) -> (Vec<Vec<f64>>, Vec<f64>) {
    let mut call = Call::<T>::new(c, tangents, s);
    call.run(c.op, c.shape, c.direction)
        .unwrap_or_else(|e| panic!("{}: {e}", c.op.name()));
    (
        call.out.iter().map(|v| widen(v)).collect(),
        widen(&call.out_eps),
    )
}

fn max_abs(v: &[f64]) -> f64 {
    v.iter().fold(0.0, |m: f64, a| m.max(a.abs()))
}

/// Asserts `got` ≈ `want` within `tol` of the larger of the two's scale (and 1).
fn close(what: &str, got: &[f64], want: &[f64], tol: f64) {
    assert_eq!(got.len(), want.len(), "{what}");
    let scale = max_abs(got).max(max_abs(want)).max(1.0);
    for (k, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(g.is_finite(), "{what}[{k}] = {g}");
        assert!(
            (g - w).abs() <= tol * scale,
            "{what}[{k}]: {g:e} vs {w:e} (scale {scale:e})"
        );
    }
}

/// Central differences of the backward along `(tangents, s)`.
fn finite_difference(c: &Case, tangents: &[Vec<f64>], s: f64) -> (Vec<Vec<f64>>, Vec<f64>) {
    let h = 1e-5;
    let moved = |sign: f64| {
        let x: Vec<Vec<f64>> = c
            .inputs
            .iter()
            .zip(tangents)
            .map(|(x, t)| x.iter().zip(t).map(|(a, b)| a + sign * h * b).collect())
            .collect();
        grads(c, &x, c.eps + sign * h * s)
    };
    let ((gp, ep), (gm, em)) = (moved(1.0), moved(-1.0));
    let diff = |p: &[f64], m: &[f64]| -> Vec<f64> {
        p.iter().zip(m).map(|(a, b)| (a - b) / (2.0 * h)).collect()
    };
    (
        gp.iter().zip(&gm).map(|(p, m)| diff(p, m)).collect(),
        diff(&ep, &em),
    )
}

fn zeros_like(t: &[Vec<f64>]) -> Vec<Vec<f64>> {
    t.iter().map(|v| vec![0.0; v.len()]).collect()
}

#[test]
fn hvp_matches_finite_differences_of_the_backward() {
    for op in OPS {
        for direction in DIRECTIONS {
            // Short rows, and rows with full chunks of the vectorised loops and a remainder.
            let shapes = [(0.3, 6), (1.0, 6), (4.0, 6), (0.15, 19), (1.0, 21)];
            for (k, (eps, n)) in shapes.into_iter().enumerate() {
                let shape = Shape { batch: 3, n };
                let c = Case::new(op, shape, direction, eps, 1 + k as u64);
                let t = c.tangents(9 + k as u64);
                let mut directions = vec![
                    ("values and ε", t.clone(), 0.7),
                    ("values", t.clone(), 0.0),
                    ("ε", zeros_like(&t), -0.9),
                ];
                if op == Op::NeuralSortApply {
                    let mut only_y = zeros_like(&t);
                    only_y[1] = t[1].clone();
                    directions.push(("payload", only_y, 0.0));
                    let mut only_x = t.clone();
                    only_x[1].fill(0.0);
                    directions.push(("values only", only_x, 0.0));
                }
                for (what, t, s) in directions {
                    let (hx, he) = hvp::<f64>(&c, &t, s);
                    let (fx, fe) = finite_difference(&c, &t, s);
                    let at = format!("{} {direction:?} ε={eps} along {what}", op.name());
                    for (k, name) in op.inputs().iter().enumerate() {
                        close(&format!("{at}: hvp_{name}"), &hx[k], &fx[k], 1e-6);
                    }
                    close(
                        &format!("{at}: hvp_regularization_strength"),
                        &he,
                        &fe,
                        1e-6,
                    );
                }
            }
        }
    }
}

/// `⟨(w, c), H(t, s)⟩` summed over the rows: the ε-tangent is one scalar for the call.
fn pairing(t: &[Vec<f64>], s: f64, h: &(Vec<Vec<f64>>, Vec<f64>)) -> f64 {
    let dot: f64 = t
        .iter()
        .zip(&h.0)
        .map(|(a, b)| a.iter().zip(b).map(|(x, y)| x * y).sum::<f64>())
        .sum();
    dot + s * h.1.iter().sum::<f64>()
}

#[test]
fn hvp_is_symmetric() {
    for op in OPS {
        for direction in DIRECTIONS {
            for (k, (eps, n)) in [(0.2, 7), (1.5, 7), (0.05, 20), (0.7, 35)]
                .into_iter()
                .enumerate()
            {
                let c = Case::new(op, Shape { batch: 4, n }, direction, eps, 20 + k as u64);
                let (t, w) = (c.tangents(30 + k as u64), c.tangents(40 + k as u64));
                for (s, sw) in [(0.6, -1.3), (0.0, 0.8), (-0.4, 0.0)] {
                    let a = pairing(&w, sw, &hvp::<f64>(&c, &t, s));
                    let b = pairing(&t, s, &hvp::<f64>(&c, &w, sw));
                    assert!(
                        (a - b).abs() <= 1e-10 * a.abs().max(b.abs()).max(1.0),
                        "{} {direction:?} ε={eps}: {a:e} vs {b:e}",
                        op.name()
                    );
                }
            }
        }
    }
}

#[test]
fn f32_agrees_with_f64() {
    for op in OPS {
        for direction in DIRECTIONS {
            for n in [1, 5, 33] {
                let c =
                    Case::new(op, Shape { batch: 3, n }, direction, 0.5, 50 + n as u64).rounded32();
                let t: Vec<Vec<f64>> = c
                    .tangents(60)
                    .iter()
                    .map(|v| v.iter().map(|&a| a as f32 as f64).collect())
                    .collect();
                let (x64, e64) = hvp::<f64>(&c, &t, 0.375);
                let (x32, e32) = hvp::<f32>(&c, &t, 0.375);
                let at = format!("{} {direction:?} n={n}", op.name());
                for (k, name) in op.inputs().iter().enumerate() {
                    close(&format!("{at}: hvp_{name}"), &x32[k], &x64[k], 1e-4);
                }
                close(
                    &format!("{at}: hvp_regularization_strength"),
                    &e32,
                    &e64,
                    1e-4,
                );
            }
        }
    }
}

/// Bit-identical results on 1, 2, 3 and 4 threads, for batches large enough to run in parallel.
#[test]
fn hvp_does_not_depend_on_threads() {
    let _threads = THREADS.lock().unwrap_or_else(|e| e.into_inner());
    for op in OPS {
        let shape = if op == Op::NeuralSort {
            Shape { batch: 64, n: 60 }
        } else {
            Shape { batch: 100, n: 90 }
        };
        for direction in DIRECTIONS {
            let c = Case::new(op, shape, direction, 0.3, 70);
            let t = c.tangents(71);
            let mut seen: Vec<Vec<u64>> = vec![];
            for threads in [1, 2, 3, 4] {
                set_num_threads(threads);
                let (h, he) = hvp::<f64>(&c, &t, 0.25);
                let (h32, he32) = hvp::<f32>(&c.rounded32(), &t, 0.25);
                let all = h.iter().chain(&h32).flatten().chain(&he).chain(&he32);
                seen.push(all.map(|v| v.to_bits()).collect());
            }
            set_num_threads(0);
            assert!(
                seen.windows(2).all(|w| w[0] == w[1]),
                "{} {direction:?}: results differ across thread counts",
                op.name()
            );
        }
    }
}

/// The payload enters linearly: along the payload alone, hvp_payload is exactly 0 (and the
/// mixed values/payload terms are not).
#[test]
fn neural_sort_apply_has_no_payload_payload_term() {
    let c = Case::new(
        Op::NeuralSortApply,
        Shape { batch: 2, n: 9 },
        Direction::Descending,
        0.4,
        80,
    );
    let mut t = c.tangents(81);
    t[0].fill(0.0);
    let (h, he) = hvp::<f64>(&c, &t, 0.0);
    assert!(h[1].iter().all(|&v| v == 0.0), "{:?}", h[1]);
    assert!(max_abs(&h[0]) > 1e-3 && max_abs(&he) > 1e-3);
}

fn message<T: Real>(op: Op, shape: Shape, call: &mut Call<T>) -> String {
    call.run(op, shape, Direction::Ascending)
        .expect_err(op.name())
        .to_string()
}

/// Lengths, non-finite tangents and cotangents, a bad ε or ε-tangent, a corrupt save: clear
/// errors naming the op, the argument and the element.
#[test]
fn bad_input_is_a_clear_error() {
    let shape = Shape { batch: 2, n: 3 };
    for op in OPS {
        let name = op.name();
        let c = Case::new(op, shape, Direction::Ascending, 0.5, 90);
        let t = c.tangents(91);
        let fresh = || Call::<f64>::new(&c, &t, 0.2);
        let mut ok = fresh();
        ok.run(op, shape, Direction::Ascending).unwrap();

        for (k, input) in op.inputs().iter().enumerate() {
            for (at, v, shown) in [
                (1, f64::NAN, "NaN"),
                (5, f64::INFINITY, "+inf"),
                (5, f64::NEG_INFINITY, "-inf"),
            ] {
                let mut call = fresh();
                call.tangents[k][at] = v;
                assert_eq!(
                    message(op, shape, &mut call),
                    format!("{name}: tangent_{input}[{}, {}] is {shown}", at / 3, at % 3)
                );
            }
            let mut call = fresh();
            call.tangents[k].pop();
            assert_eq!(
                message(op, shape, &mut call),
                format!("{name}: tangent_{input} has 5 elements, expected batch × n = 2 × 3 = 6")
            );
            let mut call = fresh();
            call.out[k].push(0.0);
            assert_eq!(
                message(op, shape, &mut call),
                format!("{name}: hvp_{input} has 7 elements, expected batch × n = 2 × 3 = 6")
            );
        }
        let mut call = fresh();
        call.out_eps.pop();
        assert_eq!(
            message(op, shape, &mut call),
            format!("{name}: hvp_regularization_strength has 1 elements, expected batch = 2")
        );

        let mut call = fresh();
        call.cot[2] = f64::NAN;
        let e = message(op, shape, &mut call);
        assert!(
            e.starts_with(&format!("{name}: {}[", op.cotangent())) && e.ends_with("is NaN"),
            "{e}"
        );

        for (s, shown) in [(f64::NAN, "NaN"), (f64::NEG_INFINITY, "-inf")] {
            let mut call = fresh();
            call.s = s;
            assert_eq!(
                message(op, shape, &mut call),
                format!("{name}: tangent_regularization_strength is {shown}")
            );
        }
        let mut call = fresh();
        call.s = 1e308;
        let e = message(op, shape, &mut call);
        assert!(
            e.starts_with(&format!("{name}: tangent_regularization_strength"))
                && e.contains("overflows"),
            "{e}"
        );

        for eps in [0.0, -1.0, f64::NAN] {
            let mut call = fresh();
            call.eps = eps;
            let e = message(op, shape, &mut call);
            assert!(
                e.starts_with(&format!(
                    "{name}: regularization_strength must be finite and > 0"
                )),
                "{e}"
            );
        }

        let mut call = fresh();
        call.inputs[0][4] = f64::NAN;
        assert_eq!(
            message(op, shape, &mut call),
            format!("{name}: values[1, 1] is NaN")
        );

        if op == Op::NeuralSort {
            let mut call = fresh();
            call.saved[3] = 1.5;
            let e = message(op, shape, &mut call);
            assert!(
                e.starts_with(
                    "neural_sort: permutation_matrix[0, 1, 0] = 1.5 is not a probability"
                ),
                "{e}"
            );
            let mut call = fresh();
            call.saved.pop();
            let e = message(op, shape, &mut call);
            assert!(
                e.starts_with("neural_sort: permutation_matrix has 17"),
                "{e}"
            );
        }
    }
}

/// sigmoid_rank's HVP refuses the work its forward refuses.
#[test]
fn sigmoid_rank_hvp_has_the_pair_limit() {
    let shape = Shape {
        batch: 1,
        n: 100_000,
    };
    let z = vec![0.0f64; shape.n];
    let (mut h, mut he) = (z.clone(), vec![0.0]);
    let p = sigmoid_rank::Params::<f64>::default();
    let e = sigmoid_rank::hvp(shape, &p, &z, None, &z, &z, 0.0, &mut h, &mut he).unwrap_err();
    assert!(
        e.to_string()
            .starts_with("sigmoid_rank: n = 100000 with batch = 1 needs"),
        "{e}"
    );
}

/// Empty batches and rows, single items, ties and extreme values: finite results, no panic.
#[test]
fn edge_shapes_and_extreme_values() {
    for op in OPS {
        for shape in [
            Shape { batch: 0, n: 4 },
            Shape { batch: 2, n: 0 },
            Shape { batch: 2, n: 1 },
        ] {
            let c = Case::new(op, shape, Direction::Descending, 0.7, 100);
            let t = c.tangents(101);
            let (h, he) = hvp::<f64>(&c, &t, 0.3);
            assert!(
                h.iter().flatten().chain(&he).all(|&v| v == 0.0),
                "{op:?} {shape:?}"
            );
        }
        // Ties: finite (a subgradient of the kink for neural_sort).
        let shape = Shape { batch: 2, n: 5 };
        let mut c = Case::new(op, shape, Direction::Ascending, 0.7, 102);
        c.inputs[0] = c.inputs[0].iter().map(|v| v.round()).collect();
        let t = c.tangents(103);
        let (h, he) = hvp::<f64>(&c, &t, 0.3);
        assert!(
            h.iter().flatten().chain(&he).all(|v| v.is_finite()),
            "{op:?}"
        );
        // Far temperatures: one-hot rows (logits clamped) and flat ones; f32 too.
        for eps in [1e-6, 1e6] {
            let c = Case::new(
                op,
                Shape { batch: 2, n: 12 },
                Direction::Descending,
                eps,
                106,
            );
            let t = c.tangents(107);
            let (h, he) = hvp::<f64>(&c, &t, 0.3 * eps);
            assert!(
                h.iter().flatten().chain(&he).all(|v| v.is_finite()),
                "{op:?} ε={eps}"
            );
            let (h, he) = hvp::<f32>(&c.rounded32(), &t, 0.3 * eps);
            assert!(
                h.iter().flatten().chain(&he).all(|v| v.is_finite()),
                "{op:?} ε={eps}"
            );
        }
    }
    // sigmoid_rank: |t| from 0 to ∞ (exp(−|t|) underflows, t itself overflows).
    let x = vec![
        1e300, -1e300, 0.0, 1e-300, 3.0, -1e300, 1e300, 2.0, 1e10, -7e299,
    ];
    let shape = Shape {
        batch: 1,
        n: x.len(),
    };
    for eps in [1e-8, 1e-3, 1.0, 1e8] {
        let mut c = Case::new(Op::SigmoidRank, shape, Direction::Ascending, eps, 104);
        c.inputs[0] = x.clone();
        let t = c.tangents(105);
        let (h, he) = hvp::<f64>(&c, &t, 1e-9);
        assert!(
            h.iter().flatten().chain(&he).all(|v| v.is_finite()),
            "ε={eps}: {h:?} {he:?}"
        );
    }
}
