"""Core ML itself, through coremltools: the runtime ``bridgec verify`` compares the reference
executor with, on macOS only."""

from __future__ import annotations

import platform
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from bridgec.backends.coreml.model import BuiltModel


def unavailable(spec: Any) -> str | None:
    """Why the real Core ML runtime cannot run ``spec`` here, or None if it can."""
    if platform.system() != "Darwin":
        return f"not available here ({platform.system()}: Core ML runs only on macOS)"
    network = getattr(spec, spec.WhichOneof("Type"))
    if any(layer.WhichOneof("layer") == "custom" for layer in getattr(network, "layers", ())):
        return "skipped: coremltools cannot predict with custom layers"
    try:
        from coremltools import libcoremlpython  # noqa: F401
    except ImportError:
        return "not available: this coremltools build has no Core ML bindings"
    return None


def run(model: BuiltModel, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """``model``'s outputs on ``feeds`` from Core ML on the CPU (see ``unavailable``), loaded from a
    scratch copy saved as ``bridgec`` writes it (an ML Program's weights live in files beside its spec)."""
    import coremltools as ct

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"model{model.suffix}"
        model.save(path)
        loaded = ct.models.MLModel(str(path), compute_units=ct.ComputeUnit.CPU_ONLY)
        return {k: np.asarray(v) for k, v in loaded.predict(feeds).items()}


__all__ = ["run", "unavailable"]
