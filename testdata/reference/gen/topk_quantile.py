"""Independent float64 reference for soft_topk and soft_quantile (NumPy; never calls the core).

Writes ``testdata/reference/wave2-topk-quantile.json`` in the format of ``ops-v1.json``
(ALGORITHMS.md, "Reference file format"). Every case's VJP is checked here against central
finite differences of the forward, and soft_topk's forward against a generic convex solver
(scipy.optimize SLSQP on ``max <z, y> - eps * Omega(y)`` over ``{0 <= y <= 1, sum y = k}``) for
small n. Deterministic: fixed seeds, no dependence on the machine.

Run from the repository root (numpy >= 2, scipy):

    python testdata/reference/gen/topk_quantile.py            # writes the file
    python testdata/reference/gen/topk_quantile.py --check    # compares with the file instead

PAV merges blocks on a *strict* violation for soft_topk: tied values where w is flat (both in the
top k, or both outside) stay apart, so their mask (exactly 1 or 0, locally constant) gets a zero
gradient, which central differences confirm; ties across the boundary pool as usual.
"""

import json
import math
import os
import sys

import numpy as np
from scipy.optimize import brentq, minimize

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "wave2-topk-quantile.json")


# ---------------------------------------------------------------- generic PAV on a stack


def pav(n, block_value, strict):
    """Blocks [(a, b, value)] of the non-increasing fit, scanning left to right.

    block_value(a, b) is the value of the pooled block a..b-1; blocks merge while the earlier
    one's value is below the later one's (strict) or not above it (not strict)."""
    blocks = []
    for i in range(n):
        blocks.append([i, i + 1, block_value(i, i + 1)])
        while len(blocks) > 1:
            p, c = blocks[-2], blocks[-1]
            violated = p[2] < c[2] if strict else p[2] <= c[2]
            if not violated:
                break
            blocks.pop()
            blocks[-1] = [p[0], c[1], block_value(p[0], c[1])]
    return blocks


# ---------------------------------------------------------------- soft_topk


def p43_value(s, eps, ones):
    """The real root v of sum (s_i - v)^3 = eps^3 * ones, solved about the block's mean."""
    if len(s) == 1:
        return s[0] - eps * ones  # cbrt(1) = 1, cbrt(0) = 0: exact
    mean = s.mean()
    d = s - mean

    def f(t):
        return np.sum((d - t) ** 3) - eps**3 * ones

    lo = d.min() - eps * (max(ones, 1.0) ** (1.0 / 3.0)) - eps
    hi = d.max()
    if f(hi) == 0.0:
        return mean + hi
    t = brentq(f, lo, hi, xtol=eps * 1e-18, rtol=1e-15, maxiter=500)
    return mean + t


def topk_sorted(s, k, eps, reg):
    """Mask in sorted order and the blocks, for s sorted decreasingly."""
    n = len(s)
    w = np.array([1.0] * k + [0.0] * (n - k))
    if reg == "l2":
        # y = s/eps - w, block value mean(y_B) (in units of 1/eps); mask = s/eps - v.
        def value(a, b):
            return np.mean(s[a:b] / eps - w[a:b])

        blocks = pav(n, value, strict=True)
        y = np.empty(n)
        for a, b, v in blocks:
            if b - a == 1:
                y[a] = w[a]  # s/eps - (s/eps - w): exact
            else:
                y[a:b] = (s[a:b] - s[a:b].mean()) / eps + w[a:b].mean()
    else:
        def value(a, b):
            return p43_value(s[a:b], eps, w[a:b].sum())

        blocks = pav(n, value, strict=True)
        y = np.empty(n)
        for a, b, v in blocks:
            if b - a == 1:
                y[a] = w[a]
            else:
                y[a:b] = ((s[a:b] - v) / eps) ** 3
    return np.clip(y, 0.0, 1.0), blocks


def soft_topk_row(x, k, eps, reg, direction):
    sign = 1.0 if direction == "descending" else -1.0
    z = sign * np.asarray(x, dtype=np.float64)
    order = np.argsort(-z, kind="stable")
    s = z[order]
    y, blocks = topk_sorted(s, k, eps, reg)
    mask = np.empty_like(y)
    mask[order] = y
    return mask, (sign, order, s, blocks, y)


