// Node spellings shared by the Rust glue, the binding interface and the TypeScript API: where the
// files go, the name of every native entry point, the JS type of every argument.
import { camelCase, escapeWith, pascalCase } from '../../ir/names.ts';
import type { ArgIR, DimIR, EnumValueIR, Ident, InputIR, KernelIR, OpIR, ParamIR, ParamValue, ScalarArgIR, TypeId, TypeNames } from '../../ir/types.ts';
import { assertNever } from '../../util/never.ts';
import { defaultValue, matchParam } from '../../ir/match.ts';
import { matchElem } from '../../ir/match.ts';

export const CRATE_DIR = 'crates/rank-relax-node';
export const RUST_DIR = `${CRATE_DIR}/src/generated`;
export const PACKAGE_DIR = 'packages/node';
export const TS_DIR = `${PACKAGE_DIR}/src/generated`;

/** What a native entry point does. */
export type Entry = 'call' | 'forward' | 'backward' | 'vjp' | 'jvp' | 'hvp';

/** The entry points an (op, dtype) may get, and which of them also come as an async job. */
export const ENTRIES: readonly Entry[] = ['call', 'forward', 'backward', 'vjp', 'jvp', 'hvp'];
export const ASYNC_ENTRIES: readonly Entry[] = ['call', 'vjp', 'jvp', 'hvp'];

/** The kernel behind a derivative entry point (`jvp`, `hvp`), null where the op has none or the entry is another. */
export function entryKernel(op: OpIR, entry: Entry): KernelIR | null {
  switch (entry) {
    case 'jvp':
      return op.jvp;
    case 'hvp':
      return op.hvp;
    case 'call':
    case 'forward':
    case 'backward':
    case 'vjp':
      return null;
    default:
      return assertNever(entry, 'entry');
  }
}

/** The entry points of an op: `jvp` and `hvp` only where the op has that kernel. */
export function opEntries(op: OpIR): readonly Entry[] {
  return ENTRIES.filter((e) => (e !== 'jvp' && e !== 'hvp') || entryKernel(op, e) !== null);
}

/**
 * The scalar arguments of an entry point, which it takes after the params: the JVP's and the HVP's
 * tangent of each param with grad (`tangent_regularization_strength`), a JS number.
 */
export function entryScalars(op: OpIR, entry: Entry): readonly ScalarArgIR[] {
  return (entryKernel(op, entry)?.args ?? []).filter((a): a is ScalarArgIR => a.kind === 'scalar');
}

const TS_RESERVED = new Set([
  'break', 'case', 'catch', 'class', 'const', 'continue', 'debugger', 'default', 'delete', 'do', 'else', 'enum',
  'export', 'extends', 'false', 'finally', 'for', 'function', 'if', 'import', 'in', 'instanceof', 'new', 'null',
  'return', 'super', 'switch', 'this', 'throw', 'true', 'try', 'typeof', 'var', 'void', 'while', 'with', 'as',
  'implements', 'interface', 'let', 'package', 'private', 'protected', 'public', 'static', 'yield', 'any',
  'boolean', 'constructor', 'declare', 'get', 'module', 'require', 'number', 'set', 'string', 'symbol', 'type',
  'from', 'of', 'await', 'async', 'arguments', 'eval', 'undefined',
]);


/** A spec identifier as a TypeScript identifier: camelCase, reserved words with a trailing `_`. */
export function tsIdent(spec: string): string {
  return escapeWith(camelCase(spec), TS_RESERVED);
}

/** An identifier of the IR as a TypeScript identifier: `regularizationStrength`. */
export function tsName(name: Ident): string {
  return tsIdent(name.spec);
}

/**
 * JS name of a native entry point: `softRankF64`, `softRankForwardF64`, `softRankVjpF32Async`.
 * `call` is the forward with its residuals kept inside the addon.
 */
