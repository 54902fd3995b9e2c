"""An attribute's value where a node omits it, from the one place that defines it.

A bridgec op's default comes from its declaration (torch's default); a standard ONNX op's from the
ONNX schema (``onnx.defs``) at the graph's opset. Emitters and passes ask here instead of writing
``node.attrs.get("alpha", 0.01)``: a default restated beside each use drifts from the definition.
"""

from __future__ import annotations

from typing import Any, Protocol

import onnx

from bridgec.core.ops._decl import BRIDGEC_DOMAIN, CUSTOM_DOMAIN, get, is_declared

_MISSING = object()


class _Node(Protocol):
    op: str
    domain: str | None
    attrs: dict[str, Any]


def _text(value: Any) -> Any:
    return value.decode() if isinstance(value, bytes) else value


def default(op: str, name: str, domain: str = "", opset: int | None = None) -> Any:
    """The value ``op``'s attribute ``name`` has when a node omits it.

    Raises KeyError (one line, naming op and attribute) when it has none: the attribute is
    required, or optional without a default, and the caller must decide what absence means.
    """
    domain = "" if domain in ("", "ai.onnx") else domain
    if domain in (BRIDGEC_DOMAIN, CUSTOM_DOMAIN) and is_declared(op):
        return get(op).attribute(name).default
    if domain:
        raise KeyError(f"{domain}::{op}: no declared default for attribute {name!r}")
    try:
        schema = onnx.defs.get_schema(op, opset) if opset is not None else onnx.defs.get_schema(op)
    except onnx.defs.SchemaError:
        raise KeyError(f"{op}: no ONNX schema{'' if opset is None else f' at opset {opset}'}") from None
    attribute = schema.attributes.get(name)
    if attribute is None:
        raise KeyError(f"{op}: ONNX's schema has no attribute {name!r}")
    if not attribute.default_value.name:
        raise KeyError(f"{op}: attribute {name!r} has no default in ONNX's schema")
    return _text(onnx.helper.get_attribute_value(attribute.default_value))


def attr(node: _Node, name: str, opset: int | None = None) -> Any:
    """The node's attribute ``name``, or its default (see ``default``); strings as ``str``.

    ``opset`` picks the ONNX schema for standard ops (None: the newest, which is the IR's
    semantics for every attribute whose default has not changed since the opset the IR is at).
    """
    value = node.attrs.get(name, _MISSING)
    if value is not _MISSING:
        return _text(value)
    return default(node.op, name, node.domain or "", opset)
