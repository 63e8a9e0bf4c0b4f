//! Every op of the core through one call with an optional mask, its params as the reference
//! and bad-input files spell them, and any kernel after the forward.

use rank_relax::ops::{
    ndcg_loss, neural_sort, neural_sort_apply, sigmoid_rank, soft_quantile, soft_rank, soft_sort,
    soft_topk, spearman_loss,
};
use rank_relax::{Direction, Error, Real, Regularization, Shape, TopkRegularization};
use serde_json::Value;

use super::zeros;

pub const ALL_OPS: [&str; 9] = [
    "soft_rank",
    "soft_sort",
    "sigmoid_rank",
    "spearman_loss",
    "ndcg_loss",
    "soft_topk",
    "soft_quantile",
    "neural_sort",
    "neural_sort_apply",
];

/// An op's params as the reference file spells them.
#[derive(Clone, Debug)]
pub struct P {
    pub eps: f64,
    pub reg: Option<String>,
    pub dir: Option<String>,
    pub k: i64,
    pub quantiles: Vec<f64>,
}

impl P {
    pub fn from_json(v: &Value) -> P {
        P {
            eps: v["regularization_strength"].as_f64().unwrap_or(1.0),
            reg: v["regularization"].as_str().map(str::to_owned),
            dir: v["direction"].as_str().map(str::to_owned),
            k: v["k"].as_i64().unwrap_or(1),
            quantiles: v["quantiles"].as_array().map_or(vec![0.5], |q| {
                q.iter().map(|x| x.as_f64().unwrap()).collect()
            }),
        }
    }

    pub fn with(eps: f64, reg: &str, dir: &str, k: i64) -> P {
        P {
            eps,
            reg: Some(reg.into()),
            dir: Some(dir.into()),
            k,
            quantiles: vec![0.0, 0.3, 1.0],
        }
    }

    fn reg(&self) -> Regularization {
        self.reg
            .as_deref()
            .map_or(Regularization::L2, |r| Regularization::parse(r).unwrap())
    }

    fn dir(&self, default: Direction) -> Direction {
        self.dir
            .as_deref()
            .map_or(default, |d| Direction::parse(d).unwrap())
    }
}

pub fn n_inputs(op: &str) -> usize {
    match op {
        "spearman_loss" | "ndcg_loss" | "neural_sort_apply" => 2,
        _ => 1,
    }
}

pub fn differentiable(op: &str) -> usize {
    match op {
        "spearman_loss" | "neural_sort_apply" => 2,
        _ => 1,
    }
}

/// Output elements per row.
pub fn width(op: &str, n: usize, p: &P) -> usize {
    match op {
        "spearman_loss" | "ndcg_loss" => 1,
        "soft_quantile" => p.quantiles.len(),
        "neural_sort" => n * n,
        _ => n,
    }
}

