// The op model beyond [batch, n] / [batch] and real params: each fixture under fixtures/model/
// uses one new feature. Each validates, normalises to the expected extents and types, and is refused
// by the capability check of today's targets with every unsupported feature at once, each at its
// spec path; a target that declares the feature lets it through.
import { describe, expect, it } from 'vitest';
import { parseDocument, stringify } from 'yaml';

import { BASELINE, checkCapabilities, INT_INPUTS, unsupportedFeatures, type Capabilities } from '../src/emit/capabilities.ts';
import { emitters } from '../src/emit/registry.ts';
import type { Emitter } from '../src/emit/types.ts';
import { cDefault, cDim, cType } from '../src/emitters/c/names.ts';
import { juliaDim } from '../src/emitters/julia/names.ts';
import { tsDim } from '../src/emitters/node/names.ts';
import { pythonDefault, pythonDim } from '../src/emitters/python/names.ts';
import { rustDim } from '../src/emit/rust.ts';
import { extent, isPerRow, rowExtent, rowRank } from '../src/ir/shape.ts';
import type { IR, OpIR, TypeId } from '../src/ir/types.ts';
import { irFromText, planFor } from '../src/pipeline.ts';
import { CodegenError } from '../src/spec/errors.ts';
import { parseYaml } from '../src/spec/load.ts';
import { validateSpec } from '../src/spec/validate.ts';
import { editedSpec, readRepo, shuffleKeys } from './helpers.ts';

const cTypeOf = (a: { readonly type: { readonly id: TypeId } } | undefined) => (a === undefined ? undefined : cType(a.type));

const MODEL = ['pairwise', 'top-k', 'quantiles', 'masked', 'argsort', 'gather'] as const;
type Model = (typeof MODEL)[number];

const path = (name: Model) => `codegen/test/fixtures/model/${name}.yaml`;
const modelIr = (name: Model): IR => irFromText(readRepo(path(name)), path(name));
const onlyOp = (ir: IR): OpIR => {
  const [op] = ir.ops;
  if (op === undefined || ir.ops.length !== 1) throw new Error('one op expected');
  return op;
};

/** The same refusal from every registered target, in registry order. */
const targets = (names: readonly string[], at: string, what: string, why?: string) =>
  names.map((t) => `${at}: the ${t} target does not support ${what} yet${why === undefined ? '' : `: ${why}`}`);

describe.each(MODEL)('fixture model/%s', (name) => {
  it('validates', () => {
    expect(validateSpec(parseYaml(readRepo(path(name)), path(name)))).toMatchObject({ ok: true });
  });

  it('has the same IR with map keys shuffled (dims are a map)', () => {
    const shuffled = stringify(shuffleKeys(parseDocument(readRepo(path(name))).toJS(), 5));
    expect(irFromText(shuffled, path(name))).toEqual(modelIr(name));
  });
});

