"""Independent float64 reference for masked rows, every op (NumPy; never calls the core).

Writes ``testdata/reference/masks.json`` in the format of the wave2 files: ``inputs.mask`` is a
``[B][n]`` list of JSON booleans, and every case with a VJP holds ``grad_regularization_strength``
(``[B]``). A masked row is computed as ALGORITHMS.md's section "Masks" says: compact the row to
its present items, compute, scatter back (absent positions 0; soft_sort and neural_sort_apply
put the n_valid values first; neural_sort's P has rows < n_valid, columns at the present items).
Absent positions of every input and cotangent hold junk that would change the answer if read.

soft_topk, soft_quantile (and the ascending soft_sort under them) come from ``topk_quantile.py``,
neural_sort and neural_sort_apply (with their τ-gradients) from ``neural_sort.py``; soft_rank,
soft_sort in both directions, sigmoid_rank, spearman_loss, ndcg_loss and the other ε-gradients
are written here. Before writing, the script checks them against every case of ``ops-v1.json``
(no mask), checks every VJP and ε-gradient it writes against central finite differences of its
own forward, and checks that a row's output and gradients do not change when the junk at its
absent positions does. At ties among the present items soft_sort (and soft_quantile) has a kink:
such cases get no VJP, as in ``ops-v1.json``; neural_sort's tied rows keep the formula's
subgradient (sgn(0) = 0) unchecked, as in ``wave2-neural-sort.json``; a tied row of another op
whose differences disagree would drop its case's VJP (none does).

    python testdata/reference/gen/masks.py            # checks, then writes masks.json (~5 s)
    python testdata/reference/gen/masks.py --check    # checks; exit 1 if the file is stale

Deterministic: fixed seeds; the same NumPy gives the same bytes.
"""

import json
import math
import os
import sys

import numpy as np
from scipy.special import expit

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import neural_sort as ns  # noqa: E402
import topk_quantile as tq  # noqa: E402

OUT = os.path.join(HERE, "..", "masks.json")
OPS_V1 = os.path.join(HERE, "..", "ops-v1.json")


def sign_rank(direction):
    return 1.0 if direction == "ascending" else -1.0


def lse(v):
    return tq.lse(np.asarray(v, dtype=np.float64))


def softmax(v):
    e = np.exp(v - v.max())
    return e / e.sum()


# ---------------------------------------------------------------- soft_rank


def soft_rank_row(x, eps, reg, direction):
    """Ranks, and what the VJP needs, of one row (ALGORITHMS.md, "soft_rank")."""
    sign = sign_rank(direction)
    theta = sign * np.asarray(x, dtype=np.float64) / eps
    order = np.argsort(-theta, kind="stable")
    s = theta[order]
    n = len(s)
    w = np.arange(n, 0, -1, dtype=np.float64)
    if reg == "l2":
        blocks = tq.pav(n, lambda a, b: np.mean(s[a:b] - w[a:b]), strict=False)
    else:
        logw = np.log(w)
        blocks = tq.pav(n, lambda a, b: lse(s[a:b]) - lse(logw[a:b]), strict=False)
    p = np.empty(n)
    for a, b, _ in blocks:
        if reg == "l2":
            # s - v = (s - mean s_B) + mean w_B: no cancellation of the large s / eps.
            p[a:b] = (s[a:b] - s[a:b].mean()) + w[a:b].mean()
        else:
            # exp(s - v) = softmax(s_B) * sum(w_B).
            p[a:b] = softmax(s[a:b]) * w[a:b].sum()
    ranks = np.empty(n)
    ranks[order] = p
    return ranks, (sign, order, s, blocks)


def soft_rank_vjp_row(x, eps, reg, direction, u):
    ranks, (sign, order, s, blocks) = soft_rank_row(x, eps, reg, direction)
    u = np.asarray(u, dtype=np.float64)
    a = u if reg == "l2" else u * ranks
    a_s = a[order]
    m = np.empty(len(s))
    for lo, hi, _ in blocks:
        if reg == "l2":
            m[lo:hi] = a_s[lo:hi].mean()
        else:
            m[lo:hi] = softmax(s[lo:hi]) * a_s[lo:hi].sum()
    g = np.empty(len(s))
    g[order] = sign / eps * (a_s - m)
    return g


# ---------------------------------------------------------------- soft_sort


