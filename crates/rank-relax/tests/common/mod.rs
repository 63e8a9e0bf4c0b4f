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
pub mod generated;

use generated::Dim;

/// Every op of the spec, sorted by name.
pub const OPS: [&str; generated::OPS.len()] = {
    let mut names = [""; generated::OPS.len()];
    let mut i = 0;
    while i < names.len() {
        names[i] = generated::OPS[i].name;
        i += 1;
    }
    names
};

/// The spec's entry of an op.
pub fn spec_of(op: &str) -> &'static generated::Op {
    generated::OPS
        .iter()
        .find(|o| o.name == op)
        .unwrap_or_else(|| panic!("unknown op {op}"))
}

/// The input names of an op, in spec order, and whether each is differentiable.
pub fn inputs_of(op: &str) -> Vec<(&'static str, bool)> {
    spec_of(op)
        .inputs
        .iter()
        .map(|i| (i.name, i.differentiable))
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

fn widen<T: Real>(v: &[T]) -> Vec<f64> {
    v.iter().map(|x| x.to_f64()).collect()
}

fn zeros<T: Real>(len: usize) -> Vec<T> {
    vec![T::from_f64(0.0); len]
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
    let eps = T::from_f64(p.eps);
    let mut out = Outcome {
        output: vec![],
        grads: vec![],
        grad_eps: vec![],
    };
    let mut ge = zeros::<T>(b);
    match op {
        "soft_rank" => {
            let params = soft_rank::Params {
                regularization_strength: eps,
                regularization: p.reg,
                direction: p.dir,
            };
            let (mut r, mut perm) = (zeros::<T>(b * n), vec![0i32; b * n]);
            soft_rank::forward(shape, &params, &inputs[0], &mut r, &mut perm)?;
            out.output = widen(&r);
            if let Some(u) = cotangent {
                let mut g = zeros::<T>(b * n);
                soft_rank::backward(shape, &params, &inputs[0], &r, &perm, u, &mut g, &mut ge)?;
                out.grads = vec![widen(&g)];
            }
        }
        "soft_sort" => {
            let params = soft_sort::Params {
                regularization_strength: eps,
                regularization: p.reg,
                direction: p.dir,
            };
            let (mut s, mut perm) = (zeros::<T>(b * n), vec![0i32; b * n]);
            soft_sort::forward(shape, &params, &inputs[0], &mut s, &mut perm)?;
            out.output = widen(&s);
            if let Some(u) = cotangent {
                let mut g = zeros::<T>(b * n);
                soft_sort::backward(shape, &params, &inputs[0], &perm, u, &mut g, &mut ge)?;
                out.grads = vec![widen(&g)];
            }
        }
        "sigmoid_rank" => {
            let params = sigmoid_rank::Params {
                regularization_strength: eps,
                direction: p.dir,
            };
            let mut r = zeros::<T>(b * n);
            sigmoid_rank::forward(shape, &params, &inputs[0], &mut r)?;
            out.output = widen(&r);
            if let Some(u) = cotangent {
                let mut g = zeros::<T>(b * n);
                sigmoid_rank::backward(shape, &params, &inputs[0], u, &mut g, &mut ge)?;
                out.grads = vec![widen(&g)];
            }
        }
        "spearman_loss" => {
            let params = spearman_loss::Params {
                regularization_strength: eps,
                regularization: p.reg,
            };
            let mut loss = zeros::<T>(b);
            let (mut ar, mut ap) = (zeros::<T>(b * n), vec![0i32; b * n]);
            let (mut br, mut bp) = (zeros::<T>(b * n), vec![0i32; b * n]);
            spearman_loss::forward(
                shape, &params, &inputs[0], &inputs[1], &mut loss, &mut ar, &mut ap, &mut br,
                &mut bp,
            )?;
            out.output = widen(&loss);
            if let Some(u) = cotangent {
                let (mut ga, mut gb) = (zeros::<T>(b * n), zeros::<T>(b * n));
                spearman_loss::backward(
                    shape, &params, &inputs[0], &inputs[1], &ar, &ap, &br, &bp, u, &mut ga,
                    &mut gb, &mut ge,
                )?;
                out.grads = vec![widen(&ga), widen(&gb)];
            }
        }
        "ndcg_loss" => {
            let params = ndcg_loss::Params {
                regularization_strength: eps,
                regularization: p.reg,
            };
            let mut loss = zeros::<T>(b);
            let (mut r, mut perm) = (zeros::<T>(b * n), vec![0i32; b * n]);
            ndcg_loss::forward(
                shape, &params, &inputs[0], &inputs[1], &mut loss, &mut r, &mut perm,
            )?;
            out.output = widen(&loss);
            if let Some(u) = cotangent {
                let mut g = zeros::<T>(b * n);
                ndcg_loss::backward(
                    shape, &params, &inputs[0], &inputs[1], &r, &perm, u, &mut g, &mut ge,
                )?;
                out.grads = vec![widen(&g)];
            }
        }
        _ => panic!("unknown op {op}"),
    }
    if cotangent.is_some() {
        out.grad_eps = widen(&ge);
    }
    Ok(out)
}

/// Deterministic test data from a seeded `rand` generator.
pub mod data {
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

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
}
