// The shared bad-input matrix (testdata/bad-input.json; format in testdata/README.md): every case
// tagged "node", once per dtype it lists, through the public API: the op (`softRank`) for pass
// "forward", `<op>WithVjp` then its `vjp(cotangent)` for pass "backward" (`<op>Vjp` with `out` when
// the case has an `alias`).
//
// Node layout: every TENSOR is a flat row-major Float64Array / Float32Array with the `n` option (the
// case's `n`, else the last dimension of the first input; a 1-D input is one row). A 0-d input is the
// bare number. A bool input (`mask`) is the option of its name, a flat array of booleans. An int32
// input (soft_rank_grouped's `groups`) is an Int32Array of the JSON integers in every dtype, never
// rounded to the case's float type. Casts: int32 → Int32Array (truncated like NumPy's astype);
// float64 / float32 → that array (a mask's 0/1); int64 → BigInt64Array; bool → an array of booleans
// (nonzero = true; Node's bool array, as `mask` takes it). Params go as the JSON has
// them (an int as a number, a list as an array of numbers, a wrong type as given), real ones and
// list elements with "nan"/"inf" read as numbers and regularization_strength rounded to the dtype.
// Expectations: InvalidType → TypeError; InvalidValue / ShapeMismatch → RangeError; InvalidArgument →
// RangeError or TypeError; each with `code` RR_ERR_<KIND> (InvalidType: RR_ERR_INVALID_ARGUMENT) and
// the core's exact message, or every `contains` fragment. `ok` → no exception, no NaN anywhere, and
// the listed checks. `overrides.node` replaces `expect`. RANK_RELAX_BAD_INPUT overrides the path.
// `alias` [WRITTEN, OTHER, OFFSET?] names buffers as the C ABI does; WRITTEN is an `out` array: the
// op's output (forward) or `grad_<input>` (backward, `out[<input>]`), a view of OTHER's memory from
// its element OFFSET; OTHER is an input, `cotangent_<output>` or another `grad_<input>`.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';

import * as rr from '@rank-relax/node';
import { REPO_ROOT, camel } from './helpers.mjs';

const PATH = process.env.RANK_RELAX_BAD_INPUT || join(REPO_ROOT, 'testdata', 'bad-input.json');

// The spec's ops: the required inputs in order (arguments), the int32 ones among them (`ints`: no
// gradient, an Int32Array), the bool ones (options: `mask`), the (differentiable) output's name and
// the dims of one row of it (`[]`: one value per row; `m`: the number of quantiles; `k`: the param
// k). An op with several outputs lists them (`outputs`): it returns an object of them by camelCase
// name, and its `out` is such an object.
const MASK = ['mask'];
const OPS = {
  soft_rank: { inputs: ['values'], bools: MASK, output: 'ranks', row: ['n'] },
  soft_sort: { inputs: ['values'], bools: MASK, output: 'sorted', row: ['n'] },
  sigmoid_rank: { inputs: ['values'], bools: MASK, output: 'ranks', row: ['n'] },
  spearman_loss: { inputs: ['predictions', 'targets'], bools: MASK, output: 'loss', row: [] },
  ndcg_loss: { inputs: ['scores', 'relevance'], bools: MASK, output: 'loss', row: [] },
  soft_topk: { inputs: ['values'], bools: MASK, output: 'selection', row: ['n'] },
  soft_quantile: { inputs: ['values'], bools: MASK, output: 'result', row: ['m'] },
  neural_sort: { inputs: ['values'], bools: MASK, output: 'permutation_matrix', row: ['n', 'n'] },
  neural_sort_apply: { inputs: ['values', 'payload'], bools: MASK, output: 'output', row: ['n'] },
  soft_sort_topk: { inputs: ['values'], bools: MASK, output: 'top_values', outputs: ['top_values', 'indices'], row: ['k'] },
  soft_rank_grouped: { inputs: ['values', 'groups'], ints: ['groups'], bools: MASK, output: 'ranks', row: ['n'] },
};

/** Whether a required input of `op` is int32 (no gradient; an Int32Array whatever the dtype). */
const isInt = (op, name) => (op.ints ?? []).includes(name);

