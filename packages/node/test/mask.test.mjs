// The `mask` option of every op (true = present): each masked row equals the op on the row of its
// present items alone (the compacted call), scattered back — outputs, VJPs, JVPs and HVPs, float64
// and float32, bit for bit; absent positions get 0 and are never read (NaN and ±Infinity padding);
// an all-true mask is the call without one, bit for bit; rows with no present item, spearman with
// one, ndcg without relevance; the copies (async, withVjp, an `out` over the mask's memory); the
// in-place VJP; and the errors (a mask of the wrong length: the core's RangeError; of the wrong type:
// a TypeError).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import * as rr from '@rank-relax/node';

import { assertClose, assertSameArray, groupIds, like, randoms, relevance } from './helpers.mjs';

const B = 4;
const N = 6;
/** Rows of 6, 4, 2 and 3 present items, the absent ones anywhere in the row. */
const MASK = [
  [1, 1, 1, 1, 1, 1],
  [1, 0, 1, 1, 0, 1],
  [0, 1, 0, 0, 1, 0],
  [0, 0, 1, 1, 1, 0],
].flat().map(Boolean);

/** Where the present items of row `r` are. */
const presentOf = (mask, n, r) => [...Array(n).keys()].filter((j) => mask[r * n + j]);

/**
 * How an output (or its cotangent) of one row of the masked call holds the compacted row's output:
 * `items` in the items' positions, `ordered` first (zeros after), `row` one value, `quantiles` m
 * values, `matrix` P[i, j] for i < n_valid and present columns j.
 */
const LAYOUTS = {
  items: {
    width: (n) => n,
    expand: (c, present, n) => Float64Array.from({ length: n }, (_, j) => (present.includes(j) ? c[present.indexOf(j)] : 0)),
    restrict: (full, present) => present.map((j) => full[j]),
  },
  ordered: {
    width: (n) => n,
    expand: (c, present, n) => Float64Array.from({ length: n }, (_, j) => (j < present.length ? c[j] : 0)),
    restrict: (full, present) => Array.from(full.subarray(0, present.length)),
  },
  row: { width: () => 1, expand: (c) => Float64Array.from(c), restrict: (full) => Array.from(full) },
  quantiles: { width: (_, m) => m, expand: (c) => Float64Array.from(c), restrict: (full) => Array.from(full) },
  matrix: {
    width: (n) => n * n,
    expand: (c, present, n) => {
      const nv = present.length;
      const out = new Float64Array(n * n);
      for (let i = 0; i < nv; i++) present.forEach((j, jc) => { out[i * n + j] = c[i * nv + jc]; });
      return out;
    },
    restrict: (full, present, n) => present.flatMap((_, i) => present.map((j) => full[i * n + j])),
  },
};

const QUANTILES = [0, 0.3, 0.5, 1];

/**
 * Every op: its inputs (B rows of N), how many are differentiable, its options, its output's layout.
 * An int32 input (softRankGrouped's group ids) is an Int32Array in every dtype; an absent item is in
 * no group, so a masked row is the call on the present items with their ids.
 */
const OPS = [
  ['softRank', () => [randoms(B * N, 3)], 1, { regularizationStrength: 0.3, regularization: 'kl', direction: 'descending' }, 'items'],
  ['softSort', () => [randoms(B * N, 5)], 1, { regularizationStrength: 0.4 }, 'ordered'],
  ['sigmoidRank', () => [randoms(B * N, 6)], 1, { regularizationStrength: 0.2 }, 'items'],
  ['spearmanLoss', () => [randoms(B * N, 8), randoms(B * N, 9)], 2, { regularizationStrength: 0.4 }, 'row'],
  ['ndcgLoss', () => [randoms(B * N, 10), relevance(B * N, 11)], 1, { regularizationStrength: 0.3 }, 'row'],
  ['softTopk', () => [randoms(B * N, 12)], 1, { k: 3, regularizationStrength: 0.4, regularization: 'p43' }, 'items'],
  ['softQuantile', () => [randoms(B * N, 14)], 1, { quantiles: QUANTILES, regularizationStrength: 0.3 }, 'quantiles'],
  ['neuralSort', () => [randoms(B * N, 16)], 1, { regularizationStrength: 0.3, direction: 'ascending' }, 'matrix'],
  ['neuralSortApply', () => [randoms(B * N, 17), randoms(B * N, 18)], 2, { regularizationStrength: 0.25 }, 'ordered'],
  ['softRankGrouped', () => [randoms(B * N, 19), groupIds(B * N, 20)], 1, { regularizationStrength: 0.3, regularization: 'kl', direction: 'descending' }, 'items'],
];

