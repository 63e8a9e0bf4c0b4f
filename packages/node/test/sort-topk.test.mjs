// soft_sort_topk, the op with two outputs: `{ topValues, indices }` (indices an Int32Array of
// 0-based positions, −1 for none), [batch, k] from the option k (checked before anything is
// allocated), one cotangent (the top values') for the VJP and one tangent out of the JVP; its
// reference file (RANK_RELAX_REFERENCE_SORT_TOPK, default testdata/reference/soft-sort-topk.json)
// in float64 and float32, masks, derivatives against finite differences, k = 0 and k = n, errors.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';

import * as rr from '@rank-relax/node';

import { F32_TOL, REPO_ROOT, VJP_TOL, assertClose, assertCloseRows, assertSameArray, camel, dot, flat, norm, randoms } from './helpers.mjs';

const REFERENCE = process.env.RANK_RELAX_REFERENCE_SORT_TOPK || join(REPO_ROOT, 'testdata', 'reference', 'soft-sort-topk.json');

/** The hard top-k positions of each row (ties by position), as the core defines them. */
function hardTopk(x, n, k, direction = 'descending') {
  const out = [];
  for (let r = 0; r * n < x.length; r++) {
    const order = Array.from({ length: n }, (_, i) => i);
    const v = (i) => x[r * n + i];
    order.sort((a, b) => (direction === 'descending' ? v(b) - v(a) : v(a) - v(b)) || a - b);
    out.push(...order.slice(0, k));
  }
  return Int32Array.from(out);
}

/** The first k of each row of width n. */
function heads(a, n, k) {
  const out = new a.constructor((a.length / n) * k);
  for (let r = 0; r * n < a.length; r++) out.set(a.subarray(r * n, r * n + k), r * k);
  return out;
}

describe('soft_sort_topk: outputs, shapes and dtypes', () => {
  const n = 6;
  const x = randoms(3 * n, 5);
  for (const T of [Float64Array, Float32Array]) {
    it(`${T.name}: { topValues, indices }, [batch, k], the first k of soft_sort, the hard top-k`, async () => {
      const xs = T.from(x);
      for (const direction of ['descending', 'ascending']) {
        for (const k of [0, 1, 3, n]) {
          const options = { n, k, regularizationStrength: 0.3, direction };
          const got = rr.softSortTopk(xs, options);
          assert.deepEqual(Object.keys(got), ['topValues', 'indices']);
          assert.ok(got.topValues instanceof T);
          assert.ok(got.indices instanceof Int32Array);
          assert.equal(got.topValues.length, 3 * k);
          assertSameArray(got.indices, hardTopk(xs, n, k, direction), `indices k=${k} ${direction}`);
          assertSameArray(got.topValues, heads(rr.softSort(xs, { n, regularizationStrength: 0.3, direction }), n, k), `topValues k=${k} ${direction}`);
          const later = await rr.softSortTopkAsync(xs, options);
          assertSameArray(later.topValues, got.topValues, 'async topValues');
          assertSameArray(later.indices, got.indices, 'async indices');
          const w = rr.softSortTopkWithVjp(xs, options);
          assertSameArray(w.topValues, got.topValues, 'withVjp topValues');
          assertSameArray(w.indices, got.indices, 'withVjp indices');
        }
      }
    });
  }

  it('defaults: one row, k = 1, descending; a small ε gives the values at the indices', () => {
    const got = rr.softSortTopk(new Float64Array([3, 1, 2, 0.5]));
    assertSameArray(got.indices, Int32Array.from([0]), 'indices');
    const sharp = rr.softSortTopk(new Float64Array([3, 1, 2, 0.5]), { k: 3, regularizationStrength: 1e-3 });
    assertSameArray(sharp.indices, Int32Array.from([0, 2, 1]), 'indices');
    assertClose(sharp.topValues, [3, 2, 1], { abs: 1e-12, rel: 0 }, 'topValues');
  });

  it('ties go by position', () => {
    assertSameArray(rr.softSortTopk(new Float64Array([1, 2, 2, 1]), { k: 4 }).indices, Int32Array.from([1, 2, 0, 3]), 'indices');
  });

  it('out: caller arrays by output, the same bits, the int one an Int32Array', () => {
    const options = { n, k: 2, regularizationStrength: 0.3 };
    const fresh = rr.softSortTopk(x, options);
    const out = { topValues: new Float64Array(6).fill(NaN), indices: new Int32Array(6).fill(7) };
    const got = rr.softSortTopk(x, { ...options, out });
    assert.equal(got.topValues, out.topValues);
    assert.equal(got.indices, out.indices);
    assertSameArray(got.topValues, fresh.topValues, 'topValues');
    assertSameArray(got.indices, fresh.indices, 'indices');
    const only = { indices: new Int32Array(6) };
    assert.equal(rr.softSortTopk(x, { ...options, out: only }).indices, only.indices);
    assert.throws(() => rr.softSortTopk(x, { ...options, out: { indices: new Float64Array(6) } }), { name: 'TypeError', message: 'soft_sort_topk: out.indices must be an Int32Array, got an array of float64' });
    assert.throws(() => rr.softSortTopk(x, { ...options, out: { topValues: new Float64Array(5) } }), { name: 'RangeError', message: 'soft_sort_topk: out.topValues has 5 elements, expected batch × k = 3 × 2 = 6' });
    assert.throws(() => rr.softSortTopk(x, { ...options, out: { values: new Float64Array(6) } }), { name: 'TypeError', message: 'soft_sort_topk: unknown field "values" of out; the fields are topValues, indices' });
    assert.throws(() => rr.softSortTopk(x, { ...options, out: new Float64Array(6) }), TypeError);
    assert.throws(() => rr.softSortTopk(x, { ...options, out: { topValues: x.subarray(0, 6) } }), { name: 'TypeError', message: /overlaps values/ });
  });
});

