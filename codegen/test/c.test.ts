// The C target on the real spec's int and list params, an op's own enum and shapes other than
// [batch, n], and on an enum param an op narrows to some of its values (no op of the spec does):
// the header's declarations and docs, the glue's checks, the test table's rows. The generated
// files of the real spec are built and run by scripts/test-c.sh.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import { unsupportedFeatures } from '../src/emit/capabilities.ts';
import { cEmitter } from '../src/emitters/c/index.ts';
import { irFromText } from '../src/pipeline.ts';
import type { IR } from '../src/ir/types.ts';
import { editedSpec, specIr } from './helpers.ts';

function files(ir: IR): Map<string, string> {
  return new Map(cEmitter.emit(ir).map((f) => [f.path, f.contents]));
}

function file(all: Map<string, string>, suffix: string): string {
  const hit = [...all.entries()].find(([path]) => path.endsWith(suffix));
  if (hit === undefined) throw new Error(`no generated file ends with ${suffix}`);
  return hit[1];
}

const scratch = mkdtempSync(join(tmpdir(), 'rank-relax-c-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe('the real spec', () => {
  const ir = specIr();
  const out = files(ir);
  const header = file(out, 'include/rank_relax.h');

  it('is bound by the C target', () => {
    expect(unsupportedFeatures(ir, [cEmitter])).toEqual([]);
  });

  it('declares int params as int64_t and list params as a pointer and a length', () => {
    expect(header).toContain('int32_t rr_soft_topk_forward_f64(\n    size_t batch,\n    size_t n,\n    int64_t k,\n    double regularization_strength,');
    expect(header).toContain('int32_t rr_soft_quantile_forward_f32(\n    size_t batch,\n    size_t n,\n    const float *quantiles,\n    size_t quantiles_len,');
    expect(header).toContain('@param[in] quantiles_len Number of values in quantiles.');
    expect(header).toMatch(/@param\[in\] k How many items soft_topk selects, 0 ≤ k ≤ n\. An integer in \[0, n\]; default 1\./);
  });

  it("defines the op's own enum and documents its constants", () => {
    expect(header).toContain('#define RR_TOPK_REGULARIZATION_L2 0');
    expect(header).toContain('#define RR_TOPK_REGULARIZATION_P43 1');
    expect(header).toMatch(/One(\s|\*)+of(\s|\*)+RR_TOPK_REGULARIZATION_L2, RR_TOPK_REGULARIZATION_P43; default(\s|\*)+RR_TOPK_REGULARIZATION_L2\./);
  });

  it("states the extent of each buffer whose shape is not [batch] or [batch, n]", () => {
    expect(header).toContain('@param[out] result [batch, m] (batch * quantiles_len elements)');
    expect(header).toContain('@param[out] permutation_matrix [batch, n, n] (batch * n * n elements)');
    expect(header).toContain('@param[in] cotangent_permutation_matrix [batch, n, n] (batch * n * n elements)');
  });

  it('copies a list out of C memory and sizes buffers from the shape', () => {
    const glue = file(out, 'generated/soft_quantile.rs');
    expect(glue).toContain('let quantiles = unsafe { rr_ffi::list("quantiles", quantiles, quantiles_len) }?;');
    expect(glue).toContain('rr_shape.extent("result", &[quantiles_len])?');
    expect(file(out, 'generated/neural_sort.rs')).toContain('rr_shape.extent("permutation_matrix", &[n, n])?');
    expect(file(out, 'generated/soft_topk.rs')).toContain('regularization: rank_relax::TopkRegularization::from_code(regularization)?,');
  });

  it('sizes a [batch, k] buffer by an int param only within its bounds, and types an int32 output', () => {
    const glue = file(out, 'generated/soft_sort_topk.rs');
    expect(glue).toContain('let rr_dim_k = rr_shape.count(k, Some(0), Some(n));');
    expect(glue).toContain('rr_shape.extent("indices", &[rr_dim_k])?');
    const path = join(scratch, 'soft_sort_topk.rs');
    writeFileSync(path, glue);
    execFileSync('rustfmt', ['--check', '--edition', '2021', path]);
    expect(header).toContain('    double *top_values,\n    int32_t *indices,\n    int32_t *permutation);');
    // No cotangent of indices in the backward, no tangent of it in the JVP.
    expect(header).not.toContain('cotangent_indices');
    expect(header).not.toContain('tangent_indices');
    const table = file(out, 'rr_ops_table.h');
    expect(table).toContain('{.name = "indices", .rank = 1, .row = {{RRT_DIM_PARAM, 0}}, .is_int32 = true, .indexes = true, .differentiable = false');
    expect(table).toContain('(double *)out[0], (int32_t *)out[1], (int32_t *)res[0]);');
  });

  it('describes int and list params and row dims in the test table', () => {
    const table = file(out, 'rr_ops_table.h');
    expect(table).toContain('{.name = "k", .type = RRT_INT, .default_value = {.integer = 1}, .min = {true, false, 0.0}, .max = {true, true, 0.0}},');
    expect(table).toContain('static const double rrt_soft_quantile_quantiles_default[] = {0.5};');
    expect(table).toContain('{.name = "result", .rank = 1, .row = {{RRT_DIM_LENGTH, 0}}');
    expect(table).toContain('{.name = "permutation_matrix", .rank = 2, .row = {{RRT_DIM_N, 0}, {RRT_DIM_N, 0}}');
    expect(table).toContain(
      'return rr_soft_quantile_forward_f32(batch, n, p[0].list_f32, p[0].list_len, (float)p[1].real, p[2].code, (const float *)in[0], (const bool *)in[1], (float *)out[0], (int32_t *)res[0]);',
    );
  });

  it('takes the optional bool mask as a nullable const bool * after the inputs and among the saves', () => {
    expect(header).toContain('    const double *values,\n    const bool *mask,\n    double *ranks,');
    expect(header).toContain('    const bool *mask,\n    const double *ranks,\n    const int32_t *permutation,\n    const double *cotangent_ranks,');
    expect(header).toMatch(/@param\[in\] mask \[batch, n\] bool, optional: Which items are present \(true\);/);
    expect(header).toMatch(/May be NULL, which is the(\s|\*)+same as every element true; otherwise batch \* n elements, each 0 \(false\) or 1 \(true\)\./);
    const glue = file(out, 'generated/soft_rank.rs');
    expect(glue).toContain('let mask = rr_ffi::In::optional("mask", mask, rr_shape.elems)?;');
    expect(glue).toContain('mask.bools_optional(batch)?,');
    expect(glue).toMatch(/check_disjoint\(&\[\s+values\.region\(\),\s+mask\.region\(\),/);
    const table = file(out, 'rr_ops_table.h');
    expect(table).toContain('{.name = "mask", .rank = 1, .row = {{RRT_DIM_N, 0}}, .is_bool = true, .differentiable = false, .constraint = NULL, .optional = true},');
  });
});

describe('an enum param narrowed to some of its values', () => {
  const text = editedSpec((spec) => {
    spec.ops.soft_rank.params = ['regularization_strength', 'regularization', { name: 'direction', values: ['descending'], default: 'descending' }];
  });
  const ir = irFromText(text, 'narrowed.yaml');
  const out = files(ir);

  it('refuses the other codes in the glue, naming the param and the codes it takes', () => {
    const glue = file(out, 'generated/soft_rank.rs');
    expect(glue).toContain('let direction =\n            rr_ffi::accept_code(direction, &[1], "direction must be one of 1 (descending)")?;');
    const path = join(scratch, 'soft_rank.rs');
    writeFileSync(path, glue);
    execFileSync('rustfmt', ['--check', '--edition', '2021', path]);
  });

  it('documents and tables only the values it takes', () => {
    const all = file(out, 'include/rank_relax.h');
    const start = all.indexOf('/* soft_rank */');
    const header = all.slice(start, all.indexOf('/* ---', start));
    expect(header).toContain('int32_t rr_soft_rank_backward_f32(');
    expect(header).toMatch(/One(\s|\*)+of(\s|\*)+RR_DIRECTION_DESCENDING; default(\s|\*)+RR_DIRECTION_DESCENDING\./);
    expect(header).not.toMatch(/One(\s|\*)+of(\s|\*)+RR_DIRECTION_ASCENDING/);
    const table = file(out, 'rr_ops_table.h');
    expect(table).toContain('static const rrt_enum_value rrt_soft_rank_direction_values[] = {\n    {"descending", RR_DIRECTION_DESCENDING},\n};');
    expect(table).toContain('.values = rrt_soft_rank_direction_values, .num_values = 1},');
  });
});
