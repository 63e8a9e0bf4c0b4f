// The core target beyond its goldens: the spec mirror and the fuzz table hold the fixture's real
// values (ops, inputs in order, shapes from `shape.dims`, defaults, codes, C argument order), and
// follow the spec when a default changes. The goldens are rustfmt-checked by golden.test.ts; the
// real spec's files are compiled and run by `cargo test -p rank-relax` (tests/spec_mirror.rs) and
// `cargo test -p rank-relax-ffi --test fuzz_regressions`.
import { describe, expect, it } from 'vitest';

import { coreEmitter } from '../src/emitters/core/index.ts';
import { FUZZ_TABLE } from '../src/emitters/core/fuzz.ts';
import { CORE_TABLE } from '../src/emitters/core/table.ts';
import type { IR } from '../src/ir/types.ts';
import { irFromText } from '../src/pipeline.ts';
import { editedSpec, fixtureIr, fixturePath, specIr } from './helpers.ts';

function emitted(ir: IR, path: string): string {
  const f = coreEmitter.emit(ir).find((x) => x.path === path);
  if (f === undefined) throw new Error(`no ${path}`);
  return f.contents;
}

/** The text of one `Op { name: "<op>", … }` entry of a table. */
function entry(table: string, op: string): string {
  const start = table.indexOf(`    Op {\n        name: ${JSON.stringify(op)},`);
  expect(start).toBeGreaterThanOrEqual(0);
  return table.slice(start, table.indexOf('\n    },', start) + 7);
}

describe('core: tests/common/generated.rs', () => {
  const table = emitted(fixtureIr('extra-op'), CORE_TABLE);

  it('lists every op sorted, with min_n, params and defaults, inputs, outputs, residuals', () => {
    expect([...table.matchAll(/^ {8}name: "(\w+)",$/gm)].map((m) => m[1])).toEqual(['pair_loss', 'soft_rank']);
    expect(entry(table, 'pair_loss')).toBe(
      [
        '    Op {',
        '        name: "pair_loss",',
        '        min_n: 2,',
        '        params: &[',
        '            Param {',
        '                name: "regularization_strength",',
        '                default: Value::Real(1.0),',
        '                grad: true,',
        '            },',
        '            Param {',
        '                name: "normalize",',
        '                default: Value::Bool(false),',
        '                grad: false,',
        '            },',
        '        ],',
        '        inputs: &[',
        '            Input {',
        '                name: "predictions",',
        '                dims: &[Dim::Batch, Dim::N],',
        '                elem: Elem::Real,',
        '                optional: false,',
        '                differentiable: true,',
        '                constraint: "finite",',
        '            },',
        '            Input {',
        '                name: "weights",',
        '                dims: &[Dim::Batch, Dim::N],',
        '                elem: Elem::Real,',
        '                optional: false,',
        '                differentiable: false,',
        '                constraint: "nonnegative",',
        '            },',
        '        ],',
        '        outputs: &[Tensor {',
        '            name: "loss",',
        '            dims: &[Dim::Batch],',
        '            elem: Elem::Real,',
        '        }],',
        '        residuals: &[],',
        '    },',
      ].join('\n'),
    );
    const softRank = entry(table, 'soft_rank');
    expect(softRank).toContain('default: Value::Enum("ascending", 0),');
    expect(softRank).toContain('name: "permutation",\n            dims: &[Dim::Batch, Dim::N],\n            elem: Elem::Int32,');
  });

  it('lists every enum with its values and codes', () => {
    expect(table).toContain('pub const ENUMS: &[Enum] = &[Enum {\n    name: "direction",\n    arg: "direction",\n    values: &[("ascending", 0), ("descending", 1)],\n}];');
    expect(table).toContain('core_enum!("direction", Direction)');
  });

  it("writes each op's Params from the spec's defaults, in the core's syntax, next to Params::default()", () => {
    expect(table).toContain(
      [
        '    let spec = ops::pair_loss::Params {',
        '        regularization_strength: T::from_f64(1.0),',
        '        normalize: false,',
        '    };',
        '    let core = ops::pair_loss::Params::default();',
        '    all.push(compare("pair_loss", core, spec));',
      ].join('\n'),
    );
    expect(table).toContain('        direction: rank_relax::Direction::Ascending,\n');
  });

  it('follows the spec: a changed default, enum order and min_n reach the table', () => {
    const ir = irFromText(
      editedSpec((s) => {
        s.params.regularization_strength.default = 0.25;
        s.params.direction.default = 'descending';
        s.enums.direction.values.reverse();
        s.ops.pair_loss.min_n = 3;
      }, fixturePath('extra-op')),
      'edited.yaml',
    );
    const edited = emitted(ir, CORE_TABLE);
    expect(edited).toContain('default: Value::Real(0.25),');
    expect(edited).toContain('regularization_strength: T::from_f64(0.25),');
    expect(edited).toContain('default: Value::Enum("descending", 0),');
    expect(edited).toContain('direction: rank_relax::Direction::Descending,');
    expect(edited).toContain('values: &[("descending", 0), ("ascending", 1)],');
    expect(entry(edited, 'pair_loss')).toContain('min_n: 3,');
  });
});

