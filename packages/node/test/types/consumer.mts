// A consumer of the ESM entry using every op, checked with `tsc --noEmit` against the built
// .d.mts/.d.ts (test-node.sh runs it). Lines marked @ts-expect-error must NOT compile.
import {
  ABI_HASH,
  neuralSort,
  neuralSortApply,
  neuralSortApplyAsync,
  neuralSortApplyVjp,
  neuralSortApplyVjpAsync,
  neuralSortApplyWithVjp,
  neuralSortAsync,
  neuralSortVjp,
  neuralSortVjpAsync,
  neuralSortWithVjp,
  ndcgLoss,
  ndcgLossAsync,
  ndcgLossVjp,
  ndcgLossVjpAsync,
  ndcgLossWithVjp,
  numThreads,
  setNumThreads,
  sigmoidRank,
  sigmoidRankAsync,
  sigmoidRankVjp,
  sigmoidRankVjpAsync,
  sigmoidRankWithVjp,
  softRank,
  softRankAsync,
  softRankJvp,
  softRankJvpAsync,
  softRankVjp,
  softRankVjpAsync,
  softRankWithVjp,
  softSort,
  softSortAsync,
  softSortVjp,
  softSortVjpAsync,
  softSortWithVjp,
  softQuantile,
  softQuantileAsync,
  softQuantileVjp,
  softQuantileVjpAsync,
  softQuantileWithVjp,
  softTopk,
  softTopkAsync,
  softTopkVjp,
  softTopkVjpAsync,
  softTopkWithVjp,
  spearmanLoss,
  spearmanLossAsync,
  spearmanLossJvp,
  ndcgLossJvp,
  neuralSortApplyJvp,
  softQuantileJvpAsync,
  softSortHvp,
  softSortHvpAsync,
  neuralSortApplyHvp,
  spearmanLossVjp,
  spearmanLossVjpAsync,
  spearmanLossWithVjp,
  type BoolArray,
  type Direction,
  type RealArray,
  type RealList,
  type Regularization,
  type SoftQuantileOptions,
  type SoftTopkOptions,
  type TopkRegularization,
  type SoftRankGradients,
  type SoftRankJvpOptions,
  type SoftRankOptions,
  type SoftSortHvp,
  type SoftSortHvpOptions,
  type SpearmanLossWithVjp,
} from '@rank-relax/node';

const x64 = new Float64Array([3, 1, 2, 0.5]);
const x32 = new Float32Array([3, 1, 2, 0.5]);
const any: RealArray = Math.random() > 0.5 ? x64 : x32;

// Float64Array in → Float64Array out; Float32Array in → Float32Array out.
const r64: Float64Array = softRank(x64, { regularizationStrength: 0.1, regularization: 'kl', direction: 'descending' });
const r32: Float32Array = softRank(x32, { n: 2 });
const rAny: RealArray = softRank(any);
// @ts-expect-error a Float32Array input does not give a Float64Array
const wrong: Float64Array = softRank(x32);
// @ts-expect-error an unknown enum value
softRank(x64, { regularization: 'l1' });
// @ts-expect-error an option of another op
sigmoidRank(x64, { regularization: 'l2' });
// @ts-expect-error a plain array is not accepted
softRank([1, 2, 3]);

const s64: Float64Array = softSort(x64, { direction: 'ascending' });
const s32: Float32Array = softSort(x32);
const g64: Float64Array = sigmoidRank(x64, { regularizationStrength: 0.5 });
const l64: Float64Array = spearmanLoss(x64, x64, { n: 2 });
const l32: Float32Array = ndcgLoss(x32, x32, { n: 4, regularization: 'l2' });
// @ts-expect-error predictions and targets of different types
spearmanLoss(x64, x32);

// VJPs: one array per differentiable input, a number per param with a gradient.
const grads: SoftRankGradients<Float64Array> = softRankVjp(x64, x64);
const gv: Float64Array = grads.values;
const ge: number = grads.regularizationStrength;
const sg32: Float32Array = softSortVjp(x32, x32).values;
const sig: number = sigmoidRankVjp(x64, x64).regularizationStrength;
const sp = spearmanLossVjp(x64, x64, new Float64Array(1));
const spp: Float64Array = sp.predictions;
const spt: Float64Array = sp.targets;
const nd = ndcgLossVjp(x32, x32, new Float32Array(1));
const nds: Float32Array = nd.scores;
// @ts-expect-error relevance receives no gradient
nd.relevance;

