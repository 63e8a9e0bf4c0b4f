// softRank + softRankVjp at 128 × 1000 (float64) through the public API, against the core doing
// the same work inside the addon (no JS, no N-API; outputs allocated per call as a Rust caller
// would). Rounds alternate the two so that load on the machine hits both alike; the overhead is
// the ratio of the medians. Also times the softRankWithVjp path (forward once, then the pullback)
// for comparison. usage: node bench/soft-rank.mjs [--rounds R] [--reps K] [--json FILE]
import { writeFileSync } from 'node:fs';

import * as rr from '@rank-relax/node';

import { native } from '../dist/native.js';

const args = process.argv.slice(2);
const opt = (name, fallback) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : fallback;
};
const ROUNDS = Number(opt('--rounds', 21));
const REPS = Number(opt('--reps', 10));
const B = 128;
const N = 1000;
const EPS = 0.1;

function randoms(len, seed) {
  const out = new Float64Array(len);
  let s = seed >>> 0;
  for (let i = 0; i < len; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 2 ** 32;
  }
  return out;
}

const values = randoms(B * N, 1);
const cotangent = randoms(B * N, 2);
const options = { n: N, regularizationStrength: EPS };

function jsPath() {
  const t = process.hrtime.bigint();
  for (let r = 0; r < REPS; r++) {
    rr.softRank(values, options);
    rr.softRankVjp(values, cotangent, options);
  }
  return Number(process.hrtime.bigint() - t) / 1e9 / REPS;
}

function withVjpPath() {
  const t = process.hrtime.bigint();
  for (let r = 0; r < REPS; r++) rr.softRankWithVjp(values, options).vjp(cotangent);
  return Number(process.hrtime.bigint() - t) / 1e9 / REPS;
}

// The same two calls through the raw binding into preallocated outputs: the JS → N-API → core
// crossing alone, without the fresh output arrays the public API returns.
const outRanks = new Float64Array(B * N);
const outGrad = new Float64Array(B * N);
const outGradEps = new Float64Array(B);
function bindingPath() {
  const t = process.hrtime.bigint();
  for (let r = 0; r < REPS; r++) {
    native.softRankF64(B, N, EPS, 'l2', 'ascending', values, outRanks);
    native.softRankVjpF64(B, N, EPS, 'l2', 'ascending', values, cotangent, outGrad, outGradEps);
  }
  return Number(process.hrtime.bigint() - t) / 1e9 / REPS;
}

const corePath = () => native.rrBenchCoreSoftRank(N, EPS, REPS, values, cotangent);

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
};

// Warm up (page in the buffers, JIT the wrappers, start the thread pool).
for (let i = 0; i < 3; i++) {
  corePath();
  jsPath();
  withVjpPath();
  bindingPath();
}

const core = [];
const js = [];
const pullback = [];
const binding = [];
for (let round = 0; round < ROUNDS; round++) {
  // Alternate which goes first, so neither always follows the other.
  if (round % 2 === 0) {
    core.push(corePath());
    js.push(jsPath());
  } else {
    js.push(jsPath());
    core.push(corePath());
  }
  pullback.push(withVjpPath());
  binding.push(bindingPath());
}

const ms = (s) => (s * 1e3).toFixed(3);
const result = {
  shape: [B, N],
  dtype: 'f64',
  threads: rr.numThreads(),
  rounds: ROUNDS,
  reps: REPS,
  core_ms: median(core) * 1e3,
  node_ms: median(js) * 1e3,
  overhead: median(js) / median(core) - 1,
  node_with_vjp_ms: median(pullback) * 1e3,
  binding_ms: median(binding) * 1e3,
  binding_overhead: median(binding) / median(core) - 1,
};
console.log(`softRank + softRankVjp, ${B} × ${N} float64, ε = ${EPS}, ${result.threads} threads, median of ${ROUNDS} rounds × ${REPS} reps`);
console.log(`  core (in the addon, no JS)     ${ms(median(core))} ms`);
console.log(`  @rank-relax/node public API    ${ms(median(js))} ms`);
console.log(`  overhead ratio                 ${(median(js) / median(core)).toFixed(4)} (${(result.overhead * 100).toFixed(2)}%)`);
console.log(`  raw binding, reused outputs    ${ms(median(binding))} ms (ratio ${(median(binding) / median(core)).toFixed(4)}: the N-API crossing alone)`);
console.log(`  softRankWithVjp + vjp          ${ms(median(pullback))} ms (forward once; copies its saves)`);
const json = opt('--json', '');
if (json !== '') writeFileSync(json, `${JSON.stringify(result, null, 2)}\n`);
