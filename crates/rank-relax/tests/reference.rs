//! Every case of the reference file (`RANK_RELAX_REFERENCE`, default
//! `<repo>/testdata/reference/ops-v1.json`), forward and VJP: in f64 against the file, and in
//! f32 against our own f64 result on the f32-rounded inputs.

mod common;

use common::reference::{assert_close, assert_close_rows};
use common::{inputs_of, run, Outcome, P};
use rank_relax::{Direction, Regularization, Shape};
use serde_json::Value;

/// `[B][n]` (or `[B]`) as a flat vector, with its shape.
fn matrix(v: &Value) -> (Vec<f64>, usize, usize) {
    let rows = v.as_array().expect("array");
    let mut flat = vec![];
    let mut n = 0;
    for row in rows {
        match row {
            Value::Array(items) => {
                n = items.len();
                flat.extend(items.iter().map(|x| x.as_f64().expect("number")));
            }
            x => flat.push(x.as_f64().expect("number")),
        }
    }
    (flat, rows.len(), n)
}

fn params(v: &Value) -> P {
    let get = |name: &str| v.get(name).and_then(Value::as_str);
    P {
        eps: v["regularization_strength"].as_f64().unwrap_or(1.0),
        reg: get("regularization").map_or(Regularization::L2, |s| {
            Regularization::parse(s).expect("regularization")
        }),
        dir: get("direction").map_or(Direction::Ascending, |s| {
            Direction::parse(s).expect("direction")
        }),
    }
}

struct Case {
    op: String,
    p: P,
    shape: Shape,
    inputs: Vec<Vec<f64>>,
    output: Vec<f64>,
    cotangent: Option<Vec<f64>>,
    vjp: Vec<(usize, Vec<f64>)>,
}

fn parse(c: &Value) -> Case {
    let op = c["op"].as_str().expect("op").to_string();
    let names = inputs_of(&op);
    let mut shape = Shape::default();
    let inputs = names
        .iter()
        .map(|(name, _)| {
            let (flat, b, n) = matrix(&c["inputs"][*name]);
            shape = Shape { batch: b, n };
            flat
        })
        .collect();
    let cotangent = c.get("cotangent").map(|v| matrix(v).0);
    let mut vjp = vec![];
    if let Some(map) = c.get("vjp").and_then(Value::as_object) {
        let diff: Vec<_> = names.iter().filter(|(_, d)| *d).map(|(n, _)| *n).collect();
        for (name, v) in map {
            let pos = diff
                .iter()
                .position(|d| d == name)
                .unwrap_or_else(|| panic!("{op}: vjp for unknown input {name}"));
            vjp.push((pos, matrix(v).0));
        }
    }
    Case {
        p: params(&c["params"]),
        shape,
        inputs,
        output: matrix(&c["output"]).0,
        cotangent,
        vjp,
        op,
    }
}

fn load() -> Vec<Value> {
    common::reference::cases("RANK_RELAX_REFERENCE", "ops-v1.json")
}

fn describe(i: usize, c: &Case) -> String {
    format!(
        "case {i} ({} ε={} {:?} {:?}, {}×{})",
        c.op, c.p.eps, c.p.reg, c.p.dir, c.shape.batch, c.shape.n
    )
}

#[test]
fn reference_cases_f64() {
    let cases = load();
    let mut vjps = 0;
    for (i, c) in cases.iter().map(parse).enumerate() {
        let what = describe(i, &c);
        let got = run::<f64>(&c.op, c.p, c.shape, &c.inputs, c.cotangent.as_deref())
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        assert_close(
            &format!("{what} output"),
            &got.output,
            &c.output,
            1e-9,
            1e-9,
        );
        for (pos, want) in &c.vjp {
            assert_close(
                &format!("{what} vjp[{pos}]"),
                &got.grads[*pos],
                want,
                1e-7,
                1e-9,
            );
            vjps += 1;
        }
    }
    assert!(vjps > 0, "the reference file checked no VJP");
}

#[test]
fn reference_cases_f32() {
    for (i, c) in load().iter().map(parse).enumerate() {
        let what = describe(i, &c);
        let round = |v: &[f64]| v.iter().map(|&x| x as f32).collect::<Vec<f32>>();
        let inputs32: Vec<Vec<f32>> = c.inputs.iter().map(|v| round(v)).collect();
        let cot32 = c.cotangent.as_deref().map(round);
        let widen = |v: &[f32]| v.iter().map(|&x| x as f64).collect::<Vec<f64>>();
        let inputs64: Vec<Vec<f64>> = inputs32.iter().map(|v| widen(v)).collect();
        let cot64 = cot32.as_deref().map(widen);
        let mut p = c.p;
        p.eps = p.eps as f32 as f64;

        let want: Outcome = run::<f64>(&c.op, p, c.shape, &inputs64, cot64.as_deref())
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        let got = run::<f32>(&c.op, p, c.shape, &inputs32, cot32.as_deref())
            .unwrap_or_else(|e| panic!("{what} f32: {e}"));
        let (width, floor) = if common::is_loss(&c.op) {
            (1, 1.0)
        } else {
            (c.shape.n, 0.0)
        };
        let out = format!("{what} output");
        assert_close_rows(&out, &got.output, &want.output, width, 1e-4, floor);
        for (k, (g, w)) in got.grads.iter().zip(&want.grads).enumerate() {
            // A gradient that is zero in f64 (a perfectly correlated pair, say) may be rounding
            // noise in f32: the floor of the scale is far below any real gradient.
            assert_close_rows(&format!("{what} vjp[{k}]"), g, w, c.shape.n, 1e-4, 1e-8);
        }
    }
}
