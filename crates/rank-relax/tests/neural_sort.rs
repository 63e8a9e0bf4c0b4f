//! neural_sort and neural_sort_apply (core only so far, not yet in the spec): every case of
//! `testdata/reference/wave2-neural-sort.json` (`RANK_RELAX_REFERENCE_NEURAL_SORT` overrides) in
//! f64 against the file and in f32 against our f64 result on the f32-rounded inputs; JVPs
//! against finite differences and adjoint to the VJPs; properties; extreme values; bad input;
//! threads.

mod common;

use std::sync::Mutex;

use common::reference::{assert_close, assert_close_rows};
use common::{cast, data, widen, zeros};
use rank_relax::ops::{neural_sort, neural_sort_apply};
use rank_relax::{set_num_threads, Direction, Error, ErrorKind, Real, Shape};
use serde_json::Value;

/// Serialises the tests that set the process-wide thread count.
static THREADS: Mutex<()> = Mutex::new(());

fn params<T: Real>(tau: f64, dir: Direction) -> neural_sort::Params<T> {
    neural_sort::Params {
        regularization_strength: T::from_f64(tau),
        direction: dir,
    }
}

/// What a forward (+ backward) produced, widened: the output, the gradients (values, then
/// payload for neural_sort_apply) and the τ-gradient per row.
#[derive(Clone, Debug, PartialEq)]
struct Outcome {
    output: Vec<f64>,
    grads: Vec<Vec<f64>>,
    grad_tau: Vec<f64>,
}

/// Runs `op`'s forward and, with a cotangent, its backward. `inputs` are values (and payload).
fn run<T: Real>(
    op: &str,
    shape: Shape,
    (tau, dir): (f64, Direction),
    inputs: &[Vec<T>],
    cotangent: Option<&[T]>,
) -> Result<Outcome, Error> {
    let (b, n) = (shape.batch, shape.n);
    let p = params::<T>(tau, dir);
    let mut ge = zeros::<T>(b);
    let mut out = Outcome {
        output: vec![],
        grads: vec![],
        grad_tau: vec![],
    };
    if op == "neural_sort" {
        let mut pm = zeros::<T>(b * n * n);
        neural_sort::forward(shape, &p, &inputs[0], None, &mut pm)?;
        out.output = widen(&pm);
        if let Some(u) = cotangent {
            let mut g = zeros::<T>(b * n);
            neural_sort::backward(shape, &p, &inputs[0], None, &pm, u, &mut g, &mut ge)?;
            out.grads = vec![widen(&g)];
            out.grad_tau = widen(&ge);
        }
    } else {
        let mut o = zeros::<T>(b * n);
        neural_sort_apply::forward(shape, &p, &inputs[0], &inputs[1], None, &mut o)?;
        out.output = widen(&o);
        if let Some(v) = cotangent {
            let (mut gx, mut gy) = (zeros::<T>(b * n), zeros::<T>(b * n));
            neural_sort_apply::backward(
                shape, &p, &inputs[0], &inputs[1], None, v, &mut gx, &mut gy, &mut ge,
            )?;
            out.grads = vec![widen(&gx), widen(&gy)];
            out.grad_tau = widen(&ge);
        }
    }
    Ok(out)
}

/// `op`'s JVP after its forward: one tangent per input, the τ-tangent; the output tangent.
fn jvp<T: Real>(
    op: &str,
    shape: Shape,
    (tau, dir): (f64, Direction),
    inputs: &[Vec<T>],
    tangents: &[Vec<T>],
    t_tau: T,
) -> Result<Vec<f64>, Error> {
    let (b, n) = (shape.batch, shape.n);
    let p = params::<T>(tau, dir);
    if op == "neural_sort" {
        let mut pm = zeros::<T>(b * n * n);
        neural_sort::forward(shape, &p, &inputs[0], None, &mut pm)?;
        let mut dp = zeros::<T>(b * n * n);
        neural_sort::jvp(
            shape,
            &p,
            &inputs[0],
            None,
            &pm,
            &tangents[0],
            t_tau,
            &mut dp,
        )?;
        Ok(widen(&dp))
    } else {
        let mut d = zeros::<T>(b * n);
        neural_sort_apply::jvp(
            shape,
            &p,
            &inputs[0],
            &inputs[1],
            None,
            &tangents[0],
            &tangents[1],
            t_tau,
            &mut d,
        )?;
        Ok(widen(&d))
    }
}

