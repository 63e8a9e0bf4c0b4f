//! The bad-input matrix (`RANK_RELAX_BAD_INPUT`, default `testdata/bad-input.json`): every case
//! tagged `julia`, once per dtype, through RankRelax's public API called from Rust, with the inputs
//! lent from Rust-owned buffers (row-major `[d0, d1, …]` as a Julia array of size `(…, d1, d0)`).
//! An expected error must reach Rust as the documented Julia exception (`ArgumentError` with the
//! core's message, or a `MethodError` of the op for `InvalidType`), never a crash or a
//! `RankRelaxError`; `ok` cases must return without NaN and with the listed results — the same
//! rules as RankRelax.jl's own runner (`test/bad_input.jl`). Views and casts are made in Julia
//! from the lent array (`Main.RankRelaxJuliaCheck`). `alias` cases (a written buffer over the
//! memory of another) go through the `!` forms as in that runner: the same lent array passed twice,
//! or two arrays made in Julia (`unsafe_wrap`) over one lent Rust block where they overlap in part;
//! a forward alias passes the tape's own output array as the input. A mask (a TENSOR of JSON
//! booleans) is lent as a `Vector{Bool}`, reshaped, cast or viewed in Julia, and passed as the
//! `mask` keyword. An int32 input (group ids) is lent as the case's JSON integers (a
//! `Vector{Int64}`, never through the run's float dtype) and made an `Int32` array in Julia, or
//! cast as the case says (`prepare_ints`).

use std::path::PathBuf;

use jlrs::error::JlrsResult;
use jlrs::prelude::*;
use rank_relax_julia_check::reference::{op_info, OpInfo, Output};
use rank_relax_julia_check::session::{api, exception_parts, fail, helper, Elem, Session};
use serde_json::Value as Json;

use super::{Guarded, Lent};

fn path() -> PathBuf {
    match std::env::var_os("RANK_RELAX_BAD_INPUT") {
        Some(p) => PathBuf::from(p),
        None => rank_relax_julia_check::repo_root().join("testdata/bad-input.json"),
    }
}

fn number(v: &Json) -> Result<f64, String> {
    match v {
        Json::String(s) if s == "nan" => Ok(f64::NAN),
        Json::String(s) if s == "inf" => Ok(f64::INFINITY),
        Json::String(s) if s == "-inf" => Ok(f64::NEG_INFINITY),
        v => v.as_f64().ok_or_else(|| format!("not a number: {v}")),
    }
}

/// A TENSOR: row-major data and its shape.
fn tensor(t: &Json) -> Result<(Vec<f64>, Vec<usize>), String> {
    match t {
        Json::Object(o) => {
            let shape: Vec<usize> = o["shape"]
                .as_array()
                .ok_or("shape")?
                .iter()
                .map(|d| d.as_u64().map(|d| d as usize).ok_or("shape"))
                .collect::<Result<_, _>>()?;
            let len: usize = shape.iter().product();
            let fill = &o["fill"];
            let mut data = (0..len)
                .map(|i| match fill.as_str() {
                    Some("ramp") => Ok(((7 * i + 3) % 11) as f64 / 4.0 - 1.0),
                    Some("grades") => Ok(((3 * i + 1) % 4) as f64),
                    _ => number(fill),
                })
                .collect::<Result<Vec<f64>, String>>()?;
            for s in o.get("set").and_then(Json::as_array).into_iter().flatten() {
                let at = s["at"].as_array().ok_or("set.at")?;
                let mut k = 0;
                for (d, i) in shape.iter().zip(at) {
                    k = k * d + i.as_u64().ok_or("set.at")? as usize;
                }
                data[k] = number(&s["value"])?;
            }
            Ok((data, shape))
        }
        // nested lists, row-major: [B][n], [B][n][n], or a flat [L]
        Json::Array(_) => nested(t, number),
        x => Ok((vec![number(x)?], vec![])),
    }
}

/// A nested list of JSON elements read by `elem`: row-major data and its shape (the first
/// element's extents at each depth), refused when ragged.
fn nested<E>(
    t: &Json,
    elem: impl Fn(&Json) -> Result<E, String>,
) -> Result<(Vec<E>, Vec<usize>), String> {
    fn flatten<E>(
        x: &Json,
        elem: &impl Fn(&Json) -> Result<E, String>,
        out: &mut Vec<E>,
    ) -> Result<(), String> {
        match x {
            Json::Array(xs) => xs.iter().try_for_each(|y| flatten(y, elem, out)),
            y => elem(y).map(|v| out.push(v)),
        }
    }
    let mut shape = vec![];
    let mut x = t;
    while let Json::Array(xs) = x {
        shape.push(xs.len());
        match xs.first() {
            Some(first) => x = first,
            None => break,
        }
    }
    let mut data = vec![];
    flatten(t, &elem, &mut data)?;
    if data.len() != shape.iter().product::<usize>() {
        return Err("ragged tensor".into());
    }
    Ok((data, shape))
}