describe('soft_sort_topk: masks', () => {
  const n = 5;
  const x = randoms(2 * n, 11);
  // Row 0: three present items; row 1: two.
  const mask = [true, false, true, true, false, false, true, false, false, true];
  const present = (r) => [...Array(n).keys()].filter((i) => mask[r * n + i]);

  for (const T of [Float64Array, Float32Array]) {
    it(`${T.name}: a masked row is the compacted row, its indices in the caller's row, then 0 and −1`, () => {
      const xs = T.from(x);
      const k = 3;
      const options = { n, k, regularizationStrength: 0.4, mask };
      const got = rr.softSortTopk(xs, options);
      const cot = randoms(2 * k, 3, T);
      const grads = rr.softSortTopkVjp(xs, cot, options);
      for (let r = 0; r < 2; r++) {
        const keep = present(r);
        const m = Math.min(k, keep.length);
        const row = T.from(keep.map((i) => xs[r * n + i]));
        const compact = rr.softSortTopk(row, { k: m, regularizationStrength: 0.4 });
        assertSameArray(got.topValues.subarray(r * k, r * k + m), compact.topValues, `row ${r} topValues`);
        assertSameArray(got.indices.subarray(r * k, r * k + m), Int32Array.from(compact.indices, (j) => keep[j]), `row ${r} indices`);
        assert.deepEqual(Array.from(got.topValues.subarray(r * k + m, (r + 1) * k)), Array(k - m).fill(0), `row ${r} padding`);
        assert.deepEqual(Array.from(got.indices.subarray(r * k + m, (r + 1) * k)), Array(k - m).fill(-1), `row ${r} −1 padding`);
        // The gradient: the compacted row's, scattered back; zero at the absent items.
        const g = rr.softSortTopkVjp(row, cot.subarray(r * k, r * k + m), { k: m, regularizationStrength: 0.4 });
        for (let i = 0; i < n; i++) {
          const j = keep.indexOf(i);
          assert.equal(grads.values[r * n + i], j < 0 ? 0 : g.values[j], `row ${r} gradient ${i}`);
        }
      }
    });
  }

  it('a row with no present item: zeros and −1', () => {
    const got = rr.softSortTopk(new Float64Array([NaN, Infinity, 1, 2]), { n: 2, k: 2, mask: [false, false, true, true] });
    assert.deepEqual(Array.from(got.topValues.subarray(0, 2)), [0, 0]);
    assert.deepEqual(Array.from(got.indices), [-1, -1, 1, 0]);
  });

  it('JVP and HVP with a mask: zero at the absent items, the compacted row’s elsewhere', () => {
    const k = 2;
    const options = { n, k, regularizationStrength: 0.4, mask };
    const t = randoms(2 * n, 8);
    const w = randoms(2 * k, 9);
    const jvp = rr.softSortTopkJvp(x, t, options);
    const hvp = rr.softSortTopkHvp(x, w, t, options);
    for (let r = 0; r < 2; r++) {
      const keep = present(r);
      const row = Float64Array.from(keep.map((i) => x[r * n + i]));
      const trow = Float64Array.from(keep.map((i) => t[r * n + i]));
      const m = Math.min(k, keep.length);
      const o = { k: m, regularizationStrength: 0.4 };
      assertSameArray(jvp.subarray(r * k, r * k + m), rr.softSortTopkJvp(row, trow, o), `row ${r} JVP`);
      const h = rr.softSortTopkHvp(row, w.subarray(r * k, r * k + m), trow, o);
      for (let i = 0; i < n; i++) {
        const j = keep.indexOf(i);
        assert.equal(hvp.values[r * n + i], j < 0 ? 0 : h.values[j], `row ${r} HVP ${i}`);
      }
    }
  });
});

