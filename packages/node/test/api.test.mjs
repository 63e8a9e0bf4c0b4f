// The API beyond the reference vectors: batches and threads, 1-D defaults, gradients against
// finite differences (including the regularization_strength gradient), pullbacks that keep their
// own copies, async jobs in parallel, the ABI check of the loader.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';

import * as rr from '@rank-relax/node';

import { PACKAGE_DIR, assertClose, assertSameArray, groupIds } from './helpers.mjs';

/** Deterministic pseudo-random values (a small LCG), so failures reproduce. */
function randoms(len, seed = 1, Type = Float64Array) {
  const out = new Type(len);
  let s = seed >>> 0;
  for (let i = 0; i < len; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 2 ** 32 - 0.5;
  }
  return out;
}

describe('shapes and threads', () => {
  it('a batch equals its rows one by one, for any thread count', () => {
    const n = 50;
    const x = randoms(200 * n, 7);
    const rows = [];
    for (let r = 0; r < 200; r++) rows.push(...rr.softRank(x.subarray(r * n, (r + 1) * n), { regularizationStrength: 0.1 }));
    for (const threads of [1, 2, 0]) {
      rr.setNumThreads(threads);
      assert.deepEqual(Array.from(rr.softRank(x, { n, regularizationStrength: 0.1 })), rows);
    }
    assert.ok(rr.numThreads() >= 1);
  });

  it('one row by default, an empty input gives an empty output', () => {
    assert.equal(rr.softSort(new Float64Array([2, 1])).length, 2);
    assert.equal(rr.softRank(new Float64Array(0)).length, 0);
    assert.equal(rr.spearmanLoss(new Float64Array(6), new Float64Array(6), { n: 3 }).length, 2);
  });

  it('a subarray view is read in place (zero copy in)', () => {
    const big = new Float64Array([9, 3, 1, 2, 9]);
    assertSameArray(rr.softRank(big.subarray(1, 4), { regularizationStrength: 0.01 }), new Float64Array([3, 1, 2]), 'ranks');
  });

  it('setNumThreads checks its argument', () => {
    assert.throws(() => rr.setNumThreads(-1), RangeError);
    assert.throws(() => rr.setNumThreads('2'), TypeError);
  });
});

describe('gradients against central finite differences', () => {
  const ops = [
    ['softRank', [randoms(12, 3)], { n: 6, regularizationStrength: 0.7 }],
    ['softRank', [randoms(12, 4)], { n: 6, regularizationStrength: 0.3, regularization: 'kl', direction: 'descending' }],
    ['softSort', [randoms(12, 5)], { n: 6, regularizationStrength: 0.5 }],
    ['sigmoidRank', [randoms(12, 6)], { n: 6, regularizationStrength: 0.2 }],
    ['spearmanLoss', [randoms(12, 8), randoms(12, 9)], { n: 6, regularizationStrength: 0.4 }],
    ['ndcgLoss', [randoms(12, 10), Float64Array.from(randoms(12, 11), (v) => Math.round(3 * (v + 0.5)))], { n: 6, regularizationStrength: 0.3 }],
    ['softTopk', [randoms(12, 12)], { n: 6, k: 2, regularizationStrength: 0.4, regularization: 'p43' }],
    ['softTopk', [randoms(12, 13)], { n: 6, k: 4, regularizationStrength: 0.5, direction: 'ascending' }],
    ['softQuantile', [randoms(12, 14)], { n: 6, quantiles: [0.1, 0.5, 0.75, 1], regularizationStrength: 0.3 }],
    ['softQuantile', [randoms(12, 15)], { n: 6, quantiles: new Float64Array([0, 0.3]), regularizationStrength: 0.2, regularization: 'kl' }],
    ['neuralSort', [randoms(12, 16)], { n: 6, regularizationStrength: 0.3 }],
    ['neuralSortApply', [randoms(12, 17), randoms(12, 18)], { n: 6, regularizationStrength: 0.25, direction: 'descending' }],
    // The group ids (an Int32Array) have no gradient.
    ['softRankGrouped', [randoms(12, 19), groupIds(12, 20)], { n: 6, regularizationStrength: 0.5, regularization: 'kl', direction: 'descending' }],
  ];
  for (const [name, inputs, options] of ops) {
    it(`${name} ${JSON.stringify(options)}`, () => {
      const f = rr[name];
      const out = f(...inputs, options);
      const cot = randoms(out.length, 99);
      const dot = (y) => y.reduce((s, v, i) => s + v * cot[i], 0);
      const grads = rr[`${name}Vjp`](...inputs, cot, options);
      const h = 1e-6;
      inputs.forEach((x, k) => {
        const key = Object.keys(grads)[k];
        if (!(grads[key] instanceof Float64Array)) return; // relevance: no gradient
        const fd = new Float64Array(x.length);
        for (let i = 0; i < x.length; i++) {
          const plus = inputs.map((y) => y.slice());
          const minus = inputs.map((y) => y.slice());
          plus[k][i] += h;
          minus[k][i] -= h;
          fd[i] = (dot(f(...plus, options)) - dot(f(...minus, options))) / (2 * h);
        }
        assertClose(grads[key], fd, { abs: 1e-5, rel: 1e-4 }, `d/d${key}`);
      });
      const eps = options.regularizationStrength;
      const fdEps = (dot(f(...inputs, { ...options, regularizationStrength: eps + h })) - dot(f(...inputs, { ...options, regularizationStrength: eps - h }))) / (2 * h);
      assertClose([grads.regularizationStrength], [fdEps], { abs: 1e-5, rel: 1e-4 }, 'd/dregularizationStrength');
    });
  }
});

