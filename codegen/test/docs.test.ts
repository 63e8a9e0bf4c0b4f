// The docs target beyond its goldens: every binding defines the public names the IR gives each op
// (`op.api`, which the reference shows), so an emitter that spells one itself fails here, not in a
// reader's hands; the Julia signatures are the ones RankRelax.jl's own docstrings show; each page
// has one runnable example per language and an error row per constraint; and the examples of every
// fixture compile (Python parses; C compiles against that fixture's generated header).
// scripts/check-docs.sh runs the real spec's examples against the built packages.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import { cEmitter } from '../src/emitters/c/index.ts';
import { errorCases } from '../src/emit/error-cases.ts';
import { juliaSignature } from '../src/emitters/julia/describe.ts';
import { emitters } from '../src/emit/registry.ts';
import { juliaApi } from '../src/emitters/julia/names.ts';
import { nodeApi, tsName } from '../src/emitters/node/names.ts';
import { pythonApi } from '../src/emitters/python/names.ts';
import { NO_RUN } from '../src/emit/markdown.ts';
import { juliaEmitter } from '../src/emitters/julia/index.ts';
import { nodeEmitter } from '../src/emitters/node/index.ts';
import { pythonEmitter } from '../src/emitters/python/index.ts';
import type { Emitter } from '../src/emit/types.ts';
import type { IR } from '../src/ir/types.ts';
import { FIXTURES, fixtureIr, ROOT, specIr } from './helpers.ts';

const docsEmitter = emitters.find((e) => e.name === 'docs') as Emitter;

