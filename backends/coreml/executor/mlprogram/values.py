"""Decoding of MIL.proto ``ValueType`` / ``Value`` messages into numpy dtypes and arrays."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from bridgec.backends.coreml.executor.mlprogram.blob import BlobCache

# MIL.proto DataType enum -> numpy dtype. Strings stay Python objects (op parameters only).
_DTYPES: dict[int, Any] = {
    1: np.bool_,
    2: np.object_,
    10: np.float16,
    11: np.float32,
    12: np.float64,
    21: np.int8,
    22: np.int16,
    23: np.int32,
    24: np.int64,
    31: np.uint8,
    32: np.uint16,
    33: np.uint32,
    34: np.uint64,
}
# Sub-byte integer types: (bits, signed).
_PACKED: dict[int, tuple[int, bool]] = {25: (4, True), 35: (4, False), 36: (2, False), 37: (1, False)}
_PACKED.update({38: (6, False), 39: (3, False)})
_NAMES = {1: "bool", 2: "string", 10: "fp16", 11: "fp32", 12: "fp64", 13: "bf16", 21: "int8", 22: "int16"}
_NAMES.update({23: "int32", 24: "int64", 25: "int4", 31: "uint8", 32: "uint16", 33: "uint32", 34: "uint64"})
_NAMES.update({35: "uint4", 36: "uint2", 37: "uint1", 38: "uint6", 39: "uint3", 40: "fp8e4m3", 41: "fp8e5m2"})

# The MIL dtype strings that ``cast`` and friends take.
DTYPE_BY_NAME: dict[str, Any] = {
    "fp16": np.float16,
    "fp32": np.float32,
    "fp64": np.float64,
    "int8": np.int8,
    "uint8": np.uint8,
    "int16": np.int16,
    "uint16": np.uint16,
    "int32": np.int32,
    "int64": np.int64,
    "bool": np.bool_,
}


def dtype_name(code: int) -> str:
    return _NAMES.get(code, f"dtype#{code}")


def tensor_dtype(code: int) -> np.dtype:
    if code in _PACKED:
        bits, signed = _PACKED[code]
        return np.dtype(np.int8 if signed else np.uint8)
    if code not in _DTYPES:
        raise ValueError(
            f"MIL data type {dtype_name(code)} has no numpy equivalent in the reference executor"
        )
    return np.dtype(_DTYPES[code])


def value_type(vt: Any) -> tuple[int, tuple[int, ...] | None]:
    """``(dtype code, static shape or None)`` of a ``ValueType`` that is a tensor."""
    kind = vt.WhichOneof("type")
    if kind != "tensorType":
        raise ValueError(f"value type {kind!r} (lists, tuples, dicts, states) is not supported")
    tt = vt.tensorType
    dims: list[int] = []
    for d in tt.dimensions:
        if d.WhichOneof("dimension") != "constant":
            return tt.dataType, None
        dims.append(int(d.constant.size))
    return tt.dataType, tuple(dims)


def _immediate(tv: Any, code: int, shape: tuple[int, ...]) -> np.ndarray:
    field = tv.WhichOneof("value")
    count = math.prod(shape)
    if field == "bytes":
        raw = tv.bytes.values
        if code in _PACKED:
            from bridgec.backends.coreml.executor.mlprogram.blob import unpack_bits

            bits, signed = _PACKED[code]
            return unpack_bits(np.frombuffer(raw, np.uint8), bits, signed, count).reshape(shape)
        dt = tensor_dtype(code).newbyteorder("<")
        return np.frombuffer(raw, dtype=dt)[:count].astype(dt.newbyteorder("="), copy=True).reshape(shape)
    if field == "strings":
        values = list(tv.strings.values)
        return (
            np.array(values[0], dtype=object) if not shape else np.array(values, dtype=object).reshape(shape)
        )
    if field is None:
        if count:
            raise ValueError(f"immediate value of shape {shape} holds no data")
        return np.zeros(shape, dtype=tensor_dtype(code))
    values = getattr(tv, field).values
    return np.asarray(list(values), dtype=tensor_dtype(code)).reshape(shape)


def is_tensor(vt: Any) -> bool:
    """Whether a ``ValueType`` is a tensor (the rest: lists, dictionaries, tuples, states)."""
    return vt.WhichOneof("type") == "tensorType"


def decode_value(value: Any, blobs: BlobCache) -> np.ndarray | list:
    """A ``Value`` (immediate or blob-file) as a numpy array of its declared dtype and shape; an
    immediate list (``classify``'s ``classes``) as a Python list of its elements' values."""
    if value.type.WhichOneof("type") == "listType" and value.immediateValue.WhichOneof("value") == "list":
        return [decode_value(element, blobs) for element in value.immediateValue.list.values]
    code, shape = value_type(value.type)
    if shape is None:
        raise ValueError("a constant must have a static shape")
    kind = value.WhichOneof("value")
    if kind == "immediateValue":
        if value.immediateValue.WhichOneof("value") != "tensor":
            raise ValueError("only tensor immediate values are supported (not lists or tuples)")
        return _immediate(value.immediateValue.tensor, code, shape)
    if kind == "blobFileValue":
        blob = value.blobFileValue
        f = blobs.file(blob.fileName)
        if code in _PACKED:
            bits, signed = _PACKED[code]
            return f.read_packed(int(blob.offset), bits, signed, shape)
        return f.read(int(blob.offset), tensor_dtype(code), shape)
    raise ValueError(f"value of kind {kind!r} has no data")