describe('out: caller-provided output and gradient arrays', () => {
  const relevance = (len, seed) => Float64Array.from(randoms(len, seed), (v) => Math.round(3 * (v + 0.5)));
  const ops = [
    ['softRank', (T) => [randoms(40, 31, T)], { n: 8, regularizationStrength: 0.3 }],
    ['softRank', (T) => [randoms(40, 32, T)], { n: 8, regularizationStrength: 0.3, regularization: 'kl', direction: 'descending' }],
    ['softSort', (T) => [randoms(40, 33, T)], { n: 8, regularizationStrength: 0.5 }],
    ['sigmoidRank', (T) => [randoms(40, 34, T)], { n: 8, regularizationStrength: 0.2 }],
    ['spearmanLoss', (T) => [randoms(40, 35, T), randoms(40, 36, T)], { n: 8, regularizationStrength: 0.4 }],
    ['ndcgLoss', (T) => [randoms(40, 37, T), T.from(relevance(40, 38))], { n: 8, regularizationStrength: 0.3 }],
    ['softTopk', (T) => [randoms(40, 42, T)], { n: 8, k: 3, regularizationStrength: 0.3 }],
    ['softQuantile', (T) => [randoms(40, 43, T)], { n: 8, quantiles: [0.2, 0.5, 0.9], regularizationStrength: 0.3 }],
    ['neuralSort', (T) => [randoms(40, 44, T)], { n: 8, regularizationStrength: 0.3 }],
    ['neuralSortApply', (T) => [randoms(40, 45, T), randoms(40, 46, T)], { n: 8, regularizationStrength: 0.3 }],
    ['softRankGrouped', (T) => [randoms(40, 47, T), groupIds(40, 48)], { n: 8, regularizationStrength: 0.3 }],
  ];
  for (const [name, make, options] of ops) {
    for (const T of [Float64Array, Float32Array]) {
      it(`${name} ${T.name} ${JSON.stringify(options)}: the same bits as fresh arrays, written into out`, () => {
        const inputs = make(T);
        const f = rr[name];
        const fresh = f(...inputs, options);
        // Stale contents (NaN) must be overwritten, not accumulated into.
        const out = new T(fresh.length).fill(NaN);
        const got = f(...inputs, { ...options, out });
        assert.equal(got, out, 'returns out itself');
        assertSameArray(got, fresh, 'output');

        const cot = randoms(fresh.length, 39, T);
        const want = rr[`${name}Vjp`](...inputs, cot, options);
        const keys = Object.keys(want).filter((k) => want[k] instanceof T);
        const given = Object.fromEntries(keys.map((k) => [k, new T(inputs[0].length).fill(NaN)]));
        const grads = rr[`${name}Vjp`](...inputs, cot, { ...options, out: given });
        for (const k of keys) {
          assert.equal(grads[k], given[k], `out.${k} is returned`);
          assertSameArray(grads[k], want[k], `gradient ${k}`);
        }
        assert.equal(grads.regularizationStrength, want.regularizationStrength);
        // Some of the gradients only: the others are new arrays.
        const [firstKey] = keys;
        const partial = rr[`${name}Vjp`](...inputs, cot, { ...options, out: { [firstKey]: given[firstKey] } });
        assert.equal(partial[firstKey], given[firstKey]);
        for (const k of keys) assertSameArray(partial[k], want[k], `partial ${k}`);
      });
    }
  }

  it('reused across calls, and into disjoint views of one buffer', () => {
    const n = 100;
    const x = randoms(32 * n, 41);
    const buffer = new Float64Array(3 * x.length);
    const out = buffer.subarray(x.length, 2 * x.length);
    const grad = buffer.subarray(2 * x.length);
    for (const eps of [0.1, 1, 0.01]) {
      assertSameArray(rr.softRank(x, { n, regularizationStrength: eps, out }), rr.softRank(x, { n, regularizationStrength: eps }), `ranks ε=${eps}`);
      assertSameArray(rr.softRankVjp(x, out, { n, regularizationStrength: eps, out: { values: grad } }).values, rr.softRankVjp(x, out, { n, regularizationStrength: eps }).values, `grad ε=${eps}`);
    }
    // An input may live in the same buffer, outside out.
    buffer.set(x, 0);
    const xs = buffer.subarray(0, x.length);
    assertSameArray(rr.softRank(xs, { n, out }), rr.softRank(x, { n }), 'input in the same buffer');
  });

  it('an empty out for an empty input', () => {
    const out = new Float64Array(0);
    assert.equal(rr.softRank(new Float64Array(0), { out }), out);
  });
});

