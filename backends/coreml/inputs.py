"""The model inputs and outputs both Core ML formats accept: a static, non-empty shape and a dtype
Core ML has (float32, int32; float16 in an ML Program for iOS16+).

Core ML's integer multiarray is int32 and it has no bool or int64 feature, so a graph's int64 and
bool inputs and outputs become int32 ones. That is never silent: ``interface_dtypes`` says, for each
one that changes, what it becomes and why that is safe, and refuses when it is not."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import onnx_graphsurgeon as gs

from bridgec.core.errors import ConversionError
from bridgec.core.input_values import indexings

# The largest integer each format carries exactly. A NeuralNetwork computes every layer in float32,
# integers included (NeuralNetwork.proto: an INT32 input is converted to floating point), whose
# 24-bit significand holds every integer up to 2**24; an ML Program's integers are int32.
EXACT_INT_LIMIT = {"neuralnetwork": 2**24, "mlprogram": int(np.iinfo(np.int32).max)}


@dataclass(frozen=True)
class InterfaceDtype:
    """A graph input or output whose Core ML feature has another dtype than the graph's tensor."""

    kind: str  # "input" or "output"
    name: str
    graph_dtype: np.dtype
    coreml_dtype: np.dtype
    why: str  # why the change keeps the model's numbers

    def describe(self) -> str:
        return f"{self.kind} {self.name!r}: {self.graph_dtype} -> Core ML {self.coreml_dtype} ({self.why})"


def static_inputs(graph: gs.Graph) -> list[tuple[str, tuple[int, ...]]]:
    """(name, shape) of each graph input; raises ConversionError naming the input and the fix."""
    found = []
    for tensor in graph.inputs:
        shape = tensor.shape
        if shape is not None and len(shape) == 0:
            raise ConversionError(
                f"input {tensor.name!r} is a scalar (rank 0); Core ML model inputs need a rank: feed it as "
                "a 1-element tensor"
            )
        if shape is None or not all(isinstance(d, int) and d > 0 for d in shape):
            raise ConversionError(
                f"input {tensor.name!r} has no static shape ({shape}); pass --input "
                f"{tensor.name}:1x3x224x224 with its real shape"
            )
        found.append((tensor.name, tuple(shape)))
    return found


def interface_dtypes(graph: gs.Graph, format: str, ios: int) -> list[InterfaceDtype]:
    """Each graph input and output whose Core ML dtype differs from the graph's, with why that is safe.

    Raises ConversionError (naming the tensor and the fix) for a dtype Core ML cannot take in
    ``format`` at iOS ``ios``, and for an integer input that indexes a table with more rows than the
    format's integers reach (``EXACT_INT_LIMIT``), where a valid index would not survive the narrowing.
    """
    changes = []
    for kind, tensors in (("input", graph.inputs), ("output", graph.outputs)):
        for tensor in tensors:
            dtype = _dtype(tensor)
            if dtype == np.float32:
                continue
            if dtype == np.float16:
                if format == "mlprogram" and ios >= 16:
                    continue
                where = "an ML Program for iOS15" if format == "mlprogram" else "a NeuralNetwork"
                raise ConversionError(
                    f"{kind} {tensor.name!r} is float16, which {where} cannot take; export it as float32 "
                    "(or convert to --format mlprogram with --target iOS16 or newer)"
                )
            if dtype not in (np.int64, np.int32, np.bool_):
                raise ConversionError(
                    f"{kind} {tensor.name!r} is {dtype}, which Core ML cannot take (its multiarrays are "
                    "float32, float16 or int32); export it as int32 or float32"
                )
            if kind == "input" and dtype != np.bool_:
                _check_indexed_rows(graph, tensor, format)
            why = _why_safe(kind, dtype, format)
            if why:
                changes.append(InterfaceDtype(kind, tensor.name, dtype, np.dtype(np.int32), why))
    return changes


def _why_safe(kind: str, dtype: np.dtype, format: str) -> str | None:
    if dtype == np.bool_:
        if kind == "input":
            return "Core ML has no bool input: feed 0 for false and 1 for true"
        return "Core ML has no bool output: true is 1 and false is 0"
    if dtype == np.int64:
        limit = EXACT_INT_LIMIT[format]
        if kind == "input":
            return f"Core ML's integer input is int32: feed values within +-{limit}, where it is exact"
        return f"Core ML's integer output is int32, exact within +-{limit}; widen it to int64 if you need to"
    return None  # int32 stays int32


def _check_indexed_rows(graph: gs.Graph, tensor: gs.Tensor, format: str) -> None:
    """Refuse an integer input that indexes a table whose rows a Core ML integer cannot all reach."""
    limit = EXACT_INT_LIMIT[format]
    for node, _ in indexings(tensor):
        axis = int(node.attrs.get("axis", 0))
        shape = node.inputs[0].shape
        rows = shape[axis] if shape is not None and -len(shape) <= axis < len(shape) else None
        if isinstance(rows, int) and rows > limit:  # indices run from -rows to rows - 1
            fix = "split the table" + (", or convert to --format mlprogram" if format != "mlprogram" else "")
            raise ConversionError(
                f"input {tensor.name!r} indexes {rows} rows of {node.inputs[0].name!r} (node "
                f"{node.name!r}, {node.op}), more than a Core ML {format} integer reaches exactly "
                f"({limit}); {fix}"
            )


def _dtype(tensor: gs.Tensor) -> np.dtype:
    return np.dtype(tensor.dtype) if tensor.dtype is not None else np.dtype(np.float32)


__all__ = ["EXACT_INT_LIMIT", "InterfaceDtype", "interface_dtypes", "static_inputs"]
