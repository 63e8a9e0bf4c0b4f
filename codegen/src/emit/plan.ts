// Runs every emitter over the IR and checks what they return: paths are repository-relative and
// normalised, each lies under a path its emitter owns, no path is emitted twice, no two producers
// own overlapping paths. The result is the complete set of generated files, sorted by path.
import { posix } from 'node:path';

import { CodegenError } from '../spec/errors.ts';
import type { IR } from '../ir/types.ts';
import { checkCapabilities } from './capabilities.ts';
import type { Emitter, GeneratedFile } from './types.ts';

export interface Producer {
  readonly name: string;
  readonly owns: readonly string[];
  readonly files: readonly GeneratedFile[];
}

export interface Plan {
  /** Sorted by path. */
  readonly files: readonly GeneratedFile[];
  /** Every owned path (folders end in `/`), sorted. */
  readonly owned: readonly string[];
}

/** Every emitter's files, once the IR is within every emitter's capabilities (else a CodegenError). */
export function runEmitters(ir: IR, emitters: readonly Emitter[]): Producer[] {
  checkCapabilities(ir, emitters);
  return emitters.map((e) => ({ name: e.name, owns: e.owns, files: e.emit(ir) }));
}

function isOwned(path: string, owned: string): boolean {
  return owned.endsWith('/') ? path.startsWith(owned) : path === owned;
}

function overlaps(a: string, b: string): boolean {
  return a === b || (a.endsWith('/') && b.startsWith(a)) || (b.endsWith('/') && a.startsWith(b));
}

export function makePlan(producers: readonly Producer[]): Plan {
  const problems: string[] = [];
  const byPath = new Map<string, string>();
  const owned: [string, string][] = [];
  for (const p of producers) {
    for (const o of p.owns) {
      for (const [other, by] of owned) {
        if (overlaps(o, other)) problems.push(`${p.name} owns ${o}, which overlaps ${other} owned by ${by}`);
      }
      owned.push([o, p.name]);
    }
    for (const f of p.files) {
      const normal = posix.normalize(f.path);
      if (normal !== f.path || f.path.startsWith('/') || f.path.startsWith('../')) {
        problems.push(`${p.name} emitted ${JSON.stringify(f.path)}, not a normalised repository-relative path`);
      }
      if (!p.owns.some((o) => isOwned(f.path, o))) problems.push(`${p.name} emitted ${f.path} outside the paths it owns`);
      const previous = byPath.get(f.path);
      if (previous !== undefined) problems.push(`${f.path} is emitted by both ${previous} and ${p.name}`);
      byPath.set(f.path, p.name);
      if (!f.contents.endsWith('\n') || f.contents.includes('\r') || /[ \t]\n/.test(f.contents)) {
        problems.push(`${p.name} emitted ${f.path} with CR, trailing spaces or no final newline`);
      }
    }
  }
  if (problems.length > 0) throw new CodegenError(['the emitters disagree:', ...problems.map((x) => `  ${x}`)]);
  const files = producers.flatMap((p) => p.files).sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return { files, owned: owned.map(([o]) => o).sort() };
}
