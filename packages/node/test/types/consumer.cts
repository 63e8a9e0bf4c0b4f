// A consumer of the CommonJS entry (require), checked with `tsc --noEmit`.
import rr = require('@rank-relax/node');

const ranks: Float32Array = rr.softRank(new Float32Array([3, 1, 2]), { regularizationStrength: 0.1 });
const loss: Float64Array = rr.ndcgLoss(new Float64Array([0.2, 1.5]), new Float64Array([0, 2]));
const grad: Float64Array = rr.spearmanLossVjp(new Float64Array(4), new Float64Array(4), new Float64Array(1)).predictions;
const quantiles: Float64Array = rr.softQuantile(new Float64Array([3, 1, 2]), { quantiles: [0.1, 0.9] });
const masked: Float64Array = rr.ndcgLoss(new Float64Array([0.2, 1.5, NaN]), new Float64Array([0, 2, 0]), { mask: [true, true, false] });
const topIndices: Int32Array = rr.softSortTopk(new Float64Array([3, 1, 2]), { k: 2 }).indices;
const grouped: Float32Array = rr.softRankGrouped(new Float32Array([3, 1, 2]), new Int32Array([0, 1, 0]), { regularizationStrength: 0.1 });
// @ts-expect-error group ids are an Int32Array
rr.softRankGrouped(new Float64Array(3), new Float64Array(3));
// @ts-expect-error a mask of numbers
rr.softRank(new Float64Array(3), { mask: [1, 1, 0] });
// @ts-expect-error an unknown direction
rr.softSort(new Float64Array(3), { direction: 'up' });
// @ts-expect-error k is a number
rr.softTopk(new Float64Array(3), { k: '1' });

export = [ranks, loss, grad, quantiles, masked, topIndices, grouped];