describe('int and list params, an op’s own enum, outputs of shape [B, m] and [B, n, n]', () => {
  const x = new Float64Array([3, 1, 2, 0.5, -1, 4]);

  it('soft_topk: k = 1, descending and l2 by default; k and direction select', () => {
    const hard = { n: 3, regularizationStrength: 1e-3 };
    assert.deepEqual(Array.from(rr.softTopk(x, hard)), [1, 0, 0, 0, 0, 1]);
    assertSameArray(rr.softTopk(x, { ...hard, k: 1, direction: 'descending', regularization: 'l2' }), rr.softTopk(x, hard), 'explicit defaults');
    assert.deepEqual(Array.from(rr.softTopk(x, { ...hard, k: 2 })), [1, 0, 1, 1, 0, 1]);
    assert.deepEqual(Array.from(rr.softTopk(x, { ...hard, k: 2, direction: 'ascending' })), [0, 1, 1, 1, 1, 0]);
    // Every row sums to k, for either regularization.
    for (const regularization of ['l2', 'p43']) {
      const selection = rr.softTopk(x, { n: 3, k: 2, regularizationStrength: 5, regularization });
      assert.ok(Math.abs(selection[0] + selection[1] + selection[2] - 2) < 1e-12 && Math.abs(selection[3] + selection[4] + selection[5] - 2) < 1e-12, `${regularization}: rows sum to k`);
    }
  });

  it('soft_quantile: [B, m] from the quantiles given (an array or a typed array), the median by default', () => {
    const hard = { n: 3, regularizationStrength: 1e-3 };
    assert.deepEqual(Array.from(rr.softQuantile(x, hard)), [2, 0.5]);
    const q = rr.softQuantile(x, { ...hard, quantiles: [0, 0.25, 1] });
    assert.deepEqual(Array.from(q), [1, 1.5, 3, -1, -0.25, 4]);
    assertSameArray(rr.softQuantile(x, { ...hard, quantiles: new Float32Array([0, 0.25, 1]) }), q, 'Float32Array quantiles');
  });

  it('soft_quantile: quantiles in the call’s float type', () => {
    const x32 = Float32Array.from(x);
    const options = { n: 3, regularizationStrength: 0.5 };
    const rounded = rr.softQuantile(x32, { ...options, quantiles: [Math.fround(0.1), Math.fround(0.7)] });
    assert.ok(rounded instanceof Float32Array);
    assertSameArray(rr.softQuantile(x32, { ...options, quantiles: [0.1, 0.7] }), rounded, 'an array of doubles, rounded');
    assertSameArray(rr.softQuantile(x32, { ...options, quantiles: new Float64Array([0.1, 0.7]) }), rounded, 'a Float64Array, rounded');
  });

  it('soft_quantile: the quantiles are copied (changing them while a job runs changes nothing)', async () => {
    const values = randoms(500 * 40, 61);
    const quantiles = [0.1, 0.5, 0.9];
    const want = rr.softQuantile(values, { n: 40, quantiles });
    const pending = rr.softQuantileAsync(values, { n: 40, quantiles });
    quantiles.fill(0);
    assertSameArray(await pending, want, 'result');
  });

  it('neural_sort: [B, n, n], rows of P that sum to 1; P·values is neural_sort_apply(values, values)', () => {
    const n = 3;
    const p = rr.neuralSort(x, { n, regularizationStrength: 0.7 });
    assert.equal(p.length, 2 * n * n);
    for (let r = 0; r < 2 * n; r++) {
      const sum = p.subarray(r * n, (r + 1) * n).reduce((a, b) => a + b, 0);
      assert.ok(Math.abs(sum - 1) < 1e-12, `row ${r} of P sums to ${sum}`);
    }
    const applied = rr.neuralSortApply(x, x, { n, regularizationStrength: 0.7 });
    for (let b = 0; b < 2; b++) {
      for (let i = 0; i < n; i++) {
        let dot = 0;
        for (let j = 0; j < n; j++) dot += p[(b * n + i) * n + j] * x[b * n + j];
        assert.ok(Math.abs(dot - applied[b * n + i]) < 1e-12, `row ${b}, position ${i}: ${dot} vs ${applied[b * n + i]}`);
      }
    }
  });
});

