// crates/rank-relax-ffi/tests/fuzz_harness/generated.rs: every op of the C ABI as data for the
// hand-written fuzz harness (mod.rs next to it): its params by type, its buffers in C argument
// order, and its four entry points behind one signature, so the harness drives any op of the spec.
import { file, join } from '../../emit/code.ts';
import { banner, commentLines } from '../../emit/text.ts';
import { matchElem, matchParam } from '../../ir/match.ts';
import { assertNever } from '../../util/never.ts';
import type { DimIR, ElemType, IR, OpIR, ParamIR, ShapeIR, TensorIR, VariantKernelIR } from '../../ir/types.ts';
import { kernelsOf } from '../../ir/kernels.ts';
import { array, render, rustFnSignature, rustIdentifier, rustUnsafeCall, type RustValue, struct } from '../../emit/rust.ts';

export const FUZZ_TABLE = 'crates/rank-relax-ffi/tests/fuzz_harness/generated.rs';

function str(s: string): string {
  return JSON.stringify(s);
}

function elemValue(elem: ElemType): string {
  return matchElem(elem, { real: () => 'Elem::Real', int32: () => 'Elem::Int32', bool: () => 'Elem::Bool' });
}

/** The harness's spelling of a dim after batch: `Dim::N`, or the index of the int/list param that gives it among the op's params of that kind. */
function rowDim(op: OpIR, d: DimIR): string {
  const index = (name: string, type: 'int' | 'list') => op.params.filter((p) => p.type === type).findIndex((p) => p.name.spec === name);
  switch (d.kind) {
    case 'batch':
      throw new Error(`fuzz table: op ${op.name.spec}: batch after the first dim`);
    case 'n':
      return 'Dim::N';
    case 'param':
      return `Dim::Int(${index(d.param, 'int')})`;
    case 'length':
      return `Dim::Length(${index(d.param, 'list')})`;
    default:
      return assertNever(d, 'dim kind');
  }
}

/** `row`: the dims after batch (none: one value per row). */
function buffer(op: OpIR, name: string, t: Pick<TensorIR, 'elem' | 'shape'> | 'param_grad', written: boolean, nonnegative: boolean, optional = false): RustValue {
  const [elem, shape] = t === 'param_grad' ? ['Elem::Real', null] : [elemValue(t.elem), t.shape];
  const row = (s: ShapeIR | null) => array((s?.row ?? []).map((d) => rowDim(op, d)));
  return struct('Buffer', [
    ['name', str(name)],
    ['elem', elem],
    ['optional', String(optional)],
    ['row', row(shape)],
    ['written', String(written)],
    ['nonnegative', String(nonnegative)],
  ]);
}

function kernelName(k: VariantKernelIR): string {
  return k.cSymbol.replace(/^rr_/, '');
}

/** The harness's kind of a param, which also names the `Args` field it is drawn from. */
type Kind = 'real' | 'enum' | 'bool' | 'int' | 'list';
function kindOf(p: ParamIR): Kind {
  return matchParam<Kind>(p, { real: () => 'real', enum: () => 'enum', bool: () => 'bool', int: () => 'int', list: () => 'list' });
}

function paramKind(p: ParamIR): string {
  const kind = kindOf(p);
  return `ParamKind::${kind[0]?.toUpperCase()}${kind.slice(1)}`;
}

