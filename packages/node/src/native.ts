// Loads the native addon (rank-relax.<platform>.node, built by `napi build --platform`) and checks
// that it was generated from the same spec as this package: an addon with another ABI hash is
// refused with an Error naming both hashes, before any op can run.
import { join } from 'node:path';

import { ABI_HASH, type OpBinding } from './generated/binding.js';

/** The hand-written runtime exports of the addon (crates/rank-relax-node/src/plumbing.rs). */
export interface RuntimeBinding {
  version(): string;
  abiVersion(): number;
  abiHash(): string;
  setNumThreads(threads: number): void;
  numThreads(): number;
}

export type Native = OpBinding & RuntimeBinding;

function isMusl(): boolean {
  const report = process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined;
  return report?.header?.glibcVersionRuntime === undefined;
}

/** The platform part of the file name, as `napi build --platform` spells it: `linux-x64-gnu`. */
export function platformTriple(): string {
  const { platform, arch } = process;
  if (platform === 'linux') return `linux-${arch}-${isMusl() ? 'musl' : 'gnu'}`;
  if (platform === 'win32') return `win32-${arch}-msvc`;
  return `${platform}-${arch}`;
}

/** Where the addon is: `RANK_RELAX_NODE_ADDON` if set, else beside package.json. */
export function addonPath(): string {
  const override = process.env['RANK_RELAX_NODE_ADDON'];
  if (override !== undefined && override !== '') return override;
  return join(__dirname, '..', `rank-relax.${platformTriple()}.node`);
}

/** Throws unless the addon reports this package's ABI hash. */
export function checkAbi(addon: { abiHash?: unknown }, path: string): void {
  const got = typeof addon.abiHash === 'function' ? String((addon.abiHash as () => unknown)()) : '(no abiHash export)';
  if (got !== ABI_HASH) {
    throw new Error(
      `@rank-relax/node: the native addon ${path} has ABI hash ${got}, but this package was generated ` +
        `for ABI hash ${ABI_HASH}; rebuild the addon (pnpm -C packages/node build:native)`,
    );
  }
}

/** Loads and checks the addon. */
export function load(path: string = addonPath()): Native {
  let addon: Native;
  try {
    addon = require(path) as Native;
  } catch (e) {
    throw new Error(
      `@rank-relax/node: cannot load the native addon ${path}: ${(e as Error).message}. Build it with ` +
        '`pnpm -C packages/node build:native`, or set RANK_RELAX_NODE_ADDON to its path.',
      { cause: e },
    );
  }
  checkAbi(addon, path);
  return addon;
}

/** The addon, loaded and checked once, when the package is first imported. */
export const native: Native = load();
