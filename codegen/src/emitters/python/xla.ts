// crates/rank-relax-python/src/xla_generated.rs: the XLA FFI handlers `rank_relax.jax` calls
// through `jax.ffi.ffi_call`. Per op, a module with one generic body per pass that decodes the call
// frame (arguments: the kernel's reads, then its real params as operands, then its optional reads
// that the call passes; results: its writes, with the extents of their shapes; attributes: its enum,
// bool, int and list params by name), runs the
// core's kernel on XLA's buffers in place, once per part of the row split (`vmap` over ε), and one
// `unsafe extern "C"` handler per dtype; then `HANDLERS`, the table the module hands to Python as
// capsules. Call-frame decoding, errors, the metadata probe and the split are in the hand-written
// src/xla.rs (`rr_xla`).
//
// Same layout rules as rust.ts: what rustfmt (default config) prints.
import { rustEnumType, rustIdentifier, rustType } from '../../emit/rust.ts';
import { rustIdent } from '../../ir/names.ts';
import { code, file, join } from '../../emit/code.ts';
import { banner } from '../../emit/text.ts';
import type { BufferArgIR, DimIR, IR, KernelIR, OpIR, ParamIR, ScalarArgIR, TypeNames } from '../../ir/types.ts';
import { opKernels, passTitle } from '../../ir/kernels.ts';
import { nativeName } from './layout.ts';
import { call, CALL_WIDTH, docComment, ITEM_WIDTH, letCall, params, reads, signature, WIDTH, writes } from './rust.ts';
import { isItemRow, isPerRow } from '../../ir/shape.ts';
import { matchParam } from '../../ir/match.ts';
import { matchElem } from '../../ir/match.ts';
import { unsupported } from '../../emit/capabilities.ts';
import { assertNever } from '../../util/never.ts';

/** rustfmt's struct_lit_width: a struct literal whose fields fit in this many columns stays on one line. */
const STRUCT_LIT_WIDTH = 18;

function elem(b: BufferArgIR, t: string): string {
  return matchElem(b.elem, { real: () => t, int32: () => 'i32', bool: () => 'bool' });
}

/**
 * The operands of a kernel's FFI call, in order: the buffers it reads, its real params, its scalars
 * (the ε tangent), then its optional reads (a mask). An optional buffer comes last so that a call
 * without it is the call of before, operand for operand: the handler reads it when the call has
 * that many operands. More than one would be ambiguous by count, so it is refused here.
 */
export function ffiOperands(kernel: KernelIR): { required: BufferArgIR[]; optional: BufferArgIR[] } {
  const rd = reads(kernel);
  const optional = rd.filter((b) => b.optional);
  if (optional.length > 1) {
    throw new Error(`${kernel.corePath}: the XLA FFI calls take at most one optional buffer (the call's operand count tells whether it is there); got ${optional.map((b) => b.name.spec).join(', ')}`);
  }
  return { required: rd.filter((b) => !b.optional), optional };
}

function reals(kernel: KernelIR): ParamIR[] {
  return params(kernel).filter((p) => p.type === 'real');
}

/** The JVP's scalar arguments (the ε tangent): operands after the real params, 0-d like them. */
export function scalars(kernel: KernelIR): ScalarArgIR[] {
  return kernel.args.filter((a): a is ScalarArgIR => a.kind === 'scalar');
}

/** The struct literal of the core's params, one field per line unless it is tiny. */
function renderParams(indent: number, kernel: KernelIR): string[] {
  const pad = ' '.repeat(indent);
  const fields = params(kernel).map((p) => {
    const plain = () => rustIdentifier(p.name);
    return matchParam(p, {
      real: () => `${rustIdentifier(p.name)}: rr_part.real(&${rustIdentifier(p.name)})`,
      enum: plain,
      bool: plain,
      int: plain,
      // The core's params own their list (not Copy): one copy per part.
      list: () => `${rustIdentifier(p.name)}: ${rustIdentifier(p.name)}.clone()`,
    });
  });
  const inner = fields.join(', ');
  const line = `${pad}let rr_params = rr_op::Params { ${inner} };`;
  if (inner.length <= STRUCT_LIT_WIDTH && line.length <= ITEM_WIDTH) return [line];
  return [`${pad}let rr_params = rr_op::Params {`, ...fields.map((f) => `${pad}    ${f},`), `${pad}};`];
}