const TYPES = [Float64Array, Float32Array];

/** soft_topk's k is clamped to a row's present items; every other option is the masked call's. */
const rowOptions = (options, nv) => ({ ...options, n: nv, ...(options.k === undefined ? {} : { k: Math.min(options.k, nv) }) });

/** Row `r` of a flat array of rows of `width`. */
const rowOf = (a, r, width) => a.subarray(r * width, (r + 1) * width);

/** The present items of row `r` of each array, as arrays of `Type` (an Int32Array as one). */
const compact = (arrays, present, r, Type) => arrays.map((a) => (a instanceof Int32Array ? Int32Array : Type).from(present.map((j) => a[r * N + j])));

/** Bit-for-bit equality of two numeric sequences (the masked row against the scattered compacted one, in the call's type). */
function assertSameBits(got, want, Type, what) {
  const w = Type.from(want);
  assert.equal(got.length, w.length, `${what}: length`);
  for (let i = 0; i < w.length; i++) {
    if (!Object.is(got[i], w[i])) assert.fail(`${what}: element ${i} is ${got[i]}, expected ${w[i]}`);
  }
}

/** The arrays of a gradient-like result (keys in order) and its ε entry. */
const arraysOf = (g) => Object.keys(g).filter((k) => typeof g[k] !== 'number');

