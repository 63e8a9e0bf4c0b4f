// crates/rank-relax/tests/common/dispatch.rs: every op of the spec through one function for the
// core's tests. Params come from JSON as the reference and bad-input files spell them (an absent
// key takes the spec's default), every buffer is allocated from its shape, and the forward runs,
// then the pass the test asks for (VJP, JVP or HVP) with the kernel's arguments in the spec's
// order. A new op's kernels are thereby called by the core's generic tests (masks, bad input)
// without a hand-written line.
import { file, join } from '../../emit/code.ts';
import { array, render, rustCall, rustEnumType, rustEnumValue, rustFnSignature, rustIdentifier, rustReal } from '../../emit/rust.ts';
import { banner, commentLines } from '../../emit/text.ts';
import { matchElem } from '../../ir/match.ts';
import { extent } from '../../ir/shape.ts';
import type { ArgIR, BufferArgIR, DimIR, IR, KernelIR, OpIR, ParamIR, ShapeIR } from '../../ir/types.ts';
import { CodegenError } from '../../spec/errors.ts';
import { assertNever } from '../../util/never.ts';

export const CORE_DISPATCH = 'crates/rank-relax/tests/common/dispatch.rs';

const PASS = 'params';

/** A dim's value inside an op's arm: `batch`, `n`, `extent(params.k)`, `params.quantiles.len()`. */
function dimValue(d: DimIR): string {
  switch (d.kind) {
    case 'batch':
    case 'n':
      return `alloc.${d.name.spec}`;
    case 'param':
      return `extent(${PASS}.${d.param})`;
    case 'length':
      return `${PASS}.${d.param}.len()`;
    default:
      return assertNever(d, 'dim kind');
  }
}

function size(shape: ShapeIR): string {
  return extent(shape, dimValue);
}

/** A param read from the JSON params `p`, with the spec's default. */
function paramValue(p: ParamIR): string {
  const name = JSON.stringify(p.name.spec);
  switch (p.type) {
    case 'real':
      return `real(p, ${name}, ${rustReal(p.default)})`;
    case 'int':
      return `int(p, ${name}, ${p.default})`;
    case 'bool':
      return `flag(p, ${name}, ${p.default})`;
    case 'list':
      return `list(p, ${name}, &[${p.default.map(rustReal).join(', ')}])`;
    case 'enum':
      return `choice(p, ${name}, ${rustEnumValue(p.enum, p.default)})?`;
    default:
      return assertNever(p, 'param type');
  }
}

/** How the arm names each buffer of the op's kernels. */
class Names {
  private readonly inputs = new Map<string, string>();

  constructor(readonly op: OpIR) {
    let real = 0;
    let ints = 0;
    let bools = 0;
    for (const x of op.inputs) {
      matchElem(x.elem, {
        real: () => this.inputs.set(x.name.spec, `&x[${real++}]`),
        bool: () => {
          if (x.optional && bools++ === 0) this.inputs.set(x.name.spec, 'mask');
          else throw new CodegenError([`ops.${op.name.spec}.inputs: the core tests' dispatch binds one optional bool input (the mask)`]);
        },
        int32: () => this.inputs.set(x.name.spec, `&g[${ints++}]`),
      });
    }
  }

  /** The argument a buffer of a kernel is passed as. */
  arg(a: BufferArgIR, pass: KernelIR['pass']): string {
    const local = rustIdentifier(a.name);
    switch (a.role) {
      case 'input':
        return this.input(a.name.spec);
      case 'save': {
        const of = a.of ?? a.name.spec;
        return this.inputs.has(of) ? this.input(of) : `&${rustIdentifier({ ...a.name, spec: of })}`;
      }
      case 'residual':
        return pass === 'forward' ? `&mut ${local}` : `&${local}`;
      case 'cotangent':
        return `u[${this.op.cotangents.findIndex((c) => c.name.spec === a.name.spec)}]`;
      case 'tangent':
        return `t[${this.op.tangents.findIndex((c) => c.name.spec === a.name.spec)}]`;
      case 'output':
      case 'grad':
      case 'param_grad':
      case 'output_tangent':
      case 'hvp':
      case 'param_hvp':
        return `&mut ${local}`;
      default:
        return assertNever(a.role, 'buffer role');
    }
  }