// Caller-provided outputs: `out` of the input's type, returned as it is.
const o64: Float64Array = softRank(x64, { out: new Float64Array(4) });
const o32: Float32Array = sigmoidRank(x32, { n: 2, out: new Float32Array(4) });
const og: Float64Array = softRankVjp(x64, x64, { out: { values: new Float64Array(4) } }).values;
const ogs: Float32Array = spearmanLossVjp(x32, x32, new Float32Array(1), { out: { targets: new Float32Array(4) } }).predictions;
// @ts-expect-error out of another type than the input
softRank(x64, { out: new Float32Array(4) });
// @ts-expect-error a VJP's out holds one array per differentiable input
softRankVjp(x64, x64, { out: new Float64Array(4) });
// @ts-expect-error relevance receives no gradient, so out has no field for it
ndcgLossVjp(x64, x64, new Float64Array(1), { out: { relevance: new Float64Array(4) } });
// @ts-expect-error async functions take no out
softRankAsync(x64, { out: new Float64Array(4) });

// Pullbacks.
const pr = softRankWithVjp(x64);
const prr: Float64Array = pr.ranks;
const prg: Float64Array = pr.vjp(x64).values;
const ps: Float64Array = softSortWithVjp(x64).sorted;
const pg: Float32Array = sigmoidRankWithVjp(x32).vjp(x32).values;
const pl: SpearmanLossWithVjp<Float64Array> = spearmanLossWithVjp(x64, x64);
const pn: Float64Array = ndcgLossWithVjp(x64, x64).vjp(new Float64Array(1)).scores;

// Async companions.
async function run(): Promise<void> {
  const a64: Float64Array = await softRankAsync(x64);
  const a32: Float32Array = await softSortAsync(x32);
  const a3: Float64Array = await sigmoidRankAsync(x64);
  const a4: Float64Array = await spearmanLossAsync(x64, x64);
  const a5: Float32Array = await ndcgLossAsync(x32, x32);
  const v1: Float64Array = (await softRankVjpAsync(x64, x64)).values;
  const v2: Float32Array = (await softSortVjpAsync(x32, x32)).values;
  const v3: number = (await sigmoidRankVjpAsync(x64, x64)).regularizationStrength;
  const v4: Float64Array = (await spearmanLossVjpAsync(x64, x64, x64)).targets;
  const v5: Float64Array = (await ndcgLossVjpAsync(x64, x64, x64)).scores;
  const a6: Float32Array = await softTopkAsync(x32, { k: 2 });
  const a7: Float64Array = await softQuantileAsync(x64, { quantiles: [0.5] });
  const a8: Float64Array = await neuralSortAsync(x64);
  const a9: Float32Array = await neuralSortApplyAsync(x32, x32);
  const v6: Float32Array = (await softTopkVjpAsync(x32, x32)).values;
  const v7: number = (await softQuantileVjpAsync(x64, x64)).regularizationStrength;
  const v8: Float64Array = (await neuralSortVjpAsync(x64, x64)).values;
  const v9: Float64Array = (await neuralSortApplyVjpAsync(x64, x64, x64)).payload;
  void [a64, a32, a3, a4, a5, v1, v2, v3, v4, v5, a6, a7, a8, a9, v6, v7, v8, v9];
}

