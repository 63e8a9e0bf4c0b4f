// `src/generated/messages.ts`: the spec's message table, one function per check and value word,
// which the hand-written runtime calls (so Node words a bad call as every other binding does).
import type { IR } from '../../ir/types.ts';
import type { MessageIR } from '../../ir/messages.ts';
import { code, file, join } from '../../emit/code.ts';
import { banner } from '../../emit/text.ts';
import { tsDoc } from './docs.ts';

function camel(snake: string): string {
  return snake.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

function template(m: MessageIR): string {
  const body = m.parts
    .map((p) => ('field' in p ? `\${${camel(p.field)}}` : p.text.replace(/[\\`]/g, (c) => `\\${c}`).replace(/\$\{/g, '\\${')))
    .join('');
  return `\`${body}\``;
}

function renderFunction(name: string, m: MessageIR, doc: string): string {
  const args = m.fields.map((f) => `${camel(f)}: string`).join(', ');
  return code`
    ${tsDoc([doc, `\`${m.text}\``])}
    export function ${camel(name)}(${args}): string {
      return ${template(m)};
    }
  `;
}

export function renderMessages(ir: IR): string {
  return file(
    banner(ir, 'slash'),
    "// What the package says when it refuses a call before the native code: the spec's message table,",
    '// one function per check and per value word (`got*`: what `got` may say).',
    '',
    join(
      [
        ...ir.messages.checks.map((m) => renderFunction(m.name, m, `${m.doc} (${m.kind})`)),
        ...ir.messages.values.map((m) => renderFunction(`got_${m.name}`, m, `\`got\`: ${m.doc}`)),
      ],
      '\n\n',
    ),
  );
}
