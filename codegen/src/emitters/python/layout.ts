// Where the Python target's files live, and the few spellings only this target uses. Every
// identifier comes from names.ts (`pythonName`) and the IR (`ident.rust`); this file only composes them.
import { numpyDtype, pythonName } from './names.ts';
import type { DerivedIR, InputIR, IR, KernelIR, OpIR, OutputIR, ParamIR, TensorIR, TypeNames } from '../../ir/types.ts';
import { pyDocstring, pyStr } from '../../emit/python.ts';
import { matchParam } from '../../ir/match.ts';
import { rowRank } from '../../ir/shape.ts';

/** The pyo3 glue, beside the hand-written lib.rs and plumbing.rs. */
export const RUST_GLUE = 'crates/rank-relax-python/src/generated.rs';
/** The XLA FFI handlers, beside the hand-written xla.rs. */
export const XLA_GLUE = 'crates/rank-relax-python/src/xla_generated.rs';
/** The import package `rank_relax`, beside its hand-written `__init__.py` facades. */
export const PACKAGE_DIR = 'packages/python/src/rank_relax';
/** The op table the test suite is parametrised over. */
export const TEST_TABLE = 'packages/python/tests/_spec.py';
/** The torch.library namespace of the custom ops: `torch.ops.rank_relax.<op>_<pass>`. */
export const TORCH_NAMESPACE = 'rank_relax';
/** Prefix of every private name in generated Python, so a spec name can never collide. */
export const PRIVATE = '_rr';
export { PY_WIDTH } from '../../emit/python.ts';

/** The native function of one kernel: `soft_rank_forward_f64`. */
export function nativeName(op: OpIR, pass: KernelIR['pass'], dtype: TypeNames): string {
  return `${op.name.snake}_${pass}_${dtype.id}`;
}

/** Key of a kernel in `KERNELS` (and name of its torch custom op): `soft_rank_forward`. */
export function kernelKey(op: OpIR, pass: KernelIR['pass']): string {
  return `${op.name.snake}_${pass}`;
}

/** The native params checker of an op: `soft_rank_check_params`. */
export function checkName(op: OpIR): string {
  return `${op.name.snake}_check_params`;
}

/** A Python type alias of an enum: `Regularization`. */
export function enumAlias(param: ParamIR): string | null {
  const none = () => null;
  return matchParam<string | null>(param, { enum: (p) => p.enum.name.pascal, real: none, bool: none, int: none, list: none });
}

/** The readable buffers of the backward, in call order: saves, residuals, cotangents. */
export function backwardReads(op: OpIR): { name: string; tensor: TensorIR; role: 'save' | 'residual' | 'cotangent' }[] {
  return [
    ...op.saves.map((s) => ({ name: pythonName(s.name), tensor: s.tensor, role: 'save' as const })),
    ...op.residuals.map((r) => ({ name: pythonName(r.name), tensor: r, role: 'residual' as const })),
    ...op.cotangents.map((c: DerivedIR<TensorIR>) => ({ name: pythonName(c.name), tensor: c.of, role: 'cotangent' as const })),
  ];
}

/** The floating dtypes, f32 then f64, as `[numpy name, type names]`. */
export function dtypes(ir: IR): { numpy: string; type: TypeNames }[] {
  return ir.dtypes.map((t) => ({ numpy: numpyDtype(t) ?? t.id, type: t }));
}

/**
 * Whether an output of the op has two row dims (`[batch, n, n]`): the items axis may then only be
 * the last, since either order of the two dims elsewhere would be a guess.
 */
export function hasMatrixOutput(op: OpIR): boolean {
  return op.outputs.some((o) => rowRank(o.shape) > 1);
}

/** The Python arguments that pass the items axis to the plumbing: `axis=axis, matrix=True`. */
export function axisArgs(op: OpIR, name: 'axis' | 'dim'): string[] {
  return [`axis=${name}`, ...(hasMatrixOutput(op) ? ['matrix=True'] : [])];
}

/** The inputs a caller must pass, positionally: every input that is not optional. */
export function requiredInputs(op: OpIR): readonly InputIR[] {
  return op.inputs.filter((i) => !i.optional);
}

/** The optional inputs (a mask): keyword arguments after the items axis, None when absent. */
export function optionalInputs(op: OpIR): readonly InputIR[] {
  return op.inputs.filter((i) => i.optional);
}

/**
 * The keyword arguments that tell the plumbing (`Call`, `rows`) which inputs may be None and which
 * are bool or int32: `optional=("mask",), bools=("mask",), ints=("groups",)`; none for an op with
 * only required real inputs.
 */
export function inputKindArgs(op: OpIR): string[] {
  const names = (inputs: readonly InputIR[]) => {
    const items = inputs.map((i) => pyStr(i.name.spec));
    return items.length === 1 ? `(${items[0]},)` : `(${items.join(', ')})`;
  };
  const optional = optionalInputs(op);
  const bools = op.inputs.filter((i) => i.elem === 'bool');
  const ints = op.inputs.filter((i) => i.elem === 'int32');
  return [
    ...(optional.length === 0 ? [] : [`optional=${names(optional)}`]),
    ...(bools.length === 0 ? [] : [`bools=${names(bools)}`]),
    ...(ints.length === 0 ? [] : [`ints=${names(ints)}`]),
  ];
}

/** The named tuple an op with several outputs returns (`SoftSortTopkResult`, fields the output
 * names), the same name in every module; null for an op with one output (it returns the array). */
export function resultClass(op: OpIR): string | null {
  return op.outputs.length > 1 ? `${op.name.pascal}Result` : null;
}

/** What an output's doc leaves to the binding: an int32 output's dtype and 0-based positions, no derivative. */
export function outputNote(o: OutputIR, array: string): string {
  const notes: string[] = [];
  if (o.elem === 'int32') notes.push(`An int32 ${array}${o.indexes ? ' of 0-based positions along the items axis' : ''}.`);
  if (!o.differentiable) notes.push('Not differentiable.');
  return notes.join(' ');
}

/** `class SoftSortTopkResult(NamedTuple)` with one field per output, of the module's array type. */
export function renderResultClass(op: OpIR, fn: string, array: string, arrayType: string): string[] {
  const cls = resultClass(op);
  if (cls === null) return [];
  return [
    `class ${cls}(NamedTuple):`,
    ...pyDocstring(4, `What :func:\`${fn}\` returns: a named tuple (unpack it, or read its fields).`, [], [
      {
        title: 'Attributes',
        entries: op.outputs.map((o) => [pythonName(o.name), [o.doc, outputNote(o, array)].filter((t) => t !== '').join(' ')] as const),
      },
    ]),
    '',
    ...op.outputs.map((o) => `    ${pythonName(o.name)}: ${arrayType}`),
  ];
}
