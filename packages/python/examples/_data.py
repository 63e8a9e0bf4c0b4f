"""Synthetic ranking data shared by the demos: queries of ``n`` items with ``d`` features, whose
relevance is a nonlinear function of the features plus noise."""

from __future__ import annotations

import numpy as np

D = 8


def make_queries(queries: int, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Features ``[queries, n, D]`` and target scores ``[queries, n]`` (float32)."""
    rng = np.random.default_rng(seed)
    w = np.random.default_rng(0).standard_normal(D)  # the same true scorer for every split
    x = rng.standard_normal((queries, n, D))
    y = np.tanh(x @ w) + 0.5 * np.sin(2.0 * x[..., 0]) + 0.1 * rng.standard_normal((queries, n))
    return x.astype(np.float32), y.astype(np.float32)


def spearman(scores: np.ndarray, targets: np.ndarray) -> float:
    """Mean over queries of the (hard) Spearman correlation of scores and targets."""
    a = np.argsort(np.argsort(scores, axis=-1), axis=-1).astype(np.float64)
    b = np.argsort(np.argsort(targets, axis=-1), axis=-1).astype(np.float64)
    a -= a.mean(axis=-1, keepdims=True)
    b -= b.mean(axis=-1, keepdims=True)
    corr = (a * b).sum(-1) / np.sqrt((a * a).sum(-1) * (b * b).sum(-1))
    return float(corr.mean())
