// crates/rank-relax/tests/common/generated.rs: the spec as data for the core's tests. Every op
// with its params (and their defaults), inputs, outputs and residuals; every enum with its codes;
// each op's `Params` written from the spec's defaults next to the core's `Params::default()`, and
// each core enum seen through its API. The hand-written tests/common/mod.rs takes its op list and
// input names from it; tests/spec_mirror.rs fails when the core disagrees with it.
import { file, join } from '../../emit/code.ts';
import { banner, commentLines } from '../../emit/text.ts';
import { matchElem } from '../../ir/match.ts';
import type { DimIR, ElemType, EnumIR, IR, OpIR, ParamIR, ShapeIR, TensorIR } from '../../ir/types.ts';
import { assertNever } from '../../util/never.ts';
import { array, render, rustEnumType, rustEnumValue, rustIdentifier, rustReal, type RustValue, struct } from '../../emit/rust.ts';

export const CORE_TABLE = 'crates/rank-relax/tests/common/generated.rs';

function str(s: string): string {
  return JSON.stringify(s);
}

function dimName(d: DimIR): string {
  switch (d.kind) {
    case 'batch':
      return 'Dim::Batch';
    case 'n':
      return 'Dim::N';
    case 'param':
      return `Dim::Param(${str(d.param)})`;
    case 'length':
      return `Dim::Length(${str(d.param)})`;
    default:
      return assertNever(d, 'dim kind');
  }
}

function dims(shape: ShapeIR): RustValue {
  return array(shape.dims.map(dimName));
}

function specValue(p: ParamIR): string {
  switch (p.type) {
    case 'real':
      return `Value::Real(${rustReal(p.default)})`;
    case 'enum':
      return `Value::Enum(${str(p.default.name.spec)}, ${p.default.code})`;
    case 'bool':
      return `Value::Bool(${p.default})`;
    case 'int':
      return `Value::Int(${p.default})`;
    case 'list':
      return `Value::List(&[${p.default.map(rustReal).join(', ')}])`;
    default:
      return assertNever(p, 'param type');
  }
}

function elemValue(e: ElemType): string {
  return matchElem(e, { real: () => 'Elem::Real', int32: () => 'Elem::Int32', bool: () => 'Elem::Bool' });
}

function tensor(t: TensorIR): RustValue {
  return struct('Tensor', [
    ['name', str(t.name.spec)],
    ['dims', dims(t.shape)],
    ['elem', elemValue(t.elem)],
  ]);
}

function opValue(op: OpIR): RustValue {
  return struct('Op', [
    ['name', str(op.name.spec)],
    ['min_n', String(op.minN)],
    [
      'params',
      array(op.params.map((p) => struct('Param', [['name', str(p.name.spec)], ['default', specValue(p)], ['grad', String(p.grad)]]))),
    ],
    [
      'inputs',
      array(
        op.inputs.map((x) =>
          struct('Input', [
            ['name', str(x.name.spec)],
            ['dims', dims(x.shape)],
            ['elem', elemValue(x.elem)],
            ['optional', String(x.optional)],
            ['differentiable', String(x.differentiable)],
            ['constraint', str(x.constraint)],
          ]),
        ),
      ),
    ],
    ['outputs', array(op.outputs.map(tensor))],
    ['residuals', array(op.residuals.map(tensor))],
  ]);
}

/** The argument an enum's values are passed as: the one param that takes it (in any op), else its own name. */
function enumArg(ir: IR, e: EnumIR): string {
  const uses = new Set(ir.ops.flatMap((op) => op.params.filter((p) => p.type === 'enum' && p.enum.name.spec === e.name.spec).map((p) => p.name.spec)));
  const [only] = uses;
  return uses.size === 1 && only !== undefined ? only : e.name.spec;
}

function enumValue(ir: IR, e: EnumIR): RustValue {
  return struct('Enum', [
    ['name', str(e.name.spec)],
    ['arg', str(enumArg(ir, e))],
    ['values', array(e.values.map((v) => `(${str(v.name.spec)}, ${v.code})`))],
  ]);
}

/** The `Params` the spec's defaults give, in the core's syntax: `T::from_f64(1.0)`, `rank_relax::Direction::Ascending`. */
function coreDefault(p: ParamIR): string {
  switch (p.type) {
    case 'real':
      return `T::from_f64(${rustReal(p.default)})`;
    case 'enum':
      return `rank_relax::${rustEnumValue(p.enum, p.default)}`;
    case 'bool':
      return String(p.default);
    case 'int':
      return String(p.default);
    case 'list':
      return `vec![${p.default.map((v) => `T::from_f64(${rustReal(v)})`).join(', ')}]`;
    default:
      return assertNever(p, 'param type');
  }
}

function renderDefaults(ops: readonly OpIR[]): string[] {
  const lines = [
    '/// Every op\'s `Params::<T>::default()` next to the `Params` the spec\'s defaults give.',
    'pub fn default_params<T: Real>() -> Vec<DefaultParams> {',
    '    let mut all = Vec::new();',
  ];
  for (const op of ops) {
    const spec = struct(`ops::${rustIdentifier(op.name)}::Params`, op.params.map((p) => [rustIdentifier(p.name), coreDefault(p)] as const));
    const value = render(spec, 4, 'let spec = ');
    lines.push(
      `    let spec = ${value[0]}`,
      ...value.slice(1),
    );
    lines[lines.length - 1] += ';';
    lines.push(`    let core = ops::${rustIdentifier(op.name)}::Params::default();`, `    all.push(compare(${str(op.name.spec)}, core, spec));`);
  }
  lines.push('    all', '}');
  return lines;
}

