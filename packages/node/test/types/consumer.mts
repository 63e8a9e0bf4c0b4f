// A consumer of the ESM entry using every op, checked with `tsc --noEmit` against the built
// .d.mts/.d.ts (test-node.sh runs it). Lines marked @ts-expect-error must NOT compile.
import {
  ABI_HASH,
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
  softRankVjp,
  softRankVjpAsync,
  softRankWithVjp,
  softSort,
  softSortAsync,
  softSortVjp,
  softSortVjpAsync,
  softSortWithVjp,
  spearmanLoss,
  spearmanLossAsync,
  spearmanLossVjp,
  spearmanLossVjpAsync,
  spearmanLossWithVjp,
  type Direction,
  type RealArray,
  type Regularization,
  type SoftRankGradients,
  type SoftRankOptions,
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
  void [a64, a32, a3, a4, a5, v1, v2, v3, v4, v5];
}

const options: SoftRankOptions = { n: 2, regularizationStrength: undefined };
const reg: Regularization = 'l2';
const dir: Direction = 'descending';
setNumThreads(2);
const threads: number = numThreads();
const hash: string = ABI_HASH;

void [r64, r32, rAny, wrong, o64, o32, og, ogs, s64, s32, g64, l64, l32, gv, ge, sg32, sig, spp, spt, nds, prr, prg, ps, pg, pl, pn, options, reg, dir, threads, hash, run];
