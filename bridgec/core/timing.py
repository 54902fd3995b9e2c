"""Wall time per conversion stage (imports, load, export, passes, backend, save), for ``--timings``
and the benchmarks, so the slowest stage is obvious."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from bridgec.core import interrupts

STARTED = time.perf_counter()  # when bridgec was first imported: everything before a stage is "imports"
_stages: dict[str, float] = {}
_open: list[str] = []


@contextmanager
def stage(name: str) -> Iterator[None]:
    """Time a stage; time spent in a nested stage is counted there, not in the enclosing one."""
    interrupts.checkpoint()  # each stage starts only if no interrupt was swallowed by a library
    start = time.perf_counter()
    _open.append(name)
    try:
        yield
    finally:
        _open.pop()
        elapsed = time.perf_counter() - start
        _stages[name] = _stages.get(name, 0.0) + elapsed
        if _open:
            _stages[_open[-1]] = _stages.get(_open[-1], 0.0) - elapsed


def report() -> dict[str, float]:
    """Seconds per stage so far, plus "imports": time since bridgec was imported not inside a stage."""
    total = time.perf_counter() - STARTED
    return {"imports": total - sum(_stages.values()), **_stages, "total": total}


def reset() -> None:
    _stages.clear()


def render(stages: dict[str, float]) -> str:
    return "stages: " + ", ".join(f"{name} {seconds:.2f}s" for name, seconds in stages.items())
