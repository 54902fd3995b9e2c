"""Import coremltools without it importing torch.

coremltools imports torch at import time when torch is installed (for its own torch converter,
which bridgec does not use). That costs seconds, and converting an .onnx file must not pay it.
If torch is not loaded yet, it is hidden while coremltools imports, so coremltools records it
as absent; bridgec only uses coremltools' protobuf classes and NeuralNetwork builder.
"""

from __future__ import annotations

import importlib
import logging
import sys
from types import ModuleType


def load() -> ModuleType:
    if "coremltools" not in sys.modules and "torch" not in sys.modules:
        sys.modules["torch"] = None  # type: ignore[assignment]  # makes `import torch` raise ImportError
        try:
            _import()
        finally:
            del sys.modules["torch"]
    return _import()


def _import() -> ModuleType:
    logging.getLogger("coremltools").setLevel(max(logging.getLogger("coremltools").level, logging.ERROR))
    module = importlib.import_module("coremltools")
    importlib.import_module("coremltools.models.neural_network")
    importlib.import_module("coremltools.proto.Model_pb2")
    return module
