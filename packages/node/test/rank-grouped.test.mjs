// soft_rank_grouped, the op with an int32 input: `groups` is an Int32Array in both dtypes (never
// converted from another type: a Float64Array, an array of numbers or of booleans, a Uint32Array is
// a TypeError with the spec's not_int_array message), its length the core's to check. Each group of
// a row is ranked as softRank ranks the row of its items alone, derivatives included (VJP, JVP, HVP:
// block-diagonal by group); any int32 is an id (the extremes too), and only the partition matters.
// Its reference file (RANK_RELAX_REFERENCE_GROUPED, default testdata/reference/soft-rank-grouped.json)
// in float64 against the file and float32 against float64 on the rounded inputs, masks, the copies
// (async, withVjp), `out`, and the errors from every function.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';

import * as rr from '@rank-relax/node';

import { F32_TOL, OUTPUT_TOL, REPO_ROOT, VJP_TOL, assertClose, assertCloseRows, assertSameArray, camel, dot, flat, groupIds, loadReference, norm, randoms } from './helpers.mjs';

const REFERENCE = process.env.RANK_RELAX_REFERENCE_GROUPED || join(REPO_ROOT, 'testdata', 'reference', 'soft-rank-grouped.json');

const MIN = -2147483648;
const MAX = 2147483647;

/** The positions of each group of row `r` (width n), by id, in the order of the row. */
function groupsOf(groups, n, r) {
  const out = new Map();
  for (let j = 0; j < n; j++) {
    const id = groups[r * n + j];
    if (!out.has(id)) out.set(id, []);
    out.get(id).push(j);
  }
  return [...out.values()];
}

/** The elements of row `r` at positions `at`, as an array of the type of `a`. */
const pick = (a, n, r, at) => a.constructor.from(at.map((j) => a[r * n + j]));

/** Element-wise bit equality (Object.is), with the first difference in the message. */
function assertSameBits(got, want, what) {
  assert.equal(got.length, want.length, `${what}: length`);
  for (let i = 0; i < want.length; i++) if (!Object.is(got[i], want[i])) assert.fail(`${what}: element ${i} is ${got[i]}, expected ${want[i]}`);
}