/// A TENSOR of JSON integers (an int32 input's ids): row-major data and its shape, the integers
/// as they are (`i64`: a value outside `i32` must reach the cases that cast it to int64).
fn int_tensor(t: &Json) -> Result<(Vec<i64>, Vec<usize>), String> {
    if let Json::Object(_) = t {
        // a fill (and sets) of numbers: each must be an integer
        let (data, shape) = tensor(t)?;
        let data = data
            .iter()
            .map(|&x| {
                if x.fract() == 0.0 && x.abs() < 9.0e18 {
                    Ok(x as i64)
                } else {
                    Err(format!("not an integer: {x}"))
                }
            })
            .collect::<Result<Vec<i64>, String>>()?;
        return Ok((data, shape));
    }
    nested(t, |y| {
        y.as_i64().ok_or_else(|| format!("not an integer: {y}"))
    })
}

/// A TENSOR of JSON booleans (a mask): row-major data and its shape; nested lists, or an object
/// with a boolean `fill` and `set`s.
fn bool_tensor(t: &Json) -> Result<(Vec<bool>, Vec<usize>), String> {
    let b = |v: &Json| v.as_bool().ok_or_else(|| format!("not a boolean: {v}"));
    match t {
        Json::Object(o) => {
            let shape: Vec<usize> = o["shape"]
                .as_array()
                .ok_or("shape")?
                .iter()
                .map(|d| d.as_u64().map(|d| d as usize).ok_or("shape"))
                .collect::<Result<_, _>>()?;
            let mut data = vec![b(&o["fill"])?; shape.iter().product()];
            for s in o.get("set").and_then(Json::as_array).into_iter().flatten() {
                let at = s["at"].as_array().ok_or("set.at")?;
                let mut k = 0;
                for (d, i) in shape.iter().zip(at) {
                    k = k * d + i.as_u64().ok_or("set.at")? as usize;
                }
                data[k] = b(&s["value"])?;
            }
            Ok((data, shape))
        }
        _ => nested(t, b),
    }
}

/// A param of the case as the Julia runner passes it (test/bad_input.jl): enum names as strings;
/// ε, and any other float, in the run's dtype (`f64` or not); JSON integers as `Int64` (int
/// params), booleans as `Bool`, lists of NUMBERs as a `Vector` of the run's dtype.
fn param<'f, F: Frame<'f>>(
    frame: &mut F,
    name: &str,
    v: &Json,
    f64_: bool,
) -> JlrsResult<Value<'f, 'static>> {
    let real = name == "regularization_strength";
    match v {
        Json::String(s) if !real => Value::new(frame, s.clone()),
        Json::Bool(b) => Value::new(frame, *b),
        Json::Number(n) if !real && n.is_i64() => Value::new(frame, n.as_i64().unwrap_or(0)),
        Json::Array(xs) => {
            let xs = match xs.iter().map(number).collect::<Result<Vec<f64>, _>>() {
                Ok(xs) => xs,
                Err(e) => return fail(e),
            };
            let len = xs.len();
            if f64_ {
                Value::move_array(frame, xs, len)
            } else {
                Value::move_array(
                    frame,
                    xs.iter().map(|&x| x as f32).collect::<Vec<f32>>(),
                    len,
                )
            }
        }
        v => match number(v) {
            Ok(x) if f64_ => Value::new(frame, x),
            Ok(x) => Value::new(frame, x as f32),
            Err(e) => fail(e),
        },
    }
}

/// What a call returned, widened to Float64 (a number is a 1-element array, as in the Julia
/// runner), or the exception's type and message.
type Outcome = Result<(Vec<f64>, Vec<usize>, Vec<Vec<f64>>, String), (String, String)>;

struct Run<'a> {
    case: &'a Json,
    op: &'static OpInfo,
    pass: String,
    expect: &'a Json,
}

/// The Rust buffer of a lent input: a real input in the run's dtype, or an int32 input's ids as
/// the case's integers (`prepare_ints` makes them `Int32` in Julia, or casts them).
enum Buf<T> {
    Real(Lent<T>),
    Int(Lent<i64>),
}

impl<T: Guarded> Buf<T> {
    fn len(&self) -> usize {
        match self {
            Buf::Real(l) => l.data().len(),
            Buf::Int(l) => l.data().len(),
        }
    }
    /// The bits of the data, to check that Julia left it as lent.
    fn bits(&self) -> Vec<u64> {
        match self {
            Buf::Real(l) => l.data().iter().map(|x| x.guard_bits()).collect(),
            Buf::Int(l) => l.data().iter().map(|x| x.guard_bits()).collect(),
        }
    }
    fn guards_intact(&self) -> bool {
        match self {
            Buf::Real(l) => l.guards_intact(),
            Buf::Int(l) => l.guards_intact(),
        }
    }
}

