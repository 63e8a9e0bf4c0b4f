// The Node target beyond its goldens: the generated TypeScript type-checks with the package's
// hand-written runtime (tsc --noEmit, strict), the binding interface and the Rust glue name the same
// entry points, the names, and the specs the Node API refuses (with the reason).
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import { unsupportedFeatures } from '../src/emit/capabilities.ts';
import { nodeEmitter } from '../src/emitters/node/index.ts';
import { nativeName, rustName } from '../src/emitters/node/names.ts';
import { irFromText } from '../src/pipeline.ts';
import { CODEGEN, editedSpec, FIXTURES, fixtureIr, ROOT, specIr } from './helpers.ts';

const require = createRequire(import.meta.url);
const scratch = mkdtempSync(join(tmpdir(), 'rank-relax-node-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** The hand-written files of packages/node/src the generated ones import. */
const HAND_WRITTEN = ['index.ts', 'native.ts', 'runtime.ts'];

/** The spec with soft_sort's regularization narrowed to one value (an enum subset). */
const narrowedSpec = () =>
  irFromText(
    editedSpec((s: any) => {
      s.ops.soft_sort.params = s.ops.soft_sort.params.map((p: unknown) => (p === 'regularization' ? { name: 'regularization', values: ['kl'], default: 'kl' } : p));
    }),
    'edited.yaml',
  );

/** The spec with a second differentiable output of soft_sort: the VJP takes a cotangent of each, by name; the JVP returns an object. */
const twoOutputsSpec = () =>
  irFromText(
    editedSpec((s: any) => {
      s.ops.soft_sort.outputs.push({ name: 'extra', shape: ['batch', 'n'], doc: 'Another output.' });
      delete s.ops.soft_sort.in_place_vjp; // needs one output
    }),
    'edited.yaml',
  );

const cases = [
  ...FIXTURES.map((f) => [f, fixtureIr(f)] as const),
  ['spec', specIr()] as const,
  ['narrowed', narrowedSpec()] as const,
  ['two outputs', twoOutputsSpec()] as const,
];

describe.each(cases)('%s', (name, ir) => {
  const files = nodeEmitter.emit(ir);

  it('type-checks with the package runtime under tsc --noEmit (strict)', () => {
    const dir = join(scratch, name);
    for (const f of files.filter((f) => f.path.endsWith('.ts'))) {
      const path = join(dir, f.path.replace(/^packages\/node\//, ''));
      mkdirSync(dirname(path), { recursive: true });
      writeFileSync(path, f.contents);
    }
    for (const f of HAND_WRITTEN) copyFileSync(join(ROOT, 'packages/node/src', f), join(dir, 'src', f));
    writeFileSync(
      join(dir, 'tsconfig.json'),
      JSON.stringify({
        extends: join(ROOT, 'packages/node/tsconfig.json'),
        compilerOptions: { noEmit: true, rootDir: 'src', typeRoots: [join(CODEGEN, 'node_modules/@types')] },
        include: ['src'],
      }),
    );
    writeFileSync(join(dir, 'package.json'), '{ "type": "commonjs" }\n');
    execFileSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', join(dir, 'tsconfig.json')], { stdio: 'pipe' });
  });

  it('the binding interface and the Rust glue name the same entry points', () => {
    const binding = files.find((f) => f.path.endsWith('/binding.ts'))?.contents ?? '';
    const declared = [...binding.matchAll(/^ {2}(\w+)\($/gm)].map((m) => m[1]).sort();
    const rust = files.filter((f) => f.path.endsWith('.rs')).map((f) => f.contents).join('\n');
    const exported = [...rust.matchAll(/#\[napi\(js_name = "(\w+)"\)\]/g)].map((m) => m[1]).sort();
    // Per dtype: call, forward, backward, vjp, and async call and vjp; jvp, hvp and their jobs where the op has those kernels.
    expect(declared.length).toBe(ir.ops.reduce((k, op) => k + 2 * (6 + (op.jvp === null ? 0 : 2) + (op.hvp === null ? 0 : 2)), 0));
    expect(exported).toEqual(declared);
  });

  it('starts every file with the generated banner', () => {
    for (const f of files) expect(f.contents.split('\n')[0]).toBe(`// ${ir.generatedNotice}`);
  });

  it('writes only under the paths it owns', () => {
    for (const f of files) expect(nodeEmitter.owns.some((o) => f.path.startsWith(o))).toBe(true);
  });
});

describe('names', () => {
  const ir = specIr();
  const op = ir.ops.find((o) => o.name.spec === 'soft_rank');
  const [f32, f64] = ir.dtypes;
  it.each([
    ['call', false, 'softRankF64', 'soft_rank_f64'],
    ['call', true, 'softRankF64Async', 'soft_rank_f64_async'],
    ['forward', false, 'softRankForwardF64', 'soft_rank_forward_f64'],
    ['backward', false, 'softRankBackwardF64', 'soft_rank_backward_f64'],
    ['vjp', true, 'softRankVjpF64Async', 'soft_rank_vjp_f64_async'],
    ['jvp', false, 'softRankJvpF64', 'soft_rank_jvp_f64'],
    ['jvp', true, 'softRankJvpF64Async', 'soft_rank_jvp_f64_async'],
    ['hvp', false, 'softRankHvpF64', 'soft_rank_hvp_f64'],
    ['hvp', true, 'softRankHvpF64Async', 'soft_rank_hvp_f64_async'],
  ] as const)('%s (async: %s) → %s', (entry, isAsync, js, rust) => {
    if (op === undefined || f64 === undefined) throw new Error('no soft_rank');
    expect(nativeName(op, entry, f64, isAsync)).toBe(js);
    expect(rustName(op, entry, f64, isAsync)).toBe(rust);
  });
  it('f32', () => {
    if (op === undefined || f32 === undefined) throw new Error('no soft_rank');
    expect(nativeName(op, 'vjp', f32, false)).toBe('softRankVjpF32');
  });
});

describe('in_place_vjp: the gradient array may be the cotangent array (backward_in_place)', () => {
  const rustOf = (ir: ReturnType<typeof specIr>, op: string) => nodeEmitter.emit(ir).find((f) => f.path.endsWith(`/generated/${op}.rs`))?.contents ?? '';
  const tsOf = (ir: ReturnType<typeof specIr>, op: string) => nodeEmitter.emit(ir).find((f) => f.path.endsWith(`/ops/${op}.ts`))?.contents ?? '';
  const count = (text: string, what: string) => text.split(what).length - 1;
  const ir = specIr();

  it.each(['soft_rank', 'soft_sort', 'soft_topk'])('%s: the sync backward and vjp of each dtype route the alias to backward_in_place', (op) => {
    const rust = rustOf(ir, op);
    // backward and vjp, f32 and f64; the async vjp jobs keep refusing it.
    expect(count(rust, 'if rr_in_place(&grad_values, &cotangent_')).toBe(4);
    // Two backward entry points, and the VJP body they share.
    expect(count(rust, 'rr_op::backward_in_place(')).toBe(3);
    expect(count(rust, 'return rr_vjp_in_place(')).toBe(2);
    const asyncVjp = rust.slice(rust.indexOf(`pub fn ${op}_vjp_f64_async`));
    expect(asyncVjp.slice(0, asyncVjp.indexOf('\n}\n'))).not.toContain('in_place');
    // The public VJP lets out.values be the cotangent itself, and says so.
    const ts = tsOf(ir, op);
    expect(count(ts, "['n'], { values, cotangent }, 'cotangent');")).toBe(2);
    // The doc comments, unwrapped.
    const docs = ts.replace(/\n\s*\*\s*/g, ' ');
    expect(docs).toContain('Where to write the gradient with respect to `values`. May be the cotangent itself');
    expect(docs).toContain('except that `out.values` may be the cotangent itself');
    expect(docs).toContain('It may also be given as `options.out.values`: the gradient is then written over it.');
  });

  it.each(['sigmoid_rank', 'spearman_loss', 'ndcg_loss', 'soft_quantile', 'neural_sort', 'neural_sort_apply'])('%s (no in_place_vjp): every alias refused', (op) => {
    expect(rustOf(ir, op)).not.toContain('in_place');
    expect(tsOf(ir, op)).not.toContain("'cotangent');");
    expect(tsOf(ir, op)).not.toContain('cotangent itself');
  });

  it('follows the spec flag, not the op names', () => {
    const edited = irFromText(
      editedSpec((s: any) => {
        delete s.ops.soft_rank.in_place_vjp;
        s.ops.sigmoid_rank.in_place_vjp = true;
      }),
      'edited.yaml',
    );
    expect(rustOf(edited, 'soft_rank')).not.toContain('in_place');
    expect(tsOf(edited, 'soft_rank')).not.toContain("'cotangent');");
    const rust = rustOf(edited, 'sigmoid_rank');
    expect(count(rust, 'if rr_in_place(&grad_values, &cotangent_ranks)')).toBe(4);
    expect(count(rust, 'rr_op::backward_in_place(')).toBe(3);
    expect(count(tsOf(edited, 'sigmoid_rank'), "'cotangent');")).toBe(2);
    // rustfmt-clean for another op's arguments (no residual, no enum of regularization).
    const path = join(scratch, 'sigmoid_rank_in_place.rs');
    writeFileSync(path, rust);
    execFileSync('rustfmt', ['--check', '--edition', '2021', path]);
  });
});

describe('specs the Node API refuses, with the reason', () => {
  it('an input named like an argument of the API', () => {
    const ir = irFromText(
      editedSpec((s: any) => {
        s.ops.soft_sort.inputs[0].name = 'options';
        s.ops.soft_sort.saves = ['options'];
        s.ops.soft_sort.example = undefined;
      }),
      'edited.yaml',
    );
    expect(() => nodeEmitter.emit(ir)).toThrow("node: input soft_sort.options collides with the API's own argument");
  });
});

describe('int and list params, an op’s own enum, shapes beyond [batch, n]', () => {
  const ir = specIr();
  const files = nodeEmitter.emit(ir);
  const text = (suffix: string) => files.find((f) => f.path.endsWith(suffix))?.contents ?? '';

  it('soft_topk: k a safe integer (i64 in the addon), its own enum and default direction', () => {
    const ts = text('/ops/soft_topk.ts');
    expect(ts).toContain("k: rr.intOption('soft_topk', 'k', rr_o.k, 1),");
    expect(ts).toContain("regularization: rr.enumOption('soft_topk', 'regularization', rr_o.regularization, 'l2'),");
    expect(ts).toContain("direction: rr.enumOption('soft_topk', 'direction', rr_o.direction, 'descending'),");
    expect(ts).toContain("import type { Direction, TopkRegularization } from '../enums.js';");
    expect(ts).toContain('readonly regularization?: TopkRegularization | undefined;');
    expect(text('/enums.ts')).toContain("export type TopkRegularization = 'l2' | 'p43';");
    const rust = text('/generated/soft_topk.rs');
    expect(rust).toContain('    k: i64,\n');
    expect(rust).toContain('rank_relax::TopkRegularization::parse(regularization)');
  });

  it('soft_sort_topk: k checked against [0, n] before the [batch, k] outputs are allocated; the outputs as an object', () => {
    expect(unsupportedFeatures(ir, [nodeEmitter])).toEqual([]);
    const ts = text('/ops/soft_sort_topk.ts');
    expect(ts).toContain("const rr_k = rr.extentOption('soft_sort_topk', 'k', rr_o.k, 1, [0, '0'], [rr_n, 'n']);");
    expect(ts).toContain('export interface SoftSortTopkResult<A extends RealArray = RealArray> {');
    expect(ts).toContain('  readonly indices: Int32Array;');
    expect(ts).toContain("const indices = rr.allocate('soft_sort_topk', 'indices', Int32Array, rr_a, ['k']);");
    expect(ts).toContain('return { topValues, indices };');
    // One cotangent (the top values'): the indices have none, and no tangent.
    expect(ts).toContain('export function softSortTopkVjp(values: Float64Array, cotangent: Float64Array, options?: SoftSortTopkVjpOptions<Float64Array>): SoftSortTopkGradients<Float64Array>;');
    expect(ts).toContain('export function softSortTopkJvp(values: Float64Array, tangentValues: Float64Array, options?: SoftSortTopkJvpOutOptions<Float64Array>): Float64Array;');
    expect(ts).toContain('vjp(cotangent: A): SoftSortTopkGradients<A>;');
    // The addon sizes its scratch outputs by k clamped to [0, n]: a bad k reaches the core.
    const rust = text('/generated/soft_sort_topk.rs');
    expect(rust).toContain('rr::param_extent(rr_params.k, rr_shape.n)');
    expect(rust).toContain('mut indices: Int32ArraySlice');
  });

  it('soft_quantile: quantiles in the call’s dtype, the output [batch, m] from its length', () => {
    const ts = text('/ops/soft_quantile.ts');
    expect(ts).toContain("const rr_quantiles = rr.listOption('soft_quantile', 'quantiles', rr_o.quantiles, [0.5], rr_dtype);");
    expect(ts).toContain('m: rr_quantiles.length,');
    expect(ts).toContain('readonly quantiles?: RealList | undefined;');
    expect(count(ts, "rr.outputArray('soft_quantile', 'out', options?.out, Float64Array, rr_a, ['m'], { values });")).toBe(1);
    expect(count(ts, "rr.allocate('soft_quantile', 'result', Float32Array, rr_a, ['m']);")).toBe(2); // the async call and withVjp
    expect(ts).toContain('native.softQuantileF32(rr_a.batch, rr_a.n, rr_a.quantiles as Float32Array, rr_a.regularizationStrength');
    expect(text('/binding.ts')).toMatch(/softQuantileF32\(\n(?:.*\n)*? {4}quantiles: Float32Array,/);
    const rust = text('/generated/soft_quantile.rs');
    expect(rust).toContain('quantiles: Float64ArraySlice,');
    expect(rust).toContain('quantiles: quantiles.to_vec(),');
    expect(rust).toContain('rr::scratch::<T>(RR_OP, rr_shape, rr_params.quantiles.len(), values.len())?;');
  });

  it('neural_sort: the output [batch, n, n]', () => {
    const ts = text('/ops/neural_sort.ts');
    expect(count(ts, "rr_a, ['n', 'n'], { values });")).toBe(2);
    expect(count(ts, "rr.allocate('neural_sort', 'permutation_matrix', Float64Array, rr_a, ['n', 'n']);")).toBe(2);
    expect(ts.replace(/\n\s*\*\s*/g, ' ')).toContain('B × n × n values, row-major');
    expect(text('/generated/neural_sort.rs')).toContain('rr::scratch::<T>(RR_OP, rr_shape, rr_shape.n * rr_shape.n, values.len())?;');
  });

  it('an enum narrowed to a subset is checked by the API (follows the spec, not the op names)', () => {
    const ts = nodeEmitter.emit(narrowedSpec()).find((f) => f.path.endsWith('/ops/soft_sort.ts'))?.contents ?? '';
    expect(ts).toContain("regularization: rr.enumOption('soft_sort', 'regularization', rr_o.regularization, 'kl', ['kl']),");
    expect(ts).toContain("readonly regularization?: 'kl' | undefined;");
    expect(ts).toContain("import type { Direction } from '../enums.js';");
    expect(text('/ops/soft_sort.ts')).toContain("regularization: rr.enumOption('soft_sort', 'regularization', rr_o.regularization, 'l2'),");
  });

  it('declares what it binds: the spec needs nothing the Node target lacks', () => {
    expect(unsupportedFeatures(ir, [nodeEmitter])).toEqual([]);
  });
});

describe('jvp: the JVP entry points and functions follow the spec flag', () => {
  const emitted = (ir: ReturnType<typeof specIr>, suffix: string) => nodeEmitter.emit(ir).find((f) => f.path.endsWith(suffix))?.contents ?? '';
  const ir = specIr();

  it('spearman_loss: the forward and the core jvp kernel in one native call, a tangent per differentiable input', () => {
    const rust = emitted(ir, '/generated/spearman_loss.rs');
    expect(rust).toContain('fn rr_jvp<T: Real + rr::Elem>(');
    expect(count(rust, 'rr_op::jvp(')).toBe(1);
    // Sync and async, f32 and f64, for the JVP and the HVP; the param tangent a JS number in the call's dtype.
    expect(count(rust, '    tangent_regularization_strength: f64,\n')).toBe(8);
    expect(count(rust, 'rr::real(tangent_regularization_strength),')).toBe(8);
    const ts = emitted(ir, '/ops/spearman_loss.ts');
    expect(ts).toContain(
      'export function spearmanLossJvp(predictions: RealArray, targets: RealArray, tangentPredictions: RealArray, tangentTargets: RealArray, options?: SpearmanLossJvpOutOptions<RealArray>): RealArray {',
    );
    expect(ts).toContain("rr.outputArray('spearman_loss', 'out', options?.out, Float64Array, rr_a, [], { predictions, targets, tangentPredictions, tangentTargets });");
    // Sync and async, for the JVP and the HVP.
    expect(count(ts, "rr.realOption('spearman_loss', 'tangentRegularizationStrength', options?.tangentRegularizationStrength, 0);")).toBe(4);
  });

  it('ndcg_loss: no tangent for relevance (not differentiable)', () => {
    const ts = emitted(ir, '/ops/ndcg_loss.ts');
    expect(ts).toContain('export function ndcgLossJvp(scores: RealArray, relevance: RealArray, tangentScores: RealArray, options?: NdcgLossJvpOutOptions<RealArray>): RealArray {');
    expect(ts).not.toContain('tangentRelevance');
  });

  it('an op without jvp gets no JVP entry point or function', () => {
    const edited = irFromText(
      editedSpec((s: any) => {
        delete s.ops.soft_rank.jvp;
      }),
      'edited.yaml',
    );
    expect(emitted(edited, '/generated/soft_rank.rs')).not.toMatch(/jvp/i);
    expect(emitted(edited, '/ops/soft_rank.ts')).not.toMatch(/jvp/i);
    expect(emitted(edited, '/binding.ts')).not.toContain('softRankJvp');
    expect(emitted(edited, '/binding.ts')).toContain('softSortJvpF64Async(');
  });
});

describe('hvp: the HVP entry points and functions follow the spec flag', () => {
  const emitted = (ir: ReturnType<typeof specIr>, suffix: string) => nodeEmitter.emit(ir).find((f) => f.path.endsWith(suffix))?.contents ?? '';
  const ir = specIr();

  it('neural_sort_apply: the forward and the core hvp kernel in one native call, a cotangent, a tangent and a product per differentiable input', () => {
    const rust = emitted(ir, '/generated/neural_sort_apply.rs');
    expect(rust).toContain('fn rr_hvp<T: Real + rr::Elem>(');
    expect(count(rust, 'rr_op::hvp(')).toBe(1);
    // Sync and async, f32 and f64; the param tangent a JS number in the call's dtype.
    expect(count(rust, '#[napi(js_name = "neuralSortApplyHvp')).toBe(4);
    expect(count(rust, 'rr::real(tangent_regularization_strength),')).toBe(8);
    expect(rust).toContain('rr::write("hvp_payload", &hvp_payload[..]),');
    const ts = emitted(ir, '/ops/neural_sort_apply.ts');
    expect(ts).toContain(
      'export function neuralSortApplyHvp(values: RealArray, payload: RealArray, cotangentOutput: RealArray, tangentValues: RealArray, tangentPayload: RealArray, options?: NeuralSortApplyHvpOutOptions<RealArray>): NeuralSortApplyHvp {',
    );
    // Shaped as the VJP's gradients: an array per differentiable input, ε's entry summed over the rows.
    expect(ts).toContain('return { values: hvpValues, payload: hvpPayload, regularizationStrength: rr.sum(hvpRegularizationStrength) };');
    expect(ts).toContain(
      "rr.outputArray('neural_sort_apply', 'out.payload', rr_out.payload, Float64Array, rr_a, ['n'], { values, payload, cotangentOutput, tangentValues, tangentPayload, 'out.values': hvpValues });",
    );
    // The JVP's and the HVP's, sync and async.
    expect(count(ts, "rr.realOption('neural_sort_apply', 'tangentRegularizationStrength', options?.tangentRegularizationStrength, 0);")).toBe(4);
  });

  it('an op without hvp gets no HVP entry point or function', () => {
    const edited = irFromText(
      editedSpec((s: any) => {
        delete s.ops.soft_sort.hvp;
      }),
      'edited.yaml',
    );
    expect(emitted(edited, '/generated/soft_sort.rs')).not.toMatch(/hvp/i);
    expect(emitted(edited, '/ops/soft_sort.ts')).not.toMatch(/hvp/i);
    expect(emitted(edited, '/binding.ts')).not.toContain('softSortHvp');
    expect(emitted(edited, '/binding.ts')).toContain('softTopkHvpF64Async(');
  });

  it('an op that gains hvp gets it by regeneration alone', () => {
    const edited = irFromText(
      editedSpec((s: any) => {
        s.ops.spearman_loss.hvp = true;
      }),
      'edited.yaml',
    );
    const ts = emitted(edited, '/ops/spearman_loss.ts');
    expect(ts).toContain(
      'export function spearmanLossHvp(predictions: RealArray, targets: RealArray, cotangentLoss: RealArray, tangentPredictions: RealArray, tangentTargets: RealArray, options?: SpearmanLossHvpOutOptions<RealArray>): SpearmanLossHvp {',
    );
    expect(count(emitted(edited, '/generated/spearman_loss.rs'), 'rr_op::hvp(')).toBe(1);
  });
});

describe('optional bool inputs: the mask is an option of every function, copied into the core\'s &[bool]', () => {
  const emitted = (ir: ReturnType<typeof specIr>, suffix: string) => nodeEmitter.emit(ir).find((f) => f.path.endsWith(suffix))?.contents ?? '';
  const ir = specIr();

  it.each(['soft_rank', 'spearman_loss', 'neural_sort'])('%s: an option (Uint8Array or booleans), never a positional argument', (op) => {
    const ts = emitted(ir, `/ops/${op}.ts`);
    const camel = op.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
    expect(ts).toContain('readonly mask?: BoolArray | undefined;');
    expect(ts).toContain(`mask: rr.boolArray('${op}', 'mask', rr_o.mask),`);
    expect(ts).toMatch(new RegExp(`const rr_${op.toUpperCase()}_OPTIONS: readonly string\\[\\] = \\['n', 'mask', `));
    expect(ts).not.toMatch(/mask: (RealArray|Float64Array|A)\b/);
    // Every native call passes it (null when absent): the call, VJP, JVP and HVP, sync and async, and withVjp's forward, per dtype.
    expect(count(ts, ', rr_a.mask, ')).toBe(2 * 9);
    // withVjp keeps a copy for the backward, like the other saves.
    expect(count(ts, 'const rr_mask = rr_a.mask?.slice() ?? null;')).toBe(2);
    expect(count(ts, ', rr_mask, ')).toBe(2);
    expect(ts).not.toContain('rr.sameDtype(\'' + op + "', 'mask'");
    expect(ts).toContain(`${camel}WithVjp(`);
    expect(emitted(ir, '/binding.ts')).toMatch(new RegExp(`${camel}BackwardF64\\(\\n(?:.*\\n)*? {4}mask: Uint8Array \\| null,`));
  });

  it('soft_rank: the addon takes Option<Uint8ArraySlice>, copies it as bools and passes Option<&[bool]> to every kernel', () => {
    const rust = emitted(ir, '/generated/soft_rank.rs');
    // call, forward, backward, vjp, jvp, hvp, and the jobs of call, vjp, jvp and hvp, per dtype.
    expect(count(rust, '    mask: Option<Uint8ArraySlice>,\n')).toBe(2 * 10);
    expect(count(rust, 'let mask = mask.map(|m| rr::bools(&m));')).toBe(2 * 10);
    // A copy: not among the arrays checked for overlap, and not copied again for a job.
    expect(rust).not.toContain('"mask"');
    expect(rust).not.toContain('mask.to_vec()');
    expect(count(rust, '    mask: Option<&[bool]>,\n')).toBe(5); // the bodies: in-place VJP, call, VJP, JVP, HVP
    // The backward and in-place branches call the core directly.
    expect(rust).toMatch(/rr_op::backward_in_place\(\n\s+rr_shape,\n\s+&rr_params,\n\s+&values,\n\s+mask\.as_deref\(\),/);
  });

  it('follows the spec, not the name: an op without the optional input has no mask; a renamed one is that option', () => {
    const edited = irFromText(
      editedSpec((s: any) => {
        s.ops.soft_rank.inputs = s.ops.soft_rank.inputs.filter((x: any) => x.name !== 'mask');
        s.ops.soft_rank.saves = s.ops.soft_rank.saves.filter((x: string) => x !== 'mask');
        const present = s.ops.soft_sort.inputs.find((x: any) => x.name === 'mask');
        present.name = 'present';
        s.ops.soft_sort.saves = s.ops.soft_sort.saves.map((x: string) => (x === 'mask' ? 'present' : x));
      }),
      'edited.yaml',
    );
    expect(unsupportedFeatures(edited, [nodeEmitter])).toEqual([]);
    expect(emitted(edited, '/ops/soft_rank.ts')).not.toMatch(/mask|BoolArray/);
    expect(emitted(edited, '/generated/soft_rank.rs')).not.toMatch(/mask|bools|Uint8Array/);
    const ts = emitted(edited, '/ops/soft_sort.ts');
    expect(ts).toContain('readonly present?: BoolArray | undefined;');
    expect(ts).toContain("present: rr.boolArray('soft_sort', 'present', rr_o.present),");
    expect(emitted(edited, '/generated/soft_sort.rs')).toContain('let present = present.map(|m| rr::bools(&m));');
  });

  it('refuses an optional input that is not bool (it would be an option of the dtype)', () => {
    const edited = irFromText(
      editedSpec((s: any) => {
        s.ops.soft_rank.inputs.find((x: any) => x.name === 'mask').dtype = 'real';
      }),
      'edited.yaml',
    );
    expect(() => nodeEmitter.emit(edited)).toThrow('node: input soft_rank.mask: only optional inputs may be bool, and only bool inputs optional');
  });

  it('declares optional bool inputs', () => {
    expect(nodeEmitter.capabilities.optionalInputs).toBe(true);
    expect(nodeEmitter.capabilities.inputDtypes).toEqual(['real', 'bool', 'int32']);
  });
});

describe('int32 inputs: an Int32Array argument in both dtypes, the addon takes &[i32]', () => {
  const emitted = (ir: ReturnType<typeof specIr>, suffix: string) => nodeEmitter.emit(ir).find((f) => f.path.endsWith(suffix))?.contents ?? '';
  const ir = specIr();

  it('soft_rank_grouped: groups an Int32Array in every signature, checked by rr.intArray, passed as it is', () => {
    const ts = emitted(ir, '/ops/soft_rank_grouped.ts');
    expect(ts).toContain("rr.intArray('soft_rank_grouped', 'groups', groups);");
    expect(ts).not.toContain("rr.sameDtype('soft_rank_grouped', 'groups'");
    // Every overload of every function: 9 functions (call, VJP, JVP, HVP, sync and async, withVjp), 4 signatures each.
    expect(count(ts, 'groups: Int32Array')).toBe(9 * 4);
    expect(ts).not.toMatch(/groups: (A|RealArray|Float64Array|Float32Array)\b/);
    expect(ts).toContain('export function softRankGrouped(values: Float32Array, groups: Int32Array, options?: SoftRankGroupedOutOptions<Float32Array>): Float32Array;');
    expect(ts).toContain('export function softRankGroupedJvp<A extends RealArray>(values: A, groups: Int32Array, tangentValues: A, options?: SoftRankGroupedJvpOutOptions<A>): RealArray;');
    // Never cast to the float type: every native call that reads it (call, VJP, JVP, HVP, sync and async, and withVjp's forward, per dtype).
    expect(count(ts, ', groups, rr_a.mask, ')).toBe(2 * 9);
    expect(ts).not.toMatch(/groups as /);
    // Among the arrays an `out` must not overlap (the addon's check names it).
    expect(ts).toContain("rr.outputArray('soft_rank_grouped', 'out', options?.out, Float64Array, rr_a, ['n'], { values, groups });");
    // It has no gradient, tangent or product, and is no option.
    expect(ts).toContain("const rr_SOFT_RANK_GROUPED_GRADIENTS: readonly string[] = ['values'];");
    expect(ts).toContain("const rr_SOFT_RANK_GROUPED_OPTIONS: readonly string[] = ['n', 'mask', 'regularizationStrength', 'regularization', 'direction'];");
    expect(ts).not.toMatch(/tangentGroups|gradGroups|hvpGroups/);
    // The docs: its type, its errors, an Int32Array in the example.
    const docs = ts.replace(/\n\s*\*\s*/g, ' ');
    expect(docs).toContain('B × n values, row-major: an Int32Array (whatever the type of the first input).');
    expect(docs).toContain('`groups` is not an Int32Array');
    expect(docs).toContain("(or that of `groups` or `mask` not the values')");
    expect(docs).toContain('new Int32Array([0, 0, 0, 1, 1])');
    expect(emitted(ir, '/binding.ts')).toMatch(/softRankGroupedF64\(\n(?:.*\n)*? {4}groups: Int32Array,/);
  });

  it('soft_rank_grouped: the addon borrows an Int32ArraySlice (a job copies it) and the core gets &[i32]', () => {
    const rust = emitted(ir, '/generated/soft_rank_grouped.rs');
    // call, forward, vjp, jvp, hvp, and the jobs of call, vjp, jvp and hvp, per dtype (backward does not read it).
    expect(count(rust, '    groups: Int32ArraySlice,\n')).toBe(2 * 9);
    expect(count(rust, 'rr::read("groups", &groups[..]),')).toBe(2 * 9);
    expect(count(rust, 'let groups = groups.to_vec();')).toBe(2 * 4);
    expect(count(rust, '    groups: &[i32],\n')).toBe(4); // the bodies: call, VJP, JVP, HVP
    const backward = rust.slice(rust.indexOf('pub fn soft_rank_grouped_backward_f64'));
    expect(backward.slice(0, backward.indexOf('\n}\n'))).not.toContain('groups');
  });

  it('the API reference: an Int32Array in the signatures, the shapes table and the example', () => {
    const docs = nodeEmitter.describe?.(ir);
    const op = docs?.ops.soft_rank_grouped;
    expect(op?.shapes.groups).toBe('`B × n` values, row-major (option `n`), an `Int32Array`');
    expect(op?.section).toContain('function softRankGrouped(values: A, groups: Int32Array, options?: SoftRankGroupedOptions & { out?: A }): A;');
    expect(op?.section).toContain('groups is an Int32Array in both.');
    expect(op?.section).toContain('const groups = new Int32Array([0, 0, 0, 1, 1]);');
    expect(docs?.overview).toContain('an int32 input an `Int32Array` in both');
  });

  it('an op whose first input is int32 is refused: the first input sets the dtype', () => {
    const edited = irFromText(
      editedSpec((s: any) => {
        const op = s.ops.soft_rank_grouped;
        op.inputs = [op.inputs[1], op.inputs[0], op.inputs[2]];
        op.example = undefined;
      }),
      'edited.yaml',
    );
    expect(() => nodeEmitter.emit(edited)).toThrow("node: the first input of soft_rank_grouped must be real: it sets the call's dtype");
  });
});

function count(text: string, what: string): number {
  return text.split(what).length - 1;
}
