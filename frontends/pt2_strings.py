"""The rules for single strings of a ``.pt2`` program (see ``frontends.pt2_program``): names torch
writes into Python code, free text, JSON metadata, shape expressions, operator targets and pytree
specs. Each rule raises :class:`Refused` naming the string and why.
"""

from __future__ import annotations

import json
import keyword
import re
from typing import Any

from bridgec.frontends import pt2_expr


class Refused(ValueError):
    """A part of the program bridgec will not hand to torch; the message says which and why."""


def shown(text: object, limit: int = 80) -> str:
    text = str(text)
    return repr(text if len(text) <= limit else text[: limit - 3] + "...")


# --- strings -------------------------------------------------------------------------------------------

IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_FQN = re.compile(r"[A-Za-z0-9_\-]+(?:\.[A-Za-z0-9_\-]+)*")
DOTTED = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*")
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]")
MAX_TEXT = 1 << 20
MAX_NAME = 1024


def text(value: str, what: str = "text") -> None:
    if len(value) > MAX_TEXT:
        raise Refused(f"{what} longer than {MAX_TEXT:,} characters")
    found = CONTROL.search(value)
    if found:
        raise Refused(f"{what} {shown(value)} holds the control character {found[0]!r}")


def identifier(value: str, what: str = "name", keywords: bool = False) -> None:
    if len(value) > MAX_NAME or not IDENT.fullmatch(value) or (keyword.iskeyword(value) and not keywords):
        raise Refused(f"{what} {shown(value)} is not a Python identifier (torch writes it into Python code)")


def fqn(value: str, what: str = "parameter path") -> None:
    if len(value) > MAX_NAME or not _FQN.fullmatch(value):
        raise Refused(f"{what} {shown(value)} is not a dotted module path (torch writes it into Python code)")


def quotable(value: str, what: str = "string input") -> None:
    text(value, what)
    if any(c in value for c in "'\"\\\n"):
        raise Refused(f"{what} {shown(value)} holds a quote or backslash (torch quotes it into Python code)")


def expression(value: str) -> None:
    try:
        pt2_expr.parse(value)
    except pt2_expr.ExprError as exc:
        raise Refused(f"symbolic shape expression {shown(value)} is not one bridgec reads ({exc})") from None


def json_text(value: str, what: str) -> None:
    """Metadata torch decodes with ``json.loads``: plain JSON whose strings are text."""
    try:
        data = json.loads(value)
    except (ValueError, RecursionError):
        raise Refused(f"{what} {shown(value)} is not JSON") from None

    def walk(item: Any, depth: int) -> None:
        if depth > 32:
            raise Refused(f"{what} is nested more than 32 deep")
        if isinstance(item, str):
            text(item, what)
        elif isinstance(item, list):
            for x in item:
                walk(x, depth + 1)
        elif isinstance(item, dict):
            for k, v in item.items():
                text(k, what)
                walk(v, depth + 1)

    walk(data, 0)


# --- operators -----------------------------------------------------------------------------------------

# Control flow and functionalisation: subgraphs and operators inside them are checked like the rest.
# Left out: the ones that run compiled code, Python callables, prints or delegates
# (inline_asm_elementwise, inductor_compiled_code, flat_apply, print, executorch_call_delegate, ...).
HIGHER_ORDER = frozenset(
    {
        "cond",
        "while_loop",
        "map_impl",
        "scan",
        "associative_scan",
        "wrap_with_set_grad_enabled",
        "wrap_with_autocast",
        "auto_functionalized",
        "auto_functionalized_v2",
        "invoke_subgraph",
        "out_dtype",
    }
)
# Operators that reach files or global state: from_file opens (and creates) a file at a path the
# program names, save writes one.
DENIED_OPS = frozenset({"from_file", "save", "_print", "warn", "manual_seed", "seed", "record_stream"})
# The only operators kept that return nothing: the runtime checks export inserts.
VOID_OPS = frozenset(
    {
        "_assert_scalar",
        "_assert_async",
        "_assert_tensor_metadata",
        "sym_constrain_range",
        "sym_constrain_range_for_size",
    }
)
_OP = re.compile(r"torch\.ops\.(aten|prims)\.([A-Za-z_][A-Za-z0-9_]*)\.([A-Za-z_][A-Za-z0-9_]*)")
_HOP = re.compile(r"torch\.ops\.higher_order\.([A-Za-z_][A-Za-z0-9_]*)")
_PATH_ARGS = ("filename", "path", "file")


