"""Ctrl-C and SIGTERM end the ``bridgec`` command cleanly at any moment: exit 130, one line, nothing
written.

Both signals raise KeyboardInterrupt in the main thread, so ``finally`` blocks remove what a run
staged. Libraries do not always let it through: coremltools imports its optional dependencies
(tensorflow, sklearn, xgboost, PIL, its own extension modules) inside bare ``except:`` clauses, and an
extension module interrupted while importing raises ImportError, which torch and others catch. So a
signal is also recorded, and ``checkpoint()`` (at every stage, after importing coremltools, and
before anything is renamed into place) raises it again when a library swallowed it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from collections.abc import Iterator

SIGNALS = (signal.SIGINT, signal.SIGTERM)
MESSAGE = "bridgec: interrupted; no output was written"
received: list[int] = []  # the signals this run received, in order


def handler(signum, frame) -> None:
    received.append(signum)
    if len(received) == 1:  # a second signal must not interrupt the unwinding of the first
        raise KeyboardInterrupt


def checkpoint() -> None:
    """Raise the interrupt a library swallowed. Only the bridgec command records signals, so for
    Python callers of bridgec this does nothing."""
    if received:
        raise KeyboardInterrupt


def is_the_command() -> bool:
    """Whether this process is the ``bridgec`` command (console script or ``python -m bridgec``),
    as opposed to a program that imports bridgec, whose signals are its own business."""
    if os.path.basename(sys.argv[0]) in ("bridgec", "bridgec.exe", "bridgec-script.py"):
        return True
    argv = list(getattr(sys, "orig_argv", ()))
    # while ``python -m bridgec`` imports the package, sys.argv[0] is still "-m"
    return "-m" in argv[:-1] and argv[argv.index("-m") + 1] in ("bridgec", "bridgec.__main__")


def install_early() -> None:
    """From the command's first import until ``cli.main`` installs ``handler``: nothing has been
    staged or created yet, so a signal just ends the process with the interrupt line."""

    def leave(signum, frame) -> None:
        os.write(2, (MESSAGE + "\n").encode())
        os._exit(130)

    import threading

    if threading.current_thread() is threading.main_thread():
        for sig in SIGNALS:
            signal.signal(sig, leave)


@contextlib.contextmanager
def deferred() -> Iterator[None]:
    """Hold SIGINT and SIGTERM while the block runs (a signal already on its way is held too); one
    that came in is raised as KeyboardInterrupt right after, unless they were being ignored."""
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers run in the main thread only: nothing to hold here
        return
    pending: list[int] = []

    def hold(signum, frame) -> None:
        pending.append(signum)

    hold.holds = True  # type: ignore[attr-defined]
    previous = {sig: signal.signal(sig, hold) for sig in SIGNALS}
    try:
        yield
    finally:
        for sig, saved in previous.items():
            signal.signal(sig, saved)
        if pending and getattr(previous[pending[0]], "holds", False):
            for signum in pending:  # nested: the enclosing block holds them until it ends
                previous[signum](signum, None)
        elif pending and previous[pending[0]] is not signal.SIG_IGN:
            if previous[pending[0]] is handler:  # the command's: its exit line counts on ``received``
                received.extend(pending)
            raise KeyboardInterrupt