describe('soft_rank_grouped: each group is ranked as softRank ranks its items alone', () => {
  const B = 3;
  const n = 8;
  // Row 0: three groups (one of a single item) in any order; row 1: the int32 extremes; row 2: one group.
  const groups = Int32Array.from([
    [4, -1, 4, 9, -1, 4, -1, -1],
    [MAX, MIN, MIN, MAX, 0, MIN, MAX, MAX],
    [5, 5, 5, 5, 5, 5, 5, 5],
  ].flat());
  for (const T of [Float64Array, Float32Array]) {
    for (const regularization of ['l2', 'kl']) {
      for (const direction of ['ascending', 'descending']) {
        const options = { n, regularizationStrength: 0.4, regularization, direction };
        it(`${T.name} ${regularization} ${direction}: output, VJP, JVP and HVP by group`, async () => {
          const x = randoms(B * n, 3, T);
          const cot = randoms(B * n, 5, T);
          const t = randoms(B * n, 7, T);
          const tEps = 0.6;
          const ranks = rr.softRankGrouped(x, groups, options);
          assert.ok(ranks instanceof T);
          const grads = rr.softRankGroupedVjp(x, groups, cot, options);
          assert.deepEqual(Object.keys(grads), ['values', 'regularizationStrength']);
          const jvp = rr.softRankGroupedJvp(x, groups, t, { ...options, tangentRegularizationStrength: tEps });
          const hvp = rr.softRankGroupedHvp(x, groups, cot, t, { ...options, tangentRegularizationStrength: tEps });
          let epsGrad = 0;
          let epsHvp = 0;
          let scale = 0;
          for (let r = 0; r < B; r++) {
            for (const at of groupsOf(groups, n, r)) {
              const o = { ...options, n: at.length };
              const [xg, cg, tg] = [pick(x, n, r, at), pick(cot, n, r, at), pick(t, n, r, at)];
              const scatter = (a) => at.map((j) => a[r * n + j]);
              assertSameBits(scatter(ranks), rr.softRank(xg, o), `row ${r} group ${at} ranks`);
              const g = rr.softRankVjp(xg, cg, o);
              assertSameBits(scatter(grads.values), g.values, `row ${r} group ${at} gradient`);
              assertSameBits(scatter(jvp), rr.softRankJvp(xg, tg, { ...o, tangentRegularizationStrength: tEps }), `row ${r} group ${at} JVP`);
              const h = rr.softRankHvp(xg, cg, tg, { ...o, tangentRegularizationStrength: tEps });
              assertSameBits(scatter(hvp.values), h.values, `row ${r} group ${at} HVP`);
              if (at.length === 1) assert.equal(ranks[r * n + at[0]], 1, 'a group of one item has rank 1');
              epsGrad += g.regularizationStrength;
              epsHvp += h.regularizationStrength;
              scale += Math.abs(g.regularizationStrength) + Math.abs(h.regularizationStrength);
            }
          }
          const tol = (T === Float32Array ? 1e-5 : 1e-13) * (1 + scale);
          assert.ok(Math.abs(grads.regularizationStrength - epsGrad) <= tol, `ε gradient ${grads.regularizationStrength}, the groups' ${epsGrad}`);
          assert.ok(Math.abs(hvp.regularizationStrength - epsHvp) <= tol, `ε HVP ${hvp.regularizationStrength}, the groups' ${epsHvp}`);
          // The one-group row is softRank of the row.
          assertSameArray(ranks.subarray(2 * n), rr.softRank(x.subarray(2 * n), options), 'one group');

          // Async, withVjp and the async derivatives give the same bits.
          assertSameArray(await rr.softRankGroupedAsync(x, groups, options), ranks, 'async');
          const w = rr.softRankGroupedWithVjp(x, groups, options);
          assertSameArray(w.ranks, ranks, 'withVjp ranks');
          const pulled = w.vjp(cot);
          assertSameArray(pulled.values, grads.values, 'withVjp gradient');
          assert.ok(Object.is(pulled.regularizationStrength, grads.regularizationStrength), 'withVjp ε gradient');
          const later = await rr.softRankGroupedVjpAsync(x, groups, cot, options);
          assertSameArray(later.values, grads.values, 'async VJP');
          assertSameArray(await rr.softRankGroupedJvpAsync(x, groups, t, { ...options, tangentRegularizationStrength: tEps }), jvp, 'async JVP');
          assertSameArray((await rr.softRankGroupedHvpAsync(x, groups, cot, t, { ...options, tangentRegularizationStrength: tEps })).values, hvp.values, 'async HVP');
        });
      }
    }
  }

  it('only the partition matters: other ids for the same groups, in any order, give the same bits', () => {
    const x = randoms(B * n, 11);
    const cot = randoms(B * n, 12);
    const options = { n, regularizationStrength: 0.3 };
    const relabel = new Map([[4, MIN], [-1, MAX], [9, 0], [MAX, -7], [MIN, 3], [0, MIN], [5, -1]]);
    const other = Int32Array.from(groups, (g) => relabel.get(g));
    assertSameArray(rr.softRankGrouped(x, other, options), rr.softRankGrouped(x, groups, options), 'ranks');
    assertSameArray(rr.softRankGroupedVjp(x, other, cot, options).values, rr.softRankGroupedVjp(x, groups, cot, options).values, 'gradient');
  });

  it('defaults: one row, ε = 1, l2, ascending; every item its own group is rank 1 with a zero gradient', () => {
    const x = new Float64Array([3, 1, 2, 0.5, 4]);
    const sharp = rr.softRankGrouped(x, new Int32Array([0, 0, 0, 1, 1]), { regularizationStrength: 1e-3 });
    assertClose(sharp, [3, 1, 2, 1, 2], { abs: 1e-12, rel: 0 }, 'nearly hard ranks');
    assertSameArray(rr.softRankGrouped(x, new Int32Array([0, 0, 0, 0, 0])), rr.softRank(x), 'one group, the defaults');
    const alone = Int32Array.from([1, 2, 3, 4, 5]);
    assertSameArray(rr.softRankGrouped(x, alone), new Float64Array(5).fill(1), 'ranks');
    const g = rr.softRankGroupedVjp(x, alone, randoms(5, 1));
    assert.ok(g.values.every((v) => v === 0));
    assert.equal(g.regularizationStrength, 0);
  });

  it('empty: no rows, or rows of no item', () => {
    assert.equal(rr.softRankGrouped(new Float64Array(0), new Int32Array(0)).length, 0);
    assert.equal(rr.softRankGrouped(new Float64Array(0), new Int32Array(0), { n: 0 }).length, 0);
    assert.equal(rr.softRankGroupedVjp(new Float32Array(0), new Int32Array(0), new Float32Array(0), { n: 4 }).values.length, 0);
  });

  it('a subarray of groups is read in place, and the call reads a copy for a job', async () => {
    const x = randoms(2 * 4, 13);
    const big = Int32Array.from([99, 0, 1, 0, 1, 2, 2, 2, 3, 99]);
    const view = big.subarray(1, 9);
    const want = rr.softRankGrouped(x, Int32Array.from(view), { n: 4 });
    assertSameArray(rr.softRankGrouped(x, view, { n: 4 }), want, 'view');
    const ids = Int32Array.from(view);
    const pending = rr.softRankGroupedAsync(x, ids, { n: 4 });
    const pendingVjp = rr.softRankGroupedVjpAsync(x, ids, x, { n: 4 });
    ids.fill(0);
    assertSameArray(await pending, want, 'async output');
    assertSameArray((await pendingVjp).values, rr.softRankGroupedVjp(x, Int32Array.from(view), x, { n: 4 }).values, 'async VJP');
  });

  it('out: the output and the gradient written into caller arrays, never over groups', () => {
    const x = randoms(2 * 4, 17);
    const ids = Int32Array.from([0, 1, 0, 1, 2, 2, 3, 2]);
    const options = { n: 4, regularizationStrength: 0.5 };
    const fresh = rr.softRankGrouped(x, ids, options);
    const out = new Float64Array(8).fill(NaN);
    assert.equal(rr.softRankGrouped(x, ids, { ...options, out }), out);
    assertSameArray(out, fresh, 'out');
    const values = new Float64Array(8).fill(NaN);
    const cot = randoms(8, 18);
    assert.equal(rr.softRankGroupedVjp(x, ids, cot, { ...options, out: { values } }).values, values);
    assertSameArray(values, rr.softRankGroupedVjp(x, ids, cot, options).values, 'out.values');
    // An out array over the memory of groups is refused by the addon, naming both.
    const shared = new Int32Array(16);
    shared.set(ids);
    const over = new Float64Array(shared.buffer, 0, 8);
    assert.throws(() => rr.softRankGrouped(x, shared.subarray(0, 8), { ...options, out: over }), {
      name: 'TypeError',
      message: 'soft_rank_grouped: ranks overlaps groups; a written buffer must not share memory with another buffer of the call',
    });
    assert.throws(() => rr.softRankGroupedJvp(x, shared.subarray(0, 8), x, { ...options, out: over }), {
      name: 'TypeError',
      message: 'soft_rank_grouped: tangent_ranks overlaps groups; a written buffer must not share memory with another buffer of the call',
    });
  });
});

