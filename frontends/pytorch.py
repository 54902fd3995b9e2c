"""PyTorch models in any of the forms ``torch`` saves them, exported to ONNX with the kept ops.

Forms: TorchScript archives (``torch.jit.save``), ``torch.export`` archives (``.pt2``), whole
pickled modules (``torch.save(model)``: unpickling runs code, so only with ``--trust-pickle``) and
state_dicts (weights only: ``--arch pkg.module:Class`` builds the module), read by
``frontends.pytorch_load``. Three exporters (``frontends.pytorch_export``): ``direct``
(bridgec's own writer of a program's or a TorchScript graph's aten calls, ``pt2_direct`` and
``torchscript_direct``), ``torchscript`` (``torch.onnx.export(dynamo=False)`` with the kept-op
symbolics) and ``dynamo`` (``torch.onnx.export(dynamo=True)`` with custom translations producing
the same bridgec ops); ``auto`` tries the one that suits the form first and says so when it falls
back to another. This
module runs them in order: load, run once on seeded inputs, export, import the ONNX graph.
"""

from __future__ import annotations

import contextlib
import dataclasses
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bridgec.core import timing
from bridgec.core.errors import ConversionError, UsageError, out_of_memory
from bridgec.core.sizes import too_big
from bridgec.core.state import set_state
from bridgec.frontends import pt2_state
from bridgec.frontends.pytorch_export import export, exporters_in_order, flatten_outputs
from bridgec.frontends.pytorch_load import LoadedModel, LoadOptions, first_line, load_module


def example_inputs(
    loaded: LoadedModel, path: Path, given: dict | None, dtypes: dict | None = None
) -> tuple[dict[str, tuple[int, ...]], tuple]:
    """The input shapes (given ones win over recorded ones) and seeded random example tensors of them,
    of the dtype ``--input`` names, else the one the file records (a .pt2), else float32."""
    import torch

    from bridgec.frontends import shapes

    resolved = {**loaded.shapes, **shapes.resolve(given, loaded.inputs)}
    missing = [n for n in loaded.inputs if n not in resolved]
    if missing:
        example = " ".join(f"--input {n}:1x3x224x224" for n in missing)
        raise UsageError(f"{path.name}: the file records no input shapes; pass {example}")
    for name in loaded.inputs:
        why = too_big(resolved[name])
        if why:
            raise UsageError(f"{path.name}: input {name} of shape {resolved[name]} has {why}; pass --input")
    kinds = input_dtypes(loaded, path, dtypes)
    generator = torch.Generator().manual_seed(0)
    return resolved, tuple(_example(resolved[n], kinds[n], generator) for n in loaded.inputs)


def input_dtypes(loaded: LoadedModel, path: Path, dtypes: dict | None) -> dict[str, Any]:
    """The torch dtype of each input: the one ``--input`` names (numpy), which must agree with what
    a .pt2 records, else the recorded one, else float32."""
    import torch

    from bridgec.frontends import shapes

    asked = {name: _torch_dtype(dtype) for name, dtype in shapes.resolve(dtypes, loaded.inputs).items()}
    for name, dtype in asked.items():
        recorded = loaded.dtypes.get(name)
        if recorded is not None and recorded != dtype:
            raise UsageError(
                f"{path.name}: --input {name} asks for {_shown(dtype)}, but the archive records {name} as "
                f"{_shown(recorded)}; drop the dtype (a .pt2's input dtypes are used as recorded)"
            )
    return {name: asked.get(name, loaded.dtypes.get(name, torch.float32)) for name in loaded.inputs}


def _torch_dtype(dtype: np.dtype) -> Any:
    import torch

    return torch.from_numpy(np.empty(0, dtype)).dtype


def _shown(dtype: Any) -> str:
    return str(dtype).removeprefix("torch.")


def _example(shape: tuple[int, ...], dtype: Any, generator: Any) -> Any:
    """A seeded random tensor: standard normal floats (drawn in float32, so a float16 input gets the
    same numbers rounded), integers 0 and 1 (a valid index into any table, and what masks and token
    type ids take; the check draws indices from the table sizes once the graph is known), random bools."""
    import torch

    if dtype.is_floating_point:
        values = torch.randn(*shape, generator=generator)
        return values if dtype == torch.float32 else values.to(dtype)
    if dtype == torch.bool:
        return torch.randint(0, 2, shape, generator=generator).bool()
    return torch.randint(0, 2, shape, generator=generator, dtype=dtype)