for (const Type of TYPES) {
  describe(`masked rows equal the compacted rows, scattered back (${Type.name})`, () => {
    for (const [name, make, nd, options, layoutName] of OPS) {
      const layout = LAYOUTS[layoutName];
      const m = QUANTILES.length;
      const width = layout.width(N, m);
      const inputs = make().map((x) => like(x, Type));
      const masked = { ...options, n: N, mask: MASK };

      it(`${name}: output and VJP`, () => {
        const out = rr[name](...inputs, masked);
        assert.ok(out instanceof Type);
        const cot = randoms(out.length, 51, Type);
        const grads = rr[`${name}Vjp`](...inputs, cot, masked);
        let epsSum = 0;
        let epsScale = 0;
        for (let r = 0; r < B; r++) {
          const present = presentOf(MASK, N, r);
          const o = rowOptions(options, present.length);
          const xs = compact(inputs, present, r, Type);
          const want = rr[name](...xs, o);
          assertSameBits(rowOf(out, r, width), layout.expand(want, present, N), Type, `row ${r} output`);
          const cotRow = Type.from(layout.restrict(rowOf(cot, r, width), present, N));
          const g = rr[`${name}Vjp`](...xs, cotRow, o);
          for (const key of arraysOf(g)) {
            assertSameBits(rowOf(grads[key], r, N), LAYOUTS.items.expand(g[key], present, N), Type, `row ${r} gradient ${key}`);
          }
          epsSum += g.regularizationStrength;
          epsScale += Math.abs(g.regularizationStrength);
        }
        const tol = (Type === Float32Array ? 1e-5 : 1e-13) * (1 + epsScale);
        assert.ok(Math.abs(grads.regularizationStrength - epsSum) <= tol, `ε gradient ${grads.regularizationStrength}, the rows' ${epsSum}`);
      });

      it(`${name}: JVP and HVP`, () => {
        const tangents = inputs.slice(0, nd).map((x, k) => randoms(x.length, 61 + k, Type));
        const tEps = 0.7;
        const jvp = rr[`${name}Jvp`](...inputs, ...tangents, { ...masked, tangentRegularizationStrength: tEps });
        const cot = randoms(jvp.length, 71, Type);
        const hvp = rr[`${name}Hvp`](...inputs, cot, ...tangents, { ...masked, tangentRegularizationStrength: tEps });
        let epsSum = 0;
        let epsScale = 0;
        for (let r = 0; r < B; r++) {
          const present = presentOf(MASK, N, r);
          const o = { ...rowOptions(options, present.length), tangentRegularizationStrength: tEps };
          const xs = compact(inputs, present, r, Type);
          const ts = compact(tangents, present, r, Type);
          const want = rr[`${name}Jvp`](...xs, ...ts, o);
          assertSameBits(rowOf(jvp, r, width), layout.expand(want, present, N), Type, `row ${r} output tangent`);
          const cotRow = Type.from(layout.restrict(rowOf(cot, r, width), present, N));
          const h = rr[`${name}Hvp`](...xs, cotRow, ...ts, o);
          for (const key of arraysOf(h)) {
            assertSameBits(rowOf(hvp[key], r, N), LAYOUTS.items.expand(h[key], present, N), Type, `row ${r} hvp ${key}`);
          }
          epsSum += h.regularizationStrength;
          epsScale += Math.abs(h.regularizationStrength);
        }
        const tol = (Type === Float32Array ? 1e-5 : 1e-13) * (1 + epsScale);
        assert.ok(Math.abs(hvp.regularizationStrength - epsSum) <= tol, `ε hvp ${hvp.regularizationStrength}, the rows' ${epsSum}`);
      });
    }
  });

  describe(`an all-true mask is the call without one, bit for bit (${Type.name})`, () => {
    for (const [name, make, nd, options] of OPS) {
      it(name, async () => {
        const inputs = make().map((x) => like(x, Type));
        const plain = { ...options, n: N };
        const tangents = inputs.slice(0, nd).map((x, k) => randoms(x.length, 81 + k, Type));
        const out = rr[name](...inputs, plain);
        const cot = randoms(out.length, 91, Type);
        // Booleans, ones, and any nonzero byte.
        for (const mask of [Array(B * N).fill(true), new Uint8Array(B * N).fill(1), Uint8Array.from({ length: B * N }, (_, i) => 1 + ((i * 37) % 255))]) {
          const o = { ...plain, mask };
          const what = `${name} mask ${mask.constructor.name}`;
          assertSameArray(rr[name](...inputs, o), out, `${what}: output`);
          assertSameArray(await rr[`${name}Async`](...inputs, o), out, `${what}: async output`);
          const grads = rr[`${name}Vjp`](...inputs, cot, plain);
          for (const [label, g] of [
            ['vjp', rr[`${name}Vjp`](...inputs, cot, o)],
            ['async vjp', await rr[`${name}VjpAsync`](...inputs, cot, o)],
            ['withVjp', rr[`${name}WithVjp`](...inputs, o).vjp(cot)],
          ]) {
            for (const key of Object.keys(grads)) {
              if (typeof grads[key] === 'number') assert.ok(Object.is(g[key], grads[key]), `${what}: ${label} ${key}`);
              else assertSameArray(g[key], grads[key], `${what}: ${label} ${key}`);
            }
          }
          const t = { tangentRegularizationStrength: 0.3 };
          assertSameArray(rr[`${name}Jvp`](...inputs, ...tangents, { ...o, ...t }), rr[`${name}Jvp`](...inputs, ...tangents, { ...plain, ...t }), `${what}: jvp`);
          const h = rr[`${name}Hvp`](...inputs, cot, ...tangents, { ...o, ...t });
          const hPlain = rr[`${name}Hvp`](...inputs, cot, ...tangents, { ...plain, ...t });
          for (const key of Object.keys(hPlain)) {
            if (typeof hPlain[key] === 'number') assert.ok(Object.is(h[key], hPlain[key]), `${what}: hvp ${key}`);
            else assertSameArray(h[key], hPlain[key], `${what}: hvp ${key}`);
          }
        }
      });
    }
  });
}

