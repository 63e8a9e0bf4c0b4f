// rank_relax/_native.pyi: the type stub of the extension module, mirroring the pyo3 glue: the
// kernels (`soft_rank_forward_f64(values, regularization_strength, regularization, direction) ->
// (ranks, permutation)`), the params checkers, the ABI constants, the thread cap and the XLA FFI
// handlers (`xla_handlers`).
import { numpyDtype, pythonName } from './names.ts';
import { banner } from '../../emit/text.ts';
import type { BufferArgIR, IR, KernelIR, OpIR, ParamIR, TypeNames } from '../../ir/types.ts';
import { checkName, nativeName, PY_WIDTH } from './layout.ts';
import { pyDef, pyFile } from '../../emit/python.ts';
import { params, reads, scalars, writes } from './rust.ts';
import { opKernels } from '../../ir/kernels.ts';
import { matchParam } from '../../ir/match.ts';
import { matchElem } from '../../ir/match.ts';

function arrayType(b: BufferArgIR, dtype: TypeNames): string {
  const array = matchElem(b.elem, { real: () => `_${dtype.id.toUpperCase()}`, int32: () => '_I32', bool: () => '_BOOL' });
  return b.optional ? `${array} | None` : array;
}

function paramType(p: ParamIR): string {
  return matchParam(p, { real: () => 'float', enum: () => 'str', bool: () => 'bool', int: () => 'int', list: () => 'Sequence[float] | NDArray[np.floating[Any]]' });
}

function renderKernel(op: OpIR, kernel: KernelIR, dtype: TypeNames): string[] {
  const args = [
    ...reads(kernel).map((b) => `${pythonName(b.name)}: ${arrayType(b, dtype)}`),
    ...params(kernel).map((p) => `${pythonName(p.name)}: ${paramType(p)}`),
    ...scalars(kernel).map((s) => `${pythonName(s.name)}: float`),
  ];
  const outs = writes(kernel).map((b) => arrayType(b, dtype));
  const ret = `tuple[${outs.join(', ')}${outs.length === 1 ? ',' : ''}]`;
  const lines = pyDef(0, `def ${nativeName(op, kernel.pass, dtype)}`, args, ret).map((l, i, all) =>
    i === all.length - 1 ? `${l} ...` : l,
  );
  const last = lines[lines.length - 1] ?? '';
  if (last.length <= PY_WIDTH || lines.length === 1) return lines;
  return [...lines.slice(0, -1), ') -> tuple[', ...outs.map((o) => `    ${o},`), ']: ...'];
}

function renderCheck(op: OpIR): string[] {
  const args = [...params(op.forward).map((p) => `${pythonName(p.name)}: ${paramType(p)}`), 'n: int | None = None'];
  const lines = pyDef(0, `def ${checkName(op)}`, args, 'None');
  const last = lines.length - 1;
  return lines.map((l, i) => (i === last ? `${l} ...` : l));
}

/** Whether some kernel reads a bool array (a mask). */
function usesBool(ir: IR): boolean {
  return ir.ops.some((op) => opKernels(op).some((k) => reads(k).some((b) => b.elem === 'bool')));
}

export function renderStub(ir: IR): string {
  return pyFile(
    banner(ir, 'hash'),
    '"""The extension module: kernels over C-contiguous ``[batch, ...]`` arrays of their dtype."""',
    '',
    ...(ir.params.some((p) => p.type === 'list') ? ['from collections.abc import Sequence', 'from typing import Any', ''] : []),
    'import numpy as np',
    'from numpy.typing import NDArray',
    '',
    '__version__: str',
    'ABI_VERSION: int',
    'ABI_HASH: int',
    'XLA_HEADER_API_VERSION: tuple[int, int]',
    '',
    ...ir.dtypes.map((d) => `_${d.id.toUpperCase()} = NDArray[np.${numpyDtype(d) ?? d.id}]`),
    '_I32 = NDArray[np.int32]',
    ...(usesBool(ir) ? ['_BOOL = NDArray[np.bool_]'] : []),
    '',
    'def set_num_threads(num_threads: int) -> None: ...',
    'def num_threads() -> int: ...',
    '',
    '# The XLA FFI handlers by kernel name, as PyCapsules for jax.ffi.register_ffi_target.',
    'def xla_handlers(api_major: int, api_minor: int) -> dict[str, object]: ...',
    ...ir.ops.flatMap((op) => [
      '',
      `# ${op.name.spec}`,
      ...ir.dtypes.flatMap((d) => opKernels(op).flatMap((k) => renderKernel(op, k, d))),
      ...renderCheck(op),
    ]),
  );
}