const OPS: [&str; 2] = ["neural_sort", "neural_sort_apply"];

/// Output elements per row.
fn width(op: &str, n: usize) -> usize {
    if op == "neural_sort" {
        n * n
    } else {
        n
    }
}

/// Random inputs (values in [-2, 2), payload in [-1, 3)) for `op`.
fn inputs(op: &str, shape: Shape, seed: u64) -> Vec<Vec<f64>> {
    let mut rng = data::rng(seed);
    let len = shape.batch * shape.n;
    let mut v = vec![data::uniform(&mut rng, len, -2.0, 2.0)];
    if op == "neural_sort_apply" {
        v.push(data::uniform(&mut rng, len, -1.0, 3.0));
    }
    v
}

// ---- the reference file ---------------------------------------------------------------------

/// Nested arrays flattened in row-major order.
fn flat(v: &Value, out: &mut Vec<f64>) {
    match v {
        Value::Array(items) => items.iter().for_each(|x| flat(x, out)),
        x => out.push(x.as_f64().expect("number")),
    }
}

fn flatten(v: &Value) -> Vec<f64> {
    let mut out = vec![];
    flat(v, &mut out);
    out
}

struct Case {
    op: String,
    tau: f64,
    dir: Direction,
    shape: Shape,
    inputs: Vec<Vec<f64>>,
    output: Vec<f64>,
    cotangent: Vec<f64>,
    vjp: Vec<Vec<f64>>,
    grad_tau: Vec<f64>,
}

fn load() -> Vec<Case> {
    let cases: Vec<Case> =
        common::reference::cases("RANK_RELAX_REFERENCE_NEURAL_SORT", "wave2-neural-sort.json")
            .iter()
            .map(|c| {
                let op = c["op"].as_str().expect("op").to_string();
                let names: &[&str] = if op == "neural_sort" {
                    &["values"]
                } else {
                    &["values", "payload"]
                };
                let rows = c["inputs"]["values"].as_array().expect("rows");
                let shape = Shape {
                    batch: rows.len(),
                    n: rows[0].as_array().expect("row").len(),
                };
                Case {
                    tau: c["params"]["regularization_strength"].as_f64().expect("τ"),
                    dir: Direction::parse(c["params"]["direction"].as_str().expect("direction"))
                        .expect("direction"),
                    shape,
                    inputs: names.iter().map(|k| flatten(&c["inputs"][*k])).collect(),
                    output: flatten(&c["output"]),
                    cotangent: flatten(&c["cotangent"]),
                    vjp: names.iter().map(|k| flatten(&c["vjp"][*k])).collect(),
                    grad_tau: flatten(&c["grad_regularization_strength"]),
                    op,
                }
            })
            .collect();
    assert!(!cases.is_empty());
    cases
}

#[test]
fn reference_cases_f64() {
    let cases = load();
    let mut counts = [0usize; 2];
    for (i, c) in cases.iter().enumerate() {
        let what = format!(
            "case {i} ({} τ={} {:?}, {}×{})",
            c.op, c.tau, c.dir, c.shape.batch, c.shape.n
        );
        let got = run::<f64>(
            &c.op,
            c.shape,
            (c.tau, c.dir),
            &c.inputs,
            Some(&c.cotangent),
        )
        .unwrap_or_else(|e| panic!("{what}: {e}"));
        assert_close(
            &format!("{what} output"),
            &got.output,
            &c.output,
            1e-9,
            1e-9,
        );
        for (k, want) in c.vjp.iter().enumerate() {
            assert_close(&format!("{what} vjp[{k}]"), &got.grads[k], want, 1e-7, 1e-9);
        }
        assert_close(
            &format!("{what} τ-gradient"),
            &got.grad_tau,
            &c.grad_tau,
            1e-7,
            1e-9,
        );
        counts[usize::from(c.op != "neural_sort")] += 1;
    }
    assert!(counts[0] > 0 && counts[1] > 0, "{counts:?}");
}

