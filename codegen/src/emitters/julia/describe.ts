// What the API reference says of RankRelax.jl (the `describe` hook): its names, keyword spellings,
// signatures, enum values and an example per op, in the same spellings the Julia emitter writes.
import { juliaApi, juliaIdent, juliaName, juliaReal, juliaType } from './names.ts';
import { code } from '../../emit/code.ts';
import { exampleData, type ExampleData } from '../../emit/example.ts';
import { fence, tick } from '../../emit/markdown.ts';
import type { OpDocs, TargetDocs } from '../../emit/types.ts';
import type { DimIR, IR, OpIR, ParamIR, ParamValue, ShapeIR } from '../../ir/types.ts';
import { defaultValue, matchParam } from '../../ir/match.ts';
import { isItemRow, isPerRow } from '../../ir/shape.ts';
import { assertNever } from '../../util/never.ts';
import { DIMS_KEYWORD, intInputs, juliaRealVector, juliaString, juliaSymbol, MODULE, optionalInputs, optionalKeyword, requiredInputs } from './syntax.ts';

/** A param's value in Julia: enums as Symbols, reals with a decimal point. */
export function juliaValue(p: ParamIR, value: ParamValue): string {
  return matchParam(p, {
    real: () => juliaReal(value as number),
    bool: () => String(value),
    enum: (e) => {
      const v = e.enum.values.find((x) => x.name.spec === value);
      return v === undefined ? juliaString(String(value)) : juliaSymbol(v);
    },
    int: () => String(value),
    list: () => juliaRealVector(value as readonly number[]),
  });
}

/** A dim of a Julia array as the docs name it: `n`, `length(quantiles)`. */
function dimText(d: DimIR): string {
  switch (d.kind) {
    case 'batch':
      return 'B';
    case 'n':
      return 'n';
    case 'param':
      return juliaIdent(d.param);
    case 'length':
      return `length(${juliaIdent(d.param)})`;
    default:
      return assertNever(d, 'dim kind');
  }
}

/** The dims of one sample of a buffer in Julia's order (the core's reversed): `n × n`, `length(quantiles)`. */
export function juliaDimsText(shape: ShapeIR): string {
  return [...shape.row].reverse().map(dimText).join(' × ');
}

/** What a tensor is in Julia, for the docs' shapes table. */
function shapeText(shape: ShapeIR): string {
  if (isPerRow(shape)) return 'a number (`Vector` input) or a `B`-`Vector`';
  if (isItemRow(shape)) return 'a `Vector` (one sample) or an `n × B` `Matrix`';
  const dims = juliaDimsText(shape);
  if (shape.row.length === 1) return `a \`Vector\` of \`${dims}\` values (one sample) or a \`${dims} × B\` \`Matrix\``;
  return `an \`${dims}\` \`Matrix\` (one sample) or an \`${dims} × B\` array`;
}

/** `regularization_strength = 1.0` */
export function juliaParam(p: ParamIR): string {
  return `${juliaName(p.name)} = ${juliaValue(p, defaultValue(p))}`;
}

function tuple(names: readonly string[]): string {
  return names.length === 1 ? (names[0] ?? '') : `(${names.join(', ')})`;
}