// soft_topk: k a number, its own regularization enum (l2 or p43), descending by default.
const t64: Float64Array = softTopk(x64, { k: 2, regularization: 'p43', direction: 'ascending' });
const t32: Float32Array = softTopk(x32, { n: 2, k: 1, out: new Float32Array(4) });
const tg: Float64Array = softTopkVjp(x64, x64, { k: 2, out: { values: x64 } }).values;
const tw: Float32Array = softTopkWithVjp(x32, { k: 3 }).vjp(x32).values;
const topkReg: TopkRegularization = 'p43';
// @ts-expect-error kl is soft_rank's regularization, not soft_topk's
softTopk(x64, { regularization: 'kl' });
// @ts-expect-error k is a number
softTopk(x64, { k: '2' });
// @ts-expect-error k is a number, not a boolean
softTopk(x64, { k: true });
// soft_quantile: quantiles an array of numbers or a float typed array; the output [B, m].
const q64: Float64Array = softQuantile(x64, { quantiles: [0.25, 0.75] });
const q32: Float32Array = softQuantile(x32, { quantiles: new Float64Array([0.5]), regularization: 'kl' });
const qg: Float64Array = softQuantileVjp(x64, new Float64Array(2), { quantiles: new Float32Array([0.1, 0.9]) }).values;
const qw: number = softQuantileWithVjp(x64, { quantiles: [0.5] }).vjp(new Float64Array(1)).regularizationStrength;
const list: RealList = [0, 1];
const qOptions: SoftQuantileOptions = { quantiles: list };
// @ts-expect-error quantiles is a list, not a number
softQuantile(x64, { quantiles: 0.5 });
// @ts-expect-error quantiles holds numbers
softQuantile(x64, { quantiles: ['0.5'] });
// @ts-expect-error soft_quantile has no direction
softQuantile(x64, { direction: 'ascending' });
// neural_sort: [B, n, n]; neural_sort_apply: a gradient for the payload too.
const p64: Float64Array = neuralSort(x64, { regularizationStrength: 0.5, direction: 'descending' });
const pm: Float32Array = neuralSortWithVjp(x32).permutationMatrix;
const pv: number = neuralSortVjp(x64, new Float64Array(16)).regularizationStrength;
const na: Float64Array = neuralSortApply(x64, x64, { out: new Float64Array(4) });
const nag = neuralSortApplyVjp(x32, x32, x32, { out: { payload: new Float32Array(4) } });
const nagp: Float32Array = nag.payload;
const nagv: Float32Array = nag.values;
const naw: Float64Array = neuralSortApplyWithVjp(x64, x64).vjp(x64).payload;
// @ts-expect-error values and payload of different types
neuralSortApply(x64, x32);
const tOptions: SoftTopkOptions = { k: 2, regularization: topkReg };

// JVPs: the inputs, one tangent per differentiable input, the output tangent of the input's type.
const j64: Float64Array = softRankJvp(x64, x64, { tangentRegularizationStrength: 1, regularization: 'kl' });
const j32: Float32Array = softRankJvp(x32, x32, { n: 2, out: new Float32Array(4) });
const js: Float64Array = spearmanLossJvp(x64, x64, x64, x64, { n: 2 });
const jn: Float32Array = ndcgLossJvp(x32, x32, x32);
const ja: Float64Array = neuralSortApplyJvp(x64, x64, x64, x64, { direction: 'descending' });
const jOptions: SoftRankJvpOptions = { tangentRegularizationStrength: 0.5 };
async function runJvp(): Promise<Float32Array> {
  const q: Float32Array = await softQuantileJvpAsync(x32, x32, { quantiles: [0.5], tangentRegularizationStrength: 1 });
  return (await softRankJvpAsync(x32, q)).subarray(0);
}
// @ts-expect-error a tangent of another type than the input
softRankJvp(x64, x32);
// @ts-expect-error relevance has no tangent: ndcgLossJvp takes three arrays
ndcgLossJvp(x64, x64, x64, x64);
// @ts-expect-error the ε tangent is a number
softRankJvp(x64, x64, { tangentRegularizationStrength: '1' });
// @ts-expect-error async functions take no out
softRankJvpAsync(x64, x64, { out: new Float64Array(4) });
void [j64, j32, js, jn, ja, jOptions, runJvp];

// HVPs: the inputs, the cotangent, one tangent per differentiable input; shaped as the gradients.
const h64: SoftSortHvp<Float64Array> = softSortHvp(x64, x64, x64, { tangentRegularizationStrength: 1, out: { values: new Float64Array(4) } });
const h32: Float32Array = softSortHvp(x32, x32, x32, { n: 2 }).values;
const hEps: number = h64.regularizationStrength;
const ha: { values: Float64Array; payload: Float64Array } = neuralSortApplyHvp(x64, x64, x64, x64, x64);
const hOptions: SoftSortHvpOptions = { tangentRegularizationStrength: 0.5 };
async function runHvp(): Promise<Float32Array> {
  return (await softSortHvpAsync(x32, x32, x32, hOptions)).values;
}
// @ts-expect-error a cotangent of another type than the input
softSortHvp(x64, x32, x64);
// @ts-expect-error async functions take no out
softSortHvpAsync(x64, x64, x64, { out: {} });
void [h64, h32, hEps, ha, runHvp];

