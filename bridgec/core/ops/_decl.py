"""What a bridgec op is: one ``OpDecl`` per op, and the registry that holds them.

An ``OpDecl`` is the op's single source of truth (like JAX's ``Primitive`` or ONNX's
``OpSchema``): its attributes with torch's defaults, a one-line statement of what it computes, and
its reference semantics twice over — an ONNX function body (what onnxruntime runs, the reference
every rewrite is checked against) and a numpy function (what the custom-layer kernels and the
reference executor are held to). Frontends, lowering rules, emitters, kernels and docs read the
declaration; none of them restates a default, a constant or the semantics.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np
import onnx

# The ONNX domain of the ops the frontend keeps distinct for the passes to decide on, and of the
# nodes a pass has decided to emit as Core ML custom layers (op_type = the layer's className).
BRIDGEC_DOMAIN = "ai.bridgec"
CUSTOM_DOMAIN = "ai.bridgec.coreml_custom"
BRIDGEC_OPSET = 1

ATTRIBUTE_KINDS = ("float", "string")


@dataclass(frozen=True)
class Attr:
    """One attribute: ``default`` is torch's (the value a torch call that omits it means)."""

    name: str
    kind: str  # one of ATTRIBUTE_KINDS
    default: float | str
    # A string attribute the reference function branches on: one ONNX function per value.
    choices: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.kind not in ATTRIBUTE_KINDS:
            raise ValueError(f"attribute {self.name}: kind {self.kind!r} is not one of {ATTRIBUTE_KINDS}")


@dataclass(frozen=True)
class Aten:
    """How one aten op becomes the declared op: ``args`` maps the aten arguments after ``self``
    (schema order) to attributes; ``fixed`` holds attributes torch fixes for this aten op; every
    other attribute takes its declared default."""

    name: str  # without "aten::", e.g. "relu6"
    args: tuple[tuple[str, str], ...] = ()  # (aten argument, attribute)
    fixed: Mapping[str, float | str] = field(default_factory=lambda: MappingProxyType({}))
    inplace: bool = True  # aten also has "<name>_"


@dataclass(frozen=True)
class OpDecl:
    """One bridgec op with one output ``y``: elementwise on one input ``x`` unless ``inputs`` names
    more (attention's query, key, value and mask; a node may omit trailing ones its reference
    function for its attributes does not read)."""

    name: str
    semantics: str  # one line, in torch's terms; docs and kernel descriptions print it
    attributes: tuple[Attr, ...]
    # ONNX function body text for an opset (and the value of ``specialised_by``, if any); it may
    # refer to the op's attributes as ``@name``.
    onnx_body: Callable[..., str]
    numpy: Callable[..., np.ndarray]  # numpy(x, **attributes)
    aten: tuple[Aten, ...] = ()
    domain: str = BRIDGEC_DOMAIN
    inputs: tuple[str, ...] = ("x",)

    @property
    def elementwise(self) -> bool:
        """One input, one output of its shape: what the custom-layer kernels and the frontend's
        generic symbolics (one aten tensor argument, scalars after it) are made for."""
        return self.inputs == ("x",)

    @property
    def attribute_names(self) -> tuple[str, ...]:
        return tuple(a.name for a in self.attributes)

    @property
    def defaults(self) -> dict[str, float | str]:
        return {a.name: a.default for a in self.attributes}

    def attribute(self, name: str) -> Attr:
        for a in self.attributes:
            if a.name == name:
                return a
        raise KeyError(f"{self.name} has no attribute {name!r} (it has {list(self.attribute_names)})")

    @property
    def specialised_by(self) -> Attr | None:
        """The string attribute the reference function branches on (no ONNX op before opset 20 can
        branch on a string, so each value gets its own function ``<op>__<value>``)."""
        return next((a for a in self.attributes if a.choices), None)

    def function_names(self) -> tuple[str, ...]:
        by = self.specialised_by
        return (self.name,) if by is None else tuple(f"{self.name}__{v}" for v in by.choices)

    def function_name(self, attrs: Mapping[str, Any]) -> str:
        """The function that defines a node with ``attrs`` (``Gelu`` -> ``Gelu__tanh``)."""
        by = self.specialised_by
        if by is None:
            return self.name
        value = attrs.get(by.name, by.default)
        return f"{self.name}__{value.decode() if isinstance(value, bytes) else value}"

    def functions(self, domain: str, opset: int) -> list[onnx.FunctionProto]:
        """The reference ONNX functions of this op at ``opset`` (one per specialisation)."""
        by = self.specialised_by
        if by is None:
            return [_function(domain, opset, self.name, self.attributes, self.onnx_body(opset), self.inputs)]
        # the specialising attribute is fixed by the function's name, not passed in
        rest = tuple(a for a in self.attributes if a is not by)
        return [
            _function(domain, opset, f"{self.name}__{v}", rest, self.onnx_body(opset, v), self.inputs)
            for v in by.choices
        ]

    def aten_attrs(self, form: Aten, given: Mapping[str, Any]) -> dict[str, float | str]:
        """Attributes of the node one ``aten::<form.name>`` call becomes (``given`` by aten argument)."""
        attrs = self.defaults
        attrs.update({attr: given[arg] for arg, attr in form.args if arg in given})
        attrs.update(form.fixed)
        return attrs


