"""Stage progress of a command on stderr, as the command line shows it.

On a terminal the current stage is one status line, rewritten in place (``\\r``, then erase to the
end of the line) and cleared when the command ends, so the report on stdout starts on a clean line;
a stage still running after :data:`LONG` seconds shows its elapsed seconds, counted by a ticker
thread (coremltools' passes or torch's exporter hold the main thread for long stretches), on a
descriptor of its own: the exporter sends descriptor 2 to a scratch file while it runs. Where a
live line would garble other output (``--debug`` shows library warnings, ``--print-after`` prints
graphs, a ``dumb`` terminal cannot erase) the stages are plain lines instead. When stderr is piped
or redirected nothing is shown (``--progress`` forces plain lines), nor with ``-q``. Warnings and
errors are always printed.
"""

from __future__ import annotations

import io
import os
import sys
import threading
import time
from typing import TextIO

from bridgec.core import interrupts

LIVE, LINES, OFF = "live", "lines", "off"
LONG = 2.0  # seconds: a stage running longer shows how long it has been running
_TICK = 1.0


def mode_for(stream: TextIO, quiet: bool, forced: bool = False, plain: bool = False) -> str:
    """How to show progress on ``stream``: ``quiet`` (-q) wins; a terminal gets a live line (plain
    lines when ``plain``: other output shares the terminal); ``forced`` (--progress) gives plain
    lines where the stream is not a terminal."""
    if quiet:
        return OFF
    try:
        terminal = stream.isatty()
    except (AttributeError, ValueError):  # a replaced or closed stream
        terminal = False
    if terminal:
        return LINES if plain or os.environ.get("TERM") == "dumb" else LIVE
    return LINES if forced else OFF


class Progress:
    """``progress(message)`` starts a stage; :meth:`warn` prints a line that is always shown;
    leaving the ``with`` block (or :meth:`close`) clears the status line. Every stage is an
    interrupt checkpoint, whatever is shown."""

    def __init__(self, mode: str, stream: TextIO | None = None) -> None:
        self.mode = mode
        # the stream as it is now: coremltools' conversion swaps sys.stderr for a buffer it discards,
        # and the ticker keeps counting on the terminal through it
        self.stream = stream if stream is not None else sys.stderr
        self._own = _terminal_of(self.stream) if mode == LIVE else None
        self._out = self._own or self.stream
        self._lock = threading.Lock()
        self._stage: str | None = None
        self._started = 0.0
        self._shown = False  # a status line is on the terminal
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None

    def __call__(self, message: str) -> None:
        interrupts.checkpoint()  # every stage: an interrupt a library swallowed ends the run here
        if self.mode == LINES:
            self._write(f"bridgec: {message}\n")
        elif self.mode == LIVE:
            with self._lock:
                self._stage, self._started = message, time.monotonic()
                self._draw()
            if self._ticker is None:
                self._ticker = threading.Thread(target=self._tick, name="bridgec-progress", daemon=True)
                self._ticker.start()

    def warn(self, message: str) -> None:
        """A line shown in every mode (a warning, a fallback the user should know about), above the
        status line."""
        with self._lock:
            self._erase()
            self._write(f"bridgec: {message}\n")
            if self._stage is not None:
                self._draw()

    def close(self) -> None:
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join()
            self._ticker = None
        with self._lock:
            self._erase()
            self._stage = None
            if self._own is not None:
                self._own.close()
                self._own, self._out = None, self.stream

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- the status line (with the lock held) -------------------------------------------------------

    def _tick(self) -> None:
        while not self._stop.wait(_TICK):
            with self._lock:
                if self._stage is not None and time.monotonic() - self._started >= LONG:
                    self._draw()

    def _draw(self) -> None:
        elapsed = time.monotonic() - self._started
        line = f"bridgec: {self._stage}"
        suffix = f" {elapsed:.0f}s" if elapsed >= LONG else ""
        width = self._width()
        if len(line) + len(suffix) > width:  # a wrapped line could not be rewritten in place
            line = line[: max(0, width - len(suffix) - 3)] + "..."
        self._write(f"\r{line}{suffix}\x1b[K")
        self._shown = True

    def _erase(self) -> None:
        if self._shown:
            self._write("\r\x1b[K")
            self._shown = False

    def _width(self) -> int:
        try:
            columns = os.get_terminal_size(self._out.fileno()).columns
        except (AttributeError, ValueError, OSError):
            columns = 0
        return max(20, columns - 1) if columns > 0 else 79  # a terminal without a size says 0

    def _write(self, text: str) -> None:
        try:
            self._out.write(text)
            self._out.flush()
        except (OSError, ValueError):  # a terminal that went away: progress is not worth failing for
            pass


def _terminal_of(stream: TextIO) -> TextIO | None:
    """A stream of its own on ``stream``'s terminal (a duplicate descriptor), or None."""
    try:
        fd = os.dup(stream.fileno())
    except (AttributeError, ValueError, OSError, io.UnsupportedOperation):
        return None
    return open(fd, "w", encoding=getattr(stream, "encoding", None) or "utf-8", errors="replace")  # noqa: SIM115


__all__ = ["LINES", "LIVE", "LONG", "OFF", "Progress", "mode_for"]
