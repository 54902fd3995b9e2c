"""Core ML backend: NeuralNetwork ``.mlmodel`` emission, the op/capability table, and targets.

coremltools is imported only when a model is built, so importing bridgec stays fast. The names
below are reached on first use: ``bridgec targets`` or ``--help`` reads ``targets`` alone, without
the capability tables (onnx), the reference executor or the NeuralNetwork emitters.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bridgec.core.lazy import lazy_names

if TYPE_CHECKING:
    from bridgec.backends.coreml.capabilities import CoreMLCapabilities, capabilities_for
    from bridgec.backends.coreml.executor.model_io import load_spec
    from bridgec.backends.coreml.neuralnetwork import EmitResult, build_spec, emit
    from bridgec.backends.coreml.targets import DEFAULT_TARGET, Target

_LAZY = {
    "CoreMLCapabilities": "bridgec.backends.coreml.capabilities",
    "capabilities_for": "bridgec.backends.coreml.capabilities",
    "load_spec": "bridgec.backends.coreml.executor.model_io",
    "EmitResult": "bridgec.backends.coreml.neuralnetwork",
    "build_spec": "bridgec.backends.coreml.neuralnetwork",
    "emit": "bridgec.backends.coreml.neuralnetwork",
    "DEFAULT_TARGET": "bridgec.backends.coreml.targets",
    "Target": "bridgec.backends.coreml.targets",
}


__getattr__ = lazy_names(__name__, _LAZY)


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
