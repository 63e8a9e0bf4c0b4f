//! One entry point over every op, so the reference, gradient and property tests treat ops alike.
#![allow(dead_code)]

use rank_relax::ops::{ndcg_loss, sigmoid_rank, soft_rank, soft_sort, spearman_loss};
use rank_relax::{Direction, Error, Real, Regularization, Shape};

/// The params of any op (unused ones ignored).
#[derive(Clone, Copy, Debug)]
pub struct P {
    pub eps: f64,
    pub reg: Regularization,
    pub dir: Direction,
}

impl P {
    pub fn new(eps: f64, reg: Regularization, dir: Direction) -> Self {
        P { eps, reg, dir }
    }
}

/// The spec as data (rank-relax-codegen's `core` target).
pub mod all_ops;
pub mod dispatch;
pub mod generated;

use generated::Dim;

/// The ops the harness below drives (`forward_sized`, `run_sized`, `variants`), sorted by name:
/// the gradient, property, robustness, concurrency and JVP tests run each of them alike.
pub const OPS: [&str; 5] = [
    "ndcg_loss",
    "sigmoid_rank",
    "soft_rank",
    "soft_sort",
    "spearman_loss",
];

/// The spec's entry of an op.
pub fn spec_of(op: &str) -> &'static generated::Op {
    generated::OPS
        .iter()
        .find(|o| o.name == op)
        .unwrap_or_else(|| panic!("unknown op {op}"))
}

/// The required input names of an op (its real inputs; not the optional mask), in spec order,
/// and whether each is differentiable.
pub fn inputs_of(op: &str) -> Vec<(&'static str, bool)> {
    spec_of(op)
        .inputs
        .iter()
        .filter(|i| !i.optional && i.elem == generated::Elem::Real)
        .map(|i| (i.name, i.differentiable))
        .collect()
}

/// The int32 input names of an op (soft_rank_grouped's `groups`), in spec order.
pub fn int_inputs_of(op: &str) -> Vec<&'static str> {
    spec_of(op)
        .inputs
        .iter()
        .filter(|i| i.elem == generated::Elem::Int32)
        .map(|i| i.name)
        .collect()
}

/// Whether the op's output is one value per row (shape `[batch]`).
pub fn is_loss(op: &str) -> bool {
    spec_of(op).outputs.iter().all(|t| t.dims == [Dim::Batch])
}

/// What a forward + backward produced, widened to f64.
#[derive(Clone, Debug, PartialEq)]
pub struct Outcome {
    /// The output, `[batch, n]` or `[batch]`.
    pub output: Vec<f64>,
    /// One gradient per differentiable input (empty without a cotangent).
    pub grads: Vec<Vec<f64>>,
    /// The ε-gradient per row (empty without a cotangent).
    pub grad_eps: Vec<f64>,
}

/// `v` widened to f64.
pub fn widen<T: Real>(v: &[T]) -> Vec<f64> {
    v.iter().map(|x| x.to_f64()).collect()
}

/// `v` rounded to `T`.
pub fn cast<T: Real>(v: &[f64]) -> Vec<T> {
    v.iter().map(|&x| T::from_f64(x)).collect()
}

/// `len` zeros.
pub fn zeros<T: Real>(len: usize) -> Vec<T> {
    vec![T::from_f64(0.0); len]
}

/// Every (regularization, direction) an op distinguishes.
pub fn variants(op: &str) -> Vec<(Regularization, Direction)> {
    let regs: &[Regularization] = if op == "sigmoid_rank" {
        &[Regularization::L2]
    } else {
        Regularization::ALL
    };
    let dirs: &[Direction] = if is_loss(op) {
        &[Direction::Ascending]
    } else {
        Direction::ALL
    };
    regs.iter()
        .flat_map(|&r| dirs.iter().map(move |&d| (r, d)))
        .collect()
}

/// Random inputs for an op of the spec, in spec order (relevance as grades).
pub fn random_inputs(op: &str, shape: Shape, seed: u64) -> Vec<Vec<f64>> {
    let mut rng = data::rng(seed);
    let len = shape.batch * shape.n;
    inputs_of(op)
        .iter()
        .map(|(name, _)| {
            if *name == "relevance" {
                data::grades(&mut rng, len)
            } else {
                data::uniform(&mut rng, len, -2.0, 2.0)
            }
        })
        .collect()
}

impl P {
    pub fn soft_rank<T: Real>(self) -> soft_rank::Params<T> {
        soft_rank::Params {
            regularization_strength: T::from_f64(self.eps),
            regularization: self.reg,
            direction: self.dir,
        }
    }

    pub fn soft_sort<T: Real>(self) -> soft_sort::Params<T> {
        soft_sort::Params {
            regularization_strength: T::from_f64(self.eps),
            regularization: self.reg,
            direction: self.dir,
        }
    }

    pub fn sigmoid_rank<T: Real>(self) -> sigmoid_rank::Params<T> {
        sigmoid_rank::Params {
            regularization_strength: T::from_f64(self.eps),
            direction: self.dir,
        }
    }

