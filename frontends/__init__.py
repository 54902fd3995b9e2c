"""Frontends: read a model file into bridgec's IR (an onnx-graphsurgeon graph).

Formats: TorchScript archives (``torch.jit.save``), ``torch.export`` archives (``.pt2``),
``torch.save`` files (whole pickled modules, only with ``--trust-pickle``; state_dicts with
``--arch``) and ``.onnx`` files (external data included). torch is imported only for the PyTorch
forms, so converting an ``.onnx`` file never pays for it.
"""

from __future__ import annotations

import os
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import onnx_graphsurgeon as gs

from bridgec.core.errors import ConversionError, SourceUnrunnable, UsageError
from bridgec.core.input_files import open_regular, shown
from bridgec.core.input_values import random_inputs
from bridgec.core.tensor_spec import split_specs
from bridgec.core.words import plural
from bridgec.frontends.in_memory import InMemoryModel
from bridgec.frontends.pytorch_export import EXPORTERS
from bridgec.frontends.pytorch_load import LoadOptions
from bridgec.frontends.shapes import parse_input_spec, parse_input_specs

FORMATS = ("torchscript", "pt2", "pickle", "onnx")
TORCH_FORMATS = ("torchscript", "pt2", "pickle")


def described(model: Path | InMemoryModel) -> str:
    """The model as progress lines name it: the file and its format, or the object."""
    if isinstance(model, InMemoryModel):
        return str(model)
    return f"{model} ({detect_format(model)})"


def detect_format(path: Path) -> str:
    """Which frontend reads ``path``; a clear error for files bridgec cannot read. Only the head of
    the file is read (and the zip directory at its end): a multi-gigabyte file that is no model is
    refused from its first bytes."""
    path = Path(path)
    with open_regular(path) as handle:
        try:
            head = handle.read(4)
        except OSError as exc:
            raise UsageError(f"{shown(path)}: cannot read it ({exc.strerror})") from None
        return _format_of(path, handle, head)


def _format_of(path: Path, handle: BinaryIO, head: bytes) -> str:
    from bridgec.frontends import onnx_file

    name = shown(path)
    try:
        is_zip = zipfile.is_zipfile(handle)
    except Exception:  # noqa: BLE001 - a damaged end-of-archive record fails in several ways
        is_zip = False
    if is_zip:
        try:
            with zipfile.ZipFile(handle) as archive:
                names = archive.namelist()
        except Exception as exc:  # noqa: BLE001 - zipfile raises BadZipFile, UnicodeDecodeError, ValueError...
            raise UsageError(
                f"{name}: a damaged zip archive, not a readable model ({type(exc).__name__}); copy the file again"
            ) from None
        if any(n.endswith("constants.pkl") for n in names) and any("/code/" in n for n in names):
            return "torchscript"
        if any(n.endswith("serialized_exported_program.json") or "/models/" in n for n in names) or (
            path.suffix == ".pt2"
        ):
            return "pt2"
        if any(n.endswith("data.pkl") for n in names):
            return "pickle"
        raise UsageError(
            f"{name}: a zip archive that is not a PyTorch model (expected torch.jit.save, "
            "torch.export.save or torch.save output)"
        )
    if head[:4] == b"PK\x03\x04":  # a zip's local header without a readable central directory
        raise UsageError(f"{name}: a truncated or damaged zip archive (copy the model file again)")
    if path.suffix.lower() == ".onnx":
        onnx_file.check_header(handle, path)  # before anything reads it whole
        return "onnx"
    if head[:1] == b"\x08":  # ModelProto starts with field 1 (ir_version) as a varint
        if onnx_file.header_problem(handle) is None:
            return "onnx"
    elif head[:1] == b"\x80" and head[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05"):
        return "pickle"  # torch.save's legacy (non-zip) format is a plain pickle stream
    raise UsageError(
        f"{name}: not a model bridgec can read (expected a TorchScript archive, a torch.export "
        ".pt2 archive, a torch.save file or an .onnx file)"
    )


@dataclass
class Source:
    """A model file read into the IR, and a way to compute what the model itself outputs: PyTorch for
    PyTorch files, onnxruntime on the graph as read for ``.onnx`` files. The conversion check compares
    the emitted Core ML model against ``run``."""

    path: Path
    format: str
    graph: gs.Graph
    reference: str  # what ``run`` runs, for messages: "PyTorch" or "onnxruntime"
    example: dict[
        str, np.ndarray
    ]  # seeded random inputs (for PyTorch files, the ones the export traced with)
    _run: Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]]
    onnx_model: Any = None  # the ONNX model before any pass (read, or exported from PyTorch)
    _example_outputs: dict[str, np.ndarray] | None = None
    # runs the source with the buffers its forward writes (the graph's bridgec.core.state), or None
    state: Any = None  # frontends.pt2_state.PyTorchState
    # the values of ``onnx_model``'s graph inputs that are its weights, kept apart (pt2_direct.write)
    onnx_weights: dict[str, np.ndarray] | None = None

    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """The source model's outputs on ``feeds``, by graph output name."""
        example = self.example
        if (
            self._example_outputs
            and feeds.keys() == example.keys()
            and all(feeds[k] is example[k] for k in feeds)
        ):
            return self._example_outputs  # what the frontend computed on these very arrays
        return self._run(feeds)


