//! The reference cases (`RANK_RELAX_REFERENCE`, default `testdata/reference/ops-v1.json`) and the
//! core called directly on them, in the caller's buffers.

use std::path::PathBuf;

use rank_relax::ops::{ndcg_loss, sigmoid_rank, soft_rank, soft_sort, spearman_loss};
use rank_relax::{Direction, Error, Real, Regularization, Shape};
use serde_json::Value;

/// An op the check knows: its inputs in spec order (name, differentiable) and whether its output
/// is one value per row.
#[derive(Clone, Copy, Debug)]
pub struct OpInfo {
    /// The spec name.
    pub name: &'static str,
    /// Inputs in argument order, with whether the pullback returns their gradient.
    pub inputs: &'static [(&'static str, bool)],
    /// The output is `[batch]` (a loss) rather than of the input's shape `[batch, n]` (or, for
    /// soft_quantile and neural_sort, `[batch, m]` and `[batch, n, n]`, which only the bad-input
    /// matrix reaches, through the op's own results).
    pub loss: bool,
    /// `op_pullback!(grad, tape, cotangent)` may take the cotangent as the gradient array
    /// (documented per op; elsewhere an overlap is an `ArgumentError`).
    pub grad_may_alias_cotangent: bool,
}

/// Every op of `bindings-spec/rank-relax.yaml`, for the bad-input matrix. A reference case of an op
/// that [`forward`] / [`backward`] do not call fails the check (the reference file,
/// `RANK_RELAX_REFERENCE`, holds the first five ops).
pub const OPS: &[OpInfo] = &[
    OpInfo {
        name: "soft_rank",
        inputs: &[("values", true)],
        loss: false,
        grad_may_alias_cotangent: true,
    },
    OpInfo {
        name: "soft_sort",
        inputs: &[("values", true)],
        loss: false,
        grad_may_alias_cotangent: true,
    },
    OpInfo {
        name: "sigmoid_rank",
        inputs: &[("values", true)],
        loss: false,
        grad_may_alias_cotangent: false,
    },
    OpInfo {
        name: "spearman_loss",
        inputs: &[("predictions", true), ("targets", true)],
        loss: true,
        grad_may_alias_cotangent: false,
    },
    OpInfo {
        name: "ndcg_loss",
        inputs: &[("scores", true), ("relevance", false)],
        loss: true,
        grad_may_alias_cotangent: false,
    },
    OpInfo {
        name: "soft_topk",
        inputs: &[("values", true)],
        loss: false,
        grad_may_alias_cotangent: true,
    },
    OpInfo {
        name: "soft_quantile",
        inputs: &[("values", true)],
        loss: false,
        grad_may_alias_cotangent: false,
    },
    OpInfo {
        name: "neural_sort",
        inputs: &[("values", true)],
        loss: false,
        grad_may_alias_cotangent: false,
    },
    OpInfo {
        name: "neural_sort_apply",
        inputs: &[("values", true), ("payload", true)],
        loss: false,
        grad_may_alias_cotangent: false,
    },
];

/// The entry of `op` in [`OPS`].
pub fn op_info(op: &str) -> Result<&'static OpInfo, String> {
    OPS.iter().find(|o| o.name == op).ok_or_else(|| {
        format!("op {op} is not known to rank-relax-julia-check (add it to reference::OPS)")
    })
}

/// A param value of a case, as the file writes it.
#[derive(Clone, Debug, PartialEq)]
pub enum ParamValue {
    /// A real (ε).
    Real(f64),
    /// An enum value by name.
    Name(String),
}

/// One case of the reference file.
#[derive(Clone, Debug)]
pub struct Case {
    /// Position in the file.
    pub index: usize,
    /// The op.
    pub op: &'static OpInfo,
    /// The params by spec name, in the file's order.
    pub params: Vec<(String, ParamValue)>,
    /// Rows and items per row.
    pub shape: Shape,
    /// Row-major `[batch, n]` inputs, in [`OpInfo::inputs`] order.
    pub inputs: Vec<Vec<f64>>,
    /// The case's cotangent, or a deterministic one when the case has none.
    pub cotangent: Vec<f64>,
}

