// Every case of the reference file through the public API: float64 against the file (outputs to
// 1e-9, VJPs to 1e-7 + 1e-9 relative), float32 against the float64 result on the float32-rounded
// inputs (1e-4 of the row's largest magnitude); the VJP three ways (softRankVjp, softRankWithVjp,
// and the async companions, which must equal the sync results exactly).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import * as rr from '@rank-relax/node';

import {
  assertClose,
  assertCloseRows,
  assertSameArray,
  camel,
  caseOptions,
  F32_TOL,
  flat,
  loadReference,
  OUTPUT_TOL,
  VJP_TOL,
} from './helpers.mjs';

const cases = loadReference();

function api(op) {
  const name = camel(op);
  const fns = {
    call: rr[name],
    callAsync: rr[`${name}Async`],
    vjp: rr[`${name}Vjp`],
    vjpAsync: rr[`${name}VjpAsync`],
    withVjp: rr[`${name}WithVjp`],
  };
  for (const [k, f] of Object.entries(fns)) assert.equal(typeof f, 'function', `${op}: ${k}`);
  return fns;
}

function label(c, i) {
  const first = Object.values(c.inputs)[0];
  return `#${i} ${c.op} ${JSON.stringify(c.params)} [${first.length}×${first[0].length}]`;
}

/** The case's inputs as arrays of `Type` (float32: rounded), in the file's order (the spec's). */
function inputs(c, Type) {
  return Object.values(c.inputs).map((rows) => flat(rows, Type));
}

/** The output's row width: n for [B, n] outputs, 1 for losses. */
function width(c) {
  return Array.isArray(c.output[0]) ? c.output[0].length : 1;
}

describe('reference vectors, float64', () => {
  cases.forEach((c, i) => {
    it(label(c, i), async () => {
      const f = api(c.op);
      const options = caseOptions(c);
      const xs = inputs(c, Float64Array);
      const out = f.call(...xs, options);
      assert.ok(out instanceof Float64Array);
      assertClose(out, flat([c.output].flat()), OUTPUT_TOL, 'output');
      assertSameArray(await f.callAsync(...xs, options), out, 'async output');
      if (c.vjp === undefined) return;
      const cot = flat([c.cotangent].flat());
      const grads = f.vjp(...xs, cot, options);
      for (const [name, rows] of Object.entries(c.vjp)) {
        assert.ok(grads[camel(name)] instanceof Float64Array, `gradient ${name}`);
        assertClose(grads[camel(name)], flat(rows), VJP_TOL, `vjp ${name}`);
      }
      const asyncGrads = await f.vjpAsync(...xs, cot, options);
      const withVjp = f.withVjp(...xs, options);
      assertSameArray(withVjp[Object.keys(withVjp)[0]], out, 'withVjp output');
      const pulled = withVjp.vjp(cot);
      for (const key of Object.keys(grads)) {
        if (typeof grads[key] === 'number') {
          assert.equal(asyncGrads[key], grads[key], `async ${key}`);
          assert.equal(pulled[key], grads[key], `withVjp ${key}`);
        } else {
          assertSameArray(asyncGrads[key], grads[key], `async ${key}`);
          assertSameArray(pulled[key], grads[key], `withVjp ${key}`);
        }
      }
    });
  });
});

describe('reference vectors, float32 against float64 on the rounded inputs', () => {
  cases.forEach((c, i) => {
    it(label(c, i), async () => {
      const f = api(c.op);
      const options = caseOptions(c);
      const x32 = inputs(c, Float32Array);
      const x64 = x32.map((x) => Float64Array.from(x));
      const w = width(c);
      const out32 = f.call(...x32, options);
      assert.ok(out32 instanceof Float32Array);
      assertCloseRows(out32, f.call(...x64, options), w, F32_TOL, 'output');
      assertSameArray(await f.callAsync(...x32, options), out32, 'async output');
      if (c.vjp === undefined) return;
      const cot32 = flat([c.cotangent].flat(), Float32Array);
      const g32 = f.vjp(...x32, cot32, options);
      const g64 = f.vjp(...x64, Float64Array.from(cot32), options);
      for (const name of Object.keys(c.vjp)) {
        const key = camel(name);
        assert.ok(g32[key] instanceof Float32Array, `gradient ${name}`);
        assertCloseRows(g32[key], g64[key], options.n, F32_TOL, `vjp ${name}`);
      }
      const async32 = await f.vjpAsync(...x32, cot32, options);
      const pulled = f.withVjp(...x32, options).vjp(cot32);
      for (const key of Object.keys(g32)) {
        if (typeof g32[key] === 'number') {
          assert.equal(async32[key], g32[key]);
          assert.equal(pulled[key], g32[key]);
        } else {
          assertSameArray(async32[key], g32[key], `async ${key}`);
          assertSameArray(pulled[key], g32[key], `withVjp ${key}`);
        }
      }
    });
  });
});
