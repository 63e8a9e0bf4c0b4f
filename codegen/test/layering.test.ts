// What may depend on what in the generator: the IR knows no target, an emitter imports only the
// shared layers (`src/ir`, `src/emit`, `src/util`) and its own folder, never another emitter.
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

import { describe, expect, it } from 'vitest';

import { CODEGEN } from './helpers.ts';

const SRC = join(CODEGEN, 'src');

function files(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? files(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  );
}

/** Repository-relative (to src/) targets of a file's relative imports and re-exports. */
function imports(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const found = [...text.matchAll(/(?:^|\n)\s*(?:import|export)\b[^;]*?\bfrom\s+'(\.[^']+)'/g)].map((m) => m[1] as string);
  return found.map((spec) => relative(SRC, resolve(dirname(file), spec)).split('\\').join('/'));
}

const EMITTERS = readdirSync(join(SRC, 'emitters'), { withFileTypes: true })
  .filter((e) => e.isDirectory())
  .map((e) => e.name)
  .sort();

describe('layering', () => {
  it.each(EMITTERS.map((t) => [t]))('the %s emitter imports no other emitter', (target) => {
    const foreign = files(join(SRC, 'emitters', target)).flatMap((f) =>
      imports(f)
        .filter((i) => i.startsWith('emitters/') && !i.startsWith(`emitters/${target}/`))
        .map((i) => `${relative(SRC, f)} → ${i}`),
    );
    expect(foreign).toEqual([]);
  });

  it('the shared layers import no emitter (only the registry lists them)', () => {
    const shared = ['ir', 'emit', 'spec', 'util', 'write'].flatMap((d) => files(join(SRC, d)));
    const bad = shared
      .filter((f) => relative(SRC, f) !== join('emit', 'registry.ts'))
      .flatMap((f) => imports(f).filter((i) => i.startsWith('emitters/')).map((i) => `${relative(SRC, f)} → ${i}`));
    expect(bad).toEqual([]);
  });
});

/**
 * Fields of the IR types named after a target or a language (`c`, `python`, `tsArray`, `rustType`,
 * `cSymbol`, …): `interface.field`. A target's spellings belong in its own folder
 * (`src/emitters/<target>/names.ts`), computed from the neutral IR.
 */
function targetFields(): string[] {
  const text = readFileSync(join(SRC, 'ir', 'types.ts'), 'utf8');
  const target = /^(?:c|rust|python|julia|ts|node|numpy|tsArray|(?:c|rust|py|python|julia|ts|node|numpy)[A-Z]\w*)$/;
  const found: string[] = [];
  let owner = '';
  for (const line of text.split('\n')) {
    const decl = /^(?:export )?(?:interface|type) (\w+)/.exec(line);
    if (decl) owner = decl[1] as string;
    const field = /^\s+readonly (\w+)\??:/.exec(line);
    if (field && target.test(field[1] as string)) found.push(`${owner}.${field[1]}`);
  }
  return found.sort();
}

/**
 * The target-specific fields still in the IR (generator v2, item 5: they move to the targets'
 * `names` modules). The list only shrinks: adding a target's spelling to the IR fails here, and so
 * does moving one out without deleting its line.
 */
const REMAINING_TARGET_FIELDS = [
  // The C ABI's own names: the contract every target shares, hashed by ir/abi-hash.ts.
  'RuntimeFnIR.cSymbol',
  'StatusIR.c',
  'VariantKernelIR.cSymbol',
].sort();

describe('a target-neutral IR', () => {
  it('adds no target-specific field to the IR types (and the list of those left only shrinks)', () => {
    expect(targetFields()).toEqual(REMAINING_TARGET_FIELDS);
  });
});

describe('the docs emitter lays out what the targets describe', () => {
  const docsFiles = files(join(SRC, 'emitters', 'docs'));

  it('imports no target-specific spelling: only the shared layers and the hooks they pass it', () => {
    // ir/names.ts spells identifiers per target (`rustIdent(x)` …): a docs page that used it
    // would speak a language itself.
    const bad = docsFiles.flatMap((f) => imports(f).filter((i) => i === 'ir/names.ts').map((i) => `${relative(SRC, f)} → ${i}`));
    expect(bad).toEqual([]);
  });

  it('has no module of its own per language', () => {
    const names = docsFiles.map((f) => relative(join(SRC, 'emitters', 'docs'), f)).sort();
    expect(names).toEqual(['index-page.ts', 'index.ts', 'op-page.ts']);
  });

  it('every language target that the reference documents implements describe', async () => {
    const { emitters } = await import('../src/emit/registry.ts');
    const described = emitters.filter((e) => e.describe !== undefined).map((e) => e.name);
    expect(described).toEqual(['c', 'julia', 'node', 'python']);
  });
});