describe('soft_rank_grouped: masks', () => {
  const n = 6;
  const x = randoms(3 * n, 19);
  const ids = Int32Array.from([0, 1, 0, 0, 1, 1, 4, 4, 4, 4, 4, 4, MIN, MAX, MIN, MAX, MIN, MAX]);
  // Row 0: a group left with one present item; row 1: two present; row 2: none.
  const mask = [true, true, false, true, false, true, false, true, false, false, true, false, false, false, false, false, false, false];
  const options = { n, regularizationStrength: 0.3, regularization: 'kl', mask };

  it('a masked row is the call on its present items, scattered back; absent items get 0 and are never read', () => {
    const got = rr.softRankGrouped(x, ids, options);
    const cot = randoms(3 * n, 20);
    const grads = rr.softRankGroupedVjp(x, ids, cot, options);
    for (let r = 0; r < 3; r++) {
      const present = [...Array(n).keys()].filter((j) => mask[r * n + j]);
      const o = { ...options, n: present.length, mask: undefined };
      const want = rr.softRankGrouped(pick(x, n, r, present), pick(ids, n, r, present), o);
      const g = rr.softRankGroupedVjp(pick(x, n, r, present), pick(ids, n, r, present), pick(cot, n, r, present), o);
      for (let j = 0; j < n; j++) {
        const k = present.indexOf(j);
        assert.ok(Object.is(got[r * n + j], k < 0 ? 0 : want[k]), `row ${r} item ${j}`);
        assert.ok(Object.is(grads.values[r * n + j], k < 0 ? 0 : g.values[k]), `row ${r} gradient ${j}`);
      }
    }
    // NaN and ±Infinity where absent, and any id there: the same bits.
    const padded = x.map((v, i) => (mask[i] ? v : [NaN, Infinity, -Infinity][i % 3]));
    const otherIds = ids.map((g, i) => (mask[i] ? g : i));
    assertSameArray(rr.softRankGrouped(padded, otherIds, options), got, 'padded output');
    assertSameArray(rr.softRankGroupedVjp(padded, otherIds, cot, options).values, grads.values, 'padded gradient');
    assertSameArray(rr.softRankGroupedWithVjp(padded, otherIds, options).vjp(cot).values, grads.values, 'padded withVjp');
  });

  it('the JVP and HVP with a mask against central finite differences (float64)', () => {
    const h = 1e-6;
    const t = randoms(3 * n, 21);
    const cot = randoms(3 * n, 22);
    const step = (s) => x.map((v, i) => v + s * h * t[i]);
    const jvp = rr.softRankGroupedJvp(x, ids, t, options);
    assert.ok(norm(jvp) > 1e-3);
    const [plus, minus] = [rr.softRankGrouped(step(1), ids, options), rr.softRankGrouped(step(-1), ids, options)];
    assertClose(jvp, plus.map((v, i) => (v - minus[i]) / (2 * h)), { abs: 1e-7, rel: 1e-5 }, 'JVP');
    const hvp = rr.softRankGroupedHvp(x, ids, cot, t, options);
    const [gp, gm] = [rr.softRankGroupedVjp(step(1), ids, cot, options), rr.softRankGroupedVjp(step(-1), ids, cot, options)];
    assertClose(hvp.values, gp.values.map((v, i) => (v - gm.values[i]) / (2 * h)), { abs: 1e-6, rel: 1e-4 }, 'HVP');
  });
});