def soft_sort_row(x, eps, reg, direction):
    """soft_sort: descending(x) = -ascending(-x) (the same z, sorted values and blocks)."""
    x = np.asarray(x, dtype=np.float64)
    if direction == "ascending":
        return tq.soft_sort_ascending(x, eps, reg)[0]
    return -tq.soft_sort_ascending(-x, eps, reg)[0]


def soft_sort_vjp_row(x, eps, reg, direction, u):
    """(grad values, grad ε) of <u, soft_sort(x)>."""
    x = np.asarray(x, dtype=np.float64)
    u = np.asarray(u, dtype=np.float64)
    xa = x if direction == "ascending" else -x
    g = tq.soft_sort_vjp(xa, eps, reg, u)
    # ε enters only through w = (n, ..., 1)/ε: d out = sign (dw - M(dw)) on each block, with
    # M the block mean (l2) or the softmax(w_B)-weighted sum (kl), dw = -(n, ..., 1)/ε².
    _, (_, _, blocks) = tq.soft_sort_ascending(xa, eps, reg)
    n = len(x)
    rho = np.arange(n, 0, -1, dtype=np.float64)
    dw = -rho / eps**2
    d = np.empty(n)
    for a, b, _ in blocks:
        if reg == "l2":
            d[a:b] = dw[a:b] - dw[a:b].mean()
        else:
            d[a:b] = dw[a:b] - softmax(rho[a:b] / eps) @ dw[a:b]
    sign = -1.0 if direction == "ascending" else 1.0
    return g, sign * (u @ d)


def soft_quantile_grad_eps(x, quantiles, eps, reg, gq):
    n = len(x)
    u = np.zeros(n)
    for q, gv in zip(quantiles, gq, strict=True):
        for i, c in tq.quantile_weights(q, n):
            u[i] += c * gv
    return soft_sort_vjp_row(x, eps, reg, "ascending", u)[1]


# ---------------------------------------------------------------- sigmoid_rank


def sigmoid_rank_row(x, eps, direction):
    x = np.asarray(x, dtype=np.float64)
    d = sign_rank(direction) * (x[:, None] - x[None, :]) / eps
    s = expit(d)
    np.fill_diagonal(s, 0.0)
    return 1.0 + s.sum(axis=1)


def sigmoid_rank_vjp_row(x, eps, direction, u):
    x = np.asarray(x, dtype=np.float64)
    u = np.asarray(u, dtype=np.float64)
    sign = sign_rank(direction)
    d = sign * (x[:, None] - x[None, :]) / eps
    sp = expit(d) * expit(-d)  # sigmoid', accurate in the tails
    np.fill_diagonal(sp, 0.0)
    return sign / eps * (sp * (u[:, None] - u[None, :])).sum(axis=1)


# ---------------------------------------------------------------- spearman_loss, ndcg_loss


def spearman_parts(p, t, eps, reg):
    a, _ = soft_rank_row(p, eps, reg, "ascending")
    b, _ = soft_rank_row(t, eps, reg, "ascending")
    ac, bc = a - a.mean(), b - b.mean()
    na, nb = np.linalg.norm(ac), np.linalg.norm(bc)
    return ac, bc, na, nb


def spearman_row(p, t, eps, reg):
    ac, bc, na, nb = spearman_parts(p, t, eps, reg)
    if na * nb == 0.0:
        return 1.0
    return 1.0 - (ac @ bc) / (na * nb)


def spearman_vjp_row(p, t, eps, reg, g):
    ac, bc, na, nb = spearman_parts(p, t, eps, reg)
    if na * nb == 0.0:
        return np.zeros(len(p)), np.zeros(len(t))
    c = (ac @ bc) / (na * nb)
    da = bc / (na * nb) - c * ac / na**2
    db = ac / (na * nb) - c * bc / nb**2
    return (soft_rank_vjp_row(p, eps, reg, "ascending", -g * da),
            soft_rank_vjp_row(t, eps, reg, "ascending", -g * db))


def gains(rel):
    return np.expm1(np.asarray(rel, dtype=np.float64) * math.log(2.0))


def idcg(rel):
    g = np.sort(gains(rel))[::-1]
    return float(np.sum(g / np.log2(np.arange(2, len(g) + 2, dtype=np.float64))))


