//! The reference cases (`RANK_RELAX_REFERENCE`, default `testdata/reference/ops-v1.json`, and the
//! `wave2-*.json` and `masks.json` files beside it, `RANK_RELAX_REFERENCE_SORT_TOPK` and
//! `RANK_RELAX_REFERENCE_GROUPED`) and the core called directly on them, in the caller's buffers.

use std::path::PathBuf;

use rank_relax::ops::{
    ndcg_loss, neural_sort, neural_sort_apply, sigmoid_rank, soft_quantile, soft_rank,
    soft_rank_grouped, soft_sort, soft_sort_topk, soft_topk, spearman_loss,
};
use rank_relax::{Direction, Error, Real, Regularization, Shape, TopkRegularization};
use serde_json::Value;

/// The dims of an op's output after batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Output {
    /// `[batch]`: one value per row (a loss).
    PerRow,
    /// `[batch, n]`: the input's shape.
    Items,
    /// `[batch, m]`, m the number of quantile levels.
    Levels,
    /// `[batch, n, n]`.
    Matrix,
    /// `[batch, k]`, k the value of the int param `k`.
    Selected,
}

/// An op the check knows: its inputs in spec order (name, differentiable) and its output's dims.
#[derive(Clone, Copy, Debug)]
pub struct OpInfo {
    /// The spec name.
    pub name: &'static str,
    /// Inputs in argument order, with whether the pullback returns their gradient.
    pub inputs: &'static [(&'static str, bool)],
    /// The first output's dims after batch (every output has them).
    pub output: Output,
    /// The outputs after the first: int32 item positions without a derivative (0-based, −1 for
    /// none, in the core; 1-based, 0 for none, in Julia, which then returns a `NamedTuple`).
    pub index_outputs: &'static [&'static str],
    /// `op_pullback!(grad, tape, cotangent)` may take the cotangent as the gradient array
    /// (documented per op; elsewhere an overlap is an `ArgumentError`).
    pub grad_may_alias_cotangent: bool,
    /// The int32 inputs among [`OpInfo::inputs`] (group ids): not differentiable, read by the
    /// forward alone (the tape does not keep them), lent to Julia as `Int32` arrays.
    pub int_inputs: &'static [&'static str],
}

impl OpInfo {
    /// Whether input `name` is one of the op's int32 inputs.
    pub fn is_int(&self, name: &str) -> bool {
        self.int_inputs.contains(&name)
    }
}