    pub fn spearman_loss<T: Real>(self) -> spearman_loss::Params<T> {
        spearman_loss::Params {
            regularization_strength: T::from_f64(self.eps),
            regularization: self.reg,
        }
    }

    pub fn ndcg_loss<T: Real>(self) -> ndcg_loss::Params<T> {
        ndcg_loss::Params {
            regularization_strength: T::from_f64(self.eps),
            regularization: self.reg,
        }
    }
}

/// A forward's output and the residuals its backward and JVP take, in argument order.
pub struct Saved<T> {
    /// `[batch, n]`, or `[batch]` for a loss.
    pub output: Vec<T>,
    /// Real residuals.
    pub real: Vec<Vec<T>>,
    /// Integer residuals.
    pub int: Vec<Vec<i32>>,
}

/// Runs the op's forward with its output and residual buffers sized for `rows` rows of `width`
/// items (see [`run_sized`]).
pub fn forward_sized<T: Real>(
    op: &str,
    p: P,
    shape: Shape,
    (b, n): (usize, usize),
    inputs: &[Vec<T>],
) -> Result<Saved<T>, Error> {
    Ok(match op {
        "soft_rank" => {
            let (mut r, mut perm) = (zeros::<T>(b * n), vec![0i32; b * n]);
            soft_rank::forward(shape, &p.soft_rank(), &inputs[0], None, &mut r, &mut perm)?;
            Saved {
                output: r.clone(),
                real: vec![r],
                int: vec![perm],
            }
        }
        "soft_sort" => {
            let (mut s, mut perm) = (zeros::<T>(b * n), vec![0i32; b * n]);
            soft_sort::forward(shape, &p.soft_sort(), &inputs[0], None, &mut s, &mut perm)?;
            Saved {
                output: s,
                real: vec![],
                int: vec![perm],
            }
        }
        "sigmoid_rank" => {
            let mut r = zeros::<T>(b * n);
            sigmoid_rank::forward(shape, &p.sigmoid_rank(), &inputs[0], None, &mut r)?;
            Saved {
                output: r,
                real: vec![],
                int: vec![],
            }
        }
        "spearman_loss" => {
            let mut loss = zeros::<T>(b);
            let (mut ar, mut ap) = (zeros::<T>(b * n), vec![0i32; b * n]);
            let (mut br, mut bp) = (zeros::<T>(b * n), vec![0i32; b * n]);
            spearman_loss::forward(
                shape,
                &p.spearman_loss(),
                &inputs[0],
                &inputs[1],
                None,
                &mut loss,
                &mut ar,
                &mut ap,
                &mut br,
                &mut bp,
            )?;
            Saved {
                output: loss,
                real: vec![ar, br],
                int: vec![ap, bp],
            }
        }
        "ndcg_loss" => {
            let mut loss = zeros::<T>(b);
            let (mut r, mut perm) = (zeros::<T>(b * n), vec![0i32; b * n]);
            ndcg_loss::forward(
                shape,
                &p.ndcg_loss(),
                &inputs[0],
                &inputs[1],
                None,
                &mut loss,
                &mut r,
                &mut perm,
            )?;
            Saved {
                output: loss,
                real: vec![r],
                int: vec![perm],
            }
        }
        _ => panic!("unknown op {op}"),
    })
}

/// [`forward_sized`] for the call's shape.
pub fn forward<T: Real>(
    op: &str,
    p: P,
    shape: Shape,
    inputs: &[Vec<T>],
) -> Result<Saved<T>, Error> {
    forward_sized(op, p, shape, (shape.batch, shape.n), inputs)
}

/// Runs the op's forward and, with a cotangent, its backward.
pub fn run<T: Real>(
    op: &str,
    p: P,
    shape: Shape,
    inputs: &[Vec<T>],
    cotangent: Option<&[T]>,
) -> Result<Outcome, Error> {
    run_sized(op, p, shape, (shape.batch, shape.n), inputs, cotangent)
}

/// [`run`] with the output, residual and gradient buffers sized for `rows` rows of `width`
/// items (not necessarily the call's shape: a shape whose `batch × n` overflows gets empty ones).
pub fn run_sized<T: Real>(
    op: &str,
    p: P,
    shape: Shape,
    (b, n): (usize, usize),
    inputs: &[Vec<T>],
    cotangent: Option<&[T]>,
) -> Result<Outcome, Error> {
    let saved = forward_sized(op, p, shape, (b, n), inputs)?;
    let mut out = Outcome {
        output: widen(&saved.output),
        grads: vec![],
        grad_eps: vec![],
    };
    let Some(u) = cotangent else {
        return Ok(out);
    };
    let (x, r, i) = (inputs, &saved.real, &saved.int);
    let mut ge = zeros::<T>(b);
    let mut g = zeros::<T>(b * n);
    out.grads = match op {
        "soft_rank" => {
            let params = p.soft_rank();
            soft_rank::backward(
                shape, &params, &x[0], None, &r[0], &i[0], u, &mut g, &mut ge,
            )?;
            vec![widen(&g)]
        }
        "soft_sort" => {
            soft_sort::backward(
                shape,
                &p.soft_sort(),
                &x[0],
                None,
                &i[0],
                u,
                &mut g,
                &mut ge,
            )?;
            vec![widen(&g)]
        }
        "sigmoid_rank" => {
            sigmoid_rank::backward(shape, &p.sigmoid_rank(), &x[0], None, u, &mut g, &mut ge)?;
            vec![widen(&g)]
        }
        "spearman_loss" => {
            let mut gb = zeros::<T>(b * n);
            spearman_loss::backward(
                shape,
                &p.spearman_loss(),
                &x[0],
                &x[1],
                None,
                &r[0],
                &i[0],
                &r[1],
                &i[1],
                u,
                &mut g,
                &mut gb,
                &mut ge,
            )?;
            vec![widen(&g), widen(&gb)]
        }
        "ndcg_loss" => {
            ndcg_loss::backward(
                shape,
                &p.ndcg_loss(),
                &x[0],
                &x[1],
                None,
                &r[0],
                &i[0],
                u,
                &mut g,
                &mut ge,
            )?;
            vec![widen(&g)]
        }
        _ => panic!("unknown op {op}"),
    };
    out.grad_eps = widen(&ge);
    Ok(out)
}

