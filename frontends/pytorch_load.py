"""Reading a PyTorch file into a runnable module, and what bridgec lets the file run on the way.

TorchScript archives load with ``torch.jit.load``. A ``.pt2`` is checked as data first
(``frontends.pt2_archive``), then ``torch.export.load`` runs with every ``torch.load`` inside it
weights-only. ``torch.save`` files are unpickled weights-only; a whole pickled module needs
``--trust-pickle`` (its code runs), and a state_dict needs ``--arch`` to name the module class its
weights belong to (built with ``--arch-args``, after ``--path``/``--import``).
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
import json
import logging
import re
import sys
import warnings
import weakref
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bridgec.core.errors import UsageError


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
    progress: Callable[[str], None] | None = field(default=None, repr=False)  # the long steps of a load

    def say(self, message: str) -> None:
        if self.notify is not None:
            self.notify(message)

    def step(self, message: str) -> None:
        if self.progress is not None:
            self.progress(message)


def first_line(exc: BaseException, last: bool = False) -> str:
    """torch's own message in one line: a loader's, an exporter's or the model's (dynamo's reports
    put the cause under a summary)."""
    text = str(exc).strip()
    causes = re.findall(r"^<class '[\w.]+'>: (.+)$", text, flags=re.M)
    if causes:
        return causes[0].strip()[:300]
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines:
        return type(exc).__name__
    return (lines[-1] if last else lines[0])[:300]


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


_PROGRAM_MODULES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def program_module(program: Any) -> Any:
    """``program.module()``, built once per program. Each call unlifts the program and generates
    its code anew (0.3 s for mobilenet_v2); one conversion runs it for the reference outputs and
    then traces it. A program whose forward writes a buffer never gets here to be traced twice: it
    runs as the pure program ``pt2_state.stateful`` builds."""
    module = _PROGRAM_MODULES.get(program)
    if module is None:
        module = _PROGRAM_MODULES[program] = program.module()
    return module


@dataclass
class LoadedModel:
    """A PyTorch model ready to run and export, with its input names (and shapes when it knows them)."""

    module: Any  # nn.Module, ScriptModule or ExportedProgram
    inputs: list[str]
    shapes: dict[str, tuple[int, ...]]  # shapes the file itself records (.pt2)
    prefer: str  # the exporter that suits this form
    dtypes: dict[str, Any] = field(default_factory=dict)  # torch dtypes the file records (.pt2)
    # what runs as the source model when it is not ``module`` itself: the caller's nn.Module that
    # bridgec.convert exported (the check compares against the user's module, not bridgec's export)
    reference: Any = None

    def runnable(self) -> Any:
        import torch

        if self.reference is not None:
            return self.reference
        return (
            program_module(self.module)
            if isinstance(self.module, torch.export.ExportedProgram)
            else self.module
        )


def exported(program: Any, reference: Any = None) -> LoadedModel:
    """A torch.export program as a ``LoadedModel``: its user inputs' names, and the shapes and dtypes
    it was traced with (``reference``: what the check runs instead of the program, see LoadedModel)."""
    import torch

    names, shapes, dtypes = [], {}, {}
    placeholders = {n.name: n for n in program.graph.nodes if n.op == "placeholder"}
    for spec in program.graph_signature.input_specs:
        if spec.kind.name != "USER_INPUT":
            continue
        names.append(spec.arg.name)
        # the fake tensor torch.export traced with: its shape and dtype, whether or not static
        value = placeholders[spec.arg.name].meta.get("val")
        if value is not None and all(isinstance(d, int) for d in value.shape):
            shapes[spec.arg.name] = tuple(int(d) for d in value.shape)
        if isinstance(getattr(value, "dtype", None), torch.dtype):
            dtypes[spec.arg.name] = value.dtype
    return LoadedModel(program, names, shapes, "dynamo", dtypes, reference)


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
        namedtuples = pt2_archive.check(path, trust_pickle=options.trust_pickle)
        logged: list[BaseException] = []
        refused: list[BaseException] = []
        ran: list[str] = []
        try:
            with (
                warnings.catch_warnings(),
                _log_exceptions("torch.export", logged),
                _log_exceptions("torch._export", logged),
                _weights_only(options, refused),
                pt2_archive.loading(ran, namedtuples),
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
        return exported(program)
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


__all__ = [
    "LoadOptions",
    "LoadedModel",
    "check_arch_spec",
    "exported",
    "first_line",
    "forward_input_names",
    "load_module",
]
