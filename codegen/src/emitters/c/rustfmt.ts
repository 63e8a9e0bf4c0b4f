// Layout rules of rustfmt (default config: max_width 100, fn_call_width and array_width 60) for
// the few constructs the Rust glue uses, so generated files pass `cargo fmt --check` as emitted.
const MAX_WIDTH = 100;
const CALL_WIDTH = 60;

function pad(indent: number): string {
  return ' '.repeat(indent);
}

/** `head(a, b)tail` on one line if it fits, else one argument per line. */
export function rustCall(indent: number, head: string, args: readonly string[], tail: string): string[] {
  const inline = args.join(', ');
  const one = `${pad(indent)}${head}(${inline})${tail}`;
  if (inline.length <= CALL_WIDTH && one.length <= MAX_WIDTH) return [one];
  return [`${pad(indent)}${head}(`, ...args.map((a) => `${pad(indent + 4)}${a},`), `${pad(indent)})${tail}`];
}

/** `let name = head(args)tail`, breaking after `=` when that keeps the call on one line. */
export function rustLetCall(indent: number, name: string, head: string, args: readonly string[], tail: string): string[] {
  const same = rustCall(indent, `let ${name} = ${head}`, args, tail);
  if (same.length === 1) return same;
  const next = rustCall(indent + 4, head, args, tail);
  return next.length === 1 ? [`${pad(indent)}let ${name} =`, ...next] : same;
}

/** `head(&[a, b])tail`: a call whose one argument is an array literal. */
export function rustArrayCall(indent: number, head: string, items: readonly string[], tail: string): string[] {
  const inline = items.join(', ');
  const one = `${pad(indent)}${head}(&[${inline}])${tail}`;
  if (inline.length <= CALL_WIDTH && one.length <= MAX_WIDTH) return [one];
  return [`${pad(indent)}${head}(&[`, ...items.map((a) => `${pad(indent + 4)}${a},`), `${pad(indent)}])${tail}`];
}

/** `unsafe { call }` on one line if the call is one line and it fits, else a block. */
export function rustUnsafeCall(indent: number, head: string, args: readonly string[]): string[] {
  const inner = rustCall(indent + 4, head, args, '');
  const one = `${pad(indent)}unsafe { ${inner[0]?.trim()} }`;
  if (inner.length === 1 && one.length <= MAX_WIDTH) return [one];
  return [`${pad(indent)}unsafe {`, ...inner, `${pad(indent)}}`];
}

/** A fn signature up to the opening brace: params on one line if it fits, else one per line. */
export function rustFnSignature(indent: number, head: string, params: readonly string[], ret: string): string[] {
  const one = `${pad(indent)}${head}(${params.join(', ')})${ret} {`;
  if (one.length <= MAX_WIDTH) return [one];
  return [`${pad(indent)}${head}(`, ...params.map((p) => `${pad(indent + 4)}${p},`), `${pad(indent)})${ret} {`];
}
