// Julia spelling shared by the Julia emitter's files: paths, derived names, literals, call layout.
// Every name the generated Julia uses beyond the IR's idents and `juliaApi(op)` (names.ts) is derived here, once.
import { commentLines, wrap } from '../../emit/text.ts';
import type { EnumValueIR, Ident, InputIR, OpIR, ParamIR, Pass } from '../../ir/types.ts';
import { juliaApi, type JuliaApi, juliaName, juliaReal } from './names.ts';
import { matchElem, matchParam } from '../../ir/match.ts';

export const WIDTH = 100;
export const PACKAGE_DIR = 'packages/julia/RankRelax';
/** The ccall layer, public API and pullbacks; `include`d by the hand-written src/RankRelax.jl. */
export const GENERATED_PATH = `${PACKAGE_DIR}/src/generated.jl`;
export const EXT_DIR = `${PACKAGE_DIR}/ext`;
export const EXT_MODULE = 'RankRelaxChainRulesCoreExt';
export const MODULE = 'RankRelax';

/** Reserved prefix of private generated helpers and locals (spec names never start with `rr_`). */
export const P = '_rr_';
/** The same prefix for private constants: `_RR_ABI_HASH`. */
export const PC = '_RR_';

/** The names one op gets in Julia: its exports (from the IR) and the private helpers of this emitter. */
export interface OpNames extends JuliaApi {
  /** `_rr_soft_rank_run`: the forward on given buffers, shared by the two forwards. */
  readonly run: string;
  /** `_rr_soft_rank_forward!`: the ccall wrapper of one pass (one method per dtype). */
  readonly kernel: (pass: Pass) => string;
}

export function opNames(op: OpIR): OpNames {
  return {
    ...juliaApi(op),
    run: `${P}${op.name.snake}_run`,
    kernel: (pass) => `${P}${op.name.snake}_${pass}!`,
  };
}

/** A private local holding the converted value of a spec name: `_rr_values`. */
export function local(spec: string): string {
  return `${P}${spec}`;
}

/** A Julia string literal. */
export function juliaString(s: string): string {
  return `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\$/g, '\\$')}"`;
}

/** An enum value as the public API takes it: `:l2` (or `Symbol("end")` where `:end` would not parse). */
export function juliaSymbol(value: EnumValueIR): string {
  return juliaName(value.name) === value.name.spec ? `:${value.name.spec}` : `Symbol(${juliaString(value.name.spec)})`;
}

/** A list of reals as a Julia vector literal: `[0.25, 0.5]`. */
export function juliaRealVector(xs: readonly number[]): string {
  return `[${xs.map(juliaReal).join(', ')}]`;
}

/** The default of a param as written in a Julia signature. */
export function defaultValue(param: ParamIR): string {
  return matchParam(param, {
    enum: (p) => juliaSymbol(p.default),
    real: (p) => juliaReal(p.default),
    bool: (p) => String(p.default),
    int: (p) => String(p.default),
    list: (p) => juliaRealVector(p.default),
  });
}

/**
 * `regularization = :l2`. Int and list params are untyped, like enums: the call checks them and
 * throws an ArgumentError naming the op and the argument (a type assertion would throw a TypeError
 * that names neither, and `::Integer` would take a Bool).
 */
export function keywordWithDefault(param: ParamIR): string {
  const type = matchParam(param, { real: () => '::Real', bool: () => '::Bool', enum: () => '', int: () => '', list: () => '' });
  return `${juliaName(param.name)}${type} = ${defaultValue(param)}`;
}

/** The keyword that says along which axis the items lie (`sort`'s spelling); 1 is the library's layout. */
export const DIMS_KEYWORD = 'dims = 1';
/** Passing `dims` on. */
export const PASS_DIMS = 'dims = dims';

/** `regularization = regularization`: passing a keyword on. */
export function forwardKeyword(param: ParamIR): string {
  return passKeyword(param.name);
}

/** `name = name`: passing a keyword on. */
export function passKeyword(name: Ident): string {
  return `${juliaName(name)} = ${juliaName(name)}`;
}

/** The inputs a call takes positionally: the required ones, in the spec's order. */
export function requiredInputs(op: OpIR): readonly InputIR[] {
  return op.inputs.filter((x) => !x.optional);
}

/** The optional inputs: keywords after the params, whose default `nothing` is the C ABI's null pointer. */
export function optionalInputs(op: OpIR): readonly InputIR[] {
  return op.inputs.filter((x) => x.optional);
}

/**
 * A positional input as a method signature types it: `values::AbstractArray{<:Real}`; an int32 input
 * (group ids) `groups::AbstractArray{<:Integer}` (a Bool array matches, and the call refuses it: Bool
 * is an Integer in Julia). `array` is `AbstractVecOrMat` for the `!` forms.
 */