impl Case {
    /// A short description for messages.
    pub fn describe(&self) -> String {
        let params: Vec<String> = self
            .params
            .iter()
            .map(|(k, v)| match v {
                ParamValue::Real(x) => format!("{k}={x}"),
                ParamValue::Name(s) => format!("{k}={s}"),
            })
            .collect();
        format!(
            "case {} ({} {}, {}×{})",
            self.index,
            self.op.name,
            params.join(" "),
            self.shape.batch,
            self.shape.n
        )
    }

    /// ε, else the spec's default 1.
    pub fn eps(&self) -> f64 {
        self.params
            .iter()
            .find_map(|(k, v)| match (k.as_str(), v) {
                ("regularization_strength", ParamValue::Real(x)) => Some(*x),
                _ => None,
            })
            .unwrap_or(1.0)
    }

    fn name_param(&self, name: &str) -> Option<&str> {
        self.params.iter().find_map(|(k, v)| match v {
            ParamValue::Name(s) if k == name => Some(s.as_str()),
            _ => None,
        })
    }

    /// The core's params of the case in `T`.
    pub fn core_params<T: Real>(&self) -> Result<CoreParams<T>, Error> {
        Ok(CoreParams {
            eps: T::from_f64(self.eps()),
            reg: match self.name_param("regularization") {
                Some(s) => Regularization::parse(s)?,
                None => Regularization::L2,
            },
            dir: match self.name_param("direction") {
                Some(s) => Direction::parse(s)?,
                None => Direction::Ascending,
            },
        })
    }

    /// The length of the output (`batch × n`, or `batch` for a loss).
    pub fn output_len(&self) -> usize {
        if self.op.loss {
            self.shape.batch
        } else {
            self.shape.batch * self.shape.n
        }
    }
}

/// The reference file's path: `RANK_RELAX_REFERENCE`, else the checkout's copy.
pub fn reference_path() -> PathBuf {
    match std::env::var_os("RANK_RELAX_REFERENCE") {
        Some(p) => PathBuf::from(p),
        None => crate::repo_root().join("testdata/reference/ops-v1.json"),
    }
}

fn matrix(v: &Value) -> Result<(Vec<f64>, usize, usize), String> {
    let rows = v.as_array().ok_or("not an array")?;
    let mut flat = vec![];
    let mut n = 0;
    for row in rows {
        match row {
            Value::Array(items) => {
                n = items.len();
                for x in items {
                    flat.push(x.as_f64().ok_or("not a number")?);
                }
            }
            x => flat.push(x.as_f64().ok_or("not a number")?),
        }
    }
    Ok((flat, rows.len(), n))
}

/// Every case of the reference file. Fails on a missing file, another format, or an unknown op.
pub fn load() -> Result<Vec<Case>, String> {
    let path = reference_path();
    let text = std::fs::read_to_string(&path).map_err(|e| {
        format!(
            "cannot read the reference file {} ({e}); set RANK_RELAX_REFERENCE",
            path.display()
        )
    })?;
    let doc: Value = serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    if doc["format"] != "rank-relax reference vectors v1" || doc["dtype"] != "float64" {
        return Err(format!("{}: unknown format/dtype", path.display()));
    }
    let cases = doc["cases"].as_array().ok_or("no cases")?;
    let mut out = vec![];
    for (index, c) in cases.iter().enumerate() {
        let op = op_info(c["op"].as_str().ok_or("case without op")?)?;
        let mut params = vec![];
        for (k, v) in c["params"].as_object().ok_or("case without params")? {
            let v = match v {
                Value::String(s) => ParamValue::Name(s.clone()),
                v => ParamValue::Real(v.as_f64().ok_or("param neither string nor number")?),
            };
            params.push((k.clone(), v));
        }
        let mut shape = Shape::default();
        let mut inputs = vec![];
        for (name, _) in op.inputs {
            let (flat, batch, n) = matrix(&c["inputs"][*name])
                .map_err(|e| format!("case {index}: input {name}: {e}"))?;
            shape = Shape { batch, n };
            inputs.push(flat);
        }
        let out_len = if op.loss {
            shape.batch
        } else {
            shape.batch * shape.n
        };
        let cotangent = match c.get("cotangent") {
            Some(v) => {
                matrix(v)
                    .map_err(|e| format!("case {index}: cotangent: {e}"))?
                    .0
            }
            // a deterministic cotangent, so that every case checks a pullback
            None => (0..out_len).map(|k| (k % 7) as f64 * 0.25 - 0.75).collect(),
        };
        out.push(Case {
            index,
            op,
            params,
            shape,
            inputs,
            cotangent,
        });
    }
    if out.is_empty() {
        return Err(format!("{}: no cases", path.display()));
    }
    Ok(out)
}

