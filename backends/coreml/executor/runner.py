"""Walks a NeuralNetwork spec layer by layer, feeding blobs by name."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import numpy as np
from bridgec.backends.coreml.executor.errors import (
    ExecutorError,
    InputError,
    LayerError,
    UnsupportedLayerError,
)
from bridgec.backends.coreml.executor.neuralnetwork import LAYERS

# Classifiers are left out on purpose: their label / probability-dict outputs are made by Core ML
# after the network, not by any layer, and the executor does not model that step.
_NETWORK_KINDS = ("neuralNetwork", "neuralNetworkRegressor")


def load_spec(model: Any) -> Any:
    """Accept a path to a ``.mlmodel`` or an already-parsed ``Model_pb2.Model``."""
    if isinstance(model, (str, os.PathLike)):
        path = os.fspath(model)
        if os.path.isdir(path):
            raise ExecutorError(
                f"{path} is a directory (.mlpackage / ML Program); only .mlmodel is supported"
            )
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


def network_of(spec: Any) -> Any:
    kind = spec.WhichOneof("Type")
    if kind not in _NETWORK_KINDS:
        raise ExecutorError(
            f"model type {kind!r} is not a NeuralNetwork; the reference executor cannot run it"
        )
    return getattr(spec, kind)


def _shape_ok(shape: tuple[int, ...], feature: Any) -> tuple[bool, str]:
    """Does ``shape`` satisfy the multiarray description (fixed, enumerated or ranged)?"""
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


def _check_inputs(spec: Any, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    described = {f.name: f for f in spec.description.input}
    unknown = sorted(set(inputs) - set(described))
    if unknown:
        raise InputError(f"unknown input(s) {unknown}; the model's inputs are {sorted(described)}")
    blobs: dict[str, np.ndarray] = {}
    for name, feature in described.items():
        kind = feature.type.WhichOneof("Type")
        if kind != "multiArrayType":
            raise InputError(f"input {name!r} is of type {kind!r}; only multiarray inputs are supported")
        expected = tuple(int(d) for d in feature.type.multiArrayType.shape)
        if name not in inputs:
            raise InputError(f"missing input {name!r} (expected shape {expected})")
        arr = np.asarray(inputs[name], dtype=np.float32)
        ok, wanted = _shape_ok(arr.shape, feature)
        if not ok:
            raise InputError(f"input {name!r} has shape {arr.shape}, expected shape {wanted}")
        blobs[name] = arr
    return blobs


def _last_uses(layers: Any, keep: set[str]) -> dict[int, list[str]]:
    """For each layer index, the blobs that nothing after it reads (so they can be freed)."""
    last: dict[str, int] = {}
    for i, layer in enumerate(layers):
        for name in layer.input:
            last[name] = i
    frees: dict[int, list[str]] = {}
    for name, i in last.items():
        if name not in keep:
            frees.setdefault(i, []).append(name)
    return frees


def run(model: Any, inputs: Mapping[str, np.ndarray], intermediates: bool = False) -> dict[str, np.ndarray]:
    """Execute a Core ML NeuralNetwork model with numpy.

    ``model`` is a path to a ``.mlmodel`` or a ``Model_pb2.Model`` spec; ``inputs`` maps input
    names to arrays (converted to float32). Returns the model outputs by name, or, with
    ``intermediates=True``, every blob produced by a layer (outputs included), in layer order.
    """
    spec = load_spec(model)
    nn = network_of(spec)
    if len(nn.preprocessing):
        raise ExecutorError("image preprocessing is not supported by the reference executor")
    blobs = _check_inputs(spec, inputs)
    output_names = [f.name for f in spec.description.output]
    produced: dict[str, np.ndarray] = {}
    frees = {} if intermediates else _last_uses(nn.layers, set(output_names))

    for i, layer in enumerate(nn.layers):
        kind = layer.WhichOneof("layer")
        fn = LAYERS.get(kind)
        if fn is None:
            raise UnsupportedLayerError(layer.name, str(kind))
        missing = [n for n in layer.input if n not in blobs]
        if missing:
            raise LayerError(
                layer.name, kind, f"reads blob(s) {missing} that no earlier layer or input produced"
            )
        args = [blobs[n] for n in layer.input]
        try:
            outs = fn(layer, args)
        except ExecutorError:
            raise
        except (ValueError, IndexError, TypeError) as exc:
            shapes = [a.shape for a in args]
            raise LayerError(layer.name, kind, f"{exc} (input shapes {shapes})") from exc
        if len(outs) != len(layer.output):
            raise LayerError(layer.name, kind, f"produced {len(outs)} outputs for {len(layer.output)} names")
        for name, value in zip(layer.output, outs, strict=True):
            value = np.asarray(value, dtype=np.float32)
            blobs[name] = value
            if intermediates:
                produced[name] = value
        for name in frees.get(i, ()):
            blobs.pop(name, None)

    missing_out = [n for n in output_names if n not in blobs]
    if missing_out:
        raise ExecutorError(f"model output(s) {missing_out} were not produced by any layer")
    if intermediates:
        return produced
    return {n: blobs[n] for n in output_names}