export function nativeName(op: OpIR, entry: Entry, dtype: TypeNames, isAsync: boolean): string {
  const pass = entry === 'call' ? '' : pascalCase(entry);
  return `${op.name.camel}${pass}${pascalCase(dtype.id)}${isAsync ? 'Async' : ''}`;
}

/** The Rust function behind it: `soft_rank_f64`, `soft_rank_forward_f64`, `soft_rank_vjp_f32_async`. */
export function rustName(op: OpIR, entry: Entry, dtype: TypeNames, isAsync: boolean): string {
  const pass = entry === 'call' ? '' : `_${entry}`;
  return `${op.name.snake}${pass}_${dtype.id}${isAsync ? '_async' : ''}`;
}

/** An op's exports from @rank-relax/node: its functions (`softRank`, …) and their types (`SoftRankOptions`, …). */
export interface NodeApi {
  readonly fn: string;
  readonly fnAsync: string;
  readonly vjp: string;
  readonly vjpAsync: string;
  readonly jvp: string;
  readonly jvpAsync: string;
  readonly hvp: string;
  readonly hvpAsync: string;
  readonly withVjp: string;
  readonly options: string;
  /** Options of the sync call: the op's options and `out` (an output array). */
  readonly outOptions: string;
  /** Options of the sync VJP: the op's options and `out` (gradient arrays). */
  readonly vjpOptions: string;
  /** Options of the JVP: the op's options and the tangent of each param with a gradient. */
  readonly jvpOptions: string;
  /** Options of the sync JVP: those and `out` (an output tangent array). */
  readonly jvpOutOptions: string;
  /** Options of the HVP: the op's options and the tangent of each param with a gradient. */
  readonly hvpOptions: string;
  /** Options of the sync HVP: those and `out` (arrays for the products, by input). */
  readonly hvpOutOptions: string;
  /** What the HVP returns: one array per differentiable input, a number per param with a gradient. */
  readonly hvpResult: string;
  /** The `out` of the sync HVP: one optional array per differentiable input. */
  readonly hvpOut: string;
  /** The `out` of the sync VJP: one optional array per differentiable input. */
  readonly gradientsOut: string;
  readonly gradients: string;
  /** What `withVjp` returns. */
  readonly withVjpResult: string;
  /** What an op with several outputs returns: one field per output. */
  readonly result: string;
  /** The `out` of the sync call of an op with several outputs: one optional array per output. */
  readonly outputsOut: string;
}

export function nodeApi(op: OpIR): NodeApi {
  const { camel, pascal } = op.name;
  return {
    fn: tsName(op.name),
    fnAsync: `${camel}Async`,
    vjp: `${camel}Vjp`,
    vjpAsync: `${camel}VjpAsync`,
    jvp: `${camel}Jvp`,
    jvpAsync: `${camel}JvpAsync`,
    hvp: `${camel}Hvp`,
    hvpAsync: `${camel}HvpAsync`,
    withVjp: `${camel}WithVjp`,
    options: `${pascal}Options`,
    outOptions: `${pascal}OutOptions`,
    vjpOptions: `${pascal}VjpOptions`,
    jvpOptions: `${pascal}JvpOptions`,
    jvpOutOptions: `${pascal}JvpOutOptions`,
    hvpOptions: `${pascal}HvpOptions`,
    hvpOutOptions: `${pascal}HvpOutOptions`,
    hvpResult: `${pascal}Hvp`,
    hvpOut: `${pascal}HvpOut`,
    gradientsOut: `${pascal}GradientsOut`,
    gradients: `${pascal}Gradients`,
    withVjpResult: `${pascal}WithVjp`,
    result: `${pascal}Result`,
    outputsOut: `${pascal}Out`,
  };
}

