// The case forms of a spec identifier, the C ABI's symbols, constants and scalar types (which the
// ABI hash covers), and the Rust identifier escape the core's paths share with the Rust-emitting
// targets. Every other spelling is a target's own (`cName`, `pythonDefault`, … in its names.ts).

import type { Ident, Pass, TypeId, TypeNames } from './types.ts';

/** Prefix of every C symbol and constant; also the reserved prefix of generated helpers. */
export const C_PREFIX = 'rr_';

const RUST_RESERVED = new Set([
  'as', 'async', 'await', 'break', 'const', 'continue', 'crate', 'dyn', 'else', 'enum', 'extern', 'false', 'fn',
  'for', 'gen', 'if', 'impl', 'in', 'let', 'loop', 'match', 'mod', 'move', 'mut', 'pub', 'ref', 'return', 'static',
  'struct', 'super', 'trait', 'true', 'type', 'unsafe', 'use', 'where', 'while', 'abstract', 'become', 'box', 'do',
  'final', 'macro', 'override', 'priv', 'try', 'typeof', 'unsized', 'virtual', 'yield',
]);
/** Rust keywords that cannot be raw identifiers. */
const RUST_NOT_RAW = new Set(['crate', 'self', 'super', 'Self']);

function words(snake: string): string[] {
  return snake.split('_').filter((w) => w !== '');
}

function capitalise(word: string): string {
  return word.charAt(0).toUpperCase() + word.slice(1);
}

export function camelCase(snake: string): string {
  const [first = '', ...rest] = words(snake);
  return first + rest.map(capitalise).join('');
}

export function pascalCase(snake: string): string {
  return words(snake).map(capitalise).join('');
}

export function screamingCase(snake: string): string {
  return snake.toUpperCase();
}

export function escapeWith(name: string, reserved: ReadonlySet<string>): string {
  return reserved.has(name) ? `${name}_` : name;
}

/** A spec identifier as a Rust identifier (keywords raw, `r#type`): the core's op modules (`corePath`) and every Rust-emitting target (`rustName` in emit/rust.ts). */
export function rustIdent(name: string): string {
  if (!RUST_RESERVED.has(name)) return name;
  return RUST_NOT_RAW.has(name) ? `${name}_` : `r#${name}`;
}

/** One spec identifier (snake_case) in every spelling every target needs. */
export function ident(spec: string): Ident {
  const camel = camelCase(spec);
  return {
    spec,
    snake: spec,
    camel,
    pascal: pascalCase(spec),
    screaming: screamingCase(spec),
  };
}

/** C entry point of one kernel: `rr_soft_rank_forward_f64`. */
export function cKernelSymbol(op: string, pass: Pass, dtype: 'f32' | 'f64'): string {
  return `${C_PREFIX}${op}_${pass}_${dtype}`;
}

/** Any other C symbol: `rr_last_error`. */
export function cSymbol(name: string): string {
  return `${C_PREFIX}${name}`;
}

/** C constant: `RR_REGULARIZATION_L2`, `RR_ERR_NULL_POINTER`. */
export function cConstant(...parts: string[]): string {
  return [C_PREFIX, ...parts].map((p) => p.replace(/_$/, '')).join('_').toUpperCase();
}

/** The scalar types of the C ABI. */
export const TYPES: Readonly<Record<TypeId, TypeNames>> = {
  f32: { id: 'f32' },
  f64: { id: 'f64' },
  i32: { id: 'i32' },
  i64: { id: 'i64' },
  u32: { id: 'u32' },
  u64: { id: 'u64' },
  bool: { id: 'bool' },
  size: { id: 'size' },
  cstr: { id: 'cstr' },
};

/** The C constant of an enum value (the ABI hash covers it): `RR_REGULARIZATION_L2`. */
export function cEnumConstant(e: { readonly name: Ident }, v: { readonly name: Ident }): string {
  return cConstant(e.name.spec, v.name.spec);
}

/** The C name of each scalar type of the C ABI (the ABI hash covers them): `double`, `size_t`. */
const C_TYPES: Readonly<Record<TypeId, string>> = {
  f32: 'float', f64: 'double', i32: 'int32_t', i64: 'int64_t', u32: 'uint32_t', u64: 'uint64_t', bool: 'bool', size: 'size_t', cstr: 'const char *',
};

export function cType(t: { readonly id: TypeId }): string {
  return C_TYPES[t.id];
}

/** A float with a decimal point or exponent (`1.0`, `1e-3`): the literal of C, Rust, Python and Julia. */
export function realText(x: number): string {
  const text = String(x);
  return !/[.eE]/.test(text) && Number.isFinite(x) ? `${text}.0` : text;
}
