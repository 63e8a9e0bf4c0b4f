"""Independent float64 reference for soft_rank_grouped (NumPy; never calls the core).

Writes ``testdata/reference/soft-rank-grouped.json``. Per row, each group (the items with one id
in ``inputs.groups``, an ``[B][n]`` list of integers) is ranked by ``masks.py``'s soft_rank of the
group's values alone (itself checked against ``ops-v1.json``), and its VJP is soft_rank's VJP of
the group at the group's cotangents; ``grad_regularization_strength`` is ``−⟨vjp, values⟩/ε`` per
row (the ranks depend on ``values/ε`` only). A masked row (``inputs.mask``) drops its absent items
from every group before ranking (``ALGORITHMS.md``, "Masks"): absent positions get rank 0 and
gradient 0, and hold junk values and group ids that would change the answer if read.

Group ids are arbitrary int32 values (negative, large, unsorted, interleaved); rows include one
group (soft_rank of the row), singleton groups (rank 1, gradient 0) and ties inside a group.
Before writing, every VJP and ε-gradient is checked against central finite differences of the
forward, and a row of one group against soft_rank of the row.

    python testdata/reference/gen/rank_grouped.py            # checks, then writes the file (~1 s)
    python testdata/reference/gen/rank_grouped.py --check    # checks; exit 1 if the file is stale

Deterministic: fixed seed; the same NumPy gives the same bytes.
"""

import json
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import masks as mk  # noqa: E402

OUT = os.path.join(HERE, "..", "soft-rank-grouped.json")
OP = "soft_rank_grouped"


def forward_row(x, groups, present, eps, reg, direction):
    """Ranks of one row: soft_rank of each group's present items; 0 at absent positions."""
    ranks = np.zeros(len(x))
    for g in np.unique(groups[present]):
        idx = np.flatnonzero(present & (groups == g))
        ranks[idx] = mk.soft_rank_row(x[idx], eps, reg, direction)[0]
    return ranks


def vjp_row(x, groups, present, eps, reg, direction, u):
    grad = np.zeros(len(x))
    for g in np.unique(groups[present]):
        idx = np.flatnonzero(present & (groups == g))
        grad[idx] = mk.soft_rank_vjp_row(x[idx], eps, reg, direction, u[idx])
    return grad


def grad_eps_row(x, present, eps, grad):
    """∂⟨u, ranks⟩/∂ε = −⟨grad, x⟩/ε, over the present items."""
    return -float(np.dot(grad[present], x[present])) / eps


def fd_check(x, groups, present, eps, reg, direction, u, grad, ge):
    """Central differences of ⟨u, ranks⟩ in each present value and in ε."""
    def f(xv, e):
        return float(np.dot(u, forward_row(xv, groups, present, e, reg, direction)))

    scale = max(1.0, float(np.abs(grad).max(initial=0.0)))
    for j in np.flatnonzero(present):
        h = 1e-6 * eps
        xp, xm = x.copy(), x.copy()
        xp[j] += h
        xm[j] -= h
        fd = (f(xp, eps) - f(xm, eps)) / (2 * h)
        assert abs(fd - grad[j]) <= 1e-5 * scale, (j, fd, grad[j])
    h = 1e-6 * eps
    fd = (f(x, eps + h) - f(x, eps - h)) / (2 * h)
    assert abs(fd - ge) <= 1e-5 * max(1.0, abs(ge), scale * np.abs(x).max(initial=0.0) / eps), (fd, ge)


def group_row(rng, n, kind):
    if kind == "one":
        return np.full(n, int(rng.integers(-5, 6)))
    if kind == "singletons":
        return rng.permutation(n) * 7 - 3
    if kind == "sorted":
        cuts = np.sort(rng.integers(0, n + 1, size=2))
        return np.searchsorted(cuts, np.arange(n), side="right").astype(np.int64)
    # Interleaved ids, some negative or far apart.
    ids = np.array([-2147483648, -7, 0, 3, 2147483647, 1000])[: int(rng.integers(2, 7))]
    return rng.choice(ids, size=n)


