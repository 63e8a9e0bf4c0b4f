import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { parseDocument, stringify } from 'yaml';

import { irFromText } from '../src/pipeline.ts';
import type { IR } from '../src/ir/types.ts';

export const CODEGEN = join(dirname(fileURLToPath(import.meta.url)), '..');
export const ROOT = join(CODEGEN, '..');
export const SPEC_PATH = 'bindings-spec/rank-relax.yaml';
export const FIXTURES = ['minimal', 'extra-op'] as const;

export function fixturePath(name: string): string {
  return `codegen/test/fixtures/${name}.yaml`;
}

export function readRepo(path: string): string {
  return readFileSync(join(ROOT, path), 'utf8');
}

export function fixtureIr(name: string): IR {
  const path = fixturePath(name);
  return irFromText(readRepo(path), path);
}

export function specIr(): IR {
  return irFromText(readRepo(SPEC_PATH), SPEC_PATH);
}

/** The real spec as plain data, changed by `edit`, back to YAML. */
export function editedSpec(edit: (spec: any) => void, base = SPEC_PATH): string {
  const data = parseDocument(readRepo(base)).toJS();
  edit(data);
  return stringify(data);
}

/** A deterministic shuffle of every map's keys (lists keep their order). */
export function shuffleKeys(value: unknown, seed = 1): unknown {
  let state = seed;
  const random = () => {
    state = (state * 1103515245 + 12345) % 2147483648;
    return state / 2147483648;
  };
  const walk = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(walk);
    if (typeof v !== 'object' || v === null) return v;
    const keys = Object.keys(v);
    for (let i = keys.length - 1; i > 0; i--) {
      const j = Math.floor(random() * (i + 1));
      [keys[i], keys[j]] = [keys[j] as string, keys[i] as string];
    }
    return Object.fromEntries(keys.map((k) => [k, walk((v as Record<string, unknown>)[k])]));
  };
  return walk(value);
}