#[test]
fn reference_cases_f32() {
    for (i, c) in load().iter().enumerate() {
        let what = format!("case {i} ({} τ={} {:?})", c.op, c.tau, c.dir);
        let round = |v: &[f64]| v.iter().map(|&x| x as f32).collect::<Vec<f32>>();
        let in32: Vec<Vec<f32>> = c.inputs.iter().map(|v| round(v)).collect();
        let cot32 = round(&c.cotangent);
        let in64: Vec<Vec<f64>> = in32.iter().map(|v| widen(v)).collect();
        let tau = c.tau as f32 as f64;
        let p = (tau, c.dir);
        let want = run::<f64>(&c.op, c.shape, p, &in64, Some(&widen(&cot32))).expect(&what);
        let got = run::<f32>(&c.op, c.shape, p, &in32, Some(&cot32)).expect(&what);
        let w = width(&c.op, c.shape.n);
        assert_close_rows(
            &format!("{what} output"),
            &got.output,
            &want.output,
            w,
            1e-4,
            1e-8,
        );
        for (k, (g, x)) in got.grads.iter().zip(&want.grads).enumerate() {
            assert_close_rows(&format!("{what} vjp[{k}]"), g, x, c.shape.n, 1e-4, 1e-8);
        }
        assert_close_rows(
            &format!("{what} τ-grad"),
            &got.grad_tau,
            &want.grad_tau,
            1,
            1e-4,
            1e-8,
        );
    }
}

// ---- JVPs -----------------------------------------------------------------------------------

/// The output at `inputs + h·tangents`, τ + h·t_τ.
fn moved(
    op: &str,
    shape: Shape,
    (tau, dir): (f64, Direction),
    x: &[Vec<f64>],
    t: &[Vec<f64>],
    t_tau: f64,
    h: f64,
) -> Vec<f64> {
    let shifted: Vec<Vec<f64>> = x
        .iter()
        .zip(t)
        .map(|(a, b)| a.iter().zip(b).map(|(a, b)| a + h * b).collect())
        .collect();
    run::<f64>(op, shape, (tau + h * t_tau, dir), &shifted, None)
        .expect("forward")
        .output
}

#[test]
fn jvp_matches_finite_differences() {
    let mut checked = 0usize;
    for op in OPS {
        for dir in Direction::ALL.iter().copied() {
            for tau in [0.1, 1.0, 10.0] {
                for n in [1usize, 2, 5, 16] {
                    for t_tau in [0.0, 0.7] {
                        let shape = Shape { batch: 2, n };
                        let seed = checked as u64 * 31 + 3;
                        let x = inputs(op, shape, seed);
                        let t = inputs(op, shape, seed ^ 0x77);
                        let p = (tau, dir);
                        let what = format!("{op} {dir} τ={tau} n={n} t_τ={t_tau}");
                        let got = jvp::<f64>(op, shape, p, &x, &t, t_tau).expect(&what);
                        let h = 1e-5 * tau.min(1.0);
                        let plus = moved(op, shape, p, &x, &t, t_tau, h);
                        let minus = moved(op, shape, p, &x, &t, t_tau, -h);
                        for (k, &a) in got.iter().enumerate() {
                            let fd = (plus[k] - minus[k]) / (2.0 * h);
                            let noise = 64.0 * f64::EPSILON * (n * n) as f64 / (h * tau);
                            let tol = 1e-6 * a.abs().max(fd.abs()).max(1.0) + noise;
                            assert!((a - fd).abs() <= tol, "{what}[{k}]: jvp {a:e} vs fd {fd:e}");
                        }
                        checked += 1;
                    }
                }
            }
        }
    }
    assert_eq!(checked, 2 * 2 * 3 * 4 * 2);
}

