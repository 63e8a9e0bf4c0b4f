// One page per op: what it computes, its names in every language, parameters with each language's
// defaults, shapes, errors, then per language the signature and an example that
// scripts/check-docs.sh runs.
import { code, file, join } from '../../emit/code.ts';
import { banner } from '../../emit/text.ts';
import type { EnumValueIR, IntBoundIR, IR, OpIR, ParamIR, TensorIR } from '../../ir/types.ts';
import { cStatus, errorCases, type ErrorCase } from '../../emit/error-cases.ts';
import { exampleData } from '../../emit/example.ts';
import { pyLiteral } from '../../emit/python.ts';
import type { Described } from './index.ts';
import { listText, table, tick } from '../../emit/markdown.ts';
import { assertNever } from '../../util/never.ts';
import { matchParam } from '../../ir/match.ts';

function namesTable(op: OpIR, docs: Described): string {
  const rows = [docs.c, docs.python, docs.julia, docs.node].flatMap((t) => (t.ops[op.name.spec]?.names ?? []).map((r) => [r.label, r.names.map(tick).join(', ')]));
  return table(['language', 'names'], rows);
}

function paramKind(p: ParamIR): string {
  switch (p.type) {
    case 'real':
      return `real${p.constraint === 'positive' ? ', > 0' : p.constraint === 'nonnegative' ? ', ≥ 0' : ''}${p.grad ? '; differentiable' : ''}`;
    case 'enum':
      return `one of ${p.values.map((v) => tick(v.name.spec)).join(', ')}`;
    case 'bool':
      return 'boolean';
    case 'int': {
      const bound = (b: IntBoundIR) => (b.kind === 'value' ? String(b.value) : b.dim);
      const range = [p.min === null ? null : `${bound(p.min)} ≤`, tick(p.name.spec), p.max === null ? null : `≤ ${bound(p.max)}`];
      return `integer${p.min === null && p.max === null ? '' : `, ${range.filter((x) => x !== null).join(' ')}`}`;
    }
    case 'list':
      return `list of reals${p.min !== null && p.max !== null ? `, each in [${p.min}, ${p.max}]` : ''}, at least ${p.minLength}`;
    default:
      return assertNever(p, 'param type');
  }
}

function paramsSection(op: OpIR, described: Described): string {
  if (op.params.length === 0) return 'None.';
  const c = described.c.ops[op.name.spec]?.params ?? [];
  const python = described.python.ops[op.name.spec]?.params ?? [];
  const julia = described.julia.ops[op.name.spec]?.params ?? [];
  const node = described.node.ops[op.name.spec]?.params ?? [];
  const rows = op.params.map((p, i) => [
    tick(p.name.spec),
    c[i] ?? '',
    python[i] ?? '',
    julia[i] ?? '',
    node[i] ?? '',
  ]);
  const docs = op.params.map((p) => {
    const head = `- ${tick(p.name.spec)} (${paramKind(p)}): ${p.doc}`;
    return matchParam(p, {
      real: () => head,
      bool: () => head,
      int: () => head,
      list: () => head,
      enum: (e) => {
        const notes = (v: EnumValueIR) => [described.c, described.python, described.julia, described.node].flatMap((t) => t.enumNotes?.[e.enum.name.spec]?.[v.name.spec] ?? []);
        return [head, ...e.values.map((v) => `  - ${tick(v.name.spec)}${notes(v).length > 0 ? ` (${notes(v).join('; ')})` : ''}: ${v.doc}`)].join('\n');
      },
    });
  });
  return code`
    Every binding spells them after the spec, with the same defaults; C takes every argument.

    ${table(['param', described.c.column, described.python.column, `${described.julia.column} (keyword)`, `${described.node.column} (option)`], rows)}

    ${docs}
  `;
}

function shapeRow(op: OpIR, t: TensorIR, role: string, docs: Described): string[] {
  const cells = [docs.c, docs.python, docs.julia, docs.node].map((d) => d.ops[op.name.spec]?.shapes[t.name.spec] ?? '');
  return [tick(t.name.spec), role, tick(t.shape.text), ...cells];
}