/// The params of any op in `T` (those an op does not have are ignored).
#[derive(Clone, Copy, Debug)]
pub struct CoreParams<T> {
    /// ε.
    pub eps: T,
    /// The regularization.
    pub reg: Regularization,
    /// The direction.
    pub dir: Direction,
}

impl<T: Real> CoreParams<T> {
    fn soft_rank(self) -> soft_rank::Params<T> {
        soft_rank::Params {
            regularization_strength: self.eps,
            regularization: self.reg,
            direction: self.dir,
        }
    }

    fn soft_sort(self) -> soft_sort::Params<T> {
        soft_sort::Params {
            regularization_strength: self.eps,
            regularization: self.reg,
            direction: self.dir,
        }
    }

    fn sigmoid_rank(self) -> sigmoid_rank::Params<T> {
        sigmoid_rank::Params {
            regularization_strength: self.eps,
            direction: self.dir,
        }
    }

    fn spearman_loss(self) -> spearman_loss::Params<T> {
        spearman_loss::Params {
            regularization_strength: self.eps,
            regularization: self.reg,
        }
    }

    fn ndcg_loss(self) -> ndcg_loss::Params<T> {
        ndcg_loss::Params {
            regularization_strength: self.eps,
            regularization: self.reg,
        }
    }
}

/// A forward's output and residuals, in the caller's element type.
#[derive(Clone, Debug, PartialEq)]
pub struct Forward<T> {
    /// `[batch, n]`, or `[batch]` for a loss.
    pub output: Vec<T>,
    /// Real residuals, in argument order.
    pub real: Vec<Vec<T>>,
    /// Integer residuals, in argument order.
    pub int: Vec<Vec<i32>>,
}

/// A backward's input gradients (differentiable inputs, in order) and per-row ε-gradients.
#[derive(Clone, Debug, PartialEq)]
pub struct Backward<T> {
    /// One per differentiable input.
    pub grads: Vec<Vec<T>>,
    /// One per row.
    pub grad_eps: Vec<T>,
}

fn zeros<T: Real>(len: usize) -> Vec<T> {
    vec![T::from_f64(0.0); len]
}

