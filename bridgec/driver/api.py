"""``bridgec.convert``: one call from a PyTorch or ONNX model in memory (or a file) to a checked Core ML
or Core AI model in memory, written only by ``ConvertedModel.save``.

It builds the same ``ConversionRequest`` the command line builds (``write=False``) and runs the same
stages; ``save`` is the command line's write stage. Messages name ``convert``'s keywords, not the
command line's flags (``bridgec.driver.keywords``). Importing this module imports neither torch,
onnx nor coremltools: ``bridgec.convert`` is reached from ``import bridgec``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bridgec.core.errors import UsageError
from bridgec.driver.keywords import for_python, python_wording

if TYPE_CHECKING:
    import onnx
    import torch

    from bridgec.backends.coreml.metadata import Metadata
    from bridgec.driver.check import Check
    from bridgec.driver.convert import Conversion
    from bridgec.driver.pipeline import RunOptions
    from bridgec.driver.report import Report
    from bridgec.frontends import InMemoryModel, LoadOptions


class ConvertedModel:
    """A converted, checked model, in memory: nothing is on disk until ``save``.

    ``format`` (``"mlprogram"``, ``"neuralnetwork"`` or ``"coreai"``) and ``format_reason`` (why
    that one), ``target`` (``"iOS15"``...), ``report`` (the op report: what became of each op,
    ``.to_dict()`` / ``.to_json()`` / ``.render("markdown" | "html")``), ``check`` (what the numbers
    check proved: ``.status``, ``.outputs`` with each output's ``max_rel`` and ``max_abs``,
    ``.line()``), ``spec`` (the Core ML protobuf) and ``conversion`` (the driver's whole result: the
    request, the rewritten graph, the built model)."""

    def __init__(self, conversion: Conversion) -> None:
        self.conversion = conversion

    @property
    def format(self) -> str:
        return self.conversion.format

    @property
    def format_reason(self) -> str:
        """Why this format: ``"no custom layer remains"``, ``"format='neuralnetwork'"``, ..."""
        return for_python(self.conversion.format_reason)

    @property
    def target(self) -> str:
        return self.conversion.context.capabilities.target.name

    @property
    def report(self) -> Report:
        return self.conversion.report

    @property
    def check(self) -> Check:
        return self.conversion.check

    @property
    def spec(self) -> Any:
        """The Core ML protobuf (``coremltools.proto.Model_pb2.Model``; an ML Program's weights are
        in its ``.mlpackage``, written by ``save``). A Core AI model has none: its program is
        ``conversion.model.program`` (``backends.coreai.builder.BuiltProgram``, a
        ``coreai.authoring`` module that ``save`` writes as the ``.aimodel`` folder)."""
        return self.conversion.spec

    @property
    def suffix(self) -> str:
        """What the saved model's name ends with: ``.mlpackage``, ``.mlmodel`` or ``.aimodel``."""
        if self.format == "coreai":
            from bridgec.backends.coreai.targets import SUFFIX

            return SUFFIX
        from bridgec.backends.coreml.targets import SUFFIXES

        return SUFFIXES[self.format]

    def save(self, path: str | os.PathLike) -> list[Path]:
        """Write the model at ``path`` (``suffix`` added when it has none) and, for a NeuralNetwork with
        custom layers, the Swift/Metal kernels package ``bridgec_kernels/`` beside it, all at once or
        not at all, as the command line writes them; returns the paths written, the model first.
        Refused (UsageError): a suffix of another format, a path that is the source model or a
        ``check_inputs`` file, a folder or kernels folder bridgec did not write."""
        with python_wording():
            return self._save(Path(os.fspath(path)))

    def _save(self, path: Path) -> list[Path]:
        from bridgec.backends.coreml.targets import FORMAT_NAMES

        suffix = self.suffix
        if not path.suffix:
            path = path.with_name(path.name + suffix)
        if path.suffix != suffix:
            what = FORMAT_NAMES.get(self.format, "Core AI")
            hint = "; or convert it with format='neuralnetwork'" if path.suffix == ".mlmodel" else ""
            raise UsageError(
                f"save({str(path)!r}): the model's format is {what} ({self.format_reason}), saved as a "
                f"{suffix}; name {path.name}{suffix} or {path.stem}{suffix}{hint}"
            )
        conversion = self.conversion
        request = conversion.request
        outputs = dataclasses.replace(request.outputs, model=path, write=True)
        saving = dataclasses.replace(conversion, request=dataclasses.replace(request, outputs=outputs))
        if self.format == "coreai":
            from bridgec.driver import convert_coreai

            convert_coreai.write(saving)
        else:
            from bridgec.driver.convert import write

            write(saving)
        return [saving.model_path, *([saving.kernels_dir] if saving.kernels_dir else [])]

    def __repr__(self) -> str:
        counts = self.report.counts()
        nodes = ", ".join(f"{n} {status}" for status, n in counts.items() if n)
        model = self.conversion.model
        ops = ""
        if hasattr(model, "op_counts"):  # a Core ML model: its layers or MIL ops
            kinds = model.op_counts()
            shown = ", ".join(f"{kind} {n}" for kind, n in kinds.most_common(4))
            ops = f"\n  ops: {shown}{', ...' if len(kinds) > 4 else ''}"
        return (
            f"<ConvertedModel {self.conversion.request.model.name}: {self.report.target} ({self.format_reason})"
            f"\n  nodes: {sum(counts.values())} ({nodes}), -O {self.report.pipeline}{ops}"
            f"\n  {for_python(self.check.line())}>"
        )


