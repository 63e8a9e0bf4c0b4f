// Validation: the zod schema and the reference checks run on the same data in one pass, and every
// problem comes back, sorted by path so the output does not depend on the order of map keys.
import { Spec } from './schema.ts';
import { CodegenError, formatIssue, formatPath, fromZodIssues, type SpecIssue } from './errors.ts';
import { checkReferences } from './references.ts';

export type Validation = { ok: true; spec: Spec } | { ok: false; errors: string[] };

export function validateSpec(raw: unknown): Validation {
  const parsed = Spec.safeParse(raw, { reportInput: true });
  const issues: SpecIssue[] = [
    ...(parsed.success ? [] : fromZodIssues(parsed.error.issues, raw)),
    ...checkReferences(raw),
  ];
  if (parsed.success && issues.length === 0) return { ok: true, spec: parsed.data };
  const lines = [...new Set(issues.map(formatIssue))];
  const order = new Map(issues.map((issue) => [formatIssue(issue), formatPath(issue.path)]));
  lines.sort((a, b) => compare(order.get(a) ?? a, order.get(b) ?? b) || compare(a, b));
  return { ok: false, errors: lines };
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Validated spec, or a CodegenError that lists every problem. */
export function parseSpec(raw: unknown, source: string): Spec {
  const result = validateSpec(raw);
  if (result.ok) return result.spec;
  const count = result.errors.length;
  throw new CodegenError([`${source}: ${count} error${count === 1 ? '' : 's'} in the spec:`, ...result.errors.map((e) => `  ${e}`)]);
}
