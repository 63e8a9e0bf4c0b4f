// Text helpers shared by emitters: the generated-file banner per comment syntax, word wrapping.
import type { IR } from '../ir/types.ts';

export type CommentSyntax = 'c-block' | 'slash' | 'hash' | 'html';

/** The first line of a generated file, in the target's comment syntax. */
export function banner(ir: IR, syntax: CommentSyntax): string {
  const notice = ir.generatedNotice;
  switch (syntax) {
    case 'c-block':
      return `/* ${notice} */`;
    case 'slash':
      return `// ${notice}`;
    case 'hash':
      return `# ${notice}`;
    case 'html':
      return `<!-- ${notice} -->`;
  }
}

/** Greedy word wrap to `width` columns (a word longer than the width gets its own line). */
export function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  for (const paragraph of text.split(/\n\s*\n/)) {
    if (lines.length > 0) lines.push('');
    let line = '';
    for (const word of paragraph.split(/\s+/).filter((w) => w !== '')) {
      if (line === '') line = word;
      else if (line.length + 1 + word.length <= width) line += ` ${word}`;
      else {
        lines.push(line);
        line = word;
      }
    }
    if (line !== '') lines.push(line);
  }
  return lines;
}

/** Wrapped text with each line prefixed (`/// `, ` * `, `# `); empty lines get the prefix trimmed. */
export function commentLines(text: string, prefix: string, width: number): string[] {
  return wrap(text, width - prefix.length).map((l) => (l === '' ? prefix.trimEnd() : prefix + l));
}
