"""Builds one-layer (or few-layer) rank-N NeuralNetwork specs for the executor tests."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from coremltools.models import datatypes
    from coremltools.models.neural_network import NeuralNetworkBuilder

from bridgec.backends.coreml.executor import run


def build(
    inputs: dict[str, Sequence[int]],
    add_layers: Callable[[NeuralNetworkBuilder], Any],
    outputs: Sequence[str] = ("y",),
) -> Any:
    """A spec with the given multiarray inputs, whose layers come from ``add_layers(builder)``."""
    builder = NeuralNetworkBuilder(
        input_features=[(name, datatypes.Array(*shape)) for name, shape in inputs.items()],
        output_features=[(name, None) for name in outputs],
        disable_rank5_shape_mapping=True,
    )
    add_layers(builder)
    return builder.spec


def run_one(
    feeds: dict[str, np.ndarray],
    add_layers: Callable[[NeuralNetworkBuilder], Any],
    outputs: Sequence[str] = ("y",),
) -> np.ndarray | dict[str, np.ndarray]:
    """Build a spec around ``feeds``' shapes, run it, return the output (or all outputs)."""
    spec = build({k: v.shape for k, v in feeds.items()}, add_layers, outputs)
    result = run(spec, feeds)
    return result[outputs[0]] if len(outputs) == 1 else result


def rand(*shape: int, seed: int = 0, low: float = -2.0, high: float = 2.0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(low, high, size=shape).astype(np.float32)
