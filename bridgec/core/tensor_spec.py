"""What a caller says about a model input: its shape and, optionally, its dtype.

``--input ids:1x16:int64`` on the command line and ``inputs={"ids": TensorSpec((1, 16), "int64")}``
in Python are the same request; a bare shape (``{"x": (1, 3, 224, 224)}``) leaves the dtype to what
the model records (a ``.pt2``'s example inputs, an ``.onnx`` file's input types), else float32.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from bridgec.core.errors import UsageError

# The dtype names ``--input`` takes: torch's short names and numpy's for the two floats.
DTYPES: dict[str, np.dtype] = {
    "fp32": np.dtype(np.float32),
    "float32": np.dtype(np.float32),
    "fp16": np.dtype(np.float16),
    "float16": np.dtype(np.float16),
    "int32": np.dtype(np.int32),
    "int64": np.dtype(np.int64),
    "bool": np.dtype(np.bool_),
}
DTYPE_CHOICES = "fp32 (float32), fp16 (float16), int32, int64 or bool"


def parse_dtype(text: str, label: str) -> np.dtype:
    """The numpy dtype a ``--input`` dtype name stands for; ``label`` names the spec in the error."""
    found = DTYPES.get(text.strip().lower())
    if found is None:
        raise UsageError(f"{label}: unknown dtype {text.strip()!r}; choose {DTYPE_CHOICES}")
    return found


def dtype_name(dtype: np.dtype | type) -> str:
    """How messages and reports name a dtype: numpy's name (``int64``, ``float32``, ``bool``)."""
    dtype = np.dtype(dtype)
    return "bool" if dtype == np.bool_ else dtype.name


@dataclass(frozen=True)
class TensorSpec:
    """An input's ``shape`` and, when the caller fixes it, its ``dtype`` (a name of ``DTYPES`` or a
    numpy dtype; None: what the model records, else float32)."""

    shape: tuple[int, ...]
    dtype: np.dtype | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "shape", tuple(int(d) for d in self.shape))
        if self.dtype is not None and not isinstance(self.dtype, np.dtype):
            dtype = self.dtype
            if isinstance(dtype, str):
                dtype = parse_dtype(dtype, f"TensorSpec(dtype={dtype!r})")
            object.__setattr__(self, "dtype", np.dtype(dtype))
        if self.dtype is not None and self.dtype not in DTYPES.values():
            raise UsageError(f"TensorSpec(dtype={dtype_name(self.dtype)!r}): choose {DTYPE_CHOICES}")

    @classmethod
    def of(cls, value: object) -> TensorSpec:
        """A ``TensorSpec``, a shape ``(1, 3, 224, 224)`` or a pair ``((1, 16), "int64")``."""
        if isinstance(value, TensorSpec):
            return value
        if (
            isinstance(value, tuple)
            and len(value) == 2
            and isinstance(value[0], (tuple, list))
            and isinstance(value[1], (str, np.dtype, type))
        ):
            return cls(tuple(value[0]), value[1])
        try:
            return cls(tuple(value))
        except (TypeError, ValueError):
            raise UsageError(
                f"input spec {value!r}: give a shape such as (1, 3, 224, 224), a pair ((1, 16), 'int64') "
                "or a bridgec.TensorSpec"
            ) from None

    def with_shape(self, shape: tuple[int, ...]) -> TensorSpec:
        return TensorSpec(shape, self.dtype)


def split_specs(
    inputs: Mapping | None,
) -> tuple[dict[str | None, tuple[int, ...]], dict[str | None, np.dtype]]:
    """``inputs`` (name, or None for a one-input model -> shape, pair or ``TensorSpec``) as the
    shapes by name and the dtypes the caller fixed by name."""
    specs = {name: TensorSpec.of(value) for name, value in (inputs or {}).items()}
    shapes = {name: spec.shape for name, spec in specs.items()}
    dtypes = {name: spec.dtype for name, spec in specs.items() if spec.dtype is not None}
    return shapes, dtypes


__all__ = ["DTYPES", "DTYPE_CHOICES", "TensorSpec", "dtype_name", "parse_dtype", "split_specs"]