def ndcg_row(scores, rel, eps, reg):
    ideal = idcg(rel)
    if ideal == 0.0:
        return 0.0
    r, _ = soft_rank_row(scores, eps, reg, "descending")
    return 1.0 - float(np.sum(gains(rel) / np.log2(1.0 + r))) / ideal


def ndcg_vjp_row(scores, rel, eps, reg, g):
    ideal = idcg(rel)
    if ideal == 0.0:
        return np.zeros(len(scores))
    r, _ = soft_rank_row(scores, eps, reg, "descending")
    h = g * gains(rel) / (ideal * math.log(2.0) * (1.0 + r) * np.log2(1.0 + r) ** 2)
    return soft_rank_vjp_row(scores, eps, reg, "descending", h)


# ---------------------------------------------------------------- ops on compacted rows
#
# Each op: its differentiable inputs, its other inputs, how its output is laid out
# ("items": at the item positions; "rows": the n_valid values first; "loss": one number;
# "quantiles": m numbers; "matrix": [n, n]), the forward of a compacted row and its VJP
# (gradients of the differentiable inputs and the ε-gradient).


def topk_forward(c, p):
    k = min(p["k"], len(c["values"]))
    return tq.soft_topk_row(c["values"], k, p["regularization_strength"], p["regularization"],
                            p["direction"])[0]


def topk_vjp(c, p, u):
    x = c["values"]
    eps = p["regularization_strength"]
    k = min(p["k"], len(x))
    g = tq.soft_topk_vjp_row(x, k, eps, p["regularization"], p["direction"], u)
    return {"values": g}, -(g @ x) / eps


def quantile_forward(c, p):
    return tq.soft_quantile_row(c["values"], p["quantiles"], p["regularization_strength"],
                                p["regularization"])


def quantile_vjp(c, p, u):
    x, eps, reg, qs = c["values"], p["regularization_strength"], p["regularization"], p["quantiles"]
    g = tq.soft_quantile_vjp_row(x, qs, eps, reg, u)
    return {"values": g}, soft_quantile_grad_eps(x, qs, eps, reg, u)


def rank_vjp(fn):
    def vjp(c, p, u):
        g = fn(c, p, u)
        return {"values": g}, -(g @ c["values"]) / p["regularization_strength"]
    return vjp


def soft_sort_vjp(c, p, u):
    g, ge = soft_sort_vjp_row(c["values"], p["regularization_strength"], p["regularization"],
                              p["direction"], u)
    return {"values": g}, ge


def spearman_vjp(c, p, u):
    gp, gt = spearman_vjp_row(c["predictions"], c["targets"], p["regularization_strength"],
                              p["regularization"], u)
    eps = p["regularization_strength"]
    return ({"predictions": gp, "targets": gt},
            -(gp @ c["predictions"] + gt @ c["targets"]) / eps)


def ndcg_vjp(c, p, u):
    eps = p["regularization_strength"]
    g = ndcg_vjp_row(c["scores"], c["relevance"], eps, p["regularization"], u)
    return {"scores": g}, -(g @ c["scores"]) / eps


def nsort_vjp(c, p, u):
    g, ge = ns.neural_sort_vjp_row(c["values"], p["regularization_strength"], p["direction"], u)
    return {"values": g}, ge


def napply_vjp(c, p, u):
    gx, gy, ge = ns.apply_vjp_row(c["values"], c["payload"], p["regularization_strength"],
                                  p["direction"], u)
    return {"values": gx, "payload": gy}, ge


