// Markdown helpers for the reference: the docs emitter lays out pages with them, and each target
// that describes itself to the docs (`Emitter.describe`) writes its sections with them.
//
// Tables, inline code, fenced blocks.
//
// A fenced block tagged with a language that scripts/check-docs.sh runs (python, sh, julia, js,
// ts, c) is an example it runs; a block that only shows something (a signature) is preceded by
// the NO_RUN marker so the checker skips it while the page keeps its syntax highlighting.

/** The line before a fenced block that the docs checker must not run. */
export const NO_RUN = '<!-- no-run -->';

/** A table cell: one line, pipes escaped. */
export function cell(text: string): string {
  return text.replace(/\s*\n\s*/g, ' ').replace(/\|/g, '\\|');
}

export function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  return [
    `| ${header.join(' | ')} |`,
    `|${header.map(() => '---').join('|')}|`,
    ...rows.map((r) => `| ${r.map(cell).join(' | ')} |`),
  ].join('\n');
}

/** Inline code; a backtick inside gets a longer fence. */
export function tick(text: string): string {
  return text.includes('`') ? `\`\` ${text} \`\`` : `\`${text}\``;
}

/** A fenced block; `run: false` puts the no-run marker before it. */
export function fence(lang: string, body: string, run: boolean): string {
  const block = ['```' + lang, body.replace(/\n+$/, ''), '```'].join('\n');
  return run ? block : `${NO_RUN}\n${block}`;
}

/** `a`, `b` and `c`. */
export function listText(items: readonly string[]): string {
  if (items.length <= 1) return items.join('');
  return `${items.slice(0, -1).join(', ')} and ${items[items.length - 1]}`;
}
