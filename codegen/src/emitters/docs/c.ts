// C in the reference: the kernels' signatures and argument tables (the ABI, see
// docs/architecture.md), parameter spellings, and a complete example program.
import { realLiterals } from '../../ir/names.ts';
import type { ArgIR, Dim, IR, OpIR, ParamIR, ShapeIR, VariantArgIR, VariantKernelIR } from '../../ir/types.ts';
import type { ExampleData } from '../../emit/example.ts';
import { table } from '../../emit/markdown.ts';
import { isPerRow } from '../../ir/shape.ts';
import { matchElem } from '../../ir/match.ts';
import { unsupported } from '../../emit/capabilities.ts';
import { assertNever } from '../../util/never.ts';

function declaration(a: VariantArgIR): string {
  return a.kind === 'buffer' ? `${a.mutable ? '' : 'const '}${a.type.c} *${a.name.c}` : `${a.type.c} ${a.name.c}`;
}

export function cSignature(k: VariantKernelIR): string {
  return `int32_t ${k.cSymbol}(\n${k.args.map((a) => `    ${declaration(a)}`).join(',\n')});`;
}

/** `double regularization_strength` */
export function cParam(op: OpIR, p: ParamIR): string {
  const arg = op.variants.at(-1)?.forward.args.find((a) => a.kind === 'param' && a.param.name.spec === p.name.spec);
  return arg === undefined ? p.name.c : declaration(arg);
}

export function cArgTable(args: readonly ArgIR[]): string {
  return table(
    ['argument', 'role', 'shape', 'dtype', 'access', 'doc'],
    args.flatMap((a) =>
      a.kind === 'buffer' ? [[`\`${a.name.c}\``, a.role.replace('_', ' '), `\`${a.shape.text}\``, a.elem, a.mutable ? 'written' : 'read', a.doc]] : [],
    ),
  );
}

function num(x: number): string {
  return realLiterals(x).c;
}

/** A complete C99 program: the forward of the example, then the backward with cotangents of 1. */
export function cExample(ir: IR, op: OpIR, data: ExampleData): string {
  const variant = op.variants.find((v) => v.dtype.id === 'f64') ?? op.variants[0];
  if (variant === undefined) return '';
  const real = variant.dtype.c;
  const { batch, n } = data;
  const len = (a: { shape: ShapeIR }) => (isPerRow(a.shape) ? batch : batch * n);
  const declared = new Set<string>();
  const decls: string[] = [];
  const printed: { name: string; len: number }[] = [];
  const value = (a: VariantArgIR): string => {
    if (a.kind === 'dim') return a.name.c;
    if (a.kind === 'param') {
      const set = data.params.find((p) => p.param.name.spec === a.param.name.spec);
      return (set?.literal ?? a.param.defaultLiteral).c;
    }
    if (!declared.has(a.name.c)) {
      declared.add(a.name.c);
      const type = matchElem(a.elem, { real: () => real, int32: () => 'int32_t', bool: () => unsupported('docs', 'bool buffers') });
      const input = data.inputs.find((i) => i.input.name.spec === a.name.spec);
      const filled = (values: readonly (number | string)[]) => decls.push(`const ${type} ${a.name.c}[${len(a)}] = {${values.join(', ')}};`);
      const empty = (print: boolean) => {
        decls.push(`${type} ${a.name.c}[${len(a)}];`);
        if (print) printed.push({ name: a.name.c, len: len(a) });
      };
      switch (a.role) {
        case 'input':
          if (input !== undefined) filled(input.rows.flat().map(num));
          else empty(false);
          break;
        case 'cotangent':
          filled(Array.from({ length: len(a) }, () => '1.0'));
          break;
        case 'output':
        case 'grad':
        case 'param_grad':
          empty(true);
          break;
        case 'residual':
        case 'save':
          empty(false);
          break;
        default:
          assertNever(a, 'buffer role');
      }
    }
    return a.name.c;
  };
  const call = (k: VariantKernelIR) => {
    const scalars = k.args.filter((a) => a.kind !== 'buffer').map(value);
    const buffers = k.args.filter((a) => a.kind === 'buffer').map(value);
    return `${k.cSymbol}(${scalars.join(', ')},\n            ${buffers.join(', ')})`;
  };
  const forward = call(variant.forward);
  const backward = call(variant.backward);
  const dimValue = (dim: Dim): number => {
    switch (dim) {
      case 'batch':
        return batch;
      case 'n':
        return n;
      default:
        return assertNever(dim, 'dim');
    }
  };
  const dims = variant.forward.args.flatMap((a) => (a.kind === 'dim' ? [`${a.name.c} = ${dimValue(a.dim)}`] : []));
  const ok = ir.status.find((s) => s.code === 0)?.c ?? '0';
  return [
    '#include <stdio.h>',
    '',
    `#include "${ir.native.header}"`,
    '',
    `static void print(const char *name, const ${real} *x, size_t len) {`,
    '    size_t i;',
    '    printf("%s:", name);',
    '    for (i = 0; i < len; i++) printf(" %g", x[i]);',
    '    printf("\\n");',
    '}',
    '',
    'int main(void) {',
    `    const size_t ${dims.join(', ')};`,
    ...decls.map((d) => `    ${d}`),
    `    if (${forward} != ${ok}`,
    `        || ${backward} != ${ok}) {`,
    `        fprintf(stderr, "%s\\n", ${ir.runtime.lastError.cSymbol}());`,
    '        return 1;',
    '    }',
    ...printed.map((p) => `    print("${p.name}", ${p.name}, ${p.len});`),
    '    return 0;',
    '}',
  ].join('\n');
}
