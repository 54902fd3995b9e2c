"""Shared fixtures: the bundled example model, and running IR graphs in onnxruntime."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]

warnings.filterwarnings("ignore", category=DeprecationWarning)
logging.getLogger("coremltools").setLevel(logging.ERROR)


@pytest.fixture(scope="session")
def faceseg_path(tmp_path_factory) -> Path:
    from examples import faceseg

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return faceseg.save(tmp_path_factory.mktemp("faceseg") / "faceseg.pt")


@pytest.fixture(scope="session")
def faceseg_input() -> np.ndarray:
    return np.random.default_rng(0).standard_normal((1, 3, 256, 256)).astype(np.float32)


@pytest.fixture(scope="session")
def faceseg_reference(faceseg_path, faceseg_input) -> np.ndarray:
    import torch

    module = torch.jit.load(str(faceseg_path))
    with torch.no_grad():
        return module(torch.from_numpy(faceseg_input)).numpy()


@pytest.fixture(autouse=True)
def _pass_registry_restored():
    """A test that loads a user pass (``--load-passes`` in process) must not leave it registered: a
    later test's pipelines would then differ with the order the tests happen to run in."""
    from bridgec import passes

    before = dict(passes.REGISTRY)
    yield
    passes.REGISTRY.clear()
    passes.REGISTRY.update(before)
