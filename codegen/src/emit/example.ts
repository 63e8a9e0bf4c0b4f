// Shared by the docs emitter and every target that describes itself to it (`Emitter.describe`).
// The data every language's example of an op is built from: the spec's `example` (inputs as rows,
// the params it sets), or, for an op without one, a small row per input that satisfies every
// constraint of the spec (n ≥ min_n, values ≥ 0).
import { defaultValue } from '../ir/match.ts';
import type { InputIR, OpIR, ParamIR, ParamValue } from '../ir/types.ts';
import { pyLiteral } from './python.ts';

export interface ExampleInput {
  readonly input: InputIR;
  /** Row-major rows, `[batch][n]`. */
  readonly rows: readonly (readonly number[])[];
}

export interface ExampleData {
  readonly inputs: readonly ExampleInput[];
  /** The params the example sets to something other than their default. */
  readonly params: readonly { readonly param: ParamIR; readonly value: ParamValue }[];
  readonly batch: number;
  readonly n: number;
}

/** n, 1, 2, …, n − 1: distinct positive values, not sorted. */
function syntheticRow(n: number): number[] {
  return Array.from({ length: n }, (_, i) => ((i + n - 1) % n) + 1);
}

export function exampleData(op: OpIR): ExampleData {
  if (op.example !== null) {
    const example = op.example;
    const inputs = required(op).map((input) => ({
      input,
      rows: example.inputs.find((e) => e.name.spec === input.name.spec)?.rows ?? [],
    }));
    const first = inputs[0]?.rows ?? [];
    return {
      inputs,
      params: example.params.filter((p) => pyLiteral(p.param, p.value) !== pyLiteral(p.param, defaultValue(p.param))).map((p) => ({ param: p.param, value: p.value })),
      batch: first.length,
      n: first[0]?.length ?? 0,
    };
  }
  const n = Math.max(3, op.minN);
  return { inputs: required(op).map((input) => ({ input, rows: [syntheticRow(n)] })), params: [], batch: 1, n };
}

/** The inputs an example passes: the optional ones (a mask) are left at their default. */
function required(op: OpIR): readonly InputIR[] {
  return op.inputs.filter((x) => !x.optional);
}

/** The same inputs with one changed (by spec name). */
export function withInput(data: ExampleData, name: string, rows: readonly (readonly number[])[]): ExampleInput[] {
  return data.inputs.map((i) => (i.input.name.spec === name ? { input: i.input, rows } : i));
}

/** Rows with element [row, col] replaced. */
export function setElement(rows: readonly (readonly number[])[], row: number, col: number, value: number): number[][] {
  return rows.map((r, i) => r.map((v, j) => (i === row && j === col ? value : v)));
}

/** Rows cut to their first `n` items. */
export function truncate(rows: readonly (readonly number[])[], n: number): number[][] {
  return rows.map((r) => r.slice(0, n));
}
