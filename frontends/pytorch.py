"""PyTorch models in any of the forms ``torch`` saves them, exported to ONNX with the kept ops.

Forms: TorchScript archives (``torch.jit.save``), ``torch.export`` archives (``.pt2``), whole
pickled modules (``torch.save(model)``: unpickling runs code, so only with ``--trust-pickle``) and
state_dicts (weights only: ``--arch pkg.module:Class`` builds the module). Two exporters:
``torchscript`` (``torch.onnx.export(dynamo=False)`` with the kept-op symbolics) and ``dynamo``
(``torch.onnx.export(dynamo=True)`` with custom translations producing the same bridgec ops);
``auto`` tries the one that suits the form first and says so when it falls back to the other.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib
import inspect
import io
import json
import logging
import os
import re
import sys
import warnings
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import onnx

from bridgec.core import ir
from bridgec.core.errors import ConversionError, UsageError, out_of_memory
from bridgec.driver import timing

EXPORT_OPSET = 17
EXPORTERS = ("auto", "torchscript", "dynamo")


@dataclass
class LoadOptions:
    """How to read PyTorch files: the command line's frontend flags."""

    exporter: str = "auto"
    trust_pickle: bool = False
    imports: tuple[str, ...] = ()  # modules to import before unpickling (--import)
    paths: tuple[str, ...] = ()  # folders put on sys.path first (--path)
    arch: str | None = None  # "pkg.module:Class" for state_dict files (--arch)
    arch_args: str | None = None  # JSON: a list of positional or an object of keyword arguments
    notify: Callable[[str], None] | None = field(default=None, repr=False)  # warnings and fallbacks

    def say(self, message: str) -> None:
        if self.notify is not None:
            self.notify(message)


def first_line(exc: BaseException, last: bool = False) -> str:
    """The exporter's own message in one line (dynamo's reports put the cause under a summary)."""
    text = str(exc).strip()
    causes = re.findall(r"^<class '[\w.]+'>: (.+)$", text, flags=re.M)
    if causes:
        return causes[0].strip()[:300]
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines:
        return type(exc).__name__
    return (lines[-1] if last else lines[0])[:300]


# --- outputs ---------------------------------------------------------------------------------------


def flatten_outputs(result: Any) -> tuple[list[str], list[Any]]:
    """Stable names and tensors of a model's outputs: ``output`` for one tensor, ``output``,
    ``output_1``... for a tuple, the keys for a dict, ``key.sub`` / ``output_1.0`` when nested."""
    import torch
    from torch.utils import _pytree as pytree

    leaves, _ = pytree.tree_flatten_with_path(result)
    names, tensors = [], []
    for path, leaf in leaves:
        if not isinstance(leaf, torch.Tensor):
            raise ConversionError(
                f"the model returns a {type(leaf).__name__} among its outputs; bridgec needs tensors, "
                "tuples or dicts of tensors"
            )
        parts = []
        for depth, key in enumerate(path):
            if isinstance(key, pytree.SequenceKey):
                parts.append(
                    ("output" if key.idx == 0 else f"output_{key.idx}") if depth == 0 else str(key.idx)
                )
            elif isinstance(key, pytree.MappingKey):
                parts.append(str(key.key))
            else:
                parts.append(str(getattr(key, "name", key)))
        names.append(".".join(parts) or "output")
        tensors.append(leaf)
    if not tensors:
        raise ConversionError("the model returns no tensors")
    return names, tensors


def output_names(result: Any) -> list[str]:
    return flatten_outputs(result)[0]


def _is_flat(result: Any) -> bool:
    import torch

    if isinstance(result, torch.Tensor):
        return True
    return isinstance(result, tuple) and all(isinstance(t, torch.Tensor) for t in result)


# --- dynamo translations: the kept ops as bridgec nodes ------------------------------------------------

_ATTR_TYPES = {"float": "FLOAT", "string": "STRING"}


