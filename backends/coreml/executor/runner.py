"""Walks a NeuralNetwork spec layer by layer, feeding blobs by name."""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from typing import Any

import numpy as np

from bridgec.backends.coreml.executor.errors import (
    ExecutorError,
    InputError,
    LayerError,
    UnsupportedLayerError,
)
from bridgec.backends.coreml.executor.model_io import image_tensor, load_spec, shape_ok
from bridgec.backends.coreml.executor.neuralnetwork import LAYERS
from bridgec.core.words import noun, plural

# A classifier's probability dict and label are made by Core ML after the network: the executor
# returns them as the app gets them, a dict label -> probability and a 0-d array of the top label.
_NETWORK_KINDS = ("neuralNetwork", "neuralNetworkRegressor", "neuralNetworkClassifier")


def network_of(spec: Any) -> Any:
    kind = spec.WhichOneof("Type")
    if kind not in _NETWORK_KINDS:
        raise ExecutorError(
            f"model type {kind!r} is not a NeuralNetwork; the reference executor cannot run it"
        )
    return getattr(spec, kind)


def _image_blob(name: str, feature: Any, pixels: np.ndarray, scaler: Any) -> np.ndarray:
    """An image input as the network sees it: the pixels as [1, C, H, W] in the model's color layout
    (``model_io.image_tensor``), then ``channelScale * pixel + bias`` per channel
    (NeuralNetworkImageScaler, whose biases are named by color, so BGR's channel 0 takes blueBias)."""
    x = image_tensor(name, feature, pixels)[0]
    space = feature.type.imageType.ColorSpace.Name(feature.type.imageType.colorSpace)
    scale = np.float32(scaler.channelScale if scaler is not None and scaler.channelScale else 1.0)
    if scaler is None:
        bias = np.zeros((x.shape[0], 1, 1), np.float32)
    elif space.startswith("GRAYSCALE"):
        bias = np.full((1, 1, 1), scaler.grayBias, np.float32)
    else:
        rgb = {"R": scaler.redBias, "G": scaler.greenBias, "B": scaler.blueBias}
        bias = np.array([rgb[c] for c in space], np.float32).reshape(3, 1, 1)
    return (scale * x + bias)[None].astype(np.float32)


def _check_inputs(
    spec: Any, inputs: Mapping[str, np.ndarray], preprocessing: dict[str, Any] | None = None
) -> dict[str, np.ndarray]:
    preprocessing = preprocessing or {}
    described = {f.name: f for f in spec.description.input}
    unknown = sorted(set(inputs) - set(described))
    if unknown:
        raise InputError(
            f"unknown {noun(unknown, 'input')} {unknown}; the model's inputs are {sorted(described)}"
        )
    blobs: dict[str, np.ndarray] = {}
    for name, feature in described.items():
        kind = feature.type.WhichOneof("Type")
        if kind == "imageType":
            if name not in inputs:
                raise InputError(f"missing image input {name!r}")
            blobs[name] = _image_blob(name, feature, inputs[name], preprocessing.get(name))
            continue
        if kind != "multiArrayType":
            raise InputError(
                f"input {name!r} is of type {kind!r}; only multiarray and image inputs are supported"
            )
        expected = tuple(int(d) for d in feature.type.multiArrayType.shape)
        if name not in inputs:
            raise InputError(f"missing input {name!r} (expected shape {expected})")
        # An INT32 multiarray is converted to float32 for the layers, whose blobs are all float
        # (exact for |v| <= 2**24, backends/coreml/inputs.py's EXACT_INT_LIMIT).
        arr = np.asarray(inputs[name], dtype=np.float32)
        ok, wanted = shape_ok(arr.shape, feature)
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