def convert(
    model: torch.nn.Module | torch.export.ExportedProgram | onnx.ModelProto | str | os.PathLike,
    inputs: Mapping[str | None, Any] | Sequence[Any] | None = None,
    *,
    example_inputs: torch.Tensor | Sequence[torch.Tensor] | Any = None,
    format: str = "auto",
    target: str | None = None,
    precision: str | None = None,
    pipeline: str | None = None,
    check: bool = True,
    check_inputs: Mapping[str | None, Any] | None = None,
    tolerance: float | None = None,
    strict: bool = False,
    avoid_ops: Sequence[str] = (),
    compress: str | None = None,
    metadata: Metadata | None = None,
    image: Any = None,
    image_outputs: Sequence[Any] = (),
    labels: Sequence[str] | None = None,
    labels_output: str | None = None,
    exporter: str | None = None,
    frontend: LoadOptions | None = None,
    options: RunOptions | None = None,
    progress: Callable[[str], None] | None = None,
) -> ConvertedModel:
    """Convert ``model`` to Core ML (or Core AI), check its numbers against the model itself, and
    return it in memory (``ConvertedModel``); nothing is written until ``.save(path)``::

        result = bridgec.convert(model, inputs={"x": (1, 3, 224, 224)})
        result.save("model.mlpackage")

    ``model``: an ``nn.Module`` (exported with ``torch.export.export``; when that fails the error
    names torch's reason; give ``example_inputs`` its forward takes, ``exporter="torchscript"``
    to trace it instead, or a ScriptModule. It runs in eval mode during the conversion; its
    train/eval flags and the buffers its forward writes are restored after), a ``torch.jit.ScriptModule``, a
    ``torch.export.ExportedProgram``, an ``onnx.ModelProto`` (with its weights in it) or the path of a
    ``.pt`` / ``.pt2`` / ``.onnx`` / ``torch.save`` file. The check compares against that model:
    PyTorch runs the module, program or file, onnxruntime the ONNX model.

    ``inputs``: shapes by input name, ``{"x": (1, 3, 224, 224)}``; a list of shapes in the order of
    the model's inputs; a value may carry a dtype: ``bridgec.TensorSpec((1, 16), "int64")`` or
    ``((1, 16), "int64")``, or be the command line's text (``"1x3x(128..512)x(128..512)"`` for
    flexible shapes). A ``.pt2``, an ExportedProgram or an ONNX model records its own.
    ``example_inputs``: instead of ``inputs``, the tensors (torch or numpy, one or a tuple) to trace
    and check with; a module or ScriptModule needs one or the other.

    ``format``: ``"auto"`` (an ML Program, or a NeuralNetwork when custom layers remain),
    ``"mlprogram"`` (``.mlpackage``), ``"neuralnetwork"`` (``.mlmodel``, the format with custom
    layers) or ``"coreai"`` (``.aimodel``, iOS27 / macOS27). ``target``: ``"iOS13"`` ... ``"iOS18"``,
    ``"macOS…"``, ``"iOS27"`` (default iOS15, iOS27 for Core AI). ``precision``: ``"fp32"``
    (default) or ``"fp16"``. ``pipeline``: ``"lower-custom"`` (default), ``"lower"``, ``"custom"``
    or ``"none"`` (the command line's ``-O``). ``avoid_ops``: ONNX op types to treat as missing.
    ``compress``: ``"int8"``, ``"int4"``, ``"palettize8"``, ... (weights in fewer bits).

    ``check=False`` skips the numbers check (``result.check.status == "not checked"``);
    ``check_inputs``: arrays (or ``.npy`` paths) by input name to check on instead of seeded random
    data (``example_inputs`` of an ONNX model or a file become these); ``tolerance``: the largest
    accepted error relative to each output's scale (default 1e-4 at fp32, 5e-2 at fp16);
    ``strict=True``: a model the reference executor cannot run raises instead of being returned
    unchecked.

    For apps: ``metadata`` (``bridgec.backends.coreml.metadata.Metadata``), ``image``
    (``backends.coreml.image.ImageInput``), ``image_outputs`` (``ImageOutput``\\ s), ``labels`` (class
    labels of the scores output) and ``labels_output``. How files and modules are read:
    ``exporter`` (``"auto"``, ``"dynamo"``, ``"torchscript"``) or ``frontend``
    (``frontends.LoadOptions``); pass options: ``options`` (``driver.pipeline.RunOptions``);
    ``progress``: called with one line per stage.

    Raises ``bridgec.UsageError`` (the call or the model is wrong), ``bridgec.ConversionError``
    (it cannot be converted as asked) or ``bridgec.CheckFailed`` (a subclass of ConversionError:
    the numbers differ; its ``.check`` says where), all ``bridgec.BridgecError``, each with one
    line naming what is wrong and the fix."""
    with python_wording():
        source = _model(model, example_inputs)
        given, flexible, checked_on = _inputs(source, inputs, example_inputs)
        keywords: dict[str, Any] = {
            "inputs": given,
            "flexible": flexible,
            "format": format,
            "target": target,
            "avoid_ops": tuple(avoid_ops),
            "compress": compress,
            "metadata": metadata,
            "image": image,
            "image_outputs": tuple(image_outputs),
            "labels": list(labels) if labels is not None else None,
            "labels_output": labels_output,
            "options": options,
            "progress": progress,
            "check": check,
            "check_inputs": check_inputs if check_inputs is not None else checked_on,
            "strict": strict,
            "tolerance": tolerance,
            "write": False,
        }
        for name, value in (("precision", precision), ("pipeline", pipeline)):
            if value is not None:  # else the request's default
                keywords[name] = value
        if exporter is not None or frontend is not None:
            from bridgec.frontends import LoadOptions

            frontend = frontend or LoadOptions()
            keywords["frontend"] = dataclasses.replace(frontend, exporter=exporter or frontend.exporter)
        from bridgec.driver.convert import run
        from bridgec.driver.provenance import invoked
        from bridgec.driver.request import ConversionRequest

        request = ConversionRequest.of(source, **keywords)
        in_memory = None if isinstance(source, Path) else str(source)
        with _evaluating(source), invoked(_call(source, keywords), in_memory):
            return ConvertedModel(run(request))


