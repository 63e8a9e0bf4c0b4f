"""Independent float64 reference for neural_sort and neural_sort_apply (ALGORITHMS.md).

Straightforward NumPy (it never calls the rank-relax core): P formed explicitly, its rows a
softmax with the row max subtracted, the VJP by the formula of ALGORITHMS.md with the O(n^2)
pairwise sgn sum, and neural_sort_apply as an explicit P @ payload. Before writing, every VJP
(values, payload and the tau-gradient) is checked against central finite differences, and
against PyTorch autograd of a plain NeuralSort written as allRank / TF-Ranking write it (when
torch is importable).

    python testdata/reference/gen/neural_sort.py            # writes wave2-neural-sort.json
    python testdata/reference/gen/neural_sort.py --check    # checks only, writes nothing

Deterministic: fixed seeds; the same NumPy gives the same bytes.
"""

import json
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "wave2-neural-sort.json")


def sign_of(direction):
    return -1.0 if direction == "ascending" else 1.0


def logits(x, tau, direction):
    """((n + 1 - 2i) z_j - B_j) / tau for one row x, as an [n, n] array."""
    z = sign_of(direction) * np.asarray(x, dtype=np.float64)
    n = z.size
    b = np.abs(z[:, None] - z[None, :]).sum(axis=1)
    w = n + 1 - 2 * np.arange(1, n + 1, dtype=np.float64)
    return (w[:, None] * z[None, :] - b[None, :]) / tau


def neural_sort_row(x, tau, direction):
    a = logits(x, tau, direction)
    a = a - a.max(axis=1, keepdims=True)
    e = np.exp(a)
    return e / e.sum(axis=1, keepdims=True)


def neural_sort_vjp_row(x, tau, direction, u):
    """(grad x, grad tau) of <U, P(x)> by ALGORITHMS.md's formula."""
    sign = sign_of(direction)
    z = sign * np.asarray(x, dtype=np.float64)
    n = z.size
    p = neural_sort_row(x, tau, direction)
    d = p * (u - (p * u).sum(axis=1, keepdims=True))
    c = d.sum(axis=0)
    w = n + 1 - 2 * np.arange(1, n + 1, dtype=np.float64)
    r = (w[:, None] * d).sum(axis=0)
    sgn = np.sign(z[:, None] - z[None, :])
    dz = (r - ((c[:, None] + c[None, :]) * sgn).sum(axis=1)) / tau
    g = sign * dz
    return g, -np.dot(g, x) / tau


def apply_row(x, y, tau, direction):
    return neural_sort_row(x, tau, direction) @ np.asarray(y, dtype=np.float64)


def apply_vjp_row(x, y, tau, direction, v):
    p = neural_sort_row(x, tau, direction)
    gx, gt = neural_sort_vjp_row(x, tau, direction, np.outer(v, y))
    return gx, p.T @ v, gt


# ---- checks ---------------------------------------------------------------------------------


def fd_check(f, x, grad, h, what, scale0=1.0, tol=1e-6):
    """Central differences of the scalar f at x against grad, coordinate by coordinate, within
    tol of the gradient's scale (at least scale0: the logits, and the rounding of f, grow like
    1/tau, so the noise of a difference quotient does too)."""
    x = np.asarray(x, dtype=np.float64)
    for j in range(x.size):
        e = np.zeros_like(x)
        e[j] = h
        fd = (f(x + e) - f(x - e)) / (2 * h)
        scale = max(abs(fd), abs(grad[j]), scale0)
        assert abs(fd - grad[j]) <= tol * scale, f"{what}[{j}]: fd {fd!r} vs {grad[j]!r}"


def fd_check_case(op, x, y, tau, direction, cot, grads):
    h = 1e-4 * min(tau, 1.0)
    s = max(1.0, 1.0 / tau)
    if op == "neural_sort":
        gx, gt = grads
        fd_check(lambda xx: np.sum(cot * neural_sort_row(xx, tau, direction)), x, gx, h,
                 f"{op} values tau={tau}", s)
        fd_check(lambda tt: np.sum(cot * neural_sort_row(x, tt[0], direction)),
                 np.array([tau]), [gt], 1e-4 * tau, f"{op} tau={tau}", s)
    else:
        gx, gy, gt = grads
        fd_check(lambda xx: np.dot(cot, apply_row(xx, y, tau, direction)), x, gx, h,
                 f"{op} values tau={tau}", s)
        fd_check(lambda yy: np.dot(cot, apply_row(x, yy, tau, direction)), y, gy, 1e-4,
                 f"{op} payload tau={tau}")
        fd_check(lambda tt: np.dot(cot, apply_row(x, y, tt[0], direction)),
                 np.array([tau]), [gt], 1e-4 * tau, f"{op} tau={tau}", s)