describe('soft_sort_topk: derivatives against central finite differences (float64)', () => {
  const n = 6;
  const h = 1e-6;
  const tol = { abs: 1e-6, rel: 1e-5 };
  for (const regularization of ['l2', 'kl']) {
    for (const direction of ['descending', 'ascending']) {
      for (const k of [1, 3, n]) {
        const options = { n, k, regularizationStrength: 0.4, regularization, direction };
        it(JSON.stringify(options), async () => {
          const x = randoms(2 * n, 17 + k);
          const top = (y, o = options) => rr.softSortTopk(y, o).topValues;
          const cot = randoms(2 * k, 23);
          // VJP: one cotangent, the top values'.
          const grads = rr.softSortTopkVjp(x, cot, options);
          assert.deepEqual(Object.keys(grads), ['values', 'regularizationStrength']);
          const fd = x.map((_, i) => {
            const [p, m] = [x.slice(), x.slice()];
            p[i] += h;
            m[i] -= h;
            return (dot(top(p), cot) - dot(top(m), cot)) / (2 * h);
          });
          assertClose(grads.values, fd, tol, 'VJP values');
          const atEps = (e) => dot(top(x, { ...options, regularizationStrength: e }), cot);
          assertClose([grads.regularizationStrength], [(atEps(0.4 + h) - atEps(0.4 - h)) / (2 * h)], tol, 'VJP ε');
          const later = await rr.softSortTopkVjpAsync(x, cot, options);
          assertSameArray(later.values, grads.values, 'async VJP');
          const pulled = rr.softSortTopkWithVjp(x, options).vjp(cot);
          assertSameArray(pulled.values, grads.values, 'withVjp');
          assert.equal(pulled.regularizationStrength, grads.regularizationStrength);

          // JVP: the tangent of the top values alone (the indices have none).
          const t = randoms(2 * n, 29);
          const jvp = rr.softSortTopkJvp(x, t, options);
          assert.ok(jvp instanceof Float64Array);
          assert.equal(jvp.length, 2 * k);
          assert.ok(norm(jvp) > 1e-3);
          const along = (s) => top(x.map((v, i) => v + s * h * t[i]));
          assertClose(jvp, along(1).map((v, i) => (v - along(-1)[i]) / (2 * h)), tol, 'JVP');
          const jvpEps = rr.softSortTopkJvp(x, new Float64Array(2 * n), { ...options, tangentRegularizationStrength: 1 });
          const atE = (e) => top(x, { ...options, regularizationStrength: e });
          assertClose(jvpEps, atE(0.4 + h).map((v, i) => (v - atE(0.4 - h)[i]) / (2 * h)), tol, 'JVP along ε');
          assert.ok(Math.abs(dot(jvp, cot) - dot(grads.values, t)) <= 1e-10 * (1 + Math.abs(dot(jvp, cot))), 'JVP adjoint to the VJP');
          assertSameArray(await rr.softSortTopkJvpAsync(x, t, options), jvp, 'async JVP');

          // HVP: the derivative of the VJP along the tangents, at a fixed cotangent of the top values.
          const hvp = rr.softSortTopkHvp(x, cot, t, { ...options, tangentRegularizationStrength: 0.5 });
          const vjpAt = (s) => rr.softSortTopkVjp(x.map((v, i) => v + s * h * t[i]), cot, { ...options, regularizationStrength: 0.4 + s * h * 0.5 });
          const [gp, gm] = [vjpAt(1), vjpAt(-1)];
          assertClose(hvp.values, gp.values.map((v, i) => (v - gm.values[i]) / (2 * h)), { abs: 1e-5, rel: 1e-4 }, 'HVP values');
          assertClose([hvp.regularizationStrength], [(gp.regularizationStrength - gm.regularizationStrength) / (2 * h)], { abs: 1e-5, rel: 1e-4 }, 'HVP ε');
          const hLater = await rr.softSortTopkHvpAsync(x, cot, t, { ...options, tangentRegularizationStrength: 0.5 });
          assertSameArray(hLater.values, hvp.values, 'async HVP');
        });
      }
    }
  }

  it('k = 0: empty outputs, a zero gradient', () => {
    const x = randoms(12, 3);
    const got = rr.softSortTopk(x, { n: 6, k: 0 });
    assert.equal(got.topValues.length, 0);
    assert.equal(got.indices.length, 0);
    const g = rr.softSortTopkVjp(x, new Float64Array(0), { n: 6, k: 0 });
    assert.ok(g.values.every((v) => v === 0));
    assert.equal(g.regularizationStrength, 0);
    assert.equal(rr.softSortTopkJvp(x, x, { n: 6, k: 0 }).length, 0);
  });

  it('k = n: soft_sort itself, its VJP too', () => {
    const x = randoms(12, 4);
    const cot = randoms(12, 5);
    assertSameArray(rr.softSortTopk(x, { n: 6, k: 6 }).topValues, rr.softSort(x, { n: 6, direction: 'descending' }), 'topValues');
    assertClose(rr.softSortTopkVjp(x, cot, { n: 6, k: 6 }).values, rr.softSortVjp(x, cot, { n: 6, direction: 'descending' }).values, { abs: 1e-14, rel: 1e-12 }, 'VJP');
  });
});

