"""A Core ML model's outside, shared by the NeuralNetwork and ML Program executors: reading its spec
from disk (``.mlmodel`` file or ``.mlpackage`` folder) and whether an input's shape fits the model
description. Neither executor imports the other for these, so the dispatch in ``runner.run`` is the
only link between them."""

from __future__ import annotations

import json
import os
from typing import Any

from bridgec.backends.coreml.executor.errors import ExecutorError


def read_mlpackage(path: str | os.PathLike[str]) -> tuple[Any, str]:
    """``(spec, weights_dir)`` of a saved ``.mlpackage`` directory, found through its Manifest.json."""
    path = os.fspath(path)
    data = os.path.join(path, "Data")
    model_file = os.path.join(data, "com.apple.CoreML", "model.mlmodel")
    manifest = os.path.join(path, "Manifest.json")
    if os.path.exists(manifest):
        with open(manifest) as f:
            info = json.load(f)
        root = info.get("itemInfoEntries", {}).get(info.get("rootModelIdentifier", ""), {})
        if "path" in root:
            model_file = os.path.join(data, root["path"])
    if not os.path.exists(model_file):
        raise ExecutorError(f"{path} is a directory but not an .mlpackage: {model_file} does not exist")
    from bridgec.backends.coreml import _coremltools

    spec = _coremltools.load().proto.Model_pb2.Model()
    with open(model_file, "rb") as f:
        spec.ParseFromString(f.read())
    return spec, os.path.join(os.path.dirname(model_file), "weights")


def load_spec(model: Any) -> Any:
    """Accept a path to a ``.mlmodel`` or ``.mlpackage`` directory, or an already-parsed
    ``Model_pb2.Model``."""
    if isinstance(model, (str, os.PathLike)):
        path = os.fspath(model)
        if os.path.isdir(path):
            return read_mlpackage(path)[0]
        from bridgec.backends.coreml import _coremltools

        spec = _coremltools.load().proto.Model_pb2.Model()
        with open(path, "rb") as f:
            spec.ParseFromString(f.read())
        return spec
    if hasattr(model, "WhichOneof") and hasattr(model, "description"):
        return model
    if hasattr(model, "get_spec"):  # coremltools.models.MLModel
        return model.get_spec()
    raise TypeError(f"model must be a path or a Model_pb2.Model spec, got {type(model).__name__}")


def shape_ok(shape: tuple[int, ...], feature: Any) -> tuple[bool, str]:
    """Does ``shape`` satisfy the multiarray description (fixed, enumerated or ranged)? Also the
    expected shape(s), for the message when it does not."""
    arr = feature.type.multiArrayType
    fixed = tuple(int(d) for d in arr.shape)
    flex = arr.WhichOneof("ShapeFlexibility")
    if flex == "enumeratedShapes":
        options = [tuple(int(d) for d in s.shape) for s in arr.enumeratedShapes.shapes]
        return shape in options, " or ".join(str(o) for o in options)
    if flex == "shapeRange":
        ranges = [(int(r.lowerBound), int(r.upperBound)) for r in arr.shapeRange.sizeRanges]
        ok = len(shape) == len(ranges) and all(
            lo <= n and (hi < 0 or n <= hi) for n, (lo, hi) in zip(shape, ranges, strict=True)
        )
        return ok, str(ranges)
    return shape == fixed, str(fixed)


__all__ = ["load_spec", "read_mlpackage", "shape_ok"]