  private input(spec: string): string {
    const v = this.inputs.get(spec);
    if (v === undefined) throw new CodegenError([`ops.${this.op.name.spec}: the core tests' dispatch has no input ${spec}`]);
    return v;
  }
}

function callArgs(names: Names, kernel: KernelIR): string[] {
  return kernel.args.flatMap((a: ArgIR) => {
    switch (a.kind) {
      case 'dim':
      case 'param':
        return [];
      case 'scalar':
        return [`te[${names.op.paramGrads.findIndex((g) => g.of.name.spec === a.of)}]`];
      case 'buffer':
        return [names.arg(a, kernel.pass)];
      default:
        return assertNever(a, 'argument kind');
    }
  });
}

/** `let mut x = zeros::<T>(batch * n);` for each buffer a kernel writes. */
function allocations(kernel: KernelIR, indent: string): string[] {
  return kernel.args.flatMap((a) => {
    if (a.kind !== 'buffer' || !a.mutable) return [];
    const init = matchElem(a.elem, {
      real: () => `zeros::<T>(${size(a.shape)})`,
      int32: () => `vec![0i32; ${size(a.shape)}]`,
      bool: () => `vec![false; ${size(a.shape)}]`,
    });
    const line = `${indent}let mut ${rustIdentifier(a.name)} = ${init};`;
    return line.length <= 100 ? [line] : [`${indent}let mut ${rustIdentifier(a.name)} =`, `${indent}    ${init};`];
  });
}

function written(kernel: KernelIR, roles: readonly BufferArgIR['role'][]): string {
  const names = kernel.args.filter((a): a is BufferArgIR => a.kind === 'buffer' && roles.includes(a.role)).map((a) => rustIdentifier(a.name));
  return `vec![${names.join(', ')}]`;
}

function passArm(names: Names, kernel: KernelIR | null, head: string, d: readonly BufferArgIR['role'][], e: readonly BufferArgIR['role'][]): string[] {
  const op = names.op;
  if (kernel === null) return [`                ${head} => panic!("${op.name.spec} has no ${d.includes('output_tangent') ? 'JVP' : 'HVP'} kernel"),`];
  return [
    `                ${head} => {`,
    ...allocations(kernel, '                    '),
    ...rustCall(20, `${kernel.corePath}`, ['shape', `&${PASS}`, ...callArgs(names, kernel)], '?;'),
    `                    d = ${written(kernel, d)};`,
    ...(e.length > 0 ? [`                    e = ${written(kernel, e)};`] : []),
    '                }',
  ];
}

function paramsFn(op: OpIR): string[] {
  const ty = `ops::${rustIdentifier(op.name)}::Params<T>`;
  return [
    `/// \`${op.name.spec}\`'s params from JSON.`,
    ...rustFnSignature(0, `pub fn ${rustIdentifier(op.name)}_params<T: Real>`, ['p: &Value'], ` -> Result<${ty}, Error>`),
    `    Ok(ops::${rustIdentifier(op.name)}::Params {`,
    ...op.params.map((p) => `        ${rustIdentifier(p.name)}: ${paramValue(p)},`),
    '    })',
    '}',
    '',
  ];
}

function cotangentArm(op: OpIR): string[] {
  const lens = op.cotangents.map((c) => size(c.of.shape));
  const read = `${rustIdentifier(op.name)}_params::<f64>(p).map_err(|e| e.with_op(op))?;`;
  return [
    `        ${JSON.stringify(op.name.spec)} => {`,
    lens.some((l) => l.includes(`${PASS}.`)) ? `            let ${PASS} = ${read}` : `            ${read}`,
    `            vec![${lens.join(', ')}]`,
    '        }',
  ];
}

/** `let g = int_inputs(ints, &[…]);`: the op's int32 inputs, given or zeros. */
function intInputs(op: OpIR): string[] {
  const lens = op.inputs.filter((x) => x.elem === 'int32').map((x) => size(x.shape));
  return lens.length === 0 ? [] : [`            let g = int_inputs(ints, &[${lens.join(', ')}]);`];
}

