// Python text helpers: layout that `ruff format` leaves as it is (a call, signature or display on
// one line when it fits in the line width, otherwise one item per line with a trailing comma,
// which ruff keeps exploded), string literals, and Google-style docstrings.
import { escapeWith } from '../ir/names.ts';
import type { Ident, ParamType, ParamValue } from '../ir/types.ts';
import { wrap } from './text.ts';

const PYTHON_RESERVED = new Set([
  'False', 'None', 'True', 'and', 'as', 'assert', 'async', 'await', 'break', 'class', 'continue', 'def', 'del',
  'elif', 'else', 'except', 'finally', 'for', 'from', 'global', 'if', 'import', 'in', 'is', 'lambda', 'nonlocal',
  'not', 'or', 'pass', 'raise', 'return', 'try', 'while', 'with', 'yield', 'match', 'case', 'type',
  // Builtins a wrapper needs unshadowed.
  'input', 'len', 'min', 'max', 'sum', 'abs', 'range', 'float', 'int', 'bool', 'object',
]);


/** A spec identifier as a Python identifier (keywords and the builtins a wrapper needs get a trailing `_`): `input_`. */
export function pyIdent(spec: string): string {
  return escapeWith(spec, PYTHON_RESERVED);
}

/** An identifier of the IR as a Python identifier. */
export function pyName(name: Ident): string {
  return pyIdent(name.spec);
}

/** Line width of generated Python (pyproject.toml: ruff line-length). */
export const PY_WIDTH = 100;

function pad(indent: number): string {
  return ' '.repeat(indent);
}

/** `head(a, b)tail` on one line, or exploded with a trailing comma. An item may span lines
 * (written from column 0); its lines are indented with it. */
export function pyCall(indent: number, head: string, items: readonly string[], tail = ''): string[] {
  const line = `${pad(indent)}${head}(${items.join(', ')})${tail}`;
  if (line.length <= PY_WIDTH && !items.some((i) => i.includes('\n'))) return [line];
  return [
    `${pad(indent)}${head}(`,
    ...items.flatMap((i) => {
      const parts = i.split('\n');
      return parts.map((l, k) => `${pad(indent + 4)}${l}${k === parts.length - 1 ? ',' : ''}`);
    }),
    `${pad(indent)})${tail}`,
  ];
}

/** `def name(args) -> ret:` on one line, or exploded with a trailing comma. */
export function pyDef(indent: number, head: string, args: readonly string[], ret: string): string[] {
  return pyCall(indent, head, args, ` -> ${ret}:`);
}

/** `a, b = head(args)`; a target list too long for the line is exploded in parentheses. */
export function pyUnpack(indent: number, names: readonly string[], head: string, args: readonly string[]): string[] {
  const target = names.length === 1 ? `(${names[0]},)` : names.join(', ');
  if (`${pad(indent)}${target} = ${head}(`.length <= PY_WIDTH) return pyCall(indent, `${target} = ${head}`, args);
  return [`${pad(indent)}(`, ...names.map((n) => `${pad(indent + 4)}${n},`), ...pyCall(indent, `) = ${head}`, args)];
}

/** A Python string literal (double quotes, as ruff format writes them). */
export function pyStr(text: string): string {
  return JSON.stringify(text);
}

/** A list/dict display `head[a, b]`: one line when it fits, else one item per line. */
export function pyDisplay(indent: number, head: string, open: string, items: readonly string[], close: string): string[] {
  const line = `${pad(indent)}${head}${open}${items.join(', ')}${close}`;
  if (line.length <= PY_WIDTH && !items.some((i) => i.includes('\n'))) return [line];
  return [
    `${pad(indent)}${head}${open}`,
    ...items.flatMap((i) => {
      const parts = i.split('\n');
      return parts.map((l, k) => `${pad(indent + 4)}${l}${k === parts.length - 1 ? ',' : ''}`);
    }),
    `${pad(indent)}${close}`,
  ];
}