def _symbolic_ops() -> dict[str, Any]:
    """The plain callables torch's serializer writes, by the name it writes them under."""
    import torch
    from torch._export.serde.serialize import _SYM_OPS

    ops = {f"{op.__module__}.{op.__name__}": op for op in _SYM_OPS}
    for op in (torch.sym_sum, torch._C._set_grad_enabled):
        ops[f"{op.__module__}.{op.__name__}"] = op
    return ops


_CHECKED_TARGETS: dict[str, str | None] = {}


def target(value: str) -> None:
    """A node target (or an operator argument) that resolves to an operator bridgec allows."""
    if value not in _CHECKED_TARGETS:
        _CHECKED_TARGETS[value] = _why_not_target(value)
    why = _CHECKED_TARGETS[value]
    if why:
        raise Refused(f"operator {shown(value)} {why}")


def _why_not_target(value: str) -> str | None:
    import torch

    if value in _symbolic_ops():
        return None
    found = _HOP.fullmatch(value)
    if found:
        return None if found[1] in HIGHER_ORDER else "is a higher-order operator bridgec does not run"
    found = _OP.fullmatch(value)
    if not found:
        return (
            "is not an operator bridgec allows (torch.ops.aten/prims operators, symbolic size "
            "arithmetic, control flow)"
        )
    namespace, name, overload = found.groups()
    if name in DENIED_OPS:
        return "reaches files or global state"
    try:
        op = getattr(getattr(getattr(torch.ops, namespace), name), overload)
    except (AttributeError, RuntimeError):
        return "is not an operator of this torch"
    if not isinstance(op, torch._ops.OpOverload):
        return "is not an operator overload"
    schema = op._schema
    if any(arg.name in _PATH_ARGS and "str" in str(arg.type) for arg in schema.arguments):
        return "takes a file path"
    if not schema.returns and name not in VOID_OPS:
        return "returns nothing (an operator run for its side effect)"
    return None


# --- pytree specs ---------------------------------------------------------------------------------------

# pytree types whose contexts are not read by plain ``json.loads``: defaultdict's imports a module
# and takes an attribute of it by name.
_TREESPEC_DENIED = frozenset({"collections.defaultdict", "NO_SERIALIZED_TYPE_NAME_FOUND"})
_NAMEDTUPLE = "collections.namedtuple"
_FIX_OUTPUTS = (
    "export a model that returns tensors, tuples, lists, dicts, named tuples or dataclass-like outputs "
    "(transformers' ModelOutput)"
)


def treespec(value: str) -> None:
    """A module-call input spec, which torch reads with ``treespec_loads``: its JSON contexts may hold
    ``{"__enum__": ..., "fqn": "module:Class"}``, which imports the module. Every type must be one
    this process registered."""
    _spec(value, outputs=False)


def output_treespec(value: str) -> None:
    """A module-call output spec: as an input spec, except that a class this process has not
    registered (a Hugging Face ``ModelOutput``, a dataclass) passes when its context lists its field
    names, one a child; :func:`readable_treespec` then reads it as a dict of those fields, so the
    class is never imported and the outputs keep their names."""
    _spec(value, outputs=True)


def field_names(context: Any, count: int) -> list[str] | None:
    """The field names an unregistered class's pytree context lists for its ``count`` children, or
    None. transformers writes a ModelOutput's present fields (``["last_hidden_state",
    "pooler_output"]``: None fields are left out); ``torch.export.register_dataclass`` writes the
    fields and the None fields (``[["logits"], ["loss"]]``)."""
    if not isinstance(context, str):
        return None
    try:
        names = json.loads(context)
    except (ValueError, RecursionError):
        return None
    if isinstance(names, list) and len(names) == 2 and all(isinstance(n, list) for n in names):
        names = names[0]
    if not isinstance(names, list) or len(names) != count:
        return None
    if not all(isinstance(n, str) and 0 < len(n) <= MAX_NAME for n in names) or len(set(names)) != count:
        return None
    for name in names:
        text(name, "pytree field name")
    return names


