// Argument checks shared by every generated op function (they import this module as `rr`), and the
// array and option types of the public API. The checks that need the core (lengths against the
// shape, finite values, ε > 0, enum names) are the core's, and the check that no written array
// shares memory with another array of the call is the addon's (rank_relax_glue, the C ABI's check):
// their messages reach JS unchanged.
import { RR_ERR_INVALID_ARGUMENT, RR_ERR_SHAPE_MISMATCH } from './generated/binding.js';
import * as msg from './generated/messages.js';

/** A buffer of real values: float64 or float32. An op returns the type it was given. */
export type RealArray = Float64Array | Float32Array;

/**
 * A list of reals (a list param such as `quantiles`): an array of numbers or a typed array. A call
 * converts it to its own float type.
 */
export type RealList = readonly number[] | Float64Array | Float32Array;

/**
 * Bools (a `mask`: true = present), one per item like the values: a `Uint8Array` (nonzero = true)
 * or an array of booleans.
 */
export type BoolArray = Uint8Array | readonly boolean[];

/** The dtype of a call, as the addon's entry points name it. */
export type Dtype = 'f32' | 'f64';

/** The shape option every op takes. */
export interface RowOptions {
  /**
   * Items per row. An input of length L holds B = L / n rows of n values, row-major; L must be a
   * multiple of n.
   *
   * @defaultValue the input's length (one row)
   */
  readonly n?: number | undefined;
}

/** A TypeError with the addon's `code` for a bad argument (`RR_ERR_INVALID_ARGUMENT`). */
export function typeError(message: string): TypeError {
  return Object.assign(new TypeError(message), { code: RR_ERR_INVALID_ARGUMENT });
}

/** A RangeError with the addon's `code` for a bad argument (`RR_ERR_INVALID_ARGUMENT`). */
export function rangeError(message: string): RangeError {
  return Object.assign(new RangeError(message), { code: RR_ERR_INVALID_ARGUMENT });
}

/** A RangeError for a length that disagrees with the shape (the core's code for it). */
export function shapeError(message: string): RangeError {
  return Object.assign(new RangeError(message), { code: RR_ERR_SHAPE_MISMATCH });
}

/** The largest row length (the core's residuals are int32). */
const MAX_N = 0x7fffffff;

/** The dtype of each typed array, by the spec's dtype names (as every binding's messages say it). */
const TYPED_DTYPES: readonly (readonly [abstract new (...args: never[]) => unknown, string])[] = [
  [Float64Array, 'float64'],
  [Float32Array, 'float32'],
  [Int32Array, 'int32'],
  [Int16Array, 'int16'],
  [Int8Array, 'int8'],
  [Uint32Array, 'uint32'],
  [Uint16Array, 'uint16'],
  [Uint8Array, 'uint8'],
  [Uint8ClampedArray, 'uint8'],
  [BigInt64Array, 'int64'],
  [BigUint64Array, 'uint64'],
];

/**
 * What a refused value is, for a message (`got`), in the words every binding shares: a typed array
 * by its dtype (`an array of int32`), an array of booleans (Node's bool array, as a `mask` takes it)
 * as `an array of bool`, a number with its value (`a float (2.5)`), else its kind.
 */
export function describe(x: unknown): string {
  if (x === null || x === undefined) return msg.gotNothing();
  switch (typeof x) {
    case 'boolean':
      return msg.gotBool();
    case 'number':
      return Number.isInteger(x) ? msg.gotInteger(String(x)) : msg.gotFloat(String(x));
    case 'bigint':
      return msg.gotInteger(String(x));
    case 'string':
      return msg.gotString();
    default:
      break;
  }
  for (const [Type, dtype] of TYPED_DTYPES) if (x instanceof Type) return msg.gotArray(dtype);
  if (Array.isArray(x) && x.length > 0 && x.every((e) => typeof e === 'boolean')) return msg.gotArray('bool');
  const name = typeof x === 'object' ? (x as { constructor?: { name?: unknown } }).constructor?.name : undefined;
  return msg.gotOther(typeof name === 'string' && name !== '' ? name : typeof x);
}