function shapesSection(op: OpIR, docs: Described): string {
  const rows = [
    ...op.inputs.map((i) => shapeRow(op, i, i.differentiable ? 'input' : 'input (no gradient)', docs)),
    ...op.outputs.map((o) => shapeRow(op, o, 'output', docs)),
    ...op.residuals.map((r) => shapeRow(op, r, 'residual', docs)),
  ];
  const dtypes = op.variants.map((v) => v.dtype);
  return code`
    ${table(['tensor', 'role', 'core', ...[docs.c, docs.python, docs.julia, docs.node].map((d) => d.shapesColumn)], rows)}

    Rows are independent. Element types: ${listText(dtypes.map((t) => `${docs.python.dtypes[t.id] ?? ''} (${[docs.c, docs.julia, docs.node].map((d) => d.dtypes[t.id] ?? '').join('; ')})`))}; outputs and gradients have the input's type and shape${op.paramGrads.length > 0 ? `, and the gradient of ${listText(op.paramGrads.map((g) => tick(g.of.name.spec)))} is per row in C and summed over the rows elsewhere` : ''}.
  `;
}

function errorsSection(ir: IR, op: OpIR, cases: readonly ErrorCase[], docs: Described): string {
  const errorChecks = [docs.python, docs.julia, docs.node].flatMap((t) => {
    const check = t.ops[op.name.spec]?.errorCheck;
    return check === undefined ? [] : [`<details><summary>Every message above, checked (${check.label})</summary>\n\n${check.markdown}\n\n</details>`];
  });
  const rows = cases.map((c) => {
    const status = cStatus(ir, c.kind);
    return [c.condition, c.message === null ? '' : tick(c.message), status === null ? '— (typed pointers)' : tick(status.c), ...[docs.python, docs.julia, docs.node].map((t) => tick(t.errorTypes?.[c.raises] ?? ''))];
  });
  return code`
    The message is the same in every language; it names the op, the argument and, for a value, its
    (row, column) in the core's row-major order.

    ${table(['condition', 'message', 'C status', docs.python.column, docs.julia.column, docs.node.column], rows)}

    ${[docs.c, docs.python, docs.julia, docs.node].flatMap((t) => t.errorNotes ?? [])}

    ${errorChecks}
  `;
}

function languagesSection(op: OpIR, docs: Described): string {
  return join(
    [
      docs.c.ops[op.name.spec]?.section ?? '',
      docs.python.ops[op.name.spec]?.section ?? '',
      docs.julia.ops[op.name.spec]?.section ?? '',
      docs.node.ops[op.name.spec]?.section ?? '',
    ],
    '\n\n',
  );
}

export function renderOpPage(ir: IR, op: OpIR, docs: Described): string {
  const data = exampleData(op);
  const cases = errorCases(op, data);
  return file(
    banner(ir, 'html'),
    code`
      # \`${op.name.spec}\`

      ${op.summary}

      ${op.doc}

      ${namesTable(op, docs)}

      ## Parameters

      ${paramsSection(op, docs)}

      ## Shapes

      ${shapesSection(op, docs)}

      ## Errors

      ${errorsSection(ir, op, cases, docs)}

      ## Signatures and examples

      ${op.example === null ? 'The spec has no example for this op; these use a small row per input.' : `Each example runs the spec's example (${listText(data.inputs.map((i) => `${tick(i.input.name.spec)} = ${tick(JSON.stringify(i.rows).replace(/,/g, ', '))}`))}${data.params.length > 0 ? `, ${listText(data.params.map((p) => tick(`${p.param.name.spec} = ${pyLiteral(p.param, p.value)}`)))}` : ''}) forward and backward; \`scripts/check-docs.sh\` runs every one.`}

      ${languagesSection(op, docs)}
    `,
  );
}