/** Text from the spec made safe inside a docstring (no closing quotes, no backslash escapes). */
function docSafe(text: string): string {
  return text.replace(/\\/g, '\\\\').replace(/"""/g, '\\"\\"\\"');
}

export interface DocSection {
  readonly title: string;
  /** `[name, text]` entries (Args, Raises), or paragraphs (name null). */
  readonly entries: readonly (readonly [string | null, string])[];
}

/** A docstring at `indent`: summary line, paragraphs, then indented sections. */
export function pyDocstring(
  indent: number,
  summary: string,
  paragraphs: readonly string[],
  sections: readonly DocSection[],
): string[] {
  const p = pad(indent);
  const lines: string[] = [`${p}"""${docSafe(summary)}`];
  for (const para of paragraphs) {
    lines.push('', ...wrap(docSafe(para), PY_WIDTH - indent).map((l) => (l === '' ? '' : p + l)));
  }
  for (const s of sections) {
    lines.push('', `${p}${s.title}:`);
    for (const [name, text] of s.entries) {
      const body = name === null ? text : `${name}: ${text}`;
      const [first = '', ...rest] = wrap(docSafe(body), PY_WIDTH - indent - 8);
      const hang = name === null ? 4 : 8;
      lines.push(`${p}    ${first}`, ...rest.map((l) => (l === '' ? '' : `${p}${pad(hang)}${l}`)));
    }
  }
  lines.push(`${p}"""`);
  return lines;
}

/** The text of a Python file: LF, no trailing spaces, one final newline. Unlike `file()`, keeps
 * the two blank lines PEP 8 (and ruff format) put between top-level definitions. */
export function pyFile(...parts: readonly (string | readonly string[])[]): string {
  const body = parts
    .map((p) => (typeof p === 'string' ? p : p.join('\n')))
    .join('\n')
    .replace(/[ \t]+$/gm, '')
    .replace(/\n{4,}/g, '\n\n\n');
  return `${body.replace(/\n+$/, '')}\n`;
}

/** A float literal: `3.0`, `0.1`. */
export function pyFloat(x: number): string {
  const text = String(x);
  return /[.eE]/.test(text) || !Number.isFinite(x) ? text : `${text}.0`;
}

/** A param's value as a Python literal: `1.0`, `"l2"`, `True`, `3`, `(0.25, 0.5)`. */
export function pyLiteral(p: { readonly type: ParamType }, value: ParamValue): string {
  if (Array.isArray(value)) return `(${value.map(pyFloat).join(', ')}${value.length === 1 ? ',' : ''})`;
  switch (p.type) {
    case 'real':
      return pyFloat(value as number);
    case 'enum':
      return pyStr(String(value));
    case 'bool':
      return value === true ? 'True' : 'False';
    default:
      return String(value);
  }
}

/** A hexadecimal literal as ruff format writes it (upper-case digits). */
export function pyHex(text: string): string {
  return `0x${text.replace(/^0x/, '').toUpperCase()}`;
}

/** `a, b = value`; a target list too long for the line is exploded in parentheses. */
export function pyAssign(indent: number, names: readonly string[], value: string): string[] {
  const target = names.length === 1 ? `(${names[0]},)` : names.join(', ');
  const line = `${pad(indent)}${target} = ${value}`;
  if (line.length <= PY_WIDTH) return [line];
  return [`${pad(indent)}(`, ...names.map((n) => `${pad(indent + 4)}${n},`), `${pad(indent)}) = ${value}`];
}

/** A call as an item of an enclosing call or display at column `indent`: one line if it fits
 * there, else exploded; returned from column 0 (the caller indents it). */
export function pyNested(indent: number, head: string, items: readonly string[]): string {
  // Measured with the comma the enclosing display puts after it.
  const lines = pyCall(indent, head, items, ',').map((l) => l.slice(indent));
  const last = lines.length - 1;
  return lines.map((l, i) => (i === last ? l.slice(0, -1) : l)).join('\n');
}

/** A tuple display as an item at column `indent`: `(a, b)`, `(a,)`, or exploded. */
export function pyTuple(indent: number, items: readonly string[]): string {
  if (items.length !== 1) return pyNested(indent, '', items);
  const one = `(${items[0]},)`;
  return indent + one.length + 1 <= PY_WIDTH ? one : `(\n    ${items[0]},\n)`;
}

/** A dict display as an item at column `indent`: `{"a": a}` on one line when it fits (with the
 * comma the enclosing call puts after it), else one entry per line; returned from column 0. */
export function pyDict(indent: number, entries: readonly (readonly [string, string])[]): string {
  const lines = pyDisplay(indent, '', '{', entries.map(([k, v]) => `${k}: ${v}`), '},').map((l) => l.slice(indent));
  const last = lines.length - 1;
  return lines.map((l, i) => (i === last ? l.slice(0, -1) : l)).join('\n');
}