/// A lent input: the Rust buffer, its Julia dims (reversed shape), view and cast to apply.
struct Input<T> {
    buf: Buf<T>,
    dims: Vec<i64>,
    view: String,
    cast: String,
}

/// The case's mask, lent as a `Vector{Bool}`: its Julia dims, view and cast, as for an input.
struct Mask {
    data: Vec<bool>,
    dims: Vec<i64>,
    view: String,
    cast: String,
}

/// The keywords of a call: the case's params (see [`param`]), then `mask` made from the lent mask
/// by `prepare` (reshaped, then cast or viewed as the case says).
fn call_keywords<'f, F: Frame<'f>>(
    global: Global<'_>,
    frame: &mut F,
    case: &Json,
    mask: &mut Option<Mask>,
    f64_: bool,
    contiguous: bool,
) -> JlrsResult<Value<'f, 'static>> {
    let mut names: Vec<String> = vec![];
    let mut vals = vec![];
    for (k, v) in case
        .get("params")
        .and_then(Json::as_object)
        .into_iter()
        .flatten()
    {
        names.push(k.clone());
        vals.push(param(frame, k, v, f64_)?);
    }
    if let Some(m) = mask.as_mut() {
        let (len, nd) = (m.data.len(), m.dims.len());
        let a = Value::borrow_array(frame, &mut m.data[..], len)?;
        let d = Value::borrow_array(frame, &mut m.dims[..], nd)?;
        let (view, cast) = if contiguous {
            (String::new(), String::new())
        } else {
            (m.view.clone(), m.cast.clone())
        };
        let v = Value::new(frame, view)?;
        let c = Value::new(frame, cast)?;
        let e = Value::new(frame, String::new())?;
        match helper(global, "prepare")?.call(frame, &mut [a, d, v, c, e])? {
            Ok(x) => {
                names.push("mask".into());
                // SAFETY of the lifetime: the mask stays lent until the frame ends.
                vals.push(unsafe { std::mem::transmute::<Value<'_, '_>, Value<'f, 'static>>(x) });
            }
            Err(_) => return fail("prepare failed for the mask"),
        }
    }
    let kw = Value::new_named_tuple(frame, &mut names, &mut vals)?;
    Ok(unsafe { std::mem::transmute::<Value<'f, '_>, Value<'f, 'static>>(kw) })
}

/// The first output of an op's result (a `NamedTuple` for an op with several outputs).
fn first_output<'f, F: Frame<'f>>(
    global: Global<'_>,
    frame: &mut F,
    x: Value<'_, '_>,
) -> JlrsResult<Value<'f, 'static>> {
    match helper(global, "first_output")?.call1(frame, x)? {
        // SAFETY of the lifetime: a field of a result that the frame holds
        Ok(v) => Ok(unsafe { std::mem::transmute::<Value<'f, '_>, Value<'f, 'static>>(v) }),
        Err(_) => fail("first_output failed"),
    }
}

fn widen<'f, F: Frame<'f>>(
    global: Global<'_>,
    frame: &mut F,
    x: Value<'_, '_>,
) -> JlrsResult<(Vec<f64>, Vec<usize>)> {
    let flat = match helper(global, "flat64")?.call1(frame, x)? {
        Ok(v) => rank_relax_julia_check::session::array_data::<f64>(v)?.0,
        Err(_) => return fail("flat64 failed"),
    };
    let dims = match helper(global, "dims_of")?.call1(frame, x)? {
        Ok(v) => rank_relax_julia_check::session::array_data_i64(v)?,
        Err(_) => return fail("dims_of failed"),
    };
    Ok((flat, dims.iter().rev().map(|&d| d as usize).collect()))
}

