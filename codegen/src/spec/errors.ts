// Spec errors: one line each, `path: expected …, got …`, where the path is in the spec's own terms
// (`ops.soft_rank.inputs[0].shape`). zod issues and the reference checks are turned into the same form.
import type { z } from 'zod';

export interface SpecIssue {
  readonly path: readonly (string | number)[];
  /** What the spec should have there ("a string", "one of l2 | kl"). */
  readonly expected: string;
  /** The value found; `undefined` means the key is missing. */
  readonly got: unknown;
  /** Set when the issue has its own complete wording of what was found. */
  readonly gotText?: string;
}

/** A failure the CLI reports as text, without a stack trace. */
export class CodegenError extends Error {
  constructor(readonly lines: readonly string[]) {
    super(lines.join('\n'));
    this.name = 'CodegenError';
  }
}

export function formatPath(path: readonly (string | number)[]): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else out += out === '' ? part : `.${part}`;
  }
  return out === '' ? '(spec root)' : out;
}

/** How a found value reads in an error: strings quoted, short lists inline, maps summarised. */
export function describeValue(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (Array.isArray(value)) {
    if (value.length === 0) return 'an empty list';
    const text = JSON.stringify(value);
    return text !== undefined && text.length <= 60 ? text : `a list of ${value.length} items`;
  }
  if (typeof value === 'object') return 'a map';
  return typeof value;
}

export function formatIssue(issue: SpecIssue): string {
  return `${formatPath(issue.path)}: expected ${issue.expected}, got ${issue.gotText ?? describeValue(issue.got)}`;
}

const TYPE_WORDS: Record<string, string> = {
  string: 'a string',
  number: 'a number',
  int: 'an integer',
  boolean: 'true or false',
  object: 'a map',
  array: 'a list',
  record: 'a map',
};

function joinValues(values: readonly unknown[]): string {
  return values.map((v) => (typeof v === 'string' ? v : JSON.stringify(v))).join(' | ');
}

/** zod 4 issues (parsed with `reportInput: true`) → spec issues. */
export function fromZodIssues(issues: readonly z.core.$ZodIssue[], root: unknown): SpecIssue[] {
  const out: SpecIssue[] = [];
  for (const issue of issues) out.push(...fromZodIssue(issue, root));
  return out;
}

function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let node = root;
  for (const key of path) {
    if (typeof node !== 'object' || node === null) return undefined;
    node = (node as Record<PropertyKey, unknown>)[key];
  }
  return node;
}

function fromZodIssue(issue: z.core.$ZodIssue, root: unknown): SpecIssue[] {
  const path = issue.path.filter((p): p is string | number => typeof p !== 'symbol');
  const input = 'input' in issue ? issue.input : valueAt(root, issue.path);
  switch (issue.code) {
    case 'invalid_type':
      return [{ path, expected: TYPE_WORDS[issue.expected] ?? issue.expected, got: input }];
    case 'invalid_value':
      return [{
        path,
        expected: issue.values.length === 1 ? JSON.stringify(issue.values[0]) : `one of ${joinValues(issue.values)}`,
        got: input,
      }];
    case 'too_small': {
      const min = Number(issue.minimum);
      if (issue.origin === 'array') return [{ path, expected: `a list of at least ${min} item${min === 1 ? '' : 's'}`, got: input }];
      if (issue.origin === 'string') return [{ path, expected: 'a non-empty string', got: input }];
      return [{ path, expected: `a number ${issue.inclusive ? '≥' : '>'} ${min}`, got: input }];
    }
    case 'too_big': {
      const max = Number(issue.maximum);
      return [{ path, expected: `at most ${max}`, got: input }];
    }
    case 'unrecognized_keys':
      return [{ path, expected: issue.message, got: undefined, gotText: issue.keys.map((k) => JSON.stringify(k)).join(', ') }];
    case 'invalid_union': {
      // A discriminated union with an unknown tag: zod puts the tag in the path already.
      const discriminator = (issue as { discriminator?: string }).discriminator;
      if (discriminator !== undefined) {
        const options = (issue as { options?: unknown[] }).options ?? [];
        return [{ path, expected: `one of ${joinValues(options)}`, got: valueAt(root, issue.path) }];
      }
      // Branch paths are relative to the union. Report the branch the value's kind matched (a map
      // given to `string | {…}` gets the map's errors); if none matched, the kinds expected.
      const rebased = issue.errors.map((branch) => branch.map((i) => ({ ...i, path: [...issue.path, ...i.path] })));
      const matched = rebased.find((branch) => !branch.some((i) => i.code === 'invalid_type' && i.path.length === issue.path.length));
      if (matched !== undefined) return fromZodIssues(matched, root);
      const kinds = issue.errors.map((branch) => {
        const first = branch[0];
        return first?.code === 'invalid_type' ? (TYPE_WORDS[first.expected] ?? first.expected) : 'a value';
      });
      return [{ path, expected: [...new Set(kinds)].join(' or '), got: input }];
    }
    default:
      return [{ path, expected: issue.message, got: input }];
  }
}
