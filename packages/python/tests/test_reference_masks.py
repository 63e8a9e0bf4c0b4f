"""Every case of the masks reference file (``testdata/reference/masks.json``, or
``$RANK_RELAX_REFERENCE_MASKS``) through the NumPy, PyTorch and JAX APIs, the mask a bool array.

float64 against the file (outputs to 1e-9 absolute + relative, VJPs to 1e-7 absolute + 1e-9
relative, torch's and JAX's ε gradient against the sum of the file's per-row values); float32
against the same API's own float64 result on the float32-rounded inputs, to 1e-4 of the row's
largest magnitude (ALGORITHMS.md).
"""

from __future__ import annotations

from typing import Any

import pytest

from _spec import OPS
from conftest import load_grouped, load_masks, load_sort_topk
from replay import case_ids, check_float32, check_float64

REFERENCE = load_masks()
CASES: list[dict[str, Any]] = REFERENCE["cases"]
APIS = ("numpy", "torch", "jax")
case_id = case_ids(CASES)


def test_the_files_cover_every_op_with_a_mask() -> None:
    assert REFERENCE["dtype"] == "float64"
    # soft_sort_topk's and soft_rank_grouped's masked cases live in their own files
    # (test_sort_topk.py and test_rank_grouped.py replay them).
    own_file = {c["op"] for c in load_sort_topk() + load_grouped() if "mask" in c["inputs"]}
    assert own_file == {"soft_sort_topk", "soft_rank_grouped"}
    assert {c["op"] for c in CASES} | own_file == set(OPS)
    assert all("mask" in c["inputs"] for c in CASES)
    assert any("vjp" in c for c in CASES)
    # Rows with no item present are among them.
    assert any(not any(row) for c in CASES for row in c["inputs"]["mask"])


@pytest.mark.parametrize("name", APIS)
@pytest.mark.parametrize("index", range(len(CASES)), ids=case_id)
def test_float64(name: str, index: int) -> None:
    check_float64(name, CASES[index])


@pytest.mark.parametrize("name", APIS)
@pytest.mark.parametrize("index", range(len(CASES)), ids=case_id)
def test_float32(name: str, index: int) -> None:
    check_float32(name, CASES[index])
