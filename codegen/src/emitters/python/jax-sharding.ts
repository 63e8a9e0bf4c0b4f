// rank_relax/jax/_sharding_table.py: the shape of every XLA FFI call of `rank_relax.jax` as data,
// which the hand-written `_sharding.py` turns into sharding rules (Shardy and GSPMD) and per-shard
// calls. Per kernel, its operands in the order xla.ts decodes them (the buffers it reads, then its
// real params and scalars, then its optional reads, marked optional: a call may leave them out)
// and its results (the buffers it writes), each with the dims after its leading batch
// dims as the spec's dim symbols. Nothing here is per op: a [batch, n, n] output is ("n", "n"), a
// [batch, k] one ("k",), a loss [batch] and a real param ().
import { banner } from '../../emit/text.ts';
import { pyDisplay, pyDocstring, pyFile, pyStr } from '../../emit/python.ts';
import { matchElem } from '../../ir/match.ts';
import type { BufferArgIR, IR, KernelIR, OpIR, ParamIR, ScalarArgIR } from '../../ir/types.ts';
import { opKernels } from '../../ir/kernels.ts';
import { ffiOperands, scalars } from './xla.ts';
import { kernelKey, PACKAGE_DIR } from './layout.ts';
import { params, writes } from './rust.ts';

/** Where the table lives, beside the hand-written `_sharding.py` that reads it. */
export const JAX_SHARDING_TABLE = `${PACKAGE_DIR}/jax/_sharding_table.py`;

function dims(symbols: readonly string[]): string {
  const items = symbols.map(pyStr);
  return items.length === 1 ? `(${items[0]},)` : `(${items.join(', ')})`;
}

function buffer(b: BufferArgIR): string {
  const elem = matchElem(b.elem, { real: () => 'real', int32: () => 'int32', bool: () => 'bool' });
  const optional = b.optional ? ', optional=True' : '';
  return `Buffer(${pyStr(b.name.spec)}, ${dims(b.shape.row.map((d) => d.name.spec))}, ${pyStr(elem)}${optional})`;
}

/** A real param is an operand of the call (ε: traced, differentiable), 0-d like a scalar. */
function realParam(p: ParamIR): string {
  return `Buffer(${pyStr(p.name.spec)}, (), "real")`;
}

/** A JVP's or an HVP's scalar (the ε tangent) is an operand after the real params, 0-d like them. */
function scalar(a: ScalarArgIR): string {
  return `Buffer(${pyStr(a.name.spec)}, (), "real")`;
}

/** A tuple display as a keyword argument at column `indent`, exploded one item per line when long. */
function field(indent: number, key: string, items: readonly string[]): string {
  // A one-item tuple needs its comma on one line too; exploded, every item has one anyway.
  const close = items.length === 1 ? ',),' : '),';
  let lines = pyDisplay(indent, `${key}=`, '(', items, close);
  if (lines.length > 1) lines = pyDisplay(indent, `${key}=`, '(', items, '),');
  lines = lines.map((l) => l.slice(indent));
  const last = lines.length - 1;
  return lines.map((l, i) => (i === last ? l.slice(0, -1) : l)).join('\n');
}

function renderCall(op: OpIR, kernel: KernelIR): string {
  const { required, optional } = ffiOperands(kernel);
  const operands = [
    ...required.map(buffer),
    ...params(kernel).filter((p) => p.type === 'real').map(realParam),
    ...scalars(kernel).map(scalar),
    ...optional.map(buffer),
  ];
  const results = writes(kernel).map(buffer);
  const items = [field(8, 'operands', operands), field(8, 'results', results)];
  return pyDisplay(4, `${pyStr(kernelKey(op, kernel.pass))}: Call`, '(', items, ')')
    .map((l) => l.slice(4))
    .join('\n');
}

export function renderJaxShardingTable(ir: IR): string {
  const calls = ir.ops.flatMap((op) => opKernels(op).map((k) => renderCall(op, k)));
  return pyFile(
    banner(ir, 'hash'),
    ...pyDocstring(0, 'The shape of every XLA FFI call of ``rank_relax.jax``: what its sharding rules are made of.', [
      'Per kernel (``soft_rank_forward``), its operands (the buffers it reads, then its real params, ' +
        'then a JVP\'s or an HVP\'s ε tangent, then an optional buffer such as a mask, which a call ' +
        'without it leaves out) ' +
        'and its results (the buffers it writes), in the order of the call. Each buffer has its spec name, ' +
        'the dims after its leading batch dims as the spec\'s dim symbols (``[batch, n]`` has ``("n",)``, ' +
        '``[batch, n, n]`` two, ``[batch]`` and a real param, which is 0-d, none) ' +
        'and its element type. ``_sharding.py`` lets the leading dims be sharded and keeps every other dim whole.',
    ], []),
    '',
    'from __future__ import annotations',
    '',
    'from typing import Literal, NamedTuple',
    '',
    '',
    'class Buffer(NamedTuple):',
    '    """One operand or result of a call."""',
    '',
    '    name: str',
    '    #: The dims after the leading batch dims, as the spec\'s dim symbols.',
    '    row: tuple[str, ...]',
    '    elem: Literal["real", "int32", "bool"]',
    '    #: Whether a call may leave it out (it is then the last operand: a mask).',
    '    optional: bool = False',
    '',
    '',
    'class Call(NamedTuple):',
    '    """The operands and results of one kernel\'s call, in order."""',
    '',
    '    operands: tuple[Buffer, ...]',
    '    results: tuple[Buffer, ...]',
    '',
    '',
    ...pyDisplay(0, 'CALLS: dict[str, Call] = ', '{', calls, '}'),
  );
}
