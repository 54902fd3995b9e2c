"""Wall time per conversion stage, for ``--timings`` and the benchmarks, so the slowest stage is
obvious and the figures add up to the time the user measured with ``time bridgec ...``.

The rows are: ``start`` (from the process's start, read from Linux's /proc, to this module's import:
the interpreter and bridgec's own light imports), ``import NAME`` for each heavy library bridgec
imports lazily (:data:`WATCHED`, timed by :func:`watch_imports`; a library imported inside a stage
counts here, not in the stage) and ``import bridgec`` for bridgec's own modules imported on demand
(the passes, the backends: what they import of those libraries is not in it), the stages, and
``unaccounted``: the rest of the time since the process started (bridgec's code between stages).
What comes after the line is printed (the report; the command then ends at once, ``cli._leave``) is
not in it.
"""

from __future__ import annotations

import importlib.abc
import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from bridgec.core import collector, interrupts

STARTED = time.perf_counter()  # when this module was imported: the rows count from here
WATCHED = ("numpy", "torch", "coremltools", "onnx", "onnxruntime", "coreai")
_OWN = "bridgec"
_stages: dict[str, float] = {}
_open: list[str] = []


def _process_age() -> float | None:
    """Seconds since this process started, or None where /proc does not say (macOS)."""
    try:
        stat = open("/proc/self/stat").read()  # noqa: SIM115 - one read of a tiny file
        started = int(stat.rpartition(")")[2].split()[19]) / os.sysconf("SC_CLK_TCK")
        # /proc's start time counts from boot, suspended time included: CLOCK_BOOTTIME's clock
        return time.clock_gettime(time.CLOCK_BOOTTIME) - started
    except (OSError, ValueError, IndexError, AttributeError):
        return None


_AGE_AT_IMPORT = _process_age()


@contextmanager
def _counted(name: str) -> Iterator[None]:
    start = time.perf_counter()
    _open.append(name)
    try:
        yield
    finally:
        _open.pop()
        elapsed = time.perf_counter() - start
        _stages[name] = _stages.get(name, 0.0) + elapsed
        if _open:  # time spent in a nested stage is counted there, not in the enclosing one
            _stages[_open[-1]] = _stages.get(_open[-1], 0.0) - elapsed


@contextmanager
def stage(name: str) -> Iterator[None]:
    """Time a stage; time spent in a nested stage (or a watched import) is counted there."""
    interrupts.checkpoint()  # each stage starts only if no interrupt was swallowed by a library
    with _counted(name):
        yield


class _TimedLoader(importlib.abc.Loader):
    """The loader of a watched library, timing its ``exec_module`` (everything the library imports
    counts with it); the module itself only ever sees its own loader."""

    def __init__(self, loader: Any, row: str) -> None:
        self._loader, self._row = loader, row

    def create_module(self, spec: Any) -> Any:
        create = getattr(self._loader, "create_module", None)
        return create(spec) if create is not None else None

    def exec_module(self, module: Any) -> None:
        module.__loader__ = self._loader
        if module.__spec__ is not None:
            module.__spec__.loader = self._loader
        with _counted(self._row), collector.importing():
            self._loader.exec_module(module)


def command_row(fullname: str) -> str | None:
    """The row a module's import counts in for ``--timings``: a library of :data:`WATCHED` (what it
    imports counts with it) or one of bridgec's own modules; None: not timed on its own."""
    if fullname in WATCHED:
        return f"import {fullname}"
    if fullname.startswith(f"{_OWN}."):
        return f"import {_OWN}"
    return None


class _ImportWatch(importlib.abc.MetaPathFinder):
    """First on ``sys.meta_path``: finds a module that has a row (``row``) with the finders after it
    and wraps its loader; every other import is left to them at the cost of two lookups."""

    def __init__(self, row: Callable[[str], str | None]) -> None:
        self._row = row
        self._finding: set[str] = set()

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        row = self._row(fullname)
        if row is None or fullname in self._finding:
            return None
        self._finding.add(fullname)
        try:
            for finder in sys.meta_path:
                if finder is self or not hasattr(finder, "find_spec"):
                    continue
                spec = finder.find_spec(fullname, path, target)
                if spec is not None:
                    if spec.loader is not None and hasattr(spec.loader, "exec_module"):
                        spec.loader = _TimedLoader(spec.loader, row)
                    return spec
            return None
        finally:
            self._finding.discard(fullname)


def watch_imports(row: Callable[[str], str | None] = command_row) -> None:
    """Time imports from now on, each in the row ``row`` names for it (the command does this first,
    with :func:`command_row`; ``tools/bench_speed.py``'s profile with its own rows; a program that
    imports bridgec is left alone)."""
    if not any(isinstance(finder, _ImportWatch) for finder in sys.meta_path):
        sys.meta_path.insert(0, _ImportWatch(row))


def imports() -> dict[str, float]:
    """Seconds per import row so far."""
    return {name: s for name, s in _stages.items() if name.startswith("import ")}


def report() -> dict[str, float]:
    """Seconds per row so far (see the module's doc) and ``total``: since the process started (since
    this module's import where the process's start is unknown)."""
    since_import = time.perf_counter() - STARTED
    rows = {"start": _AGE_AT_IMPORT} if _AGE_AT_IMPORT is not None else {}
    timed = imports()
    order = (*WATCHED, _OWN)
    rows.update(sorted(timed.items(), key=lambda item: order.index(item[0].split()[1])))
    rows.update((name, s) for name, s in _stages.items() if name not in timed)
    total = since_import + (_AGE_AT_IMPORT or 0.0)
    rows["unaccounted"] = total - sum(rows.values())
    return {**rows, "total": total}


def reset() -> None:
    _stages.clear()


def render(stages: dict[str, float]) -> str:
    return "stages: " + ", ".join(f"{name} {seconds:.2f}s" for name, seconds in stages.items())
