//! The Rust runner of the shared bad-input matrix (`testdata/bad-input.json`, or
//! `$RANK_RELAX_BAD_INPUT`): every case tagged `rust`, in each of its dtypes, through the core's
//! public API. Errors must have the exact kind and message; valid cases the expected output,
//! gradients and finiteness. The format is described in `testdata/README.md`.

mod common;

use std::path::PathBuf;

use common::dispatch::{self, Pass};
use common::{inputs_of, int_inputs_of, widen, Outcome};
use rank_relax::{Error, ErrorKind, Real, Shape};
use serde_json::Value;

const FORMAT: &str = "rank-relax bad-input matrix v1";

fn matrix_path() -> PathBuf {
    match std::env::var_os("RANK_RELAX_BAD_INPUT") {
        Some(p) => PathBuf::from(p),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata/bad-input.json"),
    }
}

fn load() -> Vec<Value> {
    let path = matrix_path();
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "cannot read the bad-input matrix {} ({e}); set RANK_RELAX_BAD_INPUT",
            path.display()
        )
    });
    let doc: Value = serde_json::from_str(&text).expect("the matrix is JSON");
    assert_eq!(doc["format"], FORMAT);
    doc["cases"].as_array().expect("cases").clone()
}

/// A number of the file: a JSON number, or "nan", "inf", "-inf".
fn number(v: &Value) -> f64 {
    match v {
        Value::Number(x) => x.as_f64().expect("f64"),
        Value::String(s) => match s.as_str() {
            "nan" => f64::NAN,
            "inf" => f64::INFINITY,
            "-inf" => f64::NEG_INFINITY,
            _ => panic!("not a number: {s:?}"),
        },
        _ => panic!("not a number: {v}"),
    }
}

/// A generator TENSOR (`{"shape", "fill", "set"}`): `fill(len)` in its shape, then each `set`
/// entry's `value` at its index. Flat row-major values and the shape.
fn generated<E>(
    g: &serde_json::Map<String, Value>,
    fill: impl FnOnce(usize) -> Vec<E>,
    value: impl Fn(&Value) -> E,
) -> (Vec<E>, Vec<usize>) {
    let shape: Vec<usize> = g["shape"]
        .as_array()
        .expect("shape")
        .iter()
        .map(|d| d.as_u64().expect("dimension") as usize)
        .collect();
    let mut flat = fill(shape.iter().product());
    for s in g.get("set").and_then(Value::as_array).into_iter().flatten() {
        let at: Vec<usize> = s["at"]
            .as_array()
            .expect("at")
            .iter()
            .map(|d| d.as_u64().expect("index") as usize)
            .collect();
        assert_eq!(at.len(), shape.len(), "`at` has one index per dimension");
        let flat_index = at.iter().zip(&shape).fold(0, |acc, (i, d)| acc * d + i);
        flat[flat_index] = value(&s["value"]);
    }
    (flat, shape)
}

/// A tensor of the file (a nested list, a scalar, or a generator) as flat row-major values
/// and its shape.
fn tensor(v: &Value) -> (Vec<f64>, Vec<usize>) {
    match v {
        Value::Object(g) => generated(
            g,
            |len| match &g["fill"] {
                Value::String(s) if s == "ramp" => (0..len)
                    .map(|i| ((7 * i + 3) % 11) as f64 / 4.0 - 1.0)
                    .collect(),
                Value::String(s) if s == "grades" => {
                    (0..len).map(|i| ((3 * i + 1) % 4) as f64).collect()
                }
                other => vec![number(other); len],
            },
            number,
        ),
        Value::Array(_) => {
            // Any depth: `[B][n]` inputs, `[B][n][n]` matrices.
            fn walk(v: &Value, depth: usize, flat: &mut Vec<f64>, shape: &mut Vec<usize>) {
                match v {
                    Value::Array(items) => {
                        if shape.len() == depth {
                            shape.push(items.len());
                        }
                        items.iter().for_each(|x| walk(x, depth + 1, flat, shape));
                    }
                    x => flat.push(number(x)),
                }
            }
            let (mut flat, mut shape) = (vec![], vec![]);
            walk(v, 0, &mut flat, &mut shape);
            (flat, shape)
        }
        other => (vec![number(other)], vec![]),
    }
}