/** The options object, or `{}`; an unknown key is a TypeError (a misspelt option is never ignored). */
export function options<T extends object>(op: string, given: T | undefined, known: readonly string[]): T {
  if (given === undefined) return {} as T;
  if (given === null || typeof given !== 'object' || Array.isArray(given)) {
    throw typeError(`${op}: options must be an object, got ${describe(given)}`);
  }
  for (const key of Object.keys(given)) {
    if (!known.includes(key)) {
      const why = key === 'out' ? ' (only the sync call, its VJP, its JVP and its HVP take out)' : '';
      throw typeError(`${op}: unknown option "${key}"${why}; the options are ${known.join(', ')}`);
    }
  }
  return given;
}

/** The dtype of the first input. */
export function dtypeOf(op: string, name: string, x: unknown): Dtype {
  if (x instanceof Float64Array) return 'f64';
  if (x instanceof Float32Array) return 'f32';
  throw typeError(msg.notRealArray(op, name, describe(x)));
}

/** Every other array of a call has the first input's type. */
export function sameDtype(op: string, name: string, x: unknown, dtype: Dtype): void {
  const want = dtype === 'f64' ? Float64Array : Float32Array;
  if (!(x instanceof want)) throw typeError(`${op}: ${name} must be a ${want.name} like the first input, got ${describe(x)}`);
}

/** The row length: `options.n`, else the whole input. */
export function rowLength(op: string, first: RealArray, n: unknown): number {
  if (n === undefined) return first.length;
  if (typeof n !== 'number') throw typeError(`${op}: n must be a number, got ${describe(n)}`);
  if (!Number.isInteger(n) || n < 0 || n > MAX_N) throw rangeError(`${op}: n must be an integer in [0, ${MAX_N}], got ${n}`);
  return n;
}

/**
 * The number of rows. When the length is not a multiple of `n` the core reports it
 * (`values has 7 elements, expected batch × n = 2 × 3 = 6`).
 */
export function rowCount(first: RealArray, n: number): number {
  if (n === 0) return first.length === 0 ? 0 : 1;
  return Math.floor(first.length / n);
}

/** A real param; the core checks its range (a NaN or ε ≤ 0 is its RangeError). */
export function realOption(op: string, name: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number') throw typeError(`${op}: ${name} must be a number, got ${describe(value)}`);
  return value;
}

/**
 * An enum param, by name; the core parses it (an unknown name is its message, as a TypeError). An op
 * that accepts only some of the enum's values lists them (`values`), and another name is refused
 * here, in the core's words.
 */
export function enumOption(op: string, name: string, value: unknown, fallback: string, values?: readonly string[]): string {
  if (value === undefined) return fallback;
  if (typeof value !== 'string') throw typeError(`${op}: ${name} must be a string, got ${describe(value)}`);
  if (values !== undefined && !values.includes(value)) {
    throw typeError(`${op}: ${name} must be one of ${values.map((v) => JSON.stringify(v)).join(', ')}, got ${JSON.stringify(value)}`);
  }
  return value;
}

/**
 * An int param: an integer number (`true`, `'2'`, 2.5, NaN and ±Infinity are TypeErrors, as a
 * float is for an int parameter elsewhere), and a safe one (beyond ±(2⁵³ − 1) is a RangeError).
 * The core checks its range (`k must be in [0, n] = …`).
 */
export function intOption(op: string, name: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value)) throw typeError(msg.notInt(op, name, describe(value)));
  if (!Number.isSafeInteger(value)) throw rangeError(`${op}: ${name} must be a safe integer (|${name}| ≤ 2^53 − 1), got ${value}`);
  return value;
}

/**
 * An int param whose value is a dim of an output (`k` of `[batch, k]`): an integer as
 * {@link intOption} takes it, and within `[min, max]`, checked here because it sizes the arrays the
 * call allocates, in the core's words (`k must be in [0, n] = [0, 3], got 4`, a RangeError). Each
 * bound is its value and how the spec writes it (`[rr_n, 'n']`); `max` null: unbounded.
 */
