// The writer: generate writes and prunes; check lists stale, missing and orphaned files.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { makePlan, type Producer } from '../src/emit/plan.ts';
import { planFor } from '../src/pipeline.ts';
import { diff, write } from '../src/write/writer.ts';
import { fixtureIr } from './helpers.ts';

let root = '';
beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'rank-relax-writer-'));
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

const OP_FILE = 'crates/rank-relax-ffi/src/generated/pair_loss.rs';
const HEADER = 'crates/rank-relax-ffi/include/rank_relax.h';

describe('writer', () => {
  it('generates every file, then finds nothing to do', async () => {
    const plan = planFor(fixtureIr('extra-op'));
    const first = await write(root, plan);
    expect(first.written).toEqual(plan.files.map((f) => f.path));
    expect(await diff(root, plan)).toEqual({ stale: [], missing: [], orphaned: [] });
    const again = await write(root, plan);
    expect(again).toEqual({ written: [], removed: [], unchanged: plan.files.length });
  });

  it('check lists stale, missing and orphaned files and writes nothing', async () => {
    const plan = planFor(fixtureIr('extra-op'));
    await write(root, plan);
    writeFileSync(join(root, HEADER), 'edited by hand\n');
    rmSync(join(root, OP_FILE));
    mkdirSync(join(root, 'crates/rank-relax-ffi/tests/c/generated/old'), { recursive: true });
    writeFileSync(join(root, 'crates/rank-relax-ffi/tests/c/generated/old/stray.h'), '');
    writeFileSync(join(root, 'crates/rank-relax-ffi/src/lib.rs'), '// hand-written, not owned\n');
    expect(await diff(root, plan)).toEqual({
      stale: [HEADER],
      missing: [OP_FILE],
      orphaned: ['crates/rank-relax-ffi/tests/c/generated/old/stray.h'],
    });
    expect(readFileSync(join(root, HEADER), 'utf8')).toBe('edited by hand\n');
  });

  it('removes the files of an op that left the spec, and nothing it does not own', async () => {
    await write(root, planFor(fixtureIr('extra-op')));
    writeFileSync(join(root, 'crates/rank-relax-ffi/src/lib.rs'), '// hand-written\n');
    const smaller = planFor(fixtureIr('minimal'));
    const orphaned = (await diff(root, smaller)).orphaned;
    expect(orphaned).toContain(OP_FILE);
    expect(orphaned.filter((p) => !/pair_loss/i.test(p))).toEqual([]);
    const result = await write(root, smaller);
    expect(result.removed).toEqual(orphaned);
    expect(existsSync(join(root, OP_FILE))).toBe(false);
    expect(existsSync(join(root, 'crates/rank-relax-ffi/src/lib.rs'))).toBe(true);
    expect(await diff(root, smaller)).toEqual({ stale: [], missing: [], orphaned: [] });
  });
});

describe('plan', () => {
  const file = (path: string) => ({ path, contents: 'x\n' });
  const cases: [string, { given: Producer[]; want: RegExp }][] = [
    ['a path emitted twice', { given: [{ name: 'a', owns: ['a/'], files: [file('a/x')] }, { name: 'b', owns: ['a/x'], files: [file('a/x')] }], want: /a\/x is emitted by both a and b/ }],
    ['overlapping owned paths', { given: [{ name: 'a', owns: ['a/'], files: [] }, { name: 'b', owns: ['a/b/'], files: [] }], want: /b owns a\/b\/, which overlaps a\/ owned by a/ }],
    ['a file outside the owned paths', { given: [{ name: 'a', owns: ['a/'], files: [file('b/x')] }], want: /a emitted b\/x outside the paths it owns/ }],
    ['a path that is not normalised', { given: [{ name: 'a', owns: ['a/'], files: [file('a/../a/x')] }], want: /not a normalised repository-relative path/ }],
    ['trailing spaces', { given: [{ name: 'a', owns: ['a/'], files: [{ path: 'a/x', contents: 'x \n' }] }], want: /trailing spaces/ }],
  ];
  it.each(cases)('rejects %s', (_, { given, want }) => {
    expect(() => makePlan(given)).toThrow(want);
  });
});
