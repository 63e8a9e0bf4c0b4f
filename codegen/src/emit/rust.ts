// The rustfmt layout (default config: max_width 100, fn_call_width and array_width 60,
// struct_lit_width 18, short_array_element_width_threshold 10) of the few constructs the generated
// Rust uses (the C ABI glue, the core's test tables, the fuzz table), so every generated Rust file
// passes `cargo fmt --check` as emitted. Shared by every emitter that writes Rust.
//
// A value is a tree: an atom (one-line text), a struct literal or an array; `render` gives its
// lines, the first without indentation (the caller places it).
import { pascalCase, realText, rustIdent } from '../ir/names.ts';
import type { BufferArgIR, DimIR, EnumIR, EnumValueIR, Ident, KernelIR, TypeId } from '../ir/types.ts';
import { assertNever } from '../util/never.ts';
import { commentLines } from './text.ts';

/** max_width: the line width of every generated Rust file. */
export const RUST_WIDTH = 100;
/** fn_call_width. */
export const RUST_CALL_WIDTH = 60;
const MAX_WIDTH = RUST_WIDTH;
const CALL_WIDTH = RUST_CALL_WIDTH;
const ARRAY_WIDTH = 60;
const STRUCT_LIT_WIDTH = 18;
const SHORT_ITEM_WIDTH = 10;

export type RustValue = string | RustStruct | RustArray;
export interface RustStruct {
  readonly struct: string;
  readonly fields: readonly (readonly [string, RustValue])[];
}
export interface RustArray {
  readonly array: readonly RustValue[];
}

/** How a call that does not fit on one line breaks. */
export interface CallLayout {
  /**
   * When every argument is short (≤ 10 columns: names, `a.x[0]`, `p[0] as _`), put as many per
   * line as fit instead of one per line.
   */
  readonly packShort?: boolean;
}

/** A doc or line comment wrapped to the Rust width: `/// text`, `//! text`, `// text`. */
export function rustDoc(text: string, prefix = '/// ', width = RUST_WIDTH): string[] {
  return commentLines(text, prefix, width);
}

export function pad(indent: number): string {
  return ' '.repeat(indent);
}

/** `Name { field: value, … }` */
export function struct(name: string, fields: readonly (readonly [string, RustValue])[]): RustStruct {
  return { struct: name, fields };
}

/** `&[a, b]` */
export function array(items: readonly RustValue[]): RustArray {
  return { array: items };
}

/** The lines of `value` placed at column `indent` after `lead` (text already on its first line). */
export function render(value: RustValue, indent: number, lead = ''): string[] {
  if (typeof value === 'string') return [value];
  if ('struct' in value) {
    const atoms = value.fields.every(([, v]) => typeof v === 'string');
    const body = value.fields.map(([k, v]) => `${k}: ${String(v)}`).join(', ');
    const one = value.fields.length === 0 ? `${value.struct} {}` : `${value.struct} { ${body} }`;
    if (value.fields.length === 0 || (atoms && body.length <= STRUCT_LIT_WIDTH && indent + lead.length + one.length <= MAX_WIDTH)) {
      return [one];
    }
    const lines = [`${value.struct} {`];
    for (const [k, v] of value.fields) {
      const inner = render(v, indent + 4, `${k}: `);
      lines.push(`${pad(indent + 4)}${k}: ${inner[0]}`, ...inner.slice(1));
      lines[lines.length - 1] += ',';
    }
    lines.push(`${pad(indent)}}`);
    return lines;
  }
  const items = value.array;
  const flat = items.map((item) => {
    const r = render(item, indent + 4);
    return r.length === 1 ? (r[0] as string) : null;
  });
  if (flat.every((f) => f !== null)) {
    const inline = flat.join(', ');
    const one = `&[${inline}]`;
    if (inline.length <= ARRAY_WIDTH && indent + lead.length + one.length + 1 <= MAX_WIDTH) return [one];
  }
  if (items.length === 1 && typeof items[0] !== 'string') {
    // One struct literal: rustfmt overflows it (`&[Name {` … `}]`).
    const inner = render(items[0] as RustValue, indent, `${lead}&[`);
    if (inner.length > 1) return [`&[${inner[0]}`, ...inner.slice(1, -1), `${inner[inner.length - 1]}]`];
  }
  const lines = ['&['];
  for (const item of items) {
    const inner = render(item, indent + 4);
    lines.push(`${pad(indent + 4)}${inner[0]}`, ...inner.slice(1));
    lines[lines.length - 1] += ',';
  }
  lines.push(`${pad(indent)}]`);
  return lines;
}

