// Golden files: every registered emitter on every fixture, byte for byte (vitest -u rewrites them).
// Goldens must compile: the C header and test table with cc -Wall -Werror, the Rust glue with
// rustfmt --check (it is cargo-built against the core for the real spec by scripts/test-c.sh).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import { emitters } from '../src/emit/registry.ts';
import { CORE_MODULES } from '../src/emitters/core/modules.ts';
import { planFor } from '../src/pipeline.ts';
import { FIXTURES, fixtureIr } from './helpers.ts';

const scratch = mkdtempSync(join(tmpdir(), 'rank-relax-goldens-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe.each(FIXTURES)('fixture %s', (fixture) => {
  const ir = fixtureIr(fixture);
  const plan = planFor(ir, emitters, false);
  const dir = join(scratch, fixture);
  for (const f of plan.files) {
    mkdirSync(dirname(join(dir, f.path)), { recursive: true });
    writeFileSync(join(dir, f.path), f.contents);
  }

  describe.each(emitters)('emitter $name', (emitter) => {
    it.each(emitter.emit(ir).map((f) => [f.path, f.contents] as const))('%s', async (path, contents) => {
      await expect(contents).toMatchFileSnapshot(`__goldens__/${fixture}/${path}`);
    });
  });

  it('the header compiles alone (C99 and C++11, -Wall -Wextra -Werror -pedantic)', () => {
    const header = join(dir, 'crates/rank-relax-ffi/include/rank_relax.h');
    execFileSync('cc', ['-std=c99', '-fsyntax-only', '-Wall', '-Wextra', '-Werror', '-pedantic', '-x', 'c', header]);
    execFileSync('c++', ['-std=c++11', '-fsyntax-only', '-Wall', '-Wextra', '-Werror', '-pedantic', '-x', 'c++', header]);
  });

  it('the C test table compiles with the header', () => {
    const source = join(dir, 'table_check.c');
    writeFileSync(source, '#include "rr_ops_table.h"\nint main(void) { return rrt_ops[0].name == 0; }\n');
    execFileSync('cc', [
      '-std=c99', '-fsyntax-only', '-Wall', '-Wextra', '-Werror',
      '-I', join(dir, 'crates/rank-relax-ffi/include'),
      '-I', join(dir, 'crates/rank-relax-ffi/tests/c/generated'),
      source,
    ]);
  });

  it('the Rust glue is rustfmt-clean', () => {
    // ops/list.rs only declares the op modules, whose files are the core's (rustfmt would look for them).
    const files = plan.files.filter((f) => f.path.endsWith('.rs') && f.path !== CORE_MODULES).map((f) => join(dir, f.path));
    expect(files.length).toBeGreaterThan(0);
    execFileSync('rustfmt', ['--check', '--edition', '2021', ...files]);
  });
});