def run(
    model: Any,
    inputs: Mapping[str, np.ndarray],
    intermediates: bool = False,
    state: MutableMapping[str, np.ndarray] | None = None,
) -> dict[str, np.ndarray]:
    """Execute a Core ML NeuralNetwork model with numpy (ML Program models go to ``run_mlprogram``).

    ``model`` is a path to a ``.mlmodel`` / ``.mlpackage``, a ``Model_pb2.Model`` spec, an
    ``MLModel``, or a ``(spec, weights_dir)`` pair for ML Programs; ``inputs`` maps input
    names to arrays (converted to float32). Returns the model outputs by name, or, with
    ``intermediates=True``, every blob produced by a layer (outputs included), in layer order.
    ``state``: a stateful ML Program's state, read and written in place (``run_mlprogram``).
    """
    if isinstance(model, tuple) and len(model) == 2:  # (spec, weights_dir): an ML Program
        from bridgec.backends.coreml.executor.mlprogram import run_mlprogram

        return run_mlprogram(model, inputs, intermediates, state)
    spec = load_spec(model)
    if spec.WhichOneof("Type") == "mlProgram":
        from bridgec.backends.coreml.executor.mlprogram import run_mlprogram

        # Pass the original model along: its path or MLModel also locates the weights directory.
        return run_mlprogram(model, inputs, intermediates, state)
    nn = network_of(spec)
    scalers = {}
    for entry in nn.preprocessing:
        if entry.WhichOneof("preprocessor") != "scaler":
            raise ExecutorError(f"image preprocessing {entry.WhichOneof('preprocessor')!r} is not supported")
        scalers[entry.featureName] = entry.scaler
    blobs = _check_inputs(spec, inputs, scalers)
    label_name = (
        spec.description.predictedFeatureName if spec.WhichOneof("Type") == "neuralNetworkClassifier" else ""
    )
    output_names = [f.name for f in spec.description.output if f.name != label_name]
    described = {f.name: f for f in spec.description.output}
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
                layer.name,
                kind,
                f"reads {noun(missing, 'blob')} {missing} that no earlier layer or input produced",
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
            raise LayerError(
                layer.name, kind, f"produced {plural(outs, 'output')} for {plural(layer.output, 'name')}"
            )
        for name, value in zip(layer.output, outs, strict=True):
            value = np.asarray(value, dtype=np.float32)
            blobs[name] = value
            if intermediates:
                produced[name] = value
        for name in frees.get(i, ()):
            blobs.pop(name, None)

    missing_out = [n for n in output_names if n not in blobs]
    if missing_out:
        raise ExecutorError(
            f"model {noun(missing_out, 'output')} {missing_out} {noun(missing_out, 'was', 'were')} not produced by any layer"
        )
    if intermediates:
        return produced
    result = {n: _as_output(blobs[n], described[n]) for n in output_names}
    if label_name:
        # NeuralNetworkClassifier (NeuralNetwork.proto): the class labels name the probability blob's
        # elements in order; Core ML gives the app that blob as a dictionary label -> probability
        # and the label of the largest as the predicted feature (the first on a tie, as argmax).
        probabilities_name = spec.description.predictedProbabilitiesName or output_names[0]
        probabilities = blobs[probabilities_name].reshape(-1)
        labels = _class_labels(nn)
        if len(labels) != probabilities.size:
            raise ExecutorError(
                f"classifier with {plural(labels, 'class label')} for {probabilities.size} probabilities"
            )
        result[probabilities_name] = {
            label: float(p) for label, p in zip(labels, probabilities.astype(np.float64), strict=True)
        }
        top = labels[int(np.argmax(probabilities))]
        result[label_name] = np.array(top, dtype=np.int64 if isinstance(top, int) else object)
    return result


def _as_output(blob: np.ndarray, feature: Any) -> np.ndarray:
    """A blob as its output feature holds it. The layers compute in float (an INT32 input reaches
    them as float32, see ``_check_inputs``); an INT32 output multiarray holds the blob's values as
    int32, converted like C's float -> int cast (toward zero), which is exact for the whole numbers
    an integer-typed model computes."""
    arrays = feature.type.multiArrayType
    if feature.type.WhichOneof("Type") == "multiArrayType" and arrays.dataType == arrays.INT32:
        return np.trunc(blob).astype(np.int32)
    return blob


def _class_labels(nn: Any) -> list:
    kind = nn.WhichOneof("ClassLabels")
    if kind is None:
        raise ExecutorError("classifier without class labels")
    return list(getattr(nn, kind).vector)