#[test]
fn jvp_is_adjoint_to_vjp() {
    for op in OPS {
        for dir in Direction::ALL.iter().copied() {
            for tau in [1e-3, 0.05, 1.0, 50.0] {
                for n in [1usize, 3, 17, 64] {
                    let shape = Shape { batch: 3, n };
                    let seed = (n as u64) * 1009 + (tau * 1e3) as u64;
                    let x = inputs(op, shape, seed);
                    let t = inputs(op, shape, seed + 1);
                    let mut rng = data::rng(seed + 2);
                    let u = data::uniform(&mut rng, 3 * width(op, n), -1.0, 1.0);
                    let t_tau = 0.3;
                    let p = (tau, dir);
                    let what = format!("{op} {dir} τ={tau} n={n}");
                    let out = jvp::<f64>(op, shape, p, &x, &t, t_tau).expect(&what);
                    let back = run::<f64>(op, shape, p, &x, Some(&u)).expect(&what);
                    let dot = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(a, b)| a * b).sum();
                    let lhs: f64 = dot(&u, &out);
                    let mut rhs: f64 = back.grads.iter().zip(&t).map(|(g, t)| dot(g, t)).sum();
                    rhs += t_tau * back.grad_tau.iter().sum::<f64>();
                    let scale: f64 = u.iter().zip(&out).map(|(a, b)| (a * b).abs()).sum::<f64>()
                        + back
                            .grads
                            .iter()
                            .zip(&t)
                            .map(|(g, t)| g.iter().zip(t).map(|(a, b)| (a * b).abs()).sum::<f64>())
                            .sum::<f64>()
                        + (t_tau * back.grad_tau.iter().map(|g| g.abs()).sum::<f64>()).abs();
                    assert!(
                        (lhs - rhs).abs() <= 1e-10 * scale.max(1e-300) + 1e-300,
                        "{what}: ⟨u, jvp⟩ = {lhs:e}, ⟨vjp, t⟩ = {rhs:e}"
                    );
                }
            }
        }
    }
}

#[test]
fn jvp_f32_matches_f64() {
    for op in OPS {
        let shape = Shape { batch: 3, n: 20 };
        let x = inputs(op, shape, 5);
        let t = inputs(op, shape, 6);
        let r32 = |v: &[Vec<f64>]| -> Vec<Vec<f32>> { v.iter().map(|a| cast::<f32>(a)).collect() };
        let (x32, t32) = (r32(&x), r32(&t));
        let w64 = |v: &[Vec<f32>]| -> Vec<Vec<f64>> { v.iter().map(|a| widen(a)).collect() };
        for tau in [0.01, 0.5] {
            let p = (tau as f32 as f64, Direction::Descending);
            let want = jvp::<f64>(op, shape, p, &w64(&x32), &w64(&t32), 0.25).unwrap();
            let got = jvp::<f32>(op, shape, p, &x32, &t32, 0.25).unwrap();
            assert_close_rows(op, &got, &want, width(op, 20), 1e-4, 1e-8);
        }
    }
}

// ---- properties -----------------------------------------------------------------------------

#[test]
fn rows_of_p_are_distributions_and_sort_as_tau_vanishes() {
    let n = 40;
    let shape = Shape { batch: 2, n };
    // Distinct values at least 1e-3 apart.
    let mut x: Vec<f64> = (0..2 * n)
        .map(|i| ((i * 37) % (2 * n)) as f64 * 1e-3)
        .collect();
    x[3] = -5.0;
    for dir in Direction::ALL.iter().copied() {
        for tau in [1e-7, 0.3, 20.0] {
            let o = run::<f64>(
                "neural_sort",
                shape,
                (tau, dir),
                std::slice::from_ref(&x),
                None,
            )
            .unwrap();
            for (r, pm) in o.output.chunks(n * n).enumerate() {
                for row in pm.chunks(n) {
                    assert!(row.iter().all(|&p| (0.0..=1.0).contains(&p)));
                    let s: f64 = row.iter().sum();
                    assert!((s - 1.0).abs() < 1e-12, "row sum {s}");
                }
                if tau == 1e-7 {
                    let xr = &x[r * n..(r + 1) * n];
                    let mut sorted = xr.to_vec();
                    sorted.sort_by(f64::total_cmp);
                    if dir == Direction::Descending {
                        sorted.reverse();
                    }
                    for (i, row) in pm.chunks(n).enumerate() {
                        let px: f64 = row.iter().zip(xr).map(|(p, v)| p * v).sum();
                        assert!(
                            (px - sorted[i]).abs() < 1e-12,
                            "{dir} (Px)[{i}] {px} vs {}",
                            sorted[i]
                        );
                    }
                }
            }
        }
    }
}