OPS = {
    "soft_rank": dict(
        diff=["values"], other=[], layout="items",
        forward=lambda c, p: soft_rank_row(c["values"], p["regularization_strength"],
                                           p["regularization"], p["direction"])[0],
        vjp=rank_vjp(lambda c, p, u: soft_rank_vjp_row(
            c["values"], p["regularization_strength"], p["regularization"], p["direction"], u))),
    "soft_sort": dict(
        diff=["values"], other=[], layout="rows",
        forward=lambda c, p: soft_sort_row(c["values"], p["regularization_strength"],
                                           p["regularization"], p["direction"]),
        vjp=soft_sort_vjp),
    "sigmoid_rank": dict(
        diff=["values"], other=[], layout="items",
        forward=lambda c, p: sigmoid_rank_row(c["values"], p["regularization_strength"],
                                              p["direction"]),
        vjp=rank_vjp(lambda c, p, u: sigmoid_rank_vjp_row(
            c["values"], p["regularization_strength"], p["direction"], u))),
    "spearman_loss": dict(
        diff=["predictions", "targets"], other=[], layout="loss",
        forward=lambda c, p: spearman_row(c["predictions"], c["targets"],
                                          p["regularization_strength"], p["regularization"]),
        vjp=spearman_vjp),
    "ndcg_loss": dict(
        diff=["scores"], other=["relevance"], layout="loss",
        forward=lambda c, p: ndcg_row(c["scores"], c["relevance"], p["regularization_strength"],
                                      p["regularization"]),
        vjp=ndcg_vjp),
    "soft_topk": dict(diff=["values"], other=[], layout="items", forward=topk_forward,
                      vjp=topk_vjp),
    "soft_quantile": dict(diff=["values"], other=[], layout="quantiles",
                          forward=quantile_forward, vjp=quantile_vjp),
    "neural_sort": dict(
        diff=["values"], other=[], layout="matrix",
        forward=lambda c, p: ns.neural_sort_row(c["values"], p["regularization_strength"],
                                                p["direction"]),
        vjp=nsort_vjp),
    "neural_sort_apply": dict(
        diff=["values", "payload"], other=[], layout="rows",
        forward=lambda c, p: ns.apply_row(c["values"], c["payload"],
                                          p["regularization_strength"], p["direction"]),
        vjp=napply_vjp),
}


def degenerate(op, nv):
    """Rows the contract answers with zeros (output, gradients and ε-gradient)."""
    return nv == 0 or (op == "spearman_loss" and nv < 2)


# ---------------------------------------------------------------- masked rows


def compact(op, inputs, mask):
    idx = np.flatnonzero(mask)
    return idx, {name: np.asarray(inputs[name], dtype=np.float64)[idx]
                 for name in OPS[op]["diff"] + OPS[op]["other"]}


def gather_cotangent(layout, u, idx):
    nv = len(idx)
    if layout == "items":
        return u[idx]
    if layout == "rows":
        return u[:nv]
    if layout == "matrix":
        return u[:nv][:, idx]
    return u  # loss, quantiles


def output_shape(layout, n, params):
    m = len(params.get("quantiles", []))
    return {"items": (n,), "rows": (n,), "loss": (), "quantiles": (m,), "matrix": (n, n)}[layout]


def masked_forward(op, params, inputs, mask):
    """One row: compact, compute, scatter back."""
    spec = OPS[op]
    n = len(mask)
    out = np.zeros(output_shape(spec["layout"], n, params))
    idx, c = compact(op, inputs, mask)
    nv = len(idx)
    if degenerate(op, nv):
        return out if out.shape else 0.0
    y = spec["forward"](c, params)
    layout = spec["layout"]
    if layout == "items":
        out[idx] = y
    elif layout == "rows":
        out[:nv] = y
    elif layout == "matrix":
        out[np.ix_(np.arange(nv), idx)] = y
    elif layout == "quantiles":
        out[:] = y
    else:
        return float(y)
    return out


def masked_vjp(op, params, inputs, mask, u):
    spec = OPS[op]
    n = len(mask)
    grads = {name: np.zeros(n) for name in spec["diff"]}
    idx, c = compact(op, inputs, mask)
    if degenerate(op, len(idx)):
        return grads, 0.0
    gc, ge = spec["vjp"](c, params, gather_cotangent(spec["layout"], np.asarray(u), idx))
    for name in spec["diff"]:
        grads[name][idx] = gc[name]
    return grads, float(ge)


# ---------------------------------------------------------------- checks


def fd_scale(op, params):
    """The input scale on which the op changes, for the finite-difference step."""
    eps = params["regularization_strength"]
    if op in ("soft_sort", "soft_quantile"):
        return min(eps, 1.0 / eps)  # w = (n, ..., 1)/ε against the values
    return eps