def _spec(value: str, outputs: bool) -> None:
    from torch.utils import _pytree as pytree

    try:
        data = json.loads(value)
    except (ValueError, RecursionError):
        raise Refused(f"pytree spec {shown(value)} is not JSON") from None
    if not (isinstance(data, list) and len(data) == 2 and data[0] == 1):
        raise Refused(f"pytree spec {shown(value)} is not a protocol-1 spec")

    def node(spec: Any, depth: int) -> None:
        if depth > 64:
            raise Refused("a pytree spec nested more than 64 deep")
        if not (isinstance(spec, dict) and set(spec) == {"type", "context", "children_spec"}):
            raise Refused(f"pytree spec node {shown(spec)} is not a type, a context and children")
        kind, context, children = spec["type"], spec["context"], spec["children_spec"]
        if not isinstance(children, list):
            raise Refused("pytree spec children that are not a list")
        if kind is None:
            if context is not None or children:
                raise Refused("a pytree leaf with a context or children")
            return
        if not isinstance(kind, str) or kind in _TREESPEC_DENIED:
            raise Refused(f"pytree type {shown(kind)} is not one bridgec reads")
        python_type = pytree.SERIALIZED_TYPE_TO_PYTHON_TYPE.get(kind)
        if python_type is None:
            if not outputs:
                raise Refused(
                    f"input pytree type {shown(kind)} is not registered in this process, and bridgec "
                    "imports nothing an archive names: export a model that takes tensors"
                )
            if field_names(context, len(children)) is None:
                # the archive names a class bridgec will not import, and its fields cannot be read
                raise Refused(
                    f"output pytree type {shown(kind)} is not registered in this process and its "
                    f"context {shown(context)} does not list one field name a child; bridgec imports "
                    f"nothing an archive names: {_FIX_OUTPUTS}"
                )
        elif not isinstance(context, str):
            raise Refused(f"pytree context {shown(context)} is not text")
        elif pytree.SUPPORTED_SERIALIZED_TYPES[python_type].from_dumpable_context is None:
            json_text(context, "pytree context")
            if "__enum__" in context:
                raise Refused("a pytree context naming an enum class (torch would import its module)")
        else:
            text(context, "pytree context")  # a namedtuple's registered name, looked up, not imported
        for child in children:
            node(child, depth + 1)

    node(data[1], 0)


def output_namedtuples(value: str, fields: dict[str, list[str]]) -> None:
    """The named tuples of a (checked) output spec this process has not registered must have their
    field names in the program's ``treespec_namedtuple_fields`` (``fields``), one a child: they are
    read as dicts of those fields."""
    from torch.utils import _pytree as pytree

    def node(spec: dict) -> None:
        if spec["type"] == _NAMEDTUPLE and spec["context"] not in pytree.SERIALIZED_TYPE_TO_PYTHON_TYPE:
            names = fields.get(spec["context"])
            if names is None or len(names) != len(spec["children_spec"]) or len(set(names)) != len(names):
                raise Refused(
                    f"output named tuple {shown(spec['context'])} is not registered in this process and "
                    f"the program does not list one field name a child; {_FIX_OUTPUTS}"
                )
        for child in spec["children_spec"]:
            node(child)

    node(json.loads(value)[1])


def readable_treespec(value: str, namedtuples: dict[str, list[str]]) -> str:
    """A spec the checks above passed, with each class this process has not registered rewritten
    as a dict of its field names (a named tuple's from ``namedtuples``, the program's
    ``treespec_namedtuple_fields``): torch then rebuilds the outputs as dicts keyed by the field
    names instead of importing the class the archive names."""
    from torch.utils import _pytree as pytree

    registered = pytree.SERIALIZED_TYPE_TO_PYTHON_TYPE
    protocol, root = json.loads(value)

    def node(spec: dict) -> dict:
        kind, context, children = spec["type"], spec["context"], spec["children_spec"]
        names = None
        if kind == _NAMEDTUPLE and context not in registered:
            names = namedtuples.get(context)
        elif kind is not None and kind not in registered:
            names = field_names(context, len(children))
        if names is not None:
            kind, context = "builtins.dict", json.dumps(list(names))
        return {"type": kind, "context": context, "children_spec": [node(c) for c in children]}

    return json.dumps([protocol, node(root)])


__all__ = [
    "CONTROL",
    "DOTTED",
    "IDENT",
    "Refused",
    "expression",
    "field_names",
    "fqn",
    "identifier",
    "json_text",
    "output_namedtuples",
    "output_treespec",
    "quotable",
    "readable_treespec",
    "shown",
    "target",
    "text",
    "treespec",
]
