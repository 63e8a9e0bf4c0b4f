import { code, file, join } from '../../emit/code.ts';
import { banner } from '../../emit/text.ts';
import type { IR } from '../../ir/types.ts';
import { table } from './markdown.ts';

export function renderIndex(ir: IR): string {
  return file(
    banner(ir, 'html'),
    code`
      # ${ir.package.name} ${ir.package.version}: API reference

      ${ir.package.description}

      Generated from \`${ir.source}\`. Every op takes a batch of rows of \`n\` items (\`[batch, n]\`,
      row-major), in float32 or float64, and has a forward and a backward (vector-Jacobian product).

      C library \`lib${ir.native.libName}\`, header \`${ir.native.header}\`; ABI version ${ir.package.abiVersion}, ABI hash
      \`${ir.package.abiHash}\`.

      ## Ops

      ${table(['op', 'summary'], ir.ops.map((op) => [`[\`${op.name.spec}\`](${op.name.snake}.md)`, op.summary]))}

      ## Enums

      ${join(ir.enums.map((e) => code`
        ### \`${e.name.spec}\`

        ${e.doc}

        ${table(['value', 'code', 'C constant', 'meaning'], e.values.map((v) => [`\`${v.name.spec}\``, String(v.code), `\`${v.literal.c}\``, v.doc]))}
      `), '\n\n')}

      ## Errors

      Every binding reports the same message, which starts with the op name. The C API returns
      these status codes; \`${ir.runtime.lastError.cSymbol}()\` returns the message.

      ${table(['C status', 'code', 'core kind', 'meaning'], ir.status.map((s) => [`\`${s.c}\``, String(s.code), s.coreKind === null ? '' : `\`${s.coreKind}\``, s.doc]))}
    `,
  );
}
