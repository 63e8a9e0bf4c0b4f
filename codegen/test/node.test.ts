// The Node target beyond its goldens: the generated TypeScript type-checks with the package's
// hand-written runtime (tsc --noEmit, strict), the binding interface and the Rust glue name the same
// entry points, the names, and the specs the Node API refuses (with the reason).
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import { nodeEmitter } from '../src/emitters/node/index.ts';
import { nativeName, rustName } from '../src/emitters/node/names.ts';
import { irFromText } from '../src/pipeline.ts';
import { CODEGEN, editedSpec, FIXTURES, fixtureIr, ROOT, specIr } from './helpers.ts';

const require = createRequire(import.meta.url);
const scratch = mkdtempSync(join(tmpdir(), 'rank-relax-node-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** The hand-written files of packages/node/src the generated ones import. */
const HAND_WRITTEN = ['index.ts', 'native.ts', 'runtime.ts'];

const cases = [...FIXTURES.map((f) => [f, fixtureIr(f)] as const), ['spec', specIr()] as const];

describe.each(cases)('%s', (name, ir) => {
  const files = nodeEmitter.emit(ir);

  it('type-checks with the package runtime under tsc --noEmit (strict)', () => {
    const dir = join(scratch, name);
    for (const f of files.filter((f) => f.path.endsWith('.ts'))) {
      const path = join(dir, f.path.replace(/^packages\/node\//, ''));
      mkdirSync(dirname(path), { recursive: true });
      writeFileSync(path, f.contents);
    }
    for (const f of HAND_WRITTEN) copyFileSync(join(ROOT, 'packages/node/src', f), join(dir, 'src', f));
    writeFileSync(
      join(dir, 'tsconfig.json'),
      JSON.stringify({
        extends: join(ROOT, 'packages/node/tsconfig.json'),
        compilerOptions: { noEmit: true, rootDir: 'src', typeRoots: [join(CODEGEN, 'node_modules/@types')] },
        include: ['src'],
      }),
    );
    writeFileSync(join(dir, 'package.json'), '{ "type": "commonjs" }\n');
    execFileSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', join(dir, 'tsconfig.json')], { stdio: 'pipe' });
  });

  it('the binding interface and the Rust glue name the same entry points', () => {
    const binding = files.find((f) => f.path.endsWith('/binding.ts'))?.contents ?? '';
    const declared = [...binding.matchAll(/^ {2}(\w+)\($/gm)].map((m) => m[1]).sort();
    const rust = files.filter((f) => f.path.endsWith('.rs')).map((f) => f.contents).join('\n');
    const exported = [...rust.matchAll(/#\[napi\(js_name = "(\w+)"\)\]/g)].map((m) => m[1]).sort();
    expect(declared.length).toBe(ir.ops.length * 2 * 6);
    expect(exported).toEqual(declared);
  });

  it('starts every file with the generated banner', () => {
    for (const f of files) expect(f.contents.split('\n')[0]).toBe(`// ${ir.generatedNotice}`);
  });

  it('writes only under the paths it owns', () => {
    for (const f of files) expect(nodeEmitter.owns.some((o) => f.path.startsWith(o))).toBe(true);
  });
});

describe('names', () => {
  const ir = specIr();
  const op = ir.ops.find((o) => o.name.spec === 'soft_rank');
  const [f32, f64] = ir.dtypes;
  it.each([
    ['call', false, 'softRankF64', 'soft_rank_f64'],
    ['call', true, 'softRankF64Async', 'soft_rank_f64_async'],
    ['forward', false, 'softRankForwardF64', 'soft_rank_forward_f64'],
    ['backward', false, 'softRankBackwardF64', 'soft_rank_backward_f64'],
    ['vjp', true, 'softRankVjpF64Async', 'soft_rank_vjp_f64_async'],
  ] as const)('%s (async: %s) → %s', (entry, isAsync, js, rust) => {
    if (op === undefined || f64 === undefined) throw new Error('no soft_rank');
    expect(nativeName(op, entry, f64, isAsync)).toBe(js);
    expect(rustName(op, entry, f64, isAsync)).toBe(rust);
  });
  it('f32', () => {
    if (op === undefined || f32 === undefined) throw new Error('no soft_rank');
    expect(nativeName(op, 'vjp', f32, false)).toBe('softRankVjpF32');
  });
});

describe('specs the Node API refuses, with the reason', () => {
  it.each([
    [
      'an op with two outputs',
      (s: any) => {
        s.ops.soft_sort.outputs.push({ name: 'extra', shape: ['batch', 'n'], doc: 'Another output.' });
        delete s.ops.soft_sort.in_place_vjp; // needs one output
      },
      'node: op soft_sort has 2 outputs; the Node API supports exactly one',
    ],
    [
      'an input named like an argument of the API',
      (s: any) => {
        s.ops.soft_sort.inputs[0].name = 'options';
        s.ops.soft_sort.saves = ['options'];
        s.ops.soft_sort.example = undefined;
      },
      "node: input soft_sort.options collides with the API's own argument",
    ],
  ])('%s', (_, edit, message) => {
    const ir = irFromText(editedSpec(edit), 'edited.yaml');
    expect(() => nodeEmitter.emit(ir)).toThrow(message);
  });
});