#[test]
fn apply_equals_neural_sort_then_matmul() {
    for dir in Direction::ALL.iter().copied() {
        for tau in [1e-3, 0.1, 3.0] {
            for n in [1usize, 2, 7, 33, 100] {
                let shape = Shape { batch: 2, n };
                let xy = inputs("neural_sort_apply", shape, n as u64 + 11);
                let (x, y) = (&xy[0], &xy[1]);
                let mut rng = data::rng(n as u64);
                let v = data::uniform(&mut rng, 2 * n, -1.0, 1.0);
                let t = inputs("neural_sort_apply", shape, n as u64 + 12);
                let p = (tau, dir);
                let what = format!("{dir} τ={tau} n={n}");
                let ap = run::<f64>("neural_sort_apply", shape, p, &xy, Some(&v)).unwrap();
                // neural_sort with U = v yᵀ per row.
                let mut u = vec![0.0; 2 * n * n];
                for r in 0..2 {
                    for i in 0..n {
                        for j in 0..n {
                            u[r * n * n + i * n + j] = v[r * n + i] * y[r * n + j];
                        }
                    }
                }
                let ns =
                    run::<f64>("neural_sort", shape, p, std::slice::from_ref(x), Some(&u)).unwrap();
                let (mut py, mut ptv) = (vec![0.0; 2 * n], vec![0.0; 2 * n]);
                for r in 0..2 {
                    for i in 0..n {
                        for j in 0..n {
                            let pij = ns.output[r * n * n + i * n + j];
                            py[r * n + i] += pij * y[r * n + j];
                            ptv[r * n + j] += pij * v[r * n + i];
                        }
                    }
                }
                let close = |what: &str, a: &[f64], b: &[f64], scale: f64| {
                    for (k, (a, b)) in a.iter().zip(b).enumerate() {
                        assert!(
                            (a - b).abs() <= 1e-12 * scale,
                            "{what}[{k}]: {a:e} vs {b:e}"
                        );
                    }
                };
                let gscale = ns.grads[0].iter().fold(1.0f64, |m, g| m.max(g.abs()));
                close(&format!("{what} output"), &ap.output, &py, 3.0);
                close(
                    &format!("{what} grad payload"),
                    &ap.grads[1],
                    &ptv,
                    n as f64,
                );
                close(
                    &format!("{what} grad values"),
                    &ap.grads[0],
                    &ns.grads[0],
                    gscale * n as f64,
                );
                let tscale = ns.grad_tau.iter().fold(1.0f64, |m, g| m.max(g.abs()));
                close(
                    &format!("{what} τ-grad"),
                    &ap.grad_tau,
                    &ns.grad_tau,
                    tscale * n as f64,
                );
                // The JVP likewise: P's tangent times the payload, plus P times its tangent.
                let (tx, ty) = (&t[0], &t[1]);
                let dout = jvp::<f64>("neural_sort_apply", shape, p, &xy, &t, 0.4).unwrap();
                let dp = jvp::<f64>(
                    "neural_sort",
                    shape,
                    p,
                    std::slice::from_ref(x),
                    std::slice::from_ref(tx),
                    0.4,
                )
                .unwrap();
                let mut want = vec![0.0; 2 * n];
                for r in 0..2 {
                    for i in 0..n {
                        for j in 0..n {
                            let k = r * n * n + i * n + j;
                            want[r * n + i] += dp[k] * y[r * n + j] + ns.output[k] * ty[r * n + j];
                        }
                    }
                }
                let jscale = want.iter().fold(1.0f64, |m, g| m.max(g.abs()));
                close(&format!("{what} jvp"), &dout, &want, jscale * n as f64);
            }
        }
    }
}

