// packages/python/tests/_spec.py: the ops of the spec as plain data, for the test suite, which is
// parametrised over it (every op, every enum value, every differentiable input), so an op added to
// the spec is tested without editing the tests.
import { banner } from '../../emit/text.ts';
import type { IR, OpIR } from '../../ir/types.ts';
import { pyDisplay, pyDocstring, pyFile, pyFloat, pyStr } from '../../emit/python.ts';
import { isPerRow } from '../../ir/shape.ts';
import { matchParam } from '../../ir/match.ts';
import { unsupported } from '../../emit/capabilities.ts';

function list(items: readonly string[]): string {
  return `[${items.map(pyStr).join(', ')}]`;
}

function renderOp(op: OpIR): string {
  // Every param lands in the table of its type, so the tests cannot miss one.
  const enums: string[] = [];
  const reals: string[] = [];
  const bools: string[] = [];
  for (const param of op.params) {
    matchParam(param, {
      enum: (p) => enums.push(`${pyStr(p.name.spec)}: ${list(p.enum.values.map((v) => v.name.spec))}`),
      real: (p) => reals.push(`${pyStr(p.name.spec)}: ${pyFloat(p.default)}`),
      bool: (p) => bools.push(`${pyStr(p.name.spec)}: ${p.default ? 'True' : 'False'}`),
      int: () => unsupported('python', 'int params'),
      list: () => unsupported('python', 'list params'),
    });
  }
  const outputs = op.outputs.map((o) => `${pyStr(o.name.spec)}: ${pyStr(isPerRow(o.shape) ? 'rows' : 'matrix')}`);
  // A field at column 8 of the file: exploded, as ruff format would, when it is too long.
  const field = (key: string, items: readonly string[]) =>
    pyDisplay(8, `${pyStr(key)}: `, '[', items.map(pyStr), ']')
      .map((l) => l.slice(8))
      .join('\n');
  const fields = [
    field('inputs', op.inputs.map((i) => i.name.spec)),
    field('differentiable', op.inputs.filter((i) => i.differentiable).map((i) => i.name.spec)),
    field('nonnegative', op.inputs.filter((i) => i.constraint === 'nonnegative').map((i) => i.name.spec)),
    field('params', op.params.map((p) => p.name.spec)),
    `"enums": {${enums.join(', ')}}`,
    `"reals": {${reals.join(', ')}}`,
    `"bools": {${bools.join(', ')}}`,
    field('grad_params', op.paramGrads.map((g) => g.of.name.spec)),
    `"outputs": {${outputs.join(', ')}}`,
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
      'inputs: argument order; differentiable/nonnegative: inputs with that property; params: argument ' +
        'order after the inputs; enums: values of each enum param; reals/bools: defaults; grad_params: ' +
        'real params with a gradient; outputs: "matrix" ([..., n]) or "rows" (one value per row); ' +
        'residuals: what the forward kernel returns after the outputs.',
    ], []),
    '',
    'from typing import Any',
    '',
    ...pyDisplay(0, 'OPS: dict[str, dict[str, Any]] = ', '{', ir.ops.map(renderOp), '}'),
  );
}
