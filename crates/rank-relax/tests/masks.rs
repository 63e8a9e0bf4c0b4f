//! Masked rows (`ALGORITHMS.md`, "Masks") for every op and kernel: the reference vectors of
//! `testdata/reference/masks.json` (`RANK_RELAX_REFERENCE_MASKS` overrides the path), masked rows
//! against the compacted call, every item present against the unmasked call, padding that is
//! never read, and errors in the caller's coordinates.

mod common;

use common::all_ops::{call, differentiable, n_inputs, width, ALL_OPS as OPS, D, P};
use common::{cast, data, widen};
use rank_relax::ops::{soft_rank, soft_sort, soft_topk};
use rank_relax::{Error, ErrorKind, Shape};
use serde_json::Value;

// ------------------------------------------------------------------ reference vectors

struct Case {
    op: String,
    p: P,
    shape: Shape,
    x: Vec<Vec<f64>>,
    mask: Vec<bool>,
    output: Vec<f64>,
    cotangent: Option<Vec<f64>>,
    vjp: Vec<Vec<f64>>,
    grad_eps: Vec<f64>,
}

fn flatten(v: &Value, into: &mut Vec<f64>) {
    match v {
        Value::Array(a) => a.iter().for_each(|x| flatten(x, into)),
        x => into.push(x.as_f64().expect("a number")),
    }
}

fn flat(v: &Value) -> Vec<f64> {
    let mut out = Vec::new();
    flatten(v, &mut out);
    out
}

fn load() -> Vec<Case> {
    common::reference::cases("RANK_RELAX_REFERENCE_MASKS", "masks.json")
        .iter()
        .map(|c| {
            let op = c["op"].as_str().unwrap().to_owned();
            let rows = c["inputs"]["mask"].as_array().unwrap();
            let n = rows.first().map_or(0, |r| r.as_array().unwrap().len());
            let mask: Vec<bool> = rows
                .iter()
                .flat_map(|r| r.as_array().unwrap().iter().map(|m| m.as_bool().unwrap()))
                .collect();
            let names = [
                "values",
                "predictions",
                "targets",
                "scores",
                "relevance",
                "payload",
            ];
            let x: Vec<Vec<f64>> = names
                .iter()
                .filter_map(|name| c["inputs"].get(*name).map(flat))
                .collect();
            assert_eq!(x.len(), n_inputs(&op), "{op}: inputs");
            let vjp: Vec<Vec<f64>> = match c.get("vjp") {
                Some(v) => names
                    .iter()
                    .filter_map(|name| v.get(*name).map(flat))
                    .collect(),
                None => vec![],
            };
            Case {
                shape: Shape::new(rows.len(), n),
                p: P::from_json(&c["params"]),
                x,
                mask,
                output: flat(&c["output"]),
                cotangent: c.get("cotangent").map(flat),
                vjp,
                grad_eps: c.get("grad_regularization_strength").map_or(vec![], flat),
                op,
            }
        })
        .collect()
}

#[test]
fn reference_cases_f64() {
    let cases = load();
    let mut vjps = 0;
    for (i, c) in cases.iter().enumerate() {
        let what = format!("case {i} ({} {:?} {:?})", c.op, c.p, c.shape);
        let close = |name: &str, got: &[f64], want: &[f64], abs: f64| {
            assert_eq!(got.len(), want.len(), "{what} {name}: length");
            for (k, (g, w)) in got.iter().zip(want).enumerate() {
                assert!(
                    (g - w).abs() <= abs + 1e-9 * w.abs(),
                    "{what} {name}[{k}]: {g:e} vs {w:e}"
                );
            }
        };
        let d = match &c.cotangent {
            Some(u) if !c.vjp.is_empty() => D::Vjp(u),
            _ => D::Forward,
        };
        let r = call::<f64>(&c.op, &c.p, c.shape, &c.x, Some(&c.mask), d)
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        close("output", &r.out, &c.output, 1e-9);
        if c.cotangent.is_some() && !c.vjp.is_empty() {
            vjps += 1;
            for (k, want) in c.vjp.iter().enumerate() {
                close(&format!("vjp[{k}]"), &r.d[k], want, 1e-7);
            }
            close("grad_regularization_strength", &r.e, &c.grad_eps, 1e-7);
        }
    }
    assert!(
        cases.len() >= 300 && vjps >= 250,
        "{} cases, {vjps} VJPs",
        cases.len()
    );
}

