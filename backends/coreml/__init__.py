"""Core ML backend: NeuralNetwork ``.mlmodel`` emission, the op/capability table, and targets.

coremltools is imported only when a model is built, so importing bridgec stays fast.
"""

from __future__ import annotations

from bridgec.backends.coreml.capabilities import CoreMLCapabilities, capabilities_for
from bridgec.backends.coreml.executor.model_io import load_spec
from bridgec.backends.coreml.neuralnetwork import EmitResult, build_spec, emit
from bridgec.backends.coreml.targets import DEFAULT_TARGET, Target

__all__ = [
    "CoreMLCapabilities",
    "DEFAULT_TARGET",
    "EmitResult",
    "Target",
    "build_spec",
    "capabilities_for",
    "emit",
    "load_spec",
]