/// Every op of `bindings-spec/rank-relax.yaml`. A reference case of another op fails the check
/// (add the op here and to [`forward`] / [`backward`]).
pub const OPS: &[OpInfo] = &[
    OpInfo {
        name: "soft_rank",
        inputs: &[("values", true)],
        output: Output::Items,
        index_outputs: &[],
        grad_may_alias_cotangent: true,
        int_inputs: &[],
    },
    OpInfo {
        name: "soft_sort",
        inputs: &[("values", true)],
        output: Output::Items,
        index_outputs: &[],
        grad_may_alias_cotangent: true,
        int_inputs: &[],
    },
    OpInfo {
        name: "sigmoid_rank",
        inputs: &[("values", true)],
        output: Output::Items,
        index_outputs: &[],
        grad_may_alias_cotangent: false,
        int_inputs: &[],
    },
    OpInfo {
        name: "spearman_loss",
        inputs: &[("predictions", true), ("targets", true)],
        output: Output::PerRow,
        index_outputs: &[],
        grad_may_alias_cotangent: false,
        int_inputs: &[],
    },
    OpInfo {
        name: "ndcg_loss",
        inputs: &[("scores", true), ("relevance", false)],
        output: Output::PerRow,
        index_outputs: &[],
        grad_may_alias_cotangent: false,
        int_inputs: &[],
    },
    OpInfo {
        name: "soft_topk",
        inputs: &[("values", true)],
        output: Output::Items,
        index_outputs: &[],
        grad_may_alias_cotangent: true,
        int_inputs: &[],
    },
    OpInfo {
        name: "soft_quantile",
        inputs: &[("values", true)],
        output: Output::Levels,
        index_outputs: &[],
        grad_may_alias_cotangent: false,
        int_inputs: &[],
    },
    OpInfo {
        name: "neural_sort",
        inputs: &[("values", true)],
        output: Output::Matrix,
        index_outputs: &[],
        grad_may_alias_cotangent: false,
        int_inputs: &[],
    },
    OpInfo {
        name: "neural_sort_apply",
        inputs: &[("values", true), ("payload", true)],
        output: Output::Items,
        index_outputs: &[],
        grad_may_alias_cotangent: false,
        int_inputs: &[],
    },
    OpInfo {
        name: "soft_rank_grouped",
        inputs: &[("values", true), ("groups", false)],
        output: Output::Items,
        index_outputs: &[],
        grad_may_alias_cotangent: false,
        int_inputs: &["groups"],
    },
    OpInfo {
        name: "soft_sort_topk",
        inputs: &[("values", true)],
        output: Output::Selected,
        index_outputs: &["indices"],
        grad_may_alias_cotangent: false,
        int_inputs: &[],
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
    /// An integer (k).
    Int(i64),
    /// A list of reals (quantiles).
    List(Vec<f64>),
}

/// One case of the reference file.
#[derive(Clone, Debug)]
pub struct Case {
    /// Position in the file.
    pub index: usize,
    /// The file's name.
    pub file: String,
    /// The op.
    pub op: &'static OpInfo,
    /// The params by spec name, in the file's order.
    pub params: Vec<(String, ParamValue)>,
    /// Rows and items per row.
    pub shape: Shape,
    /// The number of quantile levels (0 for an op without them).
    pub m: usize,
    /// Row-major `[batch, n]` real inputs, in [`OpInfo::inputs`] order (the int32 ones are in
    /// [`Case::ints`]).
    pub inputs: Vec<Vec<f64>>,
    /// Row-major `[batch, n]` int32 inputs (group ids), in [`OpInfo::int_inputs`] order: the
    /// file's integers as they are.
    pub ints: Vec<Vec<i32>>,
    /// The case's row-major `[batch, n]` mask (true = present), if it has one.
    pub mask: Option<Vec<bool>>,
    /// The case's cotangent, or a deterministic one when the case has none.
    pub cotangent: Vec<f64>,
    /// The file's index outputs ([`OpInfo::index_outputs`], row-major, 0-based), where it has them.
    pub indices: Vec<Vec<i32>>,
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
                ParamValue::Int(i) => format!("{k}={i}"),
                ParamValue::List(xs) => format!("{k}={xs:?}"),
            })
            .collect();
        format!(
            "{} case {} ({} {}, {}×{}{})",
            self.file,
            self.index,
            self.op.name,
            params.join(" "),
            self.shape.batch,
            self.shape.n,
            if self.mask.is_some() { ", masked" } else { "" }
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

    /// `k`, else the spec's default 1.
    pub fn k(&self) -> i64 {
        self.params
            .iter()
            .find_map(|(k, v)| match (k.as_str(), v) {
                ("k", ParamValue::Int(i)) => Some(*i),
                _ => None,
            })
            .unwrap_or(1)
    }

    /// The core's params of the case in `T` (an op's params it does not list take the op's
    /// defaults: soft_topk's and soft_sort_topk's direction is descending).
    pub fn core_params<T: Real>(&self) -> Result<CoreParams<T>, Error> {
        let topk = self.op.name == "soft_topk";
        let descending = topk || self.op.name == "soft_sort_topk";
        let reg = self.name_param("regularization");
        Ok(CoreParams {
            eps: T::from_f64(self.eps()),
            reg: match reg {
                Some(s) if !topk => Regularization::parse(s)?,
                _ => Regularization::L2,
            },
            topk_reg: match reg {
                Some(s) if topk => TopkRegularization::parse(s)?,
                _ => TopkRegularization::L2,
            },
            dir: match self.name_param("direction") {
                Some(s) => Direction::parse(s)?,
                None if descending => Direction::Descending,
                None => Direction::Ascending,
            },
            k: self.k(),
            quantiles: self
                .params
                .iter()
                .find_map(|(k, v)| match (k.as_str(), v) {
                    ("quantiles", ParamValue::List(xs)) => {
                        Some(xs.iter().map(|&x| T::from_f64(x)).collect())
                    }
                    _ => None,
                })
                .unwrap_or_else(|| vec![T::from_f64(0.5)]),
        })
    }

    /// The output's dims as Julia sees them: the core's row-major dims reversed (`n × B`,
    /// `m × B`, `n × n × B`, `k × B`; `B` for a loss).
    pub fn output_dims(&self) -> Vec<usize> {
        let Shape { batch: b, n } = self.shape;
        match self.op.output {
            Output::PerRow => vec![b],
            Output::Items => vec![n, b],
            Output::Levels => vec![self.m, b],
            Output::Matrix => vec![n, n, b],
            Output::Selected => vec![usize::try_from(self.k()).unwrap_or(0), b],
        }
    }

    /// The length of the output.
    pub fn output_len(&self) -> usize {
        self.output_dims().iter().product()
    }
}

