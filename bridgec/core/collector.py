"""The cyclic garbage collector in the ``bridgec`` command: no collections while a library imports,
and what the import made is frozen out of every later one.

torch, coremltools and onnxruntime leave about a million objects behind at import, all of them kept
until the process ends (modules, functions, classes, op registries). CPython's full collections walk
every tracked object each time, and a conversion triggers a handful: 0.3-0.4 s of a 4 s mobilenet_v2
conversion's CPU went to walking the libraries' objects, finding nothing. ``gc.freeze()`` moves the
objects alive now into a permanent generation that collections skip (CPython's documented use: a
process that is done with its set-up), so only what the conversion makes is ever walked, and its
cyclic garbage (graphsurgeon's node <-> tensor links) is still collected. Reference counting frees
everything else as before; the only cost is that a frozen object which later becomes cyclic garbage
stays until the process ends, and the command ends right after the conversion.

Only the command turns this on (:func:`freeze_after_imports`, as it sets its thread waits); a Python
program that imports bridgec keeps its own collector as it was.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

_on = False
_depth = 0  # imports in progress: a library imports others, and bridgec's modules import libraries
_was_enabled = True


def freeze_after_imports() -> None:
    """From now on, :func:`importing` holds collections off and freezes what each import made."""
    global _on
    _on = True


@contextmanager
def importing() -> Iterator[None]:
    """Around a library's import (``timing``'s watched loaders): no collection inside it, and what
    is alive when the outermost one ends is frozen. A no-op unless :func:`freeze_after_imports`."""
    global _depth, _was_enabled
    if not _on:
        yield
        return
    if _depth == 0:
        _was_enabled = gc.isenabled()
        gc.disable()
    _depth += 1
    try:
        yield
    finally:
        _depth -= 1
        if _depth == 0:
            gc.freeze()
            if _was_enabled:
                gc.enable()