describe('absent positions are never read: NaN and ±Infinity padding give the same bits, and zeros there', () => {
  for (const [name, make, nd, options, layoutName] of OPS) {
    it(name, async () => {
      const inputs = make();
      // Group ids there are any other int32 (an Int32Array holds no NaN).
      const padded = inputs.map((x) => x.map((v, i) => (MASK[i] ? v : x instanceof Int32Array ? -5 - i : [NaN, Infinity, -Infinity][i % 3])));
      const o = { ...options, n: N, mask: MASK };
      const out = rr[name](...inputs, o);
      assertSameArray(rr[name](...padded, o), out, 'output');
      assertSameArray(await rr[`${name}Async`](...padded, o), out, 'async output');
      if (layoutName === 'items') for (let i = 0; i < out.length; i++) if (!MASK[i]) assert.equal(out[i], 0, `output ${i} (absent)`);
      const cot = randoms(out.length, 101);
      const tangents = inputs.slice(0, nd).map((x, k) => randoms(x.length, 111 + k));
      // NaN tangents at absent positions are not read either.
      const nanTangents = tangents.map((t) => t.map((v, i) => (MASK[i] ? v : NaN)));
      const t = { ...o, tangentRegularizationStrength: 0.4 };
      const results = [
        ['vjp', rr[`${name}Vjp`](...inputs, cot, o), rr[`${name}Vjp`](...padded, cot, o)],
        ['withVjp', rr[`${name}WithVjp`](...inputs, o).vjp(cot), rr[`${name}WithVjp`](...padded, o).vjp(cot)],
        ['hvp', rr[`${name}Hvp`](...inputs, cot, ...tangents, t), rr[`${name}Hvp`](...padded, cot, ...nanTangents, t)],
      ];
      for (const [label, want, got] of results) {
        for (const key of Object.keys(want)) {
          if (typeof want[key] === 'number') {
            assert.ok(Number.isFinite(got[key]) && Object.is(got[key], want[key]), `${label} ${key}`);
            continue;
          }
          assertSameArray(got[key], want[key], `${label} ${key}`);
          // Gradients and products are zero at absent items, exactly.
          for (let i = 0; i < got[key].length; i++) if (!MASK[i]) assert.ok(Object.is(got[key][i], 0), `${label} ${key}[${i}] (absent) is ${got[key][i]}`);
        }
      }
      const jvp = rr[`${name}Jvp`](...padded, ...nanTangents, t);
      assertSameArray(jvp, rr[`${name}Jvp`](...inputs, ...tangents, t), 'jvp');
      assert.ok(jvp.every(Number.isFinite), 'jvp finite');
    });
  }
});

describe('the JVP with a mask against central finite differences of the masked forward (float64)', () => {
  const h = 1e-6;
  for (const [name, make, nd, options] of OPS) {
    it(name, () => {
      const inputs = make();
      const o = { ...options, n: N, mask: MASK };
      const tangents = inputs.slice(0, nd).map((x, k) => randoms(x.length, 121 + k));
      const step = (s) => inputs.map((x, k) => (k < nd ? x.map((v, i) => v + s * h * tangents[k][i]) : x));
      const plus = rr[name](...step(1), o);
      const minus = rr[name](...step(-1), o);
      const fd = plus.map((v, i) => (v - minus[i]) / (2 * h));
      const got = rr[`${name}Jvp`](...inputs, ...tangents, o);
      assert.ok(got.some((v) => Math.abs(v) > 1e-3), 'a tangent that can fail: not all zero');
      assertClose(got, fd, { abs: 1e-7, rel: 1e-5 }, `${name}Jvp`);
      // The HVP against finite differences of the masked VJP, along the same tangents.
      const cot = randoms(got.length, 131);
      const gPlus = rr[`${name}Vjp`](...step(1), cot, o);
      const gMinus = rr[`${name}Vjp`](...step(-1), cot, o);
      const hvp = rr[`${name}Hvp`](...inputs, cot, ...tangents, o);
      for (const key of arraysOf(hvp)) {
        assertClose(hvp[key], gPlus[key].map((v, i) => (v - gMinus[key][i]) / (2 * h)), { abs: 1e-6, rel: 1e-4 }, `${name}Hvp ${key}`);
      }
    });
  }
});

