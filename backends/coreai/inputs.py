"""The dtypes of a Core AI model: which element types the builder writes, and the model's interface.

Core AI's tensors take f16, bf16, f32, si8..si64, ui8..ui64 and i1 (the dialect's type constraints in
``coreai/_compiler/dialects/_coreai_ops_gen.py``), and Linux's interpreter runs si64 end to end
(measured: ``add`` on si64 2**40 is exact). But Apple's own converter says "Core AI supports up to
32-bit dtypes, i.e. no 64-bit dtypes" (coreai-torch 0.4.3) and the "Index type" operands (gather
indices, axes, slice bounds) are si16/si32 only, so a device is not promised si64. bridgec therefore
writes int64 as si32, inside the model and at its interface, like Apple's converter, but never
silently: ``interface_dtypes`` says, for each input and output that changes, what the app feeds and
why that keeps the numbers, and refuses an input that indexes more rows than si32 reaches. Inside,
an int64 constant beyond si32 is refused by the builder (``narrow_constant``); an int64 Gather index
is narrowed by the named rule ``lower::index_narrow`` (the op report says so).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import onnx_graphsurgeon as gs

from bridgec.core.errors import ConversionError, UsageError
from bridgec.core.input_values import indexings

_INT32 = np.iinfo(np.int32)
# the element types written as they are; int64 is written as si32 (the module docstring says why)
_KEPT = {np.dtype(t) for t in (np.float32, np.float16, np.int32, np.int16, np.int8, np.uint8, np.bool_)}
NARROWED = {np.dtype(np.int64): np.dtype(np.int32)}


@dataclass(frozen=True)
class InterfaceDtype:
    """A graph input or output whose Core AI tensor has another dtype than the graph's."""

    kind: str  # "input" or "output"
    name: str
    graph_dtype: np.dtype
    coreai_dtype: np.dtype
    why: str  # what the app feeds or gets, and why that keeps the numbers


def coreai_dtype(dtype, what: str) -> np.dtype:
    """The element type Core AI holds a graph dtype in; ConversionError (one line) for one it has not."""
    dtype = np.dtype(dtype if dtype is not None else np.float32)
    if dtype in _KEPT:
        return dtype
    if dtype in NARROWED:
        return NARROWED[dtype]
    raise ConversionError(
        f"{what} is {dtype}, which this Core AI backend does not write (it writes float32, float16, "
        "int8/16/32, uint8, bool; int64 as int32); export it as float32 or int32"
    )


def narrow_constant(value: np.ndarray, what: str) -> np.ndarray:
    """An int64 constant as si32; ConversionError when a value lies beyond si32 (never wrapped)."""
    value = np.asarray(value)
    if value.dtype not in NARROWED:
        return value
    if value.size and (value.min() < _INT32.min or value.max() > _INT32.max):
        raise ConversionError(
            f"{what}: an int64 constant holds {value.min()}..{value.max()}, beyond Core AI's int32; "
            "this model needs 64-bit integers, which Core AI does not promise on device"
        )
    return value.astype(NARROWED[value.dtype])


def interface_dtypes(graph: gs.Graph) -> list[InterfaceDtype]:
    """Each graph input and output Core AI holds in another dtype, with what the app feeds and why it
    is exact. Raises ConversionError for an input that indexes more rows than si32 reaches."""
    changes = []
    for kind, tensors in (("input", graph.inputs), ("output", graph.outputs)):
        for tensor in tensors:
            graph_dtype = np.dtype(tensor.dtype if tensor.dtype is not None else np.float32)
            held = coreai_dtype(graph_dtype, f"{kind} {tensor.name!r}")
            if held == graph_dtype:
                continue
            if kind == "output":
                why = f"Core AI's output is {held}, exact within {_INT32.min}..{_INT32.max}"
            else:
                why = f"feed {held} values within {_bounds(graph, tensor)}"
            changes.append(InterfaceDtype(kind, tensor.name, graph_dtype, held, why))
    return changes


def coreai_feeds(graph: gs.Graph, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """``feeds`` (the source's dtypes: int64 token ids) as the Core AI model declares its inputs.
    int64 -> int32 never wraps: values beyond int32 are refused (UsageError, one line naming the
    input), so the check runs exactly what the app can feed."""
    converted = {}
    for tensor in graph.inputs:
        value = np.asarray(feeds[tensor.name])
        held = coreai_dtype(tensor.dtype, f"input {tensor.name!r}")
        if held.kind == "i" and value.dtype.kind in "iu" and value.size:
            bounds = np.iinfo(held)
            if value.min() < bounds.min or value.max() > bounds.max:
                raise UsageError(
                    f"input {tensor.name}: values {value.min()}..{value.max()} lie beyond {held}, the dtype of "
                    f"the Core AI model's input (Core AI holds int64 as int32); give values within {bounds.min}..{bounds.max}"
                )
        converted[tensor.name] = np.ascontiguousarray(value, dtype=held)
    return converted


def _bounds(graph: gs.Graph, tensor: gs.Tensor) -> str:
    """The range the narrowing guarantees: the rows of the tables the input indexes (what an index
    can validly be; Core AI's gather raises an error outside it), else all of si32."""
    rows = []
    for node, offset in indexings(tensor):
        axis = int(node.attrs.get("axis", 0))
        shape = node.inputs[0].shape
        count = shape[axis] if shape is not None and -len(shape) <= axis < len(shape) else None
        if not isinstance(count, int):
            continue
        if count > _INT32.max:
            raise ConversionError(
                f"input {tensor.name!r} indexes {count} rows of {node.inputs[0].name!r} (node {node.name!r}, "
                f"{node.op}), more than Core AI's int32 indices reach; split the table"
            )
        rows.append((count, offset, node.inputs[0].name))
    if not rows:
        return f"{_INT32.min}..{_INT32.max}: Core AI holds int64 as int32, and wider values cannot be fed"
    count, offset, table = min(rows)
    return (
        f"0..{count - 1 - offset}, the {count} rows of {table!r} it indexes (lower::index_narrow: Core AI "
        "gathers int32 indices; an id outside them is out of contract, and Apple's Linux runtime refuses it)"
    )


__all__ = ["InterfaceDtype", "coreai_dtype", "coreai_feeds", "interface_dtypes", "narrow_constant"]