describe('soft_rank_grouped: the derivatives against central finite differences (float64)', () => {
  const n = 7;
  const h = 1e-6;
  const tol = { abs: 1e-6, rel: 1e-5 };
  const ids = groupIds(2 * n, 23);
  for (const regularization of ['l2', 'kl']) {
    for (const direction of ['ascending', 'descending']) {
      const options = { n, regularizationStrength: 0.8, regularization, direction };
      it(JSON.stringify(options), () => {
        const x = randoms(2 * n, 29);
        const f = (y, o = options) => rr.softRankGrouped(y, ids, o);
        const cot = randoms(2 * n, 31);
        const grads = rr.softRankGroupedVjp(x, ids, cot, options);
        const fd = x.map((_, i) => {
          const [p, m] = [x.slice(), x.slice()];
          p[i] += h;
          m[i] -= h;
          return (dot(f(p), cot) - dot(f(m), cot)) / (2 * h);
        });
        assert.ok(norm(grads.values) > 1e-3, 'a gradient that can fail: not all zero');
        assertClose(grads.values, fd, tol, 'VJP values');
        const atEps = (e) => dot(f(x, { ...options, regularizationStrength: e }), cot);
        assertClose([grads.regularizationStrength], [(atEps(0.8 + h) - atEps(0.8 - h)) / (2 * h)], tol, 'VJP ε');
        const t = randoms(2 * n, 37);
        const jvp = rr.softRankGroupedJvp(x, ids, t, { ...options, tangentRegularizationStrength: 0.5 });
        assert.ok(Math.abs(dot(jvp, cot) - dot(grads.values, t) - 0.5 * grads.regularizationStrength) <= 1e-10 * (1 + norm(jvp) * norm(cot)), 'JVP adjoint to the VJP');
      });
    }
  }
});

