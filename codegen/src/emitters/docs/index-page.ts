import { code, file, join } from '../../emit/code.ts';
import { banner } from '../../emit/text.ts';
import type { IR } from '../../ir/types.ts';
import type { TargetDocs } from '../../emit/types.ts';
import type { Described } from './index.ts';
import { table, tick } from '../../emit/markdown.ts';

/** What a binding raises for a core error: its value error type, and its enum error type where that differs (an argument may be an enum). */
function raised(t: TargetDocs, argument: boolean): string {
  const value = t.errorTypes?.value ?? '';
  const enumType = t.errorTypes?.enum ?? value;
  return argument && enumType !== value ? `${tick(value)}; ${tick(enumType)} for an unknown enum value` : tick(value);
}

export function renderIndex(ir: IR, docs: Described): string {
  const jl = docs.julia;
  const nd = docs.node;
  const py = docs.python;
  const c = docs.c;
  const ops = ir.ops.map((op) => [
    `[${tick(op.name.spec)}](${op.name.snake}.md)`,
    op.summary,
    tick(py.ops[op.name.spec]?.fn ?? ''),
    tick(jl.ops[op.name.spec]?.fn ?? ''),
    tick(nd.ops[op.name.spec]?.fn ?? ''),
  ]);
  const enums = ir.enums.map((e) => {
    const rows = e.values.map((v) => {
      return [
        tick(v.name.spec),
        c.enumValues[e.name.spec]?.[v.name.spec] ?? '',
        py.enumValues[e.name.spec]?.[v.name.spec] ?? '',
        jl.enumValues[e.name.spec]?.[v.name.spec] ?? '',
        nd.enumValues[e.name.spec]?.[v.name.spec] ?? '',
        v.doc,
      ];
    });
    return code`
      ### \`${e.name.spec}\`

      ${e.doc}

      ${table(['value', c.language, py.language, jl.language, nd.language, 'meaning'], rows)}
    `;
  });
  const kinds = ir.status
    .filter((s) => s.coreKind !== null)
    .map((s) => [tick(s.coreKind ?? ''), tick(s.c), ...[py, jl, nd].map((t) => raised(t, s.coreKind === 'InvalidArgument'))]);
  const { lastError } = ir.runtime;
  return file(
    banner(ir, 'html'),
    code`
      # ${ir.package.name} ${ir.package.version}: API reference

      ${ir.package.description}

      Generated from \`${ir.source}\` by the docs emitter of \`codegen/\`; every example on these pages runs in
      CI (\`scripts/check-docs.sh\`). Guides: [../index.md](../index.md).

      ## Ops

      ${table(['op', 'summary', `${py.language} (${py.module})`, `${jl.language} (${jl.module})`, `${nd.language} (${nd.module})`], ops)}

      Every op takes rows of \`n\` items and has a forward and a backward (vector-Jacobian product):

      ${[c, py, jl, nd].map((t) => t.overview)}

      ## Enums

      ${join(enums, '\n\n')}

      ## Errors

      The core has three kinds of error; each binding raises its language's type with the core's message,
      which starts with the op name:

      ${table(['core kind', 'C status', py.language, jl.language, nd.language], kinds)}

      Python raises \`TypeError\` for an argument of the wrong type (an integer array, a number for an enum); Julia
      raises \`MethodError\` for an array whose elements are not \`Real\`. The C API returns one of these statuses,
      and \`${lastError.cSymbol}()\` gives the message:

      ${table(['C status', 'code', 'core kind', 'meaning'], ir.status.map((s) => [tick(s.c), String(s.code), s.coreKind === null ? '' : tick(s.coreKind), s.doc]))}

      ${[c, py, jl, nd].flatMap((t) => t.indexSections ?? []).join('\n\n')}
    `,
  );
}
