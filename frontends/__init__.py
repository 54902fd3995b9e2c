"""Frontends: read a model file into bridgec's IR (an onnx-graphsurgeon graph).

Formats today: TorchScript archives (``torch.jit.save``) and ``.onnx`` files. torch is imported
only for TorchScript, so converting an ``.onnx`` file never pays for it.
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import onnx_graphsurgeon as gs
from bridgec.frontends.shapes import parse_input_spec, parse_input_specs

from bridgec.errors import UsageError

FORMATS = ("torchscript", "onnx")


def detect_format(path: Path) -> str:
    """Which frontend reads ``path``; a clear error for files bridgec cannot read (yet)."""
    if not path.exists():
        raise UsageError(f"{path}: no such file")
    if path.is_dir():
        raise UsageError(f"{path}: is a directory, not a model file")
    if zipfile.is_zipfile(path):
        try:
            with zipfile.ZipFile(path) as archive:
                names = archive.namelist()
        except (zipfile.BadZipFile, OSError):
            raise UsageError(f"{path}: a damaged zip archive, not a readable model") from None
        if any(n.endswith("constants.pkl") for n in names) and any("/code/" in n for n in names):
            return "torchscript"
        if (
            any(
                n.endswith(".pt2") or "/models/" in n or n.endswith("serialized_exported_program.json")
                for n in names
            )
            or path.suffix == ".pt2"
        ):
            raise UsageError(
                f"{path}: torch.export (.pt2) archives are not supported yet; save the model with "
                "torch.jit.save(torch.jit.trace(model, example_inputs), 'model.pt')"
            )
        if any(n.endswith("data.pkl") for n in names):
            raise UsageError(
                f"{path}: a pickled module or state_dict (torch.save), which bridgec does not "
                "unpickle; save it as TorchScript: torch.jit.save(torch.jit.trace(model, example), "
                "'model.pt')"
            )
        raise UsageError(f"{path}: a zip archive that is not a TorchScript model")
    if path.suffix.lower() == ".onnx":
        return "onnx"
    with open(path, "rb") as handle:
        head = handle.read(2)
    if head[:1] == b"\x08":  # ModelProto starts with field 1 (ir_version) as a varint
        return "onnx"
    raise UsageError(
        f"{path}: not a model bridgec can read (expected a TorchScript archive or an .onnx file)"
    )


def load(path: str | os.PathLike, inputs: dict | None = None) -> gs.Graph:
    """Read ``path`` into the IR. ``inputs`` maps input names to shapes, e.g. ``{"x": (1, 3, 256, 256)}``."""
    path = Path(path)
    fmt = detect_format(path)
    given = {k: tuple(v) for k, v in (inputs or {}).items()}
    if fmt == "torchscript":
        from bridgec.frontends import torchscript

        return torchscript.load(path, given)
    from bridgec.frontends import onnx_file

    if None in given:
        given = dict(given)
        shape = given.pop(None)
        names = _onnx_input_names(path)
        if len(names) != 1:
            raise UsageError(f"{path.name} has {len(names)} inputs ({', '.join(names)}); name each --input")
        given[names[0]] = shape
    return onnx_file.load(path, given)


def _onnx_input_names(path: Path) -> list[str]:
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    inits = {i.name for i in model.graph.initializer}
    return [i.name for i in model.graph.input if i.name not in inits]


__all__ = ["FORMATS", "detect_format", "load", "parse_input_spec", "parse_input_specs"]