#[test]
fn reference_cases_f32() {
    for (i, c) in load().iter().enumerate() {
        let what = format!("case {i} ({} {:?})", c.op, c.shape);
        let x32: Vec<Vec<f32>> = c.x.iter().map(|x| cast(x)).collect();
        let x64: Vec<Vec<f64>> = x32.iter().map(|x| widen(x)).collect();
        let p = P {
            eps: c.p.eps as f32 as f64,
            ..c.p.clone()
        };
        let u32_: Option<Vec<f32>> = c.cotangent.as_deref().map(cast);
        let u64_ = u32_.as_deref().map(widen);
        let (d32, d64) = match (&u32_, &u64_) {
            (Some(a), Some(b)) if !c.vjp.is_empty() => (D::Vjp(&a[..]), D::Vjp(&b[..])),
            _ => (D::Forward, D::Forward),
        };
        let want = call::<f64>(&c.op, &p, c.shape, &x64, Some(&c.mask), d64).unwrap();
        let got = call::<f32>(&c.op, &p, c.shape, &x32, Some(&c.mask), d32).unwrap();
        let check = |name: &str, g: &[f32], w: &[f64], width: usize| {
            for (r, (gr, wr)) in g.chunks(width).zip(w.chunks(width)).enumerate() {
                let scale = wr.iter().fold(1e-8, |m: f64, v| m.max(v.abs()));
                for (k, (a, b)) in gr.iter().zip(wr).enumerate() {
                    assert!(
                        (f64::from(*a) - b).abs() <= 1e-4 * scale,
                        "{what} {name}[{r}, {k}]: f32 {a:e} vs f64 {b:e}"
                    );
                }
            }
        };
        let n = c.shape.n.max(1);
        check("output", &got.out, &want.out, width(&c.op, n, &p));
        for (k, (g, w)) in got.d.iter().zip(&want.d).enumerate() {
            if u32_.is_some() && !c.vjp.is_empty() {
                check(&format!("vjp[{k}]"), g, w, n);
            }
        }
    }
}

// ------------------------------------------------------------------ against the compacted call

