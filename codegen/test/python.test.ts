// The Python target beyond its goldens: for both fixtures and the real spec, the generated Python
// parses and is ruff-clean and ruff-formatted (with the package's pyproject.toml), the Rust glue is
// rustfmt-clean, the stub declares exactly the functions the glue registers, the torch schemas name
// the kernel arguments, and the Python spellings are computed once (layout.ts).
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import { pythonEmitter } from '../src/emitters/python/index.ts';
import { checkName, kernelKey, nativeName } from '../src/emitters/python/layout.ts';
import { pyCall, pyDisplay } from '../src/emit/python.ts';
import { opKernels } from '../src/ir/kernels.ts';
import { FIXTURES, fixtureIr, ROOT, specIr } from './helpers.ts';

const scratch = mkdtempSync(join(tmpdir(), 'rank-relax-python-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** The project's venv tools (scripts/setup.sh), else the ones on PATH. */
function tool(name: string): string {
  const local = join(ROOT, '.venv/bin', name);
  return existsSync(local) ? local : name;
}

const cases = [...FIXTURES.map((f) => [f, fixtureIr(f)] as const), ['spec', specIr()] as const];

describe.each(cases)('%s', (name, ir) => {
  const files = pythonEmitter.emit(ir);
  const dir = join(scratch, name);
  for (const f of files) {
    mkdirSync(dirname(join(dir, f.path)), { recursive: true });
    writeFileSync(join(dir, f.path), f.contents);
  }
  copyFileSync(join(ROOT, 'packages/python/pyproject.toml'), join(dir, 'packages/python/pyproject.toml'));
  const python = files.filter((f) => /\.pyi?$/.test(f.path)).map((f) => join(dir, f.path));

  it('every Python file parses', () => {
    const check = 'import ast, sys\nfor p in sys.argv[1:]: ast.parse(open(p).read(), p)';
    execFileSync(tool('python'), ['-c', check, ...python], { stdio: 'pipe' });
  });

  it('is ruff-clean and ruff-formatted', () => {
    const cwd = join(dir, 'packages/python');
    execFileSync(tool('ruff'), ['check', '--no-cache', ...python], { cwd, stdio: 'pipe' });
    execFileSync(tool('ruff'), ['format', '--check', '--no-cache', ...python], { cwd, stdio: 'pipe' });
  });

  it('the Rust glue is rustfmt-clean', () => {
    const rust = files.filter((f) => f.path.endsWith('.rs')).map((f) => join(dir, f.path));
    execFileSync('rustfmt', ['--check', '--edition', '2021', ...rust], { stdio: 'pipe' });
  });

  it('the stub declares exactly the functions the glue registers', () => {
    const glue = files.find((f) => f.path.endsWith('generated.rs'))?.contents ?? '';
    const stub = files.find((f) => f.path.endsWith('_native.pyi'))?.contents ?? '';
    const registered = [...glue.matchAll(/#\[pyo3\(name = "(\w+)"/g)].map((m) => m[1]).sort();
    const declared = [...stub.matchAll(/^def (\w+)\(/gm)].map((m) => m[1]).filter((n) => !n?.includes('threads') && n !== 'xla_handlers');
    expect(registered.length).toBe(ir.ops.reduce((sum, op) => sum + ir.dtypes.length * opKernels(op).length + 1, 0));
    expect(declared.sort()).toEqual(registered);
  });

  it('names every kernel in the NumPy table, and a torch custom op per kernel', () => {
    const numpy = files.find((f) => f.path.endsWith('rank_relax/_generated.py'))?.contents ?? '';
    const torch = files.find((f) => f.path.endsWith('torch/_generated.py'))?.contents ?? '';
    for (const op of ir.ops) {
      for (const { pass } of opKernels(op)) {
        for (const d of ir.dtypes) expect(numpy).toContain(`_native.${nativeName(op, pass, d)}`);
        expect(torch).toContain(`"rank_relax::${kernelKey(op, pass)}"`);
      }
      expect(numpy).toContain(`_native.${checkName(op)}`);
    }
  });

  it('starts every file with the generated banner', () => {
    for (const f of files) {
      const first = f.contents.split('\n')[0];
      expect(first === `# ${ir.generatedNotice}` || first === `// ${ir.generatedNotice}`).toBe(true);
    }
  });
});

describe('names and layout', () => {
  const op = specIr().ops.find((o) => o.name.spec === 'soft_rank');
  const f64 = specIr().dtypes.find((d) => d.id === 'f64');

  it.each([
    ['native kernel', () => (op && f64 ? nativeName(op, 'forward', f64) : ''), 'soft_rank_forward_f64'],
    ['kernel key / torch op', () => (op ? kernelKey(op, 'backward') : ''), 'soft_rank_backward'],
    ['params checker', () => (op ? checkName(op) : ''), 'soft_rank_check_params'],
  ])('%s', (_, given, want) => {
    expect(given()).toBe(want);
  });

  it.each([
    ['fits', pyCall(4, 'f', ['a', 'b']), ['    f(a, b)']],
    ['too long: exploded with a trailing comma', pyCall(90, 'f', ['aaaa', 'bbbb']), [`${' '.repeat(90)}f(`, `${' '.repeat(94)}aaaa,`, `${' '.repeat(94)}bbbb,`, `${' '.repeat(90)})`]],
    ['display', pyDisplay(0, 'x = ', '[', ['"a"'], ']'), ['x = ["a"]']],
  ])('python layout: %s', (_, given, want) => {
    expect(given).toEqual(want);
  });
});

describe('JAX functions and XLA FFI handlers of the spec', () => {
  const files = pythonEmitter.emit(specIr());
  const text = (suffix: string) => files.find((f) => f.path.endsWith(suffix))?.contents ?? '';
  const xla = text('xla_generated.rs');
  const jax = text('jax/_generated.py');

  it('decodes int and list params as attributes, an op-own enum with its enum, and sizes rows from the shapes', () => {
    expect(xla).toContain('let k = rr_frame.int_attr("k")?;');
    expect(xla).toContain('let quantiles = rr_frame.real_list_attr::<T>("quantiles")?;');
    expect(xla).toContain('rr_frame.enum_attr("regularization", rank_relax::TopkRegularization::parse)?;');
    expect(xla).toContain('rr_part.rows_mut(&mut result, quantiles.len())');
    expect(xla).toContain('rr_part.rows_mut(&mut permutation_matrix, rr_part.shape.n * rr_part.shape.n)');
    expect(xla).toContain('quantiles: quantiles.clone(),');
  });

  it('takes int and list params as static values, checked before the core, and shapes results from them', () => {
    expect(jax).toContain('_rr_k = _rr.int_param("soft_topk", "k", k)');
    expect(jax).toContain('_rr_quantiles = _rr.real_list("soft_quantile", "quantiles", quantiles)');
    expect(jax).toContain('(_rr.shaped(values, (len(quantiles),)), _rr.like(values, jnp.int32))');
    expect(jax).toContain('(_rr.shaped(values, (values.shape[-1], values.shape[-1])),)');
    expect(jax).toMatch(/nondiff_argnums=\(2, 4\)\)\ndef _rr_soft_quantile\(/);
    expect(jax).toMatch(/nondiff_argnums=\(2, 4, 5\)\)\ndef _rr_soft_topk\(/);
  });
});
