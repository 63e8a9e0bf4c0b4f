// `rank_relax/_messages.py`: the spec's message table as one function per check and value word,
// which the hand-written plumbing of NumPy, PyTorch and JAX calls (so the three say the same).
import type { IR } from '../../ir/types.ts';
import type { MessageIR } from '../../ir/messages.ts';
import { banner } from '../../emit/text.ts';
import { pyDef, pyDocstring, pyFile } from '../../emit/python.ts';

/** The body of an f-string: literal text escaped, placeholders as `{name}`. */
function fString(m: MessageIR): string {
  const body = m.parts
    .map((p) => ('field' in p ? `{${p.field}}` : p.text.replace(/\\/g, '\\\\').replace(/"/g, '\\"')))
    .join('');
  return m.fields.length === 0 ? JSON.stringify(m.text) : `f"${body}"`;
}

function renderFunction(name: string, m: MessageIR, summary: string): string[] {
  return [
    '',
    '',
    ...pyDef(0, `def ${name}`, m.fields.map((f) => `${f}: str`), 'str'),
    ...pyDocstring(4, summary, [m.doc, `\`\`${m.text}\`\``], []),
    `    return ${fString(m)}`,
  ];
}

export function renderMessages(ir: IR): string {
  return pyFile(
    banner(ir, 'hash'),
    '"""What the bindings say when they refuse a call before the core: the spec\'s message table.',
    '',
    'One function per check (its text) and per value word (``got_*``: what ``got`` may say), so',
    'NumPy, PyTorch and JAX, like every other binding, word a bad call the same way.',
    '"""',
    ...ir.messages.checks.flatMap((m) => renderFunction(m.name, m, `The ${m.name} check (${m.kind}).`)),
    ...ir.messages.values.flatMap((m) => renderFunction(`got_${m.name}`, m, `What \`\`got\`\` says of ${m.name === 'other' ? 'any other value' : `a value: ${m.name}`}.`)),
  );
}
