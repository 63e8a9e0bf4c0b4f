// The HVPs (second order, `<op>Hvp`): for every op with an HVP kernel, regularization and
// direction, against central finite differences of the op's own VJP (in the inputs and in ε),
// symmetric (⟨w, H t⟩ = ⟨t, H w⟩ with the ε entries), float32 against float64 on rounded inputs,
// async and `out` equal to the sync call, and the core's messages for bad tangents and cotangents.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import * as rr from '@rank-relax/node';

import { assertClose, assertSameArray, dot, groupIds, like, norm, randoms, relevance, tangentsOf } from './helpers.mjs';

/**
 * Every op with each value of its enum params: the inputs (2 rows of 6), how many of them (from the
 * first) are differentiable, and the options. The ops built on the permutahedron
 * projection get an ε large enough to merge blocks: with every block a singleton the op is the hard
 * sort, and its Hessian is zero. An int32 input (softRankGrouped's group ids) is an Int32Array in
 * every dtype.
 */
const CASES = [];
for (const regularization of ['l2', 'kl']) {
  for (const direction of ['ascending', 'descending']) {
    CASES.push(['softRank', [randoms(12, 3)], 1, { n: 6, regularizationStrength: 5, regularization, direction }]);
    CASES.push(['softSort', [randoms(12, 5)], 1, { n: 6, regularizationStrength: 5, regularization, direction }]);
    CASES.push(['softRankGrouped', [randoms(12, 19), groupIds(12, 20)], 1, { n: 6, regularizationStrength: 5, regularization, direction }]);
  }
  CASES.push(['spearmanLoss', [randoms(12, 8), randoms(12, 9)], 2, { n: 6, regularizationStrength: 0.2, regularization }]);
  CASES.push(['ndcgLoss', [randoms(12, 10), relevance(12, 11)], 1, { n: 6, regularizationStrength: 5, regularization }]);
  CASES.push(['softQuantile', [randoms(12, 5)], 1, { n: 6, quantiles: [0.1, 0.5, 0.75, 1], regularizationStrength: 5, regularization }]);
}
for (const direction of ['ascending', 'descending']) {
  CASES.push(['sigmoidRank', [randoms(12, 6)], 1, { n: 6, regularizationStrength: 0.2, direction }]);
  for (const regularization of ['l2', 'p43']) {
    CASES.push(['softTopk', [randoms(12, 12)], 1, { n: 6, k: 2, regularizationStrength: 0.4, regularization, direction }]);
  }
  CASES.push(['neuralSort', [randoms(12, 16)], 1, { n: 6, regularizationStrength: 0.3, direction }]);
  CASES.push(['neuralSortApply', [randoms(12, 17), randoms(12, 18)], 2, { n: 6, regularizationStrength: 0.25, direction }]);
}

/** Every op has an HVP kernel: each must be bound. */
const WITH_HVP = [...new Set(CASES.map(([name]) => name))];


/** A cotangent of the op's output at these inputs. */
const cotangentOf = (name, inputs, options, seed, Type = Float64Array) => randoms(rr[name](...inputs, options).length, seed, Type);

/** The gradients (or products) as one flat list of numbers in key order: arrays, then the ε entry. */
const flatten = (g) => Object.keys(g).flatMap((k) => (typeof g[k] === 'number' ? [g[k]] : Array.from(g[k])));

const label = (name, options) => `${name} ${JSON.stringify({ ...options, n: undefined })}`;

describe('every op whose spec has an HVP kernel has <op>Hvp and <op>HvpAsync', () => {
  for (const name of WITH_HVP) {
    it(name, () => {
      assert.equal(typeof rr[`${name}Hvp`], 'function');
      assert.equal(typeof rr[`${name}HvpAsync`], 'function');
    });
  }
});

