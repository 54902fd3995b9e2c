"""The view of one MIL operation that op implementations receive, and helpers they share."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bridgec.backends.coreml.executor.errors import LayerError
from bridgec.backends.coreml.executor.mlprogram.values import DTYPE_BY_NAME

_MISSING = object()


@dataclass
class Op:
    """One operation with its inputs resolved to arrays.

    ``inputs`` maps each parameter name to an array, or to a tuple of arrays for variadic
    parameters (``concat``'s ``values``). ``out_dtypes`` / ``out_shapes`` are the declared types of
    the outputs (shape ``None`` when symbolic); the runner casts results to ``out_dtypes``.
    """

    type: str
    name: str
    inputs: dict[str, Any]
    out_dtypes: list[np.dtype] = field(default_factory=list)
    out_shapes: list[tuple[int, ...] | None] = field(default_factory=list)

    def error(self, detail: str) -> LayerError:
        return LayerError(self.name, self.type, detail)

    def __getitem__(self, key: str) -> Any:
        if key not in self.inputs:
            raise self.error(f"missing required input {key!r}")
        return self.inputs[key]

    def __contains__(self, key: str) -> bool:
        return key in self.inputs

    def get(self, key: str, default: Any = None) -> Any:
        return self.inputs.get(key, default)

    def int(self, key: str, default: Any = _MISSING) -> int:
        return int(self._scalar(key, default))

    def float(self, key: str, default: Any = _MISSING) -> float:
        return float(self._scalar(key, default))

    def bool(self, key: str, default: Any = _MISSING) -> bool:
        return bool(self._scalar(key, default))

    def str(self, key: str, default: Any = _MISSING) -> str:
        return str(self._scalar(key, default))

    def ints(self, key: str, default: Any = _MISSING) -> list[int]:
        if key not in self.inputs:
            if default is _MISSING:
                raise self.error(f"missing required input {key!r}")
            return list(default)
        return [int(v) for v in np.asarray(self.inputs[key]).reshape(-1)]

    def dtype(self, key: str, default: Any = _MISSING) -> np.dtype:
        """A MIL dtype-string parameter (``"fp16"``, ``"int32"``...) as a numpy dtype."""
        name = self.str(key, default)
        if name not in DTYPE_BY_NAME:
            raise self.error(f"{key}={name!r} is not a dtype the reference executor knows")
        return np.dtype(DTYPE_BY_NAME[name])

    def _scalar(self, key: str, default: Any) -> Any:
        if key not in self.inputs:
            if default is _MISSING:
                raise self.error(f"missing required input {key!r}")
            return default
        value = np.asarray(self.inputs[key])
        if value.size != 1:
            raise self.error(f"input {key!r} must be a scalar, got shape {value.shape}")
        return value.reshape(()).item()

    def axis(self, key: str, rank: int, default: Any = _MISSING) -> int:
        a = self.int(key, default)
        if not -rank <= a < max(rank, 1):
            raise self.error(f"{key}={a} is out of range for rank {rank}")
        return a % max(rank, 1)


# An op implementation returns one array per declared output (a bare array for one output).
OpFn = Callable[[Op], "np.ndarray | Sequence[np.ndarray]"]


def accumulate_dtype(*arrays: np.ndarray) -> np.dtype:
    """The dtype a reduction-heavy op (conv, matmul) accumulates in.

    fp16 programs keep fp16 storage between ops (the runner rounds every result to the declared
    dtype), but Core ML's GPU and Neural Engine accumulate dot products wider than fp16; numpy's
    own fp16 matmul would both be far slower and accumulate in fp16, overstating the error.
    """
    return np.result_type(np.float32, *[a.dtype for a in arrays if a.dtype.kind == "f"])
