"""The executor's op registry: ``coreai.<op>`` name -> a numpy implementation.

An implementation is registered against the op's full MLIR name (``"coreai.conv2d"``,
``"coreai.decomposable.broadcasting_add"``) by ``@register(name)``; it takes one ``OpCall`` and
returns the op's results (one array, or a tuple of them in result order). The families in this
package register Apple's documented ops. ``coreai.metal4_kernel`` is for the custom-kernel backend
(``backends/coreai/kernels.py``) to register the same way, dispatching on the call's
``kernel_name`` attribute to bridgec's numpy reference of each kernel it writes (the Metal source
cannot run without a GPU); until it does, the driver's check says such a model was not run.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bridgec.core.errors import BridgecError


class ExecutorError(BridgecError):
    """bridgec's Core AI executor cannot run the model (one line: which op, why)."""


@dataclass(frozen=True)
class OpCall:
    """One op of the program, as the executor runs it.

    ``inputs`` are the operands' values in operand order (variadic operands flattened; ``segments``
    gives each ODS operand group's length when the op is variadic, from ``operandSegmentSizes``).
    ``attributes`` holds each MLIR attribute as a Python value where one is obvious (strings,
    integers, floats, booleans, arrays of those) and otherwise as its printed MLIR text
    (``"#coreai.padding_mode<reflect>"``). ``results`` are the declared result types
    (shape with -1 for a dynamic dimension, numpy dtype)."""

    name: str
    inputs: list[np.ndarray]
    attributes: dict[str, Any]
    results: list[tuple[tuple[int, ...], np.dtype]]
    location: str = ""
    segments: tuple[int, ...] = field(default=())

    def groups(self) -> list[list[np.ndarray]]:
        """The inputs split by ODS operand group (one group per operand when not variadic)."""
        if not self.segments:
            return [[value] for value in self.inputs]
        out, start = [], 0
        for size in self.segments:
            out.append(self.inputs[start : start + size])
            start += size
        return out

    def enum(self, name: str) -> str:
        """An enum attribute's case: ``#coreai.padding_mode<reflect>`` -> ``"reflect"``."""
        text = str(self.attributes.get(name, ""))
        return text[text.find("<") + 1 : text.rfind(">")] if "<" in text else text.strip('"')

    @property
    def where(self) -> str:
        """`` at loc("model.onnx#node(Op)":0:0)``: the ONNX node bridgec's builder named the op after."""
        found = re.search(r'loc\("[^"]*"(:\d+:\d+)?\)', self.location)
        location = found.group(0) if found else self.location
        return f" at {location}" if location else ""

    def fail(self, why: str) -> ExecutorError:
        return ExecutorError(f"bridgec's Core AI executor: {self.name}{self.where}: {why}")


Implementation = Callable[[OpCall], "np.ndarray | tuple[np.ndarray, ...]"]

OPS: dict[str, Implementation] = {}


def register(op_name: str) -> Callable[[Implementation], Implementation]:
    """Register ``fn`` as the executor's semantics of ``op_name`` (the full MLIR name).

    Usage: ``@register("coreai.metal4_kernel")`` above ``def run(call: OpCall) -> np.ndarray``.
    A second registration of the same name replaces the first (a later, more specific
    implementation wins; the built-in families never register a name twice)."""

    def decorate(fn: Implementation) -> Implementation:
        OPS[op_name] = fn
        return fn

    return decorate


def implementation(call: OpCall) -> Implementation:
    load_families()
    fn = OPS.get(call.name)
    if fn is None:
        raise ExecutorError(f"bridgec's Core AI executor: the executor has no {call.name}{call.where}")
    return fn


_FAMILIES = ("elementwise", "nn", "shape")


def load_families() -> None:
    """Register the built-in families (done on first use by ``implementation``)."""
    import importlib

    for family in _FAMILIES:
        importlib.import_module(f"{__package__}.{family}")