function opValue(op: OpIR): RustValue {
  const forward = [
    ...op.inputs.map((x) => buffer(op, x.name.spec, x, false, x.constraint === 'nonnegative', x.optional)),
    ...op.outputs.map((x) => buffer(op, x.name.spec, x, true, false)),
    ...op.residuals.map((x) => buffer(op, x.name.spec, x, true, false)),
  ];
  const backward = [
    ...op.cotangents.map((c) => buffer(op, c.name.spec, c.of, false, false)),
    ...op.grads.map((g) => buffer(op, g.name.spec, g.of, true, false)),
    ...op.paramGrads.map((g) => buffer(op, g.name.spec, 'param_grad', true, false)),
  ];
  const jvp = [
    ...op.tangents.map((t) => buffer(op, t.name.spec, t.of, false, false)),
    ...op.outputTangents.map((t) => buffer(op, t.name.spec, t.of, true, false)),
  ];
  const variant = (dtype: 'f32' | 'f64') => {
    const v = op.variants.find((x) => x.dtype.id === dtype);
    if (v === undefined) throw new Error(`op ${op.name.spec} has no ${dtype} variant`);
    return v;
  };
  const fns = (['forward', 'backward'] as const).flatMap((pass) =>
    (['f32', 'f64'] as const).map((d) => [`${pass}_${d}`, kernelName(variant(d)[pass])] as const),
  );
  const hvp = [
    ...op.cotangents.map((c) => buffer(op, c.name.spec, c.of, false, false)),
    ...op.tangents.map((t) => buffer(op, t.name.spec, t.of, false, false)),
    ...op.hvps.map((h) => buffer(op, h.name.spec, h.of, true, false)),
    ...op.paramHvps.map((h) => buffer(op, h.name.spec, 'param_grad', true, false)),
  ];
  const optional = (pass: 'jvp' | 'hvp') =>
    (['f32', 'f64'] as const).map((d) => {
      const k = variant(d)[pass];
      return [`${pass}_${d}`, k === null ? 'None' : `Some(${kernelName(k)})`] as const;
    });
  return struct('Op', [
    ['name', str(op.name.spec)],
    ['params', array(op.params.map(paramKind))],
    ['forward', array(forward)],
    ['saved', array([...op.saves.map((s) => str(s.name.spec)), ...op.residuals.map((r) => str(r.name.spec))])],
    ['backward', array(backward)],
    ['jvp', array(jvp)],
    ['param_tangents', String(op.paramTangents.length)],
    ['hvp', array(hvp)],
    ...fns,
    ...optional('jvp'),
    ...optional('hvp'),
  ]);
}

/** One adapter: `args` by type in argument order, every buffer pointer from `p` in C order. */
function renderAdapter(op: OpIR, k: VariantKernelIR): string {
  const counters = { real: 0, enum: 0, bool: 0, int: 0, list: 0, buffer: 0, scalar: 0 };
  const callArgs = k.args.flatMap((a) => {
    if (a.kind === 'dim') return [rustIdentifier(a.name)];
    if (a.kind === 'scalar') {
      const i = counters.scalar++;
      return [a.type.id === 'f64' ? `a.scalars[${i}]` : `a.scalars[${i}] as f32`];
    }
    if (a.kind === 'param') {
      const kind = kindOf(a.param);
      const i = counters[kind]++;
      switch (kind) {
        case 'real':
          return [a.type.id === 'f64' ? `a.reals[${i}]` : `a.reals[${i}] as f32`];
        case 'enum':
          return [`a.codes[${i}]`];
        case 'bool':
          return [`a.flags[${i}]`];
        case 'int':
          return [`a.ints[${i}]`];
        case 'list': {
          // A list is a pointer and a length in the C ABI; the f32 entry point takes its own copy.
          const list = a.type.id === 'f64' ? `a.lists[${i}]` : `a.lists_f32[${i}]`;
          return [`${list}.as_ptr()`, `${list}.len()`];
        }
        default:
          return assertNever(kind, 'param kind');
      }
    }
    return [`p[${counters.buffer++}] as _`];
  });
  return [
    ...rustFnSignature(0, `unsafe fn ${kernelName(k)}`, ['batch: usize', 'n: usize', 'a: &Args', 'p: &[*mut u8]'], ' -> i32'),
    '    // SAFETY: the caller passes pointers valid for the lengths the shape implies, NULL, or',
    '    // deliberately aliased/misaligned inside valid allocations (see mod.rs).',
    ...rustUnsafeCall(4, `rr::${rustIdentifier(op.name)}::${k.cSymbol}`, callArgs, { packShort: true }),
    '}',
  ].join('\n');
}

