"""Which values an integer input takes, read from the graph, and seeded random inputs of them.

A random float is a fair test of a float input; a random integer is not: a token id beyond the
embedding table makes PyTorch raise (and Core ML read out of bounds), and a constant 0 proves little.
``value_ranges`` follows each integer input through the ops that move its values without changing
them to the ``Gather`` nodes it indexes: a constant table of R rows means values in [0, R). Other
integers (attention masks, token type ids that index nothing constant) take 0 and 1, bools True and
False. ``random_inputs`` draws the check's inputs from those ranges.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import onnx_graphsurgeon as gs

from bridgec.core import ir
from bridgec.core.numerics import standard_normal

# Ops whose first output holds the values of their first input, moved or repeated, not changed.
_SAME_VALUES = {
    "Cast",
    "Identity",
    "Reshape",
    "Unsqueeze",
    "Squeeze",
    "Flatten",
    "Expand",
    "Slice",
    "Transpose",
    "Tile",
}
_INDEX_INPUT = {"Gather": 1, "GatherElements": 1}  # op -> the input that holds the indices
_SHIFTS = {"Add": 1, "Sub": -1}  # x + c and x - c: the indices are the input's values shifted by c


@dataclass(frozen=True)
class ValueRange:
    """The values [low, high) an integer input is fed; ``rows``: the rows of the smallest constant
    table it indexes (None when it indexes none)."""

    low: int
    high: int
    rows: int | None = None

    def describe(self) -> str:
        if self.rows is None:
            return f"indexes no constant table: fed {self.low}..{self.high - 1}"
        return f"indexes an embedding of {self.rows} rows"


MASK_RANGE = ValueRange(0, 2)  # masks and token type ids: the two values every model takes


def _constant_scalar(tensor: gs.Tensor) -> int | None:
    value = ir.constant_value(tensor)
    if value is None or value.size != 1 or value.dtype.kind not in "iu":
        return None
    return int(value.reshape(()))


def _table_rows(node: gs.Node) -> int | None:
    """The rows of ``node``'s constant data along its gather axis, or None when it is computed."""
    data = node.inputs[0]
    if not isinstance(data, gs.Constant) and not (len(data.inputs) == 1 and data.inputs[0].op == "Constant"):
        return None
    shape = data.shape if data.shape is not None else np.shape(ir.constant_value(data))
    axis = int(node.attrs.get("axis", 0))
    if not shape or not -len(shape) <= axis < len(shape) or not isinstance(shape[axis], int):
        return None
    return int(shape[axis])


def indexings(tensor: gs.Tensor) -> list[tuple[gs.Node, int]]:
    """Each Gather/GatherElements node whose indices are ``tensor``'s values plus a constant offset
    (moved through ``_SAME_VALUES`` ops and shifted by ``_SHIFTS``), with that offset. The one walk
    from an integer input to the tables it indexes: the check's input values and the backends'
    refusal of a table their integers cannot reach both read it."""
    found: list[tuple[gs.Node, int]] = []
    todo: list[tuple[gs.Tensor, int]] = [(tensor, 0)]  # (a tensor holding input + offset, offset)
    seen: set[tuple[int, int]] = set()
    while todo:
        value, offset = todo.pop()
        if (id(value), offset) in seen:
            continue
        seen.add((id(value), offset))
        for node in value.outputs:
            if not node.inputs or not node.outputs:
                continue
            position = _INDEX_INPUT.get(node.op)
            if position is not None and len(node.inputs) > position and node.inputs[position] is value:
                found.append((node, offset))
            elif node.op in _SAME_VALUES and node.inputs[0] is value:
                todo.append((node.outputs[0], offset))
            elif node.op in _SHIFTS and len(node.inputs) == 2:
                other = node.inputs[1] if node.inputs[0] is value else node.inputs[0]
                shift = _constant_scalar(other)
                if shift is not None and (node.op == "Add" or node.inputs[0] is value):
                    todo.append((node.outputs[0], offset + _SHIFTS[node.op] * shift))
    return found


def index_range(tensor: gs.Tensor) -> ValueRange:
    """The values ``tensor`` (an integer graph input) may take so that every constant table it indexes
    (``indexings``) is indexed within bounds."""
    low, high, rows = 0, None, None
    for node, offset in indexings(tensor):
        table = _table_rows(node)
        if table is not None:
            # value + offset in [0, table) <=> value in [-offset, table - offset)
            low = max(low, -offset)
            high = table - offset if high is None else min(high, table - offset)
            rows = table if rows is None else min(rows, table)
    if high is None or high <= low:
        return MASK_RANGE
    return ValueRange(low, high, rows)


def value_ranges(graph: gs.Graph) -> dict[str, ValueRange]:
    """``index_range`` of each integer or bool input of ``graph`` (bools: 0 and 1)."""
    found = {}
    for tensor in graph.inputs:
        kind = np.dtype(tensor.dtype).kind if tensor.dtype is not None else "f"
        if kind == "b":
            found[tensor.name] = MASK_RANGE
        elif kind in "iu":
            found[tensor.name] = index_range(tensor)
    return found


def random_value(
    rng: np.random.Generator, shape: tuple[int, ...], dtype: np.dtype, values: ValueRange = MASK_RANGE
) -> np.ndarray:
    """Seeded random data of ``dtype``: standard normal floats (the same numbers whatever the float
    width), integers uniform in ``values``, bools True or False."""
    dtype = np.dtype(dtype)
    if dtype.kind == "f":
        array = standard_normal(rng, shape)
        return array if dtype == np.float32 else array.astype(dtype)
    if dtype.kind == "b":
        return rng.integers(0, 2, shape).astype(np.bool_)
    return rng.integers(values.low, values.high, shape, dtype=dtype)


def random_inputs(graph: gs.Graph, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """A seeded random value for each input of ``graph`` (static shapes), in the input's dtype."""
    ranges = value_ranges(graph)
    return {
        t.name: random_value(
            rng,
            tuple(t.shape),
            t.dtype if t.dtype is not None else np.float32,
            ranges.get(t.name, MASK_RANGE),
        )
        for t in graph.inputs
    }


__all__ = [
    "MASK_RANGE",
    "ValueRange",
    "index_range",
    "indexings",
    "random_inputs",
    "random_value",
    "value_ranges",
]