def _function(
    domain: str, opset: int, name: str, attrs: tuple[Attr, ...], body: str, inputs: tuple[str, ...] = ("x",)
) -> onnx.FunctionProto:
    # Each attribute carries its declared default (FunctionProto.attribute_proto, ONNX IR 9), so a
    # node that omits one computes the declared default in onnxruntime too, not the inner op's.
    signature = f"{name} <{', '.join(_signature(a) for a in attrs)}>" if attrs else name
    text = f"""
    <domain: "{domain}", opset_import: ["" : {opset}]>
    {signature} ({", ".join(inputs)}) => (y) {{ {body} }}
    """
    return onnx.parser.parse_function(text)


def _signature(a: Attr) -> str:
    value = f'"{a.default}"' if a.kind == "string" else repr(float(a.default))
    return f"{a.name}: {a.kind} = {value}"


def scalar(name: str, value: str, opset: int) -> str:
    """Body lines defining ``name`` as a scalar like ``x``: a literal or an ``@attribute``.

    CastLike (opset 15) keeps the function valid for float16 inputs too; before it, float32 only.
    """
    literal = value if value.startswith("@") else repr(float(value))
    if opset < 15:
        return f"{name} = Constant <value_float: float = {literal}> ()\n"
    return f"{name}_f = Constant <value_float: float = {literal}> ()\n{name} = CastLike ({name}_f, x)\n"


# --- the registry ---------------------------------------------------------------------------------

_REGISTRY: dict[str, OpDecl] = {}


def register(decl: OpDecl) -> OpDecl:
    """Add ``decl`` to the registry; a second declaration of the same (domain, name) is an error."""
    if decl.name in _REGISTRY:
        raise ValueError(f"op {decl.domain}::{decl.name} is declared twice: keep one OpDecl per op")
    by = [a for a in decl.attributes if a.choices]
    if len(by) > 1:
        raise ValueError(f"op {decl.name}: at most one attribute may specialise the reference function")
    _REGISTRY[decl.name] = decl
    return decl


def get(name: str) -> OpDecl:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise KeyError(f"no bridgec op {name!r}: declared ops are {sorted(_REGISTRY)}") from None


def all_ops() -> tuple[OpDecl, ...]:
    """Every declared op, in declaration order."""
    return tuple(_REGISTRY.values())


def is_declared(name: str) -> bool:
    return name in _REGISTRY


def aten_node(aten: str, given: Mapping[str, Any] | None = None) -> tuple[str, dict[str, float | str]]:
    """The declared op, and its attributes, that ``aten::<aten>`` (arguments ``given`` by aten name)
    becomes."""
    for decl in _REGISTRY.values():
        for form in decl.aten:
            if form.name == aten:
                return decl.name, decl.aten_attrs(form, given or {})
    raise KeyError(f"aten::{aten} is not the aten form of any declared bridgec op")