// Masks: an option of every function, a Uint8Array or an array of booleans.
const maskBits = new Uint8Array([1, 1, 0, 1]);
const maskList: BoolArray = [true, true, false, true];
const m64: Float64Array = softRank(x64, { mask: maskBits, out: new Float64Array(4) });
const m32: Promise<Float32Array> = softSortAsync(x32, { n: 2, mask: maskList });
const mg: Float64Array = spearmanLossVjp(x64, x64, new Float64Array(1), { mask: maskBits }).targets;
const mw: Float32Array = softTopkWithVjp(x32, { k: 2, mask: [true, false, true, true] }).vjp(x32).values;
const mj: Float64Array = softRankJvp(x64, x64, { mask: maskList, tangentRegularizationStrength: 1 });
const mh: Float64Array = neuralSortApplyHvp(x64, x64, x64, x64, x64, { mask: maskBits }).payload;
const mOptions: SoftRankOptions = { mask: undefined };
// @ts-expect-error a mask of floats
softRank(x64, { mask: new Float64Array(4) });
// @ts-expect-error a mask of numbers
softRank(x64, { mask: [1, 0, 1, 1] });
// @ts-expect-error the mask is an option, not an argument
softRank(x64, maskBits);
void [m64, m32, mg, mw, mj, mh, mOptions];

const options: SoftRankOptions = { n: 2, regularizationStrength: undefined };
const reg: Regularization = 'l2';
const dir: Direction = 'descending';
setNumThreads(2);
const threads: number = numThreads();
const hash: string = ABI_HASH;

void [t64, t32, tg, tw, q64, q32, qg, qw, qOptions, p64, pm, pv, na, nagp, nagv, naw, tOptions];
void [r64, r32, rAny, wrong, o64, o32, og, ogs, s64, s32, g64, l64, l32, gv, ge, sg32, sig, spp, spt, nds, prr, prg, ps, pg, pl, pn, options, reg, dir, threads, hash, run];

// soft_sort_topk: two outputs, an object by name; the indices an Int32Array; one cotangent (the
// top values'), one tangent out of the JVP.
import {
  softSortTopk,
  softSortTopkAsync,
  softSortTopkHvp,
  softSortTopkJvp,
  softSortTopkJvpAsync,
  softSortTopkVjp,
  softSortTopkVjpAsync,
  softSortTopkWithVjp,
  type SoftSortTopkGradients,
  type SoftSortTopkOptions,
  type SoftSortTopkOut,
  type SoftSortTopkResult,
  type SoftSortTopkWithVjp,
} from '@rank-relax/node';

const xs64 = new Float64Array([3, 1, 2, 0.5]);
const xs32 = new Float32Array([3, 1, 2, 0.5]);
const topk64: SoftSortTopkResult<Float64Array> = softSortTopk(xs64, { k: 2, mask: [true, true, false, true] });
const topk32: SoftSortTopkResult<Float32Array> = softSortTopk(xs32, { k: 2 });
const tv32: Float32Array = topk32.topValues;
const ti: Int32Array = topk64.indices;
const { topValues: tv64, indices: ti64 } = softSortTopk(xs64, { k: 2, out: { topValues: new Float64Array(2), indices: new Int32Array(2) } });
const topkOut: SoftSortTopkOut<Float64Array> = { indices: new Int32Array(2) };
const topkAsync: Promise<SoftSortTopkResult<Float32Array>> = softSortTopkAsync(xs32, { k: 1 });
const topkGrads: SoftSortTopkGradients<Float64Array> = softSortTopkVjp(xs64, new Float64Array(2), { k: 2 });
const topkGradsAsync: Promise<SoftSortTopkGradients<Float32Array>> = softSortTopkVjpAsync(xs32, new Float32Array(2), { k: 2 });
const topkWith: SoftSortTopkWithVjp<Float64Array> = softSortTopkWithVjp(xs64, { k: 2 });
const topkWithIdx: Int32Array = topkWith.indices;
const topkPulled: Float64Array = topkWith.vjp(new Float64Array(2)).values;
const topkTangent: Float64Array = softSortTopkJvp(xs64, xs64, { k: 2, tangentRegularizationStrength: 1 });
const topkTangentAsync: Promise<Float32Array> = softSortTopkJvpAsync(xs32, xs32, { k: 2 });
const topkHvp: number = softSortTopkHvp(xs64, new Float64Array(2), xs64, { k: 2 }).regularizationStrength;
const topkOptions: SoftSortTopkOptions = { k: 3, direction: 'ascending' };
// @ts-expect-error the indices are an Int32Array, not the input's type
const wrongIndices: Float64Array = softSortTopk(xs64).indices;
// @ts-expect-error several outputs: an object, not one array
const wrongResult: Float64Array = softSortTopk(xs64);
// @ts-expect-error one cotangent: the indices have none
softSortTopkVjp(xs64, new Float64Array(2), new Int32Array(2), { k: 2 });
// @ts-expect-error k is a number
softSortTopk(xs64, { k: '2' });
// @ts-expect-error out.indices is an Int32Array
softSortTopk(xs64, { out: { indices: new Float64Array(1) } });
void [topk64, tv32, ti, tv64, ti64, topkOut, topkAsync, topkGrads, topkGradsAsync, topkWithIdx, topkPulled, topkTangent, topkTangentAsync, topkHvp, topkOptions, wrongIndices, wrongResult];

