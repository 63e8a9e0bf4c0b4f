//! soft_rank_grouped: the reference vectors of `testdata/reference/soft-rank-grouped.json`
//! (`RANK_RELAX_REFERENCE_GROUPED` overrides the path) in f64 against the file and in f32 against
//! f64; each group is soft_rank of its items alone, bit for bit; the JVP and HVP against finite
//! differences; group ids are labels (any int32, any order).

mod common;

use common::all_ops::{call_with, D, P};
use common::reference::{assert_close, assert_close_rows, cases};
use common::{cast, data, widen};
use rank_relax::ops::{soft_rank, soft_rank_grouped};
use rank_relax::{Direction, Real, Regularization, Shape};
use serde_json::Value;

const OP: &str = "soft_rank_grouped";

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
    groups: Vec<i32>,
    mask: Option<Vec<bool>>,
    ranks: Vec<f64>,
    cotangent: Vec<f64>,
    vjp: Vec<f64>,
    grad_eps: Vec<f64>,
}

fn load() -> Vec<Case> {
    cases("RANK_RELAX_REFERENCE_GROUPED", "soft-rank-grouped.json")
        .iter()
        .map(|c| {
            assert_eq!(c["op"], OP);
            let rows = c["inputs"]["values"].as_array().unwrap();
            let n = rows[0].as_array().unwrap().len();
            let groups = flat(&c["inputs"]["groups"]);
            let mask = c["inputs"].get("mask").map(|m| {
                m.as_array()
                    .unwrap()
                    .iter()
                    .flat_map(|r| r.as_array().unwrap().iter().map(|b| b.as_bool().unwrap()))
                    .collect()
            });
            Case {
                p: P::from_json(&c["params"]),
                shape: Shape::new(rows.len(), n),
                values: flat(&c["inputs"]["values"]),
                groups: groups.iter().map(|&g| g as i32).collect(),
                mask,
                ranks: flat(&c["outputs"]["ranks"]),
                cotangent: flat(&c["cotangents"]["ranks"]),
                vjp: flat(&c["vjp"]["values"]),
                grad_eps: flat(&c["grad_regularization_strength"]),
            }
        })
        .collect()
}

/// Ranks, gradient and ε-gradient in `T`, widened.
fn run<T: Real>(c: &Case, values: &[f64]) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let x = vec![cast::<T>(values)];
    let u = cast::<T>(&c.cotangent);
    let ints = [c.groups.clone()];
    let r = call_with::<T>(OP, &c.p, c.shape, &x, &ints, c.mask.as_deref(), D::Vjp(&u)).unwrap();
    (widen(&r.out), widen(&r.d[0]), widen(&r.e))
}

#[test]
fn reference_cases_f64() {
    let cases = load();
    for (i, c) in cases.iter().enumerate() {
        let what = format!("case {i} {:?} {:?}", c.p, c.shape);
        let (ranks, g, ge) = run::<f64>(c, &c.values);
        assert_close(&format!("{what}: ranks"), &ranks, &c.ranks, 1e-10, 1e-10);
        assert_close(&format!("{what}: vjp"), &g, &c.vjp, 1e-9, 1e-7);
        assert_close(&format!("{what}: ε-gradient"), &ge, &c.grad_eps, 1e-9, 1e-7);
    }
    assert!(cases.len() >= 80);
    assert!(cases.iter().any(|c| c.mask.is_some()));
}

#[test]
fn reference_cases_f32() {
    for (i, c) in load().iter().enumerate() {
        let what = format!("case {i} {:?}", c.p);
        let rounded: Vec<f64> = c.values.iter().map(|&v| v as f32 as f64).collect();
        let mut p = c.p.clone();
        p.eps = p.eps as f32 as f64;
        let c = Case { p, ..c.clone() };
        let (r64, g64, _) = run::<f64>(&c, &rounded);
        let (r32, g32, _) = run::<f32>(&c, &rounded);
        let n = c.shape.n.max(1);
        assert_close_rows(&format!("{what}: ranks"), &r32, &r64, n, 1e-4, 1e-5);
        assert_close_rows(&format!("{what}: vjp"), &g32, &g64, n, 2e-3, 1e-3);
    }
}

