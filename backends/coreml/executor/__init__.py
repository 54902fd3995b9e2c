"""numpy reference executor for Core ML NeuralNetwork ``.mlmodel`` files.

Core ML cannot run on Linux, so this is the project's ground truth for what an emitted model
computes. Semantics follow Apple's NeuralNetwork.proto comments; an unsupported layer is an
error, never a pass-through.
"""

from bridgec.backends.coreml.executor.errors import (
    ExecutorError,
    InputError,
    LayerError,
    UnsupportedLayerError,
)
from bridgec.backends.coreml.executor.model_io import load_spec
from bridgec.backends.coreml.executor.neuralnetwork import LAYERS
from bridgec.backends.coreml.executor.runner import run

__all__ = [
    "LAYERS",
    "ExecutorError",
    "InputError",
    "LayerError",
    "UnsupportedLayerError",
    "load_spec",
    "run",
]