function opArm(op: OpIR): string[] {
  const names = new Names(op);
  const outputs = (elem: 'real' | 'int32') => `vec![${op.outputs.filter((o) => o.elem === elem).map((o) => rustIdentifier(o.name)).join(', ')}]`;
  const unused = (k: KernelIR | null, vars: string) => (k === null ? vars.replace(/([a-z]+)/g, '_') : vars);
  return [
    `        ${JSON.stringify(op.name.spec)} => {`,
    `            let ${PASS} = ${rustIdentifier(op.name)}_params::<T>(p).map_err(|e| e.with_op(op))?;`,
    ...intInputs(op),
    ...allocations(op.forward, '            '),
    ...rustCall(12, op.forward.corePath, ['shape', `&${PASS}`, ...callArgs(names, op.forward)], '?;'),
    '            let (mut d, mut e) = (Vec::new(), Vec::new());',
    '            match pass {',
    '                Pass::Forward => {}',
    ...passArm(names, op.backward, 'Pass::Vjp(u)', ['grad'], ['param_grad']),
    ...passArm(names, op.jvp, `Pass::Jvp(${unused(op.jvp, 't, te')})`, ['output_tangent'], []),
    ...passArm(names, op.hvp, `Pass::Hvp(${unused(op.hvp, 'u, t, te')})`, ['hvp'], ['param_hvp']),
    '            }',
    '            Ok(Run {',
    `                real_outputs: ${outputs('real')},`,
    `                int_outputs: ${outputs('int32')},`,
    '                d,',
    '                e,',
    '            })',
    '        }',
  ];
}

const HELPERS = `
/// What to run after the forward: the cotangents of the differentiable outputs, the tangents of
/// the differentiable inputs and of the params with grad (one scalar each), in spec order.
pub enum Pass<'a, T> {
    Forward,
    Vjp(&'a [&'a [T]]),
    Jvp(&'a [&'a [T]], &'a [T]),
    Hvp(&'a [&'a [T]], &'a [&'a [T]], &'a [T]),
}

/// The forward's outputs, real and int32 apart, each in spec order, and what the pass wrote.
pub struct Run<T> {
    pub real_outputs: Vec<Vec<T>>,
    pub int_outputs: Vec<Vec<i32>>,
    /// VJP and HVP: one per differentiable input; JVP: one tangent per differentiable output.
    pub d: Vec<Vec<T>>,
    /// VJP and HVP: one \`[batch]\` buffer per param with grad.
    pub e: Vec<Vec<T>>,
}

fn zeros<T: Real>(len: usize) -> Vec<T> {
    vec![T::from_f64(0.0); len]
}

/// A number as the test files spell it: a JSON number, or "nan", "inf", "-inf".
fn number(v: &Value) -> Option<f64> {
    match v {
        Value::String(s) => match s.as_str() {
            "nan" => Some(f64::NAN),
            "inf" => Some(f64::INFINITY),
            "-inf" => Some(f64::NEG_INFINITY),
            _ => None,
        },
        v => v.as_f64(),
    }
}

fn real<T: Real>(p: &Value, name: &str, default: f64) -> T {
    T::from_f64(number(&p[name]).unwrap_or(default))
}

#[allow(dead_code)]
fn int(p: &Value, name: &str, default: i64) -> i64 {
    p[name].as_i64().unwrap_or(default)
}

#[allow(dead_code)]
fn flag(p: &Value, name: &str, default: bool) -> bool {
    p[name].as_bool().unwrap_or(default)
}

#[allow(dead_code)]
fn list<T: Real>(p: &Value, name: &str, default: &[f64]) -> Vec<T> {
    match p[name].as_array() {
        Some(a) => a
            .iter()
            .map(|v| T::from_f64(number(v).expect("a number")))
            .collect(),
        None => default.iter().map(|&v| T::from_f64(v)).collect(),
    }
}

/// An enum of the core, read by name or by code.
trait Choice: Sized {
    fn parse(name: &str) -> Result<Self, Error>;
    fn from_code(code: i32) -> Result<Self, Error>;
}

/// An enum param: its name, or \`{"code": c}\` for a raw code (as a C caller passes it).
fn choice<E: Choice>(p: &Value, name: &str, default: E) -> Result<E, Error> {
    match &p[name] {
        Value::Null => Ok(default),
        Value::String(s) => E::parse(s),
        v => E::from_code(
            v["code"]
                .as_i64()
                .and_then(|c| i32::try_from(c).ok())
                .expect("an enum code"),
        ),
    }
}

/// The int32 inputs a test gives, or zeros of each length where it gives none (for soft_rank_grouped's
/// groups: one group, the row).
#[allow(dead_code)]
fn int_inputs(given: &[Vec<i32>], lens: &[usize]) -> Vec<Vec<i32>> {
    lens.iter()
        .enumerate()
        .map(|(j, &len)| given.get(j).cloned().unwrap_or_else(|| vec![0; len]))
        .collect()
}

/// An int param as an extent: a bad value (negative) is the kernel's error, so an empty buffer here.
#[allow(dead_code)]
fn extent(v: i64) -> usize {
    usize::try_from(v).unwrap_or(0)
}
`;

