// Normalisation: defaults filled, maps sorted, names spelled per target, backward order, ABI hash.
import { describe, expect, it } from 'vitest';

import { juliaApi, juliaIdent, juliaName } from '../src/emitters/julia/names.ts';
import { nodeApi, tsDefault, tsIdent, tsName } from '../src/emitters/node/names.ts';
import { pythonApi, pythonDefault, pythonIdent, pythonName } from '../src/emitters/python/names.ts';
import { ident, rustIdent } from '../src/ir/names.ts';
import { cDefault, cDim, cEnumConstant, cIdent, cName, cType } from '../src/emitters/c/names.ts';
import { rustDim, rustEnumValue, rustIdentifier, rustReal } from '../src/emit/rust.ts';
import { extent, isPerRow, rowExtent } from '../src/ir/shape.ts';
import type { OpIR } from '../src/ir/types.ts';
import { irFromText } from '../src/pipeline.ts';
import { editedSpec, specIr } from './helpers.ts';

const ir = specIr();
const op = (name: string): OpIR => {
  const found = ir.ops.find((o) => o.name.spec === name);
  if (found === undefined) throw new Error(name);
  return found;
};
const argNames = (args: readonly { name: { spec: string } }[]) => args.map((a) => a.name.spec);

describe('normalise', () => {
  const facts: [string, { given: () => unknown; want: unknown }][] = [
    ['ops are sorted by name', {
      given: () => ir.ops.map((o) => o.name.spec),
      want: ['ndcg_loss', 'neural_sort', 'neural_sort_apply', 'sigmoid_rank', 'soft_quantile', 'soft_rank', 'soft_rank_grouped', 'soft_sort', 'soft_sort_topk', 'soft_topk', 'spearman_loss'],
    }],
    ['enums are sorted and coded by list position', {
      given: () => ir.enums.map((e) => [e.name.spec, e.values.map((v) => [v.name.spec, v.code, cEnumConstant(e, v)])]),
      want: [
        ['direction', [['ascending', 0, 'RR_DIRECTION_ASCENDING'], ['descending', 1, 'RR_DIRECTION_DESCENDING']]],
        ['regularization', [['l2', 0, 'RR_REGULARIZATION_L2'], ['kl', 1, 'RR_REGULARIZATION_KL']]],
        ['topk_regularization', [['l2', 0, 'RR_TOPK_REGULARIZATION_L2'], ['p43', 1, 'RR_TOPK_REGULARIZATION_P43']]],
      ],
    }],
    ['omitted constraint is finite, omitted min_n is 1', {
      given: () => [op('soft_rank').inputs[0]?.constraint, op('soft_rank').minN, op('ndcg_loss').inputs[1]?.constraint, op('spearman_loss').minN],
      want: ['finite', 1, 'nonnegative', 2],
    }],
    ['omitted grad is false', {
      given: () => ir.params.map((p) => [p.name.spec, p.grad]),
      want: [['direction', false], ['k', false], ['quantiles', false], ['regularization', false], ['regularization_strength', true]],
    }],
    ['defaults are literals in every target', {
      given: () => {
        const params = op('soft_rank').params;
        const rust = params.map((p) => (p.type === 'real' ? rustReal(p.default) : p.type === 'enum' ? rustEnumValue(p.enum, p.default) : null));
        return [params.map(pythonDefault), params.map(cDefault), rust, params.map(tsDefault)];
      },
      want: [['1.0', '"l2"', '"ascending"'], ['1.0', 'RR_REGULARIZATION_L2', 'RR_DIRECTION_ASCENDING'], ['1.0', 'Regularization::L2', 'Direction::Ascending'], ['1', "'l2'", "'ascending'"]],
    }],
    ['op names per target', {
      given: () => { const n = op('soft_rank').name; return [cName(n), rustIdentifier(n), pythonName(n), juliaName(n), tsName(n), n.pascal]; },
      want: ['soft_rank', 'soft_rank', 'soft_rank', 'soft_rank', 'softRank', 'SoftRank'],
    }],
    ['public names per binding (each target spells its own, in its names.ts)', {
      given: () => { const o = op('soft_rank'); return { python: pythonApi(o), julia: juliaApi(o), node: nodeApi(o) }; },
      want: {
        python: { fn: 'soft_rank', vjp: 'soft_rank_vjp', jvp: 'soft_rank_jvp', hvp: 'soft_rank_hvp' },
        julia: {
          fn: 'soft_rank', forward: 'soft_rank_forward', pullback: 'soft_rank_pullback',
          forwardInto: 'soft_rank_forward!', pullbackInto: 'soft_rank_pullback!', tape: 'SoftRankTape',
          jvp: 'soft_rank_jvp', pushforward: 'soft_rank_pushforward', hvp: 'soft_rank_hvp', pullbackHvp: 'soft_rank_pullback_hvp',
        },
        node: {
          fn: 'softRank', fnAsync: 'softRankAsync', vjp: 'softRankVjp', vjpAsync: 'softRankVjpAsync', withVjp: 'softRankWithVjp',
          options: 'SoftRankOptions', outOptions: 'SoftRankOutOptions', vjpOptions: 'SoftRankVjpOptions',
          gradientsOut: 'SoftRankGradientsOut', gradients: 'SoftRankGradients', withVjpResult: 'SoftRankWithVjp',
          jvp: 'softRankJvp', jvpAsync: 'softRankJvpAsync', jvpOptions: 'SoftRankJvpOptions', jvpOutOptions: 'SoftRankJvpOutOptions',
          hvp: 'softRankHvp', hvpAsync: 'softRankHvpAsync', hvpOptions: 'SoftRankHvpOptions', hvpOut: 'SoftRankHvpOut',
          hvpOutOptions: 'SoftRankHvpOutOptions', hvpResult: 'SoftRankHvp', result: 'SoftRankResult', outputsOut: 'SoftRankOut',
        },
      },
    }],
    ['one record per (op, dtype) with the C symbols', {
      given: () => op('soft_rank').variants.map((v) => [v.dtype.id, v.forward.cSymbol, v.backward.cSymbol]),
      want: [
        ['f32', 'rr_soft_rank_forward_f32', 'rr_soft_rank_backward_f32'],
        ['f64', 'rr_soft_rank_forward_f64', 'rr_soft_rank_backward_f64'],
      ],
    }],
    ['forward order: dims, params, inputs, outputs, residuals', {
      given: () => argNames(op('soft_rank').forward.args),
      want: ['batch', 'n', 'regularization_strength', 'regularization', 'direction', 'values', 'mask', 'ranks', 'permutation'],
    }],
    ['backward order: dims, params, saves, residuals, cotangents, grads, param grads', {
      given: () => argNames(op('spearman_loss').backward.args),
      want: [
        'batch', 'n', 'regularization_strength', 'regularization', 'predictions', 'targets', 'mask', 'prediction_ranks',
        'prediction_permutation', 'target_ranks', 'target_permutation', 'cotangent_loss', 'grad_predictions',
        'grad_targets', 'grad_regularization_strength',
      ],
    }],
    ['only differentiable inputs get a gradient', {
      given: () => op('ndcg_loss').grads.map((g) => g.name.spec),
      want: ['grad_scores'],
    }],
    ['residual types resolve per dtype', {
      given: () => op('spearman_loss').variants.map((v) => v.forward.args.filter((a) => a.role === 'residual').map((a) => cType(a.type))),
      want: [['float', 'int32_t', 'float', 'int32_t'], ['double', 'int32_t', 'double', 'int32_t']],
    }],
    ['shapes are dim lists with the extent of a row', {
      given: () => [op('soft_rank').inputs[0], op('spearman_loss').outputs[0]].map((t) =>
        t && [t.shape.text, t.shape.dims.map((d) => d.kind), rowExtent(t.shape, cDim), extent(t.shape, rustDim), isPerRow(t.shape)]),
      want: [['[batch, n]', ['batch', 'n'], 'n', 'batch * n', false], ['[batch]', ['batch'], '1', 'batch', true]],
    }],
    ['every op has the dims batch and n; soft_quantile also m, the number of its quantiles; soft_sort_topk k, the value of its k', {
      given: () => ir.ops.map((o) => [o.name.spec, o.dims.map((d) => (d.kind === 'length' ? `${d.name.spec}=len(${d.param})` : d.kind === 'param' ? `${d.name.spec}=${d.param}` : d.name.spec)).join(' ')]),
      want: ir.ops.map((o) => [o.name.spec, { soft_quantile: 'batch n m=len(quantiles)', soft_sort_topk: 'batch n k=k' }[o.name.spec] ?? 'batch n']),
    }],
    ['param grads are per row and mutable', {
      given: () => op('soft_sort').backward.args.filter((a) => a.kind === 'buffer' && a.role === 'param_grad').map((a) => a.kind === 'buffer' && [a.shape.text, a.mutable, a.of]),
      want: [['[batch]', true, 'regularization_strength']],
    }],
    ['status codes', {
      given: () => ir.status.map((s) => [s.c, s.code, s.coreKind]),
      want: [
        ['RR_OK', 0, null], ['RR_ERR_INVALID_VALUE', 1, 'InvalidValue'], ['RR_ERR_INVALID_ARGUMENT', 2, 'InvalidArgument'],
        ['RR_ERR_SHAPE_MISMATCH', 3, 'ShapeMismatch'], ['RR_ERR_NULL_POINTER', 4, null], ['RR_ERR_PANIC', 5, null],
      ],
    }],
    ['the example has every param, defaults filled', {
      given: () => op('soft_rank').example?.params.map((p) => [p.param.name.spec, p.value]),
      want: [['regularization_strength', 0.1], ['regularization', 'l2'], ['direction', 'ascending']],
    }],
    ['the header notice names the spec', {
      given: () => ir.generatedNotice,
      want: '@generated by rank-relax-codegen from bindings-spec/rank-relax.yaml. DO NOT EDIT.',
    }],
  ];
  it.each(facts)('%s', (_, { given, want }) => {
    expect(given()).toEqual(want);
  });

  it("gives an op's own enum its codes, values, default and doc, under the shared param's name", () => {
    const [k, eps, reg, dir] = op('soft_topk').params;
    expect([k?.type, eps?.type, reg?.name.spec, dir?.name.spec]).toEqual(['int', 'real', 'regularization', 'direction']);
    if (reg?.type !== 'enum' || dir?.type !== 'enum') throw new Error('enum params expected');
    expect(reg.enum.name.spec).toBe('topk_regularization');
    expect(reg.values.map((v) => [v.name.spec, v.code])).toEqual([['l2', 0], ['p43', 1]]);
    expect([reg.narrowed, reg.default.name.spec, reg.doc]).toEqual([true, 'l2', reg.enum.doc]);
    expect([dir.narrowed, dir.default.name.spec, dir.values.length]).toEqual([true, 'descending', 2]);
    const shared = op('soft_rank').params.find((p) => p.name.spec === 'regularization');
    expect(shared?.type === 'enum' && [shared.narrowed, shared.enum.name.spec]).toEqual([false, 'regularization']);
  });

  it('is deeply frozen', () => {
    expect(Object.isFrozen(ir)).toBe(true);
    expect(Object.isFrozen(ir.ops[0]?.backward.args[0])).toBe(true);
    expect(() => {
      (ir.ops as OpIR[]).pop();
    }).toThrow();
  });
});

