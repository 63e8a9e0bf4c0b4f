// The JVPs (forward mode, `<op>Jvp`): for every op, regularization and direction, against central
// finite differences of the forward (in the inputs and in ε), adjoint to the VJP, linear in the
// tangents, float32 against float64 on rounded inputs, async and `out` equal to the sync call, and
// the core's messages for bad tangents.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import * as rr from '@rank-relax/node';

import { assertClose, assertSameArray, dot, groupIds, like, norm, randoms, relevance, tangentsOf } from './helpers.mjs';

/**
 * Every op with each value of its enum params: the inputs (2 rows of 6), how many of them (from the
 * first) are differentiable, and the options. An int32 input (softRankGrouped's group ids) is an
 * Int32Array in every dtype.
 */
const CASES = [];
for (const regularization of ['l2', 'kl']) {
  for (const direction of ['ascending', 'descending']) {
    CASES.push(['softRank', [randoms(12, 3)], 1, { n: 6, regularizationStrength: 0.3, regularization, direction }]);
    CASES.push(['softSort', [randoms(12, 5)], 1, { n: 6, regularizationStrength: 0.4, regularization, direction }]);
    CASES.push(['softRankGrouped', [randoms(12, 19), groupIds(12, 20)], 1, { n: 6, regularizationStrength: 0.3, regularization, direction }]);
  }
  CASES.push(['spearmanLoss', [randoms(12, 8), randoms(12, 9)], 2, { n: 6, regularizationStrength: 0.4, regularization }]);
  CASES.push(['ndcgLoss', [randoms(12, 10), relevance(12, 11)], 1, { n: 6, regularizationStrength: 0.3, regularization }]);
  CASES.push(['softQuantile', [randoms(12, 14)], 1, { n: 6, quantiles: [0.1, 0.5, 0.75, 1], regularizationStrength: 0.3, regularization }]);
}
for (const direction of ['ascending', 'descending']) {
  CASES.push(['sigmoidRank', [randoms(12, 6)], 1, { n: 6, regularizationStrength: 0.2, direction }]);
  for (const regularization of ['l2', 'p43']) {
    CASES.push(['softTopk', [randoms(12, 12)], 1, { n: 6, k: 2, regularizationStrength: 0.4, regularization, direction }]);
  }
  CASES.push(['neuralSort', [randoms(12, 16)], 1, { n: 6, regularizationStrength: 0.3, direction }]);
  CASES.push(['neuralSortApply', [randoms(12, 17), randoms(12, 18)], 2, { n: 6, regularizationStrength: 0.25, direction }]);
}


const label = (name, options) => `${name} ${JSON.stringify({ ...options, n: undefined })}`;

describe('JVP against central finite differences of the forward (float64)', () => {
  const h = 1e-6;
  const tol = { abs: 1e-7, rel: 1e-5 };
  for (const [name, inputs, nd, options] of CASES) {
    it(label(name, options), () => {
      const f = rr[name];
      const jvp = rr[`${name}Jvp`];
      const tangents = tangentsOf(inputs, nd, 21);
      // Along the input tangents, ε fixed.
      const step = (sign) => inputs.map((x, k) => (k < nd ? x.map((v, i) => v + sign * h * tangents[k][i]) : x));
      const fd = f(...step(1), options).map((v, i) => (v - f(...step(-1), options)[i]) / (2 * h));
      const got = jvp(...inputs, ...tangents, options);
      assert.ok(got instanceof Float64Array);
      assert.ok(norm(got) > 1e-3, 'a tangent that can fail: not all zero');
      assertClose(got, fd, tol, `${name}Jvp along the inputs`);

      // Along ε alone.
      const eps = options.regularizationStrength;
      const atEps = (e) => f(...inputs, { ...options, regularizationStrength: e });
      const fdEps = atEps(eps + h).map((v, i) => (v - atEps(eps - h)[i]) / (2 * h));
      const zeros = tangents.map((t) => new Float64Array(t.length));
      assertClose(jvp(...inputs, ...zeros, { ...options, tangentRegularizationStrength: 1 }), fdEps, tol, `${name}Jvp along ε`);

      // Linear in the tangents: both at once is the sum, and the ε tangent scales.
      const both = jvp(...inputs, ...tangents, { ...options, tangentRegularizationStrength: -2.5 });
      assertClose(both, got.map((v, i) => v - 2.5 * fdEps[i]), tol, `${name}Jvp along the inputs and ε`);
    });
  }
});

describe('JVP adjoint to the VJP: ⟨u, jvp(t, t_ε)⟩ = ⟨vjp(u), t⟩ + t_ε·∂ε (float64)', () => {
  for (const [name, inputs, nd, options] of CASES) {
    it(label(name, options), () => {
      const tangents = tangentsOf(inputs, nd, 31);
      const tEps = 0.7;
      const jvp = rr[`${name}Jvp`](...inputs, ...tangents, { ...options, tangentRegularizationStrength: tEps });
      const u = randoms(jvp.length, 41);
      const grads = rr[`${name}Vjp`](...inputs, u, options);
      const keys = Object.keys(grads).filter((k) => grads[k] instanceof Float64Array);
      assert.equal(keys.length, nd, 'one gradient per tangent');
      const lhs = dot(u, jvp);
      const rhs = keys.reduce((s, k, i) => s + dot(grads[k], tangents[i]), 0) + tEps * grads.regularizationStrength;
      const scale = norm(u) * (norm(jvp) + keys.reduce((s, k, i) => s + norm(grads[k]) * norm(tangents[i]), 0) + Math.abs(tEps * grads.regularizationStrength));
      assert.ok(Math.abs(lhs - rhs) <= 1e-12 * scale, `${lhs} vs ${rhs} (scale ${scale})`);
    });
  }
});