describe('rows the contract defines', () => {
  const n = 4;
  // Row 0: no item present; row 1: one; row 2: all.
  const mask = [false, false, false, false, false, true, false, false, true, true, true, true];
  const x = Float64Array.from([NaN, 1, 2, 3, Infinity, 0.5, -Infinity, 9, 0.3, -0.2, 0.8, 0.1]);

  it('a row with no present item gives zeros, and zero gradients, for every op', () => {
    for (const [name, make, nd, options] of OPS) {
      const inputs = make().map((a) => a.subarray(0, 3 * n));
      inputs[0] = x;
      const o = { ...options, n, mask };
      const out = rr[name](...inputs, o);
      const width = out.length / 3;
      assert.ok(rowOf(out, 0, width).every((v) => Object.is(v, 0)), `${name}: row 0 ${Array.from(rowOf(out, 0, width))}`);
      assert.ok(out.every(Number.isFinite), `${name}: finite`);
      const grads = rr[`${name}Vjp`](...inputs, randoms(out.length, 141), o);
      for (const key of arraysOf(grads)) assert.ok(rowOf(grads[key], 0, n).every((v) => Object.is(v, 0)), `${name}: gradient ${key} of row 0`);
      const tangents = inputs.slice(0, nd).map((a, k) => randoms(a.length, 151 + k));
      const jvp = rr[`${name}Jvp`](...inputs, ...tangents, { ...o, tangentRegularizationStrength: 1 });
      assert.ok(rowOf(jvp, 0, width).every((v) => Object.is(v, 0)), `${name}: output tangent of row 0`);
    }
  });

  it('spearman_loss: a row of one item is loss 0 with a zero gradient', () => {
    const t = Float64Array.from([0, 0, 0, 0, 0, 7, 0, 0, 1, 2, 3, 4]);
    const loss = rr.spearmanLoss(x, t, { n, mask });
    assert.equal(loss[1], 0);
    const g = rr.spearmanLossVjp(x, t, new Float64Array([1, 1, 1]), { n, mask });
    assert.deepEqual(Array.from(rowOf(g.predictions, 1, n)), [0, 0, 0, 0]);
    assert.deepEqual(Array.from(rowOf(g.targets, 1, n)), [0, 0, 0, 0]);
    // The full row is an ordinary one.
    assertSameArray(rowOf(loss, 2, 1), rr.spearmanLoss(x.subarray(8), t.subarray(8)), 'the full row');
  });

  it('ndcg_loss: a row whose present relevance is all 0 is loss 0 (the absent relevance is not read)', () => {
    const rel = Float64Array.from([0, 0, 0, 0, 3, 0, 2, 1, 1, 0, 2, 3]);
    const loss = rr.ndcgLoss(x, rel, { n, mask });
    assert.equal(loss[1], 0);
    const g = rr.ndcgLossVjp(x, rel, new Float64Array([1, 1, 1]), { n, mask });
    assert.deepEqual(Array.from(rowOf(g.scores, 1, n)), [0, 0, 0, 0]);
  });

  it('soft_topk: k larger than a row’s present items selects all of them', () => {
    const sel = rr.softTopk(x, { n, k: 3, mask, regularizationStrength: 0.1 });
    assert.deepEqual(Array.from(rowOf(sel, 1, n)), [0, 1, 0, 0]);
    assert.ok(Math.abs(rowOf(sel, 2, n).reduce((a, b) => a + b, 0) - 3) < 1e-12, 'the full row sums to k');
  });
});

