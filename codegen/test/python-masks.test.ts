// An optional bool input (a mask) in the Python target's pyo3 glue, NumPy API, PyTorch custom ops,
// native stub and test table: the native functions take it as `Option<PyReadonlyArray2<bool>>`
// (None: absent) at its place among the kernel's reads, check its shape when it is given and pass it
// to the core as an `Option<&[bool]>`; the public functions take it last, after the items axis,
// None by default; the custom ops declare it `Tensor?` and autograd gives it no gradient.
import { describe, expect, it } from 'vitest';

import { renderNumpy } from '../src/emitters/python/numpy.ts';
import { renderRustGlue } from '../src/emitters/python/rust.ts';
import { renderStub } from '../src/emitters/python/stub.ts';
import { renderTestTable } from '../src/emitters/python/table.ts';
import { renderTorch } from '../src/emitters/python/torch.ts';
import { irFromText } from '../src/pipeline.ts';
import { readRepo, specIr } from './helpers.ts';

const PATH = 'codegen/test/fixtures/model/masked.yaml';
const masked = () => irFromText(readRepo(PATH), PATH);

describe('an optional bool input in the pyo3 glue', () => {
  const glue = renderRustGlue(masked());

  it('is an optional bool array at its place among the reads of every pass', () => {
    expect(glue).toContain("        values: PyReadonlyArray2<'py, T>,\n        mask: Option<PyReadonlyArray2<'py, bool>>,\n        regularization_strength: T,\n");
    expect(glue).toContain("        mask: Option<PyReadonlyArray2<'py, bool>>,\n        cotangent_ranks: PyReadonlyArray2<'py, T>,\n");
    expect(glue).toContain('signature = (values, mask, cotangent_ranks, regularization_strength)');
  });

  it('is checked against the call when given, read without a copy and passed to the core as an Option', () => {
    expect(glue).toContain('        if let Some(mask) = &mask {\n            rr_py::same_shape(OP, "values", rr_shape, "mask", mask.shape())?;\n        }\n');
    // Checked byte by byte: only 0 and 1 are Rust bools.
    expect(glue).toContain('        let mask = rr_py::read_bools_optional(OP, "mask", &mask)?;\n');
    expect(glue).toContain('                    &values,\n                    mask.as_deref(),\n                    &cotangent_ranks,\n');
  });

  it('is None in the params check, which computes no row', () => {
    expect(glue).toContain('            &rr_params,\n            &[],\n            None,\n            &mut [],\n        );');
  });

  it('is a bool array or None in the stub', () => {
    const stub = renderStub(masked());
    expect(stub).toContain('_BOOL = NDArray[np.bool_]');
    expect(stub).toContain('def masked_soft_rank_forward_f64(\n    values: _F64,\n    mask: _BOOL | None,\n');
    // A spec without bool inputs has no alias for them.
    expect(renderStub(irFromText(readRepo(PATH).replace(/ {6}- name: mask[\s\S]*?doc: True for.*\n/, '').replace('saves: [values, mask]', 'saves: [values]'), PATH))).not.toContain('_BOOL');
  });
});

describe('an optional bool input in the NumPy API', () => {
  const numpy = renderNumpy(masked());

  it('is the last argument of the function and of its VJP, None by default', () => {
    expect(numpy).toContain('    axis: int = -1,\n    mask: ArrayLike | None = None,\n) -> NDArray[Any]:\n    """Soft ranks among');
    expect(numpy).toContain('def masked_soft_rank_vjp(\n    values: ArrayLike,\n    cotangent_ranks: ArrayLike,\n    regularization_strength: float = 1.0,\n    axis: int = -1,\n    mask: ArrayLike | None = None,\n)');
  });

  it('goes through the call plumbing as an optional bool input and reaches every kernel', () => {
    expect(numpy).toContain('        ("mask", mask),\n        axis=axis,\n        optional=("mask",),\n        bools=("mask",),\n    )\n    _rr_values, _rr_mask = _rr_call.arrays\n');
    expect(numpy).toContain('KERNELS["masked_soft_rank_backward"])(\n        _rr_values,\n        _rr_mask,\n        _rr_cotangent_ranks,\n');
  });

  it('is documented after the items axis, with its dtype and default', () => {
    expect(numpy).toContain('        mask: True for the items that take part; absent means all do. A bool array of shape');
    expect(numpy).toContain('``None`` (every item present).');
    expect(numpy).toContain('        regularization_strength, ..., axis, mask: As for :func:`masked_soft_rank`.');
  });

  it('gives the JVP and HVP of the spec the mask too', () => {
    const spec = renderNumpy(specIr());
    expect(spec).toMatch(/def soft_rank_jvp\([\s\S]*?tangent_regularization_strength: float = 0\.0,\n {4}axis: int = -1,\n {4}mask: ArrayLike \| None = None,\n\)/);
    expect(spec).toMatch(/def soft_rank_hvp\([\s\S]*?axis: int = -1,\n {4}mask: ArrayLike \| None = None,\n\)/);
    expect(spec).toContain('    _rr_values, _rr_mask, _rr_tangent_values = _rr_call.arrays\n');
  });
});

describe('an optional bool input in the PyTorch custom ops', () => {
  const torch = renderTorch(masked());

  it('is Tensor? in the schema of every custom op, and may be None in their implementations', () => {
    expect(torch).toContain('schema="(Tensor values, Tensor? mask, Tensor regularization_strength) -> Tensor"');
    expect(torch).toContain('"(Tensor values, Tensor? mask, Tensor cotangent_ranks,"\n        " Tensor regularization_strength) -> Tensor"');
    expect(torch).toContain('def _rr_masked_soft_rank_forward_impl(\n    values: Tensor,\n    mask: Tensor | None,\n');
  });

  it('is the last argument of the public function and gets no gradient', () => {
    expect(torch).toContain('    dim: int = -1,\n    mask: Tensor | None = None,\n) -> Tensor:');
    expect(torch).toContain('        ("mask", mask),\n        axis=dim,\n        optional=("mask",),\n        bools=("mask",),\n    )\n');
    expect(torch).toContain('    if _rr.eager(_rr_values, _rr_mask):\n');
    expect(torch).toContain('    return (grad_values if _rr_needs[0] else None, None, None)');
  });

  it('is saved for the backward, the JVP and the HVP', () => {
    expect(torch).toContain('    _rr.save(ctx, (values, mask), (regularization_strength,))');
    expect(torch).toContain('    values, mask = _rr_tensors\n');
  });

  it('takes the fake shape from a required input', () => {
    expect(torch).toContain('    return _rr.fake(values, (values.shape[0], values.shape[1]))');
  });
});

describe('the test table', () => {
  it('lists the required inputs, then the optional and the bool ones', () => {
    const table = renderTestTable(masked());
    expect(table).toContain('        "inputs": ["values"],\n        "optional": ["mask"],\n        "bool_inputs": ["mask"],\n');
  });
});
