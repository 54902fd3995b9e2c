"""The error contract: every failure a user can cause is one of these, printed as one line."""

from __future__ import annotations


class BridgecError(Exception):
    """A failure with a message fit for one line of terminal output."""

    exit_code = 1


class UsageError(BridgecError):
    """The command line or the input file is wrong: exit status 2."""

    exit_code = 2


class ConversionError(BridgecError):
    """The model is fine but cannot be converted as asked: exit status 1."""

    exit_code = 1


class SourceUnrunnable(BridgecError):
    """The source model cannot be run again to check a conversion against it, through no fault of the
    model (e.g. an op onnxruntime has no implementation for): the conversion is written unchecked."""


# how torch and onnxruntime say an allocation failed (neither raises MemoryError)
_ALLOCATION_FAILED = (
    "DefaultCPUAllocator: can't allocate memory",
    "BFCArena",
    "Failed to allocate memory",
    "bad_alloc",
)


def out_of_memory(exc: BaseException) -> bool:
    """Whether ``exc`` is an allocation that failed: this machine's limit, not the model's fault."""
    return isinstance(exc, MemoryError) or any(sign in str(exc) for sign in _ALLOCATION_FAILED)


def onnx_message(exc: BaseException) -> str:
    """onnx's checker and shape inference errors in one line that ends where the sentence ends: they
    spread over lines (``input 'x' of node: \\nname: n OpType: Relu\\n is not ...``) and leave the
    name empty for an unnamed node, so the first line alone can stop at ``of node:``."""
    import re

    text = " ".join(str(exc).split())
    context = re.search(r"==> Context: Bad node spec for node\. Name: ?(\S*) OpType: (\S+)", text)
    text = re.sub(r"\s*==> Context:.*$", "", text)

    def node(name: str, op: str) -> str:
        return f"node {name!r} ({op})" if name else f"an unnamed {op} node"

    text = re.sub(r"node: name: ?(\S*) OpType: (\S+)", lambda m: node(m[1], m[2]), text)
    text = re.sub(r"node name: \)", "unnamed node)", text)
    if context:
        text = f"{text.rstrip('.')}; in {node(context[1], context[2])}"
    return text or type(exc).__name__