def _hint(exc: BaseException, kinds: list[Any]) -> str:
    """What to do when a model wants integer inputs and was given floats."""
    import torch

    text = str(exc)
    if any(k == torch.float32 for k in kinds) and re.search(r"\b(Long|Int)\b|indices", text):
        return " (an input that holds indices needs its dtype: --input NAME:DIMS:int64)"
    return ""


@dataclass
class Opened:
    """A PyTorch file read into the IR, with the model kept to run again (the conversion check) and
    its outputs on the seeded example inputs the export traced with."""

    graph: Any  # gs.Graph
    loaded: LoadedModel
    example: dict[str, np.ndarray]  # input name -> the seeded random example input
    outputs: dict[str, np.ndarray]  # output name (as the graph names it) -> PyTorch's value on ``example``
    onnx_model: Any = None  # the exported ONNX model, before any pass
    state: pt2_state.PyTorchState | None = None  # buffers the forward writes (graph: bridgec.core.state)
    # the values of ``onnx_model``'s graph inputs that are its weights, kept apart (pt2_direct.write)
    onnx_weights: dict[str, np.ndarray] = field(default_factory=dict)

    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """PyTorch's outputs on ``feeds``, named as the graph's outputs."""
        import torch

        with _one_run():
            result = self.loaded.runnable()(
                *(torch.from_numpy(np.ascontiguousarray(feeds[n])) for n in self.loaded.inputs)
            )
        return _named_outputs(result, self.loaded.inputs)


@contextlib.contextmanager
def _one_run() -> Iterator[None]:
    """A forward pass run once, for its values: no autograd, and a TorchScript module interpreted as
    it is. Its graph executor would otherwise profile this first run to optimise later ones (there
    are none): 0.1 s of mobilenet_v2's and efficientnet_b0's 0.15-0.2 s run, with the same values
    (the profiling run executes the unoptimised graph too; compared bit for bit on the four models
    of tools/bench_speed.py)."""
    import torch

    with torch.no_grad(), torch.jit.optimized_execution(False):
        yield


def _named_outputs(result: Any, inputs: list[str]) -> dict[str, np.ndarray]:
    names, tensors = flatten_outputs(result, inputs)
    return {name: t.detach().numpy() for name, t in zip(names, tensors, strict=True)}


def open_model(
    path: Path, fmt: str, given: dict | None, options: LoadOptions | None = None, dtypes: dict | None = None
) -> Opened:
    """Read a PyTorch file into the IR: load, run once on seeded random inputs of the given shapes
    and dtypes (``example_inputs``), export, import. The run's outputs are kept: they are the
    reference the conversion is checked against, at no second forward pass."""
    options = options or LoadOptions()
    return open_loaded(load_module(path, fmt, options), fmt, path, given, options, dtypes)


