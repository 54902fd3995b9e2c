"""Reader for the MIL blob-storage file (``weights/weight.bin``) that coremltools writes.

Layout (little-endian, every record 64-byte aligned), as written by coremltools' MILBlob writer:

* file header, 64 bytes: ``uint32 count``, ``uint32 version`` (2), reserved zeros;
* per blob, a 64-byte metadata record at the offset the proto's ``BlobFileValue.offset`` names:
  ``uint32 sentinel`` (0xDEADBEEF), ``uint32 blob dtype``, ``uint64 size in bytes``,
  ``uint64 data offset``, ``uint64 padding in bits`` (sub-byte types; version 2), reserved zeros;
* the raw data at ``data offset``.

The numpy dtype comes from the const's declared MIL type rather than the record's own dtype code,
because the proto type is what the op consumes and the codes differ between writer versions. The
record's byte size is still checked against the declared shape so a mismatch cannot go unnoticed.
"""

from __future__ import annotations

import math
import os
import struct

import numpy as np

_SENTINEL = 0xDEADBEEF
_HEADER = struct.Struct("<II")
_METADATA = struct.Struct("<IIQQQ")


class BlobFormatError(ValueError):
    """The weight file does not have the layout described above."""


class BlobFile:
    """One memory-mapped ``weight.bin``: blobs are read lazily by metadata offset."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        self._data = np.memmap(self.path, dtype=np.uint8, mode="r")
        if self._data.size < 64:
            raise BlobFormatError(f"{self.path}: {self._data.size} bytes is too short for a blob file header")
        self.count, self.version = _HEADER.unpack_from(self._data, 0)

    def record(self, offset: int) -> tuple[int, int, int]:
        """``(dtype code, size in bytes, data offset)`` of the blob whose metadata is at ``offset``."""
        if offset < 64 or offset + _METADATA.size > self._data.size:
            raise BlobFormatError(f"{self.path}: metadata offset {offset} is outside the file")
        sentinel, code, size, data_offset, _padding = _METADATA.unpack_from(self._data, offset)
        if sentinel != _SENTINEL:
            raise BlobFormatError(
                f"{self.path}: no blob metadata at offset {offset} (sentinel {sentinel:#x}); "
                "the model.mlmodel and weight.bin belong to different saves"
            )
        if data_offset + size > self._data.size:
            raise BlobFormatError(f"{self.path}: blob at {offset} runs past the end of the file")
        return code, size, data_offset

    def read(self, offset: int, dtype: np.dtype, shape: tuple[int, ...]) -> np.ndarray:
        """The blob at metadata ``offset`` as a read-only array of ``dtype`` and ``shape``."""
        _code, size, start = self.record(offset)
        count = math.prod(shape)
        dtype = np.dtype(dtype).newbyteorder("<")
        if size != count * dtype.itemsize:
            raise BlobFormatError(
                f"{self.path}: blob at {offset} holds {size} bytes, but {shape} x {dtype} needs "
                f"{count * dtype.itemsize}"
            )
        # A read-only view of the mapping: weights are not copied until an op needs them to be.
        raw = np.frombuffer(self._data, dtype=dtype, count=count, offset=start)
        return raw.astype(dtype.newbyteorder("="), copy=False).reshape(shape)

    def read_packed(self, offset: int, bits: int, signed: bool, shape: tuple[int, ...]) -> np.ndarray:
        """A sub-byte blob (int4/uint4/uint1..uint6): values are packed LSB-first, as MILBlob does."""
        _code, size, start = self.record(offset)
        count = math.prod(shape)
        if size * 8 < count * bits:
            raise BlobFormatError(f"{self.path}: blob at {offset} is too small for {count} {bits}-bit values")
        return unpack_bits(np.asarray(self._data[start : start + size]), bits, signed, count).reshape(shape)


def unpack_bits(data: np.ndarray, bits: int, signed: bool, count: int) -> np.ndarray:
    """Unpack ``count`` ``bits``-wide integers stored LSB-first in ``data`` (uint8)."""
    stream = np.unpackbits(np.asarray(data, dtype=np.uint8), bitorder="little")[: count * bits]
    weights = (1 << np.arange(bits)).astype(np.int32)
    values = stream.reshape(count, bits).astype(np.int32) @ weights
    if signed:
        values = np.where(values >= 1 << (bits - 1), values - (1 << bits), values)
    return values.astype(np.int8 if signed else np.uint8)


class BlobCache:
    """Opens each weight file once per run; ``@model_path`` resolves against the weights' parent."""

    def __init__(self, weights_dir: str | os.PathLike[str] | None) -> None:
        self.weights_dir = None if weights_dir is None else os.fspath(weights_dir)
        self._files: dict[str, BlobFile] = {}

    def file(self, file_name: str) -> BlobFile:
        if self.weights_dir is None:
            raise BlobFormatError(
                f"the model references {file_name!r} but no weights directory was given; "
                "pass a saved .mlpackage path, an MLModel, or a (spec, weights_dir) pair"
            )
        prefix = "@model_path/"
        if file_name.startswith(prefix):
            # "@model_path" is the directory holding model.mlmodel, i.e. weights_dir's parent.
            path = os.path.join(os.path.dirname(self.weights_dir.rstrip(os.sep)), file_name[len(prefix) :])
        else:
            path = os.path.join(self.weights_dir, os.path.basename(file_name))
        if path not in self._files:
            if not os.path.exists(path):
                raise BlobFormatError(f"weight file {path} (for {file_name!r}) does not exist")
            self._files[path] = BlobFile(path)
        return self._files[path]
