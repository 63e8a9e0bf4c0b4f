// packages/python/tests/_spec.py: the ops of the spec as plain data, for the test suite, which is
// parametrised over it (every op, every enum value, every differentiable input), so an op added to
// the spec is tested without editing the tests.
import { banner } from '../../emit/text.ts';
import type { IR, OpIR } from '../../ir/types.ts';
import { pyDisplay, pyDocstring, pyFile, pyFloat, pyStr } from '../../emit/python.ts';
import { matchParam } from '../../ir/match.ts';
import { pythonDim } from './names.ts';

function list(items: readonly string[]): string {
  return `[${items.map(pyStr).join(', ')}]`;
}

function renderOp(op: OpIR): string {
  // Every param lands in the table of its type, so the tests cannot miss one.
  const enums: string[] = [];
  const reals: string[] = [];
  const bools: string[] = [];
  const ints: string[] = [];
  const lists: string[] = [];
  for (const param of op.params) {
    matchParam(param, {
      enum: (p) => enums.push(`${pyStr(p.name.spec)}: ${list(p.values.map((v) => v.name.spec))}`),
      real: (p) => reals.push(`${pyStr(p.name.spec)}: ${pyFloat(p.default)}`),
      bool: (p) => bools.push(`${pyStr(p.name.spec)}: ${p.default ? 'True' : 'False'}`),
      int: (p) => ints.push(`${pyStr(p.name.spec)}: ${p.default}`),
      list: (p) => lists.push(`${pyStr(p.name.spec)}: [${p.default.map(pyFloat).join(', ')}]`),
    });
  }
  // An output's dims after batch, each as an expression of `n` and the params (`len(quantiles)`).
  const outputs = op.outputs.map((o) => `${pyStr(o.name.spec)}: [${o.shape.row.map((d) => pyStr(pythonDim(d))).join(', ')}]`);
  // A field at column 8 of the file: exploded, as ruff format would, when it is too long.
  const field = (key: string, items: readonly string[]) =>
    pyDisplay(8, `${pyStr(key)}: `, '[', items.map(pyStr), ']')
      .map((l) => l.slice(8))
      .join('\n');
  const fields = [
    field('inputs', op.inputs.filter((i) => !i.optional).map((i) => i.name.spec)),
    field('optional', op.inputs.filter((i) => i.optional).map((i) => i.name.spec)),
    field('bool_inputs', op.inputs.filter((i) => i.elem === 'bool').map((i) => i.name.spec)),
    field('int_inputs', op.inputs.filter((i) => i.elem === 'int32').map((i) => i.name.spec)),
    field('differentiable', op.inputs.filter((i) => i.differentiable).map((i) => i.name.spec)),
    field('nonnegative', op.inputs.filter((i) => i.constraint === 'nonnegative').map((i) => i.name.spec)),
    field('params', op.params.map((p) => p.name.spec)),
    `"enums": {${enums.join(', ')}}`,
    `"reals": {${reals.join(', ')}}`,
    `"bools": {${bools.join(', ')}}`,
    `"ints": {${ints.join(', ')}}`,
    `"lists": {${lists.join(', ')}}`,
    field('grad_params', op.paramGrads.map((g) => g.of.name.spec)),
    `"outputs": {${outputs.join(', ')}}`,
    field('int_outputs', op.outputs.filter((o) => o.elem === 'int32').map((o) => o.name.spec)),
    field('diff_outputs', op.outputs.filter((o) => o.differentiable).map((o) => o.name.spec)),
    field('index_outputs', op.outputs.filter((o) => o.indexes).map((o) => o.name.spec)),
    field('residuals', op.residuals.map((r) => r.name.spec)),
    `"min_n": ${op.minN}`,
  ];
  return pyDisplay(4, `${pyStr(op.name.spec)}: `, '{', fields, '}')
    .map((l) => l.slice(4))
    .join('\n');
}

export function renderTestTable(ir: IR): string {
  return pyFile(
    banner(ir, 'hash'),
    ...pyDocstring(0, 'The ops of the spec as data: what the test suite is parametrised over.', [
      'inputs: the required inputs, in argument order; optional: inputs that are keyword arguments after the ' +
        'axis (None: absent); bool_inputs: inputs of dtype bool; int_inputs: inputs of dtype int32; differentiable/nonnegative: inputs with that ' +
        'property; params: argument order after the inputs; enums: values of each enum param; reals/bools: defaults; grad_params: ' +
        'real params with a gradient; ints/lists: defaults of int and list params; outputs: the dims of ' +
        'each output after the leading ones, as Python expressions of n and the params ([] for one value per ' +
        'row, ["n"], ["len(quantiles)"], ["n", "n"], ["k"]); int_outputs: outputs of dtype int32; diff_outputs: ' +
        'outputs with a derivative (a cotangent in the VJP, a tangent from the JVP), in order; index_outputs: ' +
        'int32 outputs of 0-based item positions (-1: none); ' +
        'residuals: what the forward kernel returns after the outputs.',
    ], []),
    '',
    'from typing import Any',
    '',
    ...pyDisplay(0, 'OPS: dict[str, dict[str, Any]] = ', '{', ir.ops.map(renderOp), '}'),
  );
}
