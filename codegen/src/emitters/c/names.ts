// C spellings the C target owns, computed from the neutral IR.
import { defaultValue } from '../../ir/match.ts';
import { cConstant, escapeWith, realText } from '../../ir/names.ts';
import type { DimIR, Ident, ParamIR, ParamValue } from '../../ir/types.ts';
import { assertNever } from '../../util/never.ts';

const C_RESERVED = new Set([
  'auto', 'bool', 'break', 'case', 'char', 'const', 'continue', 'default', 'do', 'double', 'else', 'enum',
  'extern', 'false', 'float', 'for', 'goto', 'if', 'inline', 'int', 'long', 'register', 'restrict', 'return',
  'short', 'signed', 'sizeof', 'static', 'struct', 'switch', 'true', 'typedef', 'union', 'unsigned', 'void',
  'volatile', 'while', 'alignas', 'alignof', 'complex', 'imaginary', 'noreturn', 'static_assert', 'thread_local',
  // C++ keywords, since the header is also included from C++.
  'class', 'delete', 'explicit', 'friend', 'mutable', 'namespace', 'new', 'operator', 'private', 'protected',
  'public', 'template', 'this', 'throw', 'try', 'catch', 'typename', 'using', 'virtual',
]);


/** A spec identifier as a C identifier (C and C++ keywords get a trailing `_`): `default_`. */
export function cIdent(spec: string): string {
  return escapeWith(spec, C_RESERVED);
}

/** An identifier of the IR as a C identifier. */
export function cName(name: Ident): string {
  return cIdent(name.spec);
}

/** The C argument that carries a list param's length: `quantiles_len`. */
export function cListLength(param: string): string {
  return cIdent(`${param}_len`);
}

/** A dim's value in C, where the kernel's arguments are in scope: `n`, `k`, `quantiles_len`. */
export function cDim(dim: DimIR): string {
  switch (dim.kind) {
    case 'batch':
    case 'n':
      return dim.name.spec;
    case 'param':
      return cIdent(dim.param);
    case 'length':
      return cListLength(dim.param);
    default:
      return assertNever(dim, 'dim kind');
  }
}

/** The C name of a scalar type: the C ABI's own (ir/names.ts), which the ABI hash covers. */
export { cType } from '../../ir/names.ts';

/** The C constant of an enum value, the C ABI's own (ir/names.ts): `RR_REGULARIZATION_L2`. */
export { cEnumConstant } from '../../ir/names.ts';

/** A float as a C literal: `1.0`, `1e-3`. */
export function cReal(x: number): string {
  return realText(x);
}

/** A param's value as a C literal: `1.0`, `RR_REGULARIZATION_L2`, `true`, `{0.25, 0.5}`. */
export function cLiteral(p: ParamIR, value: ParamValue): string {
  if (p.type === 'enum') return cConstant(p.enum.name.spec, String(value));
  if (Array.isArray(value)) return `{${value.map(cReal).join(', ')}}`;
  return typeof value === 'number' && p.type === 'real' ? cReal(value) : String(value);
}

/** A param's default as a C literal. */
export function cDefault(p: ParamIR): string {
  return cLiteral(p, defaultValue(p));
}