const OPS_DOC = "Every op of the spec, sorted by name.";

export function renderCoreDispatch(ir: IR): string {
  return file(
    banner(ir, 'slash'),
    ...commentLines(
      "Every op of the spec through one function: params from JSON as the reference and bad-input files spell them (an absent key takes the spec's default), each buffer allocated from its shape, the forward and then the VJP, JVP or HVP, every argument in the kernel's order. `all_ops.rs` wraps it for the tests.",
      '//! ',
      100,
    ),
    '',
    `use rank_relax::{${['ops', 'Error', 'Real', 'Shape', ...ir.enums.map(rustEnumType)].sort((a, b) => (a === 'ops' ? -1 : b === 'ops' ? 1 : a < b ? -1 : 1)).join(', ')}};`,
    'use serde_json::Value;',
    HELPERS,
    ...ir.enums.flatMap((e) => [
      `impl Choice for ${rustEnumType(e)} {`,
      '    fn parse(name: &str) -> Result<Self, Error> {',
      `        ${rustEnumType(e)}::parse(name)`,
      '    }',
      '',
      '    fn from_code(code: i32) -> Result<Self, Error> {',
      `        ${rustEnumType(e)}::from_code(code)`,
      '    }',
      '}',
      '',
    ]),
    `/// ${OPS_DOC}`,
    `pub const OPS: &[&str] = ${render(array(ir.ops.map((o) => JSON.stringify(o.name.spec))), 0, 'pub const OPS: &[&str] = ').join('\n')};`,
    '',
    join(ir.ops.flatMap(paramsFn), '\n'),
    '/// The real inputs of `op` (as `run` takes them) and how many of them are differentiable, the first ones.',
    'pub fn inputs(op: &str) -> (usize, usize) {',
    '    match op {',
    ...ir.ops.map((o) => `        ${JSON.stringify(o.name.spec)} => (${o.inputs.filter((x) => x.elem === 'real').length}, ${o.grads.length}),`),
    '        _ => panic!("unknown op {op}"),',
    '    }',
    '}',
    '',
    '/// The length of each cotangent of `op` (one per differentiable output) for a call of `alloc`.',
    'pub fn cotangent_lens(op: &str, p: &Value, alloc: Shape) -> Result<Vec<usize>, Error> {',
    '    Ok(match op {',
    join(ir.ops.flatMap(cotangentArm), '\n'),
    '        _ => panic!("unknown op {op}"),',
    '    })',
    '}',
    '',
    "/// Runs `op`'s forward on `x` (its real inputs in spec order), `ints` (its int32 inputs; zeros where absent) and the optional `mask`, then `pass`.",
    '#[allow(clippy::too_many_arguments)]',
    'pub fn run<T: Real>(',
    '    op: &str,',
    '    p: &Value,',
    '    shape: Shape,',
    '    alloc: Shape,',
    '    x: &[Vec<T>],',
    '    ints: &[Vec<i32>],',
    '    mask: Option<&[bool]>,',
    "    pass: Pass<'_, T>,",
    ') -> Result<Run<T>, Error> {',
    '    match op {',
    join(ir.ops.flatMap(opArm), '\n'),
    '        _ => panic!("unknown op {op}"),',
    '    }',
    '}',
  );
}
