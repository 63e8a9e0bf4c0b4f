"""Every case of the shared reference file through the NumPy, PyTorch and JAX public APIs.

float64 against the file (outputs to 1e-9 absolute + relative, VJPs to 1e-7 absolute + 1e-9
relative); float32 against the same API's own float64 result on the float32-rounded inputs, to
1e-4 of the row's largest magnitude (ALGORITHMS.md).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from compare import assert_close, assert_close_rows
from conftest import load_reference
from frameworks import NAMES, api

REFERENCE = load_reference()
CASES: list[dict[str, Any]] = REFERENCE["cases"]
LOSSES = {"spearman_loss", "ndcg_loss"}


def case_id(index: int) -> str:
    case = CASES[index]
    params = ",".join(f"{v}" for v in case["params"].values())
    return f"{index}-{case['op']}-{params}"


def inputs_of(case: dict[str, Any], dtype: type) -> dict[str, np.ndarray]:
    return {name: np.asarray(rows, dtype=dtype) for name, rows in case["inputs"].items()}


def test_reference_file_is_v1() -> None:
    assert REFERENCE["format"] == "rank-relax reference vectors v1"
    assert REFERENCE["dtype"] == "float64"
    assert len(CASES) > 0
    assert any("vjp" in c for c in CASES)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("index", range(len(CASES)), ids=case_id)
def test_float64(name: str, index: int) -> None:
    fw = api(name)
    case = CASES[index]
    op, params = case["op"], case["params"]
    inputs = inputs_of(case, np.float64)
    out = fw.call(op, inputs, params)
    assert out.dtype == np.float64
    assert_close(f"{op} output", out, np.asarray(case["output"]), 1e-9, 1e-9)
    if "vjp" in case:
        grads = fw.vjp(op, inputs, params, np.asarray(case["cotangent"], np.float64))
        for input_name, want in case["vjp"].items():
            assert_close(f"{op} vjp[{input_name}]", grads[input_name], np.asarray(want), 1e-7, 1e-9)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("index", range(len(CASES)), ids=case_id)
def test_float32(name: str, index: int) -> None:
    fw = api(name)
    case = CASES[index]
    op = case["op"]
    params = dict(case["params"])
    params["regularization_strength"] = float(np.float32(params["regularization_strength"]))
    inputs32 = inputs_of(case, np.float32)
    inputs64 = {k: v.astype(np.float64) for k, v in inputs32.items()}
    per_row = op in LOSSES
    out32 = fw.call(op, inputs32, params)
    assert out32.dtype == np.float32
    want = fw.call(op, inputs64, params)
    assert_close_rows(f"{op} output", out32, want, 1e-4, 1.0 if per_row else 0.0, per_row=per_row)
    if "cotangent" in case:
        cot32 = np.asarray(case["cotangent"], np.float32)
        got = fw.vjp(op, inputs32, params, cot32)
        want_grads = fw.vjp(op, inputs64, params, cot32.astype(np.float64))
        for input_name, g in got.items():
            assert g.dtype == np.float32
            want_g = want_grads[input_name]
            assert_close_rows(f"{op} vjp[{input_name}]", g, want_g, 1e-4, 1e-8)