export function extentOption(
  op: string,
  name: string,
  value: unknown,
  fallback: number,
  min: readonly [number, string],
  max: readonly [number, string] | null,
): number {
  const k = intOption(op, name, value, fallback);
  if (k >= min[0] && (max === null || k <= max[0])) return k;
  const hi = max ?? [Infinity, '∞'];
  const written = `[${min[1]}, ${hi[1]}]`;
  const values = `[${min[0]}, ${hi[0]}]`;
  throw rangeError(`${op}: ${name} must be in ${written}${written === values ? '' : ` = ${values}`}, got ${k}`);
}

/**
 * A list-of-reals param as an array of the call's float type (a copy: the caller may change its
 * list while an async call runs). It must be an array of numbers or a Float64Array/Float32Array;
 * the core checks its length and elements (empty, NaN, out of range: its message, a RangeError).
 */
export function listOption(op: string, name: string, value: unknown, fallback: readonly number[], dtype: Dtype): RealArray {
  const Type = dtype === 'f64' ? Float64Array : Float32Array;
  if (value === undefined) return Type.from(fallback);
  if (value instanceof Float64Array || value instanceof Float32Array) return Type.from(value);
  if (!Array.isArray(value)) {
    throw typeError(msg.notRealList(op, name, describe(value)));
  }
  const list: readonly unknown[] = value;
  const out = new Type(list.length);
  for (let i = 0; i < list.length; i++) {
    const x = list[i];
    if (typeof x !== 'number') throw typeError(`${op}: ${name}[${i}] must be a number, got ${describe(x)}`);
    out[i] = x;
  }
  return out;
}

/**
 * An optional bool input (a `mask`) as the addon takes it: null when not given, a `Uint8Array` as
 * given (the addon copies it, nonzero = true), an array of booleans as a new `Uint8Array`. Anything
 * else, or an element that is not a boolean, is a TypeError; the core checks the length against the
 * values' (`mask has 5 elements, expected batch × n = 2 × 3 = 6`, a RangeError).
 */
export function boolArray(op: string, name: string, value: unknown): Uint8Array | null {
  if (value === undefined) return null;
  if (value instanceof Uint8Array) return value;
  if (!Array.isArray(value)) throw typeError(msg.notBoolArray(op, name, describe(value)));
  const list: readonly unknown[] = value;
  const out = new Uint8Array(list.length);
  for (let i = 0; i < list.length; i++) {
    const x = list[i];
    if (typeof x !== 'boolean') throw typeError(`${op}: ${name}[${i}] must be a boolean, got ${describe(x)}`);
    out[i] = x ? 1 : 0;
  }
  return out;
}

/**
 * A required int32 input (soft_rank_grouped's `groups`): an `Int32Array`, passed to the addon as it
 * is (a sync call borrows it, a job copies it). Anything else — a float or other integer typed
 * array, an array of numbers or of booleans — is a TypeError with the spec's message: group ids are
 * never converted from another type. The core checks the length against the values' (`groups has 8
 * elements, expected batch × n = 2 × 3 = 6`, a RangeError).
 */
export function intArray(op: string, name: string, value: unknown): void {
  if (!(value instanceof Int32Array)) throw typeError(msg.notIntArray(op, name, describe(value)));
}

/** A bool param. */
export function boolOption(op: string, name: string, value: unknown, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean') throw typeError(`${op}: ${name} must be a boolean, got ${describe(value)}`);
  return value;
}

/** A constructor of the API's arrays: `Float64Array` or `Float32Array`, `Int32Array` for an int output. */
export interface RealArrayType<A extends RealArray | Int32Array> {
  new (length: number): A;
  readonly name: string;
}

/** A constructor of a buffer a call writes: a float array, or `Int32Array` for a residual. */
export interface ArrayType<A> {
  new (length: number): A;
}

/** The dims of a call (`batch`, `n`, and an op's own such as `m`), by name, with its other arguments. */
export interface CallDims {
  readonly batch: number;
  readonly n: number;
  readonly [dim: string]: unknown;
}

