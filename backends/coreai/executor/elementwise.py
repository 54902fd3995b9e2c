"""Elementwise ops: unary math, binary arithmetic and comparisons, ``where``, ``cast``, and their
``decomposable.broadcasting_*`` forms.

Each semantic is from the op's ODS docstring in ``coreai/_compiler/dialects/_coreai_ops_gen.py``
(quoted in the comments). Floating-point math runs in float64 and is rounded once to the declared
result type by the runner: the docs specify the function, not an evaluation order.
"""

from __future__ import annotations

import math

import numpy as np

from bridgec.backends.coreai.executor.registry import OpCall, register
from bridgec.core.erf import erf as _erf  # math.erf's doubles, on arrays


def _wide(x: np.ndarray) -> np.ndarray:
    return x.astype(np.float64) if np.issubdtype(x.dtype, np.floating) else x


def _sigmoid(x: np.ndarray) -> np.ndarray:
    # split by sign so exp never overflows
    x = _wide(x)
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def _gelu(call: OpCall) -> np.ndarray:
    # coreai.gelu: "x * 0.5 * (1 + erf(x / sqrt(2)))"; approximate "tanh":
    # "x * 0.5 * (1 + tanh(sqrt(2 / pi) * (x + 0.044715 * pow(x, 3))))"; "sigmoid": "x * sigmoid(1.702 * x)"
    x = _wide(call.inputs[0])
    mode = call.enum("approximate") or "none"
    if mode == "tanh":
        return 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x**3)))
    if mode == "sigmoid":
        return x * _sigmoid(1.702 * x)
    if mode != "none":
        raise call.fail(f"approximate {mode!r} is not one of Apple's documented modes")
    return 0.5 * x * (1.0 + _erf(x / math.sqrt(2.0)))


# One line each: the docstring's formula; exp, log, sqrt, abs and the trigonometric and hyperbolic
# ops are documented as those functions "element-wise" with "IEEE 754 semantics" (NaN in, NaN out;
# log(0) = -inf; sqrt and log of a negative number NaN), which numpy's float64 functions follow.
_UNARY = {
    "relu": lambda x: np.maximum(x, np.zeros((), x.dtype)),  # "relu(x) = max(0, x)"
    "sigmoid": _sigmoid,  # "sigmoid(x) = 1 / (1 + exp(-x))"
    "tanh": lambda x: np.tanh(_wide(x)),  # "tanh(x) = (e^x - e^(-x)) / (e^x + e^(-x))"
    "silu": lambda x: _wide(x) * _sigmoid(x),  # "silu(x) = x * sigmoid(x)"
    "erf": lambda x: _erf(_wide(x)),  # "(2 / sqrt(pi)) * integral from 0 to x of exp(-t^2) dt"
    "exp": lambda x: np.exp(_wide(x)),
    "log": lambda x: np.log(_wide(x)),
    "sqrt": lambda x: np.sqrt(_wide(x)),
    "rsqrt": lambda x: 1.0 / np.sqrt(_wide(x)),  # "rsqrt(x) = 1 / sqrt(x)"
    "abs": np.abs,
    "sin": lambda x: np.sin(_wide(x)),
    "cos": lambda x: np.cos(_wide(x)),
    "tan": lambda x: np.tan(_wide(x)),
    "asin": lambda x: np.arcsin(_wide(x)),
    "acos": lambda x: np.arccos(_wide(x)),
    "atan": lambda x: np.arctan(_wide(x)),
    "sinh": lambda x: np.sinh(_wide(x)),
    "cosh": lambda x: np.cosh(_wide(x)),
    "asinh": lambda x: np.arcsinh(_wide(x)),
    "acosh": lambda x: np.arccosh(_wide(x)),
    "atanh": lambda x: np.arctanh(_wide(x)),
    "round": np.rint,  # "rounds to the nearest even integer (banker's rounding)" on ties: numpy's rint
    "not": np.logical_not,  # "result[i] = !x[i]"
}

for _name, _fn in _UNARY.items():
    register(f"coreai.{_name}")(lambda call, fn=_fn: fn(call.inputs[0]))
register("coreai.gelu")(_gelu)