def _call(source: Path | InMemoryModel, keywords: dict[str, Any]) -> str:
    """The call as the report's provenance shows it: the model and the keywords that say what to make."""
    model = repr(str(source)) if isinstance(source, Path) else f"<{source}>"
    shown = [
        f"{k}={keywords[k]!r}"
        for k in ("inputs", "format", "target", "precision", "pipeline")
        if keywords.get(k)
    ]
    return f"bridgec.convert({', '.join([model, *shown])})"


def _model(model: Any, example: Any) -> Path | InMemoryModel:
    """``model`` as the request holds it: a file's path, or the object (``frontends.InMemoryModel``,
    with the example tensors a torch model is run and exported with)."""
    if isinstance(model, (str, os.PathLike)):
        return Path(os.fspath(model))
    from bridgec.frontends import in_memory

    found = in_memory.of(model)
    if found is None:
        raise UsageError(
            f"convert({type(model).__name__}): give an nn.Module, a ScriptModule, an ExportedProgram, an "
            "onnx.ModelProto or the path of a .pt, .pt2 or .onnx file"
        )
    if example is not None and found.kind != "onnx":
        import torch

        found.example = tuple(
            t if isinstance(t, torch.Tensor) else torch.from_numpy(t) for t in _example_tuple(example)
        )
    return found


def _example_tuple(example: Any) -> tuple:
    return tuple(example) if isinstance(example, (tuple, list)) else (example,)


