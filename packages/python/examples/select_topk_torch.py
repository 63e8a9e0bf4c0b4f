"""Learns to pick the k best items of each query with ``rank_relax.torch.soft_topk``.

A small MLP scores every item; the differentiable top-k mask of the scores selects k of them, and
the loss is minus the mean target score of the selection, so training moves the k truly best
items into the mask. The held-out metric is precision@k of the hard top-k of the scores (how many
of the k chosen are among the k best), which rises from chance (k / n) towards 1.
"""

from __future__ import annotations

import time

import numpy as np
import torch
from _data import D, make_queries

import rank_relax.torch as rr

K = 4


def precision_at_k(scores: np.ndarray, targets: np.ndarray, k: int) -> float:
    """Mean over queries of |top-k(scores) ∩ top-k(targets)| / k."""
    chosen = np.argsort(-scores, axis=-1)[:, :k]
    best = np.argsort(-targets, axis=-1)[:, :k]
    hits = [len(np.intersect1d(c, b)) for c, b in zip(chosen, best, strict=True)]
    return float(np.mean(hits)) / k


def main() -> None:
    torch.manual_seed(0)
    x_train, y_train = (torch.from_numpy(a) for a in make_queries(512, 32, seed=1))
    x_test, y_test = make_queries(256, 32, seed=2)
    model = torch.nn.Sequential(torch.nn.Linear(D, 32), torch.nn.Tanh(), torch.nn.Linear(32, 1))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)

    def held_out() -> float:
        with torch.no_grad():
            scores = model(torch.from_numpy(x_test)).squeeze(-1).numpy()
        return precision_at_k(scores, y_test, K)

    start, first = time.perf_counter(), held_out()
    print(f"top-k  epoch  0  held-out precision@{K} {first:.3f}  (chance {K / 32:.3f})")
    for epoch in range(1, 31):
        for batch in torch.randperm(512).split(64):
            scores = model(x_train[batch]).squeeze(-1)  # [64 queries, 32 items]
            # Rows sum to K; items outside the top-k region get exactly 0 (and no gradient).
            mask = rr.soft_topk(scores, k=K, regularization_strength=0.5, regularization="p43")
            loss = -(mask * y_train[batch]).sum(-1).mean() / K
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        if epoch % 5 == 0:
            report = f"held-out precision@{K} {held_out():.3f}  loss {loss.item():+.3f}"
            print(f"top-k  epoch {epoch:2d}  {report}")
    last = held_out()
    seconds = time.perf_counter() - start
    print(f"top-k: held-out precision@{K} {first:.3f} -> {last:.3f} in {seconds:.1f} s")
    assert last > first + 0.2, "training did not improve the selection"
    assert last > 0.6, "training did not learn to select the best items"


if __name__ == "__main__":
    main()
