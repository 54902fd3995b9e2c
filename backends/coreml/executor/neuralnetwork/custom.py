"""``custom`` layers, run through the numpy references in ``bridgec.runtime_kernels.catalog``."""

from __future__ import annotations

from typing import Any

import numpy as np

from bridgec.backends.coreml.executor.errors import UnsupportedLayerError
from bridgec.backends.coreml.executor.neuralnetwork._common import f32


def custom_parameters(params: Any) -> dict[str, Any]:
    """CustomLayerParams.parameters as plain Python values."""
    out: dict[str, Any] = {}
    for key, value in params.parameters.items():
        kind = value.WhichOneof("value")
        if kind is None:
            raise ValueError(f"custom parameter {key!r} has no value set")
        out[key] = getattr(value, kind)
    return out


def custom(layer: Any, inputs: list[np.ndarray]) -> list[np.ndarray]:
    from bridgec.runtime_kernels.catalog import KERNELS

    p = layer.custom
    spec = KERNELS.get(p.className)
    if spec is None:
        raise UnsupportedLayerError(
            layer.name,
            "custom",
            f"custom layer class {p.className!r} is not in bridgec.runtime_kernels.catalog.KERNELS "
            f"(known: {sorted(KERNELS)})",
        )
    if len(p.weights):
        # No catalog kernel takes weights, so there is no agreed way to hand them over.
        raise UnsupportedLayerError(layer.name, "custom", f"class {p.className!r} carries weights")
    params = custom_parameters(p)
    unknown = set(params) - set(spec.parameters)
    missing = set(spec.parameters) - set(params)
    if unknown or missing:
        raise ValueError(
            f"custom layer class {p.className!r} parameters mismatch the catalog: "
            f"missing {sorted(missing)}, unexpected {sorted(unknown)}"
        )
    result = spec.reference(*[f32(x) for x in inputs], **params)
    outs = list(result) if isinstance(result, (tuple, list)) else [result]
    return [f32(o) for o in outs]
