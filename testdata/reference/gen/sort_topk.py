"""Independent float64 reference for soft_sort_topk (NumPy; never calls the core).

Writes ``testdata/reference/soft-sort-topk.json``. Per row: ``top_values`` is the first ``k``
entries of soft_sort in the op's direction (``masks.py``'s soft_sort, itself checked against
``ops-v1.json``), ``indices`` the first ``k`` positions of a stable hard sort in that direction;
``vjp.values`` and ``grad_regularization_strength`` are soft_sort's VJP and ε-gradient at the
cotangent padded with zeros to the row. A masked row is compacted to its present items
(``ALGORITHMS.md``, "Masks"): with ``n_valid < k`` it returns its ``n_valid`` items first, then
0 and −1; its indices are positions in the caller's row; absent positions of ``values`` and the
cotangent's columns past ``n_valid`` hold junk that would change the answer if read.

Before writing, every VJP and ε-gradient is checked against central finite differences of the
forward. Cases with ties among a row's present values test the indices' tie order (by position)
and carry no VJP (soft_sort's kink).

    python testdata/reference/gen/sort_topk.py            # checks, then writes the file (~2 s)
    python testdata/reference/gen/sort_topk.py --check    # checks; exit 1 if the file is stale

Deterministic: fixed seed; the same NumPy gives the same bytes.
"""

import json
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import masks as mk  # noqa: E402

OUT = os.path.join(HERE, "..", "soft-sort-topk.json")
OP = "soft_sort_topk"


def hard_order(x, direction):
    """Positions of a stable sort of x in the direction (ties by position)."""
    key = x if direction == "ascending" else -x
    return np.argsort(key, kind="stable")


def forward_row(x, mask, p):
    n, k = len(x), p["k"]
    pos = np.flatnonzero(mask)
    top, idx = np.zeros(k), -np.ones(k, dtype=np.int64)
    kk = min(k, len(pos))
    if kk:
        c = x[pos]
        s = mk.soft_sort_row(c, p["regularization_strength"], p["regularization"], p["direction"])
        top[:kk] = s[:kk]
        idx[:kk] = pos[hard_order(c, p["direction"])[:kk]]
    assert len(x) == n
    return top, idx


def vjp_row(x, mask, p, u):
    pos = np.flatnonzero(mask)
    g = np.zeros(len(x))
    kk = min(p["k"], len(pos))
    if len(pos) == 0:
        return g, 0.0
    uc = np.zeros(len(pos))
    uc[:kk] = u[:kk]
    gc, ge = mk.soft_sort_vjp_row(x[pos], p["regularization_strength"], p["regularization"],
                                  p["direction"], uc)
    g[pos] = gc
    return g, float(ge)


def fd_check(x, mask, p, u, g, ge):
    """Central differences of <u, top_values> in every present value and in ε (l2 is piecewise
    linear: a step that crosses a kink is retried 100 times smaller)."""
    eps = p["regularization_strength"]
    kk = min(p["k"], int(mask.sum()))

    def f(xx, e):
        q = dict(p, regularization_strength=e)
        return forward_row(xx, mask, q)[0][:kk] @ u[:kk]

    def close(d, want):
        return abs(d - want) <= 1e-5 * (1 + abs(d))

    base = 1e-6 * max(np.abs(x[mask]).max() if mask.any() else 1.0, 1e-3)
    for j in np.flatnonzero(mask):
        for h in (base, base / 100):
            xp, xm = x.copy(), x.copy()
            xp[j] += h
            xm[j] -= h
            d = (f(xp, eps) - f(xm, eps)) / (2 * h)
            if close(d, g[j]):
                break
        else:
            raise AssertionError((j, d, g[j], p))
    for he in (1e-6 * eps, 1e-8 * eps):
        d = (f(x, eps + he) - f(x, eps - he)) / (2 * he)
        if close(d, ge):
            break
    else:
        raise AssertionError(("eps", d, ge, p))


def make_mask(rng, n, kind):
    m = np.ones(n, dtype=bool)
    if kind == "empty":
        m[:] = False
    elif kind == "one":
        m[:] = False
        m[rng.integers(n)] = True
    elif kind == "random":
        m = rng.random(n) < rng.uniform(0.3, 0.9)
    return m