describe('soft_rank_grouped: groups that are not an Int32Array, or of the wrong length', () => {
  const x = randoms(6, 41);
  const x32 = Float32Array.from(x);
  /** Every function of the op, with `groups` and the values `v`. */
  const fns = (v, g, o) => [
    ['softRankGrouped', () => rr.softRankGrouped(v, g, o)],
    ['softRankGroupedAsync', () => rr.softRankGroupedAsync(v, g, o)],
    ['softRankGroupedVjp', () => rr.softRankGroupedVjp(v, g, v, o)],
    ['softRankGroupedVjpAsync', () => rr.softRankGroupedVjpAsync(v, g, v, o)],
    ['softRankGroupedWithVjp', () => rr.softRankGroupedWithVjp(v, g, o)],
    ['softRankGroupedJvp', () => rr.softRankGroupedJvp(v, g, v, o)],
    ['softRankGroupedJvpAsync', () => rr.softRankGroupedJvpAsync(v, g, v, o)],
    ['softRankGroupedHvp', () => rr.softRankGroupedHvp(v, g, v, v, o)],
    ['softRankGroupedHvpAsync', () => rr.softRankGroupedHvpAsync(v, g, v, v, o)],
  ];
  async function expectError(v, g, o, Class, code, message) {
    for (const [name, f] of fns(v, g, o)) {
      await assert.rejects(async () => f(), (e) => {
        assert.ok(e instanceof Class, `${name}: ${e?.constructor?.name}: ${e?.message}`);
        assert.equal(e.code, code, name);
        assert.equal(e.message, message, name);
        return true;
      });
    }
  }
  const refused = [
    ['a Float64Array', new Float64Array([0, 1, 0, 1, 1, 0]), 'an array of float64'],
    ['a Float32Array', new Float32Array([0, 1, 0, 1, 1, 0]), 'an array of float32'],
    ['an array of integers', [0, 1, 0, 1, 1, 0], 'a value of type Array'],
    ['an array of booleans', [true, false, true, false, false, true], 'an array of bool'],
    ['a Uint32Array', new Uint32Array([0, 1, 0, 1, 1, 0]), 'an array of uint32'],
    ['a Uint8Array', new Uint8Array([0, 1, 0, 1, 1, 0]), 'an array of uint8'],
    ['an Int16Array', new Int16Array([0, 1, 0, 1, 1, 0]), 'an array of int16'],
    ['a BigInt64Array', new BigInt64Array(6), 'an array of int64'],
    ['a number', 3, 'an integer (3)'],
    ['null', null, 'nothing'],
    ['undefined', undefined, 'nothing'],
  ];
  for (const [what, g, got] of refused) {
    it(`${what}: a TypeError with the spec's message, from every function, in both dtypes`, async () => {
      const message = `soft_rank_grouped: groups must be an array of integers, got ${got}`;
      await expectError(x, g, { n: 3 }, TypeError, 'RR_ERR_INVALID_ARGUMENT', message);
      await expectError(x32, g, { n: 3 }, TypeError, 'RR_ERR_INVALID_ARGUMENT', message);
    });
  }

  it('the values are checked first: a bad values array is reported before groups', () => {
    assert.throws(() => rr.softRankGrouped(new Int32Array(6), new Float64Array(6)), {
      name: 'TypeError',
      message: 'soft_rank_grouped: values must be an array of float32 or float64, got an array of int32',
    });
  });

  for (const len of [5, 8, 0]) {
    it(`groups of ${len} elements for 2 × 3 values: the core's RangeError, from every function`, async () => {
      const message = `soft_rank_grouped: groups has ${len} elements, expected batch × n = 2 × 3 = 6`;
      await expectError(x, new Int32Array(len), { n: 3 }, RangeError, 'RR_ERR_SHAPE_MISMATCH', message);
      await expectError(x32, new Int32Array(len), { n: 3, mask: [true, false, true, true, true, false] }, RangeError, 'RR_ERR_SHAPE_MISMATCH', message);
    });
  }

  it('groups is not an option', () => {
    assert.throws(() => rr.softRankGrouped(x, new Int32Array(6), { groups: new Int32Array(6) }), {
      name: 'TypeError',
      message: 'soft_rank_grouped: unknown option "groups"; the options are n, mask, regularizationStrength, regularization, direction, out',
    });
  });
});