describe('the mask is copied', () => {
  const x = randoms(2 * 3, 161);
  const o = { n: 3, regularizationStrength: 0.5 };

  it('an async call is not affected by a later change of the mask', async () => {
    const mask = Uint8Array.from([1, 0, 1, 1, 1, 0]);
    const want = rr.softRank(x, { ...o, mask: mask.slice() });
    const pending = rr.softRankAsync(x, { ...o, mask });
    const pendingVjp = rr.softRankVjpAsync(x, x, { ...o, mask });
    mask.fill(1);
    assertSameArray(await pending, want, 'async output');
    assertSameArray((await pendingVjp).values, rr.softRankVjp(x, x, { ...o, mask: [true, false, true, true, true, false] }).values, 'async vjp');
  });

  it('withVjp keeps the forward’s mask for its vjp', () => {
    const mask = Uint8Array.from([1, 0, 1, 1, 1, 0]);
    const { vjp } = rr.softSortWithVjp(x, { ...o, mask });
    mask.fill(0);
    const cot = randoms(6, 171);
    assertSameArray(vjp(cot).values, rr.softSortVjp(x, cot, { ...o, mask: [true, false, true, true, true, false] }).values, 'gradient');
  });

  it('an out array may share memory with the mask: the mask is read before anything is written', () => {
    const want = rr.softRank(x, { ...o, mask: [true, false, true, false, true, true] });
    const out = new Float64Array(6);
    const mask = new Uint8Array(out.buffer, 0, 6);
    mask.set([1, 0, 1, 0, 1, 1]);
    assert.equal(rr.softRank(x, { ...o, mask, out }), out);
    assertSameArray(out, want, 'output');
  });

  it('out arrays prefilled with NaN give the same bits as fresh ones', () => {
    const mask = [true, false, true, false, true, true];
    const fresh = rr.softTopkVjp(x, x, { ...o, k: 2, mask });
    const values = new Float64Array(6).fill(NaN);
    assert.equal(rr.softTopkVjp(x, x, { ...o, k: 2, mask, out: { values } }).values, values);
    assertSameArray(values, fresh.values, 'gradient');
    const out = new Float64Array(6).fill(NaN);
    assertSameArray(rr.softTopkJvp(x, x, { ...o, k: 2, mask, out }), rr.softTopkJvp(x, x, { ...o, k: 2, mask }), 'jvp');
  });
});

describe('the in-place VJP with a mask (the gradient written over the cotangent)', () => {
  for (const [name, options] of [
    ['softRank', { regularizationStrength: 0.3 }],
    ['softSort', { regularizationStrength: 0.4, direction: 'descending' }],
    ['softTopk', { k: 2, regularizationStrength: 0.4 }],
  ]) {
    for (const Type of TYPES) {
      it(`${name} (${Type.name}): the same bits as a separate gradient array`, () => {
        const x = randoms(B * N, 191, Type);
        const cot = randoms(B * N, 192, Type);
        const o = { ...options, n: N, mask: MASK };
        const want = rr[`${name}Vjp`](x, cot, o);
        const c = cot.slice();
        const got = rr[`${name}Vjp`](x, c, { ...o, out: { values: c } });
        assert.equal(got.values, c);
        assertSameArray(c, want.values, 'gradient');
        assert.ok(Object.is(got.regularizationStrength, want.regularizationStrength), 'ε gradient');
      });
    }
  }
});

