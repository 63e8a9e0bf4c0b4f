// Bad input throws TypeError / RangeError with the core's message (sync) or rejects with it
// (async); it never crashes the process and never returns NaN.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import * as rr from '@rank-relax/node';

const x = new Float64Array([3, 1, 2]);

/** [name, call, class, code, message] */
const CASES = [
  ['plain array', () => rr.softRank([3, 1, 2]), TypeError, 'RR_ERR_INVALID_ARGUMENT', 'soft_rank: values must be an array of float32 or float64, got a value of type Array'],
  ['Int32Array', () => rr.softSort(new Int32Array(3)), TypeError, 'RR_ERR_INVALID_ARGUMENT', 'soft_sort: values must be an array of float32 or float64, got an array of int32'],
  ['mixed dtypes', () => rr.spearmanLoss(x, new Float32Array(3)), TypeError, 'RR_ERR_INVALID_ARGUMENT', 'spearman_loss: targets must be a Float64Array like the first input, got an array of float32'],
  ['cotangent dtype', () => rr.softRankVjp(x, new Float32Array(3)), TypeError, 'RR_ERR_INVALID_ARGUMENT', 'soft_rank: cotangent must be a Float64Array like the first input, got an array of float32'],
  ['unknown enum value', () => rr.softRank(x, { regularization: 'up' }), TypeError, 'RR_ERR_INVALID_ARGUMENT', 'soft_rank: regularization must be one of "l2", "kl", got "up"'],
  ['unknown direction', () => rr.sigmoidRank(x, { direction: 'up' }), TypeError, 'RR_ERR_INVALID_ARGUMENT', 'sigmoid_rank: direction must be one of "ascending", "descending", got "up"'],
  ['enum of wrong type', () => rr.softRank(x, { direction: 1 }), TypeError, 'RR_ERR_INVALID_ARGUMENT', 'soft_rank: direction must be a string, got an integer (1)'],
  ['epsilon of wrong type', () => rr.softRank(x, { regularizationStrength: '0.1' }), TypeError, 'RR_ERR_INVALID_ARGUMENT', 'soft_rank: regularizationStrength must be a number, got a string'],
  // The sync functions also take `out`; the async ones do not.
  ['unknown option', () => rr.softRank(x, { epsilon: 0.1 }), TypeError, 'RR_ERR_INVALID_ARGUMENT', {
    sync: 'soft_rank: unknown option "epsilon"; the options are n, mask, regularizationStrength, regularization, direction, out',
    async: 'soft_rank: unknown option "epsilon"; the options are n, mask, regularizationStrength, regularization, direction',
  }],
  ['option of another op', () => rr.sigmoidRank(x, { regularization: 'kl' }), TypeError, 'RR_ERR_INVALID_ARGUMENT', {
    sync: 'sigmoid_rank: unknown option "regularization"; the options are n, mask, regularizationStrength, direction, out',
    async: 'sigmoid_rank: unknown option "regularization"; the options are n, mask, regularizationStrength, direction',
  }],
  ['options not an object', () => rr.softRank(x, 0.1), TypeError, 'RR_ERR_INVALID_ARGUMENT', 'soft_rank: options must be an object, got a float (0.1)'],
  ['length not a multiple of n', () => rr.softRank(new Float64Array(7), { n: 3 }), RangeError, 'RR_ERR_SHAPE_MISMATCH', 'soft_rank: values has 7 elements, expected batch × n = 2 × 3 = 6'],
  ['second input of another length', () => rr.spearmanLoss(new Float64Array(6), new Float64Array(4), { n: 3 }), RangeError, 'RR_ERR_SHAPE_MISMATCH', 'spearman_loss: targets has 4 elements, expected batch × n = 2 × 3 = 6'],
  ['cotangent of another length', () => rr.softRankVjp(x, new Float64Array(2)), RangeError, 'RR_ERR_SHAPE_MISMATCH', 'soft_rank: cotangent_ranks has 2 elements, expected batch × n = 1 × 3 = 3'],
  ['n not an integer', () => rr.softRank(x, { n: 1.5 }), RangeError, 'RR_ERR_INVALID_ARGUMENT', 'soft_rank: n must be an integer in [0, 2147483647], got 1.5'],
  ['NaN', () => rr.softRank(new Float64Array([1, 2, NaN, 4]), { n: 2 }), RangeError, 'RR_ERR_INVALID_VALUE', 'soft_rank: values[1, 0] is NaN'],
  ['+inf', () => rr.softSort(new Float32Array([1, Infinity])), RangeError, 'RR_ERR_INVALID_VALUE', 'soft_sort: values[0, 1] is +inf'],
  ['epsilon 0', () => rr.softRank(x, { regularizationStrength: 0 }), RangeError, 'RR_ERR_INVALID_ARGUMENT', 'soft_rank: regularization_strength must be finite and > 0, got 0'],
  ['epsilon < 0', () => rr.softSort(x, { regularizationStrength: -1 }), RangeError, 'RR_ERR_INVALID_ARGUMENT', 'soft_sort: regularization_strength must be finite and > 0, got -1'],
  ['epsilon NaN', () => rr.sigmoidRank(x, { regularizationStrength: NaN }), RangeError, 'RR_ERR_INVALID_ARGUMENT', 'sigmoid_rank: regularization_strength must be finite and > 0, got NaN'],
  ['n < 2 for a loss', () => rr.spearmanLoss(new Float64Array([1]), new Float64Array([1])), RangeError, 'RR_ERR_INVALID_ARGUMENT', 'spearman_loss: needs n >= 2 items per row, got n = 1'],
  ['negative relevance', () => rr.ndcgLoss(x, new Float64Array([0, -1, 2])), RangeError, 'RR_ERR_INVALID_VALUE', 'ndcg_loss: relevance[0, 1] is negative (-1)'],
  ['NaN cotangent', () => rr.softRankVjp(x, new Float64Array([0, NaN, 0])), RangeError, 'RR_ERR_INVALID_VALUE', 'soft_rank: cotangent_ranks[0, 1] is NaN'],
  // An int param: an integer number, in the core's range.
  ['k not an integer', () => rr.softTopk(x, { k: 2.5 }), TypeError, 'RR_ERR_INVALID_ARGUMENT', 'soft_topk: k must be an integer, got a float (2.5)'],
  ['k NaN', () => rr.softTopk(x, { k: NaN }), TypeError, 'RR_ERR_INVALID_ARGUMENT', 'soft_topk: k must be an integer, got a float (NaN)'],
  ['k a boolean', () => rr.softTopk(x, { k: true }), TypeError, 'RR_ERR_INVALID_ARGUMENT', 'soft_topk: k must be an integer, got a bool'],
  ['k a string', () => rr.softTopk(x, { k: '2' }), TypeError, 'RR_ERR_INVALID_ARGUMENT', 'soft_topk: k must be an integer, got a string'],
  ['k beyond the safe integers', () => rr.softTopk(x, { k: 2 ** 53 }), RangeError, 'RR_ERR_INVALID_ARGUMENT', 'soft_topk: k must be a safe integer (|k| ≤ 2^53 − 1), got 9007199254740992'],
  ['k > n', () => rr.softTopk(x, { k: 4 }), RangeError, 'RR_ERR_INVALID_ARGUMENT', 'soft_topk: k must be in [0, n] = [0, 3], got 4'],
  ['k < 0', () => rr.softTopk(x, { k: -1 }), RangeError, 'RR_ERR_INVALID_ARGUMENT', 'soft_topk: k must be in [0, n] = [0, 3], got -1'],
  // soft_topk's own enum: kl is soft_rank's, not soft_topk's.
  ['regularization of another op', () => rr.softTopk(x, { regularization: 'kl' }), TypeError, 'RR_ERR_INVALID_ARGUMENT', 'soft_topk: regularization must be one of "l2", "p43", got "kl"'],
  // A list param: an array of numbers or a float typed array; the core checks its elements.
  ['quantiles empty', () => rr.softQuantile(x, { quantiles: [] }), RangeError, 'RR_ERR_INVALID_ARGUMENT', 'soft_quantile: quantiles is empty; needs at least one quantile'],
  ['quantiles NaN', () => rr.softQuantile(x, { quantiles: [NaN] }), RangeError, 'RR_ERR_INVALID_ARGUMENT', 'soft_quantile: quantiles[0] is NaN'],
  ['quantile out of [0, 1]', () => rr.softQuantile(x, { quantiles: [0.5, 1.5] }), RangeError, 'RR_ERR_INVALID_ARGUMENT', 'soft_quantile: quantiles[1] = 1.5 is not in [0, 1]'],
  ['quantile out of [0, 1], float32', () => rr.softQuantile(new Float32Array(3), { quantiles: new Float64Array([-0.25]) }), RangeError, 'RR_ERR_INVALID_ARGUMENT', 'soft_quantile: quantiles[0] = -0.25 is not in [0, 1]'],
  ['quantiles a string', () => rr.softQuantile(x, { quantiles: '0.5' }), TypeError, 'RR_ERR_INVALID_ARGUMENT', 'soft_quantile: quantiles must be a list of real numbers, got a string'],
  ['quantiles an Int32Array', () => rr.softQuantile(x, { quantiles: new Int32Array(2) }), TypeError, 'RR_ERR_INVALID_ARGUMENT', 'soft_quantile: quantiles must be a list of real numbers, got an array of int32'],
  ['a quantile not a number', () => rr.softQuantile(x, { quantiles: [0.5, '1'] }), TypeError, 'RR_ERR_INVALID_ARGUMENT', 'soft_quantile: quantiles[1] must be a number, got a string'],
  ['n = 0 for soft_quantile', () => rr.softQuantile(new Float64Array(0), { n: 0 }), RangeError, 'RR_ERR_INVALID_ARGUMENT', 'soft_quantile: needs n >= 1 items per row, got n = 0'],
  ['cotangent of [batch, m] of another length', () => rr.softQuantileVjp(x, new Float64Array(3), { quantiles: [0.1, 0.9] }), RangeError, 'RR_ERR_SHAPE_MISMATCH', 'soft_quantile: cotangent_result has 3 elements, expected batch × m = 1 × 2 = 2 (m = the number of quantiles)'],
  ['cotangent of [batch, n, n] of another length', () => rr.neuralSortVjp(x, new Float64Array(3)), RangeError, 'RR_ERR_SHAPE_MISMATCH', 'neural_sort: cotangent_permutation_matrix has 3 elements, expected batch × n × n = 1 × 3 × 3 = 9'],
  ['τ = 0', () => rr.neuralSort(x, { regularizationStrength: 0 }), RangeError, 'RR_ERR_INVALID_ARGUMENT', 'neural_sort: regularization_strength must be finite and > 0, got 0'],
  ['payload of another length', () => rr.neuralSortApply(x, new Float64Array(4)), RangeError, 'RR_ERR_SHAPE_MISMATCH', 'neural_sort_apply: payload has 4 elements, expected batch × n = 1 × 3 = 3'],
  ['payload of another type', () => rr.neuralSortApply(x, new Float32Array(3)), TypeError, 'RR_ERR_INVALID_ARGUMENT', 'neural_sort_apply: payload must be a Float64Array like the first input, got an array of float32'],
];