describe('soft_rank_grouped: reference vectors (RANK_RELAX_REFERENCE_GROUPED)', () => {
  it('the file is there', () => assert.ok(existsSync(REFERENCE), `no reference file at ${REFERENCE}`));
  const cases = existsSync(REFERENCE) ? loadReference(REFERENCE) : [];
  it('the file has cases of soft_rank_grouped only, with and without masks', () => {
    assert.ok(cases.length > 0);
    assert.ok(cases.every((c) => c.op === 'soft_rank_grouped'));
    assert.ok(cases.some((c) => c.inputs.mask !== undefined) && cases.some((c) => c.inputs.mask === undefined));
  });
  const optionsOf = (c, Type) => {
    const o = { n: c.inputs.values[0].length };
    for (const [k, v] of Object.entries(c.params)) o[camel(k)] = v;
    if (Type === Float32Array) o.regularizationStrength = Math.fround(o.regularizationStrength);
    if (c.inputs.mask !== undefined) o.mask = c.inputs.mask.flat();
    return o;
  };
  // The ids stay integers (JSON integers over the whole int32 range), never rounded to the float type.
  const idsOf = (c) => {
    const ids = c.inputs.groups.flat();
    assert.ok(ids.every((g) => Number.isInteger(g) && g >= MIN && g <= MAX), 'int32 ids');
    return Int32Array.from(ids);
  };
  const largest = (a) => a.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
  cases.forEach((c, i) => {
    const label = `#${i} ${JSON.stringify(c.params)} [${c.inputs.values.length}×${c.inputs.values[0].length}]${c.inputs.mask ? ' masked' : ''}`;
    it(`float64 ${label}`, async () => {
      const options = optionsOf(c, Float64Array);
      const x = flat(c.inputs.values);
      const ids = idsOf(c);
      const ranks = rr.softRankGrouped(x, ids, options);
      assert.ok(ranks instanceof Float64Array);
      assertClose(ranks, flat(c.outputs.ranks), OUTPUT_TOL, 'ranks');
      assertSameArray(await rr.softRankGroupedAsync(x, ids, options), ranks, 'async ranks');
      const cot = flat(c.cotangents.ranks);
      const want = flat(c.vjp.values);
      const grads = rr.softRankGroupedVjp(x, ids, cot, options);
      assertClose(grads.values, want, { abs: VJP_TOL.abs * Math.max(1, largest(want)), rel: VJP_TOL.rel }, 'vjp values');
      const rows = c.grad_regularization_strength;
      const sum = rows.reduce((a, b) => a + b, 0);
      const tol = VJP_TOL.abs * rows.length + 1e-9 * rows.reduce((a, b) => a + Math.abs(b), 0);
      assert.ok(Math.abs(grads.regularizationStrength - sum) <= tol, `ε gradient ${grads.regularizationStrength}, expected ${sum}`);
      const pulled = rr.softRankGroupedWithVjp(x, ids, options).vjp(cot);
      assertSameArray(pulled.values, grads.values, 'withVjp');
      assert.ok(Object.is(pulled.regularizationStrength, grads.regularizationStrength), 'withVjp ε gradient');
      const later = await rr.softRankGroupedVjpAsync(x, ids, cot, options);
      assertSameArray(later.values, grads.values, 'async VJP');
    });
    it(`float32 against float64 on the rounded inputs ${label}`, () => {
      const options = optionsOf(c, Float32Array);
      const ids = idsOf(c);
      const x32 = flat(c.inputs.values, Float32Array);
      const x64 = Float64Array.from(x32);
      const r32 = rr.softRankGrouped(x32, ids, options);
      assert.ok(r32 instanceof Float32Array);
      assertCloseRows(r32, rr.softRankGrouped(x64, ids, options), options.n, F32_TOL, 'ranks');
      const cot32 = flat(c.cotangents.ranks, Float32Array);
      const g32 = rr.softRankGroupedVjp(x32, ids, cot32, options);
      assert.ok(g32.values instanceof Float32Array);
      const g64 = rr.softRankGroupedVjp(x64, ids, Float64Array.from(cot32), options);
      assertCloseRows(g32.values, g64.values, options.n, F32_TOL, 'vjp values');
    });
  });
});
