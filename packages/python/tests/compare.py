"""Comparisons of the reference tests (ops-v1.json and the wave2 files, every framework): within
tolerances of ALGORITHMS.md, naming what differs and where."""

from __future__ import annotations

from typing import Any

import numpy as np


def assert_close(what: str, got: Any, want: Any, atol: float, rtol: float) -> None:
    """|got − want| ≤ atol + rtol × |want| elementwise, with equal shapes."""
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    assert got.shape == want.shape, f"{what}: shape {got.shape} vs {want.shape}"
    bad = np.abs(got - want) > atol + rtol * np.abs(want)
    assert not bad.any(), f"{what}: {got[bad][:5]} vs {want[bad][:5]} at {np.argwhere(bad)[:5]}"


def assert_close_rows(
    what: str, got: Any, want: Any, tol: float, floor: float, *, per_row: bool = False
) -> None:
    """|got − want| ≤ tol × the row's largest |want| (at least ``floor``): a float32 result
    against float64. A row is everything after the batch dim (n items, a quantile row, an n × n
    matrix); with ``per_row`` (one value per row, a loss) each value is its own row."""
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    assert got.shape == want.shape, f"{what}: shape {got.shape} vs {want.shape}"
    rows_want = want.reshape(-1, 1) if per_row else want.reshape(want.shape[0], -1)
    rows_got = got.reshape(rows_want.shape)
    scale = np.maximum(np.abs(rows_want).max(axis=1, keepdims=True), floor)
    bad = np.abs(rows_got - rows_want) > tol * scale
    assert not bad.any(), f"{what}: f32 {rows_got[bad][:5]} vs f64 {rows_want[bad][:5]}"
