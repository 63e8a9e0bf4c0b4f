// Python spellings that the Python target owns: the public names of an op in `rank_relax`,
// `rank_relax.torch` and `rank_relax.jax` (the emitter defines them, the describe hook shows them).
import { pyIdent, pyLiteral, pyName, pyStr } from '../../emit/python.ts';
import { defaultValue } from '../../ir/match.ts';
import type { DimIR, EnumValueIR, Ident, OpIR, ParamIR, ParamValue, TypeId } from '../../ir/types.ts';
import { assertNever } from '../../util/never.ts';

/** A spec identifier as a Python identifier (emit/python.ts, which the shared error cases use too): `input_`. */
export function pythonIdent(spec: string): string {
  return pyIdent(spec);
}

/** An identifier of the IR as a Python identifier. */
export function pythonName(name: Ident): string {
  return pyName(name);
}

/** An op's Python API: `rank_relax.soft_rank`, the same name in `.torch` and `.jax`, and the NumPy VJP. */
export interface PythonApi {
  /** `soft_rank` */
  readonly fn: string;
  /** `soft_rank_vjp` (NumPy only). */
  readonly vjp: string;
  /** `soft_rank_jvp` (NumPy only). */
  readonly jvp: string;
  /** `soft_rank_hvp` (NumPy only). */
  readonly hvp: string;
}

export function pythonApi(op: OpIR): PythonApi {
  const fn = pythonName(op.name);
  return { fn, vjp: `${fn}_vjp`, jvp: `${fn}_jvp`, hvp: `${fn}_hvp` };
}

/** A dim's value in Python: `n`, `k`, `len(quantiles)`. */
export function pythonDim(dim: DimIR): string {
  switch (dim.kind) {
    case 'batch':
    case 'n':
      return dim.name.spec;
    case 'param':
      return pythonIdent(dim.param);
    case 'length':
      return `len(${pythonIdent(dim.param)})`;
    default:
      return assertNever(dim, 'dim kind');
  }
}

/** NumPy's name of each scalar type: `float64`; null where NumPy has no array of it. */
const NUMPY: Readonly<Record<TypeId, string | null>> = {
  f32: 'float32', f64: 'float64', i32: 'int32', i64: 'int64', u32: 'uint32', u64: 'uint64', bool: 'bool_', size: 'uintp', cstr: null,
};

export function numpyDtype(t: { readonly id: TypeId }): string | null {
  return NUMPY[t.id];
}

/** A param's value as a Python literal: `1.0`, `"l2"`, `True`, `(0.25, 0.5)` (emit/python.ts, which the docs' example line shares). */
export function pythonLiteral(p: ParamIR, value: ParamValue): string {
  return pyLiteral(p, value);
}

/** A param's default as a Python literal. */
export function pythonDefault(p: ParamIR): string {
  return pythonLiteral(p, defaultValue(p));
}

/** An enum value as the Python API takes it: `"l2"`. */
export function pythonEnumValue(v: EnumValueIR): string {
  return pyStr(v.name.spec);
}