describe('HVP against central finite differences of the VJP (float64)', () => {
  const h = 1e-6;
  const tol = { abs: 1e-7, rel: 1e-5 };
  for (const [name, inputs, nd, options] of CASES) {
    it(label(name, options), () => {
      const vjp = rr[`${name}Vjp`];
      const hvp = rr[`${name}Hvp`];
      const g = cotangentOf(name, inputs, options, 19);
      const tangents = tangentsOf(inputs, nd, 21);
      const eps = options.regularizationStrength;
      // The VJP's gradients at inputs + s·h·t and ε + s·h·tε, flattened.
      const at = (sign, t, tEps) =>
        flatten(vjp(...inputs.map((x, k) => (k < nd ? x.map((v, i) => v + sign * h * t[k][i]) : x)), g, { ...options, regularizationStrength: eps + sign * h * tEps }));
      const fd = (t, tEps) => {
        const [plus, minus] = [at(1, t, tEps), at(-1, t, tEps)];
        return plus.map((v, i) => (v - minus[i]) / (2 * h));
      };

      // Along the input tangents, ε fixed.
      const got = hvp(...inputs, g, ...tangents, options);
      assert.deepEqual(Object.keys(got), Object.keys(vjp(...inputs, g, options)), 'shaped as the gradients');
      for (const k of Object.keys(got)) if (typeof got[k] !== 'number') assert.ok(got[k] instanceof Float64Array, k);
      assertClose(Float64Array.from(flatten(got)), fd(tangents, 0), tol, `${name}Hvp along the inputs`);

      // Along ε alone.
      const zeros = tangents.map((t) => new Float64Array(t.length));
      const alongEps = flatten(hvp(...inputs, g, ...zeros, { ...options, tangentRegularizationStrength: 1 }));
      assert.ok(norm(alongEps) > 1e-4, 'a product that can fail: not all zero');
      assertClose(Float64Array.from(alongEps), fd(zeros, 1), tol, `${name}Hvp along ε`);

      // Both at once.
      const both = flatten(hvp(...inputs, g, ...tangents, { ...options, tangentRegularizationStrength: -2.5 }));
      assertClose(Float64Array.from(both), fd(tangents, -2.5), tol, `${name}Hvp along the inputs and ε`);
    });
  }
});

describe('HVP symmetric: ⟨(w, w_ε), H (t, t_ε)⟩ = ⟨(t, t_ε), H (w, w_ε)⟩ (float64)', () => {
  for (const [name, inputs, nd, options] of CASES) {
    it(label(name, options), () => {
      const hvp = rr[`${name}Hvp`];
      const g = cotangentOf(name, inputs, options, 29);
      const [t, tEps] = [tangentsOf(inputs, nd, 31), 0.7];
      const [w, wEps] = [tangentsOf(inputs, nd, 37), -1.3];
      const ht = hvp(...inputs, g, ...t, { ...options, tangentRegularizationStrength: tEps });
      const hw = hvp(...inputs, g, ...w, { ...options, tangentRegularizationStrength: wEps });
      // The tangents as the products are laid out: the inputs' entries, then ε's.
      const pair = (v, vEps) => [...v.flatMap((a) => Array.from(a)), vEps];
      const [tv, wv] = [pair(t, tEps), pair(w, wEps)];
      const [htv, hwv] = [flatten(ht), flatten(hw)];
      assert.equal(htv.length, wv.length, 'one entry per tangent entry and one for ε');
      const lhs = dot(wv, htv);
      const rhs = dot(tv, hwv);
      assert.ok(Math.abs(lhs) > 1e-6, 'a product that can fail: not zero');
      const scale = norm(wv) * norm(htv) + norm(tv) * norm(hwv);
      assert.ok(Math.abs(lhs - rhs) <= 1e-12 * scale, `${lhs} vs ${rhs} (scale ${scale})`);
    });
  }
});

describe('HVP in float32 against float64 on the same (rounded) inputs', () => {
  for (const [name, inputs, nd, options] of CASES) {
    it(label(name, options), () => {
      const hvp = rr[`${name}Hvp`];
      const in32 = inputs.map((x) => like(x, Float32Array));
      const g32 = cotangentOf(name, inputs, options, 49, Float32Array);
      const t32 = tangentsOf(inputs, nd, 51, Float32Array);
      const opts = { ...options, tangentRegularizationStrength: 0.5 };
      const got = hvp(...in32, g32, ...t32, opts);
      for (const k of Object.keys(got)) if (typeof got[k] !== 'number') assert.ok(got[k] instanceof Float32Array, k);
      const to64 = (a) => Float64Array.from(a);
      const want = flatten(hvp(...in32.map((x) => like(x, Float64Array)), to64(g32), ...t32.map(to64), opts));
      const scale = Math.max(...want.map(Math.abs));
      assertClose(Float64Array.from(flatten(got)), Float64Array.from(want), { abs: 1e-4 * scale, rel: 0 }, `${name}Hvp f32`);
    });
  }
});