/// Calls the case: `op(inputs…; kw…)` (pass forward) or `op_forward` then `op_pullback` (pass
/// backward), with the inputs made by `prepare(a, dims, view, cast)` from the lent buffers, or
/// converted to `to` first (for `same_as_dtype`).
fn call<T: Elem + Guarded>(
    s: &mut Session,
    r: &Run,
    inputs: &mut [Input<T>],
    mask: &mut Option<Mask>,
    cot: &mut Option<(Lent<T>, Vec<i64>)>,
    contiguous: bool,
    to: &str,
) -> Result<Outcome, String> {
    let op = r.op;
    s.julia
        .dynamic_frame(|global, frame| {
            let mut args = vec![];
            for inp in inputs.iter_mut() {
                let (len, nd) = (inp.buf.len(), inp.dims.len());
                let d = Value::borrow_array(frame, &mut inp.dims[..], nd)?;
                let (view, cast) = if contiguous {
                    (String::new(), String::new())
                } else {
                    (inp.view.clone(), inp.cast.clone())
                };
                let v = Value::new(frame, view)?;
                let c = Value::new(frame, cast)?;
                let prepared = match &mut inp.buf {
                    Buf::Real(l) => {
                        let a = Value::borrow_array(frame, l.data_mut(), len)?;
                        let t = Value::new(frame, to.to_string())?;
                        helper(global, "prepare")?.call(frame, &mut [a, d, v, c, t])?
                    }
                    // group ids stay integers whatever `to` is
                    Buf::Int(l) => {
                        let a = Value::borrow_array(frame, l.data_mut(), len)?;
                        helper(global, "prepare_ints")?.call(frame, &mut [a, d, v, c])?
                    }
                };
                match prepared {
                    Ok(x) => args.push(x),
                    Err(_) => return fail("prepare failed"),
                }
            }
            let f64_ = to == "float64" || (to.is_empty() && T::DTYPE == "f64");
            let kw = call_keywords(global, frame, r.case, mask, f64_, contiguous)?;
            let result = if r.pass == "forward" {
                api(global, op.name)?
                    .with_keywords(kw)
                    .call(frame, &mut args)?
            } else {
                match api(global, &format!("{}_forward", op.name))?
                    .with_keywords(kw)
                    .call(frame, &mut args)?
                {
                    Err(e) => Err(e),
                    Ok(ft) => {
                        let tape = ft.get_nth_field(frame, 1)?;
                        let c = match cot.as_mut() {
                            Some((buf, dims)) => {
                                let (len, nd) = (buf.data().len(), dims.len());
                                let a = Value::borrow_array(frame, buf.data_mut(), len)?;
                                let d = Value::borrow_array(frame, &mut dims[..], nd)?;
                                let e = Value::new(frame, String::new())?;
                                let t = Value::new(frame, to.to_string())?;
                                match helper(global, "prepare")?
                                    .call(frame, &mut [a, d, e, e, t])?
                                {
                                    Ok(x) => x,
                                    Err(_) => return fail("prepare failed"),
                                }
                            }
                            None => {
                                // ones of the output's shape
                                let out = ft.get_nth_field(frame, 0)?;
                                let out = first_output(global, frame, out)?;
                                match helper(global, "ones_like")?.call1(frame, out)? {
                                    Ok(x) => x,
                                    Err(_) => return fail("ones_like failed"),
                                }
                            }
                        };
                        match api(global, &format!("{}_pullback", op.name))?
                            .call2(frame, tape, c)?
                        {
                            Err(e) => Err(e),
                            Ok(g) => {
                                // (output, gradients…) as one tuple
                                let out = ft.get_nth_field(frame, 0)?;
                                let out = first_output(global, frame, out)?;
                                match helper(global, "join_results")?.call2(frame, out, g)? {
                                    Ok(x) => Ok(x),
                                    Err(_) => return fail("join_results failed"),
                                }
                            }
                        }
                    }
                }
            };
            match result {
                Err(e) => Ok(Err(exception_parts(global, frame, e)?)),
                Ok(x) => {
                    let (out, grads) = if r.pass == "forward" {
                        (first_output(global, frame, x)?, vec![])
                    } else {
                        let out = x.get_nth_field(frame, 0)?;
                        let ndiff = op.inputs.iter().filter(|(_, d)| *d).count();
                        let mut grads = vec![];
                        for i in 0..ndiff {
                            let g = x.get_nth_field(frame, 1 + i)?;
                            grads.push(widen(global, frame, g)?.0);
                        }
                        (out, grads)
                    };
                    let (flat, dims) = widen(global, frame, out)?;
                    let eltype = match helper(global, "eltype_name")?.call1(frame, out)? {
                        Ok(v) => v.cast::<String>()?,
                        Err(_) => return fail("eltype_name failed"),
                    };
                    Ok(Ok((flat, dims, grads, eltype)))
                }
            }
        })
        .map_err(|e| e.to_string())
}

