"""Padded learning-to-rank data shared by the LTR demos: queries of random lengths padded to a
common ``n``, graded relevance 0–4, a bool mask, and the hard (masked) NDCG@k in NumPy."""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
from _data import make_queries

GRADES = np.array([-0.6, 0.0, 0.5, 1.0])  # target-score thresholds of the relevance grades 1..4


def make_padded_queries(
    queries: int, n: int, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Features ``[queries, n, D]`` (float32), relevance ``[queries, n]`` (float32, grades 0–4) and
    mask ``[queries, n]`` (bool). Query lengths are uniform in ``[n // 4, n]``; the present items
    come first. Padded positions hold junk: large random features and NaN relevance."""
    x, y = make_queries(queries, n, seed)
    rng = np.random.default_rng(seed + 1000)
    lengths = rng.integers(n // 4, n + 1, size=queries)
    mask = np.arange(n) < lengths[:, None]
    relevance = np.digitize(y, GRADES).astype(np.float32)
    x[~mask] = 100.0 * rng.standard_normal((int((~mask).sum()), x.shape[-1]))
    relevance[~mask] = np.nan
    return x, relevance, mask


def ndcg_at(scores: np.ndarray, relevance: np.ndarray, mask: np.ndarray, k: int = 10) -> float:
    """Mean NDCG@k (gains 2^rel − 1, present items only) over the queries with a relevant item."""
    gains = np.where(mask, 2.0 ** np.nan_to_num(relevance) - 1.0, 0.0)
    order = np.argsort(np.where(mask, -scores.astype(np.float64), np.inf), axis=-1, kind="stable")
    discount = 1.0 / np.log2(np.arange(2, k + 2))
    dcg = (np.take_along_axis(gains, order, -1)[:, :k] * discount).sum(-1)
    idcg = (-np.sort(-gains, axis=-1)[:, :k] * discount).sum(-1)
    relevant = idcg > 0
    return float((dcg[relevant] / idcg[relevant]).mean())


def compare_losses(
    framework: str,
    train: Callable[[str, Callable], tuple[float, float]],
    losses: dict[str, Callable],
) -> None:
    """Trains with each loss (``train(name, loss)`` returns held-out NDCG@10 before and after),
    prints both, and fails unless every loss moved the ranking well up."""
    start = time.perf_counter()
    results = {name: train(name, fn) for name, fn in losses.items()}
    seconds = time.perf_counter() - start
    for name, (first, last) in results.items():
        print(f"{framework} {name}: held-out NDCG@10 {first:.3f} -> {last:.3f}")
        assert last > first + 0.1, f"{name}: training did not improve the ranking"
        assert last > 0.8, f"{name}: training did not reach a good ranking"
    print(f"{framework}: both losses in {seconds:.1f} s")
