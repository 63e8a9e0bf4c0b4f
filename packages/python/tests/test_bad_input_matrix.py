"""The shared bad-input matrix (testdata/bad-input.json) through the NumPy, PyTorch and JAX public
APIs: every case tagged ``numpy``, ``torch`` or ``jax``, in each dtype it lists.

The file is at ``$RANK_RELAX_BAD_INPUT``, else ``testdata/bad-input.json`` from the repository
root; testdata/README.md describes it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from _spec import OPS
from conftest import REPO
from frameworks import NAMES, api

FORMAT = "rank-relax bad-input matrix v1"
ERRORS = {
    "InvalidValue": ValueError,
    "InvalidArgument": ValueError,
    "ShapeMismatch": ValueError,
    "InvalidType": TypeError,
}
# JAX appends this note to errors crossing its API boundary (JAX_TRACEBACK_FILTERING=off drops it).
JAX_NOTE = "\n--------------------\nFor simplicity, JAX has removed"


def matrix_path() -> Path:
    env = os.environ.get("RANK_RELAX_BAD_INPUT")
    return Path(env) if env else REPO / "testdata" / "bad-input.json"


def load() -> dict[str, Any]:
    path = matrix_path()
    if not path.is_file():
        pytest.fail(f"bad-input matrix not found at {path} (set RANK_RELAX_BAD_INPUT)")
    document = json.loads(path.read_text())
    assert document["format"] == FORMAT, document["format"]
    return document


DOCUMENT = load()
RUNS = [
    (name, case, dtype)
    for case in DOCUMENT["cases"]
    for name in NAMES
    if name in case.get("bindings", DOCUMENT["bindings"])
    for dtype in case.get("dtypes", ["float64", "float32"])
]


def number(x: Any) -> float:
    return {"nan": np.nan, "inf": np.inf, "-inf": -np.inf}.get(x, x) if isinstance(x, str) else x


def tensor(spec: Any, dtype: str) -> np.ndarray:
    if isinstance(spec, dict):
        shape = tuple(spec["shape"])
        size = int(np.prod(shape))
        i = np.arange(size, dtype=np.int64)
        fill = spec["fill"]
        if fill == "ramp":
            flat = ((7 * i + 3) % 11) / 4.0 - 1.0
        elif fill == "grades":
            flat = ((3 * i + 1) % 4).astype(np.float64)
        else:
            flat = np.full(size, number(fill), dtype=np.float64)
        array = flat.reshape(shape)
        for patch in spec.get("set", []):
            array[tuple(patch["at"])] = number(patch["value"])
    else:
        array = np.asarray(json.loads(json.dumps(spec), parse_constant=float), dtype=np.float64)
        array = (
            np.vectorize(number, otypes=[np.float64])(np.asarray(spec, dtype=object))
            if array.dtype == object
            else array
        )
    return array.astype(dtype)


def boolean(spec: Any) -> np.ndarray:
    """A bool input (a mask): nested JSON booleans, or ``{"shape", "fill": true|false, "set"}``."""
    if isinstance(spec, dict):
        array = np.full(tuple(spec["shape"]), bool(spec["fill"]))
        for patch in spec.get("set", []):
            array[tuple(patch["at"])] = bool(patch["value"])
        return array
    return np.asarray(spec, dtype=np.bool_)


def view(array: np.ndarray, how: str) -> np.ndarray:
    """A non-contiguous view whose values are ``array`` (testdata/README.md, ``view``)."""
    if how == "transpose":
        return np.ascontiguousarray(np.swapaxes(array, -1, -2)).swapaxes(-1, -2)
    if how == "reverse":
        return np.ascontiguousarray(array[..., ::-1])[..., ::-1]
    if how == "step":
        wide = np.zeros((*array.shape[:-1], 2 * array.shape[-1]), array.dtype)
        wide[..., ::2] = array
        return wide[..., ::2]
    raise AssertionError(how)


def prepare(case: dict[str, Any], dtype: str) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    bools = OPS[case["op"]]["bool_inputs"]
    ints = OPS[case["op"]]["int_inputs"]
    inputs = {
        name: boolean(spec)
        if name in bools
        else np.asarray(spec, dtype=np.int64)  # group ids: integers in every dtype of the case
        if name in ints
        else tensor(spec, dtype)
        for name, spec in case["inputs"].items()
    }
    for name in ints:  # int32 unless the case casts them
        inputs[name] = inputs[name].astype(case.get("cast", {}).get(name, "int32"))
    for name, target in case.get("cast", {}).items():
        inputs[name] = inputs[name].astype(target)
    for name, how in case.get("view", {}).items():
        inputs[name] = view(inputs[name], how)
    params = {}
    for name, value in case.get("params", {}).items():
        if name in OPS[case["op"]]["reals"]:
            value = float(np.asarray(number(value), dtype=dtype))
        elif name in OPS[case["op"]]["lists"] and isinstance(value, list):
            value = [float(np.asarray(number(x), dtype=dtype)) for x in value]
        params[name] = value  # an int as given; a value of the wrong type too, to be refused
    return inputs, params


def run(
    fw: Any, case: dict[str, Any], inputs: dict[str, np.ndarray], params: dict[str, Any], dtype: str
) -> tuple[np.ndarray, dict[str, np.ndarray] | None]:
    if case.get("jit"):  # JAX: the forward under jax.jit, where the inputs are traced
        fn = getattr(fw.module, case["op"])
        traced = fw.jax.jit(lambda *xs: fn(*xs, **params))
        return np.asarray(
            traced(*(fw.jnp.asarray(inputs[n]) for n in OPS[case["op"]]["inputs"]))
        ), None
    out = fw.call(case["op"], inputs, params)
    if case.get("pass", "forward") != "backward":
        return out, None
    if "cotangents" in case:  # an op of several outputs: one per differentiable output
        cots = {k: tensor(v, dtype) for k, v in case["cotangents"].items()}
        return out, fw.vjps(case["op"], inputs, params, cots)
    cotangent = (
        tensor(case["cotangent"], dtype) if "cotangent" in case else np.ones(out.shape, dtype)
    )
    if out.dtype != cotangent.dtype and out.dtype == np.float16:
        cotangent = cotangent.astype(np.float16)
    return out, fw.vjp(case["op"], inputs, params, cotangent)


def close(got: np.ndarray, want: np.ndarray, tol: float) -> bool:
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    return got.shape == want.shape and bool(np.all(np.abs(got - want) <= tol * (1 + np.abs(want))))


# A cotangent of the wrong shape never reaches rank-relax through autograd: torch.autograd and
# jax.vjp reject it themselves, with their own exception and text. The runner checks that they do.
FRAMEWORK_CHECKED = {
    ("torch", "/cotangent/shape"): (RuntimeError, "shape"),
    ("jax", "/cotangent/shape"): (ValueError, "shape"),
}


def framework_checked(name: str, case: dict[str, Any]) -> tuple[type, str] | None:
    for (api_name, suffix), expected in FRAMEWORK_CHECKED.items():
        if api_name == name and case["id"].endswith(suffix):
            return expected
    return None


def run_id(run_: tuple[str, dict[str, Any], str]) -> str:
    name, case, dtype = run_
    return f"{case['id']}-{dtype}-{name}"


def test_the_matrix_has_cases_for_every_python_api() -> None:
    for name in NAMES:
        assert sum(1 for r in RUNS if r[0] == name) > 100, name


@pytest.mark.parametrize("run_", RUNS, ids=run_id)
def test_case(run_: tuple[str, dict[str, Any], str]) -> None:
    name, case, dtype = run_
    fw = api(name)
    expect = case.get("overrides", {}).get(name, case["expect"])
    inputs, params = prepare(case, dtype)
    checked = framework_checked(name, case)
    if checked is not None:
        with pytest.raises(checked[0], match=checked[1]):
            run(fw, case, inputs, params, dtype)
        return
    if "error" in expect:
        error = expect["error"]
        with pytest.raises(ERRORS[error["kind"]]) as info:
            run(fw, case, inputs, params, dtype)
        text = str(info.value).split(JAX_NOTE)[0]
        if "message" in error:
            assert text == error["message"]
        for fragment in error.get("contains", []):
            assert fragment in text, (fragment, text)
        return
    assert expect["ok"] is True
    out, grads = run(fw, case, inputs, params, dtype)
    tol = 1e-9 if dtype == "float64" else 1e-5
    if "output" in expect:
        assert close(out, tensor(expect["output"], "float64"), tol), out
    # An op of several outputs: each by name (int32 item positions exactly, as close() has them).
    for output_name, want in expect.get("outputs", {}).items():
        got = fw.outputs(case["op"], inputs, params)[output_name]
        assert close(got, tensor(want, "float64"), tol), (output_name, got)
    for input_name, want in expect.get("vjp", {}).items():
        assert grads is not None
        assert close(grads[input_name], tensor(want, "float64"), tol), (input_name, grads)
    if expect.get("finite"):
        assert np.isfinite(out).all(), out
        for g in (grads or {}).values():
            assert np.isfinite(g).all(), g
    if expect.get("same_as_contiguous"):
        contiguous = {k: np.ascontiguousarray(v) for k, v in inputs.items()}
        want_out, want_grads = run(fw, case, contiguous, params, dtype)
        np.testing.assert_array_equal(out, want_out)
        for k, g in (grads or {}).items():
            np.testing.assert_array_equal(g, want_grads[k])
    if "same_as_dtype" in expect:
        other = expect["same_as_dtype"]
        converted = {k: v.astype(other) if v.dtype.kind == "f" else v for k, v in inputs.items()}
        want_out, want_grads = run(fw, case, converted, params, other)
        assert out.dtype == next(iter(inputs.values())).dtype
        np.testing.assert_array_equal(out, want_out.astype(out.dtype))
        for k, g in (grads or {}).items():
            assert g.dtype == inputs[k].dtype
            np.testing.assert_array_equal(g, want_grads[k].astype(g.dtype))
