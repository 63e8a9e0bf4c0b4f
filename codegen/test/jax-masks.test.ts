// The JAX functions and XLA FFI handlers of an optional input (a bool mask): the public function
// takes it last, by keyword; the kernels pass it to the FFI call as its last operand, when present,
// so that a call without it is the call of before; the handler reads it by the call's operand count.
import { describe, expect, it } from 'vitest';

import { renderJax } from '../src/emitters/python/jax.ts';
import { renderXlaGlue } from '../src/emitters/python/xla.ts';
import { irFromText } from '../src/pipeline.ts';
import { readRepo, specIr } from './helpers.ts';

const PATH = 'codegen/test/fixtures/model/masked.yaml';
const masked = () => irFromText(readRepo(PATH), PATH);

describe('an optional bool input in the JAX target', () => {
  it('is read by the XLA handler as an optional last operand and passed to the core as an Option', () => {
    const xla = renderXlaGlue(masked());
    expect(xla).toContain('let regularization_strength = rr_frame.arg::<T>(1, "regularization_strength")?;\n        let mask = rr_frame.optional_arg::<bool>(2, "mask")?;');
    expect(xla).toContain('let mask = rr_frame.optional_arg::<bool>(3, "mask")?;');
    expect(xla).toContain('rr_part.matrix(&values),\n                rr_part.optional_matrix(&mask),');
  });

  it('is the last argument of the public function, None by default, and reaches every kernel', () => {
    const jax = renderJax(masked());
    expect(jax).toContain('    axis: int = -1,\n    mask: ArrayLike | None = None,\n) -> jax.Array:');
    expect(jax).toContain('bools=(("mask", mask),),');
    expect(jax).toContain('        (values, mask, cotangent_ranks),\n        {"regularization_strength": regularization_strength},\n        (_rr.like(values),),\n        optional=(1,),\n');
    // No gradient: None for its cotangent in a custom_vjp backward.
    expect(jax).toContain('return (grad_values, None, _rr.zeros_like(regularization_strength))');
  });

  it('gives the derivative primitives of the spec their optional saves', () => {
    const jax = renderJax(specIr());
    expect(jax).toContain('    inputs=("values", "mask"),\n    optional=("mask",),\n');
    expect(jax).toMatch(/nondiff_argnums=\(2, 4\)\)\ndef _rr_soft_quantile\(/);
    expect(jax).toContain('    tangent_values, _tangent_mask, tangent_regularization_strength = tangents\n');
  });

  it('refuses two optional buffers in one call, which the operand count could not tell apart', () => {
    const two = readRepo(PATH)
      .replace(
        '    params: [regularization_strength]',
        ['      - name: other', '        shape: [batch, n]', '        dtype: bool', '        optional: true', '        differentiable: false', '        doc: Another.', '    params: [regularization_strength]'].join('\n'),
      )
      .replace('saves: [values, mask]', 'saves: [values, mask, other]');
    expect(() => renderXlaGlue(irFromText(two, PATH))).toThrow(/at most one optional buffer/);
  });
});
