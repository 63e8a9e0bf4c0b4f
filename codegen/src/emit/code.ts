// `code`: a tagged template for generated source. The template's own indentation is removed
// (dedent); a value that spans lines keeps the indentation of the line it is placed on; an array
// is flattened, one element per line; null/undefined/false/'' and empty arrays produce nothing,
// and a line that held only such a value disappears. Trailing spaces are trimmed.
//
//   code`
//     fn f(
//       ${args.map((a) => code`${a.name}: ${a.type},`)}
//     ) {}
//   `

export type Fragment = string | number | null | undefined | false | readonly Fragment[];

const MARK = '\u0000';

function render(value: Fragment): string {
  if (value === null || value === undefined || value === false) return '';
  if (Array.isArray(value)) {
    return (value as readonly Fragment[])
      .map(render)
      .filter((s) => s !== '')
      .join('\n');
  }
  return String(value);
}

function indentOf(line: string): string {
  return /^[ \t]*/.exec(line)?.[0] ?? '';
}

export function code(strings: TemplateStringsArray, ...values: Fragment[]): string {
  // Join with markers so dedent sees the literal text only.
  const text = strings.reduce((acc, s, i) => acc + s + (i < values.length ? `${MARK}${i}${MARK}` : ''), '');
  const lines = text.split('\n');
  if (lines.length > 1 && lines[0]?.trim() === '') lines.shift();
  if (lines.length > 1 && lines[lines.length - 1]?.trim() === '') lines.pop();
  const margin = Math.min(...lines.filter((l) => l.trim() !== '').map((l) => indentOf(l).length));
  const out: string[] = [];
  const marker = new RegExp(`${MARK}(\\d+)${MARK}`, 'g');
  for (const raw of lines) {
    const line = raw.trim() === '' ? '' : raw.slice(Number.isFinite(margin) ? margin : 0);
    const onlyMarkers = line.trim() !== '' && line.replace(marker, '').trim() === '';
    const lineIndent = indentOf(line);
    const rendered = line.replace(marker, (_, i: string) => render(values[Number(i)]).split('\n').join(`\n${lineIndent}`));
    if (onlyMarkers && rendered.trim() === '') continue;
    out.push(...rendered.split('\n').map((l) => l.replace(/[ \t]+$/, '')));
  }
  return out.join('\n');
}

/** Items joined inline (`a, b, c`), skipping empty ones. */
export function join(items: readonly Fragment[], separator: string): string {
  return items.map(render).filter((s) => s !== '').join(separator);
}

/** The text of a file: LF line ends, no trailing spaces, exactly one final newline. */
export function file(...parts: Fragment[]): string {
  const body = parts.map(render).join('\n').replace(/[ \t]+$/gm, '').replace(/\n{3,}/g, '\n\n');
  return `${body.replace(/\n+$/, '')}\n`;
}