def fd_check_row(op, params, c, u, stats):
    """Central differences of <u, f> against the VJP, per coordinate (or along random directions
    on long rows), for every differentiable input and ε. Returns False where they disagree."""
    spec = OPS[op]
    grads, ge = spec["vjp"](c, params, u)

    def phi(cc, pp):
        return float(np.sum(np.asarray(spec["forward"](cc, pp)) * u))

    h = 1e-6 * fd_scale(op, params)
    ok = True
    rng = np.random.default_rng(len(u) if np.ndim(u) else 1)
    for name in spec["diff"]:
        x = c[name]
        g = grads[name]
        # A step below the rounding of large values would measure only their rounding.
        hh = max(1e-6 if name == "payload" else h, 1e-8 * np.abs(x).max(initial=0.0))
        dirs = np.eye(len(x)) if len(x) <= 24 else rng.normal(size=(6, len(x)))
        got, want = [], []
        for d in dirs:
            cp, cm = dict(c), dict(c)
            cp[name] = x + hh * d
            cm[name] = x - hh * d
            want.append((phi(cp, params) - phi(cm, params)) / (2 * hh))
            got.append(g @ d)
        got, want = np.array(got), np.array(want)
        scale = max(np.abs(want).max(initial=0.0), np.abs(got).max(initial=0.0), 1.0)
        if not np.all(np.abs(got - want) <= 1e-5 * scale):
            ok = False
        stats["fd"] += len(dirs)
    eps = params["regularization_strength"]
    pp, pm = dict(params), dict(params)
    pp["regularization_strength"] = eps * (1 + 1e-6)
    pm["regularization_strength"] = eps * (1 - 1e-6)
    want = (phi(c, pp) - phi(c, pm)) / (2e-6 * eps)
    # The rounding of <u, f> divided by the step, beside the relative tolerance.
    size = np.sum(np.abs(np.asarray(spec["forward"](c, params)) * u)) + 1.0
    noise = 1e-14 * size / (2e-6 * eps)
    if not abs(ge - want) <= 1e-5 * max(abs(want), abs(ge)) + noise:
        ok = False
    stats["fd_eps"] += 1
    return ok


def close(got, want, atol, rtol):
    got, want = np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64)
    return got.shape == want.shape and np.all(np.abs(got - want) <= atol + rtol * np.abs(want))


def check_ops_v1(stats):
    """Every case of ops-v1.json (no mask) through this file's implementations."""
    with open(OPS_V1) as f:
        doc = json.load(f)
    for i, case in enumerate(doc["cases"]):
        op, params, inputs = case["op"], case["params"], case["inputs"]
        params = dict({"regularization": "l2", "direction": "ascending"}, **params)
        names = list(inputs)
        b = len(inputs[names[0]])
        n = len(inputs[names[0]][0])
        for r in range(b):
            row = {k: np.array(v[r]) for k, v in inputs.items()}
            mask = np.ones(n, dtype=bool)
            out = masked_forward(op, params, row, mask)
            assert close(out, case["output"][r], 1e-9, 1e-9), (i, op, r, out, case["output"][r])
            if "vjp" in case:
                grads, _ = masked_vjp(op, params, row, mask, np.array(case["cotangent"][r]))
                for name, want in case["vjp"].items():
                    assert close(grads[name], want[r], 1e-7, 1e-9), (i, op, r, name)
        stats["ops_v1"] += 1


def hand_checks():
    # Hard ranks and sorts as ε -> 0, ties sharing their mean rank.
    x = np.array([3.0, 1.0, 2.0, 2.0])
    for reg in ("l2", "kl"):
        assert np.allclose(soft_rank_row(x, 1e-6, reg, "ascending")[0], [4, 1, 2.5, 2.5])
        assert np.allclose(soft_rank_row(x, 1e-6, reg, "descending")[0], [1, 4, 2.5, 2.5])
        assert np.allclose(soft_sort_row(x, 1e-6, reg, "descending"), [3, 2, 2, 1])
    assert np.allclose(sigmoid_rank_row(x, 1e-6, "ascending"), [4, 1, 2.5, 2.5])
    # l2 ranks sum to n(n+1)/2.
    r = soft_rank_row(np.array([0.3, -0.2, 0.1, 0.9, 0.0]), 0.4, "l2", "ascending")[0]
    assert abs(r.sum() - 15.0) < 1e-12
    # Masked rows: the contract's special cases.
    mask = np.array([True, False, True, False])
    y = masked_forward("soft_sort", {"regularization_strength": 1e-6, "regularization": "l2",
                                     "direction": "ascending"}, {"values": x}, mask)
    assert np.allclose(y, [2, 3, 0, 0])
    p = masked_forward("neural_sort", {"regularization_strength": 1e-6, "direction": "ascending"},
                       {"values": x}, mask)
    assert np.allclose(p, [[0, 0, 1, 0], [1, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]])
    t = masked_forward("soft_topk", {"k": 3, "regularization_strength": 1.0, "regularization": "l2",
                                     "direction": "descending"}, {"values": x}, mask)
    assert np.array_equal(t, [1, 0, 1, 0])