describe('soft_sort_topk: errors', () => {
  const x = randoms(6, 1);
  const cot = new Float64Array(2);
  const fns = [
    ['softSortTopk', (o) => rr.softSortTopk(x, o)],
    ['softSortTopkVjp', (o) => rr.softSortTopkVjp(x, cot, o)],
    ['softSortTopkJvp', (o) => rr.softSortTopkJvp(x, x, o)],
    ['softSortTopkHvp', (o) => rr.softSortTopkHvp(x, cot, x, o)],
    ['softSortTopkWithVjp', (o) => rr.softSortTopkWithVjp(x, o)],
    ['softSortTopkAsync', (o) => rr.softSortTopkAsync(x, o)],
    ['softSortTopkVjpAsync', (o) => rr.softSortTopkVjpAsync(x, cot, o)],
  ];
  const cases = [
    [{ n: 3, k: 4 }, RangeError, 'soft_sort_topk: k must be in [0, n] = [0, 3], got 4'],
    [{ n: 3, k: -1 }, RangeError, 'soft_sort_topk: k must be in [0, n] = [0, 3], got -1'],
    // Refused before an array of batch × k is allocated.
    [{ n: 3, k: 2 ** 50 }, RangeError, `soft_sort_topk: k must be in [0, n] = [0, 3], got ${2 ** 50}`],
    [{ n: 3, k: 2.5 }, TypeError, 'soft_sort_topk: k must be an integer, got a float (2.5)'],
    [{ n: 3, k: true }, TypeError, 'soft_sort_topk: k must be an integer, got a bool'],
    [{ n: 3, k: '2' }, TypeError, 'soft_sort_topk: k must be an integer, got a string'],
    [{ n: 3, k: NaN }, TypeError, 'soft_sort_topk: k must be an integer, got a float (NaN)'],
    [{ n: 3, k: 2 ** 60 }, RangeError, `soft_sort_topk: k must be a safe integer (|k| ≤ 2^53 − 1), got ${2 ** 60}`],
    [{ n: 3, k: 2, regularizationStrength: 0 }, RangeError, /soft_sort_topk: regularization_strength/],
  ];
  for (const [options, Class, message] of cases) {
    it(`${JSON.stringify(options)}: ${Class.name}`, async () => {
      for (const [name, f] of fns) {
        await assert.rejects(async () => f(options), (e) => {
          assert.ok(e instanceof Class, `${name}: ${e}`);
          assert.equal(e.code, 'RR_ERR_INVALID_ARGUMENT', name);
          if (typeof message === 'string') assert.equal(e.message, message, name);
          else assert.match(e.message, message, name);
          return true;
        });
      }
    });
  }

  it('a cotangent of the wrong length: the core’s message', () => {
    assert.throws(() => rr.softSortTopkVjp(x, new Float64Array(3), { n: 3, k: 2 }), { name: 'RangeError', message: /soft_sort_topk: cotangent_top_values has 3 elements, expected batch × k = 2 × 2 = 4/ });
    assert.throws(() => rr.softSortTopkWithVjp(x, { n: 3, k: 2 }).vjp(new Float32Array(4)), TypeError);
  });

  it('NaN values', () => {
    assert.throws(() => rr.softSortTopk(new Float64Array([1, NaN, 2]), { k: 2 }), { name: 'RangeError', message: /soft_sort_topk/ });
  });
});