/// What to run after the forward.
pub enum D<'a, T> {
    Forward,
    Vjp(&'a [T]),
    Jvp(&'a [Vec<T>], T),
    Hvp(&'a [T], &'a [Vec<T>], T),
}

/// The forward's output and, per `D`, the VJP (one gradient per differentiable input and the
/// per-row ε-gradient), the output tangent (`d[0]`) or the HVP (one per differentiable input and
/// the per-row ε entry).
pub struct Res<T> {
    pub out: Vec<T>,
    pub d: Vec<Vec<T>>,
    pub e: Vec<T>,
}

pub fn call<T: Real>(
    op: &str,
    p: &P,
    shape: Shape,
    x: &[Vec<T>],
    mask: Option<&[bool]>,
    d: D<'_, T>,
) -> Result<Res<T>, Error> {
    let (b, n) = (shape.batch, shape.n);
    let bn = b * n;
    let eps = T::from_f64(p.eps);
    let mut out = zeros::<T>(b * width(op, n, p));
    let mut g: Vec<Vec<T>> = vec![zeros(bn); differentiable(op)];
    let mut e = zeros::<T>(b);
    let mut to = zeros::<T>(out.len());
    let jvp = matches!(d, D::Jvp(..));
    macro_rules! kernels {
        ($fwd:expr, $bwd:expr, $jvp:expr, $hvp:expr) => {{
            $fwd?;
            match d {
                D::Forward => {}
                D::Vjp(u) => $bwd(u, &mut g, &mut e)?,
                D::Jvp(t, te) => $jvp(t, te, &mut to)?,
                D::Hvp(u, t, te) => $hvp(u, t, te, &mut g, &mut e)?,
            }
        }};
    }
    match op {
        "soft_rank" => {
            let pr = soft_rank::Params {
                regularization_strength: eps,
                regularization: p.reg(),
                direction: p.dir(Direction::Ascending),
            };
            let mut perm = vec![0i32; bn];
            kernels!(
                soft_rank::forward(shape, &pr, &x[0], mask, &mut out, &mut perm),
                |u, g: &mut Vec<Vec<T>>, e: &mut Vec<T>| soft_rank::backward(
                    shape, &pr, &x[0], mask, &out, &perm, u, &mut g[0], e
                ),
                |t: &[Vec<T>], te, to: &mut Vec<T>| soft_rank::jvp(
                    shape, &pr, &x[0], mask, &out, &perm, &t[0], te, to
                ),
                |u, t: &[Vec<T>], te, g: &mut Vec<Vec<T>>, e: &mut Vec<T>| soft_rank::hvp(
                    shape, &pr, &x[0], mask, &out, &perm, u, &t[0], te, &mut g[0], e
                )
            )
        }
        "soft_sort" => {
            let pr = soft_sort::Params {
                regularization_strength: eps,
                regularization: p.reg(),
                direction: p.dir(Direction::Ascending),
            };
            let mut perm = vec![0i32; bn];
            kernels!(
                soft_sort::forward(shape, &pr, &x[0], mask, &mut out, &mut perm),
                |u, g: &mut Vec<Vec<T>>, e: &mut Vec<T>| soft_sort::backward(
                    shape, &pr, &x[0], mask, &perm, u, &mut g[0], e
                ),
                |t: &[Vec<T>], te, to: &mut Vec<T>| soft_sort::jvp(
                    shape, &pr, &x[0], mask, &perm, &t[0], te, to
                ),
                |u, t: &[Vec<T>], te, g: &mut Vec<Vec<T>>, e: &mut Vec<T>| soft_sort::hvp(
                    shape, &pr, &x[0], mask, &perm, u, &t[0], te, &mut g[0], e
                )
            )
        }
        "sigmoid_rank" => {
            let pr = sigmoid_rank::Params {
                regularization_strength: eps,
                direction: p.dir(Direction::Ascending),
            };
            kernels!(
                sigmoid_rank::forward(shape, &pr, &x[0], mask, &mut out),
                |u, g: &mut Vec<Vec<T>>, e: &mut Vec<T>| sigmoid_rank::backward(
                    shape, &pr, &x[0], mask, u, &mut g[0], e
                ),
                |t: &[Vec<T>], te, to: &mut Vec<T>| sigmoid_rank::jvp(
                    shape, &pr, &x[0], mask, &t[0], te, to
                ),
                |u, t: &[Vec<T>], te, g: &mut Vec<Vec<T>>, e: &mut Vec<T>| sigmoid_rank::hvp(
                    shape, &pr, &x[0], mask, u, &t[0], te, &mut g[0], e
                )
            )
        }
        "spearman_loss" => {
            let pr = spearman_loss::Params {
                regularization_strength: eps,
                regularization: p.reg(),
            };
            let (mut pr_r, mut pr_p, mut tr, mut tp) = (
                zeros::<T>(bn),
                vec![0i32; bn],
                zeros::<T>(bn),
                vec![0i32; bn],
            );
            kernels!(
                spearman_loss::forward(
                    shape, &pr, &x[0], &x[1], mask, &mut out, &mut pr_r, &mut pr_p, &mut tr,
                    &mut tp
                ),
                |u, g: &mut Vec<Vec<T>>, e: &mut Vec<T>| {
                    let [g0, g1] = &mut g[..] else { unreachable!() };
                    spearman_loss::backward(
                        shape, &pr, &x[0], &x[1], mask, &pr_r, &pr_p, &tr, &tp, u, g0, g1, e,
                    )
                },
                |t: &[Vec<T>], te, to: &mut Vec<T>| spearman_loss::jvp(
                    shape, &pr, &x[0], &x[1], mask, &pr_r, &pr_p, &tr, &tp, &t[0], &t[1], te, to
                ),
                |u, t: &[Vec<T>], te, g: &mut Vec<Vec<T>>, e: &mut Vec<T>| {
                    let [g0, g1] = &mut g[..] else { unreachable!() };
                    spearman_loss::hvp(
                        shape, &pr, &x[0], &x[1], mask, &pr_r, &pr_p, &tr, &tp, u, &t[0], &t[1],
                        te, g0, g1, e,
                    )
                }
            )
        }
        "ndcg_loss" => {
            let pr = ndcg_loss::Params {
                regularization_strength: eps,
                regularization: p.reg(),
            };
            let (mut r, mut perm) = (zeros::<T>(bn), vec![0i32; bn]);
            kernels!(
                ndcg_loss::forward(shape, &pr, &x[0], &x[1], mask, &mut out, &mut r, &mut perm),
                |u, g: &mut Vec<Vec<T>>, e: &mut Vec<T>| ndcg_loss::backward(
                    shape, &pr, &x[0], &x[1], mask, &r, &perm, u, &mut g[0], e
                ),
                |t: &[Vec<T>], te, to: &mut Vec<T>| ndcg_loss::jvp(
                    shape, &pr, &x[0], &x[1], mask, &r, &perm, &t[0], te, to
                ),
                |u, t: &[Vec<T>], te, g: &mut Vec<Vec<T>>, e: &mut Vec<T>| ndcg_loss::hvp(
                    shape, &pr, &x[0], &x[1], mask, &r, &perm, u, &t[0], te, &mut g[0], e
                )
            )
        }
        "soft_topk" => {
            let pr = soft_topk::Params {
                k: p.k,
                regularization_strength: eps,
                regularization: p.reg.as_deref().map_or(TopkRegularization::L2, |r| {
                    TopkRegularization::parse(r).unwrap()
                }),
                direction: p.dir(Direction::Descending),
            };
            let mut perm = vec![0i32; bn];
            kernels!(
                soft_topk::forward(shape, &pr, &x[0], mask, &mut out, &mut perm),
                |u, g: &mut Vec<Vec<T>>, e: &mut Vec<T>| soft_topk::backward(
                    shape, &pr, &x[0], mask, &perm, u, &mut g[0], e
                ),
                |t: &[Vec<T>], te, to: &mut Vec<T>| soft_topk::jvp(
                    shape, &pr, &x[0], mask, &perm, &t[0], te, to
                ),
                |u, t: &[Vec<T>], te, g: &mut Vec<Vec<T>>, e: &mut Vec<T>| soft_topk::hvp(
                    shape, &pr, &x[0], mask, &perm, u, &t[0], te, &mut g[0], e
                )
            )
        }
        "soft_quantile" => {
            let pr = soft_quantile::Params {
                quantiles: p.quantiles.iter().map(|&q| T::from_f64(q)).collect(),
                regularization_strength: eps,
                regularization: p.reg(),
            };
            let mut perm = vec![0i32; bn];
            kernels!(
                soft_quantile::forward(shape, &pr, &x[0], mask, &mut out, &mut perm),
                |u, g: &mut Vec<Vec<T>>, e: &mut Vec<T>| soft_quantile::backward(
                    shape, &pr, &x[0], mask, &perm, u, &mut g[0], e
                ),
                |t: &[Vec<T>], te, to: &mut Vec<T>| soft_quantile::jvp(
                    shape, &pr, &x[0], mask, &perm, &t[0], te, to
                ),
                |u, t: &[Vec<T>], te, g: &mut Vec<Vec<T>>, e: &mut Vec<T>| soft_quantile::hvp(
                    shape, &pr, &x[0], mask, &perm, u, &t[0], te, &mut g[0], e
                )
            )
        }
        "neural_sort" => {
            let pr = neural_sort::Params {
                regularization_strength: eps,
                direction: p.dir(Direction::Ascending),
            };
            kernels!(
                neural_sort::forward(shape, &pr, &x[0], mask, &mut out),
                |u, g: &mut Vec<Vec<T>>, e: &mut Vec<T>| neural_sort::backward(
                    shape, &pr, &x[0], mask, &out, u, &mut g[0], e
                ),
                |t: &[Vec<T>], te, to: &mut Vec<T>| neural_sort::jvp(
                    shape, &pr, &x[0], mask, &out, &t[0], te, to
                ),
                |u, t: &[Vec<T>], te, g: &mut Vec<Vec<T>>, e: &mut Vec<T>| neural_sort::hvp(
                    shape, &pr, &x[0], mask, &out, u, &t[0], te, &mut g[0], e
                )
            )
        }
        "neural_sort_apply" => {
            let pr = neural_sort::Params {
                regularization_strength: eps,
                direction: p.dir(Direction::Ascending),
            };
            kernels!(
                neural_sort_apply::forward(shape, &pr, &x[0], &x[1], mask, &mut out),
                |u, g: &mut Vec<Vec<T>>, e: &mut Vec<T>| {
                    let [g0, g1] = &mut g[..] else { unreachable!() };
                    neural_sort_apply::backward(shape, &pr, &x[0], &x[1], mask, u, g0, g1, e)
                },
                |t: &[Vec<T>], te, to: &mut Vec<T>| neural_sort_apply::jvp(
                    shape, &pr, &x[0], &x[1], mask, &t[0], &t[1], te, to
                ),
                |u, t: &[Vec<T>], te, g: &mut Vec<Vec<T>>, e: &mut Vec<T>| {
                    let [g0, g1] = &mut g[..] else { unreachable!() };
                    neural_sort_apply::hvp(
                        shape, &pr, &x[0], &x[1], mask, u, &t[0], &t[1], te, g0, g1, e,
                    )
                }
            )
        }
        _ => panic!("unknown op {op}"),
    }
    if jvp {
        g = vec![to];
    }
    Ok(Res { out, d: g, e })
}