/** A row dim's extent inside the loop over parts: `rr_part.shape.n`, `quantiles.len()`. */
function partDim(dim: DimIR): string {
  switch (dim.kind) {
    case 'batch':
      throw new Error('batch is not a dim of a row');
    case 'n':
      return 'rr_part.shape.n';
    case 'length':
      return `${rustIdent(dim.param)}.len()`;
    case 'param':
      // Checked at trace time (CHECK_PARAMS with n); a bad value reaching here sizes nothing.
      return `rr_xla::extent(${rustIdent(dim.param)})`;
    default:
      return assertNever(dim, 'dim kind');
  }
}

/** Column of the kernel call's arguments in a handler body (the call is at 8, inside the loop). */
const KERNEL_ARG_INDENT = 12;

/** This part's rows of a buffer, as an argument of the kernel call (lines after the first
 * indented from column 0): `rr_part.matrix(&values)`, `rr_part.rows_mut(&mut result, quantiles.len())`. */
function partRows(b: BufferArgIR): string {
  if (b.optional) {
    // An optional read is an `Option<In<_>>`: its rows, or None when the call has none.
    if (b.mutable || !isItemRow(b.shape)) return unsupported('python', `an optional buffer of shape ${b.shape.text}`);
    return `rr_part.optional_matrix(&${rustIdentifier(b.name)})`;
  }
  const mutable = b.mutable ? '_mut' : '';
  const ref = `&${b.mutable ? 'mut ' : ''}${rustIdentifier(b.name)}`;
  if (isPerRow(b.shape)) return `rr_part.per_row${mutable}(${ref})`;
  if (isItemRow(b.shape)) return `rr_part.matrix${mutable}(${ref})`;
  const lines = call(KERNEL_ARG_INDENT, `rr_part.rows${mutable}`, [ref, b.shape.row.map(partDim).join(' * ')], ',');
  return lines.map((l, i) => (i === 0 ? l.slice(KERNEL_ARG_INDENT) : l)).join('\n').replace(/,$/, '');
}

function renderBody(kernel: KernelIR): string[] {
  const { required: rd, optional } = ffiOperands(kernel);
  const wr = writes(kernel);
  const real = reals(kernel);
  const scalar = scalars(kernel);
  const attrs = params(kernel).filter((p) => p.type !== 'real');
  const first = rd.find((b) => isItemRow(b.shape));
  if (first === undefined) throw new Error(`${kernel.corePath}: no [batch, n] buffer gives the shape of a call`);
  const quoted = (names: readonly { readonly spec: string }[]) => names.map((n) => `\`${n.spec}\``).join(', ');
  const what = [
    `arguments ${quoted([...rd.map((b) => b.name), ...real.map((p) => p.name), ...scalar.map((a) => a.name)])}` +
      (optional.length > 0 ? `, then optionally ${quoted(optional.map((b) => b.name))}` : ''),
    `results ${wr.map((b) => `\`${b.name.spec}\``).join(', ')}`,
    ...(attrs.length > 0 ? [`attributes ${attrs.map((p) => `\`${p.name.spec}\``).join(', ')}`] : []),
  ];
  const args = [
    ...rd.map((b, i) => letCall(4, rustIdentifier(b.name), `rr_frame.arg::<${elem(b, 'T')}>`, [String(i), `"${b.name.spec}"`], '?;')),
    ...real.map((p, i) => letCall(4, rustIdentifier(p.name), 'rr_frame.arg::<T>', [String(rd.length + i), `"${p.name.spec}"`], '?;')),
    ...scalar.map((a, i) => letCall(4, rustIdentifier(a.name), 'rr_frame.arg::<T>', [String(rd.length + real.length + i), `"${a.name.spec}"`], '?;')),
    ...optional.map((b) =>
      letCall(4, rustIdentifier(b.name), `rr_frame.optional_arg::<${elem(b, 'T')}>`, [String(rd.length + real.length + scalar.length), `"${b.name.spec}"`], '?;'),
    ),
    ...wr.map((b, i) => letCall(4, `mut ${rustIdentifier(b.name)}`, `rr_frame.ret::<${elem(b, 'T')}>`, [String(i), `"${b.name.spec}"`], '?;')),
    ...attrs.map((p) =>
      matchParam(p, {
        enum: (e) => letCall(4, rustIdentifier(e.name), 'rr_frame.enum_attr', [`"${e.name.spec}"`, `rank_relax::${rustEnumType(e.enum)}::parse`], '?;'),
        bool: (b) => letCall(4, rustIdentifier(b.name), 'rr_frame.bool_attr', [`"${b.name.spec}"`], '?;'),
        real: () => unsupported('python', 'a real param as an XLA attribute'),
        int: (i) => letCall(4, rustIdentifier(i.name), 'rr_frame.int_attr', [`"${i.name.spec}"`], '?;'),
        list: (l) => letCall(4, rustIdentifier(l.name), 'rr_frame.real_list_attr::<T>', [`"${l.name.spec}"`], '?;'),
      }),
    ),
  ].flat();
  // A vmap over the ε tangent splits the rows as one over ε does.
  const realRefs = `&[${[...real.map((p) => p.name), ...scalar.map((a) => a.name)].map((n) => `&${rustIdentifier(n)}`).join(', ')}]`;
  // The kernel's buffers and scalars in its order (the JVP's ε tangent comes between its reads and writes).
  const kernelArgs = [
    'rr_part.shape',
    '&rr_params',
    ...kernel.args.flatMap((a) => {
      switch (a.kind) {
        case 'dim':
        case 'param':
          return [];
        case 'buffer':
          return [partRows(a)];
        case 'scalar':
          return [`rr_part.real(&${rustIdentifier(a.name)})`];
        default:
          return assertNever(a, 'argument kind');
      }
    }),
  ];
  return [
    ...docComment(`\`${kernel.pass}\` on an XLA call frame: ${what.join('; ')}.`),
    ...signature(0, `fn ${kernel.pass}<T: rr_xla::Float>`, ["rr_frame: &rr_xla::Frame<'_>"], 'rr_xla::Result'),
    ...args,
    ...letCall(4, 'rr_split', 'rr_xla::Split::new', ['OP', `&${rustIdentifier(first.name)}`, realRefs], '?;'),
    '    for rr_part in rr_split.parts() {',
    ...renderParams(8, kernel),
    ...call(8, `rr_op::${kernel.pass}`, kernelArgs, '?;'),
    '    }',
    '    Ok(())',
    '}',
  ];
}


