// Validation: each bad spec pins the exact text of every error it produces.
import { describe, expect, it } from 'vitest';

import { CodegenError } from '../src/spec/errors.ts';
import { parseYaml, specFromText } from '../src/spec/load.ts';
import { validateSpec } from '../src/spec/validate.ts';
import { editedSpec, readRepo, SPEC_PATH } from './helpers.ts';

type Edit = (spec: any) => void;

const cases: [string, { given: Edit; want: string[] }][] = [
  ['an enum default outside the enum', {
    given: (s) => { s.params.direction.default = 'up'; },
    want: ['params.direction.default: expected one of ascending | descending, got "up"'],
  }],
  ['a missing field', {
    given: (s) => { delete s.ops.soft_rank.summary; },
    want: ['ops.soft_rank.summary: expected a string, got nothing'],
  }],
  ['a shape that does not start with batch', {
    given: (s) => { s.ops.soft_rank.inputs[0].shape = ['n']; },
    want: ['ops.soft_rank.inputs[0].shape: expected a list of dimensions with batch first and only there: [batch], [batch, n], [batch, n, n], …, got ["n"]'],
  }],
  ['batch after the first dimension', {
    given: (s) => { s.ops.soft_rank.outputs[0].shape = ['batch', 'n', 'batch']; },
    want: ['ops.soft_rank.outputs[0].shape: expected a list of dimensions with batch first and only there: [batch], [batch, n], [batch, n, n], …, got ["batch","n","batch"]'],
  }],
  ['an unknown dimension', {
    given: (s) => { s.ops.soft_rank.outputs[0].shape = ['batch', 'm']; },
    want: [
      'ops.soft_rank.outputs[0].shape[1]: expected a dimension of the op (n), got "m"',
    ],
  }],
  ['an unknown param type', {
    given: (s) => { s.params.regularization.type = 'float'; },
    want: ['params.regularization.type: expected one of real | enum | bool | int | list, got "float"'],
  }],
  ['an unknown key', {
    given: (s) => { s.ops.soft_rank.foo = 1; },
    want: ['ops.soft_rank: expected only the keys dims | doc | example | hvp | in_place_vjp | inputs | jvp | min_n | outputs | params | residuals | saves | summary, got "foo"'],
  }],
  ['a JVP whose tangent clashes with an output', {
    given: (s) => { s.ops.soft_rank.outputs[0].name = 'tangent_values'; s.ops.soft_rank.saves = ['values', 'tangent_values']; },
    want: ['ops.soft_rank.inputs[0].name: expected a name unused by the op\'s other arguments (it clashes with output "tangent_values"), got "tangent_values"'],
  }],
  ['an in-place VJP on an op whose gradients cannot take the cotangent\'s place', {
    given: (s) => { s.ops.spearman_loss.in_place_vjp = true; },
    want: [
      'ops.spearman_loss.in_place_vjp: expected an op with exactly one output and one differentiable input, both of shape [batch, n] (the gradient takes the cotangent\'s place), got true',
    ],
  }],
  ['grad on an enum param', {
    given: (s) => { s.params.direction.grad = true; },
    want: ['params.direction: expected only the keys default | doc | enum | type, got "grad"'],
  }],
  ['an op param that is not defined', {
    given: (s) => { s.ops.soft_rank.params[1] = 'regularisation'; },
    want: ['ops.soft_rank.params[1]: expected one of direction | k | quantiles | regularization | regularization_strength, got "regularisation"'],
  }],
  ['a param listed twice', {
    given: (s) => { s.ops.sigmoid_rank.params.push('direction'); },
    want: ['ops.sigmoid_rank.params[2]: expected a param not listed before in this op, got "direction"'],
  }],
  ['an op name that is not snake_case', {
    given: (s) => { s.ops.SoftRank = s.ops.soft_rank; delete s.ops.soft_rank; },
    want: ['ops.SoftRank: expected a snake_case name not starting with "rr_", got "SoftRank"'],
  }],
  ['the reserved rr_ prefix', {
    given: (s) => {
      s.ops.soft_rank.inputs[0].name = 'rr_values';
      s.ops.soft_rank.saves = ['rr_values', 'ranks'];
      delete s.ops.soft_rank.example;
    },
    want: ['ops.soft_rank.inputs[0].name: expected a snake_case name not starting with "rr_", got "rr_values"'],
  }],
  ['an output named like an input', {
    given: (s) => { s.ops.soft_rank.outputs[0].name = 'values'; s.ops.soft_rank.saves = ['values']; },
    want: ['ops.soft_rank.outputs[0].name: expected a name unused by the op\'s other arguments (it clashes with input "values"), got "values"'],
  }],
  ['a name that clashes with a derived backward argument', {
    given: (s) => { s.ops.sigmoid_rank.residuals = [{ name: 'grad_values', dtype: 'real', shape: ['batch', 'n'], doc: 'x' }]; },
    want: ['ops.sigmoid_rank.inputs[0].name: expected a name unused by the op\'s other arguments (it clashes with residual "grad_values"), got "grad_values"'],
  }],
  ['an argument named like a dimension', {
    given: (s) => { s.ops.sigmoid_rank.outputs[0].name = 'n'; s.ops.sigmoid_rank.saves = ['values']; },
    want: ['ops.sigmoid_rank.outputs[0].name: expected a name unused by the op\'s other arguments (it clashes with the dimension "n"), got "n"'],
  }],
  ['a save that is neither input nor output', {
    given: (s) => { s.ops.soft_sort.saves = ['valuez']; },
    want: ['ops.soft_sort.saves[0]: expected one of the op\'s inputs and outputs (values | mask | sorted), got "valuez"'],
  }],
  ['a default that breaks its constraint', {
    given: (s) => { s.params.regularization_strength.default = 0; },
    want: ['params.regularization_strength.default: expected a finite number > 0 (constraint: positive), got 0'],
  }],
  ['an unknown residual dtype', {
    given: (s) => { s.ops.soft_rank.residuals[0].dtype = 'int64'; },
    want: ['ops.soft_rank.residuals[0].dtype: expected one of real | int32, got "int64"'],
  }],
  ['an abi_version below 1', {
    given: (s) => { s.package.abi_version = 0; },
    want: ['package.abi_version: expected a number ≥ 1, got 0'],
  }],
  ['an enum param naming no enum', {
    given: (s) => { s.params.direction.enum = 'directions'; },
    want: ['params.direction.enum: expected one of direction | regularization | topk_regularization, got "directions"'],
  }],
  ['an example naming an unknown input and param', {
    given: (s) => { s.ops.soft_rank.example = { value: [[1]], params: { strength: 1 } }; },
    want: [
      'ops.soft_rank.example.params.strength: expected one of direction | regularization | regularization_strength, got "strength"',
      'ops.soft_rank.example.value: expected one of values | mask | params, got "value"',
      'ops.soft_rank.example.values: expected a value for every required input of the op, got nothing',
    ],
  }],
  ['an example with ragged rows and a bad enum value', {
    given: (s) => { s.ops.soft_rank.example = { values: [[1, 2], [3]], params: { direction: 'up' } }; },
    want: [
      'ops.soft_rank.example.params.direction: expected one of ascending | descending, got "up"',
      'ops.soft_rank.example.values: expected a non-empty list of rows of finite numbers, all of one length, got [[1,2],[3]]',
    ],
  }],
  ['every error at once, sorted by path', {
    given: (s) => {
      s.params.direction.default = 'up';
      s.ops.soft_rank.inputs[0].differentiable = 'yes';
      delete s.package.version;
      s.ops.ndcg_loss.min_n = 0;
    },
    want: [
      'ops.ndcg_loss.min_n: expected a number ≥ 1, got 0',
      'ops.soft_rank.inputs[0].differentiable: expected true or false, got "yes"',
      'package.version: expected a string, got nothing',
      'params.direction.default: expected one of ascending | descending, got "up"',
    ],
  }],
];