def open_source(
    path: str | os.PathLike,
    inputs: dict | None = None,
    options: LoadOptions | None = None,
) -> Source:
    """Read ``path`` into the IR (see ``load``) and keep what runs the source model. ``path`` may be
    a model object instead (``in_memory.InMemoryModel``: ``bridgec.convert`` was handed one)."""
    given, dtypes = split_specs(inputs)
    if isinstance(path, InMemoryModel):
        from bridgec.frontends import in_memory

        name = Path(path.name)  # what messages call it
        if path.kind == "onnx":
            given, dtypes = named_specs(name, given, dtypes, in_memory.input_names(path))
            return onnx_source(name, *in_memory.read_onnx(path, given, dtypes))
        return _torch_source(name, *in_memory.open_torch(path, given, dtypes, options))
    path = Path(path)
    fmt = detect_format(path)
    _check_arch_used(path, fmt, options)
    if fmt in TORCH_FORMATS:
        from bridgec.frontends import pytorch

        return _torch_source(path, fmt, pytorch.open_model(path, fmt, given, options, dtypes))
    from bridgec.frontends import onnx_file

    model, graph = onnx_file.read(path, *_named_onnx_specs(path, given, dtypes))
    return onnx_source(path, model, graph)


def _torch_source(path: Path, fmt: str, opened: Any) -> Source:
    """The ``Source`` of a PyTorch model read into the IR (a ``pytorch.Opened``): PyTorch runs it."""
    return Source(
        path,
        fmt,
        opened.graph,
        "PyTorch",
        opened.example,
        opened.run,
        opened.onnx_model,
        opened.outputs or None,
        opened.state,
        opened.onnx_weights,
    )