describe('core: the fuzz harness table', () => {
  const table = emitted(fixtureIr('extra-op'), FUZZ_TABLE);

  it('lists each buffer in C argument order with its element type, shape and role', () => {
    const pair = entry(table, 'pair_loss');
    expect(pair).toContain('params: &[ParamKind::Real, ParamKind::Bool],');
    const names = (part: string) => [...part.matchAll(/name: "(\w+)"/g)].map((m) => m[1]);
    const forward = pair.slice(pair.indexOf('forward: &['), pair.indexOf('saved:'));
    const backward = pair.slice(pair.indexOf('backward: &['), pair.indexOf('jvp: &['));
    const jvp = pair.slice(pair.indexOf('jvp: &['), pair.indexOf('param_tangents:'));
    const hvp = pair.slice(pair.indexOf('hvp: &['), pair.indexOf('forward_f32:'));
    expect(names(forward)).toEqual(['predictions', 'weights', 'loss']);
    expect(pair).toContain('saved: &["predictions", "weights", "loss"],');
    expect(names(backward)).toEqual(['cotangent_loss', 'grad_predictions', 'grad_regularization_strength']);
    expect(names(jvp)).toEqual(['tangent_predictions', 'tangent_loss']);
    expect(pair).toContain('param_tangents: 1,');
    expect(names(hvp)).toEqual(['cotangent_loss', 'tangent_predictions', 'hvp_predictions', 'hvp_regularization_strength']);
    expect(forward).toContain('name: "weights",\n                elem: Elem::Real,\n                optional: false,\n                row: &[Dim::N],\n                written: false,\n                nonnegative: true,');
    expect(forward).toContain('name: "loss",\n                elem: Elem::Real,\n                optional: false,\n                row: &[],\n                written: true,');
    expect(entry(table, 'soft_rank')).toContain('name: "permutation",\n                elem: Elem::Int32,');
    expect(table).toContain('pub const MAX_BUFFERS: usize = 6;');
  });

  it('calls each entry point with its params by type and every buffer in order', () => {
    expect(table).toContain('        forward_f32: pair_loss_forward_f32,\n');
    expect(table).toContain('unsafe fn pair_loss_backward_f64(batch: usize, n: usize, a: &Args, p: &[*mut u8]) -> i32 {');
    expect(table).toContain(
      [
        '        rr::pair_loss::rr_pair_loss_forward_f32(',
        '            batch,',
        '            n,',
        '            a.reals[0] as f32,',
        '            a.flags[0],',
        '            p[0] as _,',
        '            p[1] as _,',
        '            p[2] as _,',
        '        )',
      ].join('\n'),
    );
    expect(table).toContain('rr::soft_rank::rr_soft_rank_forward_f64(');
  });
});

describe('core: int and list params, extents other than [batch, n]', () => {
  const ir = specIr();
  const table = emitted(ir, CORE_TABLE);
  const fuzz = emitted(ir, FUZZ_TABLE);

  it('marks the optional bool mask, in the tests table and the fuzz table', () => {
    expect(entry(table, 'soft_rank')).toContain('name: "mask",\n                dims: &[Dim::Batch, Dim::N],\n                elem: Elem::Bool,\n                optional: true,');
    expect(entry(fuzz, 'soft_rank')).toContain('name: "mask",\n                elem: Elem::Bool,\n                optional: true,');
  });

  it('mirrors their defaults and dims', () => {
    expect(entry(table, 'soft_topk')).toContain('name: "k",\n                default: Value::Int(1),');
    expect(entry(table, 'soft_quantile')).toContain('default: Value::List(&[0.5]),');
    expect(entry(table, 'soft_quantile')).toContain('dims: &[Dim::Batch, Dim::Length("quantiles")],');
    expect(entry(table, 'neural_sort')).toContain('dims: &[Dim::Batch, Dim::N, Dim::N],');
    expect(table).toContain('quantiles: vec![T::from_f64(0.5)],');
    expect(table).toContain('regularization: rank_relax::TopkRegularization::L2,');
    // An op's own enum is listed with the argument its messages name.
    expect(table).toContain('name: "topk_regularization",\n        arg: "regularization",');
  });

  it('draws them by kind and passes a list as a pointer and a length, in the entry point\'s dtype', () => {
    expect(entry(fuzz, 'soft_quantile')).toContain('params: &[ParamKind::List, ParamKind::Real, ParamKind::Enum],');
    expect(entry(fuzz, 'soft_quantile')).toContain('name: "result",\n                elem: Elem::Real,\n                optional: false,\n                row: &[Dim::Length(0)],');
    expect(entry(fuzz, 'neural_sort')).toContain('row: &[Dim::N, Dim::N],');
    expect(fuzz).toContain('            a.lists_f32[0].as_ptr(),\n            a.lists_f32[0].len(),\n');
    expect(fuzz).toContain('            a.lists[0].as_ptr(),\n            a.lists[0].len(),\n');
    expect(fuzz).toContain('            a.ints[0],\n');
  });
});

describe('core: shapes come from shape.dims', () => {
  it.each([['extra-op'], ['spec']])('%s: the same files whatever ShapeIR.perRow says', (name) => {
    const ir = name === 'spec' ? specIr() : fixtureIr(name);
    const flipped = JSON.parse(JSON.stringify(ir), (key, value) => (key === 'perRow' ? !value : value)) as IR;
    expect(coreEmitter.emit(flipped)).toEqual(coreEmitter.emit(ir));
  });
});
