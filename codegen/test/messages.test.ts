// The spec's message table and testdata/bad-input.json: every refusal a binding makes before the
// core is worded by the table, the file holds the exact text of every case (no fragments), and each
// binding's runner checks that text, so every binding gives the identical message for every case.
import { describe, expect, it } from 'vitest';

import { REQUIRED_CHECKS, REQUIRED_VALUES } from '../src/ir/messages.ts';
import { parseYaml } from '../src/spec/load.ts';
import { validateSpec } from '../src/spec/validate.ts';
import { editedSpec, readRepo, specIr } from './helpers.ts';

interface Expectation {
  readonly error?: { readonly kind: string; readonly message?: string; readonly contains?: string[] };
}
interface Case {
  readonly id: string;
  readonly bindings?: string[];
  readonly expect: Expectation;
  readonly overrides?: Record<string, Expectation>;
}

const matrix = JSON.parse(readRepo('testdata/bad-input.json')) as { bindings: string[]; cases: Case[] };
const expectations = matrix.cases.flatMap((c) => [
  { id: c.id, binding: '*', e: c.expect },
  ...Object.entries(c.overrides ?? {}).map(([binding, e]) => ({ id: `${c.id}`, binding, e })),
]);
const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const ir = specIr();
/** A check's text as a pattern: each placeholder any text. */
const pattern = (text: string) => new RegExp(`^${escape(text).replace(/\\\{[a-z_]+\\\}/g, '.+')}$`);

describe('the message table', () => {
  it('holds every check and value word the runtimes call, in their order', () => {
    expect(ir.messages.checks.map((m) => m.name)).toEqual(Object.keys(REQUIRED_CHECKS));
    expect(ir.messages.values.map((m) => m.name)).toEqual(Object.keys(REQUIRED_VALUES));
    const not_int = ir.messages.checks.find((m) => m.name === 'not_int');
    expect(not_int?.parts).toEqual([{ field: 'op' }, { text: ': ' }, { field: 'arg' }, { text: ' must be an integer, got ' }, { field: 'got' }]);
  });

  it('rejects a renamed entry, a lost placeholder and a stray brace, each with its path', () => {
    const text = editedSpec((s) => {
      s.messages.checks.not_integer = s.messages.checks.not_int;
      delete s.messages.checks.not_int;
      s.messages.checks.not_real_array.text = '{op}: {arg} must be an array of reals';
      s.messages.values.bool.text = 'a {bool}';
      s.messages.values.string.text = 'a string }';
    });
    const result = validateSpec(parseYaml(text, 'spec.yaml'));
    expect(result.ok ? [] : result.errors).toEqual([
      'messages.checks.not_int: expected an entry (every runtime calls it by this name), got nothing',
      'messages.checks.not_integer: expected one of not_real_array, no_items_axis, shapes_differ, not_int, not_real_list, not_bool_array, not_int_array, int_out_of_range, int_traced (the runtimes call no other), got "not_integer"',
      'messages.checks.not_real_array.text: expected a text with the placeholders {arg}, {got}, {op}, got "{op}: {arg} must be an array of reals"',
      'messages.values.bool.text: expected a text with no placeholder, got "a {bool}"',
      'messages.values.string.text: expected braces only around a placeholder, got "a string }"',
    ]);
  });
});

describe('testdata/bad-input.json', () => {
  it('gives the exact text of every error, never fragments', () => {
    const fragments = expectations.filter(({ e }) => e.error !== undefined && e.error.message === undefined);
    expect(fragments.map(({ id, binding }) => `${id} (${binding})`)).toEqual([]);
  });

  it('words every type error with a check of the table', () => {
    const checks = ir.messages.checks.map((m) => ({ name: m.name, re: pattern(m.text) }));
    const unmatched = expectations
      .filter(({ e }) => e.error?.kind === 'InvalidType')
      .filter(({ e }) => !checks.some((c) => c.re.test(e.error?.message ?? '')))
      .map(({ id, binding, e }) => `${id} (${binding}): ${e.error?.message}`);
    expect(unmatched).toEqual([]);
  });

  it.each(ir.messages.checks.map((m) => [m.name, m] as const))('has cases of the %s check, so every runner pins its text', (_, m) => {
    const re = pattern(m.text);
    const hits = expectations.filter(({ e }) => e.error?.kind === m.kind && re.test(e.error.message ?? ''));
    expect(hits.length).toBeGreaterThan(0);
  });

  it('overrides a binding only where it differs from the case', () => {
    const same = matrix.cases.flatMap((c) =>
      Object.entries(c.overrides ?? {})
        .filter(([, e]) => JSON.stringify(e) === JSON.stringify(c.expect))
        .map(([b]) => `${c.id} (${b})`),
    );
    expect(same).toEqual([]);
  });
});