describe('async HVP and `out` equal the sync call', () => {
  for (const [name, inputs, nd, options] of CASES) {
    for (const T of [Float64Array, Float32Array]) {
      it(`${label(name, options)} ${T.name}`, async () => {
        const hvp = rr[`${name}Hvp`];
        const xs = inputs.map((x) => like(x, T));
        const g = cotangentOf(name, inputs, options, 59, T);
        const ts = tangentsOf(inputs, nd, 61, T);
        const opts = { ...options, tangentRegularizationStrength: 0.25 };
        const sync = hvp(...xs, g, ...ts, opts);
        const async_ = await rr[`${name}HvpAsync`](...xs, g, ...ts, opts);
        assert.deepEqual(Object.keys(async_), Object.keys(sync));
        for (const k of Object.keys(sync)) {
          if (typeof sync[k] === 'number') assert.equal(async_[k], sync[k], `async ${k}`);
          else assertSameArray(async_[k], sync[k], `async ${k}`);
        }
        // Stale contents must be overwritten, not accumulated into.
        const arrays = Object.keys(sync).filter((k) => typeof sync[k] !== 'number');
        const out = Object.fromEntries(arrays.map((k) => [k, new T(sync[k].length).fill(NaN)]));
        const got = hvp(...xs, g, ...ts, { ...opts, out });
        for (const k of arrays) {
          assert.equal(got[k], out[k], `returns out.${k} itself`);
          assertSameArray(got[k], sync[k], `out.${k}`);
        }
      });
    }
  }
});

describe('bad tangents and cotangents: the core message, naming the op and the argument', () => {
  const values = randoms(6, 71);
  const zeros = new Float64Array(6);
  const withNaN = (len, at) => {
    const a = new Float64Array(len);
    a[at] = NaN;
    return a;
  };

  it('a tangent or a cotangent of the wrong length', () => {
    assert.throws(() => rr.softSortHvp(values, zeros, new Float64Array(5), { n: 3 }), {
      name: 'RangeError',
      code: 'RR_ERR_SHAPE_MISMATCH',
      message: 'soft_sort: tangent_values has 5 elements, expected batch × n = 2 × 3 = 6',
    });
    assert.throws(() => rr.softSortHvp(values, new Float64Array(7), zeros, { n: 3 }), {
      name: 'RangeError',
      code: 'RR_ERR_SHAPE_MISMATCH',
      message: 'soft_sort: cotangent_sorted has 7 elements, expected batch × n = 2 × 3 = 6',
    });
    assert.throws(() => rr.neuralSortApplyHvp(values, values, zeros, zeros, new Float64Array(4), { n: 3 }), {
      message: 'neural_sort_apply: tangent_payload has 4 elements, expected batch × n = 2 × 3 = 6',
    });
    assert.throws(() => rr.softQuantileHvp(values, new Float64Array(6), zeros, { n: 3, quantiles: [0.5, 0.9] }), {
      message: 'soft_quantile: cotangent_result has 6 elements, expected batch × m = 2 × 2 = 4 (m = the number of quantiles)',
    });
  });

  it('the async HVP rejects the same way', async () => {
    await assert.rejects(rr.softTopkHvpAsync(values, zeros, new Float64Array(4)), {
      name: 'RangeError',
      message: 'soft_topk: tangent_values has 4 elements, expected batch × n = 1 × 6 = 6',
    });
  });

  it('a NaN tangent, a NaN cotangent, a NaN ε tangent', () => {
    assert.throws(() => rr.softSortHvp(values, zeros, withNaN(6, 4), { n: 3 }), {
      name: 'RangeError',
      code: 'RR_ERR_INVALID_VALUE',
      message: 'soft_sort: tangent_values[1, 1] is NaN',
    });
    assert.throws(() => rr.sigmoidRankHvp(values, withNaN(6, 2), zeros, { n: 3 }), {
      name: 'RangeError',
      code: 'RR_ERR_INVALID_VALUE',
      message: 'sigmoid_rank: cotangent_ranks[0, 2] is NaN',
    });
    assert.throws(() => rr.neuralSortApplyHvp(values, values, zeros, zeros, withNaN(6, 5)), { message: 'neural_sort_apply: tangent_payload[0, 5] is NaN' });
    assert.throws(() => rr.softTopkHvp(values, zeros, zeros, { tangentRegularizationStrength: NaN }), {
      name: 'RangeError',
      message: 'soft_topk: tangent_regularization_strength is NaN',
    });
  });

  it('arrays of another type, out on the async HVP, out overlapping an input', async () => {
    assert.throws(() => rr.softSortHvp(values, new Float32Array(6), zeros), {
      name: 'TypeError',
      message: 'soft_sort: cotangentSorted must be a Float64Array like the first input, got an array of float32',
    });
    await assert.rejects(rr.softSortHvpAsync(values, zeros, zeros, { out: {} }), {
      name: 'TypeError',
      message: 'soft_sort: unknown option "out" (only the sync call, its VJP, its JVP and its HVP take out); the options are n, mask, regularizationStrength, regularization, direction, tangentRegularizationStrength',
    });
    assert.throws(() => rr.softSortHvp(values, zeros, zeros, { out: { values } }), {
      name: 'TypeError',
      message: 'soft_sort: hvp_values overlaps values; a written buffer must not share memory with another buffer of the call',
    });
  });
});