/** The output's number of elements: batch × the row dims (m = the quantiles given, else the spec's one). */
function outputLength(op, batch, options) {
  const dims = { n: options.n, m: options.quantiles?.length ?? 1, k: options.k ?? 1 };
  return op.row.reduce((len, d) => len * dims[d], batch);
}

/** A param from the JSON: a real one as a number, a list's numeric elements as numbers, anything else as given. */
function param(name, value, Type) {
  const numeric = (x) => typeof x === 'number' || x === 'nan' || x === 'inf' || x === '-inf';
  if (name === 'regularization_strength') return Type === Float32Array ? Math.fround(number(value)) : number(value);
  if (Array.isArray(value)) return value.map((x) => (numeric(x) ? number(x) : x));
  return value;
}

/**
 * Applies a case's `alias` [WRITTEN, OTHER, OFFSET?] (C ABI names) to the arrays of a call:
 * `arrays` maps names to arrays (inputs, `cotangent_<output>`, `grad_<input>`) and `lengths` the
 * length of each written one. WRITTEN becomes a view of OTHER's memory from element OFFSET; when it
 * would run past OTHER's end, both become views of one larger buffer holding OTHER's data.
 */
function applyAlias(alias, arrays, lengths, Type) {
  const [written, other, offset = 0] = alias;
  const o = arrays[other];
  const len = lengths[written];
  if (o === undefined || len === undefined) throw new Error(`bad-input: alias ${JSON.stringify(alias)} names an unknown buffer`);
  if (offset + len <= o.length) {
    arrays[written] = new Type(o.buffer, o.byteOffset + offset * Type.BYTES_PER_ELEMENT, len);
    return;
  }
  const block = new Type(offset + len);
  block.set(o);
  arrays[other] = block.subarray(0, o.length);
  arrays[written] = block.subarray(offset, offset + len);
}

const CODES = {
  InvalidValue: 'RR_ERR_INVALID_VALUE',
  InvalidArgument: 'RR_ERR_INVALID_ARGUMENT',
  ShapeMismatch: 'RR_ERR_SHAPE_MISMATCH',
  InvalidType: 'RR_ERR_INVALID_ARGUMENT',
};
const CLASSES = {
  InvalidValue: [RangeError],
  InvalidArgument: [RangeError, TypeError],
  ShapeMismatch: [RangeError],
  InvalidType: [TypeError],
};

function number(x) {
  if (typeof x === 'number') return x;
  if (x === 'nan') return NaN;
  if (x === 'inf') return Infinity;
  if (x === '-inf') return -Infinity;
  throw new Error(`bad-input: not a number: ${JSON.stringify(x)}`);
}

function fillAt(fill, i) {
  if (fill === 'ramp') return (((7 * i + 3) % 11) - 4) / 4;
  if (fill === 'grades') return (3 * i + 1) % 4;
  return number(fill);
}

/** A TENSOR as { shape, data: number[] } (row-major). */
function tensor(t) {
  if (Array.isArray(t)) {
    // Any rank: [L], [B][n], [B][n][n].
    const shape = [];
    for (let a = t; Array.isArray(a); a = a[0]) shape.push(a.length);
    return { shape, data: t.flat(Infinity).map(number) };
  }
  if (t !== null && typeof t === 'object') {
    const shape = t.shape;
    const size = shape.reduce((a, b) => a * b, 1);
    const data = Array.from({ length: size }, (_, i) => fillAt(t.fill, i));
    for (const s of t.set ?? []) {
      let k = 0;
      s.at.forEach((a, d) => { k = k * shape[d] + a; });
      data[k] = number(s.value);
    }
    return { shape, data };
  }
  return { shape: [], data: [number(t)] };
}

/** A bool TENSOR (nested JSON booleans, or `{ shape, fill, set }` with boolean values) as a flat array of booleans. */
function boolTensor(t) {
  if (Array.isArray(t)) return t.flat(Infinity).map((x) => bool(x));
  const shape = t.shape;
  const data = Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => bool(t.fill));
  for (const s of t.set ?? []) {
    let k = 0;
    s.at.forEach((a, d) => { k = k * shape[d] + a; });
    data[k] = bool(s.value);
  }
  return data;
}

function bool(x) {
  if (typeof x !== 'boolean') throw new Error(`bad-input: not a boolean: ${JSON.stringify(x)}`);
  return x;
}

