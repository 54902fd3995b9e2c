"""Where a report comes from: the bridgec version, how the run was asked for (the command line as
typed, or the Python call), the input file's sha256, the target, format, precision and pipeline. Every
report format carries it, so a report found later can be tied to the model it describes. There is no
date: the same command on the same file writes the same bytes (tests/core/test_sizes.py), and the
file's own time says when.

The command line is recorded by ``invoked`` around a command (``cli.main``) or a Python call (the
API names its call the same way); a run outside both records the Python process's own command line.
"""

from __future__ import annotations

import contextlib
import hashlib
import shlex
import sys
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path

# (the command, what to say instead of a file hash for a model given in memory, or None)
_INVOCATION: ContextVar[tuple[str, str | None] | None] = ContextVar("bridgec_invocation", default=None)


@contextlib.contextmanager
def invoked(command: str, in_memory: str | None = None) -> Iterator[None]:
    """Record ``command`` (``bridgec convert m.pt -o m.mlpackage``, ``bridgec.convert(Net(), ...)``)
    as how the reports made inside the block were asked for; ``in_memory``: the model was an object
    (say which), so its file's hash is not the model's."""
    token = _INVOCATION.set((command, in_memory))
    try:
        yield
    finally:
        _INVOCATION.reset(token)


def command_line(argv: list[str]) -> str:
    """The ``bridgec`` command line of ``argv`` (the arguments after the program name), quoted as a
    shell would need it."""
    return shlex.join(["bridgec", *argv])


@dataclass
class Provenance:
    bridgec_version: str
    command: str
    input: str  # the model file as given, or what the in-memory model was
    input_sha256: str  # "" for a model given in memory
    target: str  # the target's description (Core ML NeuralNetwork for iOS15)
    format: str  # the model format the run made (neuralnetwork | mlprogram | coreai), and if chosen by auto
    precision: str
    pipeline: str

    @property
    def input_line(self) -> str:
        return f"{self.input} (sha256 {self.input_sha256})" if self.input_sha256 else self.input

    def lines(self) -> list[tuple[str, str]]:
        """(label, value) pairs in the order every report shows them."""
        return [
            ("bridgec", self.bridgec_version),
            ("command", self.command),
            ("input", self.input_line),
            ("target", self.target),
            ("format", self.format),
            ("precision", self.precision),
            ("pipeline", f"-O {self.pipeline}"),
        ]


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def of(
    model: object, *, target: str, format: str, asked_format: str, precision: str, pipeline: str
) -> Provenance:
    """The provenance of a run on ``model``: a file's path, or a model object (``bridgec.convert``'s
    ``frontends.in_memory.InMemoryModel``; None for a graph given to the passes)."""
    from bridgec import __version__

    command, in_memory = _INVOCATION.get() or (f"python {shlex.join(sys.argv)} (a Python call)", None)
    if in_memory is not None or model is None:
        source, digest = in_memory or "a graph given in memory (no file)", ""
    elif not isinstance(model, Path):  # an object the caller handed over: there is no file to hash
        source, digest = f"{model}, given in memory (no file)", ""
    elif model.is_dir():  # a folder model has no single file to hash
        source, digest = str(model), ""
    elif not model.is_file():  # a request whose graph was handed to the stages directly
        source, digest = f"{model} (no file read)", ""
    else:
        source, digest = str(model), sha256_of(model)
    chosen = format if asked_format in (format, "") else f"{format} (--format {asked_format})"
    return Provenance(
        bridgec_version=__version__,
        command=command,
        input=source,
        input_sha256=digest,
        target=target,
        format=chosen,
        precision=precision,
        pipeline=pipeline,
    )


def of_request(request, lowered) -> Provenance:
    """The provenance of ``request`` (``ConversionRequest``) whose pipeline made ``lowered``."""
    return of(
        request.model,
        target=lowered.context.capabilities.description,
        format=lowered.format,
        asked_format=request.format,
        precision=request.precision,
        pipeline=request.pipeline,
    )