@contextlib.contextmanager
def bridgec_schemas() -> Iterator[None]:
    """Register ONNX schemas for the bridgec ops while the dynamo exporter builds nodes of them.

    onnxscript refuses ops without a schema. Registered only for the export: elsewhere the ops are
    defined by their ONNX functions, which shape inference must keep using.
    """
    from onnx.defs import OpSchema

    registered = []
    try:
        for op, attrs in ir.BRIDGEC_OPS.items():
            with contextlib.suppress(onnx.defs.SchemaError):
                onnx.defs.get_schema(op, ir.BRIDGEC_OPSET, ir.BRIDGEC_DOMAIN)
                continue  # already there (someone else registered it): leave it alone
            schema = OpSchema(
                op,
                ir.BRIDGEC_DOMAIN,
                ir.BRIDGEC_OPSET,
                inputs=[OpSchema.FormalParameter("x", "T")],
                outputs=[OpSchema.FormalParameter("y", "T")],
                type_constraints=[("T", ["tensor(float)", "tensor(float16)", "tensor(double)"], "")],
                attributes=[
                    OpSchema.Attribute(name, getattr(OpSchema.AttrType, _ATTR_TYPES[kind]), "")
                    for name, kind in attrs.items()
                ],
            )
            onnx.defs.register_schema(schema)
            registered.append(op)
        yield
    finally:
        for op in registered:
            onnx.defs.deregister_schema(op, ir.BRIDGEC_OPSET, ir.BRIDGEC_DOMAIN)


def dynamo_translations() -> dict[Callable, Callable]:
    """aten op -> onnxscript function making the same bridgec node the TorchScript symbolics make."""
    import onnxscript
    import torch

    bc = onnxscript.values.Opset(ir.BRIDGEC_DOMAIN, ir.BRIDGEC_OPSET)
    aten = torch.ops.aten

    def hardtanh(self, min_val: float = -1.0, max_val: float = 1.0):
        return bc.HardTanh(self, min_value=float(min_val), max_value=float(max_val))

    def hardswish(self):
        return bc.HardSwish(self)

    def hardsigmoid(self):
        return bc.HardSigmoid(self, alpha=1 / 6, beta=0.5)

    def gelu(self, approximate: str = "none"):
        return bc.Gelu(self, approximate=approximate)

    def silu(self):
        return bc.Silu(self)

    def mish(self):
        return bc.Mish(self)

    def elu(self, alpha: float = 1.0, scale: float = 1.0, input_scale: float = 1.0):
        # torch.export decomposes selu to elu(x, alpha, scale, 1) and celu to elu(x, a, 1, 1/a)
        alpha, scale, input_scale = float(alpha), float(scale), float(input_scale)
        if scale == 1.0 and input_scale == 1.0:
            return bc.Elu(self, alpha=alpha)
        if input_scale == 1.0:
            return bc.Selu(self, alpha=alpha, gamma=scale)
        if scale == 1.0 and np.isclose(alpha * input_scale, 1.0, rtol=1e-6, atol=0):
            return bc.Celu(self, alpha=alpha)
        raise ValueError(f"elu with scale {scale} and input_scale {input_scale} has no bridgec form")

    def softplus(self, beta: float = 1.0, threshold: float = 20.0):
        return bc.Softplus(self, beta=float(beta), threshold=float(threshold))

    def leaky_relu(self, negative_slope: float = 0.01):
        return bc.LeakyRelu(self, alpha=float(negative_slope))

    table = {
        aten.hardtanh.default: hardtanh,
        aten.hardswish.default: hardswish,
        aten.hardsigmoid.default: hardsigmoid,
        aten.gelu.default: gelu,
        aten.silu.default: silu,
        aten.mish.default: mish,
        aten.elu.default: elu,
        aten.softplus.default: softplus,
        aten.leaky_relu.default: leaky_relu,
    }
    # ops torch.export may keep whole instead of decomposing them to the ones above
    table[aten.relu6.default] = lambda self: bc.HardTanh(self, min_value=0.0, max_value=6.0)
    table[aten.selu.default] = lambda self: bc.Selu(self, alpha=ir.SELU_ALPHA, gamma=ir.SELU_GAMMA)
    table[aten.celu.default] = lambda self, alpha=1.0: bc.Celu(self, alpha=float(alpha))
    return table