def make_case(rng, n, b, p, masked, ties):
    eps = p["regularization_strength"]
    scale = eps * rng.choice([0.3, 1.0, 3.0, 10.0]) if rng.random() < 0.5 else rng.choice(
        [0.3, 1.0, 3.0]) / eps
    kinds = ["all"] * b
    if masked:
        kinds = [["random", "one", "empty", "all", "random"][(i + rng.integers(5)) % 5]
                 for i in range(b)]
    values, masks, tops, idxs, cots, grads, geps = [], [], [], [], [], [], []
    for r in range(b):
        x = rng.normal(0.0, scale, n)
        mask = make_mask(rng, n, kinds[r])
        if ties and mask.sum() >= 2:
            i, j = rng.choice(np.flatnonzero(mask), size=2, replace=False)
            x[j] = x[i]
        x[~mask] = rng.choice([1e6, -1e6, 3.5e5, 0.0], size=(~mask).sum())
        top, idx = forward_row(x, mask, p)
        u = rng.uniform(-1.0, 1.0, p["k"])
        u[min(p["k"], int(mask.sum())):] = rng.choice([1e6, -1e6, 5.0], size=p["k"] - min(
            p["k"], int(mask.sum())))
        g, ge = vjp_row(x, mask, p, u)
        if not ties:
            fd_check(x, mask, p, u, g, ge)
        values.append(x)
        masks.append(mask)
        tops.append(top)
        idxs.append(idx)
        cots.append(u)
        grads.append(g)
        geps.append(ge)
    case = {"op": OP, "params": p, "inputs": {"values": np.array(values).tolist()}}
    if masked:
        case["inputs"]["mask"] = [[bool(v) for v in m] for m in masks]
    case["outputs"] = {"top_values": np.array(tops).reshape(b, p["k"]).tolist(),
                       "indices": np.array(idxs, dtype=np.int64).reshape(b, p["k"]).tolist()}
    case["cotangents"] = {"top_values": np.array(cots).reshape(b, p["k"]).tolist()}
    if not ties:
        case["vjp"] = {"values": np.array(grads).tolist()}
        case["grad_regularization_strength"] = geps
    return case


def hand_checks():
    p = {"k": 2, "regularization_strength": 1e-3, "regularization": "l2",
         "direction": "descending"}
    x = np.array([3.0, 1.0, 2.0, 0.5])
    top, idx = forward_row(x, np.ones(4, dtype=bool), p)
    assert np.allclose(top, [3.0, 2.0]) and list(idx) == [0, 2]
    top, idx = forward_row(x, np.array([False, True, True, False]), dict(p, k=3))
    assert np.allclose(top, [2.0, 1.0, 0.0]) and list(idx) == [2, 1, -1]
    top, idx = forward_row(np.array([1.0, 5.0, 1.0]), np.ones(3, dtype=bool),
                           dict(p, k=3, direction="ascending"))
    assert list(idx) == [0, 2, 1]


def cases():
    rng = np.random.default_rng(20261206)
    out = []
    for reg in ["l2", "kl"]:
        for direction in ["descending", "ascending"]:
            for i in range(14):
                n = [1, 2, 3, 5, 8, 13, 24, 40][i % 8] if i < 13 else 65
                k = [0, 1, n // 2, n, min(n, 3)][i % 5]
                eps = [1e-3, 0.01, 0.1, 0.37, 1.0, 5.0, 50.0][i % 7]
                b = 1 + i % 4
                p = {"k": int(k), "regularization_strength": eps, "regularization": reg,
                     "direction": direction}
                out.append(make_case(rng, n, b, p, masked=i % 3 == 1, ties=i % 7 == 5))
    return out


def main():
    hand_checks()
    doc = {"format": "rank-relax reference vectors v1", "dtype": "float64",
           "doc": "soft_sort_topk: written by testdata/reference/gen/sort_topk.py",
           "cases": cases()}
    mk.write_or_check(OUT, doc)


if __name__ == "__main__":
    main()