def torch_neural_sort(s, tau):
    """allRank's deterministic_neural_sort (descending), s of shape [B, n, 1]."""
    import torch

    dev = s.device
    n = s.size()[1]
    one = torch.ones((n, 1), dtype=s.dtype, device=dev)
    a_s = torch.abs(s - s.permute(0, 2, 1))
    b = torch.matmul(a_s, torch.matmul(one, torch.transpose(one, 0, 1)))
    scaling = (n + 1 - 2 * (torch.arange(n, device=dev) + 1)).type(s.dtype)
    c = torch.matmul(s, scaling.unsqueeze(0))
    p_max = (c - b).permute(0, 2, 1)
    return torch.nn.functional.softmax(p_max / tau, dim=-1)


def torch_check(op, x, y, tau, direction, cot, out, grads):
    try:
        import torch
    except ImportError:
        return False
    sign = sign_of(direction)
    xt = torch.tensor(np.asarray(x)[None, :, None], dtype=torch.float64, requires_grad=True)
    taut = torch.tensor(tau, dtype=torch.float64, requires_grad=True)
    p = torch_neural_sort(sign * xt, taut)[0]
    if op == "neural_sort":
        res = p
        loss = (res * torch.tensor(cot)).sum()
        loss.backward()
        want = [xt.grad[0, :, 0].numpy(), taut.grad.item()]
    else:
        yt = torch.tensor(np.asarray(y), dtype=torch.float64, requires_grad=True)
        res = p @ yt
        loss = (res * torch.tensor(cot)).sum()
        loss.backward()
        want = [xt.grad[0, :, 0].numpy(), yt.grad.numpy(), taut.grad.item()]
    got_out = res.detach().numpy()
    assert np.allclose(got_out, out, rtol=1e-9, atol=1e-12), f"{op}: torch forward differs"
    for g, w in zip(grads, want):
        g, w = np.atleast_1d(g), np.atleast_1d(w)
        scale = max(np.abs(w).max(initial=0.0), 1.0)
        assert np.all(np.abs(g - w) <= 1e-9 * scale), f"{op} tau={tau}: torch grad {w} vs {g}"
    return True


# ---- cases ----------------------------------------------------------------------------------


def row_values(rng, n, kind):
    if kind == "uniform":
        return rng.uniform(-2.0, 2.0, n)
    if kind == "ties":
        # A coarse grid: many equal values.
        return np.round(rng.uniform(-1.0, 1.0, n) * 2.0) / 2.0
    if kind == "wide":
        return rng.normal(0.0, 1.0, n) * 10.0 ** rng.integers(-3, 3, n)
    raise ValueError(kind)


def make_case(rng, op, n, batch, tau, direction, kind, stats):
    xs = [row_values(rng, n, kind) for _ in range(batch)]
    params = {"regularization_strength": tau, "direction": direction}
    if op == "neural_sort":
        outs = [neural_sort_row(x, tau, direction) for x in xs]
        cots = [rng.uniform(-1.0, 1.0, (n, n)) for _ in range(batch)]
        grads = [neural_sort_vjp_row(x, tau, direction, u) for x, u in zip(xs, cots)]
        inputs = {"values": [x.tolist() for x in xs]}
        vjp = {"values": [g[0].tolist() for g in grads]}
        ys = [None] * batch
    else:
        ys = [rng.uniform(-1.0, 3.0, n) if kind != "ties" else np.round(rng.uniform(0, 3, n))
              for _ in range(batch)]
        outs = [apply_row(x, y, tau, direction) for x, y in zip(xs, ys)]
        cots = [rng.uniform(-1.0, 1.0, n) for _ in range(batch)]
        grads = [apply_vjp_row(x, y, tau, direction, v) for x, y, v in zip(xs, ys, cots)]
        inputs = {"values": [x.tolist() for x in xs], "payload": [y.tolist() for y in ys]}
        vjp = {"values": [g[0].tolist() for g in grads],
               "payload": [g[1].tolist() for g in grads]}
    for x, y, u, o, g in zip(xs, ys, cots, outs, grads):
        # Finite differences are only meaningful where the kinks of |z_j - z_k| are far:
        # not at ties nor at the tiny gaps of "wide" rows (h would cross a kink).
        if kind == "uniform" and n <= 40:
            fd_check_case(op, x, y, tau, direction, u, g)
            stats["fd"] += 1
        if torch_check(op, x, y, tau, direction, u, o, g):
            stats["torch"] += 1
    return {
        "op": op,
        "params": params,
        "inputs": inputs,
        "output": [o.tolist() for o in outs],
        "cotangent": [u.tolist() for u in cots],
        "vjp": vjp,
        "grad_regularization_strength": [g[-1] for g in grads],
    }