/** `head(a, b)tail` on one line if it fits, else one argument per line (or packed: `layout`). */
export function rustCall(indent: number, head: string, args: readonly string[], tail: string, layout: CallLayout = {}): string[] {
  const inline = args.join(', ');
  const one = `${pad(indent)}${head}(${inline})${tail}`;
  if (inline.length <= CALL_WIDTH && one.length <= MAX_WIDTH) return [one];
  if (layout.packShort === true && args.length > 1 && args.every((a) => a.length <= SHORT_ITEM_WIDTH)) {
    const lines: string[] = [];
    let line = '';
    for (const [i, a] of args.entries()) {
      // An item's separator counts (`a, `), except after the last one (`a,`).
      const room = MAX_WIDTH - (i + 1 < args.length ? 1 : 0);
      if (line !== '' && indent + 4 + line.length + 1 + a.length + 1 <= room) line += ` ${a},`;
      else {
        if (line !== '') lines.push(`${pad(indent + 4)}${line}`);
        line = `${a},`;
      }
    }
    lines.push(`${pad(indent + 4)}${line}`);
    return [`${pad(indent)}${head}(`, ...lines, `${pad(indent)})${tail}`];
  }
  return [`${pad(indent)}${head}(`, ...args.map((a) => `${pad(indent + 4)}${a},`), `${pad(indent)})${tail}`];
}

/** `let name = head(args)tail`, breaking after `=` when that keeps the call on one line. */
export function rustLetCall(indent: number, name: string, head: string, args: readonly string[], tail: string): string[] {
  const same = rustCall(indent, `let ${name} = ${head}`, args, tail);
  if (same.length === 1) return same;
  const next = rustCall(indent + 4, head, args, tail);
  return next.length === 1 ? [`${pad(indent)}let ${name} =`, ...next] : same;
}

/** `head(&[a, b])tail`: a call whose one argument is an array literal. */
export function rustArrayCall(indent: number, head: string, items: readonly string[], tail: string): string[] {
  const inline = items.join(', ');
  const one = `${pad(indent)}${head}(&[${inline}])${tail}`;
  if (inline.length <= CALL_WIDTH && one.length <= MAX_WIDTH) return [one];
  return [`${pad(indent)}${head}(&[`, ...items.map((a) => `${pad(indent + 4)}${a},`), `${pad(indent)}])${tail}`];
}

/** `unsafe { call }` on one line if the call is one line and it fits, else a block. */
export function rustUnsafeCall(indent: number, head: string, args: readonly string[], layout: CallLayout = {}): string[] {
  const inner = rustCall(indent + 4, head, args, '', layout);
  const one = `${pad(indent)}unsafe { ${inner[0]?.trim()} }`;
  if (inner.length === 1 && one.length <= MAX_WIDTH) return [one];
  return [`${pad(indent)}unsafe {`, ...inner, `${pad(indent)}}`];
}

/** A fn signature up to the opening brace: params on one line if it fits, else one per line. */
export function rustFnSignature(indent: number, head: string, params: readonly string[], ret: string): string[] {
  const one = `${pad(indent)}${head}(${params.join(', ')})${ret} {`;
  if (one.length <= MAX_WIDTH) return [one];
  return [`${pad(indent)}${head}(`, ...params.map((p) => `${pad(indent + 4)}${p},`), `${pad(indent)})${ret} {`];
}

/** A dim's value in Rust, where the kernel's arguments are in scope: `n`, `k as usize` (the i32 param as an extent; `as` binds tighter than `*`), `quantiles.len()`. */
export function rustDim(dim: DimIR): string {
  switch (dim.kind) {
    case 'batch':
    case 'n':
      return dim.name.spec;
    case 'param':
      return `${rustIdent(dim.param)} as usize`;
    case 'length':
      return `${rustIdent(dim.param)}.len()`;
    default:
      return assertNever(dim, 'dim kind');
  }
}

/** The core's Rust type of an enum: `Regularization`. */
export function rustEnumType(e: EnumIR): string {
  return pascalCase(e.name.spec);
}

/** A float literal in Rust: `1.0`, `1e-3`. */
export function rustReal(x: number): string {
  return realText(x);
}

/** An enum value in Rust, from the enum's module: `Regularization::L2`. */
export function rustEnumValue(e: EnumIR, v: EnumValueIR): string {
  return `${rustEnumType(e)}::${v.name.pascal}`;
}

/** The Rust (FFI-level) name of each scalar type of the C ABI: `f64`, `usize`, `*const std::ffi::c_char`. */
const RUST_TYPES: Readonly<Record<TypeId, string>> = {
  f32: 'f32', f64: 'f64', i32: 'i32', i64: 'i64', u32: 'u32', u64: 'u64', bool: 'bool', size: 'usize', cstr: '*const std::ffi::c_char',
};

export function rustType(t: { readonly id: TypeId }): string {
  return RUST_TYPES[t.id];
}

/** An identifier of the IR as a Rust identifier (keywords raw: `r#type`). */
export function rustIdentifier(name: Ident): string {
  return rustIdent(name.spec);
}

/**
 * The arguments of a core kernel call after the shape and the params, in the kernel's order: each
 * buffer as the caller spells it (`values.slice()`, `&mut grad`), scalars (a param's tangent) by value.
 */
export function coreCallArgs(kernel: KernelIR, buffer: (b: BufferArgIR) => string): string[] {
  return kernel.args.flatMap((a) => {
    switch (a.kind) {
      case 'dim':
      case 'param':
        return [];
      case 'scalar':
        return [rustIdentifier(a.name)];
      case 'buffer':
        return [buffer(a)];
      default:
        return assertNever(a, 'argument kind');
    }
  });
}