describe('soft_sort_topk: reference vectors (RANK_RELAX_REFERENCE_SORT_TOPK)', { skip: existsSync(REFERENCE) ? false : `no reference file at ${REFERENCE}` }, () => {
  const doc = existsSync(REFERENCE) ? JSON.parse(readFileSync(REFERENCE, 'utf8')) : { cases: [] };
  const cases = doc.cases ?? [];
  it('the file', () => {
    assert.equal(doc.format, 'rank-relax reference vectors v1');
    assert.ok(cases.length > 0);
  });
  const optionsOf = (c, Type) => {
    const o = { n: c.inputs.values[0].length };
    for (const [k, v] of Object.entries(c.params)) o[camel(k)] = v;
    if (Type === Float32Array) o.regularizationStrength = Math.fround(o.regularizationStrength);
    if (c.inputs.mask !== undefined) o.mask = c.inputs.mask.flat();
    return o;
  };
  const scaleTol = (want) => want.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
  cases.forEach((c, i) => {
    const label = `#${i} ${JSON.stringify(c.params)} [${c.inputs.values.length}×${c.inputs.values[0].length}]${c.inputs.mask ? ' masked' : ''}`;
    it(`float64 ${label}`, () => {
      const options = optionsOf(c, Float64Array);
      const x = flat(c.inputs.values);
      const got = rr.softSortTopk(x, options);
      const k = c.params.k;
      const want = flat(c.outputs.top_values);
      if (k > 0) assertCloseRows(got.topValues, want, k, 1e-9, 'top_values');
      assert.deepEqual(Array.from(got.indices), c.outputs.indices.flat(), 'indices');
      if (c.vjp === undefined) return;
      const grads = rr.softSortTopkVjp(x, flat(c.cotangents.top_values), options);
      assertClose(grads.values, flat(c.vjp.values), { abs: VJP_TOL.abs * Math.max(1, scaleTol(flat(c.vjp.values))), rel: VJP_TOL.rel }, 'vjp values');
      if (c.grad_regularization_strength !== undefined) {
        const rows = c.grad_regularization_strength;
        const sum = rows.reduce((a, b) => a + b, 0);
        const tol = VJP_TOL.abs * rows.length + 1e-9 * rows.reduce((a, b) => a + Math.abs(b), 0);
        assert.ok(Math.abs(grads.regularizationStrength - sum) <= tol, `ε gradient ${grads.regularizationStrength}, expected ${sum}`);
      }
    });
    it(`float32 against float64 on the rounded inputs ${label}`, () => {
      const options = optionsOf(c, Float32Array);
      const x32 = flat(c.inputs.values, Float32Array);
      const x64 = Float64Array.from(x32);
      const g32 = rr.softSortTopk(x32, options);
      const g64 = rr.softSortTopk(x64, options);
      assert.ok(g32.topValues instanceof Float32Array);
      const k = c.params.k;
      if (k > 0) assertCloseRows(g32.topValues, g64.topValues, k, F32_TOL, 'top_values');
      assertSameArray(g32.indices, g64.indices, 'indices');
      if (c.vjp === undefined) return;
      const cot32 = flat(c.cotangents.top_values, Float32Array);
      const v32 = rr.softSortTopkVjp(x32, cot32, options);
      const v64 = rr.softSortTopkVjp(x64, Float64Array.from(cot32), options);
      assertCloseRows(v32.values, v64.values, options.n, F32_TOL, 'vjp values');
    });
  });
});
