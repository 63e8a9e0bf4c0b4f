// What the API reference says of the C API (the `describe` hook): the kernels' signatures and
// argument tables (the ABI, see docs/architecture.md), parameter spellings, enum constants, and a
// complete example program.
import { code } from '../../emit/code.ts';
import { exampleData } from '../../emit/example.ts';
import { fence, listText, tick } from '../../emit/markdown.ts';
import type { OpDocs, TargetDocs } from '../../emit/types.ts';
import type { ArgIR, Dim, DimIR, IR, OpIR, ParamIR, ParamValue, RuntimeFnIR, ShapeIR, TensorIR, VariantArgIR, VariantKernelIR } from '../../ir/types.ts';
import type { ExampleData } from '../../emit/example.ts';
import { table } from '../../emit/markdown.ts';
import { extent } from '../../ir/shape.ts';
import { kernelsOf } from '../../ir/kernels.ts';
import { defaultValue, matchElem } from '../../ir/match.ts';
import { assertNever } from '../../util/never.ts';
import { cArgs } from './decl.ts';
import { cDefault, cDim, cEnumConstant, cLiteral, cName, cReal, cType } from './names.ts';

export function cSignature(k: VariantKernelIR): string {
  return `int32_t ${k.cSymbol}(\n${k.args.flatMap(cArgs).map((a) => `    ${a}`).join(',\n')});`;
}

/** `double regularization_strength`; a list param: `const double *quantiles, size_t quantiles_len` */
export function cParam(op: OpIR, p: ParamIR): string {
  const arg = op.variants.at(-1)?.forward.args.find((a) => a.kind === 'param' && a.param.name.spec === p.name.spec);
  return arg === undefined ? cName(p.name) : cArgs(arg).join(', ');
}

export function cArgTable(args: readonly ArgIR[]): string {
  return table(
    ['argument', 'role', 'shape', 'dtype', 'access', 'doc'],
    args.flatMap((a) => {
      if (a.kind === 'scalar') return [[`\`${cName(a.name)}\``, a.role.replace('_', ' '), 'scalar', 'real', 'read', a.doc]];
      if (a.kind !== 'buffer') return [];
      const doc = a.optional ? `${a.doc} Optional: may be NULL.` : a.doc;
      return [[`\`${cName(a.name)}\``, a.role.replace('_', ' '), `\`${a.shape.text}\``, a.elem, a.mutable ? 'written' : 'read', doc]];
    }),
  );
}

function num(x: number): string {
  return cReal(x);
}

