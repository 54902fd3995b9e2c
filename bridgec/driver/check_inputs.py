"""The inputs of the numbers check (``bridgec.driver.check``): the user's ``--check-input`` arrays or
seeded random data, as the source model and the Core ML model each take them (an image input is
pixels for Core ML and ``scale * pixel + bias`` for the source), and the source model's outputs on
them. Read when the model is loaded, so a bad input fails before the slow part."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import onnx_graphsurgeon as gs

from bridgec.core.errors import BridgecError, SourceUnrunnable, UsageError
from bridgec.core.input_values import random_value, value_ranges
from bridgec.core.tensor_spec import dtype_name
from bridgec.core.words import plural


def parse_check_inputs(values: list[str]) -> dict[str | None, np.ndarray]:
    """``--check-input NAME=FILE.npy`` (repeatable; ``FILE.npy`` alone for a one-input model), read now
    so that a missing or unreadable file fails before the slow part."""
    found: dict[str | None, np.ndarray] = {}
    for value in values:
        name, sep, file = value.partition("=")
        if not sep:
            name, file = None, value
        elif not name.strip() or not file:
            raise UsageError(f"--check-input {value!r}: expected NAME=FILE.npy")
        key = name.strip() if name is not None else None
        if key in found:
            raise UsageError(f"--check-input: {key or 'the input'} is given twice")
        found[key] = _numeric(value, _read_array(value, Path(file)))
    return found


def _numeric(label: str, array: np.ndarray) -> np.ndarray:
    if array.dtype.kind not in "fiub":
        raise UsageError(
            f"--check-input {label}: holds {array.dtype} values; the model's inputs take float, integer or "
            "bool arrays"
        )
    return array


def as_input_dtype(label: str, array: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """``array`` as the model's input of ``dtype`` takes it: floats for a float input (integers
    too), integers that fit for an integer input, bools for a bool input; ``label`` starts the error
    (``--check-input ids``)."""
    takes = {"f": "fiu", "i": "iu", "u": "iu", "b": "b"}[dtype.kind]
    if array.dtype.kind not in takes:
        kind = {"f": "float", "i": "integer", "u": "integer", "b": "bool"}[dtype.kind]
        raise UsageError(
            f"{label}: holds {dtype_name(array.dtype)} values, but the input is "
            f"{dtype_name(dtype)}; save {kind} values"
        )
    if dtype.kind in "iu" and array.size:
        bounds = np.iinfo(dtype)
        if array.min() < bounds.min or array.max() > bounds.max:
            raise UsageError(f"{label}: values beyond {dtype_name(dtype)}, the input's dtype")
    return np.ascontiguousarray(array, dtype=dtype)


def _read_array(label: str, path: Path) -> np.ndarray:
    from bridgec.core.input_files import read_npy

    return np.asarray(read_npy(path, f"--check-input {label}"))


def check_feeds(
    graph: gs.Graph,
    given: Mapping[str | None, np.ndarray | str | os.PathLike] | None,
    example: Mapping[str, np.ndarray],
    image: Any = None,
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], bool]:
    """(inputs for the source model, inputs for the Core ML model, whether the user gave any).

    ``given`` maps input names (None for a one-input model) to arrays or ``.npy`` paths; the other
    inputs take ``example`` (seeded random data). An image input (``--image-input``) is fed to Core ML
    as pixels (H x W x 3, or H x W for GRAY, 0..255) and to the source as ``scale * pixel + bias`` in
    the model's channel order, as Core ML's preprocessing hands it to the network."""
    if image is not None:
        # what cannot be an image fails here, before the feeds: the same one line the backend gives
        from bridgec.backends.coreml.image import plan_input

        plan_input(graph, image)
    names = [t.name for t in graph.inputs]
    shapes = {t.name: tuple(int(d) for d in t.shape) for t in graph.inputs}
    dtypes = {t.name: np.dtype(t.dtype if t.dtype is not None else np.float32) for t in graph.inputs}
    arrays: dict[str, np.ndarray] = {}
    for key, value in (given or {}).items():
        name = key
        if name is None:
            if len(names) != 1:
                raise UsageError(
                    f"--check-input {value}: the model has {plural(names, 'input')} ({', '.join(names)}); "
                    "name each as NAME=FILE.npy"
                )
            name = names[0]
        if name not in names:
            raise UsageError(
                f"--check-input {name}: not an input of the model (its inputs: {', '.join(names)})"
            )
        if isinstance(value, (str, os.PathLike)):
            array = _numeric(f"{name}={value}", _read_array(f"{name}={value}", Path(value)))
        else:
            array = _numeric(name, np.asarray(value))
        arrays[name] = array
    source_feeds, model_feeds = {}, {}
    image_name = getattr(image, "name", None)
    ranges = value_ranges(graph)
    rng = np.random.default_rng(0)
    for name in names:
        if name == image_name:
            pixels = arrays.get(name)
            if pixels is None:
                rng = np.random.default_rng(0)
                channels = 1 if image.color_layout == "GRAY" else 3
                h, w = shapes[name][-2:]
                pixels = rng.integers(0, 256, (h, w) if channels == 1 else (h, w, 3)).astype(np.float32)
            source_feeds[name], model_feeds[name] = _image_feeds(name, pixels, shapes[name], image)
            continue
        value = arrays.get(name)
        if value is None and name in ranges:
            # a PyTorch frontend traced with indices 0 and 1 (it runs before the graph exists): the
            # check draws them from the sizes of the tables they index (``value_ranges``)
            value = random_value(rng, shapes[name], dtypes[name], ranges[name])
        elif value is None:
            value = np.asarray(example[name])
        elif tuple(value.shape) != shapes[name]:
            raise UsageError(
                f"--check-input {name}: shape {tuple(value.shape)}, but the model's input {name} has shape "
                f"{shapes[name]}"
            )
        source_feeds[name] = model_feeds[name] = as_input_dtype(f"--check-input {name}", value, dtypes[name])
    return source_feeds, model_feeds, bool(arrays)


# Core ML's multiarray dtypes (FeatureTypes.proto ArrayDataType) by their enum names
_COREML_DTYPES = {"FLOAT32": np.float32, "FLOAT16": np.float16, "DOUBLE": np.float64, "INT32": np.int32}


def coreml_feeds(spec: Any, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """``feeds`` (the source model's dtypes) as the Core ML model ``spec`` declares its inputs: an
    int64 or bool input is an int32 multiarray there (``backends.coreml.inputs.interface_dtypes``
    says why that is safe). Image inputs are left as they are."""
    described = {f.name: f for f in spec.description.input}
    converted = {}
    for name, value in feeds.items():
        feature = described.get(name)
        if feature is None or feature.type.WhichOneof("Type") != "multiArrayType":
            converted[name] = value
            continue
        array = feature.type.multiArrayType
        dtype = np.dtype(_COREML_DTYPES.get(array.ArrayDataType.Name(array.dataType), np.float32))
        value = np.asarray(value)
        if dtype.kind == "i" and value.dtype.kind in "iu" and value.size:
            # int64 -> int32 narrows: the check draws indices within the tables they index (far inside
            # int32), and a --check-input beyond int32 is refused rather than wrapped around
            bounds = np.iinfo(dtype)
            if value.min() < bounds.min or value.max() > bounds.max:
                raise UsageError(
                    f"input {name}: values beyond {dtype_name(dtype)}, the dtype of the Core ML model's input; "
                    f"give values within {bounds.min}..{bounds.max}"
                )
        converted[name] = np.ascontiguousarray(value, dtype=dtype)
    return converted


def _image_feeds(
    name: str, pixels: np.ndarray, shape: tuple[int, ...], image: Any
) -> tuple[np.ndarray, np.ndarray]:
    gray = image.color_layout == "GRAY"
    h, w = shape[-2:]
    want = (h, w) if gray else (h, w, 3)
    pixels = np.asarray(pixels, dtype=np.float32)
    if gray and pixels.ndim == 3 and pixels.shape[-1] == 1:
        pixels = pixels[..., 0]
    if pixels.shape != want:
        raise UsageError(
            f"--check-input {name}: shape {pixels.shape}, but the image input {name} takes {want} pixels "
            f"({'H x W' if gray else 'H x W x 3, RGB'}, 0..255)"
        )
    # Core ML's NeuralNetworkImageScaler: channelScale * pixel + the bias of each channel (R, G, B
    # order in the proto, the channels in the model's color layout).
    chw = pixels[None] if gray else np.moveaxis(pixels, -1, 0)
    bias = np.asarray(image.bias, np.float32)
    if gray:
        bias = bias[:1].reshape(1, 1, 1)
    else:
        bias = np.broadcast_to(bias, (3,)).reshape(3, 1, 1)
        if image.color_layout == "BGR":
            chw, bias = chw[::-1], bias[::-1]
    network = (np.float32(image.scale) * chw + bias)[None].astype(np.float32)
    return network.reshape(shape), pixels


def image_output_notes(
    image_outputs: Sequence[Any], expected: Mapping[str, np.ndarray] | str | None
) -> list[str]:
    """What the check of an image output proves. It compares the 1xCxHxW tensor the model computes,
    as every output: Core ML then makes 8-bit pixels of it, and how it rounds is not documented
    (FeatureTypes.proto says only "8 bits per pixel"), so bridgec does not imitate that step. Values
    outside 0..255 are lost to it, which the note says when the source's output has them."""
    notes = []
    for output in image_outputs:
        values = expected.get(output.name) if isinstance(expected, Mapping) else None
        note = f"image output {output.name}: the tensor checked, before Core ML makes 8-bit pixels of it"
        if values is not None and np.size(values):
            low, high = float(np.min(values)), float(np.max(values))
            if high <= 1.0:
                note += f" (its values {low:.3g}..{high:.3g} make near-black pixels: scale it by 255 in the model)"
            elif low < 0 or high > 255:
                note += f" (its values {low:.3g}..{high:.3g} are clipped to 0..255)"
        notes.append(note)
    return notes


def source_outputs(
    run_source: Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]],
    feeds: dict[str, np.ndarray],
    reference: str,
    label: str | None = None,
    user_inputs: bool = False,
) -> dict[str, np.ndarray] | str:
    """The source model's outputs on ``feeds``, or why it cannot be run again (the check is then
    "not checked"). A source that fails on them is an error: an invalid .onnx file (exit 1), or a
    --check-input / shape the model does not take (exit 2)."""
    label = label or shape_label(feeds)
    try:
        return run_source(feeds)
    except SourceUnrunnable as exc:
        return f"{reference} cannot run the source model ({exc})"
    except (BridgecError, MemoryError):
        raise  # the source model itself fails (an invalid .onnx file), or this machine: nothing is written
    except Exception as exc:  # noqa: BLE001 - the user's model raising on the check input
        message = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        raise UsageError(
            f"{reference} fails on the model at {label}: {message}; nothing was written "
            f"({'give another --check-input, or ' if user_inputs else ''}--no-check converts it unchecked)"
        ) from None


def shape_label(feeds: Mapping[str, np.ndarray]) -> str:
    return ", ".join(f"{n}:{'x'.join(map(str, np.shape(v)))}" for n, v in feeds.items())