def _inputs(
    source: Path | InMemoryModel, inputs: Any, example: Any
) -> tuple[dict | None, dict | None, dict | None]:
    """``inputs`` (or ``example_inputs``) as the request's ``inputs`` and ``flexible`` by input name,
    and the arrays the check runs on when the example cannot go to the frontend (ONNX, files)."""
    from bridgec.core.tensor_spec import TensorSpec
    from bridgec.frontends import InMemoryModel

    in_memory = isinstance(source, InMemoryModel)
    if example is not None:
        if inputs is not None:
            raise UsageError("convert(): give inputs= (shapes) or example_inputs= (tensors), not both")
        arrays = [_array(t) for t in _example_tuple(example)]
        names = _names(source, len(arrays), "example_inputs")
        specs = {
            name: _spec_of(array, f"example_inputs[{i}]")
            for i, (name, array) in enumerate(zip(names, arrays, strict=True))
        }
        to_check = None if in_memory and source.example is not None else dict(zip(names, arrays, strict=True))
        return specs, None, to_check
    if inputs is None:
        if in_memory and source.kind in ("module", "torchscript"):
            raise UsageError(
                f"{source}: records no input shapes; give inputs={{'x': (1, 3, 224, 224)}} or "
                "example_inputs=(torch.randn(1, 3, 224, 224),)"
            )
        return None, None, None
    if isinstance(inputs, TensorSpec) or _is_shape(inputs):
        inputs = [inputs]
    if not isinstance(inputs, Mapping):
        inputs = list(inputs)
        inputs = dict(zip(_names(source, len(inputs), "inputs"), inputs, strict=True))
    texts = {name: value for name, value in inputs.items() if isinstance(value, str)}
    given = {name: value for name, value in inputs.items() if not isinstance(value, str)}
    flexible = None
    if texts:
        from bridgec.frontends.shapes import parse_flexible_specs, parse_input_specs

        specs = [f"{name}:{text}" if name is not None else text for name, text in texts.items()]
        given.update(parse_input_specs(specs))
        flexible = parse_flexible_specs(specs) or None
    return given, flexible, None


def _is_shape(value: Any) -> bool:
    return isinstance(value, (tuple, list)) and bool(value) and all(isinstance(d, int) for d in value)


def _names(source: Path | InMemoryModel, count: int, keyword: str) -> list[str | None]:
    """The input names ``count`` positional values stand for: the model's inputs, in order."""
    from bridgec import frontends
    from bridgec.frontends import in_memory

    if isinstance(source, frontends.InMemoryModel):
        names = in_memory.input_names(source)
    elif count == 1:
        return [None]  # the file's only input, whatever its name (the frontend checks there is one)
    elif frontends.detect_format(source) == "onnx":
        from bridgec.frontends.onnx_file import load_proto

        names = in_memory.input_names(in_memory.of(load_proto(source)))
    else:
        raise UsageError(f"{keyword}: {source.name} takes several inputs; name each: {keyword}={{'x': ...}}")
    if count != len(names):
        raise UsageError(
            f"{keyword}: {count} given for {source}, which takes {len(names)} ({', '.join(names)}); "
            "give one for each"
        )
    return list(names)


def _array(value: Any) -> Any:
    import numpy as np

    if hasattr(value, "detach"):  # a torch tensor
        return value.detach().cpu().numpy()
    return np.asarray(value)


def _spec_of(array: Any, label: str) -> Any:
    from bridgec.core.tensor_spec import DTYPE_CHOICES, DTYPES, TensorSpec, dtype_name

    if array.dtype not in DTYPES.values():
        raise UsageError(f"{label} is {dtype_name(array.dtype)}; give {DTYPE_CHOICES}")
    return TensorSpec(array.shape, array.dtype)


@contextlib.contextmanager
def _evaluating(source: Path | InMemoryModel) -> Iterator[None]:
    """A module in eval mode while it is converted and checked, and as it was after: its own
    train/eval flags, and the buffers a forward writes (a KV cache, a running mean: the check runs
    the exported program, which shares them with the module)."""
    module = getattr(source, "obj", None)
    if not hasattr(module, "modules"):  # an ExportedProgram, an ONNX model, a file
        yield
        return
    import torch

    modes = [(m, m.training) for m in module.modules()]
    buffers = [(b, b.detach().clone()) for b in module.buffers()]
    module.eval()
    try:
        yield
    finally:
        for part, training in modes:  # parents first: a child's own flag is set after its parent's
            part.train(training)
        with torch.no_grad():
            for buffer, value in buffers:
                buffer.copy_(value)


__all__ = ["ConvertedModel", "convert"]