describe('validateSpec', () => {
  it('accepts the spec', () => {
    expect(validateSpec(parseYaml(readRepo(SPEC_PATH), SPEC_PATH))).toMatchObject({ ok: true });
  });

  it.each(cases)('rejects %s', (_, { given, want }) => {
    const result = validateSpec(parseYaml(editedSpec(given), 'spec.yaml'));
    expect(result.ok ? [] : result.errors).toEqual(want);
  });
});

describe('specFromText', () => {
  it('reports every error with the spec path and a count, as a CodegenError', () => {
    const text = editedSpec((s) => {
      s.params.direction.default = 'up';
      s.ops.soft_rank.summary = 3;
    });
    let error: unknown;
    try {
      specFromText(text, 'bindings-spec/rank-relax.yaml');
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(CodegenError);
    expect((error as CodegenError).lines).toEqual([
      'bindings-spec/rank-relax.yaml: 2 errors in the spec:',
      '  ops.soft_rank.summary: expected a string, got 3',
      '  params.direction.default: expected one of ascending | descending, got "up"',
    ]);
  });

  it('reports YAML syntax errors and duplicate keys with line and column', () => {
    expect(() => specFromText('package:\n  name: a\n  name: b\n', 'x.yaml')).toThrow(/x\.yaml: the YAML does not parse:\n {2}line 3, column 3: Map keys must be unique/);
    expect(() => specFromText('ops: [\n', 'x.yaml')).toThrow(/line \d+, column \d+/);
  });
});