/// An `alias` case [WRITTEN, OTHER, OFFSET?] through the `!` forms (see the module's docs).
fn call_alias<T: Elem + Guarded>(
    s: &mut Session,
    r: &Run,
    inputs: &mut [Input<T>],
    mask: &mut Option<Mask>,
    cot: &mut Option<(Lent<T>, Vec<i64>)>,
    alias: &Json,
) -> Result<Outcome, String> {
    let op = r.op;
    let a = alias.as_array().ok_or("alias is not a list")?;
    let written = a
        .first()
        .and_then(Json::as_str)
        .ok_or("alias[0]")?
        .to_string();
    let other = a
        .get(1)
        .and_then(Json::as_str)
        .ok_or("alias[1]")?
        .to_string();
    let offset = a.get(2).and_then(Json::as_u64).unwrap_or(0) as usize;
    let dims0 = inputs[0].dims.clone();
    let len0 = inputs[0].buf.len();
    // the cotangent: the case's, else ones of the output's shape
    if cot.is_none() {
        // (alias cases are of ops whose output is per row or of the input's shape)
        let dims = if op.output == Output::PerRow {
            vec![*dims0.last().unwrap_or(&1)]
        } else {
            dims0.clone()
        };
        let len = dims.iter().product::<i64>() as usize;
        *cot = Some((Lent::new(&vec![T::from_f64(1.0); len]), dims));
    }
    let diff: Vec<&str> = op
        .inputs
        .iter()
        .filter(|(_, d)| *d)
        .map(|(n, _)| *n)
        .collect();
    let mut grads: Vec<(Lent<T>, Vec<i64>)> = diff
        .iter()
        .map(|_| (Lent::new(&vec![T::from_f64(0.0); len0]), dims0.clone()))
        .collect();
    // (dims, values) of a named buffer of the backward
    let describe = |name: &str,
                    inputs: &[Input<T>],
                    cot: &Option<(Lent<T>, Vec<i64>)>|
     -> Option<(Vec<i64>, Vec<T>)> {
        if let Some(k) = op.inputs.iter().position(|(n, _)| *n == name) {
            return match &inputs[k].buf {
                Buf::Real(l) => Some((inputs[k].dims.clone(), l.data().to_vec())),
                Buf::Int(_) => None, // no alias case names the ids
            };
        }
        if name.starts_with("cotangent_") {
            return cot.as_ref().map(|(b, d)| (d.clone(), b.data().to_vec()));
        }
        if let Some(g) = name.strip_prefix("grad_") {
            if diff.contains(&g) {
                return Some((dims0.clone(), vec![T::from_f64(0.0); len0]));
            }
        }
        None
    };
    // one block holding both where they overlap in part (OTHER's values first)
    let mut block = None;
    if r.pass == "backward" {
        let (wd, _) = describe(&written, inputs, cot).ok_or("alias names an unknown buffer")?;
        let (od, ov) = describe(&other, inputs, cot).ok_or("alias names an unknown buffer")?;
        let wlen = wd.iter().product::<i64>() as usize;
        if offset != 0 || wd != od {
            let mut b = vec![T::from_f64(0.0); ov.len().max(offset + wlen)];
            b[..ov.len()].copy_from_slice(&ov);
            block = Some((Lent::new(&b), wd, od));
        }
    }
    let got = s.julia.dynamic_frame(|global, frame| {
        let mut args = vec![];
        for inp in inputs.iter_mut() {
            let (len, nd) = (inp.buf.len(), inp.dims.len());
            let d = Value::borrow_array(frame, &mut inp.dims[..], nd)?;
            let e = Value::new(frame, String::new())?;
            let prepared = match &mut inp.buf {
                Buf::Real(l) => {
                    let a = Value::borrow_array(frame, l.data_mut(), len)?;
                    helper(global, "prepare")?.call(frame, &mut [a, d, e, e, e])?
                }
                Buf::Int(l) => {
                    let a = Value::borrow_array(frame, l.data_mut(), len)?;
                    helper(global, "prepare_ints")?.call(frame, &mut [a, d, e, e])?
                }
            };
            match prepared {
                Ok(x) => args.push(x),
                Err(_) => return fail("prepare failed"),
            }
        }
        let kw = call_keywords(global, frame, r.case, mask, T::DTYPE == "f64", false)?;
        let ft = match api(global, &format!("{}_forward", op.name))?
            .with_keywords(kw)
            .call(frame, &mut args)?
        {
            Ok(ft) => ft,
            Err(e) => return Ok(Err(exception_parts(global, frame, e)?)),
        };
        let out = ft.get_nth_field(frame, 0)?;
        let out = first_output(global, frame, out)?;
        let tape = ft.get_nth_field(frame, 1)?;
        let result = if r.pass == "forward" {
            // the input OTHER replaced by the tape's array WRITTEN (the op's output)
            let k = op
                .inputs
                .iter()
                .position(|(n, _)| *n == other)
                .ok_or("alias: OTHER is not an input")
                .or_else(fail)?;
            let name = Value::new(frame, written.clone())?;
            args[k] = match helper(global, "field")?.call2(frame, tape, name)? {
                Ok(v) => v,
                Err(_) => return fail(format!("the tape has no field {written}")),
            };
            let mut fargs = vec![tape];
            fargs.extend(args.iter().copied());
            api(global, &format!("{}_forward!", op.name))?
                .with_keywords(kw)
                .call(frame, &mut fargs)?
        } else {
            let mut named: Vec<(String, Value)> = vec![];
            for (k, (name, _)) in op.inputs.iter().enumerate() {
                named.push((name.to_string(), args[k]));
            }
            let (cbuf, cdims) = cot.as_mut().ok_or("no cotangent").or_else(fail)?;
            let (len, nd) = (cbuf.data().len(), cdims.len());
            let a = Value::borrow_array(frame, cbuf.data_mut(), len)?;
            let d = Value::borrow_array(frame, &mut cdims[..], nd)?;
            let e = Value::new(frame, String::new())?;
            let c = match helper(global, "prepare")?.call(frame, &mut [a, d, e, e, e])? {
                Ok(x) => x,
                Err(_) => return fail("prepare failed"),
            };
            let cot_name = if written.starts_with("cotangent_") {
                written.clone()
            } else if other.starts_with("cotangent_") {
                other.clone()
            } else {
                "cotangent".to_string()
            };
            named.push((cot_name.clone(), c));
            for ((g, gd), name) in grads.iter_mut().zip(&diff) {
                let (len, nd) = (g.data().len(), gd.len());
                let a = Value::borrow_array(frame, g.data_mut(), len)?;
                let d = Value::borrow_array(frame, &mut gd[..], nd)?;
                let x = match helper(global, "prepare")?.call(frame, &mut [a, d, e, e, e])? {
                    Ok(x) => x,
                    Err(_) => return fail("prepare failed"),
                };
                named.push((format!("grad_{name}"), x));
            }
            let find =
                |named: &[(String, Value<'_, '_>)], n: &str| named.iter().position(|(k, _)| k == n);
            let wi = find(&named, &written)
                .ok_or("alias: unknown WRITTEN")
                .or_else(fail)?;
            let oi = find(&named, &other)
                .ok_or("alias: unknown OTHER")
                .or_else(fail)?;
            match block.as_mut() {
                None => named[wi].1 = named[oi].1, // the same array
                Some((b, wd, od)) => {
                    let len = b.data().len();
                    let bj = Value::borrow_array(frame, b.data_mut(), len)?;
                    for (i, off, dims) in [(oi, 0usize, od), (wi, offset, wd)] {
                        let nd = dims.len();
                        let d = Value::borrow_array(frame, &mut dims[..], nd)?;
                        let o = Value::new(frame, off as i64)?;
                        named[i].1 = match helper(global, "wrap")?.call3(frame, bj, o, d)? {
                            Ok(x) => x,
                            Err(_) => return fail("wrap failed"),
                        };
                    }
                }
            }
            let mut pargs: Vec<Value> = diff
                .iter()
                .map(|n| named[find(&named, &format!("grad_{n}")).unwrap_or(0)].1)
                .collect();
            pargs.push(tape);
            pargs.push(named[find(&named, &cot_name).unwrap_or(0)].1);
            api(global, &format!("{}_pullback!", op.name))?.call(frame, &mut pargs)?
        };
        match result {
            Err(e) => Ok(Err(exception_parts(global, frame, e)?)),
            Ok(x) => {
                let (out, grads) = if r.pass == "forward" {
                    let out = x.get_nth_field(frame, 0)?;
                    (first_output(global, frame, out)?, vec![])
                } else {
                    let mut g = vec![];
                    for i in 0..diff.len() {
                        let v = x.get_nth_field(frame, i)?;
                        g.push(widen(global, frame, v)?.0);
                    }
                    (out, g)
                };
                let (flat, dims) = widen(global, frame, out)?;
                let eltype = match helper(global, "eltype_name")?.call1(frame, out)? {
                    Ok(v) => v.cast::<String>()?,
                    Err(_) => return fail("eltype_name failed"),
                };
                Ok(Ok((flat, dims, grads, eltype)))
            }
        }
    });
    got.map_err(|e| e.to_string())
}