const scratch = mkdtempSync(join(tmpdir(), 'rank-relax-docs-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const cases = [...FIXTURES.map((f) => [f, fixtureIr(f)] as const), ['spec', specIr()] as const];

function text(emitter: Emitter, ir: IR, pattern: RegExp = /./): string {
  return emitter
    .emit(ir)
    .filter((f) => pattern.test(f.path))
    .map((f) => f.contents)
    .join('\n');
}

interface Block {
  readonly lang: string;
  readonly code: string;
  readonly run: boolean;
}

/** Fenced blocks of a page, with whether the no-run marker precedes them. */
function blocks(markdown: string): Block[] {
  const out: Block[] = [];
  const re = /(?:^|\n)((?:<!-- no-run -->\n)?)```(\w*)\n([\s\S]*?)\n```/g;
  for (const m of markdown.matchAll(re)) out.push({ lang: m[2] ?? '', code: m[3] ?? '', run: m[1] !== `${NO_RUN}\n` });
  return out;
}

/** The venv's python (scripts/setup.sh), else python3 on PATH. */
const python = existsSync(join(ROOT, '.venv/bin/python')) ? join(ROOT, '.venv/bin/python') : 'python3';

describe.each(cases)('%s', (name, ir) => {
  const pages = docsEmitter.emit(ir);
  const page = (op: string) => pages.find((p) => p.path === `docs/api/${op}.md`)?.contents ?? '';

  it('writes an index and one page per op under docs/api/', () => {
    expect(pages.map((p) => p.path).sort()).toEqual(['docs/api/README.md', ...ir.ops.map((o) => `docs/api/${o.name.snake}.md`)].sort());
  });

  describe.each(ir.ops.map((op) => [op.name.spec, op] as const))('op %s', (_, op) => {
    it('has the Python names of the IR in the NumPy, PyTorch and JAX modules', () => {
      const n = pythonApi(op);
      const module = (sub: string) => text(pythonEmitter, ir, new RegExp(`/rank_relax/${sub}_generated\\.py$`));
      expect(module('')).toContain(`def ${n.fn}(`);
      expect(module('')).toContain(`def ${n.vjp}(`);
      for (const sub of ['torch/', 'jax/']) expect(module(sub)).toContain(`def ${n.fn}(`);
    });

    it('has the Julia names of the IR in RankRelax.jl, and its docstring signatures', () => {
      const jl = text(juliaEmitter, ir);
      const n = juliaApi(op);
      for (const fn of [n.fn, n.forward, n.pullback, n.forwardInto, n.pullbackInto]) expect(jl).toContain(`function ${fn}(`);
      expect(jl).toContain(`struct ${n.tape}{`);
      const [keywords, positional] = juliaSignature(op).split('\n');
      expect(jl).toContain(`    ${keywords?.replace(/ -> .*$/, '')}\n`);
      if (op.paramGrads.length > 0) expect(jl).toContain(`    ${positional?.replace(/ -> .*$/, '')}\n`);
    });

    it('has the Node names of the IR in @rank-relax/node', () => {
      const ts = text(nodeEmitter, ir, /\.ts$/);
      const n = nodeApi(op);
      for (const fn of [n.fn, n.fnAsync, n.vjp, n.vjpAsync, n.withVjp]) expect(ts).toMatch(new RegExp(`export (async )?function ${fn}\\(`));
      for (const t of [n.options, n.outOptions, n.vjpOptions, n.gradientsOut, n.gradients, n.withVjpResult]) {
        expect(ts).toMatch(new RegExp(`export interface ${t}\\b`));
      }
      for (const p of op.params) expect(ts).toContain(`readonly ${tsName(p.name)}?:`);
    });

    it('shows the C symbols of the header', () => {
      const header = text(cEmitter, ir, /\.h$/);
      for (const v of op.variants) for (const k of [v.forward, v.backward]) expect(header).toContain(`${k.cSymbol}(`);
    });

    it('has one runnable example per language, and signatures that do not run', () => {
      const bs = blocks(page(op.name.snake));
      const runnable = bs.filter((b) => b.run).map((b) => b.lang);
      // The error check (NumPy), then C, NumPy, PyTorch, JAX, Julia, Node.
      expect(runnable).toEqual(['python', 'c', 'python', 'python', 'python', 'julia', 'ts']);
      expect(bs.filter((b) => !b.run).map((b) => b.lang)).toEqual(['c', 'python', 'python', 'python', 'julia', 'ts']);
    });

    it('lists an error for every constraint of the spec', () => {
      const conditions = errorCases(op).map((c) => c.condition);
      // An optional input (the mask) is left at its default in every example.
      const required = op.inputs.filter((x) => !x.optional);
      // An int32 input (group ids) has no NaN: only the real ones get that row.
      for (const i of required.filter((x) => x.elem === 'real')) expect(conditions).toContain(`a NaN or an infinite value in \`${i.name.spec}\``);
      for (const i of required.filter((x) => x.elem !== 'real')) expect(conditions).not.toContain(`a NaN or an infinite value in \`${i.name.spec}\``);
      for (const i of op.inputs.filter((x) => x.constraint === 'nonnegative')) expect(conditions).toContain(`a negative value in \`${i.name.spec}\``);
      for (const p of op.params.filter((x) => x.type === 'enum')) expect(conditions).toContain(`an unknown \`${p.name.spec}\``);
      expect(conditions.some((c) => c.startsWith('fewer than'))).toBe(op.minN > 1);
      expect(conditions.filter((c) => c.endsWith('of different shapes'))).toHaveLength(required.length - 1);
      for (const c of conditions) expect(page(op.name.snake)).toContain(`| ${c.replace(/\|/g, '\\|')} |`);
    });
  });

  it('every Python block parses', () => {
    const sources = pages.flatMap((p) => blocks(p.contents).filter((b) => b.lang === 'python' && b.run).map((b) => b.code));
    expect(sources.length).toBeGreaterThan(0);
    const check = 'import ast, json, sys\nfor s in json.load(sys.stdin): ast.parse(s)';
    execFileSync(python, ['-c', check], { input: JSON.stringify(sources), stdio: ['pipe', 'pipe', 'pipe'] });
  });

  it('every C example compiles against the header generated from the same spec', () => {
    const dir = join(scratch, name);
    for (const f of cEmitter.emit(ir)) {
      mkdirSync(dirname(join(dir, f.path)), { recursive: true });
      writeFileSync(join(dir, f.path), f.contents);
    }
    const sources = pages.flatMap((p) => blocks(p.contents).filter((b) => b.lang === 'c' && b.run).map((b) => b.code));
    expect(sources).toHaveLength(ir.ops.length);
    sources.forEach((src, k) => {
      const file = join(dir, `example_${k}.c`);
      writeFileSync(file, src);
      execFileSync('cc', ['-std=c99', '-fsyntax-only', '-Wall', '-Wextra', '-Werror', '-pedantic', '-I', join(dir, 'crates/rank-relax-ffi/include'), file], { stdio: 'pipe' });
    });
  });
});
