import { code, file, join } from '../../emit/code.ts';
import { banner } from '../../emit/text.ts';
import type { ArgIR, IR, OpIR, ParamIR, VariantKernelIR } from '../../ir/types.ts';
import { table } from './markdown.ts';

function paramType(p: ParamIR): string {
  if (p.type === 'enum') return `enum \`${p.enum.name.spec}\`: ${p.enum.values.map((v) => `\`${v.name.spec}\``).join(', ')}`;
  if (p.type === 'real') return p.constraint === 'finite' ? 'real' : `real, ${p.constraint}`;
  return 'bool';
}

function paramDefault(p: ParamIR): string {
  if (p.type === 'enum') return `\`${p.default.name.spec}\``;
  return `\`${p.defaultLiteral.python}\``;
}

function bufferRows(args: readonly ArgIR[]): string[][] {
  return args.flatMap((a) =>
    a.kind === 'buffer' ? [[`\`${a.name.spec}\``, a.role.replace('_', ' '), `\`${a.shape.text}\``, a.elem, a.mutable ? 'written' : 'read', a.doc]] : [],
  );
}

function cSignature(k: VariantKernelIR): string {
  const args = k.args.map((a) => {
    const t = a.kind === 'buffer' ? `${a.mutable ? '' : 'const '}${a.type.c} *` : `${a.type.c} `;
    return `    ${t}${a.name.c}`;
  });
  return `int32_t ${k.cSymbol}(\n${args.join(',\n')});`;
}

function example(op: OpIR): string | null {
  if (op.example === null) return null;
  const inputs = op.example.inputs.map((x) => `${x.name.spec} = ${JSON.stringify(x.rows).replace(/,/g, ', ')}`);
  const params = op.example.params.map((p) => `${p.param.name.spec} = ${p.literal.python}`);
  return code`
    ## Example

    \`\`\`text
    ${inputs}
    ${params}
    \`\`\`
  `;
}

export function renderOpPage(ir: IR, op: OpIR): string {
  const f64 = op.variants.find((v) => v.dtype.id === 'f64') ?? op.variants[0];
  return file(
    banner(ir, 'html'),
    code`
      # \`${op.name.spec}\`

      ${op.summary}

      ${op.doc}

      ${op.minN > 1 ? `Rows need at least ${op.minN} items.` : null}

      ## Params

      ${op.params.length === 0 ? 'None.' : table(['param', 'type', 'default', 'gradient', 'doc'], op.params.map((p) => [`\`${p.name.spec}\``, paramType(p), paramDefault(p), p.grad ? 'yes, per row' : 'no', p.doc]))}

      ## Forward

      ${table(['argument', 'role', 'shape', 'dtype', 'access', 'doc'], bufferRows(op.forward.args))}

      ## Backward

      The backward takes the saves, the residuals and one cotangent per output, and returns
      ${join([op.grads.length > 0 ? `the gradient of ${op.grads.map((g) => `\`${g.of.name.spec}\``).join(', ')}` : 'no input gradient', op.paramGrads.length > 0 ? `the per-row gradient of ${op.paramGrads.map((g) => `\`${g.of.name.spec}\``).join(', ')}` : null], ' and ')}.

      ${table(['argument', 'role', 'shape', 'dtype', 'access', 'doc'], bufferRows(op.backward.args))}

      ## C

      \`\`\`c
      ${f64 ? join([cSignature(f64.forward), cSignature(f64.backward)], '\n\n') : null}
      \`\`\`

      \`_f32\` variants take \`float\` for every real buffer and param.

      ${example(op)}
    `,
  );
}