function renderHandler(op: OpIR, kernel: KernelIR, dtype: TypeNames): string[] {
  const title = passTitle(kernel.pass);
  const what = title.charAt(0).toLowerCase() + title.slice(1);
  return [
    ...docComment(`XLA FFI handler of the ${what} of \`${op.name.spec}\` in ${rustType(dtype)}.`),
    '///',
    '/// # Safety',
    '/// XLA calls it with a valid call frame.',
    ...signature(0, `pub unsafe extern "C" fn ${kernel.pass}_${dtype.id}`, ['rr_frame: *mut rr_xla::CallFrame'], '*mut rr_xla::XlaError'),
    `    unsafe { rr_xla::handle(rr_frame, OP, ${kernel.pass}::<${rustType(dtype)}>) }`,
    '}',
  ];
}

function renderOp(ir: IR, op: OpIR): string {
  const kernels = opKernels(op);
  const items: string[][] = [...kernels.map(renderBody), ...ir.dtypes.flatMap((d) => kernels.map((k) => renderHandler(op, k, d)))];
  return code`
    ${docComment(`\`${op.name.spec}\`: ${op.summary}`)}
    pub mod ${rustIdentifier(op.name)} {
        use super::*;
        use rank_relax::ops::${rustIdentifier(op.name)} as rr_op;

        const OP: &str = "${op.name.spec}";

        ${join(items.map((lines) => lines.join('\n')), '\n\n')}
    }
  `;
}

function renderTable(ir: IR): string[] {
  const entries = ir.ops.flatMap((op) =>
    ir.dtypes.flatMap((d) =>
      opKernels(op).map(({ pass: p }) => {
        const inner = `"${nativeName(op, p, d)}", ${rustIdentifier(op.name)}::${p}_${d.id}`;
        // rustfmt keeps a tuple on one line when its items fit in fn_call_width.
        return inner.length <= CALL_WIDTH && `    (${inner}),`.length <= WIDTH ? [`    (${inner}),`] : ['    (', `        "${nativeName(op, p, d)}",`, `        ${rustIdentifier(op.name)}::${p}_${d.id},`, '    ),'];
      }),
    ),
  );
  return [
    '/// Every handler, by the name of its kernel (`soft_rank_forward_f64`).',
    `pub const HANDLERS: [(&str, rr_xla::Handler); ${entries.length}] = [`,
    ...entries.flat(),
    '];',
  ];
}

export function renderXlaGlue(ir: IR): string {
  return file(
    banner(ir, 'slash'),
    '//! The XLA FFI handlers of `rank_relax.jax`, one per (op, pass, dtype), over the core\'s kernels.',
    '//! Each reads XLA\'s buffers and writes its results in place (no copy, no Python); the real',
    '//! params are operands (traced, differentiable); enums, bools, ints and lists are attributes.',
    '',
    'use crate::xla as rr_xla;',
    '',
    join(ir.ops.map((op) => renderOp(ir, op)), '\n\n'),
    '',
    ...renderTable(ir),
  );
}