describe('names', () => {
  // Each target's escapes: `cIdent`, `rustIdent` (ir/names.ts: the core's paths use it too), `pythonIdent`, `juliaIdent`, `tsIdent`.
  const spelled = (spec: string) => ({ ...ident(spec), c: cIdent(spec), rust: rustIdent(spec), python: pythonIdent(spec), julia: juliaIdent(spec), ts: tsIdent(spec) });
  const cases: [string, { given: string; want: Partial<ReturnType<typeof spelled>> }][] = [
    ['plain', { given: 'regularization_strength', want: { c: 'regularization_strength', ts: 'regularizationStrength', pascal: 'RegularizationStrength', screaming: 'REGULARIZATION_STRENGTH' } }],
    ['a Rust keyword becomes a raw identifier', { given: 'type', want: { rust: 'r#type', python: 'type_', julia: 'type_', ts: 'type_', c: 'type' } }],
    ['a C and TS keyword', { given: 'default', want: { c: 'default_', ts: 'default_', rust: 'default', python: 'default' } }],
    ['a Julia keyword', { given: 'end', want: { julia: 'end_', python: 'end', c: 'end' } }],
    ['a Python builtin a wrapper needs', { given: 'input', want: { python: 'input_', rust: 'input' } }],
    ['digits', { given: 'l2', want: { pascal: 'L2', camel: 'l2', screaming: 'L2' } }],
  ];
  it.each(cases)('%s', (_, { given, want }) => {
    expect(spelled(given)).toMatchObject(want);
  });
});

