// Julia in the reference (RankRelax.jl): signatures, keyword spellings, shapes (a column is one
// sample), and the example.
import { realLiterals } from '../../ir/names.ts';
import type { EnumValueIR, Literals, OpIR, ParamIR } from '../../ir/types.ts';
import type { ExampleData } from './example.ts';
import { JULIA_MODULE } from './names.ts';
import { matchParam } from '../../ir/match.ts';
import { unsupported } from '../../emit/capabilities.ts';

/** An enum value as RankRelax.jl writes it: the Symbol `:l2` (it takes the string `"l2"` too). */
function juliaSymbol(v: EnumValueIR): string {
  return v.name.julia === v.name.spec ? `:${v.name.julia}` : `Symbol(${v.literal.julia})`;
}

/** A param's value in Julia: enums as Symbols, else the IR's Julia literal. */
export function juliaValue(p: ParamIR, literal: Literals): string {
  const plain = () => literal.julia;
  return matchParam(p, {
    real: plain,
    bool: plain,
    enum: (e) => {
      const v = e.enum.values.find((x) => x.literal.julia === literal.julia);
      return v === undefined ? literal.julia : juliaSymbol(v);
    },
    int: () => unsupported('docs', 'int params'), list: () => unsupported('docs', 'list params'),
  });
}

/** `regularization_strength = 1.0` */
export function juliaParam(p: ParamIR): string {
  return `${p.name.julia} = ${juliaValue(p, p.defaultLiteral)}`;
}

function tuple(names: readonly string[]): string {
  return names.length === 1 ? (names[0] ?? '') : `(${names.join(', ')})`;
}

export function juliaSignature(op: OpIR): string {
  const n = op.api.julia;
  const inputs = op.inputs.map((i) => i.name.julia);
  const keywords = op.params.map(juliaParam);
  const call = (head: string, positional: readonly string[], kw: readonly string[]) =>
    `${head}(${positional.join(', ')}${kw.length > 0 ? `; ${kw.join(', ')}` : ''})`;
  const outputs = op.outputs.map((o) => o.name.julia);
  const grads = [...op.grads.map((g) => g.name.julia), ...op.paramGrads.map((g) => g.name.julia)];
  const lines = [`${call(n.fn, inputs, keywords)} -> ${tuple(outputs)}`];
  // A param with a gradient also comes positional, so ChainRules can differentiate it.
  const positional = op.params.filter((p) => p.grad);
  if (positional.length > 0) {
    const rest = op.params.filter((p) => !p.grad).map(juliaParam);
    lines.push(`${call(n.fn, [...inputs, ...positional.map((p) => p.name.julia)], rest)} -> ${tuple(outputs)}`);
  }
  lines.push(
    `${call(n.forward, inputs, op.params.map((p) => p.name.julia))} -> (${[...outputs, 'tape::' + n.tape].join(', ')})`,
    `${call(n.pullback, ['tape::' + n.tape, ...op.cotangents.map((c) => c.name.julia)], [])} -> (${grads.join(', ')})`,
    `${call(n.forwardInto, ['tape::' + n.tape, ...inputs], op.params.map((p) => p.name.julia))} -> (${[...outputs, 'tape'].join(', ')})`,
    `${call(n.pullbackInto, [...op.grads.map((g) => g.name.julia), 'tape::' + n.tape, ...op.cotangents.map((c) => c.name.julia)], [])}`,
  );
  return lines.join('\n');
}

function num(x: number): string {
  return realLiterals(x).julia;
}

/** One sample is a Vector; several are an n × B Matrix, one column per sample (the rows of the spec). */
export function juliaArray(rows: readonly (readonly number[])[]): string {
  if (rows.length === 1) return `[${(rows[0] ?? []).map(num).join(', ')}]`;
  const n = rows[0]?.length ?? 0;
  const lines = Array.from({ length: n }, (_, i) => rows.map((r) => num(r[i] ?? 0)).join(' '));
  return `[${lines.join('; ')}]`;
}

export function juliaExample(op: OpIR, data: ExampleData): string {
  const n = op.api.julia;
  const inputs = data.inputs.map((i) => i.input.name.julia);
  const kw = data.params.map((p) => `${p.param.name.julia} = ${juliaValue(p.param, p.literal)}`);
  const call = (head: string, positional: readonly string[]) => `${head}(${positional.join(', ')}${kw.length > 0 ? `; ${kw.join(', ')}` : ''})`;
  const outputs = op.outputs.map((o) => o.name.julia);
  const grads = [...op.grads.map((g) => g.name.julia), ...op.paramGrads.map((g) => g.name.julia)];
  return [
    `using ${JULIA_MODULE}`,
    '',
    ...data.inputs.map((i) => `${i.input.name.julia} = ${juliaArray(i.rows)}`),
    `${tuple(outputs)} = ${call(n.fn, inputs)}`,
    ...outputs.map((o) => `println(${o})`),
    `${[...outputs, 'tape'].join(', ')} = ${call(n.forward, inputs)}`,
    `${grads.join(', ')} = ${n.pullback}(tape, ${op.cotangents.map((c) => `one.(${c.of.name.julia})`).join(', ')})`,
    ...grads.map((g) => `println(${g})`),
  ].join('\n');
}