def _divide(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    # coreai.divide: floats "True division (a / b)"; integers "Truncated division (C-style
    # semantics). Rounds quotient towards zero"
    if np.issubdtype(x.dtype, np.integer):
        q = np.abs(x) // np.abs(y)
        return np.where((x < 0) != (y < 0), -q, q).astype(x.dtype)
    return _wide(x) / _wide(y)


def _floor_divide(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    # coreai.floor_divide: "returning floor(x / y)"; floats: "Computes floor(x / y) ... The result is
    # returned as a floating-point value"; integers: "Exact integer floor division"
    if np.issubdtype(x.dtype, np.integer):
        return np.floor_divide(x, y)
    return np.floor(_wide(x) / _wide(y))


def _modulo(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    # coreai.modulo: "x - trunc(x / y) * y": C's fmod for floats, C's % for integers
    if np.issubdtype(x.dtype, np.integer):
        return (x - _divide(x, y) * y).astype(x.dtype)
    return np.fmod(_wide(x), _wide(y))


def _add(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    # coreai.add: integers wrap; "For boolean types: Bitwise OR semantics"
    return np.logical_or(x, y) if x.dtype == np.bool_ else np.add(_wide(x), _wide(y))


def _mul(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return np.logical_and(x, y) if x.dtype == np.bool_ else np.multiply(_wide(x), _wide(y))


def _pow(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    # coreai.pow: "Computes x ** y element-wise"; integers "truncated back to the element type.
    # Results wrap on overflow"
    if np.issubdtype(x.dtype, np.integer):
        return np.power(x, y)
    return np.power(_wide(x), _wide(y))


_BINARY = {
    "add": _add,
    "sub": lambda x, y: np.subtract(_wide(x), _wide(y)),
    "mul": _mul,
    "divide": _divide,
    "floor_divide": _floor_divide,
    "modulo": _modulo,
    "pow": _pow,
    # maximum/minimum: "NaN propagates from either operand" (numpy's maximum/minimum do the same)
    "maximum": np.maximum,
    "minimum": np.minimum,
    "equal": np.equal,  # "output[i] = (input[i] == other[i])", IEEE: NaN == NaN is false
    "not_equal": np.not_equal,
    "greater": np.greater,  # "output[i] = (input[i] > other[i])"
    "and": np.logical_and,  # "output[i] = x[i] && y[i]"
    "or": np.logical_or,
    "xor": np.logical_xor,
    "bitwise_and": np.bitwise_and,
    "bitwise_or": np.bitwise_or,
    "bitwise_xor": np.bitwise_xor,
}


def _same_shape(call: OpCall) -> list[np.ndarray]:
    """The exact-shape ops: "Both inputs must have the same shape and dtype" (coreai.maximum, pow, ...);
    a 0-D operand stands for any shape (the scalar case the verifier allows)."""
    shapes = {v.shape for v in call.inputs if v.ndim}
    if len(shapes) > 1:
        raise call.fail(f"operands of shapes {[list(v.shape) for v in call.inputs]}; the op takes one shape")
    return call.inputs


def _broadcast(call: OpCall) -> list[np.ndarray]:
    """The ``decomposable.broadcasting_*`` ops: their decomposition is ``broadcast_in_dims`` then the
    exact-shape op, i.e. coreai.broadcast_to's rules: "Broadcasting follows NumPy rules: dimensions
    are aligned from the right, and a dimension is broadcastable if it is 1 in the input"."""
    try:
        return list(np.broadcast_arrays(*call.inputs))
    except ValueError:
        raise call.fail(f"shapes {[list(v.shape) for v in call.inputs]} do not broadcast") from None


def _where(values: list[np.ndarray]) -> np.ndarray:
    # coreai.where(condition, a, b): "result[i] = condition[i] ? a[i] : b[i]"
    condition, a, b = values
    return np.where(condition.astype(np.bool_), a, b)


for _name, _fn in _BINARY.items():
    register(f"coreai.{_name}")(lambda call, fn=_fn: fn(*_same_shape(call)))
    register(f"coreai.decomposable.broadcasting_{_name}")(lambda call, fn=_fn: fn(*_broadcast(call)))
register("coreai.where")(lambda call: _where(_same_shape(call)))
register("coreai.decomposable.broadcasting_where")(lambda call: _where(_broadcast(call)))


@register("coreai.cast")
def _cast(call: OpCall) -> np.ndarray:
    # coreai.cast: "Float-to-integer: Truncates toward zero (C-style cast)"; "Float-to-bool: 0.0 maps
    # to false; any non-zero value (including NaN and ±Inf) maps to true"; "Narrowing conversions
    # (e.g., f32 -> f16) round to nearest representable value with ties-to-even" (numpy's astype)
    x = call.inputs[0]
    dtype = call.results[0][1]
    if dtype == np.bool_:
        return x != 0
    if np.issubdtype(dtype, np.integer) and np.issubdtype(x.dtype, np.floating):
        return np.trunc(x).astype(dtype)
    return x.astype(dtype)