describe('abi hash', () => {
  const hash = (edit: (s: any) => void): string => irFromText(editedSpec(edit), 'x.yaml').package.abiHash;
  const base = ir.package.abiHash;

  it('is 64 bits in hex', () => {
    expect(base).toMatch(/^0x[0-9a-f]{16}$/);
  });

  const same: [string, (s: any) => void][] = [
    ['doc text', (s) => { s.ops.soft_rank.doc = 'Other words.'; }],
    ['a default', (s) => { s.params.regularization_strength.default = 0.5; }],
    ['the version', (s) => { s.package.version = '9.9.9'; }],
    ['the example', (s) => { delete s.ops.soft_rank.example; }],
  ];
  it.each(same)('ignores %s', (_, edit) => {
    expect(hash(edit)).toBe(base);
  });

  const changed: [string, (s: any) => void][] = [
    ['the order of enum values', (s) => { s.enums.direction.values.reverse(); }],
    ['the order of params', (s) => { s.ops.soft_rank.params.reverse(); }],
    ['a residual dtype', (s) => { s.ops.soft_rank.residuals[0].dtype = 'real'; }],
    ['a new op', (s) => { s.ops.soft_rank2 = s.ops.soft_rank; }],
    ['the abi version', (s) => { s.package.abi_version += 1; }],
    ['an input name', (s) => { s.ops.sigmoid_rank.inputs[0].name = 'x'; s.ops.sigmoid_rank.saves = ['x']; delete s.ops.sigmoid_rank.example; }],
  ];
  it.each(changed)('changes with %s', (_, edit) => {
    expect(hash(edit)).not.toBe(base);
  });
});