/** `message` is a string, or `{ sync, async }` where the two differ; `mode` picks one. */
function expectError(e, Class, code, message, mode = 'sync') {
  assert.ok(e instanceof Class, `expected ${Class.name}, got ${e?.constructor?.name}: ${e?.message}`);
  assert.equal(e.message, typeof message === 'string' ? message : message[mode]);
  assert.equal(e.code, code);
  return true;
}

describe('errors, sync', () => {
  for (const [name, call, Class, code, message] of CASES) {
    it(name, () => assert.throws(call, (e) => expectError(e, Class, code, message)));
  }
});

describe('errors, async (rejections of the same class and text)', () => {
  const asyncOf = (call) => {
    const src = call.toString().replace(/rr\.(\w+)\(/, 'rr.$1Async(');
    return new Function('rr', 'x', `return (${src})();`);
  };
  for (const [name, call, Class, code, message] of CASES) {
    it(name, async () => {
      const run = asyncOf(call);
      await assert.rejects(() => run(rr, x), (e) => expectError(e, Class, code, message, 'async'));
    });
  }
});

describe('an output JS cannot allocate (n × n per row at a large n)', () => {
  const check = (e, name) => {
    assert.ok(e instanceof RangeError, `expected RangeError, got ${e?.constructor?.name}: ${e?.message}`);
    assert.equal(e.code, 'RR_ERR_INVALID_ARGUMENT');
    assert.ok(e.message.startsWith(`neural_sort: ${name} of batch × n × n = 1 × 100000 × 100000 = 10000000000 elements cannot be allocated (`), e.message);
    return true;
  };
  it('sync', () => assert.throws(() => rr.neuralSort(new Float64Array(100000)), (e) => check(e, 'the output')));
  it('async (a rejection)', async () => {
    await assert.rejects(() => rr.neuralSortAsync(new Float32Array(100000)), (e) => check(e, 'permutation_matrix'));
  });
  it('withVjp', () => assert.throws(() => rr.neuralSortWithVjp(new Float64Array(100000)), (e) => check(e, 'permutation_matrix')));
});

describe('errors of out (sync calls and VJPs only), before anything is written', () => {
  const big = new Float64Array(12);
  const v = big.subarray(0, 6);
  /** [name, call, class, code, message] */
  const OUT_CASES = [
    ['out of another type', () => rr.softRank(x, { out: new Float32Array(3) }), TypeError, 'RR_ERR_INVALID_ARGUMENT', 'soft_rank: out must be a Float64Array like the first input, got an array of float32'],
    ['out a plain array', () => rr.softSort(x, { out: [0, 0, 0] }), TypeError, 'RR_ERR_INVALID_ARGUMENT', 'soft_sort: out must be a Float64Array like the first input, got a value of type Array'],
    ['out null', () => rr.softRank(x, { out: null }), TypeError, 'RR_ERR_INVALID_ARGUMENT', 'soft_rank: out must be a Float64Array like the first input, got nothing'],
    ['out too short', () => rr.softRank(x, { out: new Float64Array(2) }), RangeError, 'RR_ERR_SHAPE_MISMATCH', 'soft_rank: out has 2 elements, expected batch × n = 1 × 3 = 3'],
    ['out of a loss too long', () => rr.spearmanLoss(v, v.slice(), { n: 3, out: new Float64Array(6) }), RangeError, 'RR_ERR_SHAPE_MISMATCH', 'spearman_loss: out has 6 elements, expected batch = 2'],
    ['out is the input', () => rr.softRank(x, { out: x }), TypeError, 'RR_ERR_INVALID_ARGUMENT', 'soft_rank: ranks overlaps values; a written buffer must not share memory with another buffer of the call'],
    ['out overlaps the input', () => rr.softRank(v, { n: 3, out: big.subarray(3, 9) }), TypeError, 'RR_ERR_INVALID_ARGUMENT', 'soft_rank: ranks overlaps values; a written buffer must not share memory with another buffer of the call'],
    ['out overlaps a second input', () => rr.ndcgLoss(big.subarray(0, 3), big.subarray(3, 6), { out: big.subarray(5, 6) }), TypeError, 'RR_ERR_INVALID_ARGUMENT', 'ndcg_loss: loss overlaps relevance; a written buffer must not share memory with another buffer of the call'],
    ['gradient out not an object', () => rr.softRankVjp(x, x, { out: new Float64Array(3) }), TypeError, 'RR_ERR_INVALID_ARGUMENT', 'soft_rank: out must be an object of gradient arrays (values?), got an array of float64'],
    ['gradient out of an input without gradient', () => rr.ndcgLossVjp(x, x, new Float64Array(1), { out: { relevance: new Float64Array(3) } }), TypeError, 'RR_ERR_INVALID_ARGUMENT', 'ndcg_loss: unknown field "relevance" of out; the fields are scores'],
    ['gradient out of another type', () => rr.softSortVjp(x, x, { out: { values: new Float32Array(3) } }), TypeError, 'RR_ERR_INVALID_ARGUMENT', 'soft_sort: out.values must be a Float64Array like the first input, got an array of float32'],
    ['gradient out of another length', () => rr.softRankVjp(v, v.slice(), { n: 3, out: { values: new Float64Array(3) } }), RangeError, 'RR_ERR_SHAPE_MISMATCH', 'soft_rank: out.values has 3 elements, expected batch × n = 2 × 3 = 6'],
    // soft_rank and soft_sort write the gradient over the cotangent instead (in-place.test.mjs).
    ['gradient out is the cotangent', () => { const c = new Float64Array(3); return rr.sigmoidRankVjp(x, c, { out: { values: c } }); }, TypeError, 'RR_ERR_INVALID_ARGUMENT', 'sigmoid_rank: grad_values overlaps cotangent_ranks; a written buffer must not share memory with another buffer of the call'],
    ['gradient out overlaps the cotangent in part', () => rr.softRankVjp(x, big.subarray(0, 3), { out: { values: big.subarray(1, 4) } }), TypeError, 'RR_ERR_INVALID_ARGUMENT', 'soft_rank: grad_values overlaps cotangent_ranks; a written buffer must not share memory with another buffer of the call (grad_values may be cotangent_ranks itself, but not overlap it in part)'],
    ['out of [batch, n, n] too short', () => rr.neuralSort(x, { out: new Float64Array(3) }), RangeError, 'RR_ERR_SHAPE_MISMATCH', 'neural_sort: out has 3 elements, expected batch × n × n = 1 × 3 × 3 = 9'],
    ['out of [batch, m] too long', () => rr.softQuantile(x, { quantiles: [0.1, 0.9], out: new Float64Array(3) }), RangeError, 'RR_ERR_SHAPE_MISMATCH', 'soft_quantile: out has 3 elements, expected batch × m = 1 × 2 = 2'],
    ['out of [batch, n, n] overlaps the input', () => rr.neuralSort(big.subarray(0, 3), { out: big.subarray(2, 11) }), TypeError, 'RR_ERR_INVALID_ARGUMENT', 'neural_sort: permutation_matrix overlaps values; a written buffer must not share memory with another buffer of the call'],
    ['gradient out of the second input of another length', () => rr.neuralSortApplyVjp(x, x.slice(), x.slice(), { out: { payload: new Float64Array(2) } }), RangeError, 'RR_ERR_SHAPE_MISMATCH', 'neural_sort_apply: out.payload has 2 elements, expected batch × n = 1 × 3 = 3'],
    ['gradient out overlaps the cotangent of soft_topk in part', () => rr.softTopkVjp(x, big.subarray(0, 3), { out: { values: big.subarray(1, 4) } }), TypeError, 'RR_ERR_INVALID_ARGUMENT', 'soft_topk: grad_values overlaps cotangent_selection; a written buffer must not share memory with another buffer of the call (grad_values may be cotangent_selection itself, but not overlap it in part)'],
    ['two gradient outs overlap', () => rr.spearmanLossVjp(x, x.slice(), new Float64Array(1), { out: { predictions: big.subarray(0, 3), targets: big.subarray(2, 5) } }), TypeError, 'RR_ERR_INVALID_ARGUMENT', 'spearman_loss: grad_predictions overlaps grad_targets; a written buffer must not share memory with another buffer of the call'],
  ];

  for (const [name, call, Class, code, message] of OUT_CASES) {
    it(name, () => assert.throws(call, (e) => expectError(e, Class, code, message)));
  }

  it('a bad out leaves it untouched', () => {
    const out = new Float64Array(3).fill(7);
    assert.throws(() => rr.softRank(new Float64Array([1, NaN, 2]), { out }), RangeError);
    assert.deepEqual(Array.from(out), [7, 7, 7]);
  });

  it('the input is reported before the length of out', () => {
    assert.throws(
      () => rr.softRank(new Float64Array(7), { n: 3, out: new Float64Array(2) }),
      (e) => expectError(e, RangeError, 'RR_ERR_SHAPE_MISMATCH', 'soft_rank: values has 7 elements, expected batch × n = 2 × 3 = 6'),
    );
  });

  it('async functions and withVjp refuse out', async () => {
    const message = 'soft_rank: unknown option "out" (only the sync call, its VJP, its JVP and its HVP take out); the options are n, mask, regularizationStrength, regularization, direction';
    await assert.rejects(() => rr.softRankAsync(x, { out: new Float64Array(3) }), (e) => expectError(e, TypeError, 'RR_ERR_INVALID_ARGUMENT', message));
    await assert.rejects(() => rr.softRankVjpAsync(x, x, { out: {} }), (e) => expectError(e, TypeError, 'RR_ERR_INVALID_ARGUMENT', message));
    assert.throws(() => rr.softRankWithVjp(x, { out: new Float64Array(3) }), (e) => expectError(e, TypeError, 'RR_ERR_INVALID_ARGUMENT', message));
  });
});

describe('the raw binding', () => {
  it('refuses a written array that overlaps another', async () => {
    const { native } = await import('../dist/native.js');
    const buf = new Float64Array(3);
    assert.throws(
      () => native.softRankF64(1, 3, 1, 'l2', 'ascending', buf, null, buf),
      (e) => expectError(e, TypeError, 'RR_ERR_INVALID_ARGUMENT', 'soft_rank: ranks overlaps values; a written buffer must not share memory with another buffer of the call'),
    );
  });

  it('never crashes on a hostile shape', async () => {
    const { native } = await import('../dist/native.js');
    assert.throws(() => native.softRankF64(0xffffffff, 0xffffffff, 1, 'l2', 'ascending', new Float64Array(3), null, new Float64Array(3)), RangeError);
  });
});