def soft_topk_vjp_row(x, k, eps, reg, direction, u):
    _, (sign, order, s, blocks, y) = soft_topk_row(x, k, eps, reg, direction)
    us = np.asarray(u, dtype=np.float64)[order]
    gs = np.zeros(len(s))
    for a, b, v in blocks:
        if b - a == 1:
            continue
        ub = us[a:b]
        if reg == "l2":
            gs[a:b] = (ub - ub.mean()) / eps
        else:
            e = (s[a:b] - v) / eps
            av = (3.0 / eps) * e**2 * ub
            c = (s[a:b] - v) ** 2
            j = c * av.sum() / c.sum() if c.sum() > 0 else 0.0
            gs[a:b] = av - j
    g = np.empty_like(gs)
    g[order] = sign * gs
    return g


def topk_solver(x, k, eps, reg, direction):
    """The mask from a generic solver: max <z/eps, y> - Omega(y), 0 <= y <= 1, sum y = k."""
    sign = 1.0 if direction == "descending" else -1.0
    z = sign * np.asarray(x, dtype=np.float64) / eps
    n = len(z)
    if reg == "l2":
        def obj(y):
            return -(z @ y) + 0.5 * y @ y

        def jac(y):
            return -z + y
    else:
        def obj(y):
            yp = np.maximum(y, 0.0)
            return -(z @ y) + 0.75 * np.sum(yp ** (4.0 / 3.0))

        def jac(y):
            yp = np.maximum(y, 0.0)
            return -z + np.cbrt(yp)

    y0 = np.full(n, k / n)
    res = minimize(
        obj, y0, jac=jac, method="SLSQP", bounds=[(0.0, 1.0)] * n,
        constraints=[{"type": "eq", "fun": lambda y: y.sum() - k, "jac": lambda y: np.ones(n)}],
        options={"ftol": 1e-15, "maxiter": 1000},
    )
    return res.x


# ---------------------------------------------------------------- soft_sort and soft_quantile


def lse(v):
    m = v.max()
    return m + math.log(np.sum(np.exp(v - m)))


def soft_sort_ascending(x, eps, reg):
    """soft_sort(x; eps, reg, ascending) as ALGORITHMS.md defines it, and what its VJP needs."""
    sign = -1.0
    z = sign * np.asarray(x, dtype=np.float64)
    order = np.argsort(-z, kind="stable")
    s = z[order]
    n = len(s)
    w = np.arange(n, 0, -1, dtype=np.float64) / eps
    if reg == "l2":
        def value(a, b):
            return np.mean(w[a:b] - s[a:b])
    else:
        def value(a, b):
            return lse(w[a:b]) - lse(s[a:b])

    blocks = pav(n, value, strict=False)
    out = np.empty(n)
    for a, b, v in blocks:
        if reg == "l2":
            # w - v = (w - mean w) + mean s, without the large w cancelling.
            out[a:b] = sign * ((w[a:b] - w[a:b].mean()) + s[a:b].mean())
        else:
            # w - v = (w - w_a) - LSE(w_B - w_a) + LSE(s_B): the large w_a cancels exactly.
            wb = w[a:b] - w[a]
            out[a:b] = sign * (wb - lse(wb) + lse(s[a:b]))
    return out, (order, s, blocks)


def soft_sort_vjp(x, eps, reg, u):
    _, (order, s, blocks) = soft_sort_ascending(x, eps, reg)
    gs = np.zeros(len(s))
    for a, b, _ in blocks:
        ub = u[a:b]
        if reg == "l2":
            gs[a:b] = ub.mean()
        else:
            sm = np.exp(s[a:b] - s[a:b].max())
            gs[a:b] = sm / sm.sum() * ub.sum()
    g = np.empty_like(gs)
    g[order] = gs
    return g


def quantile_weights(q, n):
    if n == 1:
        return [(0, 1.0)]
    t = q * (n - 1)
    i = min(int(math.floor(t)), n - 2)
    f = t - i
    return [(i, 1.0 - f), (i + 1, f)]