describe('in-place VJP', () => {
  const named = (name: string) => ir.ops.find((o) => o.name.spec === name);
  it('names the cotangent and the gradient that may be one buffer', () => {
    const inPlace = named('soft_rank')?.inPlaceVjp;
    expect([inPlace?.cotangent.spec, inPlace?.grad.spec].map((s) => (s === undefined ? s : cIdent(s)))).toEqual(['cotangent_ranks', 'grad_values']);
    expect(cIdent(named('soft_sort')?.inPlaceVjp?.cotangent.spec ?? '')).toBe('cotangent_sorted');
  });
  it('is absent where the spec does not ask for it', () => {
    expect(['sigmoid_rank', 'spearman_loss', 'ndcg_loss'].map((n) => named(n)?.inPlaceVjp)).toEqual([null, null, null]);
  });
});

describe('the JVP kernel', () => {
  const jvpArgs = (name: string) => op(name).jvp?.args.map((a) => [a.name.spec, a.role, a.kind === 'buffer' ? a.mutable : null]);
  it('takes the saves and residuals of the backward, a tangent per differentiable input and param with grad, and writes the output tangents', () => {
    expect(jvpArgs('spearman_loss')).toEqual([
      ['batch', 'dim', null],
      ['n', 'dim', null],
      ['regularization_strength', 'param', null],
      ['regularization', 'param', null],
      ['predictions', 'save', false],
      ['targets', 'save', false],
      ['mask', 'save', false],
      ['prediction_ranks', 'residual', false],
      ['prediction_permutation', 'residual', false],
      ['target_ranks', 'residual', false],
      ['target_permutation', 'residual', false],
      ['tangent_predictions', 'tangent', false],
      ['tangent_targets', 'tangent', false],
      ['tangent_regularization_strength', 'param_tangent', null],
      ['tangent_loss', 'output_tangent', true],
    ]);
  });
  it('skips inputs without a gradient and gives the ε tangent the dtype of the variant', () => {
    expect(op('ndcg_loss').tangents.map((t) => t.name.spec)).toEqual(['tangent_scores']);
    const f32 = op('soft_rank').variants.find((v) => v.dtype.id === 'f32')?.jvp;
    expect(f32?.cSymbol).toBe('rr_soft_rank_jvp_f32');
    expect(f32?.args.filter((a) => a.kind === 'scalar').map((a) => [a.name.spec, a.type.id])).toEqual([['tangent_regularization_strength', 'f32']]);
  });
  it('is part of the ABI hash', () => {
    const without = irFromText(editedSpec((s) => { delete s.ops.soft_rank.jvp; }), 'spec.yaml');
    expect(without.ops.find((o) => o.name.spec === 'soft_rank')?.jvp).toBeNull();
    expect(without.package.abiHash).not.toBe(ir.package.abiHash);
  });
});
