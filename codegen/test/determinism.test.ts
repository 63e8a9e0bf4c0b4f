// Same spec, same bytes: twice in a row, with every map's keys shuffled, for the real spec and
// the fixtures; and every registered emitter emits code for an op added to the spec.
import { describe, expect, it } from 'vitest';
import { parseDocument, stringify } from 'yaml';

import { emitters } from '../src/emit/registry.ts';
import { irFromText, planFor } from '../src/pipeline.ts';
import { fixturePath, FIXTURES, readRepo, shuffleKeys, SPEC_PATH } from './helpers.ts';

const sources = [SPEC_PATH, ...FIXTURES.map(fixturePath)];

describe.each(sources)('%s', (source) => {
  const text = readRepo(source);
  const files = () => planFor(irFromText(text, source)).files;

  it('gives the same bytes twice', () => {
    expect(files()).toEqual(files());
  });

  it.each([1, 2, 3])('gives the same bytes with map keys shuffled (seed %i)', (seed) => {
    const shuffled = stringify(shuffleKeys(parseDocument(text).toJS(), seed));
    expect(shuffled).not.toBe(text);
    expect(planFor(irFromText(shuffled, source)).files).toEqual(files());
  });

  it('has the same IR and ABI hash with map keys shuffled', () => {
    const shuffled = stringify(shuffleKeys(parseDocument(text).toJS(), 7));
    expect(irFromText(shuffled, source)).toEqual(irFromText(text, source));
  });
});

describe('an op added to the spec', () => {
  const before = irFromText(readRepo(fixturePath('minimal')), 'fixture.yaml');
  const after = irFromText(readRepo(fixturePath('extra-op')), 'fixture.yaml');
  const added = after.ops.find((op) => !before.ops.some((o) => o.name.spec === op.name.spec));

  it('is in the extra-op fixture', () => {
    expect(added?.name.spec).toBe('pair_loss');
  });

  it.each(emitters.map((e) => [e.name, e] as const))('gets code from the %s emitter', (_, emitter) => {
    const spellings = Object.values(added?.name ?? {});
    const mentions = (files: readonly { contents: string }[]) =>
      files.filter((f) => spellings.some((s) => f.contents.includes(s))).length;
    expect(mentions(emitter.emit(before))).toBe(0);
    expect(mentions(emitter.emit(after))).toBeGreaterThan(0);
    expect(emitter.emit(after).map((f) => f.contents).join('\n')).not.toEqual(emitter.emit(before).map((f) => f.contents).join('\n'));
  });
});
