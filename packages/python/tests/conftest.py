"""Shared setup: the suite runs against the installed package, never the source tree."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

import rank_relax

TESTS = Path(__file__).resolve().parent
SOURCE = TESTS.parent / "src"
REPO = TESTS.parents[2]

if Path(rank_relax.__file__).resolve().is_relative_to(SOURCE.resolve()):
    raise RuntimeError(
        f"rank_relax was imported from the source tree ({rank_relax.__file__}); the suite tests "
        f"the installed wheel: run pytest from outside packages/python/src "
        f"(scripts/test-python.sh)"
    )

try:  # JAX computes in float32 unless x64 is on; the reference tests need float64.
    import jax

    jax.config.update("jax_enable_x64", True)
except ImportError:  # the NumPy-only smoke test
    pass


def reference_path() -> Path:
    """``$RANK_RELAX_REFERENCE``, else ``testdata/reference/ops-v1.json`` from the repo root."""
    env = os.environ.get("RANK_RELAX_REFERENCE")
    if env:
        return Path(env)
    return REPO / "testdata" / "reference" / "ops-v1.json"


def load_reference() -> dict[str, Any]:
    path = reference_path()
    if not path.is_file():
        pytest.fail(f"reference vectors not found at {path} (set RANK_RELAX_REFERENCE)")
    with path.open() as f:
        return json.load(f)


#: The reference files of the ops added after ops-v1.json, by the variable that overrides each path.
WAVE2 = {
    "RANK_RELAX_REFERENCE_WAVE2": "wave2-topk-quantile.json",
    "RANK_RELAX_REFERENCE_NEURAL_SORT": "wave2-neural-sort.json",
}


def load_wave2() -> list[dict[str, Any]]:
    """The cases of both wave2 files (soft_topk, soft_quantile; neural_sort, neural_sort_apply)."""
    cases = []
    for env, name in WAVE2.items():
        path = Path(os.environ.get(env) or REPO / "testdata" / "reference" / name)
        if not path.is_file():
            pytest.fail(f"reference vectors not found at {path} (set {env})")
        with path.open() as f:
            cases += json.load(f)["cases"]
    return cases


def load_masks() -> dict[str, Any]:
    """``$RANK_RELAX_REFERENCE_MASKS``, else ``testdata/reference/masks.json``: the reference
    vectors of masked calls (every op; ``inputs.mask`` as ``[batch][n]`` booleans)."""
    env = os.environ.get("RANK_RELAX_REFERENCE_MASKS")
    path = Path(env) if env else REPO / "testdata" / "reference" / "masks.json"
    if not path.is_file():
        pytest.fail(f"reference vectors not found at {path} (set RANK_RELAX_REFERENCE_MASKS)")
    with path.open() as f:
        return json.load(f)


def _load_op_cases(env: str, name: str) -> list[dict[str, Any]]:
    """The cases of ``$env``, else of ``testdata/reference/<name>``: a float64 file of the v1
    format whose cases key outputs and cotangents by output name."""
    given = os.environ.get(env)
    path = Path(given) if given else REPO / "testdata" / "reference" / name
    if not path.is_file():
        pytest.fail(f"reference vectors not found at {path} (set {env})")
    with path.open() as f:
        data = json.load(f)
    assert data["format"] == "rank-relax reference vectors v1"
    assert data["dtype"] == "float64"
    return data["cases"]  # type: ignore[no-any-return]


def load_sort_topk() -> list[dict[str, Any]]:
    """``$RANK_RELAX_REFERENCE_SORT_TOPK``, else ``testdata/reference/soft-sort-topk.json``: the
    cases of soft_sort_topk (``outputs`` and ``cotangents`` by output name)."""
    return _load_op_cases("RANK_RELAX_REFERENCE_SORT_TOPK", "soft-sort-topk.json")


def load_grouped() -> list[dict[str, Any]]:
    """``$RANK_RELAX_REFERENCE_GROUPED``, else ``testdata/reference/soft-rank-grouped.json``: the
    cases of soft_rank_grouped (``inputs.groups`` as ``[batch][n]`` integers)."""
    return _load_op_cases("RANK_RELAX_REFERENCE_GROUPED", "soft-rank-grouped.json")
