"""Decoding of ``WeightParams`` into numpy arrays."""

from __future__ import annotations

from typing import Any

import numpy as np


def weight_array(
    params: Any, shape: tuple[int, ...] | None = None, what: str = "weights", channel_axis: int = 0
) -> np.ndarray:
    """Return the values of a ``WeightParams`` message as float32, optionally reshaped.

    Float storage (``floatValue``, ``float16Value``) and quantized storage (``rawValue`` with
    ``quantization``) are decoded. ``channel_axis``: the axis of ``shape`` that holds the output
    channels a linear quantization's per-channel scale and bias follow (1 for a deconvolution).
    """
    if len(params.floatValue):
        arr = np.asarray(params.floatValue, dtype=np.float32)
    elif len(params.float16Value):
        # Core ML stores half floats little-endian regardless of host.
        arr = np.frombuffer(params.float16Value, dtype="<f2").astype(np.float32)
    elif params.HasField("quantization") and len(params.rawValue):
        count = int(np.prod(shape)) if shape is not None else None
        arr = _dequantized(params, count, shape, channel_axis, what)
    elif len(params.rawValue) or params.HasField("quantization") or len(params.int8RawValue):
        raise ValueError(f"{what}: raw weights without their quantization parameters cannot be decoded")
    else:
        arr = np.zeros(0, dtype=np.float32)
    if shape is not None:
        expected = int(np.prod(shape)) if len(shape) else 1
        if arr.size != expected:
            raise ValueError(f"{what}: expected {expected} values for shape {tuple(shape)}, found {arr.size}")
        arr = arr.reshape(shape)
    return arr


def _dequantized(
    params: Any, count: int | None, shape: tuple[int, ...] | None, channel_axis: int, what: str
) -> np.ndarray:
    """NeuralNetwork.proto, ``WeightParams.rawValue``: "interpreted as uintN, where N is the number of
    bits in quantization" (``QuantizationParams.numberOfBits``). The proto does not say how values
    below 8 bits share a byte; Apple's coremltools (quantization_utils,
    ``_convert_array_to_nbit_quantized_bytes``) writes them most significant bit first, one value
    after another, which is what is read here.

    ``LinearQuantizationParams``: "W_unquantized = W_quantized * scale + bias", scale and bias "an
    array of 1 element, or an array of C elements, where C is number of output channels".
    ``LookUpTableQuantizationParams``: the LUT "must be an array of (2^numberOfBits) elements"."""
    q = params.quantization
    bits = int(q.numberOfBits)
    if not 1 <= bits <= 8:
        raise ValueError(f"{what}: quantization.numberOfBits {bits} is not 1 to 8")
    raw = np.frombuffer(params.rawValue, dtype=np.uint8)
    count = raw.size * 8 // bits if count is None else count
    if raw.size * 8 < count * bits:
        raise ValueError(f"{what}: rawValue holds {raw.size} bytes, {count} values of {bits} bits need more")
    if bits == 8:
        values = raw[:count].astype(np.int64)
    else:
        digits = np.unpackbits(raw)[: count * bits].reshape(count, bits).astype(np.int64)
        values = digits @ (1 << np.arange(bits - 1, -1, -1))
    kind = q.WhichOneof("QuantizationType")
    if kind == "lookupTableQuantization":
        lut = np.asarray(q.lookupTableQuantization.floatValue, dtype=np.float32)
        if lut.size != 1 << bits:
            raise ValueError(f"{what}: the LUT has {lut.size} values, {bits}-bit indices need {1 << bits}")
        return lut[values]
    if kind != "linearQuantization":
        raise ValueError(f"{what}: quantized weights without linear or lookup-table parameters")
    scale = np.asarray(q.linearQuantization.scale, dtype=np.float32)
    bias = np.asarray(q.linearQuantization.bias, dtype=np.float32)
    bias = bias if bias.size else np.zeros(1, np.float32)
    channels = shape[channel_axis] if shape else count
    along = [1] * (len(shape) if shape else 1)
    along[channel_axis if shape else 0] = channels
    out = values.astype(np.float32).reshape(shape if shape else (count,))
    for name, v in (("scale", scale), ("bias", bias)):
        if v.size not in (1, channels):
            raise ValueError(f"{what}: linear quantization {name} has {v.size} values, need 1 or {channels}")
    out = out * (scale if scale.size == 1 else scale.reshape(along)) + (
        bias if bias.size == 1 else bias.reshape(along)
    )
    return out.reshape(-1)


def has_weights(params: Any) -> bool:
    return bool(len(params.floatValue) or len(params.float16Value) or len(params.rawValue))