# ---------------------------------------------------------------- cases

EPS = [1e-3, 0.01, 0.1, 0.37, 1.0, 5.0, 50.0]
KINDS = ["random", "all", "random", "empty", "prefix", "random", "one"]


def make_mask(rng, n, kind):
    m = np.zeros(n, dtype=bool)
    if kind == "all":
        m[:] = True
    elif kind == "one":
        m[rng.integers(n)] = True
    elif kind == "prefix":
        m[: int(rng.integers(1, n + 1))] = True
    elif kind == "random":
        m = rng.random(n) < rng.uniform(0.25, 0.9)
    return m


def row_kinds(rng, b, n, shift):
    kinds = [KINDS[(shift + i) % len(KINDS)] for i in range(b)]
    if b >= 4:
        # Every batch of four rows or more mixes an empty, a one-item, a full and a random row.
        kinds[:4] = ["empty", "one", "all", "random"]
    rng.shuffle(kinds)
    return kinds


def junk_like(rng, present, size, lo=None):
    """Finite junk for absent positions: large magnitudes and values among the present ones
    (which would move the answer if read)."""
    pool = [1e6, -1e6, 3.5e5, -7.25e5, 0.0]
    out = []
    for _ in range(size):
        if len(present) and rng.random() < 0.5:
            v = float(rng.choice(present)) if rng.random() < 0.5 else float(
                rng.uniform(present.min(), present.max()))
        else:
            v = float(rng.choice(pool))
        out.append(v if lo is None else max(v, lo))
    return np.array(out)


def value_row(rng, op, n, eps, ties):
    if op in ("soft_sort", "soft_quantile") and rng.random() < 0.5:
        scale = rng.choice([0.3, 1.0, 3.0]) / eps  # gaps on soft_sort's own scale 1/ε
    elif op in ("neural_sort", "neural_sort_apply") and rng.random() < 0.5:
        scale = 1.0
    else:
        scale = max(eps, 0.05) * rng.choice([0.3, 1.0, 3.0, 10.0])
    x = rng.normal(0.0, scale, n)
    if ties:
        step = scale / 2.0
        x = np.round(x / step) * step
    return x


def force_tie(rng, x, mask):
    idx = np.flatnonzero(mask)
    if len(idx) >= 2:
        i, j = rng.choice(idx, size=2, replace=False)
        x[j] = x[i]


def has_tie(x):
    return len(np.unique(x)) < len(x)