def onnx_source(path: Path, model: Any, graph: gs.Graph) -> Source:
    """The ``Source`` of an ONNX model read into ``graph``: onnxruntime runs ``model`` as it was read."""
    example = random_inputs(graph, np.random.default_rng(0))

    def run(feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        from bridgec.core import runtimes

        try:
            return runtimes.run_model(model, feeds)
        except ConversionError as exc:
            unknown = _ops_onnxruntime_lacks(model)
            if unknown:  # a user's op (with a lowering pass, or as a custom layer): not the model's fault
                raise SourceUnrunnable(f"onnxruntime has no implementation of {', '.join(unknown)}") from None
            # standard ops only: onnxruntime, the ONNX reference, says the model itself is broken
            raise ConversionError(
                f"{path.name}: onnxruntime, the ONNX reference, fails on the model ({str(exc).removeprefix('onnxruntime could not run the graph: ')[:240]}): "
                "the file is invalid, or the model fails on the check input (give one with --check-input); "
                "nothing was written (--no-check converts it unchecked)"
            ) from None

    return Source(path, "onnx", graph, "onnxruntime", example, run, model)


_ONNXRUNTIME_DOMAINS = ("", "ai.onnx", "ai.onnx.ml", "com.microsoft")


def _ops_onnxruntime_lacks(model: Any) -> list[str]:
    """The ops of ``model`` from domains onnxruntime does not implement, unless the model defines
    them as functions (which onnxruntime runs)."""
    defined = {(f.domain, f.name) for f in model.functions}
    return sorted(
        {
            f"{node.domain}::{node.op_type}"
            for node in model.graph.node
            if node.domain not in _ONNXRUNTIME_DOMAINS and (node.domain, node.op_type) not in defined
        }
    )


def load(
    path: str | os.PathLike,
    inputs: dict | None = None,
    options: LoadOptions | None = None,
) -> gs.Graph:
    """Read ``path`` into the IR. ``inputs`` maps input names to shapes, e.g. ``{"x": (1, 3, 256, 256)}``;
    a shape may come with a dtype: ``{"ids": TensorSpec((1, 16), "int64")}`` or ``{"ids": ((1, 16),
    "int64")}`` (``bridgec.core.tensor_spec``); ``options`` carries the PyTorch flags (exporter,
    --trust-pickle, --import, --arch ...). ``path`` may be a model object (``InMemoryModel``)."""
    if isinstance(path, InMemoryModel):
        return open_source(path, inputs, options).graph
    path = Path(path)
    fmt = detect_format(path)
    _check_arch_used(path, fmt, options)
    given, dtypes = split_specs(inputs)
    if fmt in TORCH_FORMATS:
        from bridgec.frontends import pytorch

        return pytorch.load(path, fmt, given, options, dtypes)
    from bridgec.frontends import onnx_file

    return onnx_file.load(path, *_named_onnx_specs(path, given, dtypes))


def _check_arch_used(path: Path, fmt: str, options: LoadOptions | None) -> None:
    """--arch and --arch-args build the module of a state_dict file; given for a file that holds its
    own architecture, they would be ignored without a word. (A torch.save file is only known to hold a
    state_dict once read: the torch frontend refuses them there.)"""
    if options is None or not (options.arch or options.arch_args):
        return
    if options.arch_args and not options.arch:
        raise UsageError("--arch-args without --arch: they are the constructor arguments of --arch's class")
    if fmt in ("onnx", "torchscript"):
        what = "an ONNX model" if fmt == "onnx" else "a TorchScript archive"
        raise UsageError(
            f"--arch/--arch-args: {shown(path)} is {what}, which holds its own architecture; they are for "
            "state_dict files only (drop them)"
        )


def _named_onnx_specs(path: Path, given: dict, dtypes: dict) -> tuple[dict, dict]:
    """``--input`` shapes and dtypes by input name: an unnamed one names the .onnx file's only input."""
    if None not in given:
        return given, dtypes
    return named_specs(path, given, dtypes, _onnx_input_names(path))


def named_specs(path: Path, given: dict, dtypes: dict, names: list[str]) -> tuple[dict, dict]:
    """``_named_onnx_specs`` for an ONNX model whose input ``names`` are known."""
    if None not in given:
        return given, dtypes
    given, dtypes = dict(given), dict(dtypes)
    shape = given.pop(None)
    if len(names) != 1:
        raise UsageError(f"{path.name} has {plural(names, 'input')} ({', '.join(names)}); name each --input")
    from bridgec.frontends.shapes import given_once

    given_once(given, names[0], shape)
    given[names[0]] = shape
    if None in dtypes:
        dtypes[names[0]] = dtypes.pop(None)
    return given, dtypes


def run_pytorch(path: str | os.PathLike, feeds: dict, options: LoadOptions | None = None) -> dict | None:
    """The PyTorch model's outputs on ``feeds`` by output name, or None for an .onnx file."""
    path = Path(path)
    fmt = detect_format(path)
    if fmt not in TORCH_FORMATS:
        return None
    from bridgec.frontends import pytorch

    return pytorch.run_reference(path, fmt, feeds, options)


def _onnx_input_names(path: Path) -> list[str]:
    from bridgec.frontends import onnx_file

    model = onnx_file.load_proto(path)
    inits = {i.name for i in model.graph.initializer}
    return [i.name for i in model.graph.input if i.name not in inits]


__all__ = [
    "EXPORTERS",
    "FORMATS",
    "InMemoryModel",
    "LoadOptions",
    "Source",
    "described",
    "detect_format",
    "load",
    "open_source",
    "parse_input_spec",
    "parse_input_specs",
    "run_pytorch",
]
