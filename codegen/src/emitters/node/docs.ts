// TSDoc comments: the spec's doc text as `/** … */` blocks, tags with hanging indents.
import { commentLines } from '../../emit/text.ts';
import { isPerRow } from '../../ir/shape.ts';
import type { DimIR, ShapeIR } from '../../ir/types.ts';
import { assertNever } from '../../util/never.ts';
import { tsDim } from './names.ts';

const WIDTH = 100;

/** A paragraph or a list of ready lines (without the ` * ` prefix). */
export type DocPart = string | { readonly lines: readonly string[] } | { readonly tag: string; readonly text: string };

function tagLines(tag: string, text: string): string[] {
  const head = `@${tag} `;
  const wrapped = commentLines(text, '', WIDTH - 3 - head.length);
  const [first = '', ...rest] = wrapped;
  return [` * ${head}${first}`, ...(rest.length === 0 ? [] : commentLines(rest.join(' '), ' *   ', WIDTH))];
}

/** A TSDoc block; tags (`@param`, `@returns`, …) follow the paragraphs without blank lines between them. */
export function tsDoc(parts: readonly DocPart[]): string {
  const lines: string[] = ['/**'];
  let previous: 'text' | 'tag' | null = null;
  for (const part of parts) {
    const kind = typeof part === 'object' && 'tag' in part ? 'tag' : 'text';
    if (previous !== null && !(previous === 'tag' && kind === 'tag')) lines.push(' *');
    if (typeof part === 'string') lines.push(...commentLines(part, ' * ', WIDTH));
    else if ('lines' in part) lines.push(...part.lines.map((l) => (l === '' ? ' *' : ` * ${l}`)));
    else lines.push(...tagLines(part.tag, part.text));
    previous = kind;
  }
  lines.push(' */');
  return lines.join('\n');
}

export function tag(name: string, text: string): DocPart {
  return { tag: name, text };
}

/** What an op's own dim stands for, in words (`m = quantiles.length`); null for batch and n. */
export function dimWords(d: DimIR): string | null {
  switch (d.kind) {
    case 'batch':
    case 'n':
      return null;
    case 'param':
      return `${d.name.spec} = options.${tsDim(d)}`;
    case 'length':
      return `${d.name.spec} = ${tsDim(d)}`;
    default:
      return assertNever(d, 'dim kind');
  }
}

/** How many values an array of this shape holds, in words: `B × n × n values, row-major`. */
export function shapeWords(shape: ShapeIR): string {
  if (isPerRow(shape)) return 'B values, one per row';
  const own = [...new Set(shape.row.map(dimWords).filter((w) => w !== null))];
  return `B × ${shape.row.map((d) => d.name.spec).join(' × ')} values${own.length === 0 ? '' : ` (${own.join(', ')})`}, row-major`;
}
