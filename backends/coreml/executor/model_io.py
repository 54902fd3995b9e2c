"""A Core ML model's outside, shared by the NeuralNetwork and ML Program executors: reading its spec
from disk (``.mlmodel`` file or ``.mlpackage`` folder) and whether an input's shape fits the model
description. Neither executor imports the other for these, so the dispatch in ``runner.run`` is the
only link between them."""

from __future__ import annotations

import json
import os
from typing import Any

import numpy as np

from bridgec.backends.coreml.executor.errors import ExecutorError, InputError


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


def image_tensor(name: str, feature: Any, pixels: Any) -> np.ndarray:
    """An image input's pixels as the model receives them: a float32 [1, C, H, W] tensor, the channels
    in the feature's color space, values 0..255 as the pixel buffer holds them.

    The feed is what an app decodes: H x W x 3 pixels in R, G, B order (0..255), or H x W for a
    grayscale image. FeatureTypes.proto's ImageFeatureType: GRAYSCALE is 8 bits per pixel, RGB is
    RGBA and BGR is BGRA with the A channel ignored, GRAYSCALE_FLOAT16 a 16-bit float per pixel; and
    NeuralNetwork.proto's NeuralNetworkImageScaler takes "an image in BGR or RGB format with shape
    [3, H, W]" whose channel 0 is blue for BGR. An ML Program gets the same tensor as its input
    (coremltools' "Image Input and Output" guide: the scale and bias are ops of the program), a
    NeuralNetwork scales it with its preprocessing first. GRAYSCALE_FLOAT16 (iOS16) holds float16
    values, so the tensor is rounded to float16."""
    image = feature.type.imageType
    space = image.ColorSpace.Name(image.colorSpace)
    x = np.asarray(pixels, dtype=np.float32)
    gray = space.startswith("GRAYSCALE")
    if gray and x.ndim == 3 and x.shape[-1] == 1:
        x = x[..., 0]
    want = (int(image.height), int(image.width)) + (() if gray else (3,))
    if x.shape != want:
        raise InputError(f"image input {name!r} has shape {x.shape}, expected {want} ({space} pixels)")
    if space == "GRAYSCALE_FLOAT16":
        return x.astype(np.float16).astype(np.float32)[None, None]
    if gray:
        return x[None, None]
    chw = np.moveaxis(x, -1, 0)
    return np.ascontiguousarray(chw[::-1] if space == "BGR" else chw)[None]


__all__ = ["image_tensor", "load_spec", "read_mlpackage", "shape_ok"]