/** The number of elements of `[batch, ...row]` and the text of that product (`batch × n × n = 2 × 3 × 3 = 18`). */
export function extentOf(shape: CallDims, row: readonly string[]): { readonly length: number; readonly text: string } {
  const sizes = row.map((d) => {
    const size = shape[d];
    if (typeof size !== 'number') throw new Error(`rank-relax: the call has no dim ${d}`);
    return size;
  });
  const length = sizes.reduce((a, b) => a * b, shape.batch);
  if (row.length === 0) return { length, text: `batch = ${shape.batch}` };
  return { length, text: `batch × ${row.join(' × ')} = ${[shape.batch, ...sizes].join(' × ')} = ${length}` };
}

/**
 * A new array for the buffer `name` of a call, of `batch` times the product of the `row` dims. A
 * length JS cannot allocate (neural_sort's n × n per row at a large n) is a RangeError that names
 * the op, the buffer and its extent.
 */
export function allocate<A>(op: string, name: string, Type: ArrayType<A>, shape: CallDims, row: readonly string[]): A {
  const { length, text } = extentOf(shape, row);
  try {
    return new Type(length);
  } catch (e) {
    if (e instanceof RangeError) throw rangeError(`${op}: ${name} of ${text} elements cannot be allocated (${e.message})`);
    throw e;
  }
}

/**
 * The array an output (or a gradient) of a sync call is written into: the caller's `given` (the
 * `out` option), checked, else a new one. `given` must be a `Type` (the input's type, or
 * `Int32Array` for an int output; a TypeError) and hold the output's number of elements, `batch` times the product of the `row`
 * dims (`[]`: one per row; `['n']`; `['n', 'n']`; `['m']`), a RangeError otherwise. `reads` (the arrays the call reads, and the `out` arrays checked before it) starts
 * with the first input: when its length is not `batch × n` the length of `given` is not checked,
 * and the core reports the input. That `given` shares no memory with another array of the call is
 * checked by the addon, which sees every array of the call under its spec name and throws a
 * TypeError with the C ABI's message (`soft_rank: ranks overlaps values; …`); `_itself`, the array
 * of `reads` that `given` may be exactly (the cotangent, for the gradient of an op with an in-place
 * VJP), is the addon's business too: it routes that case to the core's `backward_in_place`. `what`
 * names a new array in an allocation error (default: the output, or the gradient of an `out.` field).
 */
export function outputArray<A extends RealArray | Int32Array>(
  op: string,
  name: string,
  given: unknown,
  Type: RealArrayType<A>,
  shape: CallDims,
  row: readonly string[],
  reads: Readonly<Record<string, RealArray | Int32Array>>,
  _itself?: string,
  what?: string,
): A {
  if (given === undefined) return allocate(op, what ?? (name.startsWith('out.') ? `the gradient of ${name.slice(4)}` : 'the output'), Type, shape, row);
  const { length, text } = extentOf(shape, row);
  if (!(given instanceof Type)) throw typeError(`${op}: ${name} must be a${/^[AEIOU]/.test(Type.name) ? 'n' : ''} ${Type.name}${(Type as unknown) === Int32Array ? '' : ' like the first input'}, got ${describe(given)}`);
  const first = Object.values(reads)[0];
  if (given.length !== length && (first === undefined || first.length === shape.batch * shape.n)) {
    throw shapeError(`${op}: ${name} has ${given.length} elements, expected ${text}`);
  }
  return given;
}

/** An `out` option that is an object of arrays (a VJP's, by differentiable input; an op's with several outputs, by output), or `{}`. */
export function outFields<T extends object>(op: string, given: T | undefined, known: readonly string[], what = 'gradient arrays'): T {
  if (given === undefined) return {} as T;
  if (given === null || typeof given !== 'object' || ArrayBuffer.isView(given) || Array.isArray(given)) {
    throw typeError(`${op}: out must be an object of ${what} (${known.map((k) => `${k}?`).join(', ')}), got ${describe(given)}`);
  }
  for (const key of Object.keys(given)) {
    if (!known.includes(key)) throw typeError(`${op}: unknown field "${key}" of out; the fields are ${known.join(', ')}`);
  }
  return given;
}

/** The sum of a per-row param gradient (in double precision). */
export function sum(a: RealArray): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] as number;
  return s;
}
