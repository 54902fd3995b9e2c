"""Builds one-op MIL programs, converts and saves them as .mlpackage, runs them through the executor."""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import coremltools as ct
    from coremltools.converters.mil import Builder as mb
    from coremltools.converters.mil.mil import types

from bridgec.backends.coreml.executor import run
from bridgec.backends.coreml.executor.mlprogram.program import main_block
from bridgec.backends.coreml.executor.model_io import read_mlpackage

_counter = itertools.count()


def save_program(
    build: Callable[..., Any],
    shapes: Mapping[str, tuple[int, ...]],
    tmp_path: Path,
    target: Any = None,
    fp16: bool = False,
    dtypes: Mapping[str, Any] | None = None,
) -> Path:
    """``build(**inputs)`` returns the MIL output var(s); the program is converted and saved."""
    target = target or ct.target.iOS15
    dtypes = dtypes or {}
    # The program's input names are build's parameter names (mb.program reads its code object).
    names = build.__code__.co_varnames[: build.__code__.co_argcount]
    specs = [mb.TensorSpec(shape=shapes[n], dtype=dtypes.get(n, types.fp32)) for n in names]
    prog = mb.program(input_specs=specs, opset_version=target)(build)

    precision = ct.precision.FLOAT16 if fp16 else ct.precision.FLOAT32
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = ct.convert(
            prog, convert_to="mlprogram", minimum_deployment_target=target, compute_precision=precision
        )
    path = tmp_path / f"m{next(_counter)}.mlpackage"
    model.save(str(path))
    return path


def op_types(path: Path) -> list[str]:
    return [op.type for op in main_block(read_mlpackage(path)[0])[1].operations]


def run_program(
    build: Callable[..., Any],
    feeds: Mapping[str, np.ndarray],
    tmp_path: Path,
    expect_op: str | None = None,
    **kwargs: Any,
) -> dict[str, np.ndarray]:
    """Build, convert, save and run; with ``expect_op``, assert that op survived conversion."""
    path = save_program(build, {k: v.shape for k, v in feeds.items()}, tmp_path, **kwargs)
    if expect_op is not None:
        assert expect_op in op_types(path), f"{expect_op} was folded away: {op_types(path)}"
    return run(path, feeds)


def run_one(build, feeds, tmp_path, expect_op=None, **kwargs) -> np.ndarray:
    out = run_program(build, feeds, tmp_path, expect_op, **kwargs)
    assert len(out) == 1, sorted(out)
    return next(iter(out.values()))


def rand(*shape: int, seed: int = 0, low: float = -2.0, high: float = 2.0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(low, high, size=shape).astype(np.float32)