/** The names of an op's module: its exports (from the IR) and its private helpers. */
export interface TsNames extends NodeApi {
  /** Private helper that validates the arguments (reserved `rr_` prefix). */
  readonly args: string;
  /** Private list of the accepted option names. */
  readonly optionNames: string;
  /** Private list of the option names of the sync call and VJP (those and `out`). */
  readonly outOptionNames: string;
  /** Private list of the fields of the VJP's `out`. */
  readonly gradientNames: string;
  /** Private lists of the option names of the async JVP (the op's and the param tangents) and the sync one (those and `out`). */
  readonly jvpOptionNames: string;
  readonly jvpOutOptionNames: string;
  /** The same for the HVP, and the fields of its `out`. */
  readonly hvpOptionNames: string;
  readonly hvpOutOptionNames: string;
  readonly hvpOutNames: string;
  /** Private list of the fields of the call's `out` (an op with several outputs). */
  readonly outputNames: string;
}

export function tsNames(op: OpIR): TsNames {
  return {
    ...nodeApi(op),
    args: `rr_${op.name.camel}Args`,
    optionNames: `rr_${op.name.screaming}_OPTIONS`,
    outOptionNames: `rr_${op.name.screaming}_OUT_OPTIONS`,
    gradientNames: `rr_${op.name.screaming}_GRADIENTS`,
    jvpOptionNames: `rr_${op.name.screaming}_JVP_OPTIONS`,
    jvpOutOptionNames: `rr_${op.name.screaming}_JVP_OUT_OPTIONS`,
    hvpOptionNames: `rr_${op.name.screaming}_HVP_OPTIONS`,
    hvpOutOptionNames: `rr_${op.name.screaming}_HVP_OUT_OPTIONS`,
    hvpOutNames: `rr_${op.name.screaming}_HVP_OUT`,
    outputNames: `rr_${op.name.screaming}_OUTPUTS`,
  };
}

/** TypeScript name of an enum's string union: `Regularization`. */
export function tsEnumType(e: { readonly name: Ident }): string {
  return e.name.pascal;
}

/** TypeScript type of a param's option. */
export function tsParamType(p: ParamIR): string {
  switch (p.type) {
    case 'real':
      return 'number';
    case 'enum':
      // An op that accepts only some of the enum's values takes the union of those.
      return p.values.length < p.enum.values.length ? p.values.map(tsEnumValue).join(' | ') : tsEnumType(p.enum);
    case 'bool':
      return 'boolean';
    case 'int':
      return 'number';
    case 'list':
      return LIST_TYPE;
    default:
      return assertNever(p, 'param type');
  }
}

/** What a list param (of reals) accepts: an array of numbers or a typed array (runtime.ts). */
export const LIST_TYPE = 'RealList';

/** The float typed array of a dtype: `Float64Array`. */
function realArray(dtype: TypeNames): string {
  const array = tsArrayType(dtype);
  if (array === null) throw new Error(`no typed array for ${dtype.id}`);
  return array;
}

/**
 * TypeScript type of a param as the binding takes it in one dtype: enums by name, an int as a
 * (safe-integer) number, a list as a typed array of the dtype.
 */
export function bindingParamType(p: ParamIR, dtype: TypeNames): string {
  return matchParam(p, { real: () => 'number', enum: () => 'string', bool: () => 'boolean', int: () => 'number', list: () => realArray(dtype) });
}

/** Rust type of a param as the `#[napi]` function takes it in one dtype (a list borrowed: it is copied into the params). */
export function rustParamType(p: ParamIR, dtype: TypeNames): string {
  return matchParam(p, { real: () => 'f64', enum: () => 'String', bool: () => 'bool', int: () => 'i64', list: () => napiArray(realArray(dtype), true) });
}

/**
 * The typed array of a buffer argument in one dtype: `Float64Array`, `Int32Array`; a bool buffer
 * is a `Uint8Array` (nonzero = true), which the addon copies into the core's `&[bool]`.
 */
