// The only code that touches the disk besides the spec loader. `diff` compares a plan with the
// tree; `write` makes the tree match it (writing changed files, removing orphans under owned
// folders and owned files no longer emitted).
import { mkdir, readdir, readFile, rm, rmdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';

import type { Plan } from '../emit/plan.ts';

export interface Drift {
  /** On disk with other contents. */
  readonly stale: readonly string[];
  /** Not on disk. */
  readonly missing: readonly string[];
  /** On disk under an owned path, but no longer generated. */
  readonly orphaned: readonly string[];
}

async function readOrNull(file: string): Promise<string | null> {
  try {
    return await readFile(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT' || (e as NodeJS.ErrnoException).code === 'ENOTDIR') return null;
    throw e;
  }
}

/** Files under a folder, repository-relative, recursively; [] if it does not exist. */
async function listFiles(root: string, folder: string): Promise<string[]> {
  let entries;
  try {
    entries = await readdir(join(root, folder), { withFileTypes: true });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
  const out: string[] = [];
  for (const entry of entries) {
    const path = `${folder}${entry.name}`;
    if (entry.isDirectory()) out.push(...(await listFiles(root, `${path}/`)));
    else out.push(path);
  }
  return out;
}

async function onDisk(root: string, owned: readonly string[]): Promise<string[]> {
  const found: string[] = [];
  for (const o of owned) {
    if (o.endsWith('/')) found.push(...(await listFiles(root, o)));
    else if ((await readOrNull(join(root, o))) !== null) found.push(o);
  }
  return found.sort();
}

export async function diff(root: string, plan: Plan): Promise<Drift> {
  const stale: string[] = [];
  const missing: string[] = [];
  for (const f of plan.files) {
    const current = await readOrNull(join(root, f.path));
    if (current === null) missing.push(f.path);
    else if (current !== f.contents) stale.push(f.path);
  }
  const emitted = new Set(plan.files.map((f) => f.path));
  const orphaned = (await onDisk(root, plan.owned)).filter((p) => !emitted.has(p));
  return { stale, missing, orphaned };
}

export interface WriteResult {
  readonly written: readonly string[];
  readonly removed: readonly string[];
  readonly unchanged: number;
}

export async function write(root: string, plan: Plan): Promise<WriteResult> {
  const drift = await diff(root, plan);
  const toWrite = new Set([...drift.stale, ...drift.missing]);
  for (const f of plan.files) {
    if (!toWrite.has(f.path)) continue;
    await mkdir(dirname(join(root, f.path)), { recursive: true });
    await writeFile(join(root, f.path), f.contents, 'utf8');
  }
  for (const path of drift.orphaned) {
    await rm(join(root, path));
    await removeEmptyParents(root, dirname(path), plan.owned);
  }
  return { written: [...toWrite].sort(), removed: drift.orphaned, unchanged: plan.files.length - toWrite.size };
}

/** Removes now-empty folders inside an owned folder (never the owned folder's parents). */
async function removeEmptyParents(root: string, dir: string, owned: readonly string[]): Promise<void> {
  let current = dir;
  while (owned.some((o) => o.endsWith('/') && `${current}/`.startsWith(o) && `${current}/` !== o)) {
    try {
      await rmdir(join(root, current));
    } catch {
      return;
    }
    current = dirname(current);
  }
}