function cast(data, to) {
  if (to === 'bool') return data.map((x) => x !== 0);
  if (to === 'float64') return Float64Array.from(data);
  if (to === 'float32') return Float32Array.from(data);
  if (to === 'int32') return Int32Array.from(data.map(Math.trunc));
  if (to === 'int64') return BigInt64Array.from(data.map((x) => BigInt(Math.trunc(x))));
  if (to === 'float16') return Float32Array.from(data); // no Float16Array in Node ≤ 22
  throw new Error(`bad-input: unknown cast ${to}`);
}

function call(c, Type) {
  const op = OPS[c.op];
  const fn = camel(c.op);
  const first = tensor(c.inputs[op.inputs[0]]);
  const inputs = op.inputs.map((name) => {
    const t = tensor(c.inputs[name]);
    if (t.shape.length === 0) return t.data[0]; // a 0-d input: the bare number
    // An int32 input keeps its integers (the int32 extremes too): cast from them, never from the float type.
    if (isInt(op, name)) return c.cast?.[name] ? cast(t.data, c.cast[name]) : Int32Array.from(t.data);
    if (c.cast?.[name]) return cast(Array.from(Type.from(t.data)), c.cast[name]);
    return Type.from(t.data);
  });
  const options = {};
  options.n = c.n ?? (first.shape.length >= 1 ? first.shape[first.shape.length - 1] : 1);
  for (const [k, v] of Object.entries(c.params ?? {})) options[camel(k)] = param(k, v, Type);
  // A bool input is an option: an array of booleans, or the typed array of its cast (0/1).
  for (const name of op.bools) {
    if (c.inputs[name] === undefined) continue;
    const data = boolTensor(c.inputs[name]);
    options[camel(name)] = c.cast?.[name] ? cast(data.map(Number), c.cast[name]) : data;
  }
  const forward = (c.pass ?? 'forward') === 'forward';
  if (c.alias !== undefined) {
    const n = options.n;
    const batch = n === 0 ? 0 : Math.floor(inputs[0].length / n);
    const arrays = Object.fromEntries(op.inputs.map((name, i) => [name, inputs[i]]));
    const lengths = {};
    if (forward) {
      lengths[op.output] = outputLength(op, batch, options);
    } else {
      const outLength = outputLength(op, batch, options);
      arrays[`cotangent_${op.output}`] = c.cotangent !== undefined ? Type.from(tensor(c.cotangent).data) : new Type(outLength).fill(1);
      // Every input that has a gradient may be given an out array; the ones an alias names are.
      for (const name of op.inputs) if (!isInt(op, name)) lengths[`grad_${name}`] = arrays[name].length;
      for (const name of c.alias.slice(0, 2)) if (name.startsWith('grad_') && arrays[name] === undefined) arrays[name] = new Type(lengths[name]);
    }
    applyAlias(c.alias, arrays, lengths, Type);
    const args = op.inputs.map((name) => arrays[name]);
    if (forward) {
      const out = op.outputs === undefined ? arrays[op.output] : { [camel(op.output)]: arrays[op.output] };
      return outputsOf(op, rr[fn](...args, { ...options, out }));
    }
    const out = {};
    for (const name of op.inputs) if (arrays[`grad_${name}`] !== undefined) out[camel(name)] = arrays[`grad_${name}`];
    const { output } = outputsOf(op, rr[fn](...args, options));
    return { output, grads: rr[`${fn}Vjp`](...args, arrays[`cotangent_${op.output}`], { ...options, out }) };
  }
  if (forward) return outputsOf(op, rr[fn](...inputs, options));
  const { [camel(op.output)]: output, vjp } = rr[`${fn}WithVjp`](...inputs, options);
  let cot;
  if (c.cotangent !== undefined) cot = Type.from(tensor(c.cotangent).data);
  else cot = new Type(output.length).fill(1);
  return { output, grads: vjp(cot) };
}

/** What a call returned: the (differentiable) output, and every output by spec name. */
function outputsOf(op, result) {
  if (op.outputs === undefined) return { output: result, outputs: { [op.output]: result } };
  return { output: result[camel(op.output)], outputs: Object.fromEntries(op.outputs.map((name) => [name, result[camel(name)]])) };
}