fn close(what: &str, got: &[f64], got_dims: &[usize], want: &Json, tol: f64) -> Result<(), String> {
    let (w, wdims) = tensor(want)?;
    let wdims = if wdims.is_empty() { vec![1] } else { wdims };
    if got_dims != wdims.as_slice() && !(got_dims.is_empty() && wdims == [1]) {
        return Err(format!("{what}: shape {got_dims:?} ≠ {wdims:?}"));
    }
    if got.len() != w.len() {
        return Err(format!("{what}: {} values ≠ {}", got.len(), w.len()));
    }
    for (i, (g, w)) in got.iter().zip(&w).enumerate() {
        if (g - w).abs() > tol * (1.0 + w.abs()) {
            return Err(format!("{what}: element {i}: got {g}, want {w}"));
        }
    }
    Ok(())
}

fn same(a: &Outcome, b: &Outcome) -> bool {
    match (a, b) {
        (Ok((o1, _, g1, _)), Ok((o2, _, g2, _))) => {
            let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            bits(o1) == bits(o2)
                && g1.len() == g2.len()
                && g1.iter().zip(g2).all(|(x, y)| bits(x) == bits(y))
        }
        _ => false,
    }
}

/// One case in `T`: `Ok` when it behaved as the matrix says.
fn run_case<T: Elem + Guarded>(s: &mut Session, r: &Run) -> Result<(), String> {
    let names: Vec<&str> = r.op.inputs.iter().map(|(n, _)| *n).collect();
    let mut inputs = vec![];
    for name in &names {
        let t = r.case["inputs"]
            .get(*name)
            .ok_or_else(|| format!("no input {name}"))?;
        // an int32 input as the case's integers, a real one rounded to T
        let (buf, shape) = if r.op.is_int(name) {
            let (data, shape) = int_tensor(t).map_err(|e| format!("input {name}: {e}"))?;
            (Buf::Int(Lent::new(&data)), shape)
        } else {
            let (data, shape) = tensor(t)?;
            let data: Vec<T> = data.iter().map(|&x| T::from_f64(x)).collect();
            (Buf::Real(Lent::new(&data)), shape)
        };
        let get = |k: &str| {
            r.case
                .get(k)
                .and_then(|m| m.get(*name))
                .and_then(Json::as_str)
                .unwrap_or("")
                .to_string()
        };
        inputs.push(Input {
            buf,
            dims: shape.iter().rev().map(|&d| d as i64).collect(),
            view: get("view"),
            cast: get("cast"),
        });
    }
    let mut mask = match r.case["inputs"].get("mask") {
        Some(t) => {
            let (data, shape) = bool_tensor(t).map_err(|e| format!("input mask: {e}"))?;
            let get = |k: &str| {
                r.case
                    .get(k)
                    .and_then(|m| m.get("mask"))
                    .and_then(Json::as_str)
                    .unwrap_or("")
                    .to_string()
            };
            Some(Mask {
                data,
                dims: shape.iter().rev().map(|&d| d as i64).collect(),
                view: get("view"),
                cast: get("cast"),
            })
        }
        None => None,
    };
    let mask_lent = mask.as_ref().map(|m| m.data.clone());
    let lent: Vec<Vec<u64>> = inputs.iter().map(|i| i.buf.bits()).collect();
    let mut cot = match r.case.get("cotangent") {
        Some(c) if r.pass == "backward" => {
            let (data, shape) = tensor(c)?;
            let data: Vec<T> = data.iter().map(|&x| T::from_f64(x)).collect();
            Some((
                Lent::new(&data),
                shape.iter().rev().map(|&d| d as i64).collect(),
            ))
        }
        _ => None,
    };
    let got = match r.case.get("alias") {
        Some(alias) => call_alias(s, r, &mut inputs, &mut mask, &mut cot, alias)?,
        None => call(s, r, &mut inputs, &mut mask, &mut cot, false, "")?,
    };
    if mask.as_ref().map(|m| m.data.clone()) != mask_lent {
        return Err("the mask changed".into());
    }

    // the lent buffers are read only: unchanged, guards included
    for (i, inp) in inputs.iter().enumerate() {
        if let Some(k) = inp
            .buf
            .bits()
            .iter()
            .zip(&lent[i])
            .position(|(a, b)| a != b)
        {
            return Err(format!(
                "input {} after the call: element {k} changed",
                names[i]
            ));
        }
        if !inp.buf.guards_intact() {
            return Err(format!("a write next to input {}", names[i]));
        }
    }

    if let Some(err) = r.expect.get("error") {
        let (ty, msg) = match &got {
            Ok(_) => return Err("no exception thrown".into()),
            Err(e) => e.clone(),
        };
        if ty == "RankRelaxError" {
            return Err(format!("RankRelaxError: {msg}"));
        }
        let kind = err["kind"].as_str().unwrap_or("");
        if kind == "InvalidType" && ty == "MethodError" {
            return if msg.contains(r.op.name) {
                Ok(())
            } else {
                Err(format!("MethodError not of {}: {msg}", r.op.name))
            };
        }
        if ty != "ArgumentError" {
            return Err(format!("expected ArgumentError, got {ty}: {msg}"));
        }
        if let Some(want) = err.get("message").and_then(Json::as_str) {
            if msg != want {
                return Err(format!("message {msg:?} ≠ {want:?}"));
            }
        }
        for frag in err
            .get("contains")
            .and_then(Json::as_array)
            .into_iter()
            .flatten()
        {
            let frag = frag.as_str().unwrap_or("");
            if !msg.contains(frag) {
                return Err(format!("message {msg:?} lacks {frag:?}"));
            }
        }
        return Ok(());
    }

    if r.expect.get("ok") != Some(&Json::Bool(true)) {
        return Err("unknown expectation".into());
    }
    let (out, dims, grads, eltype) = match &got {
        Ok(o) => o.clone(),
        Err((t, m)) => return Err(format!("threw {t}: {m}")),
    };
    let all: Vec<f64> = out.iter().chain(grads.iter().flatten()).copied().collect();
    if all.iter().any(|x| x.is_nan()) {
        return Err("NaN in the output or gradients".into());
    }
    if r.expect.get("finite") == Some(&Json::Bool(true)) && !all.iter().all(|x| x.is_finite()) {
        return Err("non-finite output or gradient".into());
    }
    let tol = if T::DTYPE == "f64" { 1e-9 } else { 1e-5 };
    if let Some(want) = r.expect.get("output") {
        close("output", &out, &dims, want, tol)?;
    }
    if let Some(vjp) = r.expect.get("vjp").and_then(Json::as_object) {
        if grads.is_empty() {
            return Err("vjp expected for a forward pass".into());
        }
        let diff: Vec<&str> =
            r.op.inputs
                .iter()
                .filter(|(_, d)| *d)
                .map(|(n, _)| *n)
                .collect();
        for (name, want) in vjp {
            let k = diff
                .iter()
                .position(|d| d == name)
                .ok_or_else(|| format!("no gradient for {name}"))?;
            let (_, shape) = tensor(want)?;
            close(&format!("vjp {name}"), &grads[k], &shape, want, tol)?;
        }
    }
    if r.expect.get("same_as_contiguous") == Some(&Json::Bool(true)) {
        let again = call(s, r, &mut inputs, &mut mask, &mut cot, true, "")?;
        if !same(&got, &again) {
            return Err("differs from the contiguous call".into());
        }
    }
    if let Some(to) = r.expect.get("same_as_dtype").and_then(Json::as_str) {
        let again = call(s, r, &mut inputs, &mut mask, &mut cot, false, to)?;
        if !same(&got, &again) {
            return Err(format!("differs from the call in {to}"));
        }
        let want = if to == "float32" {
            "Float32"
        } else {
            "Float64"
        };
        if eltype != want {
            return Err(format!("output is {eltype}, not {want}"));
        }
    }
    Ok(())
}

