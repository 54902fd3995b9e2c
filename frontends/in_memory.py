"""Models handed to ``bridgec.convert`` as objects: an ``nn.Module``, a TorchScript module, a
``torch.export`` program or an ONNX ``ModelProto``, read into the IR as the file each would be saved
as is read, without writing it anywhere.

An ``nn.Module`` goes through ``torch.export.export`` (the path torch recommends; ``torch.jit`` is
deprecated) and then the ``.pt2`` path: ``pt2_state`` for buffers the forward writes, the dynamo
ONNX exporter. The numbers check runs the caller's module itself, not the export. With
``exporter="torchscript"`` the module is exported as a pickled module file is (the TorchScript
exporter traces it). Nothing here imports torch or onnx unless the object is theirs.
"""

from __future__ import annotations

import sys
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bridgec.core.errors import ConversionError, UsageError
from bridgec.core.words import plural

# what messages call each kind of object
KINDS = {
    "module": "an nn.Module",
    "torchscript": "a TorchScript module",
    "pt2": "a torch.export program",
    "onnx": "an ONNX ModelProto",
}


@dataclass(eq=False)
class InMemoryModel:
    """A model object and the name messages and the written model's metadata call it (its class
    name). It answers ``name``, ``stem`` and ``with_suffix`` as a file's path does, so that the
    stages naming things after the source need no case of their own. ``example``: the tensors a
    torch module is run and exported with (``example_inputs=``), instead of seeded random ones."""

    obj: Any
    kind: str
    name: str
    example: tuple | None = None

    @property
    def stem(self) -> str:
        return self.name

    def with_suffix(self, suffix: str) -> Path:
        return Path(self.name).with_suffix(suffix)

    def __str__(self) -> str:
        return f"{self.name} ({KINDS[self.kind]})"


def of(obj: Any, example: tuple | None = None) -> InMemoryModel | None:
    """``obj`` as an in-memory model, or None when it is no model object (a path, ...). torch and
    onnx are only asked when the caller has imported them: their objects cannot exist otherwise."""
    torch = sys.modules.get("torch")
    if torch is not None:
        if isinstance(obj, torch.jit.ScriptModule):
            return InMemoryModel(obj, "torchscript", obj.original_name or "ScriptModule", example)
        if isinstance(obj, torch.export.ExportedProgram):
            return InMemoryModel(obj, "pt2", "ExportedProgram", example)
        if isinstance(obj, torch.nn.Module):
            return InMemoryModel(obj, "module", type(obj).__name__, example)
    onnx = sys.modules.get("onnx")
    if onnx is not None and isinstance(obj, onnx.ModelProto):
        return InMemoryModel(obj, "onnx", "ModelProto", example)
    return None


def input_names(model: InMemoryModel) -> list[str]:
    """The model's input names, in the order its forward (or graph) takes them."""
    from bridgec.frontends.pytorch_load import exported, forward_input_names

    if model.kind == "onnx":
        initializers = {i.name for i in model.obj.graph.initializer}
        return [i.name for i in model.obj.graph.input if i.name not in initializers]
    if model.kind == "pt2":
        return exported(model.obj).inputs
    return forward_input_names(model.obj)


def open_torch(model: InMemoryModel, given: dict, dtypes: dict, options: Any = None) -> tuple[str, Any]:
    """The frontend format ``model`` is read as and its ``pytorch.Opened`` (see ``frontends.open_source``)."""
    from bridgec.frontends import pytorch
    from bridgec.frontends.pytorch_load import LoadedModel, LoadOptions, exported

    path = Path(model.name)  # what messages call it
    options = options or LoadOptions()
    if model.kind == "pt2":
        fmt, loaded = "pt2", exported(model.obj)
        args = None if model.example is None else _example_args(model, loaded, path, given, dtypes)
    else:
        loaded = LoadedModel(model.obj, input_names(model), {}, "torchscript")
        args = _example_args(model, loaded, path, given, dtypes)
        if model.kind == "torchscript":
            fmt = "torchscript"
        elif options.exporter == "torchscript":  # exported as a pickled module file is: traced
            fmt = "pickle"
        else:
            fmt, loaded = "pt2", exported(_export(model, args), reference=model.obj)
    return fmt, pytorch.open_loaded(loaded, fmt, path, given, options, dtypes, args)


def _example_args(model: InMemoryModel, loaded: Any, path: Path, given: dict, dtypes: dict) -> tuple:
    """The caller's example tensors, or seeded random ones of the given shapes."""
    from bridgec.frontends import pytorch

    if model.example is None:
        return pytorch.example_inputs(loaded, path, given, dtypes)[1]
    import torch

    if len(model.example) != len(loaded.inputs):
        raise UsageError(
            f"{model.name}: example_inputs holds {plural(model.example, 'tensor')} and forward takes "
            f"{len(loaded.inputs)} ({', '.join(loaded.inputs)}); give one for each"
        )
    return tuple(t if isinstance(t, torch.Tensor) else torch.from_numpy(t) for t in model.example)


def _export(model: InMemoryModel, args: tuple) -> Any:
    """``torch.export.export`` of the module; its failure in one line, with what to try instead."""
    import torch

    from bridgec.frontends.pytorch_export import _native_output_hidden
    from bridgec.frontends.pytorch_load import first_line

    try:
        with warnings.catch_warnings(), _native_output_hidden():  # torch prints the graph it failed on
            warnings.simplefilter("ignore")
            return torch.export.export(model.obj, args, strict=False)
    except (UsageError, ConversionError):
        raise
    except Exception as exc:  # noqa: BLE001 - torch.export fails in many ways on user code
        failure = exc
    try:  # a module that does not run on these inputs at all: say that, not how export failed
        with torch.no_grad():
            model.obj(*args)
    except Exception as exc:  # noqa: BLE001 - the model's own error
        shapes = ", ".join("x".join(map(str, a.shape)) for a in args)
        raise UsageError(
            f"{model.name}: the model does not run on inputs of shape {shapes}: {first_line(exc, last=True)}"
        ) from None
    raise ConversionError(
        f"{model.name}: torch.export.export failed: {first_line(failure)}; give example_inputs= the "
        'tensors its forward takes, exporter="torchscript" (traced instead), or a ScriptModule'
    ) from None


def read_onnx(model: InMemoryModel, given: dict, dtypes: dict) -> tuple[Any, Any]:
    """The ONNX model as ``onnx_file.read`` returns a file's: validated, and as the IR graph."""
    import onnx

    from bridgec.frontends import onnx_file

    proto = onnx.ModelProto()
    proto.CopyFrom(model.obj)  # the frontend changes what it reads: the caller's model stays as it is
    return onnx_file.read_model(proto, Path(model.name), given, dtypes, in_memory=True)


__all__ = ["KINDS", "InMemoryModel", "input_names", "of", "open_torch", "read_onnx"]