/// The reference file's path: `RANK_RELAX_REFERENCE`, else the checkout's copy.
pub fn reference_path() -> PathBuf {
    match std::env::var_os("RANK_RELAX_REFERENCE") {
        Some(p) => PathBuf::from(p),
        None => crate::repo_root().join("testdata/reference/ops-v1.json"),
    }
}

/// soft_sort_topk's reference file: `RANK_RELAX_REFERENCE_SORT_TOPK`, else the checkout's copy.
pub fn sort_topk_reference_path() -> PathBuf {
    match std::env::var_os("RANK_RELAX_REFERENCE_SORT_TOPK") {
        Some(p) => PathBuf::from(p),
        None => crate::repo_root().join("testdata/reference/soft-sort-topk.json"),
    }
}

/// soft_rank_grouped's reference file: `RANK_RELAX_REFERENCE_GROUPED`, else the checkout's copy.
pub fn grouped_reference_path() -> PathBuf {
    match std::env::var_os("RANK_RELAX_REFERENCE_GROUPED") {
        Some(p) => PathBuf::from(p),
        None => crate::repo_root().join("testdata/reference/soft-rank-grouped.json"),
    }
}

/// Every reference file: [`reference_path`], then the later ops' files and the masked cases beside
/// it, then [`sort_topk_reference_path`] and [`grouped_reference_path`].
pub fn reference_paths() -> Vec<PathBuf> {
    let first = reference_path();
    let dir = first.parent().map(PathBuf::from).unwrap_or_default();
    let mut paths = vec![first];
    for f in [
        "wave2-topk-quantile.json",
        "wave2-neural-sort.json",
        "masks.json",
    ] {
        paths.push(dir.join(f));
    }
    paths.push(sort_topk_reference_path());
    paths.push(grouped_reference_path());
    paths
}

/// Nested lists (`[B][n]`, `[B][m]`, `[B][n][n]`) flattened row-major, with the lengths of the
/// first two levels.
fn matrix(v: &Value) -> Result<(Vec<f64>, usize, usize), String> {
    fn flatten(v: &Value, out: &mut Vec<f64>) -> Result<(), String> {
        match v {
            Value::Array(xs) => xs.iter().try_for_each(|x| flatten(x, out)),
            x => x.as_f64().map(|x| out.push(x)).ok_or("not a number".into()),
        }
    }
    let rows = v.as_array().ok_or("not an array")?;
    let n = rows.first().and_then(Value::as_array).map_or(0, Vec::len);
    let mut flat = vec![];
    flatten(v, &mut flat)?;
    Ok((flat, rows.len(), n))
}