export function tsArrayOf(arg: ArgIR & { readonly kind: 'buffer' }, dtype: TypeNames, types: Readonly<Record<string, TypeNames>>): string {
  const t = matchElem(arg.elem, { real: () => dtype, int32: () => types.i32, bool: () => null });
  if (t === null) return BOOL_ARRAY;
  const array = t === undefined ? null : tsArrayType(t);
  if (array === null) throw new Error(`no typed array for ${arg.name.spec}`);
  return array;
}

/** The typed array the addon takes a bool buffer as. */
export const BOOL_ARRAY = 'Uint8Array';

/** What the API accepts for a bool input: a `Uint8Array` (nonzero = true) or an array of booleans (runtime.ts). */
export const BOOL_LIST_TYPE = 'BoolArray';

/** The typed array the API and the addon take an int32 input as (the only type accepted for it). */
export const INT_ARRAY = 'Int32Array';

/**
 * TypeScript type of a required input as an argument of the API, for the call's float array type
 * `a`: a real input is `a` (every real array of a call has the first input's type), an int32 one
 * an `Int32Array` whatever the dtype. A bool input is an option, never an argument.
 */
export function tsInputType(x: InputIR, a: string): string {
  return matchElem(x.elem, {
    real: () => a,
    int32: () => INT_ARRAY,
    bool: () => {
      throw new Error(`node: bool input ${x.name.spec} is an option, not an argument`);
    },
  });
}

/** An int32 input: an `Int32Array` of the API in every dtype, never differentiable. */
export function isIntInput(x: InputIR): boolean {
  return x.elem === 'int32';
}

/** The inputs a function takes as arguments, in order; the optional ones are options. */
export function requiredInputs(op: OpIR): readonly InputIR[] {
  return op.inputs.filter((x) => !x.optional);
}

/** The optional inputs (a `mask`): options of every function of the op, absent by default. */
export function optionalInputs(op: OpIR): readonly InputIR[] {
  return op.inputs.filter((x) => x.optional);
}

/** napi-rs type of a buffer: borrowed (`Float64ArraySlice`) for sync calls, referenced for jobs. */
export function napiArray(tsArray: string, borrowed: boolean): string {
  return borrowed ? `${tsArray}Slice` : tsArray;
}

/** A dim's value in TypeScript: `n`, `k`, `quantiles.length`. */
export function tsDim(dim: DimIR): string {
  switch (dim.kind) {
    case 'batch':
    case 'n':
      return dim.name.spec;
    case 'param':
      return tsIdent(dim.param);
    case 'length':
      return `${tsIdent(dim.param)}.length`;
    default:
      return assertNever(dim, 'dim kind');
  }
}

/** The typed array of each scalar type: `Float64Array`; null where JS has none. */
const TYPED_ARRAYS: Readonly<Record<TypeId, string | null>> = {
  f32: 'Float32Array', f64: 'Float64Array', i32: 'Int32Array', i64: 'BigInt64Array', u32: 'Uint32Array', u64: 'BigUint64Array', bool: null, size: null, cstr: null,
};

export function tsArrayType(t: { readonly id: TypeId }): string | null {
  return TYPED_ARRAYS[t.id];
}

/** A number as a TypeScript literal: `1`, `0.5`. */
export function tsReal(x: number): string {
  return String(x);
}

/** An enum value as the TypeScript API takes it: `'l2'`. */
export function tsEnumValue(v: EnumValueIR): string {
  return `'${v.name.spec}'`;
}

/** A param's value as a TypeScript literal: `1`, `'l2'`, `true`, `[0.25, 0.5]`. */
export function tsLiteral(p: ParamIR, value: ParamValue): string {
  if (p.type === 'enum') return `'${String(value)}'`;
  return Array.isArray(value) ? `[${value.map(tsReal).join(', ')}]` : String(value);
}

/** A param's default as a TypeScript literal. */
export function tsDefault(p: ParamIR): string {
  return tsLiteral(p, defaultValue(p));
}
