"""Learning to rank on padded queries of different lengths with ``rank_relax.torch`` and ``mask=``.

Queries hold 10 to 40 items, padded to 40 with junk (huge random features, NaN relevance); a bool
mask marks the present items. A small MLP scorer is trained twice, from the same start: with the
masked ``ndcg_loss`` (soft ranks in the DCG), and with a NeuralNDCG-style loss (the gains
soft-sorted by ``neural_sort_apply`` under the same mask, discounted by position). Each reports the
held-out NDCG@10 (hard, on present items only, in NumPy) before and after training.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from _data import D
from _padded import compare_losses, make_padded_queries, ndcg_at

import rank_relax.torch as rr

N = 40
Loss = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


def ndcg_loss(scores: torch.Tensor, relevance: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    return rr.ndcg_loss(scores, relevance, regularization_strength=0.1, mask=mask).mean()


def neural_ndcg_loss(
    scores: torch.Tensor, relevance: torch.Tensor, mask: torch.Tensor
) -> torch.Tensor:
    """1 − soft DCG / ideal DCG per query, averaged over the queries with a relevant item."""
    gains = 2.0**relevance - 1.0  # NaN at padded positions: never read under the mask
    # Row i is the soft gain at sorted position i: the present items first, zeros after.
    soft_sorted = rr.neural_sort_apply(
        scores, gains, regularization_strength=0.1, mask=mask, direction="descending"
    )
    discount = 1.0 / torch.log2(torch.arange(2, N + 2, dtype=scores.dtype))
    dcg = (soft_sorted * discount).sum(-1)
    ideal = torch.where(mask, gains, 0.0).sort(-1, descending=True).values
    idcg = (ideal * discount).sum(-1)
    relevant = idcg > 0
    return (1.0 - dcg[relevant] / idcg[relevant]).mean()


def train(name: str, loss_fn: Loss) -> tuple[float, float]:
    torch.manual_seed(0)
    x_train, y_train, m_train = (torch.from_numpy(a) for a in make_padded_queries(512, N, seed=1))
    x_test, y_test, m_test = make_padded_queries(256, N, seed=2)
    model = torch.nn.Sequential(torch.nn.Linear(D, 32), torch.nn.Tanh(), torch.nn.Linear(32, 1))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)

    def held_out() -> float:
        with torch.no_grad():
            return ndcg_at(model(torch.from_numpy(x_test)).squeeze(-1).numpy(), y_test, m_test)

    first = held_out()
    print(f"{name:<12} epoch  0  held-out NDCG@10 {first:.3f}")
    for epoch in range(1, 21):
        for batch in torch.randperm(512).split(64):
            scores = model(x_train[batch]).squeeze(-1)  # [64 queries, N items], junk where padded
            loss = loss_fn(scores, y_train[batch], m_train[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        if epoch % 5 == 0:
            report = f"held-out NDCG@10 {held_out():.3f}  loss {loss.item():.3f}"
            print(f"{name:<12} epoch {epoch:2d}  {report}")
    return first, held_out()


def main() -> None:
    compare_losses("torch", train, {"ndcg_loss": ndcg_loss, "NeuralNDCG": neural_ndcg_loss})


if __name__ == "__main__":
    main()