describe('withVjp', () => {
  it('keeps its own copies of the saved arrays', () => {
    const x = randoms(10, 21);
    const cot = randoms(10, 22);
    const expected = rr.softRankVjp(x, cot, { regularizationStrength: 0.2 });
    const { ranks, vjp } = rr.softRankWithVjp(x, { regularizationStrength: 0.2 });
    x.fill(0);
    ranks.fill(0);
    assertSameArray(vjp(cot).values, expected.values, 'gradient after the caller changed its arrays');
  });

  it('keeps its own copy of a saved output of [B, n, n] (neural_sort saves P)', () => {
    const x = randoms(12, 23);
    const cot = randoms(2 * 6 * 6, 24);
    const expected = rr.neuralSortVjp(x, cot, { n: 6, regularizationStrength: 0.3 });
    const { permutationMatrix, vjp } = rr.neuralSortWithVjp(x, { n: 6, regularizationStrength: 0.3 });
    assert.equal(permutationMatrix.length, 72);
    x.fill(0);
    permutationMatrix.fill(0);
    const got = vjp(cot);
    assertSameArray(got.values, expected.values, 'gradient after the caller changed its arrays');
    assert.equal(got.regularizationStrength, expected.regularizationStrength);
  });
});

describe('async', () => {
  it('many jobs in flight give the sync results', async () => {
    const xs = Array.from({ length: 16 }, (_, i) => randoms(64 * 100, 100 + i));
    const results = await Promise.all(xs.map((x) => rr.softRankAsync(x, { n: 100, regularizationStrength: 0.05 })));
    xs.forEach((x, i) => assertSameArray(results[i], rr.softRank(x, { n: 100, regularizationStrength: 0.05 }), `job ${i}`));
  });

  it('copies its input: changing it after the call does not change the result', async () => {
    const x = randoms(1000 * 50, 5);
    const want = rr.softSort(x, { n: 50 });
    const pending = rr.softSortAsync(x, { n: 50 });
    x.fill(1);
    assertSameArray(await pending, want, 'result');
  });

  it('returns a promise even for bad input (rejects, does not throw)', async () => {
    const p = rr.softRankAsync([1, 2]);
    assert.ok(p instanceof Promise);
    await assert.rejects(p, TypeError);
  });
});

describe('loading', () => {
  it('refuses an addon with another ABI hash, naming both hashes', () => {
    const fake = join(tmpdir(), `rank-relax-fake-addon-${process.pid}.cjs`);
    writeFileSync(fake, "module.exports = { abiHash: () => '0x0000000000000bad' };\n");
    const r = spawnSync(process.execPath, ['-e', "require('@rank-relax/node')"], {
      cwd: PACKAGE_DIR,
      env: { ...process.env, RANK_RELAX_NODE_ADDON: fake },
      encoding: 'utf8',
    });
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, new RegExp(`has ABI hash 0x0000000000000bad, but this package was generated for ABI hash ${rr.ABI_HASH}`));
  });

  it('names the missing addon and how to build it', () => {
    const r = spawnSync(process.execPath, ['-e', "require('@rank-relax/node')"], {
      cwd: PACKAGE_DIR,
      env: { ...process.env, RANK_RELAX_NODE_ADDON: join(tmpdir(), 'no-such-addon.node') },
      encoding: 'utf8',
    });
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /cannot load the native addon \S*no-such-addon\.node[\s\S]*build:native/);
  });

  it('reports the ABI it was generated for', () => {
    assert.equal(rr.addonAbiHash(), rr.ABI_HASH);
    assert.match(rr.ABI_HASH, /^0x[0-9a-f]{16}$/);
    assert.equal(typeof rr.VERSION, 'string');
  });
});
