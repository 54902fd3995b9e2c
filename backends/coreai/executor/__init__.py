"""bridgec's own Core AI executor: runs a written ``.aimodel`` with numpy.

The check's fallback where Apple's runtime cannot run the model (``fallback_reason``): the
program is read back from the saved bytecode through coreai-core's MLIR bindings (``program``),
never from bridgec's emitter, and each ``coreai.*`` op's semantics are written from Apple's op
documentation — the ODS docstrings in ``coreai/_compiler/dialects/_coreai_ops_gen.py``, cited op by
op in the family modules (``elementwise``, ``nn``, ``shape``). An op with no implementation is one
line: "the executor has no coreai.<op>". ``register`` is how another module adds an op (the
interface for the custom-kernel backend's ``coreai.metal4_kernel``: see ``registry``).

Forcing the fallback (tests, or to see the executor's reading of a model Apple's runtime can run):
set ``BRIDGEC_COREAI_EXECUTOR=1`` in the environment; the check line then says why Apple's runtime
was not run.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np

from bridgec.backends.coreai.executor.program import Program, load
from bridgec.backends.coreai.executor.registry import OPS, ExecutorError, OpCall, implementation, register
from bridgec.core.words import plural

FORCE_ENV = "BRIDGEC_COREAI_EXECUTOR"
CUSTOM_KERNEL = "coreai.metal4_kernel"


def fallback_reason(model: Path) -> str | None:
    """Why Apple's runtime cannot check ``model`` here (so the executor checks it alone), or None.

    Apple's runtime is not importable on this platform; the model holds a ``coreai.metal4_kernel``
    off macOS (Linux's interpreter has no Metal: "Unresolved symbol: coreai.metal4_kernel"); or the
    fallback is forced (``BRIDGEC_COREAI_EXECUTOR=1``)."""
    if os.environ.get(FORCE_ENV, "") not in ("", "0"):
        return f"{FORCE_ENV}={os.environ[FORCE_ENV]} is set"
    try:
        import coreai.runtime  # noqa: F401 - imported only, never run, in this process
    except (ImportError, OSError) as error:
        return f"Apple's Core AI runtime cannot be imported here ({type(error).__name__}: {error})"
    if sys.platform != "darwin" and CUSTOM_KERNEL in load(model, constants=False).op_names():
        return f"the model holds a {CUSTOM_KERNEL} and Apple's runtime has no Metal on {sys.platform}"
    return None


def run(model: Path | Program, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The outputs of ``model`` (an ``.aimodel`` folder, or its loaded ``Program``) on ``feeds``."""
    program = model if isinstance(model, Program) else load(Path(model))
    values: list[np.ndarray | None] = [None] * program.slots
    for (name, shape, dtype), slot in zip(program.inputs, program.input_slots, strict=True):
        if name not in feeds:
            raise ExecutorError(f"bridgec's Core AI executor: no value fed for input {name!r}")
        value = np.asarray(feeds[name])
        if value.dtype != dtype or not _fits(value.shape, shape):
            raise ExecutorError(
                f"bridgec's Core AI executor: input {name!r} is {value.dtype}{list(value.shape)}, "
                f"the model takes {dtype}{list(shape)}"
            )
        values[slot] = value
    for step in program.steps:
        if step.name == "coreai.constant":
            if step.constant is None:
                raise ExecutorError(
                    "bridgec's Core AI executor: the program was loaded without its constants"
                )
            values[step.results[0]] = step.constant
            continue
        call = OpCall(
            step.name,
            [values[i] for i in step.operands],
            step.attributes,
            step.result_types,
            step.location,
            step.segments,
        )
        fn = implementation(call)
        try:
            with np.errstate(all="ignore"):  # IEEE 754 results (inf, NaN) are the documented ones
                got = fn(call)
        except ExecutorError:
            raise
        except Exception as error:  # noqa: BLE001 - one line naming the op
            raise call.fail(f"{type(error).__name__}: {error}") from None
        results = got if isinstance(got, tuple) else (got,)
        if len(results) != len(step.results):
            raise call.fail(f"{plural(results, 'result')} computed, the program declares {len(step.results)}")
        for slot, value, (shape, dtype) in zip(step.results, results, step.result_types, strict=True):
            value = np.asarray(value)
            if not _fits(value.shape, shape):
                raise call.fail(f"computed shape {list(value.shape)}, the program declares {list(shape)}")
            values[slot] = value.astype(dtype, copy=False)
    return {
        name: np.asarray(values[slot])
        for (name, _, _), slot in zip(program.outputs, program.output_slots, strict=True)
    }


def _fits(got: tuple[int, ...], declared: tuple[int, ...]) -> bool:
    return len(got) == len(declared) and all(d in (-1, g) for g, d in zip(got, declared, strict=True))


__all__ = [
    "CUSTOM_KERNEL",
    "FORCE_ENV",
    "OPS",
    "ExecutorError",
    "OpCall",
    "Program",
    "fallback_reason",
    "load",
    "register",
    "run",
]
