// crates/rank-relax-ffi/tests/fuzz_harness/generated.rs: every op of the C ABI as data for the
// hand-written fuzz harness (mod.rs next to it): its params by type, its buffers in C argument
// order, and its four entry points behind one signature, so the harness drives any op of the spec.
import { file, join } from '../../emit/code.ts';
import { banner, commentLines } from '../../emit/text.ts';
import { unsupported } from '../../emit/capabilities.ts';
import { matchElem, matchParam } from '../../ir/match.ts';
import { assertNever } from '../../util/never.ts';
import { isPerRow } from '../../ir/shape.ts';
import type { ElemType, IR, OpIR, ParamIR, TensorIR, VariantKernelIR } from '../../ir/types.ts';
import { array, render, rustFnSignature, rustIdentifier, rustUnsafeCall, type RustValue, struct } from '../../emit/rust.ts';

export const FUZZ_TABLE = 'crates/rank-relax-ffi/tests/fuzz_harness/generated.rs';

function str(s: string): string {
  return JSON.stringify(s);
}

function isInt(elem: ElemType): boolean {
  return matchElem(elem, { real: () => false, int32: () => true, bool: () => unsupported('core', 'bool buffers') });
}

/** `per_row`: one value per row, shape `[batch]`. */
function buffer(name: string, t: Pick<TensorIR, 'elem' | 'shape'> | 'param_grad', written: boolean, nonnegative: boolean): RustValue {
  const [int, perRow] = t === 'param_grad' ? [false, true] : [isInt(t.elem), isPerRow(t.shape)];
  return struct('Buffer', [
    ['name', str(name)],
    ['int', String(int)],
    ['per_row', String(perRow)],
    ['written', String(written)],
    ['nonnegative', String(nonnegative)],
  ]);
}

function kernelName(k: VariantKernelIR): string {
  return k.cSymbol.replace(/^rr_/, '');
}

/** The harness's kind of a param, which also names the `Args` field it is drawn from. */
type Kind = 'real' | 'enum' | 'bool';
function kindOf(p: ParamIR): Kind {
  return matchParam<Kind>(p, {
    real: () => 'real',
    enum: () => 'enum',
    bool: () => 'bool',
    int: () => unsupported('core', 'int params'),
    list: () => unsupported('core', 'list params'),
  });
}

function paramKind(p: ParamIR): string {
  return { real: 'ParamKind::Real', enum: 'ParamKind::Enum', bool: 'ParamKind::Bool' }[kindOf(p)];
}

function opValue(op: OpIR): RustValue {
  const forward = [
    ...op.inputs.map((x) => buffer(x.name.spec, x, false, x.constraint === 'nonnegative')),
    ...op.outputs.map((x) => buffer(x.name.spec, x, true, false)),
    ...op.residuals.map((x) => buffer(x.name.spec, x, true, false)),
  ];
  const backward = [
    ...op.cotangents.map((c) => buffer(c.name.spec, c.of, false, false)),
    ...op.grads.map((g) => buffer(g.name.spec, g.of, true, false)),
    ...op.paramGrads.map((g) => buffer(g.name.spec, 'param_grad', true, false)),
  ];
  const variant = (dtype: 'f32' | 'f64') => op.variants.find((v) => v.dtype.id === dtype);
  const fns = (['forward', 'backward'] as const).flatMap((pass) =>
    (['f32', 'f64'] as const).map((d) => {
      const v = variant(d);
      if (v === undefined) throw new Error(`op ${op.name.spec} has no ${d} variant`);
      return [`${pass}_${d}`, kernelName(v[pass])] as const;
    }),
  );
  return struct('Op', [
    ['name', str(op.name.spec)],
    ['params', array(op.params.map(paramKind))],
    ['forward', array(forward)],
    ['saved', array([...op.saves.map((s) => str(s.name.spec)), ...op.residuals.map((r) => str(r.name.spec))])],
    ['backward', array(backward)],
    ...fns,
  ]);
}

/** One adapter: `args` by type in argument order, every buffer pointer from `p` in C order. */
function renderAdapter(op: OpIR, k: VariantKernelIR): string {
  const counters = { real: 0, enum: 0, bool: 0, buffer: 0 };
  const callArgs = k.args.map((a) => {
    if (a.kind === 'dim') return rustIdentifier(a.name);
    if (a.kind === 'param') {
      const kind = kindOf(a.param);
      const i = counters[kind]++;
      switch (kind) {
        case 'real':
          return a.type.id === 'f64' ? `a.reals[${i}]` : `a.reals[${i}] as f32`;
        case 'enum':
          return `a.codes[${i}]`;
        case 'bool':
          return `a.flags[${i}]`;
        default:
          return assertNever(kind, 'param kind');
      }
    }
    return `p[${counters.buffer++}] as _`;
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
}

/// A buffer of a call, in C argument order.
#[derive(Clone, Copy, Debug)]
pub struct Buffer {
    pub name: &'static str,
    /// Elements are \`int32_t\` (else the call's real type).
    pub int: bool,
    /// Shape \`[batch]\` (else \`[batch, n]\`).
    pub per_row: bool,
    /// Written by the call.
    pub written: bool,
    /// An input that must be ≥ 0.
    pub nonnegative: bool,
}

/// The params of a call by type, each list in argument order: reals as f64 (an f32 entry point
/// gets them rounded), enums as codes, bools.
#[derive(Clone, Debug, Default)]
pub struct Args {
    pub reals: Vec<f64>,
    pub codes: Vec<i32>,
    pub flags: Vec<bool>,
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
    pub forward_f32: Kernel,
    pub forward_f64: Kernel,
    pub backward_f32: Kernel,
    pub backward_f64: Kernel,
}
`;

export function renderFuzzTable(ir: IR): string {
  const counts = ir.ops.flatMap((op) => op.variants.flatMap((v) => [v.forward, v.backward].map((k) => k.args.filter((a) => a.kind === 'buffer').length)));
  const adapters = ir.ops.flatMap((op) =>
    (['forward', 'backward'] as const).flatMap((pass) => op.variants.map((v) => renderAdapter(op, v[pass]))),
  );
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