describe('JVP in float32 against float64 on the same (rounded) inputs', () => {
  for (const [name, inputs, nd, options] of CASES) {
    it(label(name, options), () => {
      const jvp = rr[`${name}Jvp`];
      const in32 = inputs.map((x) => like(x, Float32Array));
      const t32 = tangentsOf(inputs, nd, 51, Float32Array);
      const opts = { ...options, tangentRegularizationStrength: 0.5 };
      const got = jvp(...in32, ...t32, opts);
      assert.ok(got instanceof Float32Array);
      const want = jvp(...in32.map((x) => like(x, Float64Array)), ...t32.map((t) => Float64Array.from(t)), opts);
      const scale = Math.max(...want.map(Math.abs));
      assertClose(got, want, { abs: 1e-4 * scale, rel: 0 }, `${name}Jvp f32`);
    });
  }
});

describe('async JVP and `out` equal the sync call', () => {
  for (const [name, inputs, nd, options] of CASES) {
    for (const T of [Float64Array, Float32Array]) {
      it(`${label(name, options)} ${T.name}`, async () => {
        const jvp = rr[`${name}Jvp`];
        const xs = inputs.map((x) => like(x, T));
        const ts = tangentsOf(inputs, nd, 61, T);
        const opts = { ...options, tangentRegularizationStrength: 0.25 };
        const sync = jvp(...xs, ...ts, opts);
        assertSameArray(await rr[`${name}JvpAsync`](...xs, ...ts, opts), sync, 'async');
        // Stale contents must be overwritten, not accumulated into.
        const out = new T(sync.length).fill(NaN);
        const got = jvp(...xs, ...ts, { ...opts, out });
        assert.equal(got, out, 'returns out itself');
        assertSameArray(got, sync, 'out');
      });
    }
  }
});

describe('bad tangents: the core message, naming the op and the argument', () => {
  const values = randoms(6, 71);
  it('a tangent of the wrong length', () => {
    assert.throws(() => rr.softRankJvp(values, new Float64Array(5), { n: 3 }), {
      name: 'RangeError',
      code: 'RR_ERR_SHAPE_MISMATCH',
      message: 'soft_rank: tangent_values has 5 elements, expected batch × n = 2 × 3 = 6',
    });
    assert.throws(() => rr.spearmanLossJvp(values, values, values, new Float64Array(7), { n: 3 }), {
      message: 'spearman_loss: tangent_targets has 7 elements, expected batch × n = 2 × 3 = 6',
    });
  });

  it('the async JVP rejects the same way', async () => {
    await assert.rejects(rr.softSortJvpAsync(values, new Float64Array(4)), {
      name: 'RangeError',
      message: 'soft_sort: tangent_values has 4 elements, expected batch × n = 1 × 6 = 6',
    });
  });

  it('a NaN tangent, a NaN ε tangent', () => {
    const t = new Float64Array(6);
    t[4] = NaN;
    assert.throws(() => rr.softRankJvp(values, t, { n: 3 }), { name: 'RangeError', code: 'RR_ERR_INVALID_VALUE', message: 'soft_rank: tangent_values[1, 1] is NaN' });
    assert.throws(() => rr.neuralSortApplyJvp(values, values, new Float64Array(6), t), { message: 'neural_sort_apply: tangent_payload[0, 4] is NaN' });
    assert.throws(() => rr.softTopkJvp(values, new Float64Array(6), { tangentRegularizationStrength: NaN }), {
      name: 'RangeError',
      message: 'soft_topk: tangent_regularization_strength is NaN',
    });
    assert.throws(() => rr.softQuantileJvp(Float32Array.from(values), new Float32Array(6), { tangentRegularizationStrength: Infinity }), {
      message: 'soft_quantile: tangent_regularization_strength is +inf',
    });
  });

  it('a tangent of another type, a non-number ε tangent, out on the async JVP', async () => {
    assert.throws(() => rr.softRankJvp(values, new Float32Array(6)), {
      name: 'TypeError',
      message: 'soft_rank: tangentValues must be a Float64Array like the first input, got an array of float32',
    });
    assert.throws(() => rr.softRankJvp(values, new Float64Array(6), { tangentRegularizationStrength: '1' }), {
      name: 'TypeError',
      message: 'soft_rank: tangentRegularizationStrength must be a number, got a string',
    });
    await assert.rejects(rr.softRankJvpAsync(values, new Float64Array(6), { out: new Float64Array(6) }), {
      name: 'TypeError',
      message: 'soft_rank: unknown option "out" (only the sync call, its VJP, its JVP and its HVP take out); the options are n, mask, regularizationStrength, regularization, direction, tangentRegularizationStrength',
    });
    assert.throws(() => rr.softRankJvp(values, values, { out: values }), { name: 'TypeError', message: /soft_rank: tangent_ranks overlaps values/ });
  });
});