/// A `[B][n]` list of JSON integers (an int32 input's ids) flattened row-major, exactly: a value
/// that is not an integer or does not fit in `i32` is an error of the file.
fn ints(v: &Value) -> Result<Vec<i32>, String> {
    let rows = v.as_array().ok_or("not an array")?;
    let mut out = vec![];
    for row in rows {
        for x in row.as_array().ok_or("a row that is not an array")? {
            let i = x.as_i64().ok_or_else(|| format!("not an integer: {x}"))?;
            out.push(i32::try_from(i).map_err(|_| format!("{i} does not fit in int32"))?);
        }
    }
    Ok(out)
}

/// A `[B][n]` list of JSON booleans flattened row-major.
fn bools(v: &Value) -> Result<Vec<bool>, String> {
    let rows = v.as_array().ok_or("not an array")?;
    let mut out = vec![];
    for row in rows {
        for x in row.as_array().ok_or("a row that is not an array")? {
            out.push(x.as_bool().ok_or("not a boolean")?);
        }
    }
    Ok(out)
}

/// Every case of the reference files. Fails on a missing file, another format, or an unknown op.
pub fn load() -> Result<Vec<Case>, String> {
    let mut out = vec![];
    for path in reference_paths() {
        load_file(&path, &mut out)?;
    }
    Ok(out)
}

fn load_file(path: &std::path::Path, out: &mut Vec<Case>) -> Result<(), String> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        format!(
            "cannot read the reference file {} ({e}); set RANK_RELAX_REFERENCE",
            path.display()
        )
    })?;
    let doc: Value = serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    if doc["format"] != "rank-relax reference vectors v1" || doc["dtype"] != "float64" {
        return Err(format!("{}: unknown format/dtype", path.display()));
    }
    let file = path
        .file_name()
        .map_or_else(String::new, |f| f.to_string_lossy().into_owned());
    let cases = doc["cases"].as_array().ok_or("no cases")?;
    for (index, c) in cases.iter().enumerate() {
        let op = op_info(c["op"].as_str().ok_or("case without op")?)?;
        let mut params = vec![];
        for (k, v) in c["params"].as_object().ok_or("case without params")? {
            let v = match v {
                Value::String(s) => ParamValue::Name(s.clone()),
                Value::Number(i) if i.is_i64() && k != "regularization_strength" => {
                    ParamValue::Int(i.as_i64().unwrap_or(0))
                }
                Value::Array(xs) => ParamValue::List(
                    xs.iter()
                        .map(|x| x.as_f64().ok_or("a list param of non-numbers"))
                        .collect::<Result<_, _>>()?,
                ),
                v => ParamValue::Real(v.as_f64().ok_or("param neither string nor number")?),
            };
            params.push((k.clone(), v));
        }
        let mut shape = Shape::default();
        let (mut inputs, mut int_inputs) = (vec![], vec![]);
        for (name, _) in op.inputs {
            let v = &c["inputs"][*name];
            let (flat, batch, n) =
                matrix(v).map_err(|e| format!("{file} case {index}: input {name}: {e}"))?;
            if op.is_int(name) {
                int_inputs
                    .push(ints(v).map_err(|e| format!("{file} case {index}: input {name}: {e}"))?);
            } else {
                shape = Shape { batch, n };
                inputs.push(flat);
            }
        }
        if int_inputs.iter().any(|g| g.len() != shape.batch * shape.n) {
            return Err(format!(
                "{file} case {index}: an int32 input is not of the values' shape"
            ));
        }
        let mask = match c["inputs"].get("mask") {
            Some(v) => Some(bools(v).map_err(|e| format!("{file} case {index}: input mask: {e}"))?),
            None => None,
        };
        if mask
            .as_ref()
            .is_some_and(|m| m.len() != shape.batch * shape.n)
        {
            return Err(format!(
                "{file} case {index}: the mask is not of the values' shape"
            ));
        }
        let m = params
            .iter()
            .find_map(|(k, v)| match (k.as_str(), v) {
                ("quantiles", ParamValue::List(xs)) => Some(xs.len()),
                _ => None,
            })
            .unwrap_or(if op.output == Output::Levels { 1 } else { 0 });
        let mut case = Case {
            index,
            file: file.clone(),
            op,
            params,
            shape,
            m,
            inputs,
            ints: int_inputs,
            mask,
            cotangent: vec![],
            indices: vec![],
        };
        // `cotangents` names the cotangent of each differentiable output: here the first only
        let cotangent = match c.get("cotangents").and_then(Value::as_object) {
            Some(o) if o.len() == 1 => o.values().next(),
            Some(_) => {
                return Err(format!(
                    "{file} case {index}: cotangents: one differentiable output expected"
                ))
            }
            None => c.get("cotangent"),
        };
        for name in op.index_outputs {
            if let Some(v) = c.get("outputs").and_then(|o| o.get(*name)) {
                let (flat, _, _) =
                    matrix(v).map_err(|e| format!("{file} case {index}: output {name}: {e}"))?;
                case.indices.push(flat.iter().map(|&x| x as i32).collect());
            }
        }
        case.cotangent = match cotangent {
            Some(v) => {
                matrix(v)
                    .map_err(|e| format!("{file} case {index}: cotangent: {e}"))?
                    .0
            }
            // a deterministic cotangent, so that every case checks a pullback
            None => (0..case.output_len())
                .map(|k| (k % 7) as f64 * 0.25 - 0.75)
                .collect(),
        };
        out.push(case);
    }
    if cases.is_empty() {
        return Err(format!("{}: no cases", path.display()));
    }
    Ok(())
}