// ---- extreme values, bad input, threads -----------------------------------------------------

#[test]
fn extreme_values_give_finite_results_or_errors() {
    let shape = Shape { batch: 2, n: 16 };
    let mut rng = data::rng(99);
    let spans: [(f64, f64); 4] = [
        (1e-300, 1e-290),
        (1.0, 1e10),
        (1e-300, 1e300),
        (1e290, 1e300),
    ];
    for (lo, hi) in spans {
        let x: Vec<f64> = (0..32)
            .map(|i| {
                let e = lo.log10() + (hi.log10() - lo.log10()) * (i % 16) as f64 / 15.0;
                let s = if i % 3 == 0 { -1.0 } else { 1.0 };
                s * 10f64.powf(e)
            })
            .collect();
        let y = data::uniform(&mut rng, 32, -1.0, 1.0);
        for op in OPS {
            for tau in [1e-8, 1e-3, 1.0, 1e8] {
                for dir in Direction::ALL.iter().copied() {
                    let what = format!("{op} τ={tau:e} {lo:e}..{hi:e} {dir}");
                    let ins: Vec<Vec<f64>> = if op == "neural_sort" {
                        vec![x.clone()]
                    } else {
                        vec![x.clone(), y.clone()]
                    };
                    let u = data::uniform(&mut rng, 2 * width(op, 16), -1.0, 1.0);
                    let o = run::<f64>(op, shape, (tau, dir), &ins, Some(&u)).expect(&what);
                    let finite = o
                        .output
                        .iter()
                        .chain(o.grads.iter().flatten())
                        .chain(&o.grad_tau)
                        .all(|v| v.is_finite());
                    assert!(finite, "{what}");
                    let t: Vec<Vec<f64>> = ins
                        .iter()
                        .map(|v| data::uniform(&mut rng, v.len(), -1.0, 1.0))
                        .collect();
                    let d = jvp::<f64>(op, shape, (tau, dir), &ins, &t, 0.5).expect(&what);
                    assert!(d.iter().all(|v| v.is_finite()), "{what} jvp");
                    // f32: never NaN (gradients may saturate to ±inf at tiny τ, as documented
                    // for the other ops).
                    let r32: Vec<Vec<f32>> = ins.iter().map(|v| cast::<f32>(v)).collect();
                    let u32v = cast::<f32>(&u);
                    if let Ok(o) = run::<f32>(op, shape, (tau, dir), &r32, Some(&u32v)) {
                        let nan = o
                            .output
                            .iter()
                            .chain(o.grads.iter().flatten())
                            .chain(&o.grad_tau)
                            .any(|v| v.is_nan());
                        assert!(!nan, "{what} f32");
                        assert!(o.output.iter().all(|v| v.is_finite()), "{what} f32 output");
                    }
                }
            }
        }
    }
    // Values whose logits' numerators overflow: an error, never NaN.
    let x = vec![1e307, -1e307, 0.0, 5.0];
    for op in OPS {
        let ins: Vec<Vec<f64>> = if op == "neural_sort" {
            vec![x.clone()]
        } else {
            vec![x.clone(), vec![1.0; 4]]
        };
        let e = run::<f64>(
            op,
            Shape::new(1, 4),
            (1.0, Direction::Ascending),
            &ins,
            None,
        )
        .unwrap_err();
        assert_eq!(e.kind, ErrorKind::InvalidArgument);
        assert_eq!(
            e.message,
            format!("{op}: values are too large: 6 × n × max |values| overflows (max |values| = 1e307, n = 4)")
        );
    }
}