/// Deterministic test data from a seeded `rand` generator.
pub mod data {
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};
    use rank_relax::Shape;

    pub fn rng(seed: u64) -> StdRng {
        StdRng::seed_from_u64(seed)
    }

    /// `len` values uniform in `[lo, hi)`.
    pub fn uniform(rng: &mut StdRng, len: usize, lo: f64, hi: f64) -> Vec<f64> {
        (0..len).map(|_| rng.random_range(lo..hi)).collect()
    }

    /// `len` relevance grades in `{0, 1, 2, 3}`.
    pub fn grades(rng: &mut StdRng, len: usize) -> Vec<f64> {
        (0..len).map(|_| rng.random_range(0..4) as f64).collect()
    }

    /// Rows whose magnitudes span `lo..=hi` (both signs, with ties and zeros).
    pub fn spanning(shape: Shape, lo: f64, hi: f64, seed: u64) -> Vec<f64> {
        let mut rng = rng(seed);
        let (a, b) = (lo.log10(), hi.log10());
        let u = uniform(&mut rng, 2 * shape.batch * shape.n, 0.0, 1.0);
        (0..shape.batch * shape.n)
            .map(|i| match i % 7 {
                0 => 0.0,
                1 => hi,
                2 => -hi,
                3 => lo,
                _ => {
                    let m = 10f64.powf(a + (b - a) * u[2 * i]);
                    if u[2 * i + 1] < 0.5 {
                        -m
                    } else {
                        m
                    }
                }
            })
            .collect()
    }
}

/// Reference-vector files (`testdata/reference/`) and the tolerances their tests compare with.
pub mod reference {
    use std::path::PathBuf;

    use serde_json::Value;

    /// The cases of a reference file: the one the environment variable `var` names, else
    /// `testdata/reference/<file>`; its format and dtype checked, at least one case.
    pub fn cases(var: &str, file: &str) -> Vec<Value> {
        let path = match std::env::var_os(var) {
            Some(p) => PathBuf::from(p),
            None => PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../../testdata/reference")
                .join(file),
        };
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
            panic!(
                "cannot read the reference file {} ({e}); set {var}",
                path.display()
            )
        });
        let doc: Value = serde_json::from_str(&text).expect("reference file is JSON");
        assert_eq!(doc["format"], "rank-relax reference vectors v1");
        assert_eq!(doc["dtype"], "float64");
        let cases = doc["cases"].as_array().expect("cases").clone();
        assert!(!cases.is_empty());
        cases
    }

    /// Element-wise within `abs + rel·|want|`.
    pub fn assert_close(what: &str, got: &[f64], want: &[f64], abs: f64, rel: f64) {
        assert_eq!(got.len(), want.len(), "{what}: length");
        for (k, (g, w)) in got.iter().zip(want).enumerate() {
            assert!(
                (g - w).abs() <= abs + rel * w.abs(),
                "{what}[{k}]: got {g:e}, want {w:e} (diff {:e})\n got: {got:?}\nwant: {want:?}",
                (g - w).abs()
            );
        }
    }

    /// f32 against f64 within `tol` of each row's largest magnitude (`width` values per row),
    /// and at least of `floor`.
    pub fn assert_close_rows(
        what: &str,
        got: &[f64],
        want: &[f64],
        width: usize,
        tol: f64,
        floor: f64,
    ) {
        assert_eq!(got.len(), want.len(), "{what}: length");
        for (r, (g, w)) in got
            .chunks(width.max(1))
            .zip(want.chunks(width.max(1)))
            .enumerate()
        {
            let scale = w.iter().fold(floor, |m, x| m.max(x.abs()));
            for (k, (a, b)) in g.iter().zip(w).enumerate() {
                assert!(
                    (a - b).abs() <= tol * scale,
                    "{what}[{r}, {k}]: f32 {a:e} vs f64 {b:e} (row scale {scale:e})"
                );
            }
        }
    }
}
