// The CommonJS entry gives the same functions as the ESM one (one instance of the addon).
const assert = require('node:assert/strict');
const { describe, it } = require('node:test');

const rr = require('@rank-relax/node');

describe('CommonJS entry', () => {
  it('require() gives every op function', async () => {
    const esm = await import('@rank-relax/node');
    for (const op of ['softRank', 'softSort', 'sigmoidRank', 'spearmanLoss', 'ndcgLoss']) {
      for (const suffix of ['', 'Async', 'Vjp', 'VjpAsync', 'WithVjp']) {
        assert.equal(typeof rr[op + suffix], 'function', op + suffix);
        assert.equal(esm[op + suffix], rr[op + suffix], `${op}${suffix}: the same function from import and require`);
      }
    }
  });

  it('computes', () => {
    const ranks = rr.softRank(new Float32Array([3, 1, 2]), { regularizationStrength: 0.01 });
    assert.ok(ranks instanceof Float32Array);
    assert.deepEqual(Array.from(ranks), [3, 1, 2]);
  });
});