/// Random masks over `shape` with rows of every kind: none present, one, all, about half.
fn random_mask(shape: Shape, seed: u64) -> Vec<bool> {
    let mut rng = data::rng(seed);
    let u = data::uniform(&mut rng, shape.batch * shape.n, 0.0, 1.0);
    u.chunks(shape.n.max(1))
        .enumerate()
        .flat_map(|(r, row)| {
            row.iter()
                .enumerate()
                .map(move |(j, &v)| match r % 5 {
                    0 => false,
                    1 => j == row.len() / 2,
                    2 => true,
                    _ => v < 0.5,
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

fn inputs(op: &str, shape: Shape, seed: u64) -> Vec<Vec<f64>> {
    let mut rng = data::rng(seed);
    let len = shape.batch * shape.n;
    (0..n_inputs(op))
        .map(|i| {
            if op == "ndcg_loss" && i == 1 {
                data::grades(&mut rng, len)
            } else {
                data::uniform(&mut rng, len, -2.0, 2.0)
            }
        })
        .collect()
}

/// Row `r`'s present items of a `[batch, n]` buffer.
fn compact(v: &[f64], n: usize, r: usize, mask: &[bool]) -> Vec<f64> {
    (0..n)
        .filter(|&j| mask[r * n + j])
        .map(|j| v[r * n + j])
        .collect()
}

/// A compacted row's output (of `w` entries per row in the masked call) written back as the
/// masked call must: items in place, sorted positions first, the matrix's present columns.
fn expand(op: &str, c: &[f64], n: usize, w: usize, pos: &[usize]) -> Vec<f64> {
    let nv = pos.len();
    match op {
        "spearman_loss" | "ndcg_loss" | "soft_quantile" => c.to_vec(),
        "soft_sort" | "neural_sort_apply" | "soft_sort_topk" => {
            let mut row = c.to_vec();
            row.resize(w, 0.0);
            row
        }
        "neural_sort" => {
            let mut row = vec![0.0; n * n];
            for a in 0..nv {
                for (b, &p) in pos.iter().enumerate() {
                    row[a * n + p] = c[a * nv + b];
                }
            }
            row
        }
        _ => {
            let mut row = vec![0.0; n];
            for (&p, &v) in pos.iter().zip(c) {
                row[p] = v;
            }
            row
        }
    }
}

/// The inverse of `expand` for a cotangent: a row of the output's layout to the compacted row's.
fn shrink(op: &str, u: &[f64], n: usize, pos: &[usize]) -> Vec<f64> {
    let nv = pos.len();
    match op {
        "spearman_loss" | "ndcg_loss" | "soft_quantile" => u.to_vec(),
        "soft_sort" | "neural_sort_apply" | "soft_sort_topk" => u[..nv.min(u.len())].to_vec(),
        "neural_sort" => (0..nv)
            .flat_map(|a| pos.iter().map(move |&p| u[a * n + p]))
            .collect(),
        _ => pos.iter().map(|&p| u[p]).collect(),
    }
}

/// Every kernel of every op with a mask against the same kernel, unmasked, on each row's
/// present items: bit for bit, rows without enough present items all zeros.
#[test]
fn masked_rows_are_the_compacted_rows() {
    for (o, op) in OPS.iter().enumerate() {
        let n = if op.starts_with("neural_sort") { 9 } else { 13 };
        let shape = Shape::new(10, n);
        let seed = 100 + o as u64;
        for p in [
            P::with(0.3, "l2", "ascending", 4),
            P::with(
                2.0,
                if *op == "soft_topk" { "p43" } else { "kl" },
                "descending",
                9,
            ),
        ] {
            let x = inputs(op, shape, seed);
            let mask = random_mask(shape, seed + 7);
            let w = width(op, n, &p);
            let mut rng = data::rng(seed + 11);
            let u = data::uniform(&mut rng, shape.batch * w, -1.0, 1.0);
            let t: Vec<Vec<f64>> = (0..n_inputs(op))
                .map(|_| data::uniform(&mut rng, shape.batch * n, -1.0, 1.0))
                .collect();
            let t = &t[..differentiable(op)];
            let run =
                |p: &P, shape, x: &[Vec<f64>], mask, which: usize, u: &[f64], t: &[Vec<f64>]| {
                    let d = match which {
                        0 => D::Vjp(u),
                        1 => D::Jvp(t, 0.7),
                        _ => D::Hvp(u, t, 0.7),
                    };
                    call::<f64>(op, p, shape, x, mask, d).unwrap()
                };
            for which in 0..3 {
                let masked = run(&p, shape, &x, Some(&mask[..]), which, &u, t);
                for r in 0..shape.batch {
                    let pos: Vec<usize> = (0..n).filter(|&j| mask[r * n + j]).collect();
                    let what = format!("{op} {p:?} kernel {which} row {r} ({} present)", pos.len());
                    let row = |v: &[f64], width: usize| v[r * width..(r + 1) * width].to_vec();
                    let too_few = pos.is_empty() || (*op == "spearman_loss" && pos.len() < 2);
                    let (want_out, want_d, want_e) = if too_few {
                        let d_len = if which == 1 { w } else { n };
                        (vec![0.0; w], vec![vec![0.0; d_len]; masked.d.len()], 0.0)
                    } else {
                        let cs = Shape::new(1, pos.len());
                        let cx: Vec<Vec<f64>> = x.iter().map(|v| compact(v, n, r, &mask)).collect();
                        let ct: Vec<Vec<f64>> = t.iter().map(|v| compact(v, n, r, &mask)).collect();
                        let cu = shrink(op, &row(&u, w), n, &pos);
                        // soft_topk selects every present item of a row with fewer than k.
                        let cp = P {
                            k: p.k.min(pos.len() as i64),
                            ..p.clone()
                        };
                        let c = run(&cp, cs, &cx, None, which, &cu, &ct);
                        let d =
                            c.d.iter()
                                .map(|v| {
                                    if which == 1 {
                                        expand(op, v, n, w, &pos)
                                    } else {
                                        expand("soft_rank", v, n, n, &pos)
                                    }
                                })
                                .collect();
                        // Item positions (soft_sort_topk's indices) in the caller's row, −1 after.
                        for (k, ints) in c.ints.iter().enumerate() {
                            let mut want: Vec<i32> =
                                ints.iter().map(|&j| pos[j as usize] as i32).collect();
                            let iw = masked.ints[k].len() / shape.batch;
                            want.resize(iw, -1);
                            assert_eq!(
                                masked.ints[k][r * iw..(r + 1) * iw],
                                want,
                                "{what}: int output {k}"
                            );
                        }
                        (
                            expand(op, &c.out, n, w, &pos),
                            d,
                            if which == 1 { 0.0 } else { c.e[0] },
                        )
                    };
                    assert_eq!(row(&masked.out, w), want_out, "{what}: output");
                    for (k, want) in want_d.iter().enumerate() {
                        let width = want.len();
                        assert_eq!(row(&masked.d[k], width), *want, "{what}: derivative {k}");
                    }
                    if which != 1 {
                        assert_eq!(masked.e[r], want_e, "{what}: ε entry");
                    }
                }
            }
        }
    }
}

/// With every item present a mask changes nothing, bit for bit, in any kernel.
#[test]
fn every_item_present_is_the_unmasked_call() {
    for (o, op) in OPS.iter().enumerate() {
        let shape = Shape::new(4, 11);
        let p = P::with(0.5, "l2", "descending", 3);
        let x = inputs(op, shape, 300 + o as u64);
        let all = vec![true; shape.batch * shape.n];
        let w = width(op, shape.n, &p);
        let u = vec![0.25; shape.batch * w];
        let t = x[..differentiable(op)].to_vec();
        for which in 0..4 {
            let d = || match which {
                0 => D::Forward,
                1 => D::Vjp(&u),
                2 => D::Jvp(&t, 0.5),
                _ => D::Hvp(&u, &t, 0.5),
            };
            let a = call::<f64>(op, &p, shape, &x, Some(&all), d()).unwrap();
            let b = call::<f64>(op, &p, shape, &x, None, d()).unwrap();
            assert_eq!((a.out, a.d, a.e), (b.out, b.d, b.e), "{op} kernel {which}");
        }
    }
}

/// Values, cotangents and tangents at absent positions are never read: NaN and ±inf there give
/// what zeros give.
#[test]
fn absent_positions_are_never_read() {
    for (o, op) in OPS.iter().enumerate() {
        let shape = Shape::new(6, 8);
        let p = P::with(0.5, "kl", "ascending", 2);
        let p = if *op == "soft_topk" {
            P::with(0.5, "p43", "descending", 2)
        } else {
            p
        };
        let mask = random_mask(shape, 400 + o as u64);
        let x = inputs(op, shape, 500 + o as u64);
        let w = width(op, shape.n, &p);
        let u = vec![0.5; shape.batch * w];
        let t = x[..differentiable(op)].to_vec();
        // Junk everywhere the call must not look: absent items, and for row-ordered outputs
        // the positions past a row's present items.
        let junk = |v: &[f64], per_item: bool, k: usize| -> Vec<f64> {
            let bad = [f64::NAN, f64::INFINITY, f64::NEG_INFINITY][k % 3];
            let mut v = v.to_vec();
            if per_item {
                for (i, m) in mask.iter().enumerate() {
                    if !m {
                        v[i] = bad;
                    }
                }
            }
            v
        };
        let zero = |v: &[f64]| -> Vec<f64> {
            v.iter()
                .zip(&mask)
                .map(|(&a, &m)| if m { a } else { 0.0 })
                .collect()
        };
        let xj: Vec<Vec<f64>> = x
            .iter()
            .enumerate()
            .map(|(k, v)| junk(v, true, k))
            .collect();
        let xz: Vec<Vec<f64>> = x.iter().map(|v| zero(v)).collect();
        let tj: Vec<Vec<f64>> = t
            .iter()
            .enumerate()
            .map(|(k, v)| junk(v, true, k + 1))
            .collect();
        let tz: Vec<Vec<f64>> = t.iter().map(|v| zero(v)).collect();
        let item_output = matches!(*op, "soft_rank" | "sigmoid_rank" | "soft_topk");
        let uj = junk(&u, item_output, 2);
        let uz = if item_output { zero(&u) } else { u.clone() };
        for which in 0..4 {
            let (dj, dz) = match which {
                0 => (D::Forward, D::Forward),
                1 => (D::Vjp(&uj[..]), D::Vjp(&uz[..])),
                2 => (D::Jvp(&tj[..], 0.5), D::Jvp(&tz[..], 0.5)),
                _ => (D::Hvp(&uj[..], &tj[..], 0.5), D::Hvp(&uz[..], &tz[..], 0.5)),
            };
            let a = call::<f64>(op, &p, shape, &xj, Some(&mask), dj)
                .unwrap_or_else(|e| panic!("{op} kernel {which}: {e}"));
            let b = call::<f64>(op, &p, shape, &xz, Some(&mask), dz).unwrap();
            assert_eq!((a.out, a.d, a.e), (b.out, b.d, b.e), "{op} kernel {which}");
        }
    }
}

#[test]
fn row_rules_of_the_losses_and_topk() {
    let shape = Shape::new(3, 4);
    let mask = [
        true, false, false, false, // one item
        false, false, false, false, // none
        true, true, false, true, // three
    ];
    let x = vec![vec![0.3, 9.0, 9.0, 9.0, 1.0, 2.0, 3.0, 4.0, 0.5, 7.0, 9.0, -1.0]; 2];
    let p = P::with(0.1, "l2", "ascending", 2);
    let r = call::<f64>(
        "spearman_loss",
        &p,
        shape,
        &x,
        Some(&mask),
        D::Vjp(&[1.0; 3]),
    )
    .unwrap();
    assert_eq!(&r.out[..2], &[0.0, 0.0], "fewer than two items: loss 0");
    assert!(r.d.iter().all(|g| g[..8].iter().all(|&v| v == 0.0)));
    assert!(
        r.out[2].abs() < 1e-12,
        "identical present rows correlate perfectly"
    );
    // soft_topk selects every present item of a row with fewer than k.
    let p = P::with(0.1, "l2", "descending", 2);
    let r = call::<f64>("soft_topk", &p, shape, &x[..1], Some(&mask), D::Forward).unwrap();
    assert_eq!(&r.out[..8], &[1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]);
    let sum: f64 = r.out[8..].iter().sum();
    assert!(
        (sum - 2.0).abs() < 1e-12 && r.out[10] == 0.0,
        "{:?}",
        &r.out[8..]
    );
    // ndcg_loss: a row whose present relevance is all 0 gives 0 (relevance at absent items is unread).
    let rel = vec![0.0, 3.0, 3.0, 3.0, 0.0, 0.0, 0.0, 0.0, 1.0, 5.0, -2.0, 0.0];
    let r = call::<f64>(
        "ndcg_loss",
        &p,
        shape,
        &[x[0].clone(), rel],
        Some(&mask),
        D::Vjp(&[1.0; 3]),
    )
    .unwrap();
    assert_eq!(r.out[0], 0.0);
    assert!(r.d[0][..4].iter().all(|&v| v == 0.0));
}

fn err<T>(r: Result<T, Error>) -> (ErrorKind, String) {
    match r {
        Ok(_) => panic!("expected an error"),
        Err(e) => (e.kind, e.message),
    }
}

#[test]
fn errors_name_the_callers_row_and_item() {
    let shape = Shape::new(3, 4);
    let mut mask = vec![true; 12];
    mask[9] = false;
    let mut x = vec![
        0.5,
        1.0,
        2.0,
        3.0,
        4.0,
        5.0,
        6.0,
        7.0,
        8.0,
        f64::NAN,
        1.0,
        f64::NAN,
    ];
    let p = P::with(1.0, "l2", "ascending", 2);
    // values[2, 1] is absent; values[2, 3] is the row's third present item.
    assert_eq!(
        err(call(
            "soft_rank",
            &p,
            shape,
            &[x.clone()],
            Some(&mask),
            D::Forward
        )),
        (
            ErrorKind::InvalidValue,
            "soft_rank: values[2, 3] is NaN".into()
        )
    );
    x[11] = 0.0;
    let mut u = vec![0.0; 12];
    u[10] = f64::INFINITY;
    assert_eq!(
        err(call(
            "soft_sort",
            &p,
            shape,
            &[x.clone()],
            Some(&mask),
            D::Vjp(&u)
        )),
        (
            ErrorKind::InvalidValue,
            "soft_sort: cotangent_sorted[2, 2] is +inf".into()
        )
    );
    assert_eq!(
        err(call(
            "soft_rank",
            &p,
            shape,
            &[x.clone()],
            Some(&mask[..11]),
            D::Forward
        )),
        (
            ErrorKind::ShapeMismatch,
            "soft_rank: mask has 11 elements, expected batch × n = 3 × 4 = 12".into()
        )
    );
    // k is checked against n, not against a row's present items.
    let p5 = P::with(1.0, "l2", "descending", 5);
    assert_eq!(
        err(call(
            "soft_topk",
            &p5,
            shape,
            &[x.clone()],
            Some(&mask),
            D::Forward
        )),
        (
            ErrorKind::InvalidArgument,
            "soft_topk: k must be in [0, n] = [0, 4], got 5".into()
        )
    );
    let bad_eps = P::with(-1.0, "l2", "ascending", 1);
    let (kind, _) = err(call(
        "neural_sort",
        &bad_eps,
        shape,
        &[x],
        Some(&mask),
        D::Forward,
    ));
    assert_eq!(kind, ErrorKind::InvalidArgument);
}

/// The in-place backward with a mask gives the separate backward's gradient, and leaves the
/// buffer as it was when the call fails.
#[test]
fn in_place_backward_with_a_mask() {
    let shape = Shape::new(5, 7);
    let mask = random_mask(shape, 77);
    let x = inputs("soft_rank", shape, 78).remove(0);
    let u: Vec<f64> = (0..35).map(|i| (i as f64 * 0.37).sin()).collect();
    let m = Some(&mask[..]);

    let pr = soft_rank::Params::<f64>::default();
    let (mut r, mut perm) = (vec![0.0; 35], vec![0i32; 35]);
    soft_rank::forward(shape, &pr, &x, m, &mut r, &mut perm).unwrap();
    let (mut g, mut ge, mut ge2) = (vec![0.0; 35], vec![0.0; 5], vec![0.0; 5]);
    soft_rank::backward(shape, &pr, &x, m, &r, &perm, &u, &mut g, &mut ge).unwrap();
    let mut buf = u.clone();
    soft_rank::backward_in_place(shape, &pr, &x, m, &r, &perm, &mut buf, &mut ge2).unwrap();
    assert_eq!((&buf, &ge2), (&g, &ge));

    let ps = soft_sort::Params::<f64>::default();
    let mut s = vec![0.0; 35];
    soft_sort::forward(shape, &ps, &x, m, &mut s, &mut perm).unwrap();
    let mut bad = u.clone();
    let first = mask.iter().position(|&p| p).unwrap();
    let at = first / 7 * 7; // the first sorted position of that row
    bad[at] = f64::NAN;
    let before = bad.clone();
    let mut ge = vec![0.0; 5];
    let e = soft_sort::backward_in_place(shape, &ps, &x, m, &perm, &mut bad, &mut ge).unwrap_err();
    assert_eq!(e.kind, ErrorKind::InvalidValue, "{}", e.message);
    assert!(bad
        .iter()
        .zip(&before)
        .all(|(a, b)| a.to_bits() == b.to_bits()));

    let pt = soft_topk::Params::<f64> {
        k: 3,
        ..Default::default()
    };
    soft_topk::forward(shape, &pt, &x, m, &mut s, &mut perm).unwrap();
    soft_topk::backward(shape, &pt, &x, m, &perm, &u, &mut g, &mut ge).unwrap();
    let mut buf = u.clone();
    soft_topk::backward_in_place(shape, &pt, &x, m, &perm, &mut buf, &mut ge2).unwrap();
    assert_eq!((&buf, &ge2), (&g, &ge));
}

/// Masked results do not depend on the thread count.
#[test]
fn masked_results_do_not_depend_on_threads() {
    let shape = Shape::new(64, 200);
    let mask = random_mask(shape, 91);
    let x = inputs("soft_rank", shape, 92);
    let p = P::with(0.2, "l2", "ascending", 10);
    let u = vec![0.5; shape.batch * shape.n];
    let threads = rank_relax::num_threads();
    let mut results = Vec::new();
    for t in [1, 3] {
        rank_relax::set_num_threads(t);
        for op in ["soft_rank", "soft_topk"] {
            let r = call::<f64>(op, &p, shape, &x, Some(&mask), D::Vjp(&u)).unwrap();
            results.push((t, op, r.out, r.d, r.e));
        }
    }
    rank_relax::set_num_threads(threads);
    let (one, three) = results.split_at(2);
    for (a, b) in one.iter().zip(three) {
        assert_eq!((&a.2, &a.3, &a.4), (&b.2, &b.3, &b.4), "{}", a.1);
    }
}