function allValues({ output, grads }) {
  const out = Array.from(output);
  if (grads) for (const g of Object.values(grads)) out.push(...(typeof g === 'number' ? [g] : Array.from(g)));
  return out;
}

function close(got, want, tol) {
  if (got.length !== want.length) return `length ${got.length} ≠ ${want.length}`;
  for (let i = 0; i < want.length; i++) {
    if (!(Math.abs(got[i] - want[i]) <= tol * (1 + Math.abs(want[i])))) return `element ${i}: got ${got[i]}, want ${want[i]}`;
  }
  return '';
}

/** '' when the case behaved as expected, else what went wrong. */
function run(c, dtype) {
  const Type = dtype === 'float32' ? Float32Array : Float64Array;
  const expect = c.overrides?.node ?? c.expect;
  if (expect.error) {
    const { kind, message, contains } = expect.error;
    let e;
    try {
      call(c, Type);
      return 'no exception thrown';
    } catch (err) {
      e = err;
    }
    if (!CLASSES[kind].some((K) => e instanceof K)) return `expected ${CLASSES[kind].map((K) => K.name)}, got ${e?.constructor?.name}: ${e?.message}`;
    if (e.code !== CODES[kind]) return `code ${e.code} ≠ ${CODES[kind]} (${e.message})`;
    if (message !== undefined && e.message !== message) return `message ${JSON.stringify(e.message)} ≠ ${JSON.stringify(message)}`;
    for (const f of contains ?? []) if (!e.message.includes(f)) return `message ${JSON.stringify(e.message)} lacks ${JSON.stringify(f)}`;
    return '';
  }
  assert.equal(expect.ok, true);
  let got;
  try {
    got = call(c, Type);
  } catch (e) {
    return `threw ${e?.constructor?.name}: ${e?.message}`;
  }
  if (!(got.output instanceof Type)) return `output is ${got.output?.constructor?.name}, not ${Type.name}`;
  const values = allValues(got);
  if (values.some(Number.isNaN)) return 'NaN in the output or gradients';
  if (expect.finite && !values.every(Number.isFinite)) return 'non-finite output or gradient';
  const tol = dtype === 'float32' ? 1e-5 : 1e-9;
  if (expect.output !== undefined) {
    const r = close(got.output, tensor(expect.output).data, tol);
    if (r) return `output: ${r}`;
  }
  for (const [name, want] of Object.entries(expect.outputs ?? {})) {
    const o = got.outputs?.[name];
    if (o === undefined) return `no output ${name}`;
    // An int output (indices) exactly.
    const r = close(o, tensor(want).data, o instanceof Int32Array ? 0 : tol);
    if (r) return `output ${name}: ${r}`;
  }
  for (const [name, want] of Object.entries(expect.vjp ?? {})) {
    if (!got.grads) return 'vjp expected for a forward pass';
    const g = got.grads[camel(name)];
    if (g === undefined) return `no gradient for ${name}`;
    const r = close(g, tensor(want).data, tol);
    if (r) return `vjp ${name}: ${r}`;
  }
  if (expect.same_as_contiguous || expect.same_as_dtype) return 'check not supported by Node (no views, no float16)';
  return '';
}

describe('bad-input matrix', () => {
  it('every case tagged "node"', () => {
    assert.ok(existsSync(PATH), `bad-input matrix not found at ${PATH}`);
    const doc = JSON.parse(readFileSync(PATH, 'utf8'));
    assert.equal(doc.format, 'rank-relax bad-input matrix v1');
    let cases = 0;
    let runs = 0;
    const failed = [];
    for (const c of doc.cases) {
      if (!(c.bindings ?? doc.bindings).includes('node')) continue;
      assert.ok(OPS[c.op], `unknown op ${c.op}`);
      cases++;
      for (const dtype of c.dtypes ?? ['float64', 'float32']) {
        runs++;
        let r;
        try {
          r = run(c, dtype);
        } catch (e) {
          r = `runner error: ${e?.stack ?? e}`;
        }
        if (r) failed.push(`${c.id} [${dtype}]: ${r}`);
      }
    }
    console.log(`bad-input matrix: ${cases} cases, ${runs} runs, ${runs - failed.length} passed`);
    assert.ok(cases > 0, 'no case ran');
    assert.deepEqual(failed, []);
  });
});