/// The core's forward of `op` on `inputs` (row-major `[batch, n]` each), into new buffers.
pub fn forward<T: Real>(
    op: &str,
    shape: Shape,
    p: CoreParams<T>,
    inputs: &[&[T]],
) -> Result<Forward<T>, Error> {
    let len = shape.batch * shape.n;
    Ok(match op {
        "soft_rank" => {
            let params = p.soft_rank();
            let (mut r, mut perm) = (zeros::<T>(len), vec![0i32; len]);
            soft_rank::forward(shape, &params, inputs[0], &mut r, &mut perm)?;
            Forward {
                output: r.clone(),
                real: vec![r],
                int: vec![perm],
            }
        }
        "soft_sort" => {
            let params = p.soft_sort();
            let (mut s, mut perm) = (zeros::<T>(len), vec![0i32; len]);
            soft_sort::forward(shape, &params, inputs[0], &mut s, &mut perm)?;
            Forward {
                output: s,
                real: vec![],
                int: vec![perm],
            }
        }
        "sigmoid_rank" => {
            let params = p.sigmoid_rank();
            let mut r = zeros::<T>(len);
            sigmoid_rank::forward(shape, &params, inputs[0], &mut r)?;
            Forward {
                output: r,
                real: vec![],
                int: vec![],
            }
        }
        "spearman_loss" => {
            let params = p.spearman_loss();
            let mut loss = zeros::<T>(shape.batch);
            let (mut ar, mut ap) = (zeros::<T>(len), vec![0i32; len]);
            let (mut br, mut bp) = (zeros::<T>(len), vec![0i32; len]);
            spearman_loss::forward(
                shape, &params, inputs[0], inputs[1], &mut loss, &mut ar, &mut ap, &mut br, &mut bp,
            )?;
            Forward {
                output: loss,
                real: vec![ar, br],
                int: vec![ap, bp],
            }
        }
        "ndcg_loss" => {
            let params = p.ndcg_loss();
            let mut loss = zeros::<T>(shape.batch);
            let (mut r, mut perm) = (zeros::<T>(len), vec![0i32; len]);
            ndcg_loss::forward(
                shape, &params, inputs[0], inputs[1], &mut loss, &mut r, &mut perm,
            )?;
            Forward {
                output: loss,
                real: vec![r],
                int: vec![perm],
            }
        }
        _ => panic!("unknown op {op}"),
    })
}

/// The core's backward of `op` from a [`forward`] of the same inputs.
pub fn backward<T: Real>(
    op: &str,
    shape: Shape,
    p: CoreParams<T>,
    inputs: &[&[T]],
    fwd: &Forward<T>,
    cotangent: &[T],
) -> Result<Backward<T>, Error> {
    let len = shape.batch * shape.n;
    let mut ge = zeros::<T>(shape.batch);
    let grads = match op {
        "soft_rank" => {
            let params = p.soft_rank();
            let mut g = zeros::<T>(len);
            soft_rank::backward(
                shape,
                &params,
                inputs[0],
                &fwd.real[0],
                &fwd.int[0],
                cotangent,
                &mut g,
                &mut ge,
            )?;
            vec![g]
        }
        "soft_sort" => {
            let params = p.soft_sort();
            let mut g = zeros::<T>(len);
            soft_sort::backward(
                shape,
                &params,
                inputs[0],
                &fwd.int[0],
                cotangent,
                &mut g,
                &mut ge,
            )?;
            vec![g]
        }
        "sigmoid_rank" => {
            let params = p.sigmoid_rank();
            let mut g = zeros::<T>(len);
            sigmoid_rank::backward(shape, &params, inputs[0], cotangent, &mut g, &mut ge)?;
            vec![g]
        }
        "spearman_loss" => {
            let params = p.spearman_loss();
            let (mut ga, mut gb) = (zeros::<T>(len), zeros::<T>(len));
            spearman_loss::backward(
                shape,
                &params,
                inputs[0],
                inputs[1],
                &fwd.real[0],
                &fwd.int[0],
                &fwd.real[1],
                &fwd.int[1],
                cotangent,
                &mut ga,
                &mut gb,
                &mut ge,
            )?;
            vec![ga, gb]
        }
        "ndcg_loss" => {
            let params = p.ndcg_loss();
            let mut g = zeros::<T>(len);
            ndcg_loss::backward(
                shape,
                &params,
                inputs[0],
                inputs[1],
                &fwd.real[0],
                &fwd.int[0],
                cotangent,
                &mut g,
                &mut ge,
            )?;
            vec![g]
        }
        _ => panic!("unknown op {op}"),
    };
    Ok(Backward {
        grads,
        grad_eps: ge,
    })
}