def soft_quantile_row(x, quantiles, eps, reg):
    S, _ = soft_sort_ascending(x, eps, reg)
    return np.array([sum(c * S[i] for i, c in quantile_weights(q, len(S))) for q in quantiles])


def soft_quantile_vjp_row(x, quantiles, eps, reg, g):
    n = len(x)
    u = np.zeros(n)
    for q, gq in zip(quantiles, g):
        for i, c in quantile_weights(q, n):
            u[i] += c * gq
    return soft_sort_vjp(x, eps, reg, u)


# ---------------------------------------------------------------- checks


def fd_vjp(f, x, u, h):
    """Central differences of <u, f(x)> in each coordinate."""
    g = np.zeros(len(x))
    for j in range(len(x)):
        xp, xm = x.copy(), x.copy()
        xp[j] += h
        xm[j] -= h
        g[j] = (u @ f(xp) - u @ f(xm)) / (2 * h)
    return g


def fd_agrees(g, fd, scale):
    return np.all(np.abs(g - fd) <= 1e-5 * max(scale, 1.0) + 1e-6 * np.abs(g))


# ---------------------------------------------------------------- cases

EPS = [1e-3, 0.01, 0.1, 0.37, 1.0, 5.0, 50.0]
NS = [1, 2, 3, 5, 8, 17, 64, 129]


def rows(rng, b, n, eps, ties):
    # Spread on the scale of eps (and of 1), so every regime has a non-trivial block.
    scale = max(eps, 0.05) * rng.choice([1.0, 3.0, 10.0])
    x = rng.normal(0.0, scale, size=(b, n))
    if ties:
        step = scale / 2.0
        x = np.round(x / step) * step
    return x


