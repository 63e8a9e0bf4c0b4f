//! soft_sort_topk: the reference vectors of `testdata/reference/soft-sort-topk.json`
//! (`RANK_RELAX_REFERENCE_SORT_TOPK` overrides the path) in f64 against the file and in f32 against
//! f64, the relation to soft_sort, and the JVP and HVP against finite differences.

mod common;

use common::all_ops::{call, D, P};
use common::reference::{assert_close, assert_close_rows, cases};
use common::{cast, data, widen};
use rank_relax::ops::{soft_sort, soft_sort_topk};
use rank_relax::{Direction, Real, Regularization, Shape};
use serde_json::Value;

const OP: &str = "soft_sort_topk";

fn flat(v: &Value) -> Vec<f64> {
    fn walk(v: &Value, into: &mut Vec<f64>) {
        match v {
            Value::Array(a) => a.iter().for_each(|x| walk(x, into)),
            x => into.push(x.as_f64().expect("a number")),
        }
    }
    let mut out = Vec::new();
    walk(v, &mut out);
    out
}

#[derive(Clone)]
struct Case {
    p: P,
    shape: Shape,
    values: Vec<f64>,
    mask: Option<Vec<bool>>,
    top_values: Vec<f64>,
    indices: Vec<i32>,
    cotangent: Vec<f64>,
    vjp: Option<(Vec<f64>, Vec<f64>)>,
}

fn load() -> Vec<Case> {
    cases("RANK_RELAX_REFERENCE_SORT_TOPK", "soft-sort-topk.json")
        .iter()
        .map(|c| {
            assert_eq!(c["op"], OP);
            let rows = c["inputs"]["values"].as_array().unwrap();
            let n = rows[0].as_array().unwrap().len();
            let mask = c["inputs"].get("mask").map(|m| {
                m.as_array()
                    .unwrap()
                    .iter()
                    .flat_map(|r| r.as_array().unwrap().iter().map(|b| b.as_bool().unwrap()))
                    .collect()
            });
            let vjp = c
                .get("vjp")
                .map(|v| (flat(&v["values"]), flat(&c["grad_regularization_strength"])));
            Case {
                p: P::from_json(&c["params"]),
                shape: Shape::new(rows.len(), n),
                values: flat(&c["inputs"]["values"]),
                mask,
                top_values: flat(&c["outputs"]["top_values"]),
                indices: flat(&c["outputs"]["indices"])
                    .iter()
                    .map(|&i| i as i32)
                    .collect(),
                cotangent: flat(&c["cotangents"]["top_values"]),
                vjp,
            }
        })
        .collect()
}

/// The top values, the indices and, where the case has a VJP, the gradient and ε-gradient.
type Got = (Vec<f64>, Vec<i32>, Option<(Vec<f64>, Vec<f64>)>);

/// Forward and, where the case has one, the VJP in `T`, widened.
fn run<T: Real>(c: &Case, values: &[f64]) -> Got {
    let x = vec![cast::<T>(values)];
    let u = cast::<T>(&c.cotangent);
    let d = if c.vjp.is_some() {
        D::Vjp(&u[..])
    } else {
        D::Forward
    };
    let r = call::<T>(OP, &c.p, c.shape, &x, c.mask.as_deref(), d).unwrap();
    let vjp = c.vjp.as_ref().map(|_| (widen(&r.d[0]), widen(&r.e)));
    (widen(&r.out), r.ints[0].clone(), vjp)
}

#[test]
fn reference_cases_f64() {
    let cases = load();
    for (i, c) in cases.iter().enumerate() {
        let what = format!("case {i} {:?} {:?}", c.p, c.shape);
        let (top, idx, vjp) = run::<f64>(c, &c.values);
        assert_eq!(idx, c.indices, "{what}: indices");
        let scale = c.values.iter().fold(1e-300f64, |m, v| m.max(v.abs()));
        assert_close(
            &format!("{what}: top_values"),
            &top,
            &c.top_values,
            1e-12 * scale.max(1.0),
            1e-9,
        );
        if let (Some((g, ge)), Some((wg, wge))) = (vjp, &c.vjp) {
            assert_close(&format!("{what}: vjp"), &g, wg, 1e-9, 1e-7);
            assert_close(&format!("{what}: ε-gradient"), &ge, wge, 1e-9, 1e-7);
        }
    }
    assert!(cases.len() >= 50);
}

#[test]
fn reference_cases_f32() {
    for (i, c) in load().iter().enumerate() {
        let what = format!("case {i} {:?}", c.p);
        let rounded: Vec<f64> = c.values.iter().map(|&v| v as f32 as f64).collect();
        let mut p = c.p.clone();
        p.eps = p.eps as f32 as f64;
        let c = Case { p, ..c.clone() };
        let (top64, idx64, vjp64) = run::<f64>(&c, &rounded);
        let (top32, idx32, vjp32) = run::<f32>(&c, &rounded);
        assert_eq!(idx32, idx64, "{what}: indices");
        let k = (c.p.k as usize).max(1);
        assert_close_rows(
            &format!("{what}: top_values"),
            &top32,
            &top64,
            k,
            1e-4,
            1e-6,
        );
        if let (Some((g32, _)), Some((g64, _))) = (vjp32, vjp64) {
            assert_close_rows(
                &format!("{what}: vjp"),
                &g32,
                &g64,
                c.shape.n.max(1),
                2e-3,
                1e-3,
            );
        }
    }
}