/// Each group's ranks, residual-driven gradient and ε-gradient are soft_rank's of the group's
/// values alone, bit for bit; one group is soft_rank of the row.
#[test]
fn each_group_is_soft_rank_of_its_items() {
    let mut rng = data::rng(17);
    let shape = Shape::new(5, 23);
    let len = shape.batch * shape.n;
    let x = data::uniform(&mut rng, len, -3.0, 3.0);
    let u = data::uniform(&mut rng, len, -1.0, 1.0);
    let ids = [-9, 4, 2147483647, 4, -2147483648];
    let groups: Vec<i32> = (0..len).map(|i| ids[(i * 7 + i / 5) % 5]).collect();
    for regularization in [Regularization::L2, Regularization::Kl] {
        for direction in [Direction::Ascending, Direction::Descending] {
            let p = soft_rank::Params {
                regularization_strength: 0.4,
                regularization,
                direction,
            };
            let (mut r, mut perm) = (vec![0.0; len], vec![0i32; len]);
            soft_rank_grouped::forward(shape, &p, &x, &groups, None, &mut r, &mut perm).unwrap();
            let (mut g, mut ge) = (vec![0.0; len], vec![0.0; shape.batch]);
            soft_rank_grouped::backward(shape, &p, &x, None, &r, &perm, &u, &mut g, &mut ge)
                .unwrap();
            for (row, &ge_row) in ge.iter().enumerate() {
                let at = |j: usize| row * shape.n + j;
                let mut total_ge = 0.0;
                // Each id once (4 labels two of the five patterns).
                for id in [-9, 4, 2147483647, -2147483648] {
                    let idx: Vec<usize> = (0..shape.n).filter(|&j| groups[at(j)] == id).collect();
                    if idx.is_empty() {
                        continue;
                    }
                    let m = idx.len();
                    let xs: Vec<f64> = idx.iter().map(|&j| x[at(j)]).collect();
                    let us: Vec<f64> = idx.iter().map(|&j| u[at(j)]).collect();
                    let one = Shape::new(1, m);
                    let (mut rs, mut ps) = (vec![0.0; m], vec![0i32; m]);
                    soft_rank::forward(one, &p, &xs, None, &mut rs, &mut ps).unwrap();
                    let (mut gs, mut ges) = (vec![0.0; m], vec![0.0]);
                    soft_rank::backward(one, &p, &xs, None, &rs, &ps, &us, &mut gs, &mut ges)
                        .unwrap();
                    for (k, &j) in idx.iter().enumerate() {
                        assert_eq!(r[at(j)], rs[k], "{regularization:?} row {row} rank {j}");
                        assert_eq!(g[at(j)], gs[k], "{regularization:?} row {row} grad {j}");
                    }
                    total_ge += ges[0];
                }
                let scale = x.iter().fold(1.0f64, |a, v| a.max(v.abs())) / 0.4;
                assert!(
                    (ge_row - total_ge).abs() <= 1e-12 * scale,
                    "ε-gradient row {row}: {ge_row} against {total_ge}"
                );
            }
            // One group: soft_rank of the row, the residual too.
            let zeros = vec![-3; len];
            let (mut r1, mut p1) = (vec![0.0; len], vec![0i32; len]);
            soft_rank_grouped::forward(shape, &p, &x, &zeros, None, &mut r1, &mut p1).unwrap();
            let (mut r0, mut p0) = (vec![0.0; len], vec![0i32; len]);
            soft_rank::forward(shape, &p, &x, None, &mut r0, &mut p0).unwrap();
            assert_eq!(r1, r0);
            assert_eq!(p1, p0);
        }
    }
}

/// Ids are labels: relabelling the groups (any int32, any order) changes nothing; singletons get
/// rank 1 and gradient 0.
#[test]
fn ids_are_labels() {
    let mut rng = data::rng(3);
    let shape = Shape::new(2, 9);
    let x = data::uniform(&mut rng, 18, -2.0, 2.0);
    let a: Vec<i32> = (0..18).map(|i| i % 3).collect();
    let relabel = [2147483647, -2147483648, 0];
    let b: Vec<i32> = a.iter().map(|&g| relabel[g as usize]).collect();
    let p = soft_rank::Params {
        regularization_strength: 0.2,
        regularization: Regularization::Kl,
        direction: Direction::Descending,
    };
    let run = |groups: &[i32]| {
        let (mut r, mut perm) = (vec![0.0; 18], vec![0i32; 18]);
        soft_rank_grouped::forward(shape, &p, &x, groups, None, &mut r, &mut perm).unwrap();
        r
    };
    assert_eq!(run(&a), run(&b));
    let singletons: Vec<i32> = (0..18).collect();
    assert!(run(&singletons).iter().all(|&r| r == 1.0));
    let u = vec![1.0; 18];
    let ints = [singletons];
    let pp = P::with(0.2, "kl", "descending", 1);
    let r = call_with::<f64>(
        OP,
        &pp,
        shape,
        std::slice::from_ref(&x),
        &ints,
        None,
        D::Vjp(&u),
    )
    .unwrap();
    assert!(r.d[0].iter().all(|&g| g == 0.0));
}