def make_case(rng, n, b, eps, reg, direction, masked, ties):
    kinds = ["one", "singletons", "sorted", "mixed"]
    x = np.round(rng.normal(0, 2, size=(b, n)), 3) if ties else rng.normal(0, 2, size=(b, n))
    groups = np.stack([group_row(rng, n, kinds[(i + n) % 4]) for i in range(b)])
    present = np.ones((b, n), dtype=bool)
    if masked:
        present = rng.random((b, n)) < 0.7
        if b > 1:
            present[1] = True
    if ties and n >= 3:
        for i in range(b):
            g = groups[i]
            same = [j for j in range(1, n) if g[j] == g[0]]
            if same:
                x[i, same[0]] = x[i, 0]
    u = rng.normal(0, 1, size=(b, n))
    out = np.zeros((b, n))
    vjp = np.zeros((b, n))
    ge = np.zeros(b)
    for i in range(b):
        out[i] = forward_row(x[i], groups[i], present[i], eps, reg, direction)
        vjp[i] = vjp_row(x[i], groups[i], present[i], eps, reg, direction, u[i])
        ge[i] = grad_eps_row(x[i], present[i], eps, vjp[i])
        if not ties:
            fd_check(x[i], groups[i], present[i], eps, reg, direction, u[i], vjp[i], ge[i])
    # Junk at absent positions: values and ids that would move the answer if read.
    x_out = np.where(present, x, 1e3)
    g_out = np.where(present, groups, groups[:, ::-1] if n else groups)
    u = np.where(present, u, 0.0)
    case = {
        "op": OP,
        "params": {"regularization_strength": eps, "regularization": reg, "direction": direction},
        "inputs": {"values": x_out.tolist(), "groups": g_out.astype(int).tolist()},
        "outputs": {"ranks": out.tolist()},
        "cotangents": {"ranks": u.tolist()},
        "vjp": {"values": vjp.tolist()},
        "grad_regularization_strength": ge.tolist(),
    }
    if masked:
        case["inputs"]["mask"] = present.tolist()
    return case


def cases():
    rng = np.random.default_rng(20261207)
    out = []
    for reg in ("l2", "kl"):
        for direction in ("ascending", "descending"):
            for n in (1, 2, 5, 9, 33):
                for eps in (0.05, 1.0):
                    for masked in (False, True):
                        b = 1 if n == 1 else 3
                        out.append(make_case(rng, n, b, eps, reg, direction, masked, ties=False))
            out.append(make_case(rng, 6, 2, 0.5, reg, direction, False, ties=True))
    return out


def hand_checks():
    """One group is soft_rank of the row; singletons rank 1; ids only group (their order is free)."""
    rng = np.random.default_rng(1)
    x = rng.normal(size=7)
    allp = np.ones(7, dtype=bool)
    for reg in ("l2", "kl"):
        one = forward_row(x, np.zeros(7, dtype=int), allp, 0.3, reg, "ascending")
        assert np.allclose(one, mk.soft_rank_row(x, 0.3, reg, "ascending")[0], rtol=0, atol=0)
        single = forward_row(x, np.arange(7), allp, 0.3, reg, "descending")
        assert np.all(single == 1.0)
    g = np.array([5, -1, 5, 9, -1, 5, 9])
    a = forward_row(x, g, allp, 0.2, "l2", "ascending")
    b = forward_row(x, np.array([0, 1, 0, 2, 1, 0, 2]), allp, 0.2, "l2", "ascending")
    assert np.array_equal(a, b)


def main():
    hand_checks()
    doc = {"format": "rank-relax reference vectors v1", "dtype": "float64",
           "doc": "soft_rank_grouped: written by testdata/reference/gen/rank_grouped.py",
           "cases": cases()}
    mk.write_or_check(OUT, doc)


if __name__ == "__main__":
    main()
