"""Learning to rank on padded queries of different lengths with ``rank_relax.jax`` and ``mask=``
(``jax.jit`` + ``jax.grad``, Adam written out).

The data and the two losses of ``ltr_torch.py``: queries of 10 to 40 items padded to 40 with junk,
a bool mask, a small MLP scorer trained with the masked ``ndcg_loss`` and with a NeuralNDCG-style
loss built on the masked ``neural_sort_apply``; held-out NDCG@10 (hard, masked, NumPy) before and
after each.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from _data import D
from _padded import compare_losses, make_padded_queries, ndcg_at

import rank_relax.jax as rr

N = 40
Params = dict[str, jax.Array]
Loss = Callable[[jax.Array, jax.Array, jax.Array], jax.Array]


def init(key: Any) -> Params:
    k1, k2 = jax.random.split(key)
    return {
        "w1": jax.random.normal(k1, (D, 32)) / np.sqrt(D),
        "b1": jnp.zeros(32),
        "w2": jax.random.normal(k2, (32,)) / np.sqrt(32),
    }


def scores(params: Params, x: jax.Array) -> jax.Array:
    return jnp.tanh(x @ params["w1"] + params["b1"]) @ params["w2"]


def ndcg_loss(s: jax.Array, relevance: jax.Array, mask: jax.Array) -> jax.Array:
    return rr.ndcg_loss(s, relevance, regularization_strength=0.1, mask=mask).mean()


def neural_ndcg_loss(s: jax.Array, relevance: jax.Array, mask: jax.Array) -> jax.Array:
    """1 − soft DCG / ideal DCG per query, averaged over the queries with a relevant item."""
    gains = 2.0**relevance - 1.0  # NaN at padded positions: never read under the mask
    # Row i is the soft gain at sorted position i: the present items first, zeros after.
    soft_sorted = rr.neural_sort_apply(
        s, gains, regularization_strength=0.1, mask=mask, direction="descending"
    )
    discount = 1.0 / jnp.log2(jnp.arange(2.0, N + 2.0))
    dcg = (soft_sorted * discount).sum(-1)
    idcg = (-jnp.sort(-jnp.where(mask, gains, 0.0), axis=-1) * discount).sum(-1)
    relevant = idcg > 0
    per_query = jnp.where(relevant, 1.0 - dcg / jnp.where(relevant, idcg, 1.0), 0.0)
    return per_query.sum() / jnp.maximum(relevant.sum(), 1)


def train(name: str, loss_fn: Loss) -> tuple[float, float]:
    x_train, y_train, m_train = make_padded_queries(512, N, seed=1)
    x_test, y_test, m_test = make_padded_queries(256, N, seed=2)
    params = init(jax.random.PRNGKey(0))
    m = jax.tree.map(jnp.zeros_like, params)
    v = jax.tree.map(jnp.zeros_like, params)
    rng = np.random.default_rng(0)

    def loss(p: Params, x: jax.Array, y: jax.Array, mask: jax.Array) -> jax.Array:
        return loss_fn(scores(p, x), y, mask)

    @jax.jit
    def step(
        params: Any, m: Any, v: Any, t: jax.Array, x: jax.Array, y: jax.Array, mask: jax.Array
    ) -> Any:
        value, grads = jax.value_and_grad(loss)(params, x, y, mask)
        m = jax.tree.map(lambda a, g: 0.9 * a + 0.1 * g, m, grads)
        v = jax.tree.map(lambda a, g: 0.999 * a + 0.001 * g * g, v, grads)
        scale = 1e-2 * jnp.sqrt(1 - 0.999**t) / (1 - 0.9**t)
        params = jax.tree.map(lambda p, a, b: p - scale * a / (jnp.sqrt(b) + 1e-8), params, m, v)
        return params, m, v, value

    def held_out() -> float:
        return ndcg_at(np.asarray(jax.jit(scores)(params, x_test)), y_test, m_test)

    first, t = held_out(), 0
    print(f"{name:<12} epoch  0  held-out NDCG@10 {first:.3f}")
    for epoch in range(1, 21):
        for batch in np.array_split(rng.permutation(512), 8):
            t += 1
            params, m, v, value = step(
                params, m, v, t, x_train[batch], y_train[batch], m_train[batch]
            )
        if epoch % 5 == 0:
            report = f"held-out NDCG@10 {held_out():.3f}  loss {float(value):.3f}"
            print(f"{name:<12} epoch {epoch:2d}  {report}")
    return first, held_out()


def main() -> None:
    compare_losses("jax", train, {"ndcg_loss": ndcg_loss, "NeuralNDCG": neural_ndcg_loss})


if __name__ == "__main__":
    main()