/// The params of any op in `T` (those an op does not have are ignored).
#[derive(Clone, Debug)]
pub struct CoreParams<T> {
    /// ε.
    pub eps: T,
    /// The regularization.
    pub reg: Regularization,
    /// soft_topk's regularization.
    pub topk_reg: TopkRegularization,
    /// The direction.
    pub dir: Direction,
    /// soft_topk's and soft_sort_topk's k.
    pub k: i64,
    /// soft_quantile's levels.
    pub quantiles: Vec<T>,
}

impl<T: Real> CoreParams<T> {
    fn soft_rank(&self) -> soft_rank::Params<T> {
        soft_rank::Params {
            regularization_strength: self.eps,
            regularization: self.reg,
            direction: self.dir,
        }
    }

    fn soft_sort(&self) -> soft_sort::Params<T> {
        soft_sort::Params {
            regularization_strength: self.eps,
            regularization: self.reg,
            direction: self.dir,
        }
    }

    fn sigmoid_rank(&self) -> sigmoid_rank::Params<T> {
        sigmoid_rank::Params {
            regularization_strength: self.eps,
            direction: self.dir,
        }
    }

    fn spearman_loss(&self) -> spearman_loss::Params<T> {
        spearman_loss::Params {
            regularization_strength: self.eps,
            regularization: self.reg,
        }
    }

    fn ndcg_loss(&self) -> ndcg_loss::Params<T> {
        ndcg_loss::Params {
            regularization_strength: self.eps,
            regularization: self.reg,
        }
    }

    fn soft_topk(&self) -> soft_topk::Params<T> {
        soft_topk::Params {
            k: self.k,
            regularization_strength: self.eps,
            regularization: self.topk_reg,
            direction: self.dir,
        }
    }

    fn soft_quantile(&self) -> soft_quantile::Params<T> {
        soft_quantile::Params {
            quantiles: self.quantiles.clone(),
            regularization_strength: self.eps,
            regularization: self.reg,
        }
    }

    fn soft_sort_topk(&self) -> soft_sort_topk::Params<T> {
        soft_sort_topk::Params {
            k: self.k,
            regularization_strength: self.eps,
            regularization: self.reg,
            direction: self.dir,
        }
    }

    fn neural_sort(&self) -> neural_sort::Params<T> {
        neural_sort::Params {
            regularization_strength: self.eps,
            direction: self.dir,
        }
    }
}