def make_case(rng, op, params, n, b, ties, stats, shift=0):
    spec = OPS[op]
    kinds = row_kinds(rng, b, n, shift)
    masks = np.array([make_mask(rng, n, k) for k in kinds], dtype=bool).reshape(b, n)
    eps = params["regularization_strength"]
    inputs = {}
    for name in spec["diff"] + spec["other"]:
        rows = []
        for r in range(b):
            if name == "relevance":
                x = rng.integers(0, 4, n).astype(np.float64)
                if rng.random() < 0.3:
                    x = np.round(rng.uniform(0.0, 3.0, n), 2)
                if kinds[r] == "all" and rng.random() < 0.2:
                    x[:] = 0.0
                elif rng.random() < 0.15:
                    x[masks[r]] = 0.0  # IDCG = 0 over the present items
            elif name == "payload":
                x = rng.uniform(-1.0, 3.0, n)
                if ties:
                    x = np.round(x)
            else:
                x = value_row(rng, op, n, eps, ties)
                if ties:
                    force_tie(rng, x, masks[r])
                if op == "spearman_loss" and masks[r].sum() >= 2 and np.ptp(x[masks[r]]) == 0.0:
                    # Equal present values: centred ranks of rounding size, not a test.
                    x = value_row(rng, op, n, eps, False)
            absent = ~masks[r]
            if name == "relevance":
                # Negative (an error if read) or large grades.
                x[absent] = rng.choice([-1.0, -1e6, 30.0, 3.0], size=absent.sum())
            else:
                x[absent] = junk_like(rng, x[masks[r]], absent.sum())
            rows.append(x)
        inputs[name] = np.array(rows).reshape(b, n)

    layout = spec["layout"]
    out, cot, grads, geps = [], [], {k: [] for k in spec["diff"]}, []
    vjp_ok = True
    for r in range(b):
        row = {k: v[r] for k, v in inputs.items()}
        mask = masks[r]
        y = masked_forward(op, params, row, mask)
        out.append(y)
        nv = int(mask.sum())
        # Cotangent: uniform, with junk where the contract says it is ignored.
        shape = np.shape(y)
        u = rng.uniform(-1.0, 1.0, shape) if shape else float(rng.uniform(-1.0, 1.0))
        if layout == "items":
            u[~mask] = rng.choice([1e6, -1e6, 5.0, -3.0], size=(~mask).sum())
        elif layout == "rows":
            u[nv:] = rng.choice([1e6, -1e6, 5.0, -3.0], size=n - nv)
        elif layout == "matrix":
            junk = rng.choice([1e6, -1e6, 5.0, -3.0], size=(n, n))
            keep = np.zeros((n, n), dtype=bool)
            keep[np.ix_(np.arange(nv), np.flatnonzero(mask))] = True
            u = np.where(keep, u, junk)
        cot.append(u)
        g, ge = masked_vjp(op, params, row, mask, u)
        for k in spec["diff"]:
            grads[k].append(g[k])
        geps.append(ge)

        # The masked row is the compacted call, and its junk is never read.
        idx, c = compact(op, row, mask)
        other = {k: v.copy() for k, v in row.items()}
        for k in other:
            other[k][~mask] = -other[k][~mask] * 3.0 + 11.0
        other_u = np.array(u, dtype=np.float64, copy=True)
        if layout == "items":
            other_u[~mask] = 7.0
        elif layout == "rows":
            other_u[nv:] = 7.0
        y2 = masked_forward(op, params, other, mask)
        g2, ge2 = masked_vjp(op, params, other, mask, other_u)
        assert np.array_equal(y, y2) and ge == ge2, (op, "junk was read")
        assert all(np.array_equal(g[k], g2[k]) for k in g), (op, "junk was read")
        stats["rows"] += 1
        stats["kinds"][kinds[r]] = stats["kinds"].get(kinds[r], 0) + 1

        if degenerate(op, nv):
            assert np.all(np.asarray(y) == 0.0) and ge == 0.0
            continue
        cu = gather_cotangent(layout, np.asarray(u), idx)
        tied = any(has_tie(c[k]) for k in spec["diff"] if k != "payload")
        if op in ("soft_sort", "soft_quantile") and tied:
            vjp_ok = False  # a kink: any subgradient is acceptable (ALGORITHMS.md)
            continue
        if op in ("neural_sort", "neural_sort_apply") and tied:
            continue  # |z_j - z_k| at a tie: the formula's sgn(0) = 0, no difference quotient
        if not fd_check_row(op, params, c, cu, stats):
            assert tied, ("finite differences disagree", op, params, nv, kinds[r])
            vjp_ok = False
            stats["kinks"] += 1

    def tolist(a):
        return (np.array(a, dtype=np.float64) + 0.0).tolist()  # + 0.0: no -0.0 in the file

    case = {"op": op, "params": params,
            "inputs": {**{k: tolist(v) for k, v in inputs.items()}, "mask": masks.tolist()},
            "output": tolist(out)}
    if vjp_ok:
        case["cotangent"] = tolist(cot)
        case["vjp"] = {k: tolist(v) for k, v in grads.items()}
        case["grad_regularization_strength"] = tolist(geps)
    return case


QUANTILE_SETS = [[0.5], [0.0, 1.0], [0.0, 0.25, 1.0], [0.1, 0.5, 0.9, 0.99],
                 [0.0, 0.3, 0.5, 0.75, 1.0]]