def properties(stats):
    rng = np.random.default_rng(7)
    for direction in ("ascending", "descending"):
        x = rng.uniform(-1, 1, 20)
        p = neural_sort_row(x, 1e-4, direction)
        assert np.allclose(p.sum(axis=1), 1.0)
        want = np.sort(x) if direction == "ascending" else np.sort(x)[::-1]
        assert np.allclose(p @ x, want, atol=1e-9), "P x approaches sorted x as tau -> 0"
        y = rng.uniform(-1, 1, 20)
        assert np.allclose(apply_row(x, y, 0.3, direction), neural_sort_row(x, 0.3, direction) @ y)
        stats["properties"] += 1


def main():
    check_only = "--check" in sys.argv
    stats = {"fd": 0, "torch": 0, "properties": 0}
    properties(stats)
    rng = np.random.default_rng(20261206)
    cases = []
    dirs = ("ascending", "descending")
    # neural_sort: the output is n^2 per row, so long rows are few.
    for direction in dirs:
        for tau in (1e-3, 0.1, 1.0, 50.0):
            for n in (1, 2, 3, 5, 8, 17):
                cases.append(make_case(rng, "neural_sort", n, 2, tau, direction, "uniform", stats))
        for tau in (0.01, 0.5):
            cases.append(make_case(rng, "neural_sort", 6, 2, tau, direction, "ties", stats))
            cases.append(make_case(rng, "neural_sort", 12, 1, tau, direction, "wide", stats))
        cases.append(make_case(rng, "neural_sort", 33, 1, 0.05, direction, "uniform", stats))
        cases.append(make_case(rng, "neural_sort", 65, 1, 0.3, direction, "uniform", stats))
    # neural_sort_apply: [B, n] outputs, rows up to 129.
    for direction in dirs:
        for tau in (1e-3, 0.1, 1.0, 50.0):
            for n in (1, 2, 5, 16, 40):
                cases.append(make_case(rng, "neural_sort_apply", n, 2, tau, direction,
                                       "uniform", stats))
        for tau in (0.01, 0.5):
            cases.append(make_case(rng, "neural_sort_apply", 9, 2, tau, direction, "ties", stats))
            cases.append(make_case(rng, "neural_sort_apply", 24, 1, tau, direction, "wide", stats))
        for tau in (0.02, 2.0):
            cases.append(make_case(rng, "neural_sort_apply", 64, 1, tau, direction, "uniform",
                                   stats))
            cases.append(make_case(rng, "neural_sort_apply", 129, 1, tau, direction, "uniform",
                                   stats))
    doc = {"format": "rank-relax reference vectors v1", "dtype": "float64", "cases": cases}
    text = json.dumps(doc, separators=(",", ":"))
    counts = {}
    for c in cases:
        counts[c["op"]] = counts.get(c["op"], 0) + 1
    print(f"{len(cases)} cases {counts}; {len(text)} bytes; checked against finite differences: "
          f"{stats['fd']} rows, torch autograd: {stats['torch']} rows, properties: "
          f"{stats['properties']}")
    if not check_only:
        with open(OUT, "w") as f:
            f.write(text)
            f.write("\n")
        print(f"wrote {os.path.normpath(OUT)}")


if __name__ == "__main__":
    main()