/// A forward's output and residuals, in the caller's element type.
#[derive(Clone, Debug, PartialEq)]
pub struct Forward<T> {
    /// Row-major, of the op's output shape.
    pub output: Vec<T>,
    /// Real residuals, in argument order.
    pub real: Vec<Vec<T>>,
    /// Integer residuals, in argument order.
    pub int: Vec<Vec<i32>>,
    /// The index outputs ([`OpInfo::index_outputs`]), row-major, 0-based.
    pub indices: Vec<Vec<i32>>,
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

/// The core's forward of `op` on its real `inputs` and its int32 inputs `ints` (row-major
/// `[batch, n]` each, in argument order) and `mask`, into new buffers.
pub fn forward<T: Real>(
    op: &str,
    shape: Shape,
    p: &CoreParams<T>,
    inputs: &[&[T]],
    ints: &[&[i32]],
    mask: Option<&[bool]>,
) -> Result<Forward<T>, Error> {
    let len = shape.batch * shape.n;
    Ok(match op {
        "soft_rank" => {
            let params = p.soft_rank();
            let (mut r, mut perm) = (zeros::<T>(len), vec![0i32; len]);
            soft_rank::forward(shape, &params, inputs[0], mask, &mut r, &mut perm)?;
            Forward {
                output: r.clone(),
                real: vec![r],
                int: vec![perm],
                indices: vec![],
            }
        }
        "soft_rank_grouped" => {
            let params = p.soft_rank();
            let (mut r, mut perm) = (zeros::<T>(len), vec![0i32; len]);
            soft_rank_grouped::forward(
                shape, &params, inputs[0], ints[0], mask, &mut r, &mut perm,
            )?;
            Forward {
                output: r.clone(),
                real: vec![r],
                int: vec![perm],
                indices: vec![],
            }
        }
        "soft_sort" => {
            let params = p.soft_sort();
            let (mut s, mut perm) = (zeros::<T>(len), vec![0i32; len]);
            soft_sort::forward(shape, &params, inputs[0], mask, &mut s, &mut perm)?;
            Forward {
                output: s,
                real: vec![],
                int: vec![perm],
                indices: vec![],
            }
        }
        "sigmoid_rank" => {
            let params = p.sigmoid_rank();
            let mut r = zeros::<T>(len);
            sigmoid_rank::forward(shape, &params, inputs[0], mask, &mut r)?;
            Forward {
                output: r,
                real: vec![],
                int: vec![],
                indices: vec![],
            }
        }
        "spearman_loss" => {
            let params = p.spearman_loss();
            let mut loss = zeros::<T>(shape.batch);
            let (mut ar, mut ap) = (zeros::<T>(len), vec![0i32; len]);
            let (mut br, mut bp) = (zeros::<T>(len), vec![0i32; len]);
            spearman_loss::forward(
                shape, &params, inputs[0], inputs[1], mask, &mut loss, &mut ar, &mut ap, &mut br,
                &mut bp,
            )?;
            Forward {
                output: loss,
                real: vec![ar, br],
                int: vec![ap, bp],
                indices: vec![],
            }
        }
        "ndcg_loss" => {
            let params = p.ndcg_loss();
            let mut loss = zeros::<T>(shape.batch);
            let (mut r, mut perm) = (zeros::<T>(len), vec![0i32; len]);
            ndcg_loss::forward(
                shape, &params, inputs[0], inputs[1], mask, &mut loss, &mut r, &mut perm,
            )?;
            Forward {
                output: loss,
                real: vec![r],
                int: vec![perm],
                indices: vec![],
            }
        }
        "soft_topk" => {
            let params = p.soft_topk();
            let (mut selection, mut perm) = (zeros::<T>(len), vec![0i32; len]);
            soft_topk::forward(shape, &params, inputs[0], mask, &mut selection, &mut perm)?;
            Forward {
                output: selection,
                real: vec![],
                int: vec![perm],
                indices: vec![],
            }
        }
        "soft_quantile" => {
            let params = p.soft_quantile();
            let mut result = zeros::<T>(shape.batch * params.quantiles.len());
            let mut perm = vec![0i32; len];
            soft_quantile::forward(shape, &params, inputs[0], mask, &mut result, &mut perm)?;
            Forward {
                output: result,
                real: vec![],
                int: vec![perm],
                indices: vec![],
            }
        }
        "neural_sort" => {
            let params = p.neural_sort();
            let mut pm = zeros::<T>(len * shape.n);
            neural_sort::forward(shape, &params, inputs[0], mask, &mut pm)?;
            Forward {
                output: pm.clone(),
                real: vec![pm],
                int: vec![],
                indices: vec![],
            }
        }
        "soft_sort_topk" => {
            let params = p.soft_sort_topk();
            let k = usize::try_from(params.k).unwrap_or(0);
            let (mut top, mut idx) = (zeros::<T>(shape.batch * k), vec![0i32; shape.batch * k]);
            let mut perm = vec![0i32; len];
            soft_sort_topk::forward(
                shape, &params, inputs[0], mask, &mut top, &mut idx, &mut perm,
            )?;
            Forward {
                output: top,
                real: vec![],
                int: vec![perm],
                indices: vec![idx],
            }
        }
        "neural_sort_apply" => {
            let params = p.neural_sort();
            let mut o = zeros::<T>(len);
            neural_sort_apply::forward(shape, &params, inputs[0], inputs[1], mask, &mut o)?;
            Forward {
                output: o,
                real: vec![],
                int: vec![],
                indices: vec![],
            }
        }
        _ => panic!("unknown op {op}"),
    })
}

/// The core's backward of `op` from a [`forward`] of the same inputs and mask (the real inputs;
/// no backward reads an int32 input).
pub fn backward<T: Real>(
    op: &str,
    shape: Shape,
    p: &CoreParams<T>,
    inputs: &[&[T]],
    mask: Option<&[bool]>,
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
                mask,
                &fwd.real[0],
                &fwd.int[0],
                cotangent,
                &mut g,
                &mut ge,
            )?;
            vec![g]
        }
        "soft_rank_grouped" => {
            let params = p.soft_rank();
            let mut g = zeros::<T>(len);
            soft_rank_grouped::backward(
                shape,
                &params,
                inputs[0],
                mask,
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
                mask,
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
            sigmoid_rank::backward(shape, &params, inputs[0], mask, cotangent, &mut g, &mut ge)?;
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
                mask,
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
                mask,
                &fwd.real[0],
                &fwd.int[0],
                cotangent,
                &mut g,
                &mut ge,
            )?;
            vec![g]
        }
        "soft_topk" => {
            let params = p.soft_topk();
            let mut g = zeros::<T>(len);
            soft_topk::backward(
                shape,
                &params,
                inputs[0],
                mask,
                &fwd.int[0],
                cotangent,
                &mut g,
                &mut ge,
            )?;
            vec![g]
        }
        "soft_quantile" => {
            let params = p.soft_quantile();
            let mut g = zeros::<T>(len);
            soft_quantile::backward(
                shape,
                &params,
                inputs[0],
                mask,
                &fwd.int[0],
                cotangent,
                &mut g,
                &mut ge,
            )?;
            vec![g]
        }
        "neural_sort" => {
            let params = p.neural_sort();
            let mut g = zeros::<T>(len);
            neural_sort::backward(
                shape,
                &params,
                inputs[0],
                mask,
                &fwd.real[0],
                cotangent,
                &mut g,
                &mut ge,
            )?;
            vec![g]
        }
        "soft_sort_topk" => {
            let params = p.soft_sort_topk();
            let mut g = zeros::<T>(len);
            soft_sort_topk::backward(
                shape,
                &params,
                inputs[0],
                mask,
                &fwd.int[0],
                cotangent,
                &mut g,
                &mut ge,
            )?;
            vec![g]
        }
        "neural_sort_apply" => {
            let params = p.neural_sort();
            let (mut gv, mut gp) = (zeros::<T>(len), zeros::<T>(len));
            neural_sort_apply::backward(
                shape, &params, inputs[0], inputs[1], mask, cotangent, &mut gv, &mut gp, &mut ge,
            )?;
            vec![gv, gp]
        }
        _ => panic!("unknown op {op}"),
    };
    Ok(Backward {
        grads,
        grad_eps: ge,
    })
}
