// Fits a linear scorer s = X·w to targets with spearmanLoss and its VJP (plain gradient descent on
// the soft Spearman loss), printing the Spearman correlation of the scores rising.
// usage: node examples/fit-linear-scorer.mjs   (or: bash scripts/demo-node.sh from the repository root)
import { softRank, spearmanLossVjp, spearmanLoss } from '@rank-relax/node';

const ITEMS = 200; // items per query (row length n)
const QUERIES = 16; // rows
const FEATURES = 5;

// Deterministic data: targets depend on the features through a hidden weight vector, plus noise.
let seed = 12345;
const rand = () => {
  seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
  return seed / 2 ** 32 - 0.5;
};
const hidden = [1.5, -2.0, 0.5, 0.0, 1.0];
const X = Array.from({ length: QUERIES * ITEMS }, () => Array.from({ length: FEATURES }, rand));
const targets = Float64Array.from(X, (x) => x.reduce((s, v, j) => s + v * hidden[j], 0) + 0.3 * rand());

const scores = (w) => Float64Array.from(X, (x) => x.reduce((s, v, j) => s + v * w[j], 0));

/** The hard Spearman correlation per query, averaged (ranks with ε → 0). */
function spearman(s) {
  const a = softRank(s, { n: ITEMS, regularizationStrength: 1e-9 });
  const b = softRank(targets, { n: ITEMS, regularizationStrength: 1e-9 });
  let total = 0;
  for (let q = 0; q < QUERIES; q++) {
    const mean = (ITEMS + 1) / 2;
    let ab = 0;
    let aa = 0;
    let bb = 0;
    for (let i = q * ITEMS; i < (q + 1) * ITEMS; i++) {
      ab += (a[i] - mean) * (b[i] - mean);
      aa += (a[i] - mean) ** 2;
      bb += (b[i] - mean) ** 2;
    }
    total += ab / Math.sqrt(aa * bb);
  }
  return total / QUERIES;
}

const options = { n: ITEMS, regularizationStrength: 0.1 };
const w = [0.1, 0.1, 0.1, 0.1, 0.1];
const ones = new Float64Array(QUERIES).fill(1 / QUERIES); // d(mean loss)/d(loss of each query)
const lr = 0.05;
let first = NaN;
let last = NaN;
console.log('step  soft Spearman loss  Spearman correlation');
for (let step = 0; step <= 40; step++) {
  const s = scores(w);
  if (step % 5 === 0) {
    const loss = spearmanLoss(s, targets, options).reduce((a, b) => a + b, 0) / QUERIES;
    last = spearman(s);
    if (step === 0) first = last;
    console.log(`${String(step).padStart(4)}  ${loss.toFixed(6).padStart(18)}  ${last.toFixed(4).padStart(20)}`);
  }
  // Gradient of the mean loss with respect to the scores, then through s = X·w.
  const { predictions: gs } = spearmanLossVjp(s, targets, ones, options);
  const gw = new Array(FEATURES).fill(0);
  X.forEach((x, i) => x.forEach((v, j) => (gw[j] += v * gs[i])));
  const norm = Math.hypot(...gw) || 1;
  gw.forEach((g, j) => (w[j] -= (lr * g) / norm / Math.sqrt(1 + step / 5)));
}
console.log(`correlation ${first.toFixed(4)} → ${last.toFixed(4)}; learned direction ${w.map((v) => (v / Math.hypot(...w)).toFixed(3)).join(', ')}`);
console.log(`hidden direction                ${hidden.map((v) => (v / Math.hypot(...hidden)).toFixed(3)).join(', ')}`);
if (!(last > first + 0.3)) {
  console.error('demo: the correlation did not rise as expected');
  process.exit(1);
}
