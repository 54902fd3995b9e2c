"""A loaded PyTorch module to ONNX with the kept ops, by either of torch's exporters.

``torchscript`` is ``torch.onnx.export(dynamo=False)`` with the kept-op symbolics
(``frontends.kept_ops``); ``dynamo`` is ``torch.onnx.export(dynamo=True)`` with translations making
the same bridgec ops (``frontends.dynamo_export``). ``auto`` tries the one that suits the form first
and says so when it falls back to the other. Outputs get stable names from their place in what the
model returns (``flatten_outputs``).

A torch.export program the TorchScript exporter cannot take as it is (``ep.module()`` refuses the
exporter's ``train(False)``; the program itself it hands to dynamo) but can take traced: under
``auto`` a program of fixed sizes and plain aten ops that writes nothing is traced (``torch.jit.trace``
of ``ep.module()``, the validated program the check runs anyway) and exported so, ten times faster
than dynamo (not a transformer's: ``trace_refusal``); anything else, or a failure, goes to dynamo.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import warnings
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
import onnx

from bridgec.core.errors import ConversionError, UsageError
from bridgec.frontends import pt2_direct, torchscript_direct
from bridgec.frontends.dynamo_export import export_dynamo
from bridgec.frontends.pt2_direct import EXPORT_OPSET
from bridgec.frontends.pytorch_load import first_line, program_module

EXPORTERS = ("auto", "torchscript", "dynamo")


# --- outputs ---------------------------------------------------------------------------------------


def flatten_outputs(result: Any, inputs: Sequence[str] = ()) -> tuple[list[str], list[Any]]:
    """Stable names and tensors of a model's outputs: ``output`` for one tensor, ``output``,
    ``output_1``... for a flat tuple, the keys of a dict, the fields of a named tuple or a
    ``ModelOutput``; nested ones join their parts with ``_`` (``output_1_0``, ``logits_0``).

    Each name is a valid Core ML feature name (an ML Program takes only identifiers): characters
    other than letters, digits and ``_`` become ``_``, a name not starting with a letter or ``_``
    gets ``output_`` in front, and a name met again, or an input's name (a model may return ``{"x": ...}``
    for its input ``x``; one name for both would wire the output to the input), gets ``_2``, ``_3``...
    after it."""
    import torch
    from torch.utils import _pytree as pytree

    leaves, _ = pytree.tree_flatten_with_path(result)
    names: list[str] = []
    taken = list(inputs)
    tensors = []
    for path, leaf in leaves:
        if not isinstance(leaf, torch.Tensor):
            raise ConversionError(
                f"the model returns a {type(leaf).__name__} among its outputs; bridgec needs tensors, "
                "tuples or dicts of tensors"
            )
        parts = []
        for depth, key in enumerate(path):
            if isinstance(key, pytree.SequenceKey):
                # a flat tuple's first output stays "output"; in a nested one every index shows
                first = "output" if len(path) == 1 and key.idx == 0 else f"output_{key.idx}"
                parts.append(first if depth == 0 else str(key.idx))
            elif isinstance(key, pytree.MappingKey):
                parts.append(str(key.key))
            else:
                parts.append(str(getattr(key, "name", key)))
        names.append(unique_name(feature_name("_".join(parts) or "output"), taken))
        taken.append(names[-1])
        tensors.append(leaf)
    if not tensors:
        raise ConversionError("the model returns no tensors")
    return names, tensors


def feature_name(name: str, prefix: str = "output") -> str:
    """``name`` as a Core ML feature name: other characters become ``_``, and a name not starting
    with a letter gets ``prefix_`` in front."""
    name = re.sub(r"[^A-Za-z0-9_]", "_", name)
    return name if re.match(r"[A-Za-z_]", name) else f"{prefix}_{name}"


def unique_name(name: str, taken: list[str]) -> str:
    """``name``, or ``name_2``, ``name_3``, ... whichever ``taken`` does not hold yet."""
    count, unique = 2, name
    while unique in taken:
        unique, count = f"{name}_{count}", count + 1
    return unique


def output_names(result: Any, inputs: Sequence[str] = ()) -> list[str]:
    return flatten_outputs(result, inputs)[0]


def _is_flat(result: Any) -> bool:
    import torch

    if isinstance(result, torch.Tensor):
        return True
    return isinstance(result, tuple) and all(isinstance(t, torch.Tensor) for t in result)


# --- exporting -------------------------------------------------------------------------------------------


class _Flatten:
    """Wraps a module so that it returns its outputs as one flat tuple (what the exporters take)."""

    @staticmethod
    def wrap(module: Any, evaluate: bool = True) -> Any:
        """``evaluate``: set eval mode (``ep.module()`` refuses train() and eval(); its graph is fixed)."""
        import torch
        from torch.utils import _pytree as pytree

        class Flatten(torch.nn.Module):
            def __init__(self, inner: Any) -> None:
                super().__init__()
                self.inner = inner

            def forward(self, *args: Any) -> tuple:
                return tuple(pytree.tree_flatten(self.inner(*args))[0])

        wrapper = Flatten(module)
        return wrapper.eval() if evaluate else wrapper


class _Written:
    """Where the exporter writes the model: the bytes it hands over, kept as they are (an
    ``io.BytesIO`` would copy them in and out again, 2 x 100 MB for resnet50)."""

    def __init__(self) -> None:
        self._chunks: list[bytes] = []

    def write(self, data: bytes) -> int:
        self._chunks.append(data)
        return len(data)

    def flush(self) -> None:
        pass

    def value(self) -> bytes:
        return self._chunks[0] if len(self._chunks) == 1 else b"".join(self._chunks)


def _export_torchscript(
    module: Any, args: tuple, inputs: list[str], outputs: list[str], flat: bool, result: Any
) -> onnx.ModelProto:
    """``result``: what ``module`` returned on ``args`` (``export`` ran it), so the exporter does not
    run it again."""
    import torch

    from bridgec.frontends.kept_ops import CUSTOM_OPSETS, kept_ops_registered

    buffer = _Written()
    program = isinstance(module, torch.export.ExportedProgram)
    with warnings.catch_warnings(), kept_ops_registered(EXPORT_OPSET):
        warnings.simplefilter("ignore")  # exporter deprecation chatter is not the user's concern
        if program:
            # the exporter calls train(False), which ep.module() refuses: its trace takes it
            wrapper = _Flatten.wrap(program_module(module), evaluate=False)
            with torch.no_grad():
                module = torch.jit.trace(wrapper, args, check_trace=False, strict=False)
        elif not flat:
            # The TorchScript exporter cannot export dict outputs (prim::DictConstruct) of an
            # archive: trace a wrapper that returns the flattened tuple instead.
            with torch.no_grad():
                module = torch.jit.trace(_Flatten.wrap(module), args, check_trace=False, strict=False)
        if program or not flat:  # the traced wrapper returns the flat tuple of the outputs
            from torch.utils import _pytree as pytree

            result = tuple(pytree.tree_flatten(result)[0])
        with _example_outputs(module, result):
            torch.onnx.export(
                module,
                args,
                buffer,
                dynamo=False,
                opset_version=EXPORT_OPSET,
                input_names=inputs,
                output_names=outputs,
                custom_opsets=CUSTOM_OPSETS,
                do_constant_folding=True,
            )
    model = onnx.load_from_string(buffer.value())
    kept = [i.name for i in model.graph.input]
    if program and kept != inputs:  # an input the trace never read is dropped: dynamo keeps it
        raise ValueError(f"its trace kept inputs {', '.join(kept) or 'none'} of {', '.join(inputs)}")
    return model


@contextlib.contextmanager
def _example_outputs(module: Any, result: Any) -> Iterator[None]:
    """The TorchScript exporter runs a ScriptModule once more only to learn its outputs' shapes and
    dtypes (``_get_example_outputs``, a forward pass: 0.1-0.3 s of a CNN's conversion); ``result`` is
    that forward's value, computed on the same arguments. Any other model, or a torch without that
    function, runs as before."""
    from torch.onnx._internal.torchscript_exporter import utils

    original = getattr(utils, "_get_example_outputs", None)
    if original is None:
        yield
        return

    def known(model: Any, args: Any) -> Any:
        if model is not module:
            return original(model, args)
        # the same wrapping as torch's own function gives the value the model returns
        if isinstance(result, list):
            return [result]
        return result if isinstance(result, tuple) else (result,)

    utils._get_example_outputs = known
    try:
        yield
    finally:
        utils._get_example_outputs = original


def _export_direct(
    module: Any,
    args: tuple,
    inputs: list[str],
    outputs: list[str],
    flat: bool,
    result: Any,
    apart: dict[str, np.ndarray] | None = None,
) -> onnx.ModelProto:
    """bridgec's own writer: a program's aten graph (``pt2_direct``), a ScriptModule's lowered graph
    (``torchscript_direct``). ``apart``: see ``pt2_direct.write``."""
    import torch

    writer = torchscript_direct if isinstance(module, torch.jit.ScriptModule) else pt2_direct
    return writer.export_direct(module, args, inputs, outputs, flat, result, apart)


_EXPORTERS = {"torchscript": _export_torchscript, "dynamo": export_dynamo, "direct": _export_direct}


@contextlib.contextmanager
def _native_output_hidden() -> Iterator[None]:
    """torch's exporters print whole graphs from C++ when they fail; the error message says what
    matters, so their stdout/stderr go to a scratch file (kept visible with --debug)."""
    if os.environ.get("BRIDGEC_DEBUG"):
        yield
        return
    import tempfile

    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    with tempfile.TemporaryFile() as scratch:
        os.dup2(scratch.fileno(), 1)
        os.dup2(scratch.fileno(), 2)
        try:
            yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)


def _bridgec_refusal(exc: BaseException) -> ConversionError | None:
    """A ConversionError bridgec raised inside the exporter, if ``exc`` wraps one."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, ConversionError):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def trace_refusal(program: Any) -> str | None:
    """Why the torch.export ``program`` is exported by dynamo rather than traced for the TorchScript
    exporter, or None. A trace records one run at the example's sizes, through the branch that run
    took: the sizes a program leaves free (dynamic or data-dependent) and its control flow (torch.cond,
    loops: higher-order ops) would be fixed without a word; a buffer it writes would be frozen."""
    import operator

    import torch

    why = pt2_direct.fixed_and_pure(program)
    if why:
        return why
    user_inputs = set(program.graph_signature.user_inputs)
    for node in program.graph.nodes:
        sizes = getattr(node.meta.get("val"), "shape", ())
        if node.op == "placeholder" and not all(isinstance(d, int) for d in sizes):
            return "it has dynamic sizes"
        if node.op == "placeholder" and node.name in user_inputs and not node.users:
            return f"it leaves its input {node.name} unused"  # the TorchScript exporter drops it
        if node.op == "call_function" and not (
            isinstance(node.target, torch._ops.OpOverload) or node.target is operator.getitem
        ):
            return f"it calls {getattr(node.target, '__name__', node.target)}"
        if node.target is torch.ops.aten.scaled_dot_product_attention.default:
            # measured on vit_b_16: a trace exports no faster, and its unfused projections double
            # the graph (813 nodes against dynamo's optimised 416): the passes take 4 s more
            return "it holds attention (dynamo's graph of it is half the size)"
    return None


def exporters_in_order(
    module: Any, exporter: str = "auto", prefer: str = "torchscript", *, pure: bool = False
) -> list[str]:
    """The exporters ``export`` tries, in order. ``auto`` tries ``prefer`` first, then the other; a
    torch.export program goes to dynamo, except under ``auto`` when the caller proved it writes no
    buffer nor input (``pure``: ``pt2_state.written_buffers``, which sees in-place writes the
    signature does not list): then the direct exporter first when ``pt2_direct.refusal`` finds
    nothing, and its trace to TorchScript before dynamo when ``trace_refusal`` finds nothing."""
    import torch

    if isinstance(module, torch.export.ExportedProgram):
        if exporter != "auto" or not pure:
            return ["dynamo"]
        # written node by node when every op is known (pt2_direct); else traced, else dynamo
        first = ["direct"] if pt2_direct.refusal(module) is None else []
        return [*first, *(["torchscript"] if trace_refusal(module) is None else []), "dynamo"]
    if exporter != "auto":
        return [exporter]
    # a ScriptModule's graph written op by op first when it holds only known ops (torchscript_direct
    # finds out as it reads it: a refusal is a progress line)
    direct = ["direct"] if isinstance(module, torch.jit.ScriptModule) else []
    return [*direct, prefer, *(e for e in EXPORTERS[1:] if e != prefer)]


_NOT_RUN = object()


def export(
    module: Any,
    args: tuple,
    inputs: list[str],
    exporter: str = "auto",
    *,
    name: str = "model",
    prefer: str = "torchscript",
    pure: bool = False,
    notify: Callable[[str], None] | None = None,
    step: Callable[[str], None] | None = None,
    result: Any = _NOT_RUN,
    weights_apart: dict[str, np.ndarray] | None = None,
) -> tuple[onnx.ModelProto, str]:
    """Export ``module`` (called with ``args``) to ONNX with the kept ops; returns the model and the
    exporter that produced it. The exporters are tried in ``exporters_in_order`` (``pure``: see
    there); when one fails under ``auto``, ``notify`` says why and ``step`` shows the progress line of
    the next attempt (a program's fallback to dynamo, its own exporter, is only a progress line).
    ``result``: what ``module`` (a program: its ``module()``) returns on ``args`` under no_grad, when
    the caller has run it already; otherwise it is run here. ``weights_apart``: a dict the direct
    exporter may fill with the model's large weights instead of writing them in (``pt2_direct.write``);
    torch's exporters leave it empty."""
    import torch

    if exporter not in EXPORTERS:
        raise UsageError(f"--exporter {exporter!r}: choose one of {', '.join(EXPORTERS)}")
    is_program = isinstance(module, torch.export.ExportedProgram)
    if is_program and exporter == "torchscript":
        # torch.onnx.export(dynamo=False) hands a program to dynamo and ep.module() refuses its
        # train(False); auto traces a program that allows it (exporters_in_order)
        raise UsageError(
            f"{name}: --exporter torchscript cannot export a torch.export program (.pt2); use "
            "--exporter dynamo (or auto)"
        )
    if result is _NOT_RUN:
        runnable = program_module(module) if is_program else module
        with torch.no_grad():
            result = runnable(*args)
    outputs, _ = flatten_outputs(result, inputs)
    flat = _is_flat(result)
    order = exporters_in_order(module, exporter, prefer, pure=pure)
    failures = []
    for choice in order:
        try:
            with _native_output_hidden():
                if choice == "direct" and weights_apart is not None:
                    return _export_direct(module, args, inputs, outputs, flat, result, weights_apart), choice
                return _EXPORTERS[choice](module, args, inputs, outputs, flat, result), choice
        except (UsageError, ConversionError):
            raise
        except Exception as exc:  # noqa: BLE001 - each exporter fails in its own ways
            if weights_apart is not None:
                weights_apart.clear()  # nothing of a failed export is kept
            refusal = _bridgec_refusal(exc)
            if refusal is not None:  # a translation refused the model (dynamo wraps what it raises)
                raise refusal from None
            failures.append((choice, first_line(exc)))
            following = order[order.index(choice) + 1] if choice != order[-1] else None
            if exporter == "auto" and following and (is_program or choice == "direct"):
                if step:
                    how = "did not take it" if choice == "direct" else "failed on its trace"
                    step(
                        f"exporting {name} to ONNX with the {following} exporter (the {choice} exporter "
                        f"{how}: {failures[-1][1]})"
                    )
            elif exporter == "auto" and following:
                if notify:
                    notify(
                        f"the {choice} exporter failed ({failures[-1][1]}); trying the {following} exporter"
                    )
                if step:  # the status line named the exporter that failed: a ViT's dynamo export is 20 s
                    step(f"exporting {name} to ONNX with the {following} exporter")
    detail = "; ".join(f"{choice}: {message}" for choice, message in failures)
    hint = (
        ""
        if exporter == "auto"
        else f" (try --exporter {'dynamo' if exporter == 'torchscript' else 'torchscript'})"
    )
    raise ConversionError(f"{name}: torch.onnx export failed: {detail}{hint}")


__all__ = [
    "EXPORTERS",
    "EXPORT_OPSET",
    "export",
    "exporters_in_order",
    "flatten_outputs",
    "output_names",
    "trace_refusal",
]