/** A complete C99 program: the forward of the example, then the backward with cotangents of 1. */
export function cExample(ir: IR, op: OpIR, data: ExampleData): string {
  const variant = op.variants.find((v) => v.dtype.id === 'f64') ?? op.variants[0];
  if (variant === undefined) return '';
  const real = cType(variant.dtype);
  const { batch, n } = data;
  const paramValue = (p: ParamIR): ParamValue => data.params.find((x) => x.param.name.spec === p.name.spec)?.value ?? defaultValue(p);
  const dimSize = (d: DimIR): number => {
    switch (d.kind) {
      case 'batch':
        return batch;
      case 'n':
        return n;
      case 'length': {
        const list = op.params.find((p) => p.name.spec === d.param);
        const value = list === undefined ? [] : paramValue(list);
        return Array.isArray(value) ? value.length : 0;
      }
      case 'param': {
        const int = op.params.find((p) => p.name.spec === d.param);
        const value = int === undefined ? 0 : paramValue(int);
        return typeof value === 'number' ? value : 0;
      }
      default:
        return assertNever(d, 'dim kind');
    }
  };
  const len = (a: { shape: ShapeIR }) => a.shape.dims.reduce((size, d) => size * dimSize(d), 1);
  const declared = new Set<string>();
  const decls: string[] = [];
  const printed: { name: string; len: number; int: boolean }[] = [];
  const value = (a: VariantArgIR): string => {
    if (a.kind === 'dim') return cName(a.name);
    if (a.kind === 'param') {
      const v = paramValue(a.param);
      if (a.param.type !== 'list' || !Array.isArray(v)) return cLiteral(a.param, v);
      // A list is an array and its length.
      if (!declared.has(cName(a.name))) {
        declared.add(cName(a.name));
        decls.push(`const ${real} ${cName(a.name)}[${v.length}] = ${cLiteral(a.param, v)};`);
      }
      return `${cName(a.name)}, ${v.length}`;
    }
    // The example's JVP moves the inputs only.
    if (a.kind === 'scalar') return real === 'float' ? '0.0f' : '0.0';
    // The example is the call without its optional inputs (a mask): NULL in every kernel.
    if (a.optional && !a.mutable) return 'NULL';
    if (!declared.has(cName(a.name))) {
      declared.add(cName(a.name));
      const type = matchElem(a.elem, { real: () => real, int32: () => 'int32_t', bool: () => 'bool' });
      const input = data.inputs.find((i) => i.input.name.spec === a.name.spec);
      const filled = (values: readonly (number | string)[]) => decls.push(`const ${type} ${cName(a.name)}[${len(a)}] = {${values.join(', ')}};`);
      const empty = (print: boolean) => {
        decls.push(`${type} ${cName(a.name)}[${len(a)}];`);
        if (print) printed.push({ name: cName(a.name), len: len(a), int: a.elem === 'int32' });
      };
      switch (a.role) {
        case 'input':
          if (input !== undefined) filled(input.rows.flat().map(num));
          else empty(false);
          break;
        case 'cotangent':
        case 'tangent':
          filled(Array.from({ length: len(a) }, () => '1.0'));
          break;
        case 'output':
        case 'grad':
        case 'param_grad':
        case 'output_tangent':
        case 'hvp':
        case 'param_hvp':
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
    return cName(a.name);
  };
  const call = (k: VariantKernelIR) => {
    // The dims and params on the first line; the rest (buffers, a JVP's scalar tangents) in ABI order on the next.
    const first = k.args.findIndex((a) => a.kind === 'buffer');
    const scalars = k.args.slice(0, first).map(value);
    const buffers = k.args.slice(first).map(value);
    return `${k.cSymbol}(${scalars.join(', ')},\n            ${buffers.join(', ')})`;
  };
  const forward = call(variant.forward);
  const backward = call(variant.backward);
  const jvp = variant.jvp === null ? null : call(variant.jvp);
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
  const dims = variant.forward.args.flatMap((a) => (a.kind === 'dim' ? [`${cName(a.name)} = ${dimValue(a.dim)}`] : []));
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
    ...(printed.some((p) => p.int)
      ? [
          'static void print_int(const char *name, const int32_t *x, size_t len) {',
          '    size_t i;',
          '    printf("%s:", name);',
          '    for (i = 0; i < len; i++) printf(" %ld", (long)x[i]);',
          '    printf("\\n");',
          '}',
          '',
        ]
      : []),
    'int main(void) {',
    `    const size_t ${dims.join(', ')};`,
    ...decls.map((d) => `    ${d}`),
    `    if (${forward} != ${ok}`,
    ...(jvp === null ? [`        || ${backward} != ${ok}) {`] : [`        || ${backward} != ${ok}`, `        || ${jvp} != ${ok}) {`]),
    `        fprintf(stderr, "%s\\n", ${ir.runtime.lastError.cSymbol}());`,
    '        return 1;',
    '    }',
    ...printed.map((p) => `    ${p.int ? 'print_int' : 'print'}("${p.name}", ${p.name}, ${p.len});`),
    '    return 0;',
    '}',
  ].join('\n');
}

function section(ir: IR, op: OpIR, data: ExampleData): string {
  const f64 = op.variants.find((v) => v.dtype.id === 'f64') ?? op.variants[0];
  if (f64 === undefined) return '';
  return code`
    ### C

    ${fence('c', kernelsOf(f64).map(cSignature).join('\n\n'), false)}

    The ${tick(`_f32`)} variants take ${tick('float')} for every real buffer and param. The forward writes the
    outputs and the residuals; the backward reads the saves, the residuals and one cotangent per
    ${op.outputs.every((x) => x.differentiable) ? 'output' : `differentiable output (${listText(op.cotangents.map((c) => tick(cName(c.name))))})`}, and writes ${listText([...op.grads.map((g) => `the gradient of ${tick(cName(g.of.name))}`), ...op.paramGrads.map((g) => `the per-row gradient of ${tick(cName(g.of.name))}`)])}.

    Forward:

    ${cArgTable(op.forward.args)}

    Backward:

    ${cArgTable(op.backward.args)}
    ${jvpSection(op)}
    ${hvpSection(op)}

    ${fence('c', cExample(ir, op, data), true)}
  `;
}

/** The JVP's paragraph and argument table, or nothing for an op without one. */
function jvpSection(op: OpIR): string {
  if (op.jvp === null) return '';
  const tangents = [...op.tangents.map((t) => `a tangent of ${tick(cName(t.of.name))}`), ...op.paramTangents.map((t) => `one scalar tangent of ${tick(cName(t.of.name))}`)];
  return code`

    JVP (forward mode): reads the saves and residuals, ${listText(tangents)}, and writes
    ${listText(op.outputTangents.map((t) => `the tangent of ${tick(cName(t.of.name))}`))}:

    ${cArgTable(op.jvp.args)}
  `;
}

/** The HVP's paragraph and argument table, or nothing for an op without one. */
function hvpSection(op: OpIR): string {
  if (op.hvp === null) return '';
  return code`

    HVP (second order): reads what the backward reads and the JVP's tangents, and writes the derivative
    of each gradient the backward writes along the tangents, at the same cotangents (the Hessian of
    ${tick('<cotangent, output>')} applied to the tangents):

    ${cArgTable(op.hvp.args)}
  `;
}

/** `` `const double *values`: `batch * n` values `` */
function shapeCell(op: OpIR, t: TensorIR): string {
  const arg = op.variants.at(-1)?.forward.args.find((a) => a.kind === 'buffer' && a.name.spec === t.name.spec);
  return arg === undefined || arg.kind !== 'buffer' ? '' : `${tick(cArgs(arg).join(', '))}: ${tick(extent(t.shape, cDim))} values`;
}

function opDocs(ir: IR, op: OpIR): OpDocs {
  return {
    fn: op.variants.at(-1)?.forward.cSymbol ?? '',
    names: [{ label: 'C', names: op.variants.flatMap((v) => kernelsOf(v).map((k) => k.cSymbol)) }],
    params: op.params.map((p) => `${tick(cParam(op, p))}, default ${tick(cDefault(p))}`),
    section: section(ir, op, exampleData(op)),
    shapes: Object.fromEntries([...op.inputs, ...op.outputs, ...op.residuals].map((t) => [t.name.spec, shapeCell(op, t)])),
  };
}

function runtimeRow(f: RuntimeFnIR): string[] {
  const args = f.args.map((a) => `${cType(a.type)} ${cName(a.name)}`).join(', ');
  return [tick(`${cType(f.returns)} ${f.cSymbol}(${args === '' ? 'void' : args})`), f.doc];
}

/** The index's section on the library itself: its name, header, ABI, and the functions besides the kernels. */
function librarySection(ir: IR): string {
  const { lastError, version, abiVersion, abiHash, setNumThreads } = ir.runtime;
  return code`
    ## The C library

    \`lib${ir.native.libName}\` (the \`${ir.native.crate}\` crate), header \`${ir.native.header}\`; ABI version ${ir.package.abiVersion},
    ABI hash \`${ir.package.abiHash}\`. Besides the kernels:

    ${table(['function', 'what'], [lastError, version, abiVersion, abiHash, setNumThreads].map(runtimeRow))}
  `;
}

export function describeC(ir: IR): TargetDocs {
  return {
    language: 'C',
    column: 'C',
    indexSections: [librarySection(ir)],
    errorNotes: [
      code`
        - C returns the status and ${tick(`${ir.runtime.lastError.cSymbol}()`)} gives the message; an unknown enum code
          is reported with the codes (${tick('… must be one of 0 (…), 1 (…), got 7')}).
      `,
    ],
    enumNotes: Object.fromEntries(ir.enums.map((e) => [e.name.spec, Object.fromEntries(e.values.map((v) => [v.name.spec, `C ${tick(cEnumConstant(e, v))}`]))])),
    shapesColumn: 'C (row-major)',
    dtypes: Object.fromEntries(ir.dtypes.map((t) => [t.id, `C ${tick(cType(t))}, suffix ${tick(`_${t.id}`)}`])),
    overview: '- **C**: flat row-major buffers, `[batch, n]` holds `batch * n` values; `_f32` and `_f64` entry points.',
    module: ir.native.header,
    ops: Object.fromEntries(ir.ops.map((op) => [op.name.spec, opDocs(ir, op)])),
    enumValues: Object.fromEntries(ir.enums.map((e) => [e.name.spec, Object.fromEntries(e.values.map((v) => [v.name.spec, `${tick(cEnumConstant(e, v))} = ${v.code}`]))])),
  };
}