export function typedInput(input: InputIR, array = 'AbstractArray'): string {
  const elem = matchElem(input.elem, { real: () => 'Real', bool: () => 'Real', int32: () => 'Integer' });
  return `${juliaName(input.name)}::${array}{<:${elem}}`;
}

/** The spec names of the op's positional int32 inputs (group ids): integers, never converted to floats. */
export function intInputs(op: OpIR): readonly InputIR[] {
  return requiredInputs(op).filter((x) => x.elem === 'int32');
}

/** `mask = nothing` */
export function optionalKeyword(input: InputIR): string {
  return `${juliaName(input.name)} = nothing`;
}

/** Text inside a `"""` docstring: backslashes and `$` escaped. */
export function docText(s: string): string {
  return s.replace(/\\/g, '\\\\').replace(/\$/g, '\\$').replace(/"""/g, '\\"\\"\\"');
}

/** A docstring block: `"""`, the lines, `"""`. Lines are already wrapped. */
export function docstring(lines: readonly string[]): string {
  return ['"""', ...lines.map(docText), '"""'].join('\n');
}

/** Wrapped paragraph lines for a docstring. */
export function para(text: string, width = WIDTH): string[] {
  return wrap(text, width);
}

/** A Markdown list item with a hanging indent: `- \`name\`: text …`. */
export function item(head: string, text: string): string[] {
  const [first = '', ...rest] = wrap(`${head}${text}`, WIDTH - 2);
  const body = rest.join(' ');
  return [`- ${first}`, ...(body === '' ? [] : wrap(body, WIDTH - 2).map((l) => `  ${l}`))];
}

/** `# text` comment lines. */
export function comment(text: string, width = WIDTH): string[] {
  return commentLines(text, '# ', width);
}

/**
 * A call or signature: on one line when it fits in `width - indent` columns, else one argument per
 * line. `keywords` follow a `;`.
 */
export function call(head: string, positional: readonly string[], keywords: readonly string[] = [], tail = '', indent = 0): string {
  const kw = keywords.length > 0 ? `; ${keywords.join(', ')}` : '';
  const one = `${head}(${positional.join(', ')}${kw})${tail}`;
  if (indent + one.length <= WIDTH) return one;
  const lines = [`${head}(`];
  positional.forEach((a, i) => {
    const last = i + 1 === positional.length;
    lines.push(indented(`${a}${last && keywords.length > 0 ? ';' : ','}`));
  });
  if (positional.length === 0 && keywords.length > 0) lines.push('    ;');
  keywords.forEach((k) => lines.push(indented(`${k},`)));
  lines.push(`)${tail}`);
  return lines.join('\n');
}

/** Every line of `text` indented by four spaces. */
function indented(text: string): string {
  return text
    .split('\n')
    .map((l) => (l === '' ? l : `    ${l}`))
    .join('\n');
}

/** A tuple literal: `(a, b)` when it fits in `width - indent` columns, else one item per line. */
export function tuple(items: readonly string[], indent = 0): string {
  const one = `(${items.join(', ')}${items.length === 1 ? ',' : ''})`;
  if (indent + one.length <= WIDTH) return one;
  return ['(', ...items.map((x) => `    ${x},`), ')'].join('\n');
}

/**
 * Items separated by `, ` and filled greedily into lines of at most `WIDTH` columns: the first line
 * starts with `open`, the others with `continuation` spaces; the last item is followed by `close`.
 * `indent` is the column the text will start at once placed.
 */
export function packed(open: string, items: readonly string[], close: string, continuation: number, indent = 0): string {
  return fill(open, items.map((x, i) => `${x}${i + 1 === items.length ? close : ','}`), continuation, indent, close);
}

/** A call filled like `packed`, with keyword arguments after a `;`: `f(a, b; k = 1)`. */
export function packedCall(head: string, positional: readonly string[], keywords: readonly string[], tail: string, continuation: number, indent = 0): string {
  const close = `)${tail}`;
  const pieces = [
    ...positional.map((x, i) => `${x}${i + 1 < positional.length ? ',' : keywords.length > 0 ? ';' : close}`),
    ...keywords.map((k, i) => `${k}${i + 1 < keywords.length ? ',' : close}`),
  ];
  if (positional.length === 0 && keywords.length > 0) pieces[0] = `; ${pieces[0] ?? ''}`;
  return fill(`${head}(`, pieces, continuation, indent, close);
}

function fill(open: string, pieces: readonly string[], continuation: number, indent: number, close: string): string {
  const pad = ' '.repeat(continuation);
  const lines: string[] = [];
  let line = open;
  pieces.forEach((piece, i) => {
    if (i === 0) line += piece;
    else if (indent + line.length + 1 + piece.length > WIDTH) {
      lines.push(line);
      line = pad + piece;
    } else line += ` ${piece}`;
  });
  if (pieces.length === 0) line += close;
  lines.push(line);
  return lines.join('\n');
}
