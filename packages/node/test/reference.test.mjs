// Every case of the reference files (ops-v1.json, wave2-topk-quantile.json, wave2-neural-sort.json,
// masks.json, whose `mask` input goes as the option, an array of booleans) through the public API:
// float64 against the file (outputs to 1e-9, VJPs to 1e-7 + 1e-9 relative, the ε/τ gradient, where
// a case has one per row, against their sum), float32 against the float64 result on the
// float32-rounded inputs (1e-4 of the row's largest magnitude); the VJP three ways (softRankVjp,
// softRankWithVjp, and the async companions, which must equal the sync results exactly). Outputs of
// any shape ([B], [B][n], [B][m], [B][n][n]) are compared flat, row by row.
import assert from 'node:assert/strict';
import { basename } from 'node:path';
import { describe, it } from 'node:test';

import * as rr from '@rank-relax/node';

import {
  assertClose,
  assertCloseRows,
  assertSameArray,
  camel,
  caseArrays,
  caseOptions,
  F32_TOL,
  flat,
  isBoolInput,
  loadReference,
  OUTPUT_TOL,
  referencePaths,
  VJP_TOL,
} from './helpers.mjs';

const files = referencePaths().map((path) => ({ file: basename(path), cases: loadReference(path) }));

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
  const first = caseArrays(c)[0];
  return `#${i} ${c.op} ${JSON.stringify(c.params)} [${first.length}×${first[0].length}]`;
}

/** The case's inputs as arrays of `Type` (float32: rounded), in the file's order (the spec's); a mask is an option. */
function inputs(c, Type) {
  return caseArrays(c).map((rows) => flat(rows, Type));
}

/** The output's elements per row: n for [B, n], m for [B, m], n² for [B, n, n], 1 for losses. */
function width(c) {
  return [c.output[0]].flat(Infinity).length;
}

/** The sum over the rows of a case's per-row ε/τ gradient, and of its magnitudes (null: none). */
function strengthGradient(c) {
  if (c.grad_regularization_strength === undefined) return null;
  const rows = c.grad_regularization_strength;
  return { sum: rows.reduce((a, b) => a + b, 0), scale: rows.reduce((a, b) => a + Math.abs(b), 0) };
}

for (const { file, cases } of files) {
  describe(`reference vectors, float64: ${file}`, () => {
    assert.ok(cases.length > 0, `${file}: no case`);
    cases.forEach((c, i) => {
      it(label(c, i), async () => {
        const f = api(c.op);
        const options = caseOptions(c);
        const xs = inputs(c, Float64Array);
        const out = f.call(...xs, options);
        assert.ok(out instanceof Float64Array);
        assertClose(out, flat(c.output), OUTPUT_TOL, 'output');
        assertSameArray(await f.callAsync(...xs, options), out, 'async output');
        if (c.vjp === undefined) return;
        const cot = flat(c.cotangent);
        const grads = f.vjp(...xs, cot, options);
        for (const [name, rows] of Object.entries(c.vjp)) {
          assert.ok(grads[camel(name)] instanceof Float64Array, `gradient ${name}`);
          assertClose(grads[camel(name)], flat(rows), VJP_TOL, `vjp ${name}`);
        }
        const eps = strengthGradient(c);
        if (eps !== null) {
          assert.equal(typeof grads.regularizationStrength, 'number', 'the ε gradient is exposed');
          // Each row to VJP_TOL, so their sum to the sum of the rows' tolerances.
          const tol = VJP_TOL.abs * c.grad_regularization_strength.length + VJP_TOL.rel * eps.scale;
          assert.ok(Math.abs(grads.regularizationStrength - eps.sum) <= tol, `vjp regularization_strength: ${grads.regularizationStrength}, expected ${eps.sum} (±${tol})`);
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

  describe(`reference vectors, float32 against float64 on the rounded inputs: ${file}`, () => {
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
        const cot32 = flat(c.cotangent, Float32Array);
        const g32 = f.vjp(...x32, cot32, options);
        const g64 = f.vjp(...x64, Float64Array.from(cot32), options);
        for (const name of Object.keys(c.vjp)) {
          const key = camel(name);
          assert.ok(g32[key] instanceof Float32Array, `gradient ${name}`);
          assertCloseRows(g32[key], g64[key], options.n, F32_TOL, `vjp ${name}`);
        }
        const eps = strengthGradient(c);
        if (eps !== null) {
          // The sum over rows of float32 row gradients: to F32_TOL of the rows' magnitudes, and of
          // the terms of −⟨g, x⟩/ε that each row's sums (every op sees its values as x/ε), which
          // can cancel to nearly 0 in float64 and leave float32's rounding.
          const names = Object.keys(c.inputs).filter((k) => !isBoolInput(c.inputs[k]));
          const terms = names.reduce((sum, name, k) => {
            const g = g64[camel(name)];
            if (!(g instanceof Float64Array)) return sum;
            return g.reduce((acc, v, i) => (v === 0 ? acc : acc + Math.abs(v * x64[k][i])), sum);
          }, 0);
          const tol = F32_TOL * Math.max(eps.scale, Math.abs(g64.regularizationStrength), terms / options.regularizationStrength) + 1e-12;
          assert.ok(Math.abs(g32.regularizationStrength - g64.regularizationStrength) <= tol, `vjp regularization_strength: ${g32.regularizationStrength} vs ${g64.regularizationStrength} (±${tol})`);
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
}
