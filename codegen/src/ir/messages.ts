// The spec's message table (`messages:`): the texts of the checks a binding makes before the core,
// and the words that describe an offending value. Each binding's runtime calls every entry by name
// (`REQUIRED_CHECKS`, `REQUIRED_VALUES`), so the spec may reword an entry but not rename it or change
// its placeholders; `checkMessages` reports any difference with its spec path.

/** Each check by name, with its placeholders in any order. */
export const REQUIRED_CHECKS = {
  not_real_array: ['op', 'arg', 'got'],
  no_items_axis: ['op', 'arg'],
  shapes_differ: ['op', 'arg', 'shape', 'other', 'other_shape'],
  not_int: ['op', 'arg', 'got'],
  not_real_list: ['op', 'arg', 'got'],
  not_bool_array: ['op', 'arg', 'got'],
  not_int_array: ['op', 'arg', 'got'],
  int_out_of_range: ['op', 'arg', 'value'],
  int_traced: ['op', 'arg', 'got'],
} as const satisfies Record<string, readonly string[]>;

/** Each value word (what `{got}` may be) by name, with its placeholders. */
export const REQUIRED_VALUES = {
  array: ['dtype'],
  bool: [],
  float: ['value'],
  integer: ['value'],
  string: [],
  nothing: [],
  other: ['type'],
} as const satisfies Record<string, readonly string[]>;

/** A piece of a message text: literal text, or a placeholder's name. */
export type MessagePart = { readonly text: string } | { readonly field: string };

export interface MessageIR {
  /** snake_case, as the spec names it. */
  readonly name: string;
  /** The bad-input kind (`InvalidType`, …); null for a value word. */
  readonly kind: string | null;
  readonly doc: string;
  /** The text with `{placeholders}`. */
  readonly text: string;
  readonly parts: readonly MessagePart[];
  /** The placeholders in order of first use: each target's function takes them in this order. */
  readonly fields: readonly string[];
}

export interface MessagesIR {
  readonly checks: readonly MessageIR[];
  readonly values: readonly MessageIR[];
}

const PLACEHOLDER = /\{([a-z_]+)\}/g;

/** The pieces of a text; `{` and `}` appear only around a placeholder. */
export function messageParts(text: string): MessagePart[] {
  const parts: MessagePart[] = [];
  let at = 0;
  for (const m of text.matchAll(PLACEHOLDER)) {
    if (m.index > at) parts.push({ text: text.slice(at, m.index) });
    parts.push({ field: m[1] as string });
    at = m.index + m[0].length;
  }
  if (at < text.length) parts.push({ text: text.slice(at) });
  return parts;
}

export function messageFields(text: string): string[] {
  const fields: string[] = [];
  for (const part of messageParts(text)) {
    if ('field' in part && !fields.includes(part.field)) fields.push(part.field);
  }
  return fields;
}

/** A stray brace: only `{name}` placeholders may hold one. */
export function strayBrace(text: string): boolean {
  return /[{}]/.test(text.replace(PLACEHOLDER, ''));
}

export function normaliseMessages(spec: {
  readonly checks: Readonly<Record<string, { readonly kind: string; readonly doc: string; readonly text: string }>>;
  readonly values: Readonly<Record<string, { readonly doc: string; readonly text: string }>>;
}): MessagesIR {
  const entry = (name: string, kind: string | null, doc: string, text: string): MessageIR => ({
    name,
    kind,
    doc,
    text,
    parts: messageParts(text),
    fields: messageFields(text),
  });
  return {
    checks: Object.keys(REQUIRED_CHECKS).map((name) => {
      const c = spec.checks[name];
      if (c === undefined) throw new Error(`internal error: messages.checks.${name} passed validation but is missing`);
      return entry(name, c.kind, c.doc, c.text);
    }),
    values: Object.keys(REQUIRED_VALUES).map((name) => {
      const v = spec.values[name];
      if (v === undefined) throw new Error(`internal error: messages.values.${name} passed validation but is missing`);
      return entry(name, null, v.doc, v.text);
    }),
  };
}

type Issue = { readonly path: (string | number)[]; readonly expected: string; readonly got: unknown };

/** Every difference between the spec's table and what the runtimes call, each with its path. */
export function checkMessages(raw: unknown): Issue[] {
  const issues: Issue[] = [];
  const rec = (x: unknown): Record<string, unknown> | undefined =>
    typeof x === 'object' && x !== null && !Array.isArray(x) ? (x as Record<string, unknown>) : undefined;
  const table = rec(raw);
  if (table === undefined) return issues;
  const section = (key: 'checks' | 'values', required: Readonly<Record<string, readonly string[]>>, textOf: (entry: unknown) => unknown) => {
    const given = rec(table[key]);
    if (given === undefined) return;
    for (const name of Object.keys(given)) {
      if (!(name in required)) {
        issues.push({ path: ['messages', key, name], expected: `one of ${Object.keys(required).join(', ')} (the runtimes call no other)`, got: name });
      }
    }
    for (const [name, fields] of Object.entries(required)) {
      if (!(name in given)) {
        issues.push({ path: ['messages', key, name], expected: 'an entry (every runtime calls it by this name)', got: undefined });
        continue;
      }
      const text = textOf(given[name]);
      if (typeof text !== 'string') continue;
      const path = ['messages', key, name, 'text'];
      const want = [...fields].sort().join(', ');
      const have = messageFields(text).sort().join(', ');
      const expected = fields.length === 0 ? 'a text with no placeholder' : `a text with the placeholders {${[...fields].sort().join('}, {')}}`;
      if (want !== have) issues.push({ path, expected, got: text });
      else if (strayBrace(text)) issues.push({ path, expected: 'braces only around a placeholder', got: text });
    }
  };
  section('checks', REQUIRED_CHECKS, (e) => rec(e)?.text);
  section('values', REQUIRED_VALUES, (e) => rec(e)?.text);
  return issues;
}