/// The JVP against central differences of the forward, and the HVP against central differences
/// of the VJP, in values and ε (kl: smooth; l2 away from kinks), with several groups and a mask.
#[test]
fn jvp_and_hvp_against_finite_differences() {
    let shape = Shape::new(3, 12);
    let mut rng = data::rng(11);
    let ints = [(0..36).map(|i| [7, -1, 7, 2][i % 4]).collect::<Vec<i32>>()];
    let mask: Vec<bool> = (0..36).map(|i| i % 5 != 3).collect();
    for reg in ["kl", "l2"] {
        for m in [None, Some(&mask[..])] {
            let p = P::with(0.7, reg, "ascending", 1);
            let x = vec![data::uniform(&mut rng, 36, -2.0, 2.0)];
            let t = vec![data::uniform(&mut rng, 36, -1.0, 1.0)];
            let u = data::uniform(&mut rng, 36, -1.0, 1.0);
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
            let fp = call_with::<f64>(OP, &pp, shape, &xp, &ints, m, D::Vjp(&u)).unwrap();
            let fm = call_with::<f64>(OP, &pm, shape, &xm, &ints, m, D::Vjp(&u)).unwrap();
            let diff = |a: &[f64], b: &[f64]| -> Vec<f64> {
                a.iter().zip(b).map(|(a, b)| (a - b) / (2.0 * h)).collect()
            };
            let jvp = call_with::<f64>(OP, &p, shape, &x, &ints, m, D::Jvp(&t, te)).unwrap();
            let what = format!("{reg} mask {}", m.is_some());
            assert_close(
                &format!("{what}: jvp"),
                &jvp.d[0],
                &diff(&fp.out, &fm.out),
                1e-6,
                1e-5,
            );
            let hvp = call_with::<f64>(OP, &p, shape, &x, &ints, m, D::Hvp(&u, &t, te)).unwrap();
            let fd = diff(&fp.d[0], &fm.d[0]);
            assert_close(&format!("{what}: hvp"), &hvp.d[0], &fd, 1e-5, 1e-4);
            let fde = diff(&fp.e, &fm.e);
            assert_close(&format!("{what}: hvp ε"), &hvp.e, &fde, 1e-5, 1e-4);
        }
    }
}

/// Errors name the op and the buffer; the derivative kernels speak as soft_rank_grouped.
#[test]
fn errors() {
    let shape = Shape::new(2, 3);
    let x = [0.5, 1.0, -1.0, 2.0, 0.0, 3.0];
    let p = soft_rank::Params {
        regularization_strength: 1.0,
        regularization: Regularization::L2,
        direction: Direction::Ascending,
    };
    let (mut r, mut perm) = (vec![0.0; 6], vec![0i32; 6]);
    let e =
        soft_rank_grouped::forward(shape, &p, &x, &[0; 5], None, &mut r, &mut perm).unwrap_err();
    assert_eq!(
        e.message(),
        "soft_rank_grouped: groups has 5 elements, expected batch × n = 2 × 3 = 6"
    );
    soft_rank_grouped::forward(shape, &p, &x, &[1, 2, 1, 0, 0, 0], None, &mut r, &mut perm)
        .unwrap();
    let (mut g, mut ge) = (vec![0.0; 6], vec![0.0; 2]);
    let u = [1.0, f64::NAN, 0.0, 0.0, 0.0, 0.0];
    let e = soft_rank_grouped::backward(shape, &p, &x, None, &r, &perm, &u, &mut g, &mut ge)
        .unwrap_err();
    assert_eq!(
        e.message(),
        "soft_rank_grouped: cotangent_ranks[0, 1] is NaN"
    );
    let bad = [0, 1, 2, 3, 4, 5];
    let e = soft_rank_grouped::backward(shape, &p, &x, None, &r, &bad, &u, &mut g, &mut ge)
        .unwrap_err();
    assert!(
        e.message()
            .starts_with("soft_rank_grouped: permutation[0, 0] = 0 is not a valid"),
        "{}",
        e.message()
    );
}
