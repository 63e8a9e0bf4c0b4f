// The CLI as a user meets it: exit codes, messages without stack traces, schema output.
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import { main } from '../src/cli.ts';
import { emitters } from '../src/emit/registry.ts';
import { editedSpec, ROOT, SPEC_PATH } from './helpers.ts';

async function run(...argv: string[]) {
  let stdout = '';
  let stderr = '';
  const code = await main(argv, (s) => { stdout += s; }, (s) => { stderr += s; });
  return { code, stdout, stderr };
}

const root = mkdtempSync(join(tmpdir(), 'rank-relax-cli-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
mkdirSync(join(root, 'bindings-spec'));

describe('rank-relax-codegen', () => {
  it('generate, then check passes', async () => {
    cpSync(join(ROOT, SPEC_PATH), join(root, SPEC_PATH));
    const generated = await run('generate', '--root', root);
    expect(generated.code).toBe(0);
    expect(generated.stdout).toMatch(/^generate: \d+ written, 0 removed, 0 unchanged$/m);
    expect(await run('check', '--root', root)).toMatchObject({ code: 0, stderr: '' });
  });

  it('check fails listing every out-of-date file', async () => {
    writeFileSync(join(root, 'crates/rank-relax-ffi/src/generated/stray.rs'), '');
    writeFileSync(join(root, 'crates/rank-relax-ffi/include/rank_relax.h'), '');
    const result = await run('check', '--root', root);
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(
      'stale     crates/rank-relax-ffi/include/rank_relax.h\n' +
        'orphaned  crates/rank-relax-ffi/src/generated/stray.rs\n' +
        'check: 2 generated files are out of date; run `pnpm generate`\n',
    );
    expect((await run('generate', '--root', root)).stdout).toContain('removed crates/rank-relax-ffi/src/generated/stray.rs');
  });

  it('a bad spec: every error, exit 1, no stack trace', async () => {
    writeFileSync(join(root, 'bad.yaml'), editedSpec((s) => {
      s.params.direction.default = 'up';
      s.ops.soft_rank.inputs[0].shape = ['n', 'batch'];
    }));
    const result = await run('check', '--root', root, '--spec', 'bad.yaml');
    expect(result).toEqual({
      code: 1,
      stdout: '',
      stderr:
        'bad.yaml: 2 errors in the spec:\n' +
        '  ops.soft_rank.inputs[0].shape: expected a list of dimensions with batch first and only there: [batch], [batch, n], [batch, n, n], …, got ["n","batch"]\n' +
        '  params.direction.default: expected one of ascending | descending, got "up"\n',
    });
  });

  it('a spec a target cannot bind: every unsupported feature, exit 1, nothing written', async () => {
    writeFileSync(join(root, 'model.yaml'), editedSpec((s) => {
      s.ops.soft_sort.inputs.splice(1, 0, { name: 'offsets', shape: ['batch', 'n'], dtype: 'int32', differentiable: false, optional: true, doc: 'Offsets.' });
    }));
    const result = await run('generate', '--root', root, '--spec', 'model.yaml');
    const lines = emitters.map((e) => `ops.soft_sort.inputs[1].optional: the ${e.name} target does not support optional int32 inputs yet`);
    expect(result).toEqual({
      code: 1,
      stdout: '',
      stderr: `model.yaml: ${lines.length} features of the spec are not supported by every target:\n${lines.map((l) => `  ${l}\n`).join('')}`,
    });
  });

  it('a missing spec file', async () => {
    expect(await run('generate', '--root', root, '--spec', 'nope.yaml')).toEqual({
      code: 1,
      stdout: '',
      stderr: 'nope.yaml: cannot read the spec (ENOENT)\n',
    });
  });

  it('schema prints the JSON Schema', async () => {
    const result = await run('schema');
    expect(result.code).toBe(0);
    const schema = JSON.parse(result.stdout);
    expect(schema.$schema).toBe('https://json-schema.org/draft/2020-12/schema');
    expect(Object.keys(schema.properties).sort()).toEqual(['enums', 'messages', 'ops', 'package', 'params']);
  });

  it('--target: the capability check, the files and the orphans of those targets alone', async () => {
    writeFileSync(join(root, 'model.yaml'), editedSpec((s) => {
      s.ops.soft_sort.inputs.splice(1, 0, { name: 'weights', shape: ['batch'], differentiable: false, optional: true, doc: 'One weight per row.' });
    }));
    const all = await run('check', '--root', root, '--spec', 'model.yaml');
    expect(all.code).toBe(1);
    expect(all.stderr).toContain('ops.soft_sort.inputs[1].shape: the julia target does not support inputs of shape [batch] yet');
    writeFileSync(join(root, 'crates/rank-relax-ffi/src/generated/stray.rs'), '');
    const core = await run('generate', '--root', root, '--spec', 'model.yaml', '--target', 'core');
    expect(core.code).toBe(0);
    expect(core.stdout).toContain('wrote   crates/rank-relax/tests/common/generated.rs');
    expect(core.stdout).not.toContain('stray.rs');
    expect(await run('check', '--root', root, '--spec', 'model.yaml', '--target', 'core')).toMatchObject({ code: 0, stderr: '' });
    expect((await run('check', '--root', root, '--target', 'c')).stderr).toBe(
      'orphaned  crates/rank-relax-ffi/src/generated/stray.rs\ncheck: 1 generated file is out of date; run `pnpm generate`\n',
    );
    expect((await run('check', '--root', root, '--target', 'nope')).stderr).toMatch(/^unknown target "nope"\nusage:/);
    expect(await run('generate', '--root', root)).toMatchObject({ code: 0 });
  });

  it('usage errors', async () => {
    expect((await run()).code).toBe(2);
    expect((await run('frobnicate')).stderr).toMatch(/^unknown command "frobnicate"\nusage:/);
    expect((await run('--help')).stdout).toMatch(/^usage: rank-relax-codegen <command>/);
  });
});
