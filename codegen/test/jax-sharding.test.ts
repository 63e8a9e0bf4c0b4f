// The JAX sharding table (rank_relax/jax/_sharding_table.py) beyond its goldens: it is made from
// each buffer's shape, with no per-op code, so the op model's other shapes get their row dims
// too: a [batch, n, n] output two, a [batch, k] output its int param's dim, a [batch] one none.
import { describe, expect, it } from 'vitest';

import { renderJaxShardingTable } from '../src/emitters/python/jax-sharding.ts';
import { irFromText } from '../src/pipeline.ts';
import { readRepo, specIr } from './helpers.ts';

const model = (name: string) => {
  const path = `codegen/test/fixtures/model/${name}.yaml`;
  return renderJaxShardingTable(irFromText(readRepo(path), path));
};

describe('the JAX sharding table', () => {
  it('lists the row dims of a [batch, n, n] output', () => {
    expect(model('pairwise')).toContain('results=(Buffer("comparisons", ("n", "n"), "real"),)');
  });

  it('lists the row dim of a [batch, k] output by its symbol', () => {
    expect(model('top-k')).toContain('results=(Buffer("top", ("k",), "real"), Buffer("permutation", ("n",), "int32"))');
  });

  it('has every kernel of the spec, operands in the order the XLA handlers decode them', () => {
    const ir = specIr();
    const table = renderJaxShardingTable(ir);
    for (const op of ir.ops) {
      for (const pass of ['forward', 'backward']) expect(table).toContain(`"${op.name.snake}_${pass}": Call(`);
    }
    expect(table).toContain(
      [
        '    "soft_rank_forward": Call(',
        '        operands=(',
        '            Buffer("values", ("n",), "real"),',
        '            Buffer("regularization_strength", (), "real"),',
        '            Buffer("mask", ("n",), "bool", optional=True),',
        '        ),',
        '        results=(Buffer("ranks", ("n",), "real"), Buffer("permutation", ("n",), "int32")),',
        '    ),',
      ].join('\n'),
    );
  });

  it('lists an optional input last, after the real params, so that a call may leave it out', () => {
    expect(model('masked')).toContain(
      [
        '    "masked_soft_rank_backward": Call(',
        '        operands=(',
        '            Buffer("values", ("n",), "real"),',
        '            Buffer("cotangent_ranks", ("n",), "real"),',
        '            Buffer("regularization_strength", (), "real"),',
        '            Buffer("mask", ("n",), "bool", optional=True),',
        '        ),',
      ].join('\n'),
    );
  });
});