/// The first k columns of soft_sort, bit for bit, with the hard sort's first k items.
#[test]
fn is_the_head_of_soft_sort() {
    let mut rng = data::rng(5);
    let shape = Shape::new(7, 30);
    let x = data::uniform(&mut rng, shape.batch * shape.n, -2.0, 2.0);
    for regularization in [Regularization::L2, Regularization::Kl] {
        for direction in [Direction::Ascending, Direction::Descending] {
            for k in [0usize, 1, 11, 30] {
                let sp = soft_sort::Params {
                    regularization_strength: 0.3,
                    regularization,
                    direction,
                };
                let (mut sorted, mut perm) = (vec![0.0; 210], vec![0i32; 210]);
                soft_sort::forward(shape, &sp, &x, None, &mut sorted, &mut perm).unwrap();
                let p = soft_sort_topk::Params {
                    k: k as i64,
                    regularization_strength: 0.3,
                    regularization,
                    direction,
                };
                let (mut top, mut idx, mut perm2) =
                    (vec![0.0; 7 * k], vec![0i32; 7 * k], vec![0i32; 210]);
                soft_sort_topk::forward(shape, &p, &x, None, &mut top, &mut idx, &mut perm2)
                    .unwrap();
                assert_eq!(perm2, perm);
                for r in 0..7 {
                    let row = &x[r * 30..(r + 1) * 30];
                    assert_eq!(top[r * k..(r + 1) * k], sorted[r * 30..r * 30 + k]);
                    let mut order: Vec<usize> = (0..30).collect();
                    order.sort_by(|&a, &b| match direction {
                        Direction::Ascending => row[a].total_cmp(&row[b]),
                        Direction::Descending => row[b].total_cmp(&row[a]),
                    });
                    let want: Vec<i32> = order[..k].iter().map(|&j| j as i32).collect();
                    assert_eq!(idx[r * k..(r + 1) * k], want);
                }
            }
        }
    }
}

/// The JVP against central differences of the forward, and the HVP against central differences
/// of the VJP, in values and ε (kl: smooth; l2 away from kinks).
#[test]
fn jvp_and_hvp_against_finite_differences() {
    let shape = Shape::new(3, 12);
    let mut rng = data::rng(9);
    for reg in ["kl", "l2"] {
        let p = P::with(0.7, reg, "descending", 5);
        let x = vec![data::uniform(&mut rng, 36, -2.0, 2.0)];
        let t = vec![data::uniform(&mut rng, 36, -1.0, 1.0)];
        let u = data::uniform(&mut rng, 15, -1.0, 1.0);
        let te = 0.3;
        let at = |s: f64| {
            let xs: Vec<f64> = x[0].iter().zip(&t[0]).map(|(a, b)| a + s * b).collect();
            let ps = P {
                eps: p.eps + s * te,
                ..p.clone()
            };
            (ps, vec![xs])
        };
        let h = 1e-6;
        let (pp, xp) = at(h);
        let (pm, xm) = at(-h);
        let fp = call::<f64>(OP, &pp, shape, &xp, None, D::Vjp(&u)).unwrap();
        let fm = call::<f64>(OP, &pm, shape, &xm, None, D::Vjp(&u)).unwrap();
        let jvp = call::<f64>(OP, &p, shape, &x, None, D::Jvp(&t, te)).unwrap();
        let fd: Vec<f64> = fp
            .out
            .iter()
            .zip(&fm.out)
            .map(|(a, b)| (a - b) / (2.0 * h))
            .collect();
        assert_close(&format!("{reg}: jvp"), &jvp.d[0], &fd, 1e-6, 1e-5);
        let hvp = call::<f64>(OP, &p, shape, &x, None, D::Hvp(&u, &t, te)).unwrap();
        let fd: Vec<f64> = fp.d[0]
            .iter()
            .zip(&fm.d[0])
            .map(|(a, b)| (a - b) / (2.0 * h))
            .collect();
        assert_close(&format!("{reg}: hvp"), &hvp.d[0], &fd, 1e-5, 1e-4);
        let fde: Vec<f64> =
            fp.e.iter()
                .zip(&fm.e)
                .map(|(a, b)| (a - b) / (2.0 * h))
                .collect();
        assert_close(&format!("{reg}: hvp ε"), &hvp.e, &fde, 1e-5, 1e-4);
    }
}

/// Errors: k out of range names the op and k; a cotangent of the wrong length names it.
#[test]
fn errors() {
    let shape = Shape::new(2, 3);
    let x = vec![vec![0.5, 1.0, -1.0, 2.0, 0.0, 3.0]];
    for k in [-1i64, 4] {
        let p = P::with(1.0, "l2", "descending", k);
        let e = call::<f64>(OP, &p, shape, &x, None, D::Forward)
            .err()
            .unwrap();
        assert_eq!(
            e.message(),
            format!("soft_sort_topk: k must be in [0, n] = [0, 3], got {k}")
        );
        let mask = [true, false, true, true, true, true];
        let e = call::<f64>(OP, &p, shape, &x, Some(&mask), D::Forward)
            .err()
            .unwrap();
        assert_eq!(
            e.message(),
            format!("soft_sort_topk: k must be in [0, n] = [0, 3], got {k}")
        );
    }
    let p = soft_sort_topk::Params {
        k: 2,
        regularization_strength: 1.0,
        regularization: Regularization::L2,
        direction: Direction::Descending,
    };
    let (mut top, mut idx, mut perm) = (vec![0.0; 5], vec![0i32; 4], vec![0i32; 6]);
    let e =
        soft_sort_topk::forward(shape, &p, &x[0], None, &mut top, &mut idx, &mut perm).unwrap_err();
    assert_eq!(
        e.message(),
        "soft_sort_topk: top_values has 5 elements, expected batch × k = 2 × 2 = 4"
    );
}