/// A bool tensor of the file (an input whose spec dtype is bool: a mask) as flat row-major
/// values: a nested list of booleans, or a generator with a boolean `fill` and `set` values.
fn bool_tensor(v: &Value) -> Vec<bool> {
    let flag = |x: &Value| x.as_bool().unwrap_or_else(|| panic!("not a bool: {x}"));
    match v {
        Value::Object(g) => generated(g, |len| vec![flag(&g["fill"]); len], flag).0,
        Value::Array(rows) => rows
            .iter()
            .flat_map(|r| match r {
                Value::Array(items) => items.iter().map(flag).collect(),
                x => vec![flag(x)],
            })
            .collect(),
        other => vec![flag(other)],
    }
}

fn kind_name(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::InvalidValue => "InvalidValue",
        ErrorKind::InvalidArgument => "InvalidArgument",
        ErrorKind::ShapeMismatch => "ShapeMismatch",
    }
}

/// Runs one case in dtype `T` through the generated dispatch: its outcome, or the core's error.
fn execute<T: Real>(case: &Value) -> Result<Outcome, Error> {
    let op = case["op"].as_str().expect("op");
    let p = case.get("params").cloned().unwrap_or(Value::Null);
    let names = inputs_of(op);
    let (x, shape, alloc) = if let Some(cs) = case.get("call_shape") {
        // A shape given as numbers, with empty buffers (`batch × n` may not even fit memory).
        let dim = |k: &str| usize::try_from(cs[k].as_u64().expect("dimension")).expect("usize");
        let shape = Shape::new(dim("batch"), dim("n"));
        (vec![vec![]; names.len()], shape, Shape::new(0, 0))
    } else {
        let mut x: Vec<Vec<T>> = vec![];
        let mut first_shape = vec![];
        for (k, (name, _)) in names.iter().enumerate() {
            let (flat, shape) = tensor(&case["inputs"][*name]);
            if k == 0 {
                first_shape = shape;
            }
            x.push(flat.into_iter().map(T::from_f64).collect());
        }
        let shape = match (case.get("n"), first_shape.as_slice()) {
            (Some(n), _) => {
                let n = n.as_u64().expect("n") as usize;
                Shape::new(x[0].len().checked_div(n).unwrap_or(0), n)
            }
            (None, [b, n]) => Shape::new(*b, *n),
            (None, [n]) => Shape::new(1, *n),
            (None, s) => panic!("{op}: a {}-d input has no core shape", s.len()),
        };
        (x, shape, shape)
    };
    // An int32 input keeps its integers in every dtype of the case.
    let ints: Vec<Vec<i32>> = int_inputs_of(op)
        .iter()
        .map(|name| {
            let (flat, _) = tensor(&case["inputs"][*name]);
            flat.iter().map(|&v| v as i32).collect()
        })
        .collect();
    let mask = case["inputs"].get("mask").map(bool_tensor);
    let backward = case.get("pass").and_then(Value::as_str) == Some("backward");
    let cotangent: Option<Vec<T>> = if backward {
        Some(match case.get("cotangent") {
            Some(c) => tensor(c).0.into_iter().map(T::from_f64).collect(),
            None => vec![T::from_f64(1.0); dispatch::cotangent_lens(op, &p, alloc)?[0]],
        })
    } else {
        None
    };
    let u;
    let pass = match &cotangent {
        Some(c) => {
            u = [c.as_slice()];
            Pass::Vjp(&u)
        }
        None => Pass::Forward,
    };
    let r = dispatch::run(op, &p, shape, alloc, &x, &ints, mask.as_deref(), pass)?;
    Ok(Outcome {
        output: r.real_outputs.first().map_or(vec![], |o| widen(o)),
        grads: r.d.iter().map(|g| widen(g)).collect(),
        grad_eps: r.e.first().map_or(vec![], |e| widen(e)),
    })
}