def open_loaded(
    loaded: LoadedModel,
    fmt: str,
    path: Path,
    given: dict | None,
    options: LoadOptions,
    dtypes: dict | None = None,
    args: tuple | None = None,
) -> Opened:
    """``open_model`` from the loaded model on: a file's, or a model object ``bridgec.convert`` was
    handed (``frontends.in_memory``; ``path`` then only names it). ``args``: the example tensors to
    run and export with, instead of seeded random ones."""
    import torch

    from bridgec.frontends import onnx_file

    if args is None:
        resolved, args = example_inputs(loaded, path, given, dtypes)
    else:
        resolved = {name: tuple(arg.shape) for name, arg in zip(loaded.inputs, args, strict=True)}
    state = None
    # only torch.export records what a forward writes: for the other forms a write is refused
    watch = pt2_state.BufferWatch(loaded.module) if fmt != "pt2" else None
    try:
        if fmt == "pt2":
            made = pt2_state.stateful(loaded.module, args, loaded.inputs)
            if made is not None:  # buffers the forward writes: inputs and outputs of a pure program
                loaded, args, resolved, state = _with_state(loaded, args, resolved, *made)
        with _one_run():
            result = loaded.runnable()(*args)
    except (UsageError, ConversionError):  # bridgec's own refusals (a written buffer it cannot keep)
        raise
    except Exception as exc:  # noqa: BLE001 - a shape the model cannot take: the model's own message
        if out_of_memory(exc):
            raise MemoryError(first_line(exc)) from None
        shown = ", ".join(
            f"{n}:{resolved[n]}" + ("" if a.dtype == torch.float32 else f" {_shown(a.dtype)}")
            for n, a in zip(loaded.inputs, args, strict=True)
        )
        raise UsageError(
            f"{path.name}: the model does not run on inputs of shape {shown}: {first_line(exc, last=True)}"
            f"{_hint(exc, [a.dtype for a in args])}"
        ) from None
    if watch is not None:
        watch.refuse_writes(path.name)
    # a program pt2_state found writing nothing (a writing one is a pure module by now) may be traced
    pure = fmt == "pt2" and state is None
    first = exporters_in_order(loaded.module, options.exporter, loaded.prefer, pure=pure)[0]
    options.step(f"exporting {path.name} to ONNX with the {first} exporter")
    apart: dict[str, np.ndarray] = {}  # the direct exporter's large weights, as arrays
    with timing.stage("export"):
        model, used = export(
            loaded.module,
            args,
            loaded.inputs,
            options.exporter,
            name=path.name,
            prefer=loaded.prefer,
            pure=pure,
            notify=options.say,
            step=options.step,
            result=result,
            weights_apart=apart,
        )
    # a program's exporters (direct, its trace, dynamo) are all its own: a fallback among them is
    # only a progress line
    if options.exporter == "auto" and used not in (first, loaded.prefer) and fmt != "pt2":
        options.say(f"exported {path.name} with the {used} exporter")
    if state is not None:
        pt2_state.refuse_constant_states(model, state.buffers, path.name, weights=apart)
    graph = onnx_file.graph_from_model(model, path, resolved, weights=apart)
    if state is not None:
        set_state(graph, state.buffers)
    example = {name: arg.numpy() for name, arg in zip(loaded.inputs, args, strict=True)}
    try:
        outputs = _named_outputs(result, loaded.inputs)
    except Exception:  # noqa: BLE001 - outputs that are not tensors: the check reruns and says why
        outputs = {}
    return Opened(graph, loaded, example, outputs, model, state, apart)


def _with_state(
    loaded: LoadedModel, args: tuple, resolved: dict, pure: Any, state: pt2_state.PyTorchState
) -> tuple[LoadedModel, tuple, dict, pt2_state.PyTorchState]:
    """The loaded model, example arguments and shapes of the pure program ``pt2_state.stateful``
    made: the state inputs come after the user's, at the buffers' registered values."""
    import torch

    names = [b.input for b in state.buffers]
    values = tuple(torch.from_numpy(state.initial[n].copy()) for n in names)
    pure_loaded = LoadedModel(
        pure,
        [*loaded.inputs, *names],
        {**loaded.shapes, **{n: tuple(v.shape) for n, v in zip(names, values, strict=True)}},
        "dynamo",
        {**loaded.dtypes, **{n: v.dtype for n, v in zip(names, values, strict=True)}},
    )
    shapes = {**resolved, **{n: tuple(v.shape) for n, v in zip(names, values, strict=True)}}
    return pure_loaded, (*args, *values), shapes, state


def load(
    path: Path, fmt: str, given: dict | None, options: LoadOptions | None = None, dtypes: dict | None = None
) -> Any:
    """Read a PyTorch file into the IR (see ``open_model``)."""
    return open_model(path, fmt, given, options, dtypes).graph


def run_reference(
    path: Path, fmt: str, feeds: dict[str, np.ndarray], options: LoadOptions | None = None
) -> dict[str, np.ndarray]:
    """The PyTorch model's own outputs on ``feeds``, by the same names the exported graph has."""
    import torch

    # loaded a second time: its warnings were already given by load()
    quiet = dataclasses.replace(options, notify=None) if options else LoadOptions()
    loaded = load_module(path, fmt, quiet)
    with _one_run():
        result = loaded.runnable()(*(torch.from_numpy(feeds[n]) for n in loaded.inputs))
    names, tensors = flatten_outputs(result, loaded.inputs)
    return {name: t.detach().numpy() for name, t in zip(names, tensors, strict=True)}


__all__ = ["Opened", "example_inputs", "load", "open_loaded", "open_model", "run_reference"]