describe('normalise', () => {
  it('[batch, n, n]: two row dims, extent n * n', () => {
    const out = onlyOp(modelIr('pairwise')).outputs[0];
    if (out === undefined) throw new Error('no output');
    expect([out.shape.text, out.shape.dims.map((d) => d.kind), rowRank(out.shape), isPerRow(out.shape)]).toEqual([
      '[batch, n, n]', ['batch', 'n', 'n'], 2, false,
    ]);
    expect([rowExtent(out.shape, cDim), extent(out.shape, cDim), extent(out.shape, rustDim), extent(out.shape, pythonDim)]).toEqual([
      'n * n', 'batch * n * n', 'batch * n * n', 'batch * n * n',
    ]);
    const fwd = onlyOp(modelIr('pairwise')).forward.args.find((a) => a.name.spec === 'comparisons');
    expect(fwd?.kind === 'buffer' && [fwd.shape.text, fwd.mutable]).toEqual(['[batch, n, n]', true]);
  });

  it('[batch, k]: k is the int param, 0 ≤ k ≤ n', () => {
    const ir = modelIr('top-k');
    const op = onlyOp(ir);
    expect(op.dims.map((d) => [d.name.spec, d.kind])).toEqual([['batch', 'batch'], ['n', 'n'], ['k', 'param']]);
    const top = op.outputs[0];
    if (top === undefined) throw new Error('no output');
    expect([top.shape.text, rowExtent(top.shape, cDim), rowExtent(top.shape, rustDim), extent(top.shape, cDim), extent(top.shape, juliaDim)]).toEqual([
      '[batch, k]', 'k', 'k as usize', 'batch * k', 'batch * k',
    ]);
    const k = op.params[0];
    expect(k?.type === 'int' && [k.default, k.min, k.max, pythonDefault(k)]).toEqual([
      1, { kind: 'value', value: 0 }, { kind: 'dim', dim: 'n' }, '1',
    ]);
    // int params are int64_t in the C ABI, in both dtypes.
    expect(op.variants.map((v) => cTypeOf(v.forward.args.find((a) => a.name.spec === 'k')))).toEqual(['int64_t', 'int64_t']);
    expect(op.example?.params.map((p) => [p.param.name.spec, p.value])).toEqual([['k', 2], ['regularization', 'l2']]);
  });

  it('an enum param narrowed by one op keeps the shared definition elsewhere', () => {
    const ir = modelIr('top-k');
    const narrowed = onlyOp(ir).params[1];
    const shared = ir.params.find((p) => p.name.spec === 'regularization');
    expect(narrowed?.type === 'enum' && [narrowed.narrowed, narrowed.values.map((v) => v.name.spec), narrowed.default.name.spec, cDefault(narrowed)])
      .toEqual([true, ['l2'], 'l2', 'RR_REGULARIZATION_L2']);
    expect(shared?.type === 'enum' && [shared.narrowed, shared.values.map((v) => v.name.spec), shared.default.name.spec]).toEqual([false, ['l2', 'kl'], 'kl']);
  });

  it('[batch, m]: m is the length of the list param', () => {
    const op = onlyOp(modelIr('quantiles'));
    const levels = op.outputs[0];
    if (levels === undefined) throw new Error('no output');
    expect(op.dims.map((d) => (d.kind === 'length' ? [d.name.spec, d.param] : d.name.spec))).toEqual(['batch', 'n', ['m', 'quantiles']]);
    expect([cDim, rustDim, pythonDim, juliaDim, tsDim].map((t) => rowExtent(levels.shape, t))).toEqual([
      'quantiles_len', 'quantiles.len()', 'len(quantiles)', 'length(quantiles)', 'quantiles.length',
    ]);
    expect(extent(levels.shape, cDim)).toBe('batch * quantiles_len');
    const q = op.params[0];
    expect(q?.type === 'list' && [q.of, q.default, q.min, q.max, q.minLength, pythonDefault(q), cDefault(q)]).toEqual([
      'real', [0.25, 0.5, 0.75], 0, 1, 1, '(0.25, 0.5, 0.75)', '{0.25, 0.5, 0.75}',
    ]);
    // A list of reals is passed in the op's dtype.
    expect(op.variants.map((v) => cTypeOf(v.forward.args.find((a) => a.name.spec === 'quantiles')))).toEqual(['float', 'double']);
  });

  it('an optional bool input: no gradient, an optional buffer of bool', () => {
    const op = onlyOp(modelIr('masked'));
    const mask = op.inputs[1];
    expect(mask && [mask.elem, mask.optional, mask.differentiable, mask.shape.text]).toEqual(['bool', true, false, '[batch, n]']);
    expect(op.grads.map((g) => g.name.spec)).toEqual(['grad_values']);
    const f64 = op.variants[1];
    const arg = (k: 'forward' | 'backward') => {
      const a = f64?.[k].args.find((x) => x.name.spec === 'mask');
      return a?.kind === 'buffer' ? [a.role, cType(a.type), a.optional] : null;
    };
    expect([arg('forward'), arg('backward')]).toEqual([['input', 'bool', true], ['save', 'bool', true]]);
    // Optional inputs need no example.
    expect(op.example?.inputs.map((x) => x.name.spec)).toEqual(['values']);
  });

  it('two outputs, one int32 and not differentiable: one cotangent', () => {
    const op = onlyOp(modelIr('argsort'));
    expect(op.outputs.map((o) => [o.name.spec, o.elem, o.differentiable])).toEqual([['sorted', 'real', true], ['indices', 'int32', false]]);
    expect(op.cotangents.map((c) => c.name.spec)).toEqual(['cotangent_sorted']);
    expect(op.backward.args.map((a) => a.name.spec)).toEqual([
      'batch', 'n', 'regularization_strength', 'values', 'cotangent_sorted', 'grad_values', 'grad_regularization_strength',
    ]);
    expect(op.variants.map((v) => v.forward.args.filter((a) => a.role === 'output').map((a) => cType(a.type)))).toEqual([
      ['float', 'int32_t'], ['double', 'int32_t'],
    ]);
  });
});

