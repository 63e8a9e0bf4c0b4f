// The in-place VJP of soft_rank, soft_sort and soft_topk (spec `in_place_vjp`, ADR 0011): a gradient array
// that is the cotangent array itself is written over it by the core's `backward_in_place`, bit for
// bit what a separate gradient array gets, through the public API's `out` and the raw binding. Any
// other overlap (a partial one, the gradient over an input) is still refused, and so is the alias
// for an op without `in_place_vjp` and for the async jobs.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import * as rr from '@rank-relax/node';

const { native } = await import('../dist/native.js');

/** Deterministic pseudo-random values (a small LCG), with ties: multiples of 1/8 in [-2, 2). */
function values(len, seed, Type) {
  const out = new Type(len);
  let s = seed >>> 0;
  for (let i = 0; i < len; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = Math.floor((s / 2 ** 32) * 32) / 8 - 2;
  }
  return out;
}

/** The bytes of an array: equal bytes are equal bits (-0 ≠ 0, every NaN payload). */
function bytes(a) {
  return Array.from(new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
}

function assertSameBits(got, want, what) {
  assert.equal(got.constructor, want.constructor, `${what}: type`);
  assert.equal(got.length, want.length, `${what}: length`);
  assert.deepEqual(bytes(got), bytes(want), what);
}

const CONFIGS = [
  { regularization: 'l2', direction: 'ascending', regularizationStrength: 0.3 },
  { regularization: 'kl', direction: 'descending', regularizationStrength: 0.7 },
];
/** The params of the raw binding of soft_rank and soft_sort: ε, regularization, direction. */
const rawParams = ({ regularizationStrength, regularization, direction }) => [regularizationStrength, regularization, direction];

/**
 * [name in messages, function prefix, name of the cotangent in the core, the arrays of the raw
 * backward before the cotangent (from the input, no mask, and the forward's output and permutation), the
 * configurations to test, the raw binding's params of one]
 */
const OPS = [
  ['soft_rank', 'softRank', 'cotangent_ranks', (x, out, perm) => [x, null, out, perm], CONFIGS, rawParams],
  ['soft_sort', 'softSort', 'cotangent_sorted', (x, _out, perm) => [x, null, perm], CONFIGS, rawParams],
  [
    'soft_topk',
    'softTopk',
    'cotangent_selection',
    (x, _out, perm) => [x, null, perm],
    [
      { k: 2, regularization: 'l2', direction: 'descending', regularizationStrength: 0.3 },
      { k: 3, regularization: 'p43', direction: 'ascending', regularizationStrength: 0.7 },
    ],
    ({ k, regularizationStrength, regularization, direction }) => [k, regularizationStrength, regularization, direction],
  ],
];
const TYPES = [
  [Float64Array, 'F64'],
  [Float32Array, 'F32'],
];
/** The raw params of a call with ε = 1, l2, ascending (and k = 2). */
const plain = (params) => params({ k: 2, regularizationStrength: 1, regularization: 'l2', direction: 'ascending' });

/** The addon's one overlap message (the C ABI's): `written` shares memory with `other`. */
const overlapError = (op, written, other, inPart = false) => (e) => {
  assert.ok(e instanceof TypeError, `expected TypeError, got ${e?.constructor?.name}: ${e?.message}`);
  assert.equal(e.code, 'RR_ERR_INVALID_ARGUMENT');
  const hint = inPart ? ` (${written} may be ${other} itself, but not overlap it in part)` : '';
  assert.equal(e.message, `${op}: ${written} overlaps ${other}; a written buffer must not share memory with another buffer of the call${hint}`);
  return true;
};

describe('in-place VJP through the public API (out.values is the cotangent)', () => {
  const n = 37;
  const batch = 24;
  for (const [op, fn, cotangentName, saves, configs] of OPS) {
    for (const [T] of TYPES) {
      for (const config of configs) {
        it(`${fn}Vjp ${T.name} ${config.regularization} ${config.direction}: the gradient over the cotangent, bit for bit the separate one`, () => {
          const x = values(batch * n, 11, T);
          const cot = values(batch * n, 12, T);
          const options = { n, ...config };
          for (const threads of [1, 2]) {
            rr.setNumThreads(threads);
            const want = rr[`${fn}Vjp`](x, cot, options);
            // Sanity: a real gradient, not the cotangent passed through or zeros.
            assert.notDeepEqual(bytes(want.values), bytes(cot), 'the gradient differs from the cotangent');
            assert.ok(want.values.some((g) => g !== 0), 'a nonzero gradient');
            assert.ok(Number.isFinite(want.regularizationStrength));

            const c = cot.slice();
            const xBefore = x.slice();
            const got = rr[`${fn}Vjp`](x, c, { ...options, out: { values: c } });
            assert.equal(got.values, c, 'returns the cotangent array itself');
            assertSameBits(c, want.values, `${op} gradient over the cotangent (${threads} threads)`);
            assert.ok(Object.is(got.regularizationStrength, want.regularizationStrength), 'regularizationStrength gradient');
            assertSameBits(x, xBefore, 'the input is untouched');

            // A view of exactly the cotangent's memory (another object) is the cotangent too.
            const c2 = cot.slice();
            const view = new T(c2.buffer, c2.byteOffset, c2.length);
            assert.equal(rr[`${fn}Vjp`](x, c2, { ...options, out: { values: view } }).values, view);
            assertSameBits(c2, want.values, `${op} gradient over a view of the cotangent`);
          }
          rr.setNumThreads(0);
        });
      }
    }
  }

  it('known numbers: one PAV block (large ε, l2), f64', () => {
    // With ε ≫ the spread of the values, l2 pools each row into one block: soft_rank is
    // θ/ε − mean(θ/ε) + (n + 1)/2, so its VJP is (c − mean(c))/ε; soft_sort is mean(θ) everywhere,
    // so its VJP is mean(c) everywhere.
    const x = new Float64Array([3, 1, 2]);
    const c = new Float64Array([1, 0, 0]);
    const ranks = rr.softRankVjp(x, c, { regularizationStrength: 100, out: { values: c } });
    assert.equal(ranks.values, c);
    const wantRank = [2 / 300, -1 / 300, -1 / 300];
    for (let i = 0; i < 3; i++) assert.ok(Math.abs(c[i] - wantRank[i]) < 1e-15, `soft_rank grad[${i}] = ${c[i]}, expected ${wantRank[i]}`);

    const s = new Float64Array([1, 0, 0]);
    rr.softSortVjp(x, s, { regularizationStrength: 100, out: { values: s } });
    for (let i = 0; i < 3; i++) assert.ok(Math.abs(s[i] - 1 / 3) < 1e-15, `soft_sort grad[${i}] = ${s[i]}, expected 1/3`);
  });

  it('an error leaves the cotangent unchanged', () => {
    const x = new Float64Array([3, 1, 2]);
    const c = new Float64Array([0.5, NaN, -0.25]);
    assert.throws(() => rr.softRankVjp(x, c, { out: { values: c } }), (e) => {
      assert.ok(e instanceof RangeError);
      assert.equal(e.code, 'RR_ERR_INVALID_VALUE');
      assert.equal(e.message, 'soft_rank: cotangent_ranks[0, 1] is NaN');
      return true;
    });
    assertSameBits(c, new Float64Array([0.5, NaN, -0.25]), 'cotangent after the error');
  });

  it('empty arrays', () => {
    const c = new Float32Array(0);
    const got = rr.softSortVjp(new Float32Array(0), c, { out: { values: c } });
    assert.equal(got.values, c);
    assert.equal(got.regularizationStrength, 0);
  });
});

describe('in-place VJP through the raw binding (grad_values is cotangent_*)', () => {
  const n = 9;
  const batch = 5;
  for (const [op, fn, cotangentName, saves, configs, params] of OPS) {
    for (const [T, suffix] of TYPES) {
      for (const config of configs) {
        it(`${fn}Vjp${suffix} and ${fn}Backward${suffix}, ${config.regularization} ${config.direction}`, () => {
          const x = values(batch * n, 21, T);
          const cot = values(batch * n, 22, T);
          const args = [batch, n, ...params(config)];

          // vjp: forward and backward in one call.
          const grad = new T(batch * n);
          const gEps = new T(batch);
          native[`${fn}Vjp${suffix}`](...args, x, null, cot, grad, gEps);
          const c = cot.slice();
          const gEpsIn = new T(batch);
          native[`${fn}Vjp${suffix}`](...args, x, null, c, c, gEpsIn);
          assertSameBits(c, grad, `${op} vjp: the gradient over the cotangent`);
          assertSameBits(gEpsIn, gEps, `${op} vjp: regularization_strength gradient`);

          // backward: from the residuals of a forward.
          const out = new T(batch * n);
          const perm = new Int32Array(batch * n);
          native[`${fn}Forward${suffix}`](...args, x, null, out, perm);
          const grad2 = new T(batch * n);
          const gEps2 = new T(batch);
          native[`${fn}Backward${suffix}`](...args, ...saves(x, out, perm), cot, grad2, gEps2);
          assertSameBits(grad2, grad, `${op} backward equals vjp`);
          const c2 = cot.slice();
          const gEps2In = new T(batch);
          native[`${fn}Backward${suffix}`](...args, ...saves(x, out, perm), c2, c2, gEps2In);
          assertSameBits(c2, grad2, `${op} backward: the gradient over the cotangent`);
          assertSameBits(gEps2In, gEps2, `${op} backward: regularization_strength gradient`);
        });
      }
    }
  }
});

describe('any other overlap is still refused', () => {
  const x = new Float64Array([3, 1, 2]);

  for (const [op, fn, cotangentName, saves, , params] of OPS) {
    const p = plain(params);
    it(`${fn}Vjp: out.values overlapping the cotangent in part`, () => {
      const big = new Float64Array([0.5, -1, 2, 0.25]);
      const c = big.subarray(0, 3);
      const g = big.subarray(1, 4);
      assert.throws(
        () => rr[`${fn}Vjp`](x, c, { out: { values: g } }),
        overlapError(op, 'grad_values', cotangentName, true),
      );
      assert.deepEqual(Array.from(big), [0.5, -1, 2, 0.25], 'nothing written');
    });

    it(`${fn}Vjp: out.values is the cotangent, which is the input`, () => {
      const v = new Float64Array([3, 1, 2]);
      assert.throws(() => rr[`${fn}Vjp`](v, v, { out: { values: v } }), overlapError(op, 'grad_values', 'values'));
      assert.deepEqual(Array.from(v), [3, 1, 2]);
    });

    it(`${fn}Vjp: out.values is the input`, () => {
      const v = new Float64Array([3, 1, 2]);
      assert.throws(() => rr[`${fn}Vjp`](v, new Float64Array(3), { out: { values: v } }), overlapError(op, 'grad_values', 'values'));
    });

    it(`raw ${fn}VjpF64 and ${fn}BackwardF64: partial overlaps`, () => {
      const big = new Float64Array([0.5, -1, 2, 0.25, 1]);
      const c = big.subarray(0, 3);
      const before = Array.from(big);
      // grad_values one element past the cotangent: the same length, another start.
      assert.throws(() => native[`${fn}VjpF64`](1, 3, ...p, x, null, c, big.subarray(1, 4), new Float64Array(1)), overlapError(op, 'grad_values', cotangentName, true));
      // The same start, a longer array (the core would see another length): not the cotangent.
      assert.throws(() => native[`${fn}VjpF64`](1, 3, ...p, x, null, c, big.subarray(0, 4), new Float64Array(1)), overlapError(op, 'grad_values', cotangentName, true));
      assert.deepEqual(Array.from(big), before, 'nothing written');

      // In place, but over an input, or with the other gradient inside it.
      const v = new Float64Array([3, 1, 2]);
      assert.throws(() => native[`${fn}VjpF64`](1, 3, ...p, v, null, v, v, new Float64Array(1)), overlapError(op, 'grad_values', 'values'));
      const cg = new Float64Array([0.5, -1, 2]);
      assert.throws(() => native[`${fn}VjpF64`](1, 3, ...p, x, null, cg, cg, cg.subarray(2, 3)), overlapError(op, 'grad_values', 'grad_regularization_strength'));
      assert.deepEqual(Array.from(cg), [0.5, -1, 2], 'nothing written');
      const out = new Float64Array(3);
      const perm = new Int32Array(3);
      native[`${fn}ForwardF64`](1, 3, ...p, v, null, out, perm);
      assert.throws(() => native[`${fn}BackwardF64`](1, 3, ...p, ...saves(v, out, perm), v, v, new Float64Array(1)), overlapError(op, 'grad_values', 'values'));
      if (op === 'soft_rank') {
        // The saved output (ranks) as the cotangent and the gradient.
        assert.throws(() => native[`${fn}BackwardF64`](1, 3, ...p, ...saves(v, out, perm), out, out, new Float64Array(1)), overlapError(op, 'grad_values', 'ranks'));
      }
      assert.deepEqual(Array.from(v), [3, 1, 2], 'nothing written');
    });

    it(`raw ${fn}VjpF64Async: a job refuses the alias (it writes while the caller runs)`, async () => {
      const c = new Float64Array([0.5, -1, 2]);
      assert.throws(() => native[`${fn}VjpF64Async`](1, 3, ...p, x, null, c, c, new Float64Array(1)), overlapError(op, 'grad_values', cotangentName));
    });
  }

  it('an op without in_place_vjp (sigmoid_rank) still refuses the cotangent as its gradient', () => {
    const c = new Float64Array([0.5, -1, 2]);
    assert.throws(() => rr.sigmoidRankVjp(x, c, { out: { values: c } }), overlapError('sigmoid_rank', 'grad_values', 'cotangent_ranks'));
    assert.throws(() => native.sigmoidRankVjpF64(1, 3, 1, 'ascending', x, null, c, c, new Float64Array(1)), overlapError('sigmoid_rank', 'grad_values', 'cotangent_ranks'));
    assert.deepEqual(Array.from(c), [0.5, -1, 2], 'nothing written');
  });
});
