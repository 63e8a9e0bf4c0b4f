"""Bad input through every public API: a TypeError or ValueError naming the op and the argument,
never a crash and never a NaN returned."""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pytest

from _spec import OPS
from frameworks import NAMES, api
from inputs import make_inputs

OP_NAMES = sorted(OPS)


def call(name: str, op: str, inputs: dict[str, Any], **params: Any) -> Any:
    return api(name).call(op, inputs, params)


def message(op: str, text: str) -> str:
    return f"^{re.escape(op)}: .*{re.escape(text)}"


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("op", OP_NAMES)
@pytest.mark.parametrize("dtype", [np.int64, np.int32, np.complex128, np.bool_])
def test_wrong_dtype_is_type_error(name: str, op: str, dtype: type) -> None:
    if name == "jax" and dtype is np.complex128:
        pass  # JAX keeps complex: still a TypeError below
    for arg in OPS[op]["inputs"]:
        if arg in OPS[op]["int_inputs"] and np.issubdtype(dtype, np.integer):
            continue  # an int32 input takes integers (test_int_inputs below)
        inputs = make_inputs(op, (2, 4))
        inputs[arg] = np.ones((2, 4), dtype=dtype)
        with pytest.raises(TypeError, match=message(op, arg)):
            call(name, op, inputs)


INT_OPS = [op for op in OP_NAMES if OPS[op]["int_inputs"]]


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("op", INT_OPS)
@pytest.mark.parametrize("dtype", [np.int8, np.int16, np.uint8, np.uint16, np.int64, np.uint64])
def test_int_inputs_take_any_integer_dtype_that_fits(name: str, op: str, dtype: type) -> None:
    # Every integer dtype gives the int32 call's result exactly (ids shifted to be unsigned).
    for arg in OPS[op]["int_inputs"]:
        inputs = make_inputs(op, (3, 5), seed=4)
        inputs[arg] = (inputs[arg] + 2).astype(np.int32)
        want = np.asarray(call(name, op, inputs))
        inputs[arg] = inputs[arg].astype(dtype)
        np.testing.assert_array_equal(np.asarray(call(name, op, inputs)), want)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("op", INT_OPS)
def test_int_inputs_refuse_values_outside_int32(name: str, op: str) -> None:
    for arg in OPS[op]["int_inputs"]:
        for bad in (2**31, -(2**31) - 1):
            inputs = make_inputs(op, (2, 4))
            wide = inputs[arg].astype(np.int64)
            wide[1, 2] = bad
            inputs[arg] = wide
            text = f"{op}: {arg} holds {bad}, which does not fit in int32"
            with pytest.raises(ValueError, match=f"^{re.escape(text)}$"):
                call(name, op, inputs)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("op", [op for op in OP_NAMES if len(OPS[op]["inputs"]) > 1])
def test_mismatched_shapes(name: str, op: str) -> None:
    first, second = OPS[op]["inputs"][:2]
    inputs = make_inputs(op, (2, 4))
    inputs[second] = make_inputs(op, (2, 5))[second]
    with pytest.raises(ValueError, match=message(op, f"{first} has shape [2, 4] but {second}")):
        call(name, op, inputs)
    inputs[second] = make_inputs(op, (4, 2))[second]  # same size, other layout
    with pytest.raises(ValueError, match=message(op, f"but {second} has shape [4, 2]")):
        call(name, op, inputs)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("op", OP_NAMES)
@pytest.mark.parametrize(
    ("bad", "text"), [(np.nan, "is NaN"), (np.inf, "is +inf"), (-np.inf, "is -inf")]
)
def test_non_finite_values(name: str, op: str, bad: float, text: str) -> None:
    for arg in OPS[op]["inputs"]:
        if arg in OPS[op]["int_inputs"]:
            continue
        inputs = make_inputs(op, (2, 4))
        inputs[arg][1, 2] = bad
        with pytest.raises(ValueError, match=message(op, f"{arg}[1, 2] {text}")):
            call(name, op, inputs)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("op", OP_NAMES)
@pytest.mark.parametrize("eps", [0.0, -1.0, np.nan, np.inf])
def test_bad_regularization_strength(name: str, op: str, eps: float) -> None:
    with pytest.raises(
        ValueError, match=message(op, "regularization_strength must be finite and > 0")
    ):
        call(name, op, make_inputs(op, (2, 4)), regularization_strength=eps)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("op", OP_NAMES)
def test_unknown_enum_value(name: str, op: str) -> None:
    for param, values in OPS[op]["enums"].items():
        allowed = ", ".join(f'"{v}"' for v in values)
        text = f'{param} must be one of {allowed}, got "up"'
        with pytest.raises(ValueError, match=message(op, text)):
            call(name, op, make_inputs(op, (2, 4)), **{param: "up"})


@pytest.mark.parametrize("name", ["numpy", "jax"])
@pytest.mark.parametrize("op", OP_NAMES)
def test_enum_of_wrong_type(name: str, op: str) -> None:
    for param in OPS[op]["enums"]:
        with pytest.raises(TypeError, match=message(op, f"{param} must be a str")):
            call(name, op, make_inputs(op, (2, 4)), **{param: 1})


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("op", OP_NAMES)
def test_zero_dimensional_input(name: str, op: str) -> None:
    inputs = {arg: np.asarray(1.0) for arg in OPS[op]["inputs"]}
    first = OPS[op]["inputs"][0]
    with pytest.raises(ValueError, match=message(op, f"{first} must have at least 1 dimension")):
        call(name, op, inputs)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("op", [op for op in OP_NAMES if OPS[op]["min_n"] > 1])
def test_too_few_items(name: str, op: str) -> None:
    min_n = OPS[op]["min_n"]
    with pytest.raises(
        ValueError, match=message(op, f"needs n >= {min_n} items per row, got n = 1")
    ):
        call(name, op, make_inputs(op, (2, 1)))


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("op", [op for op in OP_NAMES if OPS[op]["nonnegative"]])
def test_negative_values_where_nonnegative(name: str, op: str) -> None:
    for arg in OPS[op]["nonnegative"]:
        inputs = make_inputs(op, (2, 4))
        inputs[arg][0, 1] = -1.0
        with pytest.raises(ValueError, match=message(op, f"{arg}[0, 1] is negative (-1)")):
            call(name, op, inputs)


@pytest.mark.parametrize("name", NAMES)
def test_regularization_strength_of_wrong_type(name: str) -> None:
    with pytest.raises(TypeError, match=message("soft_rank", "regularization_strength")):
        call(name, "soft_rank", make_inputs("soft_rank", (2, 4)), regularization_strength="0.1")
