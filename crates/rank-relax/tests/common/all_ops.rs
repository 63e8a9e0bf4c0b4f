//! Every op of the core through one call with an optional mask, its params as the reference
//! and bad-input files spell them, and any kernel after the forward: the generated
//! `dispatch.rs` with the tests' spelling of params and passes.

use rank_relax::{Error, Real, Shape};
use serde_json::{json, Value};

use super::dispatch::{self, Pass};

/// Every op of the spec.
pub const ALL_OPS: &[&str] = dispatch::OPS;

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

    /// As JSON, the spelling `dispatch` reads: unset enums take the op's default.
    pub fn json(&self) -> Value {
        let mut v = json!({
            "regularization_strength": self.eps,
            "k": self.k,
            "quantiles": self.quantiles,
        });
        if let Some(r) = &self.reg {
            v["regularization"] = json!(r);
        }
        if let Some(d) = &self.dir {
            v["direction"] = json!(d);
        }
        v
    }
}

/// The real inputs of `op`, as `call` takes them.
pub fn n_inputs(op: &str) -> usize {
    dispatch::inputs(op).0
}

/// The differentiable inputs of `op` (the first ones).
pub fn differentiable(op: &str) -> usize {
    dispatch::inputs(op).1
}

/// Elements per row of the first output's cotangent.
pub fn width(op: &str, n: usize, p: &P) -> usize {
    dispatch::cotangent_lens(op, &p.json(), Shape::new(1, n)).expect("valid params")[0]
}

/// What to run after the forward.
pub enum D<'a, T> {
    Forward,
    Vjp(&'a [T]),
    Jvp(&'a [Vec<T>], T),
    Hvp(&'a [T], &'a [Vec<T>], T),
}

/// The forward's first real output and its int32 outputs and, per `D`, the VJP (one gradient
/// per differentiable input and the per-row ε-gradient), the output tangent (`d[0]`) or the HVP
/// (one per differentiable input and the per-row ε entry).
pub struct Res<T> {
    pub out: Vec<T>,
    pub ints: Vec<Vec<i32>>,
    pub d: Vec<Vec<T>>,
    pub e: Vec<T>,
}

fn slices<T>(v: &[Vec<T>]) -> Vec<&[T]> {
    v.iter().map(Vec::as_slice).collect()
}

pub fn call<T: Real>(
    op: &str,
    p: &P,
    shape: Shape,
    x: &[Vec<T>],
    mask: Option<&[bool]>,
    d: D<'_, T>,
) -> Result<Res<T>, Error> {
    call_with(op, p, shape, x, &[], mask, d)
}

/// [`call`] with the op's int32 inputs (soft_rank_grouped's groups; zeros where not given).
pub fn call_with<T: Real>(
    op: &str,
    p: &P,
    shape: Shape,
    x: &[Vec<T>],
    ints: &[Vec<i32>],
    mask: Option<&[bool]>,
    d: D<'_, T>,
) -> Result<Res<T>, Error> {
    let (u, t, te);
    let pass = match d {
        D::Forward => Pass::Forward,
        D::Vjp(c) => {
            u = [c];
            Pass::Vjp(&u)
        }
        D::Jvp(tv, e) => {
            (t, te) = (slices(tv), [e]);
            Pass::Jvp(&t, &te)
        }
        D::Hvp(c, tv, e) => {
            (u, t, te) = ([c], slices(tv), [e]);
            Pass::Hvp(&u, &t, &te)
        }
    };
    let r = dispatch::run(op, &p.json(), shape, shape, x, ints, mask, pass)?;
    Ok(Res {
        out: r.real_outputs.into_iter().next().unwrap_or_default(),
        ints: r.int_outputs,
        d: r.d,
        e: r.e.into_iter().next().unwrap_or_default(),
    })
}
