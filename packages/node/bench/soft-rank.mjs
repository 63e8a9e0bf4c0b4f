// softRank + softRankVjp at 128 × 1000 (float64) through the public API, against the core doing
// the same work inside the addon (no JS, no N-API; outputs allocated per call as a Rust caller
// would). Two public paths: fresh output arrays per call (the default), and caller-provided
// arrays reused across calls (the `out` option). Rounds rotate the order of the paths so that load
// on the machine hits all alike; times are medians over the rounds, and each ratio to the core is
// the median of the per-round ratios. Also times the raw
// binding into reused arrays (the N-API crossing alone) and the softRankWithVjp path (forward once,
// then the pullback). usage: node bench/soft-rank.mjs [--rounds R] [--reps K] [--json FILE]
// With BENCH_OUT set (a folder), appends one JSON line per path to $BENCH_OUT/node.jsonl.
import { appendFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import * as rr from '@rank-relax/node';

import { native } from '../dist/native.js';

const args = process.argv.slice(2);
const opt = (name, fallback) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : fallback;
};
const ROUNDS = Number(opt('--rounds', 41));
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

// The public API into caller-provided arrays, reused across calls (the `out` option).
const outRanks = new Float64Array(B * N);
const outGrad = new Float64Array(B * N);
const outOptions = { ...options, out: outRanks };
const outVjpOptions = { ...options, out: { values: outGrad } };
function outPath() {
  const t = process.hrtime.bigint();
  for (let r = 0; r < REPS; r++) {
    rr.softRank(values, outOptions);
    rr.softRankVjp(values, cotangent, outVjpOptions);
  }
  return Number(process.hrtime.bigint() - t) / 1e9 / REPS;
}

// The same two calls through the raw binding into preallocated outputs: the JS → N-API → core
// crossing alone, without the checks of the public API.
const outGradEps = new Float64Array(B);
function bindingPath() {
  const t = process.hrtime.bigint();
  for (let r = 0; r < REPS; r++) {
    native.softRankF64(B, N, EPS, 'l2', 'ascending', values, null, outRanks);
    native.softRankVjpF64(B, N, EPS, 'l2', 'ascending', values, null, cotangent, outGrad, outGradEps);
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
  outPath();
  withVjpPath();
  bindingPath();
}

// Each round runs every path once, in an order that rotates from round to round, so that none
// always follows another (a fresh-array path leaves garbage for the next one to collect).
const paths = { core: corePath, fresh: jsPath, out: outPath, binding: bindingPath, withVjp: withVjpPath };
const names = Object.keys(paths);
const times = Object.fromEntries(names.map((k) => [k, []]));
for (let round = 0; round < ROUNDS; round++) {
  for (let i = 0; i < names.length; i++) {
    const k = names[(round + i) % names.length];
    times[k].push(paths[k]());
  }
}

const med = Object.fromEntries(names.map((k) => [k, median(times[k])]));
const ms = (s) => (s * 1e3).toFixed(3);
// Each path against the core in the same round (measured moments apart, so under the same load),
// then the median over the rounds: steadier on a shared machine than a ratio of two medians.
const ratio = (k) => median(times[k].map((t, i) => t / times.core[i]));
const result = {
  shape: [B, N],
  dtype: 'f64',
  threads: rr.numThreads(),
  rounds: ROUNDS,
  reps: REPS,
  core_ms: med.core * 1e3,
  node_ms: med.fresh * 1e3,
  overhead: ratio('fresh') - 1,
  node_out_ms: med.out * 1e3,
  out_overhead: ratio('out') - 1,
  binding_ms: med.binding * 1e3,
  binding_overhead: ratio('binding') - 1,
  node_with_vjp_ms: med.withVjp * 1e3,
};
const pct = (k) => `${((ratio(k) - 1) * 100).toFixed(2)}%`;
console.log(`softRank + softRankVjp, ${B} × ${N} float64, ε = ${EPS}, ${result.threads} threads, median of ${ROUNDS} rounds × ${REPS} reps`);
console.log('  path                                           ms/iter   vs core');
const row = (label, k, note = '') => console.log(`  ${label.padEnd(45)} ${ms(med[k]).padStart(8)}   ${ratio(k).toFixed(4)} (${pct(k)})${note}`);
row('core (in the addon, no JS; fresh Vecs)', 'core');
row('public API, fresh output arrays', 'fresh');
row('public API, out (reused arrays)', 'out');
row('raw binding, reused arrays', 'binding', ' the N-API crossing alone');
row('softRankWithVjp + vjp (fresh arrays)', 'withVjp', ' forward once; copies its saves');
const json = opt('--json', '');
if (json !== '') writeFileSync(json, `${JSON.stringify(result, null, 2)}\n`);
const benchOut = process.env.BENCH_OUT;
if (benchOut !== undefined && benchOut !== '') {
  mkdirSync(benchOut, { recursive: true });
  const labels = {
    core: 'core (in the addon, no JS)',
    fresh: 'public API, fresh output arrays',
    out: 'public API, out (reused arrays)',
    binding: 'raw binding, reused arrays',
    withVjp: 'softRankWithVjp + vjp',
  };
  const lines = names.map((k) => JSON.stringify({
    bench: 'node',
    case: 'softRank + softRankVjp',
    path: labels[k],
    shape: [B, N],
    dtype: 'f64',
    threads: result.threads,
    ms: med[k] * 1e3,
    vs_core: ratio(k),
    rounds: ROUNDS,
    reps: REPS,
  }));
  appendFileSync(join(benchOut, 'node.jsonl'), `${lines.join('\n')}\n`);
}