# --- exporting -------------------------------------------------------------------------------------------


class _Flatten:
    """Wraps a module so that it returns its outputs as one flat tuple (what the exporters take)."""

    @staticmethod
    def wrap(module: Any) -> Any:
        import torch
        from torch.utils import _pytree as pytree

        class Flatten(torch.nn.Module):
            def __init__(self, inner: Any) -> None:
                super().__init__()
                self.inner = inner

            def forward(self, *args: Any) -> tuple:
                return tuple(pytree.tree_flatten(self.inner(*args))[0])

        return Flatten(module).eval()


def _export_torchscript(
    module: Any, args: tuple, inputs: list[str], outputs: list[str], flat: bool
) -> onnx.ModelProto:
    import torch

    from bridgec.frontends.kept_ops import CUSTOM_OPSETS, kept_ops_registered

    buffer = io.BytesIO()
    with warnings.catch_warnings(), kept_ops_registered(EXPORT_OPSET):
        warnings.simplefilter("ignore")  # exporter deprecation chatter is not the user's concern
        if not flat:
            # The TorchScript exporter cannot export dict outputs (prim::DictConstruct) of an
            # archive: trace a wrapper that returns the flattened tuple instead.
            with torch.no_grad():
                module = torch.jit.trace(_Flatten.wrap(module), args, check_trace=False, strict=False)
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
    return onnx.load_from_string(buffer.getvalue())


