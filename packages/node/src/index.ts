// @rank-relax/node: differentiable sorting and ranking over Float64Array / Float32Array.
//
// The op functions (softRank, softRankVjp, softRankAsync, softRankWithVjp, … for every op of the
// spec) are generated into ./generated/; this file adds the runtime functions.
import { native } from './native.js';
import { describe, rangeError, typeError } from './runtime.js';

export * from './generated/index.js';
export { ABI_HASH, ABI_VERSION, VERSION } from './generated/binding.js';
export type { BoolArray, RealArray, RealList, RowOptions } from './runtime.js';

/**
 * Caps the threads the core uses for the rows of one call (rows run in parallel when the batch is
 * large enough; results do not depend on the thread count).
 *
 * @param threads - The cap; 0 restores the default (the `RANK_RELAX_NUM_THREADS` environment
 *   variable, else the number of cores).
 */
export function setNumThreads(threads: number): void {
  if (typeof threads !== 'number') throw typeError(`setNumThreads: threads must be a number, got ${describe(threads)}`);
  if (!Number.isInteger(threads) || threads < 0 || threads > 0xffffffff) {
    throw rangeError(`setNumThreads: threads must be a non-negative integer, got ${threads}`);
  }
  native.setNumThreads(threads);
}

/** The number of threads the core uses now. */
export function numThreads(): number {
  return native.numThreads();
}

/** The ABI hash the loaded addon reports (always {@link ABI_HASH}: a mismatch fails at import). */
export function addonAbiHash(): string {
  return native.abiHash();
}