/// Runs every `julia` case: (passed, failed) runs.
pub fn run(s: &mut Session) -> (usize, usize) {
    let path = path();
    let doc: Json = match std::fs::read_to_string(&path)
        .map_err(|e| e.to_string())
        .and_then(|t| serde_json::from_str(&t).map_err(|e| e.to_string()))
    {
        Ok(d) => d,
        Err(e) => {
            eprintln!(
                "FAIL bad-input: cannot read {} ({e}); set RANK_RELAX_BAD_INPUT",
                path.display()
            );
            return (0, 1);
        }
    };
    if doc["format"] != "rank-relax bad-input matrix v1" {
        eprintln!("FAIL bad-input: {}: unknown format", path.display());
        return (0, 1);
    }
    let all_bindings = doc["bindings"].clone();
    let (mut cases, mut passed, mut failed, mut aliased) = (0, 0, 0, 0);
    for case in doc["cases"].as_array().into_iter().flatten() {
        let bindings = case.get("bindings").unwrap_or(&all_bindings);
        if !bindings
            .as_array()
            .is_some_and(|b| b.iter().any(|x| x == "julia"))
        {
            continue;
        }
        let id = case["id"].as_str().unwrap_or("?");
        if cases % 32 == 0 {
            if let Err(e) = s.collect_garbage() {
                eprintln!("FAIL bad-input: {e}");
                return (passed, failed + 1);
            }
        }
        if case.get("alias").is_some() {
            aliased += 1;
        }
        cases += 1;
        let op = match op_info(case["op"].as_str().unwrap_or("")) {
            Ok(op) => op,
            Err(e) => {
                eprintln!("FAIL bad-input {id}: {e}");
                failed += 1;
                continue;
            }
        };
        let expect = case
            .get("overrides")
            .and_then(|o| o.get("julia"))
            .unwrap_or(&case["expect"]);
        let r = Run {
            case,
            op,
            pass: case["pass"].as_str().unwrap_or("forward").to_string(),
            expect,
        };
        let dtypes: Vec<String> = case
            .get("dtypes")
            .and_then(Json::as_array)
            .map(|d| {
                d.iter()
                    .filter_map(|x| x.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_else(|| vec!["float64".into(), "float32".into()]);
        for dtype in dtypes {
            let res = if dtype == "float32" {
                run_case::<f32>(s, &r)
            } else {
                run_case::<f64>(s, &r)
            };
            match res {
                Ok(()) => passed += 1,
                Err(e) => {
                    failed += 1;
                    eprintln!("FAIL bad-input {id} [{dtype}]: {e}");
                }
            }
        }
    }
    println!(
        "bad-input ({}): {cases} julia cases ({aliased} with alias), {} runs: {passed} passed, {failed} failed",
        path.display(),
        passed + failed
    );
    if cases == 0 {
        return (passed, failed + 1);
    }
    (passed, failed)
}
