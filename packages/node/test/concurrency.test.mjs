// Many async calls of every op (forward and VJP, l2 and kl, Float64 and Float32) in flight at once on
// the libuv pool, interleaved, must give results bit-identical to the sequential sync calls.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import * as rr from '@rank-relax/node';

/** Deterministic pseudo-random values (LCG), so a failure reproduces. */
function randoms(length, seed, Type) {
  let s = seed >>> 0;
  const out = new Type(length);
  for (let i = 0; i < length; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 2 ** 32 * 4 - 2;
  }
  return out;
}
const grades = (length, seed, Type) => Type.from(randoms(length, seed, Float64Array), (x) => Math.floor((x + 2)));
/** Group ids in [-4, 3]: an Int32Array whatever the type of the values. */
const groupIds = (length, seed) => Int32Array.from(randoms(length, seed, Float64Array), (x) => Math.floor(2 * x));
const INPUTS = { relevance: grades, groups: groupIds };

// [function, inputs, the regularizations to run, the other options]
const OPS = [
  ['softRank', ['values'], ['l2', 'kl'], { direction: 'descending' }],
  ['softSort', ['values'], ['l2', 'kl'], { direction: 'ascending' }],
  ['sigmoidRank', ['values'], [undefined], { direction: 'descending' }],
  ['spearmanLoss', ['predictions', 'targets'], ['l2', 'kl'], {}],
  ['ndcgLoss', ['scores', 'relevance'], ['l2', 'kl'], {}],
  ['softTopk', ['values'], ['l2', 'p43'], { k: 5, direction: 'ascending' }],
  ['softQuantile', ['values'], ['l2', 'kl'], { quantiles: [0, 0.25, 0.5, 0.9] }],
  ['neuralSort', ['values'], [undefined], { direction: 'descending' }],
  ['neuralSortApply', ['values', 'payload'], [undefined], { direction: 'ascending' }],
  ['softRankGrouped', ['values', 'groups'], ['l2', 'kl'], { direction: 'descending' }],
];

function jobs() {
  const out = [];
  let seed = 1;
  for (const Type of [Float64Array, Float32Array]) {
    for (const [name, inputs, regularizations, params] of OPS) {
      for (const regularization of regularizations) {
        for (const [batch, n] of [[3, 17], [200, 64], [40, 160]]) {
          const options = { n, regularizationStrength: 0.3, ...params };
          if (regularization) options.regularization = regularization;
          const xs = inputs.map((input) => (INPUTS[input] ?? randoms)(batch * n, seed++, Type));
          // The cotangent has the output's shape: [batch], [batch, n], [batch, m], [batch, n, n].
          const cot = randoms(rr[name](...xs, options).length, seed++, Type);
          out.push({ name, xs, cot, options, label: `${name} ${Type.name} ${regularization ?? ''} ${batch}x${n}` });
        }
      }
    }
  }
  return out;
}

function assertBitIdentical(got, want, what) {
  assert.equal(got.constructor, want.constructor, `${what}: type`);
  assert.equal(got.length, want.length, `${what}: length`);
  const a = new Uint8Array(got.buffer, got.byteOffset, got.byteLength);
  const b = new Uint8Array(want.buffer, want.byteOffset, want.byteLength);
  assert.ok(Buffer.compare(a, b) === 0, `${what}: not bit-identical to the sync call`);
}

describe('concurrency', () => {
  it('every op, forward and VJP, many async calls at once = sequential sync calls', async () => {
    const all = jobs();
    const want = all.map(({ name, xs, cot, options }) => ({
      out: rr[name](...xs, options),
      grads: rr[`${name}Vjp`](...xs, cot, options),
    }));
    // Four rounds of every job, all in flight together, forward and VJP interleaved.
    const pending = [];
    for (let round = 0; round < 4; round++) {
      all.forEach(({ name, xs, cot, options }, i) => {
        pending.push(rr[`${name}Async`](...xs, options).then((out) => ({ i, out })));
        pending.push(rr[`${name}VjpAsync`](...xs, cot, options).then((grads) => ({ i, grads })));
      });
    }
    const results = await Promise.all(pending);
    assert.equal(results.length, all.length * 8);
    for (const { i, out, grads } of results) {
      const { label } = all[i];
      if (out) assertBitIdentical(out, want[i].out, `${label} output`);
      if (grads) {
        for (const [k, g] of Object.entries(want[i].grads)) {
          if (typeof g === 'number') assert.ok(Object.is(grads[k], g), `${label} gradient ${k}: ${grads[k]} ≠ ${g}`);
          else assertBitIdentical(grads[k], g, `${label} gradient ${k}`);
        }
      }
    }
  });
});
