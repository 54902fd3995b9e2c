"""Messages worded for the command line, reworded for a Python caller of ``bridgec.convert``.

Errors are raised deep in the frontends, passes and backends, which know nothing of who called them,
and name the command line's flags (``pass --input x:1x3x224x224``, ``--format coreai needs --target
iOS27``). ``bridgec.convert`` and ``ConvertedModel.save`` re-word them on the way out with this one
table of flag -> keyword: ``pass inputs={'x': (1, 3, 224, 224)}``, ``format='coreai' needs
target='iOS27'``. A flag with no keyword (``--debug``) is left as it is.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator

from bridgec.core.errors import BridgecError

_NAME = r"[A-Za-z_][\w.]*"
_QUOTED = r"'[^']*'"

# flag -> (keyword, the values it takes in a message: a regex, or "" for a switch with a fixed value)
FLAGS: dict[str, tuple[str, str]] = {
    "--format": ("format", r"auto|neuralnetwork|mlprogram|coreai"),
    "--target": ("target", r"(?:iOS|macOS|tvOS|watchOS)[\d.]+"),
    "--precision": ("precision", r"fp32|fp16"),
    "-O": ("pipeline", r"lower-custom|lower|custom|none"),
    "--compress": ("compress", r"int8|int4|palettize\d"),
    "--exporter": ("exporter", r"auto|torchscript|dynamo"),
    "--avoid-op": ("avoid_ops", r"[A-Z]\w*"),
    "--tolerance": ("tolerance", r"[-+]?(?:\d+\.?\d*|\.\d+)(?:e[-+]?\d+)?|nan|inf"),
    "--labels-output": ("labels_output", _NAME),
    "--labels": ("labels", ""),
    "--check-input": ("check_inputs", ""),
    "--image-input": ("image", ""),
    "--image-output": ("image_outputs", ""),
    "--metadata": ("metadata", ""),
    "--strict": ("strict=True", ""),
    "--no-check": ("check=False", ""),
    "-o": ("save", r"\S+?\.(?:mlpackage|mlmodel|aimodel|\w+)"),
}

# --input NAME:DIMS[:DTYPE], one or several in a row ("pass --input a:1x3 --input b:1x3")
_DIMS = r"\d+(?:x\d+)*|DIMS|\.\.\."
_SPEC = rf"--input ({_NAME}):({_DIMS})(?::(\w+))?\b"
_SPECS = re.compile(rf"{_SPEC}(?:\s+{_SPEC})*")
_ONE_SPEC = re.compile(_SPEC)
_BEFORE = r"(?<![\w-])"  # a flag starts a word: "-o" is no part of "co-opted"


def _spec(match: re.Match) -> str:
    name, dims, dtype = match.groups()
    key = name if name == "NAME" else repr(name)  # a placeholder stays one
    sizes = dims.split("x")
    if not dims[0].isdigit():
        shape = dims
    else:
        shape = f"({sizes[0]},)" if len(sizes) == 1 else f"({', '.join(sizes)})"
    return f"{key}: ({shape}, {dtype!r})" if dtype else f"{key}: {shape}"


def _specs(match: re.Match) -> str:
    return "inputs={" + ", ".join(_spec(m) for m in _ONE_SPEC.finditer(match[0])) + "}"


def _reworded_flag(flag: str, keyword: str, values: str, text: str) -> str:
    if not values:
        plain = keyword if "=" in keyword else f"{keyword}="
        return re.sub(rf"{_BEFORE}{re.escape(flag)}(?![\w-])", plain, text)

    def one(match: re.Match) -> str:
        value = match[1]
        if value is None:
            return f"{keyword}="
        if keyword == "save":
            return f"save({value!r})"
        if value.startswith("'"):
            value = value[1:-1]
        shown = value if keyword == "tolerance" else repr(value)
        return f"{keyword}=({shown},)" if keyword == "avoid_ops" else f"{keyword}={shown}"

    pattern = rf"{_BEFORE}{re.escape(flag)}(?![\w-])(?:\s+({_QUOTED}|(?:{values})(?![\w-])))?"
    return re.sub(pattern, one, text)


def for_python(message: str) -> str:
    """``message`` with each command-line flag it names spelled as ``bridgec.convert``'s keyword."""
    text = _SPECS.sub(_specs, message)
    text = re.sub(rf"{_BEFORE}--input names\b", "inputs= keys", text)
    text = re.sub(rf"{_BEFORE}--input ({_NAME})(?=[:\s,;)]|$)", lambda m: f"inputs[{m[1]!r}]", text)
    text = re.sub(rf"{_BEFORE}--input(?![\w-])", "inputs=", text)
    for flag, (keyword, values) in FLAGS.items():
        text = _reworded_flag(flag, keyword, values, text)
    return text


@contextlib.contextmanager
def python_wording() -> Iterator[None]:
    """Re-word the message of a bridgec error raised in the block for a Python caller (the same
    exception object, so its type and attributes, ``CheckFailed.check``, stay)."""
    try:
        yield
    except BridgecError as exc:
        if exc.args and isinstance(exc.args[0], str):
            exc.args = (for_python(exc.args[0]), *exc.args[1:])
        raise


__all__ = ["FLAGS", "for_python", "python_wording"]