describe('the capability check of the registered targets', () => {
  const cases: [Model, string[]][] = [
    // Every target binds [batch, n, n], [batch, m], int and list params and narrowed enums.
    ['pairwise', []],
    ['quantiles', []],
    // [batch, k] from an int param's value, several outputs, int32 and non-differentiable ones (ADR 0020).
    ['top-k', []],
    ['argsort', []],
    // Every target binds an optional bool input (each op's mask, ADR 0019).
    ['masked', []],
    // Every target binds a required int32 input (soft_rank_grouped's groups, ADR 0022).
    ['gather', []],
  ];

  /** model/gather with its int32 input optional, which no target binds. */
  const optionalInt = () =>
    irFromText(readRepo(path('gather')).replace('        dtype: int32\n', '        dtype: int32\n        optional: true\n'), path('gather'));
  const optionalIntLines = targets(['c', 'core', 'docs', 'julia', 'node', 'python'], 'ops.soft_gather.inputs[1].optional', 'optional int32 inputs');

  it('refuses an optional int32 input in every target', () => {
    expect(unsupportedFeatures(optionalInt(), emitters)).toEqual(optionalIntLines);
  });

  it.each(cases)('holds model/%s to every target: each unsupported feature at its spec path', (name, want) => {
    expect(unsupportedFeatures(modelIr(name), emitters)).toEqual(want);
  });

  it('runs before any emitter: planning fails with one CodegenError listing them all', () => {
    const ir = optionalInt();
    let error: unknown;
    try {
      planFor(ir);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(CodegenError);
    const want = optionalIntLines;
    expect((error as CodegenError).lines).toEqual([
      `${path('gather')}: ${want.length} features of the spec are not supported by every target:`,
      ...want.map((l) => `  ${l}`),
    ]);
  });

  it('accepts the spec and the golden fixtures', () => {
    for (const source of ['bindings-spec/rank-relax.yaml', 'codegen/test/fixtures/minimal.yaml', 'codegen/test/fixtures/extra-op.yaml']) {
      expect(unsupportedFeatures(irFromText(readRepo(source), source), emitters)).toEqual([]);
    }
  });
});

describe('a target that declares a capability', () => {
  /** Writes each buffer's extent, so what gets through is visible. */
  const fake = (capabilities: Capabilities): Emitter => ({
    name: 'fake',
    description: 'test target',
    owns: ['fake/'],
    capabilities,
    emit: (ir) => [{
      path: 'fake/extents.txt',
      contents: ir.ops.flatMap((op) => op.forward.args.flatMap((a) => (a.kind === 'buffer' ? [`${a.name.spec}: ${extent(a.shape, cDim)}`] : []))).join('\n') + '\n',
    }],
  });

  it('gets [batch, n, n] through while the others refuse it', () => {
    const ir = modelIr('pairwise');
    const wide = fake({ ...BASELINE, maxRowRank: 2 });
    expect(unsupportedFeatures(ir, [wide])).toEqual([]);
    expect(planFor(ir, [wide], false).files.map((f) => f.contents)).toEqual(['values: batch * n\ncomparisons: batch * n * n\n']);
    const narrow = { ...fake(BASELINE), name: 'narrow' };
    expect(unsupportedFeatures(ir, [wide, narrow])).toEqual([
      'ops.pairwise_sigmoid.outputs[0].shape: the narrow target does not support shape [batch, n, n] yet: 2 dims after batch, at most 1',
    ]);
    expect(() => checkCapabilities(ir, [wide, narrow])).toThrow(CodegenError);
  });

  it('gets [batch, k], int params and narrowed enums through only with all three', () => {
    const ir = modelIr('top-k');
    const full = fake({ ...BASELINE, dimKinds: ['n', 'param'], paramTypes: [...BASELINE.paramTypes, 'int'], enumSubsets: true });
    expect(unsupportedFeatures(ir, [full])).toEqual([]);
    expect(planFor(ir, [full], false).files.map((f) => f.contents)).toEqual(['values: batch * n\ntop: batch * k\npermutation: batch * n\n']);
    expect(unsupportedFeatures(ir, [fake({ ...BASELINE, dimKinds: ['n', 'param'], paramTypes: [...BASELINE.paramTypes, 'int'] })])).toEqual([
      'ops.soft_top_k.params[1]: the fake target does not support narrowing an enum param for one op (values, default) yet',
    ]);
  });

  it('reports every op whose JVP and HVP a target does not bind, and nothing once it declares both', () => {
    const ir = irFromText(readRepo('bindings-spec/rank-relax.yaml'), 'bindings-spec/rank-relax.yaml');
    const open: Capabilities = { ...INT_INPUTS, jvp: false, hvp: false };
    const lines = (kernel: string, what: string) => ir.ops.map((o) => `ops.${o.name.spec}.${kernel}: the fake target does not support ${what} yet`);
    const jvp = lines('jvp', 'JVP kernels (forward mode)');
    const hvp = lines('hvp', 'HVP kernels (second order)');
    expect(unsupportedFeatures(ir, [fake(open)])).toEqual(jvp.flatMap((j, i) => [hvp[i], j]));
    expect(unsupportedFeatures(ir, [fake({ ...open, jvp: true })])).toEqual(hvp);
    expect(unsupportedFeatures(ir, [fake({ ...open, jvp: true, hvp: true })])).toEqual([]);
  });

  it('gets optional bool inputs, int32 and non-differentiable outputs through', () => {
    const open = fake({
      ...BASELINE,
      inputDtypes: ['real', 'bool'],
      optionalInputs: true,
      optionalInputDtypes: ['bool'],
      outputDtypes: ['real', 'int32'],
      nonDifferentiableOutputs: true,
      dimKinds: ['n', 'length'],
      paramTypes: [...BASELINE.paramTypes, 'list'],
    });
    for (const name of ['masked', 'argsort', 'quantiles'] as const) expect(unsupportedFeatures(modelIr(name), [open])).toEqual([]);
  });
});

describe('bad syntax of the op model', () => {
  type Edit = (spec: any) => void;
  const cases: [string, Model, Edit, string[]][] = [
    ['an unknown dimension symbol', 'top-k', (s) => { s.ops.soft_top_k.outputs[0].shape = ['batch', 'q']; }, [
      'ops.soft_top_k.outputs[0].shape[1]: expected a dimension of the op (n | k), got "q"',
    ]],
    ['a dim bound to a param that is not an int', 'top-k', (s) => {
      s.ops.soft_top_k.dims = { j: { param: 'regularization' } };
      s.ops.soft_top_k.outputs[0].shape = ['batch', 'j'];
    }, [
      'ops.soft_top_k.dims.j.param: expected an int param listed in the op\'s params (k), got "regularization"',
    ]],
    ['a dim bound to nothing, or to two things', 'top-k', (s) => { s.ops.soft_top_k.dims.k = { param: 'k', length_of: 'k' }; }, [
      'ops.soft_top_k.dims.k: expected exactly one of the keys length_of | param, got a map',
      'ops.soft_top_k.dims.k.length_of: expected a list param listed in the op\'s params (there are none), got "k"',
    ]],
    ['a dim named like a built-in one', 'top-k', (s) => { s.ops.soft_top_k.dims.n = { param: 'k' }; }, [
      'ops.soft_top_k.dims.n: expected a dimension other than batch and n (every op has those), got "n"',
    ]],
    ['an int bound naming an unknown dim', 'top-k', (s) => { s.params.k.max = 'm'; }, [
      'params.k.max: expected an integer or the dimension n, got "m"',
    ]],
    ['an int default outside its bounds', 'top-k', (s) => { s.params.k.default = -1; }, [
      'params.k.default: expected an integer in [0, ∞], got -1',
    ]],
    ['an int default that is not an integer', 'top-k', (s) => { s.params.k.default = 1.5; }, [
      'params.k.default: expected an integer, got 1.5',
    ]],
    ['an example k above the example\'s n', 'top-k', (s) => { s.ops.soft_top_k.example.params.k = 4; }, [
      'ops.soft_top_k.example.params.k: expected an integer in [0, 3], got 4',
    ]],
    ['a list param with an empty default', 'quantiles', (s) => { s.params.quantiles.default = []; }, [
      'params.quantiles.default: expected a list of at least 1 number (min_length 1), got an empty list',
    ]],
    ['a list element outside the bounds', 'quantiles', (s) => { s.params.quantiles.default = [0.5, 1.5]; }, [
      'params.quantiles.default[1]: expected a finite number in [0, 1], got 1.5',
    ]],
    ['an enum subset naming a value not in the enum', 'top-k', (s) => { s.ops.soft_top_k.params[1].values = ['l2', 'p43']; }, [
      'ops.soft_top_k.params[1].values[1]: expected one of l2 | kl, got "p43"',
    ]],
    ['an enum subset without the default', 'top-k', (s) => { delete s.ops.soft_top_k.params[1].default; }, [
      'ops.soft_top_k.params[1].default: expected one of l2 (the param\'s default "kl" is not among values), got nothing',
    ]],
    ['values on a param that is not an enum', 'top-k', (s) => { s.ops.soft_top_k.params[0] = { name: 'k', values: ['1'] }; }, [
      'ops.soft_top_k.params[0]: expected the plain name k (only enum params take enum, values and default here), got a map',
    ]],
    ['an unknown key in a param entry', 'top-k', (s) => { s.ops.soft_top_k.params[1].value = 'l2'; }, [
      'ops.soft_top_k.params[1]: expected only the keys default | enum | name | values, got "value"',
    ]],
    ['an op\'s own enum that is not defined', 'top-k', (s) => { s.ops.soft_top_k.params[1] = { name: 'regularization', enum: 'penalty' }; }, [
      'ops.soft_top_k.params[1].enum: expected one of regularization, got "penalty"',
    ]],
    ['an op\'s own enum without the param\'s default', 'top-k', (s) => {
      s.enums.penalty = { doc: 'Penalties.', values: [{ name: 'p43', doc: 'Three-halves.' }] };
      s.ops.soft_top_k.params[1] = { name: 'regularization', enum: 'penalty' };
    }, [
      'ops.soft_top_k.params[1].default: expected one of p43 (the param\'s default "kl" is not among values), got nothing',
    ]],
    ['a differentiable bool input', 'masked', (s) => { s.ops.masked_soft_rank.inputs[1].differentiable = true; }, [
      'ops.masked_soft_rank.inputs[1].differentiable: expected false for a bool input (only real inputs have gradients), got true',
    ]],
    ['a differentiable int32 output', 'argsort', (s) => { s.ops.soft_sort_with_indices.outputs[1].differentiable = true; }, [
      'ops.soft_sort_with_indices.outputs[1].differentiable: expected false for a int32 output (it has no cotangent), got true',
    ]],
    ['a params entry that is neither a name nor a map', 'top-k', (s) => { s.ops.soft_top_k.params[1] = 3; }, [
      'ops.soft_top_k.params[1]: expected a string or a map, got 3',
    ]],
    ['an int bound that is neither an integer nor a name', 'top-k', (s) => { s.params.k.min = 0.5; }, [
      'params.k.min: expected an integer or a string, got 0.5',
    ]],
    ['a dimension symbol that is not snake_case', 'pairwise', (s) => { s.ops.pairwise_sigmoid.outputs[0].shape = ['batch', 'N', 'n']; }, [
      'ops.pairwise_sigmoid.outputs[0].shape[1]: expected a dimension symbol (snake_case), got "N"',
    ]],
    ['an unknown input dtype', 'masked', (s) => { s.ops.masked_soft_rank.inputs[1].dtype = 'int64'; }, [
      'ops.masked_soft_rank.inputs[1].dtype: expected one of real | bool | int32, got "int64"',
    ]],
    ['no required input with n', 'masked', (s) => { s.ops.masked_soft_rank.inputs[0].optional = true; delete s.ops.masked_soft_rank.example; }, [
      'ops.masked_soft_rank.inputs: expected at least one required input with the dimension n (a call reads n from its inputs), got [["batch","n"],["batch","n"]]',
    ]],
  ];

  it.each(cases)('rejects %s', (_, base, edit, want) => {
    const result = validateSpec(parseYaml(editedSpec(edit, path(base)), 'spec.yaml'));
    expect(result.ok ? [] : result.errors).toEqual(want);
  });
});