fn close(got: &[f64], want: &[f64], tol: f64) -> bool {
    got.len() == want.len()
        && got
            .iter()
            .zip(want)
            .all(|(g, w)| (g - w).abs() <= tol * (1.0 + w.abs()))
}

/// Checks one case in dtype `T`; returns what went wrong.
fn check<T: Real>(case: &Value, expect: &Value) -> Result<(), String> {
    let op = case["op"].as_str().expect("op");
    let result = execute::<T>(case);
    if let Some(want) = expect.get("error") {
        let e = match result {
            Ok(_) => return Err("succeeded; want an error".into()),
            Err(e) => e,
        };
        let kind = want["kind"].as_str().expect("kind");
        if kind_name(e.kind) != kind {
            return Err(format!("kind {:?}, want {kind}: {}", e.kind, e.message));
        }
        if let Some(m) = want.get("message").and_then(Value::as_str) {
            if e.message != m {
                return Err(format!("message\n   got: {}\n  want: {m}", e.message));
            }
        }
        for part in want
            .get("contains")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let part = part.as_str().expect("string");
            if !e.message.contains(part) {
                return Err(format!("message {:?} lacks {part:?}", e.message));
            }
        }
        return Ok(());
    }
    assert_eq!(expect["ok"], true, "an expectation is an error or ok");
    let out = result.map_err(|e| format!("failed: {}", e.message))?;
    let tol = if T::DTYPE == "f64" { 1e-9 } else { 1e-5 };
    if let Some(want) = expect.get("output") {
        let want = tensor(want).0;
        if !close(&out.output, &want, tol) {
            return Err(format!("output {:?}, want {want:?}", out.output));
        }
    }
    if let Some(vjp) = expect.get("vjp").and_then(Value::as_object) {
        let diff: Vec<&str> = inputs_of(op)
            .iter()
            .filter(|(_, d)| *d)
            .map(|(n, _)| *n)
            .collect();
        for (name, want) in vjp {
            let k = diff
                .iter()
                .position(|d| d == name)
                .expect("differentiable input");
            let want = tensor(want).0;
            let got = out.grads.get(k).ok_or("no gradient computed")?;
            if !close(got, &want, tol) {
                return Err(format!("grad_{name} {got:?}, want {want:?}"));
            }
        }
    }
    if expect.get("finite") == Some(&Value::Bool(true)) {
        let all = out
            .output
            .iter()
            .chain(out.grads.iter().flatten())
            .chain(&out.grad_eps);
        if let Some(bad) = all.into_iter().find(|v| !v.is_finite()) {
            return Err(format!("non-finite result {bad}: {out:?}"));
        }
    }
    Ok(())
}

#[test]
fn every_rust_case_of_the_bad_input_matrix() {
    let cases = load();
    let (mut ran, mut failures) = (0usize, vec![]);
    for case in &cases {
        let id = case["id"].as_str().expect("id");
        let tagged = case
            .get("bindings")
            .and_then(Value::as_array)
            .is_none_or(|b| b.iter().any(|x| x == "rust"));
        if !tagged {
            continue;
        }
        let expect = case
            .get("overrides")
            .and_then(|o| o.get("rust"))
            .unwrap_or(&case["expect"]);
        let dtypes: Vec<&str> = match case.get("dtypes").and_then(Value::as_array) {
            Some(d) => d.iter().map(|x| x.as_str().expect("dtype")).collect(),
            None => vec!["float64", "float32"],
        };
        for dtype in dtypes {
            let outcome = match dtype {
                "float64" => check::<f64>(case, expect),
                "float32" => check::<f32>(case, expect),
                other => panic!("{id}: unknown dtype {other}"),
            };
            ran += 1;
            if let Err(why) = outcome {
                failures.push(format!("{id} ({dtype}): {why}"));
            }
        }
    }
    println!("bad-input matrix: {ran} runs of {} cases", cases.len());
    assert!(ran > 100, "only {ran} runs: is the matrix complete?");
    assert!(
        failures.is_empty(),
        "{} of {ran} failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
