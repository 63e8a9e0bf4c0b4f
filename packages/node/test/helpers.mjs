// Shared by the tests: the reference file, tolerances (ALGORITHMS.md), array comparisons.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const PACKAGE_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const REPO_ROOT = resolve(PACKAGE_DIR, '..', '..');

/** `RANK_RELAX_REFERENCE`, else the repository's testdata/reference/ops-v1.json. */
export function referencePath() {
  return fromEnv('RANK_RELAX_REFERENCE', 'ops-v1.json');
}

function fromEnv(name, file) {
  const env = process.env[name];
  return env !== undefined && env !== '' ? env : join(REPO_ROOT, 'testdata', 'reference', file);
}

/**
 * Every reference file the package replays: ops-v1.json (`RANK_RELAX_REFERENCE`), those of the
 * later ops, wave2-topk-quantile.json (`RANK_RELAX_REFERENCE_WAVE2`) and wave2-neural-sort.json
 * (`RANK_RELAX_REFERENCE_NEURAL_SORT`), the variables the core's readers take, and the masked rows
 * of every op, masks.json (`RANK_RELAX_REFERENCE_MASKS`).
 */
export function referencePaths() {
  return [
    referencePath(),
    fromEnv('RANK_RELAX_REFERENCE_WAVE2', 'wave2-topk-quantile.json'),
    fromEnv('RANK_RELAX_REFERENCE_NEURAL_SORT', 'wave2-neural-sort.json'),
    fromEnv('RANK_RELAX_REFERENCE_MASKS', 'masks.json'),
  ];
}

export function loadReference(path = referencePath()) {
  const data = JSON.parse(readFileSync(path, 'utf8'));
  assert.equal(data.format, 'rank-relax reference vectors v1');
  return data.cases;
}

/** `regularization_strength` → `regularizationStrength`, `soft_rank` → `softRank`. */
export function camel(snake) {
  return snake.replace(/_([a-z0-9])/g, (_, c) => c.toUpperCase());
}

/** Nested rows (`[B][n]`, `[B][n][n]`, `[B]`) as one flat row-major array. */
export function flat(rows, Type = Float64Array) {
  return Type.from([rows].flat(Infinity));
}

/** Whether an input of a reference case is bool (a mask: `[B][n]` JSON booleans). */
export const isBoolInput = (rows) => typeof [rows].flat(Infinity)[0] === 'boolean';

/** The arrays of a reference case, in the file's order (the spec's), without its bool inputs (options). */
export const caseArrays = (c) => Object.values(c.inputs).filter((rows) => !isBoolInput(rows));

/** Options of a reference case: its params in camelCase, the row length, and its bool inputs (`mask`) as arrays of booleans. */
export function caseOptions(c) {
  const first = caseArrays(c)[0];
  const options = { n: first[0].length };
  for (const [k, v] of Object.entries(c.inputs)) if (isBoolInput(v)) options[camel(k)] = [v].flat(Infinity);
  for (const [k, v] of Object.entries(c.params)) options[camel(k)] = v;
  return options;
}

/** |got − want| ≤ abs + rel·|want| element-wise, with the worst element in the message. */
export function assertClose(got, want, { abs, rel }, what) {
  assert.equal(got.length, want.length, `${what}: length`);
  let worst = -1;
  let excess = 0;
  for (let i = 0; i < want.length; i++) {
    const err = Math.abs(got[i] - want[i]) - (abs + rel * Math.abs(want[i]));
    if (!(err <= 0) && (worst < 0 || err > excess)) {
      worst = i;
      excess = err;
    }
  }
  if (worst >= 0) assert.fail(`${what}: element ${worst} is ${got[worst]}, expected ${want[worst]} (±${abs} + ${rel}·|x|)`);
}

/** Per row of width `n`: |got − want| ≤ tol · max |want| over the row. */
export function assertCloseRows(got, want, n, tol, what) {
  assert.equal(got.length, want.length, `${what}: length`);
  for (let r = 0; r * n < want.length; r++) {
    let scale = 0;
    for (let i = r * n; i < (r + 1) * n; i++) scale = Math.max(scale, Math.abs(want[i]));
    for (let i = r * n; i < (r + 1) * n; i++) {
      if (!(Math.abs(got[i] - want[i]) <= tol * scale + 1e-12)) {
        assert.fail(`${what}: row ${r}, element ${i - r * n} is ${got[i]}, expected ${want[i]} (±${tol} × ${scale})`);
      }
    }
  }
}

export function assertSameArray(got, want, what) {
  assert.equal(got.constructor, want.constructor, `${what}: type`);
  assert.deepEqual(Array.from(got), Array.from(want), what);
}

export const OUTPUT_TOL = { abs: 1e-9, rel: 1e-9 };
export const VJP_TOL = { abs: 1e-7, rel: 1e-9 };
export const F32_TOL = 1e-4;

/** Deterministic pseudo-random values in [-0.5, 0.5) (a small LCG): distinct, so away from ties. */
export function randoms(len, seed, Type = Float64Array) {
  const out = new Type(len);
  let s = seed >>> 0;
  for (let i = 0; i < len; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 2 ** 32 - 0.5;
  }
  return out;
}

/**
 * Deterministic group ids (an int32 input such as soft_rank_grouped's `groups`) as an Int32Array:
 * each drawn from the first `count` of a fixed list that holds the int32 extremes and a negative id.
 */
export function groupIds(len, seed, count = 3) {
  const ids = [7, -2147483648, 2147483647, 0, -3].slice(0, count);
  return Int32Array.from(randoms(len, seed), (v) => ids[Math.min(count - 1, Math.floor((v + 0.5) * count))]);
}

/** An input of a call in the float type `Type`: a real array converted (float32: rounded), an int32 one (group ids) as it is. */
export const like = (x, Type) => (x instanceof Int32Array ? x : Type.from(x));

/** Graded relevance in {0, 1, 2, 3}. */
export const relevance = (len, seed) => Float64Array.from(randoms(len, seed), (v) => Math.round(3 * (v + 0.5)));

export const dot = (a, b) => a.reduce((s, v, i) => s + v * b[i], 0);
export const norm = (a) => Math.sqrt(dot(a, a));

/** Tangents of the first `nd` (differentiable) inputs of a case. */
export const tangentsOf = (inputs, nd, seed, Type = Float64Array) => inputs.slice(0, nd).map((x, k) => randoms(x.length, seed + k, Type));