def _export_dynamo(
    module: Any, args: tuple, inputs: list[str], outputs: list[str], flat: bool
) -> onnx.ModelProto:
    import logging

    import torch

    logging.getLogger("torch.onnx").setLevel(logging.ERROR)
    # onnx.reference (imported by onnxscript's optimizer) indexes every schema by name when first
    # imported and refuses two domains with one op name: import it before the bridgec schemas exist.
    import onnx.reference  # noqa: F401
    import onnxscript  # noqa: F401

    translations = dynamo_translations()
    if isinstance(module, torch.jit.ScriptModule):
        # The dynamo exporter takes no ScriptModule; torch's TorchScript -> torch.export converter
        # (private, but the documented suggestion of the exporter's own error) bridges it.
        from torch._export.converter import TS2EPConverter

        with warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO()):
            warnings.simplefilter("ignore")
            module = TS2EPConverter(module, args).convert()
    with warnings.catch_warnings(), bridgec_schemas(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        program = torch.onnx.export(
            module,
            args,
            dynamo=True,
            opset_version=18,  # torchlib's own opset: lower ones go through a lossy down-conversion
            input_names=inputs,
            output_names=outputs,
            custom_translation_table=translations,
            optimize=True,
            verbose=False,
        )
    model = program.model_proto
    # The translations never declared the bridgec domain's version in the model: do it here.
    if not any(imp.domain == ir.BRIDGEC_DOMAIN for imp in model.opset_import):
        model.opset_import.append(onnx.helper.make_opsetid(ir.BRIDGEC_DOMAIN, ir.BRIDGEC_OPSET))
    return model


_EXPORTERS = {"torchscript": _export_torchscript, "dynamo": _export_dynamo}


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


def export(
    module: Any,
    args: tuple,
    inputs: list[str],
    exporter: str = "auto",
    *,
    name: str = "model",
    prefer: str = "torchscript",
    notify: Callable[[str], None] | None = None,
) -> tuple[onnx.ModelProto, str]:
    """Export ``module`` (called with ``args``) to ONNX with the kept ops; returns the model and the
    exporter that produced it. ``auto`` tries ``prefer`` first, then the other one."""
    import torch

    if exporter not in EXPORTERS:
        raise UsageError(f"--exporter {exporter!r}: choose one of {', '.join(EXPORTERS)}")
    is_program = isinstance(module, torch.export.ExportedProgram)
    if is_program and exporter == "torchscript":
        raise UsageError(
            f"{name}: --exporter torchscript cannot export a torch.export program (.pt2); use "
            "--exporter dynamo (or auto)"
        )
    runnable = module.module() if is_program else module
    with torch.no_grad():
        result = runnable(*args)
    outputs, _ = flatten_outputs(result)
    flat = _is_flat(result)
    order = [exporter] if exporter != "auto" else [prefer, *(e for e in _EXPORTERS if e != prefer)]
    if is_program:
        order = ["dynamo"]  # the TorchScript exporter cannot trace a torch.export GraphModule
    failures = []
    for choice in order:
        try:
            with _native_output_hidden():
                return _EXPORTERS[choice](module, args, inputs, outputs, flat), choice
        except (UsageError, ConversionError):
            raise
        except Exception as exc:  # noqa: BLE001 - each exporter fails in its own ways
            failures.append((choice, first_line(exc)))
            if exporter == "auto" and choice != order[-1] and notify:
                notify(f"the {choice} exporter failed ({failures[-1][1]}); trying the {order[1]} exporter")
    detail = "; ".join(f"{choice}: {message}" for choice, message in failures)
    hint = (
        ""
        if exporter == "auto"
        else f" (try --exporter {'dynamo' if exporter == 'torchscript' else 'torchscript'})"
    )
    raise ConversionError(f"{name}: torch.onnx export failed: {detail}{hint}")


# --- loading the forms ---------------------------------------------------------------------------------


@contextlib.contextmanager
def _torch_file(path: Path) -> Iterator[Any]:
    """``path`` as torch's readers take it: the name, or the file opened when the name is not UTF-8
    (torch hands names to C++ as UTF-8, and a surrogate-escaped one fails there as a damaged file)."""
    name = str(path)
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        from bridgec.core.input_files import open_regular

        with open_regular(path) as handle:
            yield handle
        return
    yield name


def forward_input_names(module: Any) -> list[str]:
    """Input names from the signature of ``forward`` (TorchScript schema or Python signature)."""
    forward = getattr(module, "forward", module)
    schema = getattr(forward, "schema", None)
    if schema is not None:
        return [arg.name for arg in schema.arguments[1:]]
    params = inspect.signature(forward).parameters.values()
    names = [p.name for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    if any(p.kind == p.VAR_POSITIONAL for p in params) and not names:
        names = ["x"]
    return names


def _with_import_paths(options: LoadOptions) -> None:
    for folder in reversed(options.paths):
        folder = str(Path(folder).resolve())
        if folder not in sys.path:
            sys.path.insert(0, folder)
    for name in options.imports:
        try:
            importlib.import_module(name)
        except SystemExit as exc:  # a user module may not end the run, silently and with any status
            raise UsageError(
                f"--import {name}: the module called sys.exit({exc.code!r}) when imported; bridgec imports "
                "it only to find the classes a pickle or --arch names"
            ) from None
        except Exception as exc:  # noqa: BLE001 - a user module fails in any way
            raise UsageError(
                f"--import {name}: cannot import it ({type(exc).__name__}: {first_line(exc)}); "
                "add its folder with --path DIR"
            ) from None


_MISSING_ATTR = re.compile(r"Can't get attribute '([^']+)' on <module '([^']+)'")
_MISSING_MODULE = re.compile(r"No module named '([^']+)'")


def _missing_class(exc: BaseException) -> str | None:
    text = str(exc)
    found = _MISSING_ATTR.search(text)
    if found:
        return f"{found[2]}.{found[1]}"
    found = _MISSING_MODULE.search(text)
    return found[1] if found else None


def _torch_load(path: Path, options: LoadOptions) -> Any:
    """``torch.load``: weights only first (safe); a full unpickle only with --trust-pickle."""
    import pickle

    import torch

    try:
        with _torch_file(path) as source:
            return torch.load(source, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        pass  # it holds more than tensors: a pickled module, probably
    except Exception as exc:  # noqa: BLE001 - torch.load fails in many ways on damaged files
        raise UsageError(f"{path}: not a readable torch.save file: {first_line(exc)}") from None
    if not options.trust_pickle:
        raise UsageError(
            f"{path}: a pickled module (torch.save(model)); unpickling runs code from the file, so "
            "bridgec needs --trust-pickle (plus --import MODULE / --path DIR to find its class) — or "
            "save it as TorchScript or with torch.export.save"
        )
    _with_import_paths(options)
    options.say(f"warning: unpickling {path.name} runs code from the file (--trust-pickle)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with _torch_file(path) as source:
                return torch.load(source, map_location="cpu", weights_only=False)
    except (AttributeError, ModuleNotFoundError, ImportError) as exc:
        missing = _missing_class(exc)
        if missing:
            raise UsageError(
                f"{path}: the pickle needs {missing}, which cannot be imported; pass --import "
                "MODULE (the module defining it) and --path DIR (the folder it lives in)"
            ) from None
        raise UsageError(f"{path}: cannot unpickle: {first_line(exc)}") from None
    except Exception as exc:  # noqa: BLE001
        raise UsageError(f"{path}: cannot unpickle: {first_line(exc)}") from None


def _state_dict_of(obj: Any) -> dict | None:
    """The weights in a state_dict file, or in a checkpoint dict holding one."""
    import torch

    if isinstance(obj, dict) and obj and all(isinstance(v, torch.Tensor) for v in obj.values()):
        return obj
    if isinstance(obj, dict):
        for key in ("state_dict", "model_state_dict", "model"):
            inner = obj.get(key)
            if isinstance(inner, dict) and inner and all(isinstance(v, torch.Tensor) for v in inner.values()):
                return inner
    return None


_ARCH_SPEC = re.compile(r"^[A-Za-z_][\w]*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*$")


def check_arch_spec(arch: str) -> None:
    """``--arch`` must read PKG.MODULE:CLASS; anything else is refused before any import."""
    if not _ARCH_SPEC.match(arch):
        raise UsageError(
            f"--arch {arch!r}: expected PKG.MODULE:CLASS, the module and the torch.nn.Module class the "
            "state_dict was saved from, e.g. mypkg.nets:Net"
        )


def _check_arch_class(arch: str, cls: Any) -> None:
    """``--arch`` names a class to build: a module, a function (which bridgec would call with
    --arch-args, whatever it does) or any other object is refused before anything is called."""
    import torch

    if isinstance(cls, type) and issubclass(cls, torch.nn.Module):
        return
    if isinstance(cls, type):
        what = "a class, but not a torch.nn.Module subclass"
    elif inspect.ismodule(cls):
        what = "a module, not a class"
    elif inspect.isroutine(cls):
        what = "a function, not a class"
    else:
        what = f"a {type(cls).__name__}, not a class"
    raise UsageError(
        f"--arch {arch}: {arch.replace(':', '.')} is {what}; --arch names the torch.nn.Module class a "
        "state_dict file's weights belong to (PKG.MODULE:CLASS)"
    )


def _arch_unused(path: Path, holds: str) -> UsageError:
    """--arch for a file that carries its own architecture would be ignored without a word."""
    from bridgec.core.input_files import shown

    return UsageError(
        f"--arch/--arch-args: {shown(path)} {holds}, which has its own architecture; they are for "
        "state_dict files only (drop them)"
    )


def _build_arch(path: Path, weights: dict, options: LoadOptions) -> Any:
    if not options.arch:
        raise UsageError(
            f"{path}: a state_dict (weights only, no architecture); pass --arch pkg.module:Class "
            "(and --arch-args JSON for its constructor) to build the module and load the weights"
        )
    check_arch_spec(options.arch)
    module_name, _, class_name = options.arch.partition(":")
    _with_import_paths(options)
    try:
        cls = getattr(importlib.import_module(module_name), class_name)
    except SystemExit as exc:  # a user module may not end the run, silently and with any status
        raise UsageError(
            f"--arch {options.arch}: importing {module_name} called sys.exit({exc.code!r})"
        ) from None
    except Exception as exc:  # noqa: BLE001 - a user module fails in any way on import
        raise UsageError(
            f"--arch {options.arch}: cannot import {class_name} from {module_name} ({first_line(exc)}); "
            "add its folder with --path DIR"
        ) from None
    _check_arch_class(options.arch, cls)
    try:
        arch_args = json.loads(options.arch_args) if options.arch_args else {}
    except json.JSONDecodeError as exc:
        raise UsageError(f"--arch-args: not JSON ({exc.msg} at character {exc.pos})") from None
    if not isinstance(arch_args, (list, dict)):
        raise UsageError(
            f"--arch-args {options.arch_args}: a JSON {type(arch_args).__name__}; give a list of positional "
            "or an object of keyword arguments, e.g. '[10]' or '{\"width\": 6}'"
        )
    try:
        model = cls(*arch_args) if isinstance(arch_args, list) else cls(**arch_args)
    except SystemExit as exc:
        raise UsageError(f"--arch {options.arch}: the constructor called sys.exit({exc.code!r})") from None
    except Exception as exc:  # noqa: BLE001
        raise UsageError(f"--arch {options.arch}: the constructor failed: {first_line(exc)}") from None
    try:
        model.load_state_dict(weights, strict=True)
    except RuntimeError as exc:
        message = " ".join(str(exc).split())
        raise UsageError(
            f"{path}: the weights do not fit {options.arch}: {message[:300]}; check --arch and --arch-args"
        ) from None
    return model


@dataclass
class LoadedModel:
    """A PyTorch model ready to run and export, with its input names (and shapes when it knows them)."""

    module: Any  # nn.Module, ScriptModule or ExportedProgram
    inputs: list[str]
    shapes: dict[str, tuple[int, ...]]  # shapes the file itself records (.pt2)
    prefer: str  # the exporter that suits this form

    def runnable(self) -> Any:
        import torch

        return self.module.module() if isinstance(self.module, torch.export.ExportedProgram) else self.module


@contextlib.contextmanager
def _log_exceptions(name: str, found: list[BaseException]) -> Iterator[None]:
    """Keep logger ``name`` off stderr while the block runs, collecting the exceptions it logs."""
    logger = logging.getLogger(name)

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.exc_info and record.exc_info[1] is not None:
                found.append(record.exc_info[1])

    saved = logger.handlers[:], logger.propagate
    logger.handlers[:] = [Collect()]
    logger.propagate = False
    try:
        yield
    finally:
        logger.handlers[:], logger.propagate = saved


class _PickleRefused(Exception):
    """A torch.load inside torch.export.load needed more than the weights-only unpickler allows."""


@contextlib.contextmanager
def _weights_only(options: LoadOptions, refused: list[BaseException]) -> Iterator[None]:
    """Without --trust-pickle, every ``torch.load`` in the block is weights-only: torch.export.load
    unpickles the archive's weights, constants and sample inputs with ``weights_only=False`` (or
    falls back to it), which runs whatever code a crafted archive holds."""
    import pickle

    import torch

    if options.trust_pickle:
        yield
        return
    original = torch.load

    def weights_only_load(f, *args, **kwargs):
        kwargs["weights_only"] = True
        try:
            return original(f, *args, **kwargs)
        except pickle.UnpicklingError as exc:
            refused.append(exc)
            raise _PickleRefused(str(exc)) from None

    torch.load = weights_only_load
    try:
        yield
    finally:
        torch.load = original


def load_module(path: Path, fmt: str, options: LoadOptions | None = None) -> LoadedModel:
    """Read a PyTorch file of format ``fmt`` (see ``frontends.detect_format``) into a runnable model."""
    import torch

    options = options or LoadOptions()
    if fmt == "torchscript":
        try:
            with _torch_file(path) as source:
                module = torch.jit.load(source, map_location="cpu")
        except Exception as exc:  # noqa: BLE001 - RuntimeError subclasses with long C++ traces
            raise UsageError(f"{path}: not a loadable TorchScript archive: {first_line(exc)}") from None
        return LoadedModel(module.eval(), forward_input_names(module), {}, "torchscript")
    if fmt == "pt2":
        from bridgec.frontends import pt2_archive

        # torch.export.load runs code a crafted archive holds: the archive is read as data first
        pt2_archive.check(path, trust_pickle=options.trust_pickle)
        logged: list[BaseException] = []
        refused: list[BaseException] = []
        ran: list[str] = []
        try:
            with (
                warnings.catch_warnings(),
                _log_exceptions("torch.export", logged),
                _log_exceptions("torch._export", logged),
                _weights_only(options, refused),
                pt2_archive.loading(ran),
            ):
                warnings.simplefilter("ignore")
                with _torch_file(path) as source:
                    program = torch.export.load(source)
        except Exception as exc:  # noqa: BLE001
            if ran:
                raise UsageError(
                    f"{path}: torch.export.load met {ran[0]}; {pt2_archive.SAVE_AGAIN}"
                ) from None
            if refused:
                raise UsageError(
                    f"{path}: the archive holds pickled objects beyond tensors (weights, constants or "
                    "sample inputs); unpickling runs code from the file, so bridgec needs --trust-pickle"
                ) from None
            # torch.export.load logs the real cause (with its traceback) and raises a vaguer error
            cause = logged[-1] if logged else exc
            if "PytorchStreamReader" in str(cause) or isinstance(cause, zipfile.BadZipFile):
                raise UsageError(
                    f"{path}: a damaged torch.export archive ({first_line(cause)[:120]}); copy or save "
                    "the model again"
                ) from None
            raise UsageError(
                f"{path}: not a loadable torch.export archive (damaged, or saved by a torch other than "
                f"{torch.__version__.split('+')[0]}?): {first_line(cause)}"
            ) from None
        if not isinstance(program, torch.export.ExportedProgram):
            raise UsageError(
                f"{path}: a .pt2 archive without an exported program; save it with torch.export.save"
            )
        if options.arch or options.arch_args:
            raise _arch_unused(path, "is a torch.export archive")
        names, shapes = [], {}
        placeholders = {n.name: n for n in program.graph.nodes if n.op == "placeholder"}
        for spec in program.graph_signature.input_specs:
            if spec.kind.name != "USER_INPUT":
                continue
            names.append(spec.arg.name)
            value = placeholders[spec.arg.name].meta.get("val")
            if value is not None and all(isinstance(d, int) for d in value.shape):
                shapes[spec.arg.name] = tuple(int(d) for d in value.shape)
        return LoadedModel(program, names, shapes, "dynamo")
    if fmt == "pickle":
        obj = _torch_load(path, options)
        if isinstance(obj, torch.nn.Module):
            if options.arch or options.arch_args:
                raise _arch_unused(path, "holds a whole pickled module")
            return LoadedModel(obj.eval(), forward_input_names(obj), {}, "torchscript")
        weights = _state_dict_of(obj)
        if weights is not None:
            model = _build_arch(path, weights, options).eval()
            return LoadedModel(model, forward_input_names(model), {}, "torchscript")
        raise UsageError(
            f"{path}: a torch.save file holding a {type(obj).__name__}, not a module or a state_dict; "
            "save the model itself (torch.jit.save, torch.export.save or torch.save(model))"
        )
    raise ValueError(f"not a PyTorch format: {fmt}")


def example_inputs(
    loaded: LoadedModel, path: Path, given: dict | None
) -> tuple[dict[str, tuple[int, ...]], tuple]:
    """The input shapes (given ones win over recorded ones) and random example tensors of them."""
    import torch

    from bridgec.frontends import shapes

    resolved = {**loaded.shapes, **shapes.resolve(given, loaded.inputs)}
    missing = [n for n in loaded.inputs if n not in resolved]
    if missing:
        example = " ".join(f"--input {n}:1x3x224x224" for n in missing)
        raise UsageError(f"{path.name}: the file records no input shapes; pass {example}")
    for name in loaded.inputs:
        why = shapes.too_big(resolved[name])
        if why:
            raise UsageError(f"{path.name}: input {name} of shape {resolved[name]} has {why}; pass --input")
    generator = torch.Generator().manual_seed(0)
    return resolved, tuple(torch.randn(*resolved[n], generator=generator) for n in loaded.inputs)


@dataclass
class Opened:
    """A PyTorch file read into the IR, with the model kept to run again (the conversion check) and
    its outputs on the seeded example inputs the export traced with."""

    graph: Any  # gs.Graph
    loaded: LoadedModel
    example: dict[str, np.ndarray]  # input name -> the seeded random example input
    outputs: dict[str, np.ndarray]  # output name (as the graph names it) -> PyTorch's value on ``example``
    onnx_model: Any = None  # the exported ONNX model, before any pass

    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """PyTorch's outputs on ``feeds``, named as the graph's outputs."""
        import torch

        with torch.no_grad():
            result = self.loaded.runnable()(
                *(torch.from_numpy(np.ascontiguousarray(feeds[n])) for n in self.loaded.inputs)
            )
        return _named_outputs(result)


def _named_outputs(result: Any) -> dict[str, np.ndarray]:
    names, tensors = flatten_outputs(result)
    return {name: t.detach().numpy() for name, t in zip(names, tensors, strict=True)}


def open_model(path: Path, fmt: str, given: dict | None, options: LoadOptions | None = None) -> Opened:
    """Read a PyTorch file into the IR: load, run once on seeded random inputs of the given shapes,
    export, import. The run's outputs are kept: they are the reference the conversion is checked
    against, at no second forward pass."""
    import torch

    from bridgec.frontends import onnx_file

    options = options or LoadOptions()
    loaded = load_module(path, fmt, options)
    resolved, args = example_inputs(loaded, path, given)
    try:
        with torch.no_grad():
            result = loaded.runnable()(*args)
    except Exception as exc:  # noqa: BLE001 - a shape the model cannot take: the model's own message
        if out_of_memory(exc):
            raise MemoryError(first_line(exc)) from None
        raise UsageError(
            f"{path.name}: the model does not run on inputs of shape "
            f"{', '.join(f'{n}:{resolved[n]}' for n in loaded.inputs)}: {first_line(exc, last=True)}"
        ) from None
    with timing.stage("export"):
        model, used = export(
            loaded.module,
            args,
            loaded.inputs,
            options.exporter,
            name=path.name,
            prefer=loaded.prefer,
            notify=options.say,
        )
    if options.exporter == "auto" and used != loaded.prefer:
        options.say(f"exported {path.name} with the {used} exporter")
    graph = onnx_file.graph_from_model(model, path, resolved)
    example = {name: arg.numpy() for name, arg in zip(loaded.inputs, args, strict=True)}
    try:
        outputs = _named_outputs(result)
    except Exception:  # noqa: BLE001 - outputs that are not tensors: the check reruns and says why
        outputs = {}
    return Opened(graph, loaded, example, outputs, model)


def load(path: Path, fmt: str, given: dict | None, options: LoadOptions | None = None) -> Any:
    """Read a PyTorch file into the IR (see ``open_model``)."""
    return open_model(path, fmt, given, options).graph


def run_reference(
    path: Path, fmt: str, feeds: dict[str, np.ndarray], options: LoadOptions | None = None
) -> dict[str, np.ndarray]:
    """The PyTorch model's own outputs on ``feeds``, by the same names the exported graph has."""
    import torch

    # loaded a second time: its warnings were already given by load()
    quiet = dataclasses.replace(options, notify=None) if options else LoadOptions()
    loaded = load_module(path, fmt, quiet)
    with torch.no_grad():
        result = loaded.runnable()(*(torch.from_numpy(feeds[n]) for n in loaded.inputs))
    names, tensors = flatten_outputs(result)
    return {name: t.detach().numpy() for name, t in zip(names, tensors, strict=True)}


__all__ = [
    "EXPORTERS",
    "EXPORT_OPSET",
    "LoadOptions",
    "LoadedModel",
    "bridgec_schemas",
    "dynamo_translations",
    "export",
    "flatten_outputs",
    "load",
    "load_module",
    "open_model",
    "output_names",
    "run_reference",
]