export function juliaSignature(op: OpIR): string {
  const n = juliaApi(op);
  const inputs = requiredInputs(op).map((i) => juliaName(i.name));
  const optional = optionalInputs(op).map(optionalKeyword);
  const keywords = [...op.params.map(juliaParam), ...optional, DIMS_KEYWORD];
  const call = (head: string, positional: readonly string[], kw: readonly string[]) =>
    `${head}(${positional.join(', ')}${kw.length > 0 ? `; ${kw.join(', ')}` : ''})`;
  const outputs = op.outputs.map((o) => juliaName(o.name));
  const grads = [...op.grads.map((g) => juliaName(g.name)), ...op.paramGrads.map((g) => juliaName(g.name))];
  const lines = [`${call(n.fn, inputs, keywords)} -> ${tuple(outputs)}`];
  // A param with a gradient also comes positional, so ChainRules can differentiate it.
  const positional = op.params.filter((p) => p.grad);
  if (positional.length > 0) {
    const rest = [...op.params.filter((p) => !p.grad).map(juliaParam), ...optional, DIMS_KEYWORD];
    lines.push(`${call(n.fn, [...inputs, ...positional.map((p) => juliaName(p.name))], rest)} -> ${tuple(outputs)}`);
  }
  lines.push(
    `${call(n.forward, inputs, [...op.params.map((p) => juliaName(p.name)), ...optionalInputs(op).map((x) => juliaName(x.name)), 'dims'])} -> (${[...outputs, `tape::${n.tape} or AxisTape`].join(', ')})`,
    `${call(n.pullback, [`tape::${n.tape} or AxisTape`, ...op.cotangents.map((c) => juliaName(c.name))], ['dims'])} -> (${grads.join(', ')})`,
    `${call(n.forwardInto, ['tape::' + n.tape, ...inputs], [...op.params.map((p) => juliaName(p.name)), ...optionalInputs(op).map((x) => juliaName(x.name))])} -> (${[...outputs, 'tape'].join(', ')})`,
    `${call(n.pullbackInto, [...op.grads.map((g) => juliaName(g.name)), 'tape::' + n.tape, ...op.cotangents.map((c) => juliaName(c.name))], [])}`,
  );
  if (op.jvp !== null) {
    const tangents = op.tangents.map((t) => juliaName(t.name));
    const paramTangents = op.paramTangents.map((t) => `${juliaName(t.name)} = 0.0`);
    const outputTangents = tuple(op.outputTangents.map((t) => juliaName(t.name)));
    lines.push(
      `${call(n.jvp, [...inputs, ...tangents], [...op.params.map(juliaParam), ...optional, ...paramTangents, DIMS_KEYWORD])} -> ${outputTangents}`,
      `${call(n.pushforward, [`tape::${n.tape} or AxisTape`, ...tangents], [...op.paramTangents.map((t) => juliaName(t.name)), 'dims'])} -> ${outputTangents}`,
    );
  }
  if (op.hvp !== null) {
    const cotangents = op.cotangents.map((c) => juliaName(c.name));
    const tangents = op.tangents.map((t) => juliaName(t.name));
    const paramTangents = op.paramTangents.map((t) => `${juliaName(t.name)} = 0.0`);
    const hvps = `(${[...op.hvps, ...op.paramHvps].map((h) => juliaName(h.name)).join(', ')})`;
    lines.push(
      `${call(n.hvp, [...inputs, ...cotangents, ...tangents], [...op.params.map(juliaParam), ...optional, ...paramTangents, DIMS_KEYWORD])} -> ${hvps}`,
      `${call(n.pullbackHvp, [`tape::${n.tape} or AxisTape`, ...cotangents, ...tangents], [...op.paramTangents.map((t) => juliaName(t.name)), 'dims'])} -> ${hvps}`,
    );
  }
  return lines.join('\n');
}

function num(x: number): string {
  return juliaReal(x);
}

/**
 * One sample is a Vector; several are an n × B Matrix, one column per sample (the rows of the spec).
 * `lit` writes an element: a float, or an integer for an int32 input.
 */
export function juliaArray(rows: readonly (readonly number[])[], lit: (x: number) => string = num): string {
  if (rows.length === 1) return `[${(rows[0] ?? []).map(lit).join(', ')}]`;
  const n = rows[0]?.length ?? 0;
  const lines = Array.from({ length: n }, (_, i) => rows.map((r) => lit(r[i] ?? 0)).join(' '));
  return `[${lines.join('; ')}]`;
}

export function juliaExample(op: OpIR, data: ExampleData): string {
  const n = juliaApi(op);
  const inputs = data.inputs.map((i) => juliaName(i.input.name));
  const kw = data.params.map((p) => `${juliaName(p.param.name)} = ${juliaValue(p.param, p.value)}`);
  const call = (head: string, positional: readonly string[]) => `${head}(${positional.join(', ')}${kw.length > 0 ? `; ${kw.join(', ')}` : ''})`;
  const outputs = op.outputs.map((o) => juliaName(o.name));
  const grads = [...op.grads.map((g) => juliaName(g.name)), ...op.paramGrads.map((g) => juliaName(g.name))];
  return [
    `using ${MODULE}`,
    '',
    ...data.inputs.map((i) => `${juliaName(i.input.name)} = ${juliaArray(i.rows, i.input.elem === 'int32' ? String : num)}`),
    `${tuple(outputs)} = ${call(n.fn, inputs)}`,
    ...outputs.map((o) => `println(${o})`),
    // The forward returns (the op's result, tape): several outputs are one NamedTuple.
    `${outputs.length === 1 ? outputs[0] : tuple(outputs)}, tape = ${call(n.forward, inputs)}`,
    `${grads.join(', ')} = ${n.pullback}(tape, ${op.cotangents.map((c) => `one.(${juliaName(c.of.name)})`).join(', ')})`,
    ...grads.map((g) => `println(${g})`),
  ].join('\n');
}