describe('bad masks', () => {
  const x = randoms(6, 181);
  const shape = (op) => (e) => {
    assert.ok(e instanceof RangeError, `${e?.constructor?.name}: ${e?.message}`);
    assert.equal(e.code, 'RR_ERR_SHAPE_MISMATCH');
    assert.equal(e.message, `${op}: mask has 8 elements, expected batch × n = 2 × 3 = 6`);
    return true;
  };
  const type = (op, what) => (e) => {
    assert.ok(e instanceof TypeError, `${e?.constructor?.name}: ${e?.message}`);
    assert.equal(e.code, 'RR_ERR_INVALID_ARGUMENT');
    assert.equal(e.message, `${op}: ${what}`);
    return true;
  };
  const long = Array(8).fill(true);

  it('of the wrong length: the core’s RangeError, from every function', async () => {
    const o = { n: 3, mask: long };
    assert.throws(() => rr.softRank(x, o), shape('soft_rank'));
    await assert.rejects(rr.softRankAsync(x, o), shape('soft_rank'));
    assert.throws(() => rr.softRankVjp(x, x, o), shape('soft_rank'));
    await assert.rejects(rr.softRankVjpAsync(x, x, o), shape('soft_rank'));
    assert.throws(() => rr.softRankWithVjp(x, o), shape('soft_rank'));
    assert.throws(() => rr.softRankJvp(x, x, o), shape('soft_rank'));
    await assert.rejects(rr.softRankJvpAsync(x, x, o), shape('soft_rank'));
    assert.throws(() => rr.softRankHvp(x, x, x, o), shape('soft_rank'));
    await assert.rejects(rr.softRankHvpAsync(x, x, x, o), shape('soft_rank'));
    // In place (the gradient over the cotangent) too, and a short Uint8Array.
    const c = x.slice();
    assert.throws(() => rr.softRankVjp(x, c, { ...o, out: { values: c } }), shape('soft_rank'));
    assertSameArray(c, x, 'the cotangent unchanged');
    assert.throws(() => rr.spearmanLoss(x, x.slice(), { n: 3, mask: new Uint8Array(2) }), (e) => e instanceof RangeError && e.message === 'spearman_loss: mask has 2 elements, expected batch × n = 2 × 3 = 6');
    for (const [name, make, nd, options] of OPS) {
      const op = name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
      const inputs = make().map((a) => a.subarray(0, 6));
      const bad = { ...options, n: 3, mask: long };
      assert.throws(() => rr[name](...inputs, bad), shape(op));
      assert.throws(() => rr[`${name}Vjp`](...inputs, new Float64Array(rr[name](...inputs, { ...options, n: 3 }).length), bad), shape(op));
      assert.throws(() => rr[`${name}Jvp`](...inputs, ...inputs.slice(0, nd), bad), shape(op));
    }
  });

  it('of the wrong type: a TypeError naming the op and mask', async () => {
    const cases = [
      [Float64Array.from([1, 0, 1, 1, 1, 1]), 'mask must be an array of bool (true = present), got an array of float64'],
      [Int32Array.from([1, 0, 1, 1, 1, 1]), 'mask must be an array of bool (true = present), got an array of int32'],
      [1, 'mask must be an array of bool (true = present), got an integer (1)'],
      [null, 'mask must be an array of bool (true = present), got nothing'],
      ['101111', 'mask must be an array of bool (true = present), got a string'],
      [[true, false, 1, true, true, true], 'mask[2] must be a boolean, got an integer (1)'],
      [[true, false, true, true, true, undefined], 'mask[5] must be a boolean, got nothing'],
    ];
    for (const [mask, what] of cases) {
      const o = { n: 3, mask };
      assert.throws(() => rr.softSort(x, o), type('soft_sort', what));
      await assert.rejects(rr.softSortAsync(x, o), type('soft_sort', what));
      assert.throws(() => rr.softSortVjp(x, x, o), type('soft_sort', what));
      assert.throws(() => rr.softSortWithVjp(x, o), type('soft_sort', what));
      assert.throws(() => rr.softSortJvp(x, x, o), type('soft_sort', what));
      assert.throws(() => rr.softSortHvp(x, x, x, o), type('soft_sort', what));
      assert.throws(() => rr.ndcgLoss(x, x.map(Math.abs), o), type('ndcg_loss', what));
    }
  });

  it('an explicit undefined is no mask', () => {
    assertSameArray(rr.softRank(x, { n: 3, mask: undefined }), rr.softRank(x, { n: 3 }), 'output');
  });
});
