"""Trains a small MLP scorer with ``rank_relax.jax.spearman_loss`` (jit + grad, Adam written out)
on synthetic queries and prints the held-out Spearman correlation as it rises."""

from __future__ import annotations

import time
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from _data import D, make_queries, spearman

import rank_relax.jax as rr


def init(key: Any) -> dict[str, jax.Array]:
    k1, k2 = jax.random.split(key)
    return {
        "w1": jax.random.normal(k1, (D, 32)) / np.sqrt(D),
        "b1": jnp.zeros(32),
        "w2": jax.random.normal(k2, (32,)) / np.sqrt(32),
    }


def scores(params: dict[str, jax.Array], x: jax.Array) -> jax.Array:
    return jnp.tanh(x @ params["w1"] + params["b1"]) @ params["w2"]


def loss(params: dict[str, jax.Array], x: jax.Array, y: jax.Array) -> jax.Array:
    return rr.spearman_loss(scores(params, x), y, regularization_strength=0.1).mean()


@jax.jit
def step(params: Any, m: Any, v: Any, t: jax.Array, x: jax.Array, y: jax.Array) -> Any:
    value, grads = jax.value_and_grad(loss)(params, x, y)
    m = jax.tree.map(lambda a, g: 0.9 * a + 0.1 * g, m, grads)
    v = jax.tree.map(lambda a, g: 0.999 * a + 0.001 * g * g, v, grads)
    scale = 1e-2 * jnp.sqrt(1 - 0.999**t) / (1 - 0.9**t)
    params = jax.tree.map(lambda p, a, b: p - scale * a / (jnp.sqrt(b) + 1e-8), params, m, v)
    return params, m, v, value


def main() -> None:
    x_train, y_train = make_queries(512, 32, seed=1)
    x_test, y_test = make_queries(256, 32, seed=2)
    params = init(jax.random.PRNGKey(0))
    m = jax.tree.map(jnp.zeros_like, params)
    v = jax.tree.map(jnp.zeros_like, params)
    rng = np.random.default_rng(0)

    def held_out() -> float:
        return spearman(np.asarray(jax.jit(scores)(params, x_test)), y_test)

    start, first, t = time.perf_counter(), held_out(), 0
    print(f"jax    epoch  0  held-out Spearman {first:+.3f}")
    for epoch in range(1, 31):
        for batch in np.array_split(rng.permutation(512), 8):
            t += 1
            params, m, v, value = step(params, m, v, t, x_train[batch], y_train[batch])
        if epoch % 5 == 0:
            report = f"held-out Spearman {held_out():+.3f}  loss {float(value):.3f}"
            print(f"jax    epoch {epoch:2d}  {report}")
    last = held_out()
    seconds = time.perf_counter() - start
    print(f"jax: held-out Spearman {first:+.3f} -> {last:+.3f} in {seconds:.1f} s")
    assert last > first + 0.3, "training did not improve the ranking"
    assert last > 0.6, "training did not reach a good ranking"


if __name__ == "__main__":
    main()