// soft_rank_grouped: the group ids an Int32Array in both dtypes (no other type compiles), never
// differentiated: no gradient, tangent or out for them.
import {
  softRankGrouped,
  softRankGroupedAsync,
  softRankGroupedHvp,
  softRankGroupedHvpAsync,
  softRankGroupedJvp,
  softRankGroupedJvpAsync,
  softRankGroupedVjp,
  softRankGroupedVjpAsync,
  softRankGroupedWithVjp,
  type SoftRankGroupedGradients,
  type SoftRankGroupedHvp,
  type SoftRankGroupedOptions,
  type SoftRankGroupedWithVjp,
} from '@rank-relax/node';

const gx64 = new Float64Array([3, 1, 2, 0.5, 4]);
const gx32 = new Float32Array([3, 1, 2, 0.5, 4]);
const ids = new Int32Array([0, 0, 0, 1, 1]);
const gr64: Float64Array = softRankGrouped(gx64, ids, { regularizationStrength: 0.1, direction: 'descending', mask: [true, true, true, false, true] });
const gr32: Float32Array = softRankGrouped(gx32, ids, { out: new Float32Array(5) });
const grAny: RealArray = softRankGrouped(any, ids);
const grAsync: Promise<Float32Array> = softRankGroupedAsync(gx32, ids, { regularization: 'kl' });
const grGrads: SoftRankGroupedGradients<Float64Array> = softRankGroupedVjp(gx64, ids, gx64, { out: { values: new Float64Array(5) } });
const grGradsAsync: Promise<SoftRankGroupedGradients<Float32Array>> = softRankGroupedVjpAsync(gx32, ids, gx32);
const grWith: SoftRankGroupedWithVjp<Float64Array> = softRankGroupedWithVjp(gx64, ids);
const grPulled: Float64Array = grWith.vjp(grWith.ranks).values;
const grTangent: Float32Array = softRankGroupedJvp(gx32, ids, gx32, { tangentRegularizationStrength: 1, out: new Float32Array(5) });
const grTangentAsync: Promise<Float64Array> = softRankGroupedJvpAsync(gx64, ids, gx64);
const grHvp: SoftRankGroupedHvp<Float64Array> = softRankGroupedHvp(gx64, ids, gx64, gx64, { out: { values: new Float64Array(5) } });
const grHvpAsync: Promise<SoftRankGroupedHvp<Float32Array>> = softRankGroupedHvpAsync(gx32, ids, gx32, gx32);
const grOptions: SoftRankGroupedOptions = { n: 5, mask: new Uint8Array(5) };
// @ts-expect-error group ids are an Int32Array, not the values' type
softRankGrouped(gx64, new Float64Array(5));
// @ts-expect-error group ids are an Int32Array, not a plain array
softRankGrouped(gx64, [0, 0, 0, 1, 1]);
// @ts-expect-error group ids are an Int32Array, not a Uint32Array
softRankGrouped(gx32, new Uint32Array(5));
// @ts-expect-error the group ids are required
softRankGrouped(gx64);
// @ts-expect-error the group ids have no gradient
softRankGroupedVjp(gx64, ids, gx64).groups;
// @ts-expect-error the group ids have no tangent: the JVP takes three arrays
softRankGroupedJvp(gx64, ids, gx64, gx64);
// @ts-expect-error the group ids are an argument, not an option
softRankGrouped(gx64, ids, { groups: ids });
// @ts-expect-error the output has the values' type
const grWrong: Float64Array = softRankGrouped(gx32, ids);
void [gr64, gr32, grAny, grAsync, grGrads, grGradsAsync, grPulled, grTangent, grTangentAsync, grHvp, grHvpAsync, grOptions, grWrong];