def build_cases(stats):
    rng = np.random.default_rng(20261207)
    cases = []

    def batch(n, i):
        b = 1 + (i * 7 + n) % 5
        if n >= 64:
            b = min(b, 3)
        return b

    def sweep(op, variants, ns, per_variant, extra=None):
        i = 0
        for vi, base in enumerate(variants):
            for j in range(per_variant):
                n = ns[(j + vi) % len(ns)]
                eps = EPS[(j * 3 + vi) % len(EPS)]
                params = dict(base)
                params = {**({"k": None} if op == "soft_topk" else {}),
                          **({"quantiles": None} if op == "soft_quantile" else {}),
                          "regularization_strength": eps, **params}
                if extra:
                    extra(params, n, i)
                ties = (j + vi) % 3 == 0
                if op == "spearman_loss":
                    ties = ties and n >= 5  # no all-equal rows: their centred ranks are ~0
                cases.append(make_case(rng, op, params, n, batch(n, i), ties, stats, shift=i))
                i += 1

    regs = ["l2", "kl"]
    dirs = ["ascending", "descending"]
    ns_all = [1, 2, 3, 5, 8, 17, 33, 64, 129]
    ns_two = [2, 3, 4, 6, 9, 17, 33, 64, 129]
    sweep("soft_rank", [{"regularization": r, "direction": d} for r in regs for d in dirs],
          ns_all, 12)
    sweep("soft_sort", [{"regularization": r, "direction": d} for r in regs for d in dirs],
          ns_all, 12)
    sweep("sigmoid_rank", [{"direction": d} for d in dirs], ns_all, 16)
    sweep("spearman_loss", [{"regularization": r} for r in regs], ns_two, 16)
    sweep("ndcg_loss", [{"regularization": r} for r in regs], ns_all, 16)

    def set_k(params, n, i):
        params["k"] = [0, n, 1, n // 2, n - 1, max(n - 1, 0) // 3 + 1][i % 6]

    sweep("soft_topk", [{"regularization": r, "direction": d} for r in ["l2", "p43"]
                        for d in ["descending", "ascending"]], ns_all, 11, set_k)

    def set_q(params, n, i):
        params["quantiles"] = QUANTILE_SETS[i % len(QUANTILE_SETS)]

    sweep("soft_quantile", [{"regularization": r} for r in regs], ns_all, 15, set_q)
    sweep("neural_sort", [{"direction": d} for d in dirs], [1, 2, 3, 5, 8, 17, 33, 65], 13)
    sweep("neural_sort_apply", [{"direction": d} for d in dirs], ns_all, 13)
    return cases


def write_or_check(out, doc):
    """Writes ``doc`` (compact JSON, one final newline) to ``out``, or with ``--check`` exits 1
    when ``out`` differs from it."""
    text = json.dumps(doc, separators=(",", ":")) + "\n"
    if "--check" in sys.argv:
        with open(out) as f:
            if f.read() != text:
                print(f"{out} is stale; run {sys.argv[0]}", file=sys.stderr)
                sys.exit(1)
        print(f"{out}: {len(doc['cases'])} cases, up to date")
        return
    with open(out, "w") as f:
        f.write(text)
    print(f"wrote {out}: {len(doc['cases'])} cases")


def main():
    stats = {"fd": 0, "fd_eps": 0, "kinks": 0, "rows": 0, "ops_v1": 0, "kinds": {}}
    hand_checks()
    check_ops_v1(stats)
    cases = build_cases(stats)
    doc = {"format": "rank-relax reference vectors v1", "dtype": "float64", "cases": cases}
    text = json.dumps(doc, separators=(",", ":")) + "\n"
    counts = {}
    for c in cases:
        counts[c["op"]] = counts.get(c["op"], 0) + 1
    vjps = sum("vjp" in c for c in cases)
    print(f"{len(cases)} cases {counts}, {vjps} with a VJP; {stats['rows']} rows {stats['kinds']}; "
          f"ops-v1.json: {stats['ops_v1']} cases agree; finite differences: {stats['fd']} "
          f"directions, {stats['fd_eps']} ε-gradients, {stats['kinks']} tied rows at a kink; "
          f"{len(text)} bytes", file=sys.stderr)
    if "--check" in sys.argv:
        try:
            with open(OUT) as f:
                same = f.read() == text
        except FileNotFoundError:
            same = False
        print("the file is up to date" if same else "the file differs", file=sys.stderr)
        sys.exit(0 if same else 1)
    with open(OUT, "w") as f:
        f.write(text)
    print(f"wrote {os.path.normpath(OUT)}", file=sys.stderr)


if __name__ == "__main__":
    main()