function renderCoreEnums(enums: readonly EnumIR[]): string[] {
  const calls = enums.map((e) => `core_enum!(${str(e.name.spec)}, ${rustEnumType(e)})`);
  const inline = `    vec![${calls.join(', ')}]`;
  const body = calls.join(', ').length <= 60 && inline.length <= 100 ? [inline] : ['    vec![', ...calls.map((c) => `        ${c},`), '    ]'];
  return [
    '/// Every enum of the core, by its spec name.',
    'pub fn core_enums() -> Vec<CoreEnum> {',
    ...(enums.length === 0 ? ['    Vec::new()'] : body),
    '}',
  ];
}

const TYPES = `
/// A dimension of a shape: \`batch\` rows of \`n\` items, or an extent an op's params give.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dim {
    Batch,
    N,
    /// The value of this int param.
    Param(&'static str),
    /// The length of this list param.
    Length(&'static str),
}

/// A param's default in the spec.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Value {
    Real(f64),
    /// An enum value: its name and code.
    Enum(&'static str, i32),
    Bool(bool),
    Int(i64),
    List(&'static [f64]),
}

/// A param of an op, in argument order.
#[derive(Clone, Copy, Debug)]
pub struct Param {
    pub name: &'static str,
    /// The spec's default.
    pub default: Value,
    /// The backward returns its gradient, one value per row.
    pub grad: bool,
}

/// The element type of a buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Elem {
    /// The op's float type.
    Real,
    Int32,
    Bool,
}

/// An input of an op, in argument order.
#[derive(Clone, Copy, Debug)]
pub struct Input {
    pub name: &'static str,
    pub dims: &'static [Dim],
    pub elem: Elem,
    /// May be absent (\`None\`), like a mask.
    pub optional: bool,
    /// The backward returns its gradient.
    pub differentiable: bool,
    /// \`finite\` or \`nonnegative\`.
    pub constraint: &'static str,
}

/// An output or residual of an op, in argument order.
#[derive(Clone, Copy, Debug)]
pub struct Tensor {
    pub name: &'static str,
    pub dims: &'static [Dim],
    pub elem: Elem,
}

/// An op of the spec.
#[derive(Clone, Copy, Debug)]
pub struct Op {
    pub name: &'static str,
    /// Fewest items per row.
    pub min_n: usize,
    pub params: &'static [Param],
    pub inputs: &'static [Input],
    pub outputs: &'static [Tensor],
    pub residuals: &'static [Tensor],
}

/// An enum of the spec: its values as (name, code), in code order.
#[derive(Clone, Copy, Debug)]
pub struct Enum {
    pub name: &'static str,
    /// The argument its messages name: the param that takes it.
    pub arg: &'static str,
    pub values: &'static [(&'static str, i32)],
}
`;

const CHECKS = `
/// One op's \`Params::<T>::default()\` next to the \`Params\` the spec's defaults give.
#[derive(Clone, Debug)]
pub struct DefaultParams {
    pub op: &'static str,
    pub agree: bool,
    /// \`Params::default()\`, as \`{:?}\`.
    pub core: String,
    /// The spec's defaults, as \`{:?}\`.
    pub spec: String,
}

fn compare<P: PartialEq + Debug>(op: &'static str, core: P, spec: P) -> DefaultParams {
    DefaultParams {
        op,
        agree: core == spec,
        core: format!("{core:?}"),
        spec: format!("{spec:?}"),
    }
}

/// An enum of the core seen through its API, each value as (\`as_str()\`, \`code()\`).
pub struct CoreEnum {
    /// The spec name it is listed under here.
    pub name: &'static str,
    /// \`ALL\`.
    pub all: Vec<(&'static str, i32)>,
    pub parse: fn(&str) -> Result<(&'static str, i32), Error>,
    pub from_code: fn(i32) -> Result<(&'static str, i32), Error>,
}

macro_rules! core_enum {
    ($name:literal, $ty:ident) => {
        CoreEnum {
            name: $name,
            all: rank_relax::$ty::ALL
                .iter()
                .map(|v| (v.as_str(), v.code()))
                .collect(),
            parse: |s| rank_relax::$ty::parse(s).map(|v| (v.as_str(), v.code())),
            from_code: |c| rank_relax::$ty::from_code(c).map(|v| (v.as_str(), v.code())),
        }
    };
}
`;

export function renderCoreTable(ir: IR): string {
  return file(
    banner(ir, 'slash'),
    ...commentLines(
      'The spec as data for the core\'s tests: every op with its params (and their defaults), inputs, outputs and residuals, every enum with its codes; each op\'s `Params` from the spec\'s defaults next to `Params::default()`, and each enum of the core seen through its API. `mod.rs` takes its op table from here; `tests/spec_mirror.rs` fails when the core disagrees with the spec.',
      '//! ',
      100,
    ),
    '',
    'use std::fmt::Debug;',
    '',
    'use rank_relax::{ops, Error, Real};',
    TYPES,
    '/// Every op of the spec, sorted by name.',
    `pub const OPS: &[Op] = ${render(array(ir.ops.map(opValue)), 0, 'pub const OPS: &[Op] = ').join('\n')};`,
    '',
    '/// Every enum of the spec, sorted by name.',
    `pub const ENUMS: &[Enum] = ${render(array(ir.enums.map((e) => enumValue(ir, e))), 0, 'pub const ENUMS: &[Enum] = ').join('\n')};`,
    CHECKS,
    join(renderDefaults(ir.ops), '\n'),
    '',
    join(renderCoreEnums(ir.enums), '\n'),
  );
}