def topk_cases(rng, stats):
    cases = []
    for ri, reg in enumerate(["l2", "p43"]):
        for di, direction in enumerate(["descending", "ascending"]):
            for n in NS:
                # k = 0 and k = n once each, every k in between twice.
                inner = sorted({1, n // 2, n - 1, int(rng.integers(1, n + 1))} - {0, n})
                ks = [0, n] + inner * 2
                for ci, eps in enumerate(EPS):
                    if n >= 64 and ci % 2 == 1:
                        continue
                    # Every k of the list in turn, shifted per variant and n.
                    k = ks[(ci + n + 2 * ri + di) % len(ks)]
                    ties = (ci + n) % 3 == 0
                    b = 2 if n >= 64 else 3
                    x = rows(rng, b, n, eps, ties)
                    u = rng.uniform(-1.0, 1.0, size=(b, n))
                    out, vjp, ok = [], [], True
                    for r in range(b):
                        m, _ = soft_topk_row(x[r], k, eps, reg, direction)
                        assert np.all((m >= 0) & (m <= 1)), (reg, n, eps, k)
                        assert abs(m.sum() - k) <= 1e-9 * max(k, 1), (reg, n, eps, k, m.sum())
                        g = soft_topk_vjp_row(x[r], k, eps, reg, direction, u[r])
                        h = 1e-6 * eps
                        fd = fd_vjp(lambda v: soft_topk_row(v, k, eps, reg, direction)[0], x[r], u[r], h)
                        if not fd_agrees(g, fd, np.abs(fd).max(initial=0.0)):
                            assert ties, ("finite differences disagree", reg, direction, n, eps, k)
                            ok = False
                        stats["fd"] += n
                        if n <= 8 and eps >= 0.01:
                            ys = topk_solver(x[r], k, eps, reg, direction)
                            assert np.abs(ys - m).max() <= 2e-5, (reg, n, eps, k, ys, m)
                            stats["solver"] += 1
                        out.append(m)
                        vjp.append(g)
                    case = {
                        "op": "soft_topk",
                        "params": {"k": k, "regularization_strength": eps,
                                   "regularization": reg, "direction": direction},
                        "inputs": {"values": x.tolist()},
                        "output": np.array(out).tolist(),
                    }
                    if ok:
                        case["cotangent"] = u.tolist()
                        case["vjp"] = {"values": np.array(vjp).tolist()}
                    else:
                        stats["kinks"] += 1
                    cases.append(case)
    return cases


QUANTILE_SETS = [[0.5], [0.0, 1.0], [0.0, 0.25, 1.0], [0.1, 0.5, 0.9, 0.99], [0.0, 0.3, 0.5, 0.75, 1.0]]


def quantile_cases(rng, stats):
    cases = []
    for reg in ["l2", "kl"]:
        for n in NS:
            for ci, eps in enumerate(EPS):
                if n >= 64 and ci % 2 == 1:
                    continue
                qs = QUANTILE_SETS[(ci + n) % len(QUANTILE_SETS)]
                ties = (ci + n) % 4 == 0
                b = 2 if n >= 64 else 3
                x = rows(rng, b, n, eps, ties)
                u = rng.uniform(-1.0, 1.0, size=(b, len(qs)))
                out, vjp = [], []
                for r in range(b):
                    out.append(soft_quantile_row(x[r], qs, eps, reg))
                    vjp.append(soft_quantile_vjp_row(x[r], qs, eps, reg, u[r]))
                    if not ties:
                        h = 1e-6 * eps
                        fd = fd_vjp(lambda v: soft_quantile_row(v, qs, eps, reg), x[r], u[r], h)
                        assert fd_agrees(vjp[-1], fd, np.abs(fd).max(initial=0.0)), (reg, n, eps, qs)
                        stats["fd"] += n
                case = {
                    "op": "soft_quantile",
                    "params": {"quantiles": qs, "regularization_strength": eps, "regularization": reg},
                    "inputs": {"values": x.tolist()},
                    "output": np.array(out).tolist(),
                }
                # soft_sort has a kink at ties: no VJP for rows with ties (as in ops-v1.json).
                if not ties:
                    case["cotangent"] = u.tolist()
                    case["vjp"] = {"values": np.array(vjp).tolist()}
                cases.append(case)
    return cases


def hand_checks():
    # Hard top-k as eps -> 0, tied values sharing; k = 0 and k = n.
    m, _ = soft_topk_row(np.array([3.0, 1.0, 2.0, 2.0]), 2, 1e-9, "l2", "descending")
    assert np.allclose(m, [1.0, 0.0, 0.5, 0.5])
    m, _ = soft_topk_row(np.array([3.0, 1.0, 2.0, 2.0]), 2, 1e-9, "p43", "ascending")
    assert np.allclose(m, [0.0, 1.0, 0.5, 0.5])
    for reg in ["l2", "p43"]:
        x = np.array([0.3, -1.0, 2.0])
        assert np.all(soft_topk_row(x, 0, 1.0, reg, "descending")[0] == 0.0)
        assert np.all(soft_topk_row(x, 3, 1.0, reg, "descending")[0] == 1.0)
    # Hard quantiles (numpy's "linear") as eps -> 0.
    x = np.array([0.5, -2.0, 3.0, 1.0, 0.0])
    qs = [0.0, 0.3, 0.5, 0.9, 1.0]
    for reg in ["l2", "kl"]:
        assert np.allclose(soft_quantile_row(x, qs, 1e-6, reg), np.quantile(x, qs), atol=1e-9)


def main():
    hand_checks()
    rng = np.random.default_rng(20260613)
    stats = {"fd": 0, "solver": 0, "kinks": 0}
    cases = topk_cases(rng, stats) + quantile_cases(rng, stats)
    doc = {"format": "rank-relax reference vectors v1", "dtype": "float64", "cases": cases}
    text = json.dumps(doc, separators=(",", ":"))
    counts = {}
    for c in cases:
        counts[c["op"]] = counts.get(c["op"], 0) + 1
    vjps = sum("vjp" in c for c in cases)
    print(f"{len(cases)} cases {counts}, {vjps} with a VJP; finite differences on {stats['fd']} "
          f"coordinates, solver on {stats['solver']} rows, {stats['kinks']} tie cases without VJP; "
          f"{len(text)} bytes", file=sys.stderr)
    if "--check" in sys.argv:
        with open(OUT) as f:
            same = f.read() == text
        print("the file is up to date" if same else "the file differs", file=sys.stderr)
        sys.exit(0 if same else 1)
    with open(OUT, "w") as f:
        f.write(text)


if __name__ == "__main__":
    main()
