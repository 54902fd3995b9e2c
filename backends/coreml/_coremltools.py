"""Import coremltools without it importing torch and torchvision.

coremltools imports torch (and with it torchvision, torch._dynamo and inductor) at import time
when they are installed, for its own torch converter, which bridgec does not use. That costs
seconds — about 2.5 s even when torch is already loaded — and converting an .onnx file must not
pay for torch at all. So both are hidden while coremltools imports: it records them as absent,
and bridgec only uses its protobuf classes and NeuralNetwork builder. The real modules (if
loaded) are put back afterwards.

coremltools also probes its other torch-based optional dependencies then (``coremltools._deps``:
torchaudio, executorch, torchao, transformers). Imported while torch is hidden, such a library
decides once that torch is missing, for the rest of the process: ``transformers`` imported by that
probe printed "PyTorch was not found" and refused every model the user's own code built after.
They are hidden too, so none is imported here and each is exactly as the user left it.
"""

from __future__ import annotations

import importlib
import logging
import sys
from types import ModuleType

_HIDDEN = ("torch", "torchvision", "torchaudio", "executorch", "torchao", "transformers")


def load() -> ModuleType:
    if "coremltools" in sys.modules:
        return sys.modules["coremltools"]
    saved = {name: sys.modules.get(name) for name in _HIDDEN}
    for name in _HIDDEN:
        sys.modules[name] = None  # type: ignore[assignment]  # makes `import torch` raise ImportError
    try:
        module = _import()
    finally:
        for name, real in saved.items():
            if real is None:
                del sys.modules[name]
            else:
                sys.modules[name] = real
    from bridgec.core import interrupts

    # coremltools imports its optional dependencies in bare ``except:`` clauses, which swallow a
    # Ctrl-C or SIGTERM arriving meanwhile: the signal was recorded, so it ends the run now
    interrupts.checkpoint()
    return module


def _import() -> ModuleType:
    logging.getLogger("coremltools").setLevel(max(logging.getLogger("coremltools").level, logging.ERROR))
    module = importlib.import_module("coremltools")
    importlib.import_module("coremltools.models.neural_network")
    importlib.import_module("coremltools.proto.Model_pb2")
    return module