#[test]
fn bad_input_is_a_clear_error() {
    let shape = Shape::new(2, 2);
    let p = params::<f64>(0.5, Direction::Ascending);
    let x = vec![1.0, 2.0, 3.0, 4.0];
    let mut pm = vec![0.0; 8];
    let msg = |r: Result<(), Error>| {
        let e = r.unwrap_err();
        (e.kind, e.message)
    };
    // τ.
    for tau in [0.0, -1.0, f64::NAN, f64::INFINITY] {
        let bad = params::<f64>(tau, Direction::Ascending);
        let (k, m) = msg(neural_sort::forward(shape, &bad, &x, None, &mut pm));
        assert_eq!(k, ErrorKind::InvalidArgument);
        assert!(
            m.starts_with("neural_sort: regularization_strength must be finite and > 0"),
            "{m}"
        );
        let mut o = vec![0.0; 4];
        let (k, m) = msg(neural_sort_apply::forward(
            shape, &bad, &x, &x, None, &mut o,
        ));
        assert_eq!(k, ErrorKind::InvalidArgument);
        assert!(
            m.starts_with("neural_sort_apply: regularization_strength must be finite"),
            "{m}"
        );
    }
    // NaN values and payload.
    let mut xn = x.clone();
    xn[3] = f64::NAN;
    assert_eq!(
        msg(neural_sort::forward(shape, &p, &xn, None, &mut pm)),
        (
            ErrorKind::InvalidValue,
            "neural_sort: values[1, 1] is NaN".into()
        )
    );
    let mut o = vec![0.0; 4];
    assert_eq!(
        msg(neural_sort_apply::forward(shape, &p, &x, &xn, None, &mut o)),
        (
            ErrorKind::InvalidValue,
            "neural_sort_apply: payload[1, 1] is NaN".into()
        )
    );
    // Lengths.
    let mut short = vec![0.0; 7];
    assert_eq!(
        msg(neural_sort::forward(shape, &p, &x, None, &mut short)),
        (
            ErrorKind::ShapeMismatch,
            "neural_sort: permutation_matrix has 7 elements, expected batch × n × n = 2 × 2 × 2 = 8".into()
        )
    );
    assert_eq!(
        msg(neural_sort_apply::forward(
            shape,
            &p,
            &x,
            &x[..3],
            None,
            &mut o
        )),
        (
            ErrorKind::ShapeMismatch,
            "neural_sort_apply: payload has 3 elements, expected batch × n = 2 × 2 = 4".into()
        )
    );
    assert_eq!(
        msg(neural_sort_apply::forward(
            shape,
            &p,
            &x,
            &x,
            None,
            &mut o[..3]
        )),
        (
            ErrorKind::ShapeMismatch,
            "neural_sort_apply: output has 3 elements, expected batch × n = 2 × 2 = 4".into()
        )
    );
    let huge = Shape::new(1 << 20, 1 << 22);
    assert_eq!(
        msg(neural_sort::forward(huge, &p, &[], None, &mut [])),
        (
            ErrorKind::ShapeMismatch,
            "neural_sort: values has 0 elements, expected batch × n = 1048576 × 4194304 = 4398046511104".into()
        )
    );
    let huge = Shape::new(1 << 30, 1 << 20);
    assert_eq!(
        msg(neural_sort::forward(huge, &p, &vec![0.0; 0][..], None, &mut [])).1,
        "neural_sort: values has 0 elements, expected batch × n = 1073741824 × 1048576 = 1125899906842624"
    );
    // Backward: a saved p that is not a probability, a non-finite cotangent, wrong gradients.
    neural_sort::forward(shape, &p, &x, None, &mut pm).unwrap();
    let u = vec![1.0; 8];
    let (mut g, mut ge) = (vec![0.0; 4], vec![0.0; 2]);
    let mut bad_p = pm.clone();
    bad_p[5] = 1.5;
    assert_eq!(
        msg(neural_sort::backward(
            shape, &p, &x, None, &bad_p, &u, &mut g, &mut ge
        )),
        (
            ErrorKind::InvalidValue,
            "neural_sort: permutation_matrix[1, 0, 1] = 1.5 is not a probability (entries of P lie in [0, 1])"
                .into()
        )
    );
    let mut bad_u = u.clone();
    bad_u[6] = f64::NEG_INFINITY;
    assert_eq!(
        msg(neural_sort::backward(
            shape, &p, &x, None, &pm, &bad_u, &mut g, &mut ge
        )),
        (
            ErrorKind::InvalidValue,
            "neural_sort: cotangent_permutation_matrix[1, 1, 0] is -inf".into()
        )
    );
    assert_eq!(
        msg(neural_sort::backward(
            shape,
            &p,
            &x,
            None,
            &pm,
            &u,
            &mut g,
            &mut ge[..1]
        )),
        (
            ErrorKind::ShapeMismatch,
            "neural_sort: grad_regularization_strength has 1 elements, expected batch = 2".into()
        )
    );
    let (mut gy, v) = (vec![0.0; 4], vec![1.0; 4]);
    assert_eq!(
        msg(neural_sort_apply::backward(
            shape,
            &p,
            &x,
            &x,
            None,
            &v,
            &mut g,
            &mut gy[..2],
            &mut ge
        )),
        (
            ErrorKind::ShapeMismatch,
            "neural_sort_apply: grad_payload has 2 elements, expected batch × n = 2 × 2 = 4".into()
        )
    );
    // JVP.
    let mut dp = vec![0.0; 8];
    assert_eq!(
        msg(neural_sort::jvp(
            shape,
            &p,
            &x,
            None,
            &pm,
            &x,
            f64::NAN,
            &mut dp
        )),
        (
            ErrorKind::InvalidValue,
            "neural_sort: tangent_regularization_strength is NaN".into()
        )
    );
    assert_eq!(
        msg(neural_sort_apply::jvp(
            shape, &p, &x, &x, None, &x, &xn, 0.0, &mut o
        )),
        (
            ErrorKind::InvalidValue,
            "neural_sort_apply: tangent_payload[1, 1] is NaN".into()
        )
    );
    // Empty shapes are fine; n = 1 gives P = [[1]] and zero gradients.
    for s in [Shape::new(0, 3), Shape::new(3, 0)] {
        neural_sort::forward(s, &p, &[], None, &mut []).unwrap();
        let mut ge = vec![7.0; s.batch];
        neural_sort::backward(s, &p, &[], None, &[], &[], &mut [], &mut ge).unwrap();
        assert!(ge.iter().all(|&g| g == 0.0));
        neural_sort_apply::forward(s, &p, &[], &[], None, &mut []).unwrap();
    }
    let one = Shape::new(2, 1);
    let mut p1 = vec![0.0; 2];
    neural_sort::forward(one, &p, &[3.0, -1.0], None, &mut p1).unwrap();
    assert_eq!(p1, [1.0, 1.0]);
}

#[test]
fn threads_do_not_change_results() {
    let _guard = THREADS.lock().unwrap_or_else(|e| e.into_inner());
    for op in OPS {
        let shape = Shape { batch: 37, n: 50 };
        let x = inputs(op, shape, 1);
        let t = inputs(op, shape, 2);
        let mut rng = data::rng(3);
        let u = data::uniform(&mut rng, 37 * width(op, 50), -1.0, 1.0);
        let mut results = vec![];
        for threads in [1, 2, 4] {
            set_num_threads(threads);
            let o = run::<f64>(op, shape, (0.2, Direction::Descending), &x, Some(&u)).unwrap();
            let d = jvp::<f64>(op, shape, (0.2, Direction::Descending), &x, &t, 0.3).unwrap();
            let u32v = cast::<f32>(&u);
            let x32: Vec<Vec<f32>> = x.iter().map(|v| cast::<f32>(v)).collect();
            let o32 =
                run::<f32>(op, shape, (0.2, Direction::Ascending), &x32, Some(&u32v)).unwrap();
            results.push((o, d, o32));
        }
        set_num_threads(0);
        assert!(results.windows(2).all(|w| w[0] == w[1]), "{op}");
    }
}