/** The forward mode, where the op has it: the JVP function, the pushforward, the frule. */
function jvpText(op: OpIR): string {
  if (op.jvp === null) return '';
  const jl = juliaApi(op);
  const params = op.paramTangents.map((t) => tick(juliaName(t.of.name)));
  return (
    `; ${tick(jl.jvp)} is its Jacobian-vector product (forward mode: the output's tangent from a tangent of each ` +
    `differentiable input${params.length > 0 ? ` and of ${params.join(', ')}` : ''}), ${tick(jl.pushforward)} the same from a tape ` +
    `(what the ${tick('frule')} calls)`
  );
}

/** Second order, where the op has it: the HVP function, its tape form, the rrule of the pullback. */
function hvpText(op: OpIR): string {
  if (op.hvp === null) return '';
  const jl = juliaApi(op);
  return (
    `. ${tick(jl.hvp)} is the derivative of the pullback along tangents of the differentiable inputs` +
    `${op.paramTangents.length > 0 ? ' and of ε' : ''} at a fixed cotangent (a Hessian-vector product), shaped as the pullback's ` +
    `result, ${tick(jl.pullbackHvp)} the same from a tape; the rrule's pullback has an rrule of its own through them, so ` +
    'nested reverse mode (a Hessian) is exact'
  );
}

/** The int32 inputs (group ids), where the op has some: integer arrays, never converted to floats. */
function intText(op: OpIR): string {
  const ints = intInputs(op);
  if (ints.length === 0) return '';
  const names = ints.map((x) => tick(juliaName(x.name))).join(', ');
  return (
    ` ${names} ${ints.length === 1 ? 'is an array' : 'are arrays'} of integers of any type but ${tick('Bool')} (an ${tick('Array{Int32}')} ` +
    `without a copy, others checked to fit in ${tick('Int32')} and copied; ids as given, no 1-based shift), never differentiable (${tick('NoTangent()')} in the rules).`
  );
}

function section(op: OpIR, data: ExampleData): string {
  const jl = juliaApi(op);
  return code`
    ### Julia

    ${fence('julia', juliaSignature(op), false)}

    ${tick(jl.pullback)} returns the gradient of each differentiable input, then the gradient of each
    differentiable param summed over the samples; ${tick(jl.forwardInto)} and ${tick(jl.pullbackInto)}
    reuse the arrays of an earlier tape (items along the first axis only). ${tick('dims')} puts the items along any axis of
    an array of any number of dims, as in ${tick('sort(x; dims)')}. With ChainRulesCore loaded, an ${tick('rrule')} makes
    ${tick(jl.fn)} differentiable by Zygote and friends (ε through the positional form)${jvpText(op)}${hvpText(op)}.${intText(op)}

    ${fence('julia', juliaExample(op, data), true)}
  `;
}

/** What the API raises for each cause of error. */
export const ERROR_TYPES = { value: 'ArgumentError', enum: 'ArgumentError', type: 'MethodError', param: 'ArgumentError' } as const;

function opDocs(op: OpIR): OpDocs {
  const jl = juliaApi(op);
  return {
    fn: jl.fn,
    names: [{ label: 'Julia', names: [jl.fn, jl.forward, jl.pullback, jl.forwardInto, jl.pullbackInto, ...(op.jvp === null ? [] : [jl.jvp, jl.pushforward]), ...(op.hvp === null ? [] : [jl.hvp, jl.pullbackHvp])] }],
    params: op.params.map((p) => tick(juliaParam(p))),
    shapes: Object.fromEntries([
      ...[...op.inputs, ...op.outputs].map((t) => [t.name.spec, shapeText(t.shape)]),
      ...op.residuals.map((t) => [t.name.spec, 'kept in the tape']),
    ]),
    section: section(op, exampleData(op)),
  };
}

export function describeJulia(ir: IR): TargetDocs {
  return {
    language: 'Julia',
    column: 'Julia',
    shapesColumn: 'Julia (column = sample)',
    dtypes: Object.fromEntries(ir.dtypes.map((t) => [t.id, `Julia ${tick(juliaType(t))}`])),
    overview: code`
      - **Julia**: a \`Vector\` is one sample; an \`n × B\` \`Matrix\` holds one sample per column (the same memory
        as the core's \`[B, n]\`); \`Float32\` or \`Float64\`. The \`dims\` keyword puts the items along any axis of an
        array of any number of dims (\`dims = 2\`: one sample per row), a copy with that axis moved first.
    `,
    module: MODULE,
    ops: Object.fromEntries(ir.ops.map((op) => [op.name.spec, opDocs(op)])),
    errorTypes: ERROR_TYPES,
    enumValues: Object.fromEntries(
      ir.enums.map((e) => [e.name.spec, Object.fromEntries(e.values.map((v) => [v.name.spec, tick(juliaSymbol(v))]))]),
    ),
  };
}