const TYPES = `
/// A param's type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParamKind {
    Real,
    Enum,
    Bool,
    Int,
    List,
}

/// A dim of a buffer's shape after \`batch\`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dim {
    /// Items per row.
    N,
    /// The value of the op's i-th int param.
    Int(usize),
    /// The length of the op's i-th list param.
    Length(usize),
}

/// The element type of a buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Elem {
    /// The call's real type.
    Real,
    /// \`int32_t\`.
    Int32,
    /// C \`bool\` (0 or 1).
    Bool,
}

/// A buffer of a call, in C argument order.
#[derive(Clone, Copy, Debug)]
pub struct Buffer {
    pub name: &'static str,
    pub elem: Elem,
    /// May be NULL whatever the shape (an absent mask).
    pub optional: bool,
    /// Its dims after \`batch\` (none: one value per row).
    pub row: &'static [Dim],
    /// Written by the call.
    pub written: bool,
    /// An input that must be ≥ 0.
    pub nonnegative: bool,
}

/// The params of a call by type, each list in argument order: reals as f64 (an f32 entry point
/// gets them rounded), enums as codes, bools, ints, lists (with their f32 rounding beside them).
#[derive(Clone, Debug, Default)]
pub struct Args {
    pub reals: Vec<f64>,
    pub codes: Vec<i32>,
    pub flags: Vec<bool>,
    pub ints: Vec<i64>,
    pub lists: Vec<Vec<f64>>,
    pub lists_f32: Vec<Vec<f32>>,
    /// The JVP's scalar tangents (of the params with a gradient), as f64.
    pub scalars: Vec<f64>,
}

/// An entry point behind one signature: \`(batch, n, params, every buffer in C order)\`.
pub type Kernel = unsafe fn(usize, usize, &Args, &[*mut u8]) -> i32;

/// An op of the C ABI.
#[derive(Clone, Copy)]
pub struct Op {
    pub name: &'static str,
    /// Its params' types, in argument order.
    pub params: &'static [ParamKind],
    /// The forward's buffers: inputs, outputs, residuals.
    pub forward: &'static [Buffer],
    /// The backward's first buffers (saves, then residuals), by name of a forward buffer.
    pub saved: &'static [&'static str],
    /// The backward's other buffers: cotangents, gradients, per-row param gradients.
    pub backward: &'static [Buffer],
    /// The JVP's buffers after the saved ones: input tangents, then output tangents.
    pub jvp: &'static [Buffer],
    /// How many scalar tangents (of params with a gradient) the JVP and the HVP take.
    pub param_tangents: usize,
    /// The HVP's buffers after the saved ones: cotangents, input tangents, then what it writes.
    pub hvp: &'static [Buffer],
    pub forward_f32: Kernel,
    pub forward_f64: Kernel,
    pub backward_f32: Kernel,
    pub backward_f64: Kernel,
    /// None for an op without a JVP.
    pub jvp_f32: Option<Kernel>,
    pub jvp_f64: Option<Kernel>,
    /// None for an op without an HVP.
    pub hvp_f32: Option<Kernel>,
    pub hvp_f64: Option<Kernel>,
}
`;

export function renderFuzzTable(ir: IR): string {
  const counts = ir.ops.flatMap((op) => op.variants.flatMap((v) => kernelsOf(v).map((k) => k.args.filter((a) => a.kind === 'buffer').length)));
  const adapters = ir.ops.flatMap((op) => (['forward', 'backward', 'jvp', 'hvp'] as const).flatMap((pass) => op.variants.flatMap((v) => {
    const k = v[pass];
    return k === null ? [] : [renderAdapter(op, k)];
  })));
  return file(
    banner(ir, 'slash'),
    ...commentLines(
      'Every op of the C ABI as data for the fuzz harness (`mod.rs`): its params by type, its buffers in C argument order, and its entry points behind one signature per pass and dtype.',
      '//! ',
      100,
    ),
    '',
    'use rank_relax_c::generated as rr;',
    TYPES,
    '/// The most buffers a call of any op takes.',
    `pub const MAX_BUFFERS: usize = ${Math.max(0, ...counts)};`,
    '',
    '/// Every op, sorted by name.',
    `pub const OPS: &[Op] = ${render(array(ir.ops.map(opValue)), 0, 'pub const OPS: &[Op] = ').join('\n')};`,
    '',
    join(adapters, '\n\n'),
  );
}
