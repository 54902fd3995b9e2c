"""The program of a ``.pt2`` archive (``models/model.json``), checked string by string before torch
reads it.

torch's deserializer treats much of the JSON as code: it evaluates shape expressions with sympify,
turns value names into the parameters of Python functions it generates and executes, writes
parameter names into ``getattr(self, "...")`` calls of that code, executes ``guards_code``, imports
the modules a pytree spec names and calls any callable a node's ``target`` resolves to. So every
field is walked with torch's own schema (``torch._export.serde.schema``) and every string must pass
the rule for its field — a field without a rule is refused, so a schema that grows fails closed
(the rules for single strings are in :mod:`bridgec.frontends.pt2_strings`):

- names that become Python identifiers must be identifiers; parameter and buffer paths are dotted
  names without quotes;
- shape expressions go through :mod:`bridgec.frontends.pt2_expr`, guards through an allow-list of
  Python syntax (input sizes, integers, arithmetic, comparisons: :mod:`bridgec.frontends.pt2_guards`);
- node targets are aten/prims operators (none that opens files or returns nothing but asserts), the
  symbolic-size operators torch's serializer writes, and the control-flow operators;
- pytree specs name only registered types whose contexts are plain JSON, except that an output
  class this process has not registered (a Hugging Face ModelOutput, a dataclass, a named tuple)
  passes when its field names can be read from the spec or the program: it is loaded as a dict;
- free text (stack traces, string arguments) holds no control characters but tab and newline.
"""

from __future__ import annotations

import dataclasses
import re
import types
import typing
from collections.abc import Callable, Mapping
from enum import IntEnum
from typing import Any

from bridgec.core.words import plural
from bridgec.frontends import pt2_expr
from bridgec.frontends.pt2_guards import guard
from bridgec.frontends.pt2_strings import (
    DOTTED,
    IDENT,
    Refused,
    expression,
    fqn,
    identifier,
    json_text,
    output_namedtuples,
    output_treespec,
    quotable,
    shown,
    target,
    text,
    treespec,
)

# --- the schema walk -----------------------------------------------------------------------------------

_METADATA_KEYS = frozenset(
    {"stack_trace", "nn_module_stack", "source_fn_stack", "torch_fn", "custom", "from_node"}
)


def _metadata(key: str, value: str) -> None:
    if key not in _METADATA_KEYS:
        raise Refused(f"node metadata {shown(key)} is not one torch writes")
    text(value, key)
    if key in ("custom", "from_node"):
        json_text(value, key)
    elif key == "source_fn_stack":
        # "name,target;...": torch resolves each target by attribute lookups on torch and operator
        for item in value.split(";"):
            parts = item.split(",")
            if len(parts) != 2 or not DOTTED.fullmatch(parts[1]) or not IDENT.fullmatch(parts[0]):
                raise Refused(f"source_fn_stack entry {shown(item)} is not a name and a dotted target")


def _graph_module_metadata(key: str, value: str) -> None:
    if key != "custom":
        raise Refused(f"graph metadata {shown(key)} is not one torch writes")
    json_text(value, key)


def _verifier(value: str) -> None:
    if not re.fullmatch(r"[A-Z_]{0,32}", value):
        raise Refused(f"verifier {shown(value)} is not a dialect name")


def _refuse_custom_object(value: str) -> None:
    raise Refused(
        f"a script/opaque object ({shown(value)}): objects torch rebuilds from the file run code, and the "
        "exporter cannot convert them"
    )


def _range_key(value: str) -> None:
    """A range constraint's key: a symbol (``s77``, ``u0``) or, for a derived dimension, an
    expression of one (``s17 + 1``); torch reads the number of any key starting like an unbacked
    symbol with ``int()`` and counts up to it."""
    try:
        if value.startswith(("u", "zuf")):
            pt2_expr.check_symbol_name(value)
            if not re.fullmatch(r"(u|zuf)\d+", value):
                raise pt2_expr.ExprError(f"{value!r} starts like an unbacked symbol but is not one")
        else:
            pt2_expr.parse(value)
    except pt2_expr.ExprError as exc:
        raise Refused(f"range constraint {shown(value)}: {exc}") from None


def _argument_name(value: str) -> None:
    if value:
        identifier(value, "argument name", keywords=True)


def _module_fqn(value: str) -> None:
    if value:
        fqn(value, "module path")


Rule = Callable[..., None]
# (schema class, field) -> rule for each string of the field; "field.key" for the keys of a dict field.
RULES: dict[tuple[str, str], Rule] = {
    ("Device", "type"): lambda v: None if re.fullmatch(r"[a-z_]{1,32}", v) else _refuse_device(v),
    ("SymExpr", "expr_str"): expression,
    ("SymIntArgument", "as_name"): identifier,
    ("SymFloatArgument", "as_name"): identifier,
    ("SymBoolArgument", "as_name"): identifier,
    ("TensorArgument", "name"): identifier,
    ("TokenArgument", "name"): identifier,
    ("GraphArgument", "name"): identifier,
    ("CustomObjArgument", "name"): _refuse_custom_object,
    ("CustomObjArgument", "class_fqn"): _refuse_custom_object,
    ("Argument", "as_string"): text,
    ("Argument", "as_strings"): text,
    ("Argument", "as_operator"): target,
    ("Argument", "as_string_to_argument.key"): lambda v: identifier(v, "keyword argument", keywords=True),
    ("NamedArgument", "name"): _argument_name,
    ("Node", "target"): target,
    ("Node", "name"): identifier,
    ("Node", "metadata.key"): lambda v: None,  # checked with its value
    ("Node", "metadata"): _metadata,
    ("Graph", "tensor_values.key"): identifier,
    ("Graph", "sym_int_values.key"): identifier,
    ("Graph", "sym_bool_values.key"): identifier,
    ("Graph", "sym_float_values.key"): identifier,
    ("Graph", "custom_obj_values.key"): _refuse_custom_object,
    ("ConstantValue", "as_string"): quotable,
    ("InputToConstantInputSpec", "name"): identifier,
    ("InputToParameterSpec", "parameter_name"): fqn,
    ("InputToBufferSpec", "buffer_name"): fqn,
    ("InputToTensorConstantSpec", "tensor_constant_name"): fqn,
    ("InputToCustomObjSpec", "custom_obj_name"): _refuse_custom_object,
    ("BufferMutationSpec", "buffer_name"): fqn,
    ("ParameterMutationSpec", "parameter_name"): fqn,
    ("GradientToParameterSpec", "parameter_name"): fqn,
    ("GradientToUserInputSpec", "user_input_name"): identifier,
    ("UserInputMutationSpec", "user_input_name"): identifier,
    ("ModuleCallSignature", "in_spec"): treespec,
    ("ModuleCallSignature", "out_spec"): output_treespec,
    ("ModuleCallSignature", "forward_arg_names"): identifier,
    ("ModuleCallEntry", "fqn"): _module_fqn,
    ("NamedTupleDef", "field_names"): identifier,
    ("GraphModule", "metadata.key"): lambda v: None,  # checked with its value
    ("GraphModule", "metadata"): _graph_module_metadata,
    ("GraphModule", "treespec_namedtuple_fields.key"): lambda v: (
        None if DOTTED.fullmatch(v) else _bad_type(v)
    ),
    ("ExportedProgram", "opset_version.key"): identifier,
    ("ExportedProgram", "range_constraints.key"): _range_key,
    ("ExportedProgram", "verifiers"): _verifier,
    ("ExportedProgram", "torch_version"): text,
    ("ExportedProgram", "guards_code"): guard,
    ("PayloadMeta", "path_name"): lambda v: None,  # checked against the archive's members
    ("PayloadConfig", "config.key"): fqn,
}
_KEYED_VALUES = {("Node", "metadata"), ("GraphModule", "metadata")}


def _refuse_device(value: str) -> None:
    raise Refused(f"device {shown(value)} is not a device type")


def _bad_type(value: str) -> None:
    raise Refused(f"named tuple type {shown(value)} is not a dotted name")


_HINTS: dict[type, Mapping[str, Any]] = {}


def schema_hints(cls: type) -> Mapping[str, Any]:
    """``typing.get_type_hints`` of a class of torch's export schema, worked out once per process: a
    class's hints never change, and working them out again for each object was most of the time a
    walk took (torch's own deserializer asks for them once per object it builds: see
    ``pt2_archive.memoised_hints``)."""
    hints = _HINTS.get(cls)
    if hints is None:
        from torch._export.serde import schema

        hints = _HINTS[cls] = types.MappingProxyType(typing.get_type_hints(cls, globalns=vars(schema)))
    return hints


# what a hint asks of the JSON, resolved once per hint: (kind, what the kind needs)
_PLANS: dict[Any, tuple[str, Any]] = {}


def _plan(hint: Any) -> tuple[str, Any]:
    try:
        return _PLANS[hint]
    except KeyError:
        plan = _PLANS[hint] = _resolve(hint)
        return plan
    except TypeError:  # an unhashable hint: resolved each time
        return _resolve(hint)


def _resolve(hint: Any) -> tuple[str, Any]:
    origin = typing.get_origin(hint)
    if origin is typing.Annotated:
        return _plan(typing.get_args(hint)[0])
    if isinstance(hint, (str, typing.ForwardRef)):
        from torch._export.serde import schema

        name = hint if isinstance(hint, str) else hint.__forward_arg__
        return _plan(getattr(schema, name))
    if origin in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(hint) if a is not type(None)]
        return "optional", options[0]
    if hint in (str, bool, int, float):
        return hint.__name__, None
    if isinstance(hint, type) and issubclass(hint, IntEnum):
        return "enum", (hint.__name__, frozenset(m.value for m in hint))
    if origin is list:
        (item,) = typing.get_args(hint)
        return "list", item
    if origin is dict:
        _, item = typing.get_args(hint)
        return "dict", item
    if dataclasses.is_dataclass(hint):
        return "object", hint
    return "unknown", hint


class Walker:
    """Checks JSON against a schema dataclass, every field by its declared type, every string by
    :data:`RULES`; ``hooks`` run on each object of a class after its fields."""

    def __init__(self, hooks: dict[str, Callable[[dict], None]] | None = None) -> None:
        from torch._export.serde import schema
        from torch._export.serde.union import _Union

        self.schema, self.union = schema, _Union
        self.hooks = hooks or {}
        self.depth = 0

    def check(self, data: Any, cls: type) -> None:
        try:
            self.value(data, cls, ("", ""))
        except RecursionError:
            raise Refused("the program is nested too deeply") from None

    def fields(self, cls: type) -> Mapping[str, Any]:
        return schema_hints(cls)

    def value(self, data: Any, hint: Any, where: tuple[str, str], key: str | None = None) -> None:
        kind, arg = _plan(hint)
        owner, field = where
        if kind == "str":
            if not isinstance(data, str):
                raise Refused(f"{owner}.{field}: {shown(data)} is not a string")
            rule = RULES.get(where)
            if rule is None:
                raise Refused(f"{owner}.{field}: a string field bridgec has no rule for")
            return rule(key, data) if where in _KEYED_VALUES else rule(data)
        if kind == "object":
            return self.object(data, arg)
        if kind == "optional":
            if data is None:
                return None
            return self.value(data, arg, where, key)
        if kind == "list":
            if not isinstance(data, list):
                raise Refused(f"{owner}.{field}: not a list")
            for element in data:
                self.value(element, arg, where)
            return None
        if kind == "int":
            if type(data) is not int:
                raise Refused(f"{owner}.{field}: {shown(data)} is not an integer")
            return None
        if kind == "bool":
            if not isinstance(data, bool):
                raise Refused(f"{owner}.{field}: {shown(data)} is not true/false")
            return None
        if kind == "float":
            if type(data) not in (int, float) and data not in ("Infinity", "-Infinity", "NaN"):
                raise Refused(f"{owner}.{field}: {shown(data)} is not a number")
            return None
        if kind == "enum":
            enum, values = arg
            if type(data) is not int or data not in values:
                raise Refused(f"{owner}.{field}: {shown(data)} is not a {enum}")
            return None
        if kind == "dict":
            if not isinstance(data, dict):
                raise Refused(f"{owner}.{field}: not an object")
            key_rule = RULES.get((owner, f"{field}.key"))
            if key_rule is None and data:
                raise Refused(f"{owner}.{field}: keys bridgec has no rule for")
            for k, v in data.items():
                key_rule(k)
                self.value(v, arg, where, key=k)
            return None
        raise Refused(f"{owner}.{field}: a {arg!r} field bridgec does not know")

    def object(self, data: Any, cls: type) -> None:
        name = cls.__name__
        if not isinstance(data, dict):
            raise Refused(f"{name}: {shown(data)} is not an object")
        fields = self.fields(cls)
        unknown = [k for k in data if k not in fields]
        if unknown:
            raise Refused(f"{name}: field {shown(unknown[0])} is not in torch's schema")
        if issubclass(cls, self.union) and len(data) != 1:
            raise Refused(f"{name}: {plural(data, 'alternative')} set, not one")
        self.depth += 1
        try:
            if self.depth > 200:
                raise Refused("the program is nested too deeply")
            for field, value in data.items():
                self.value(value, fields[field], (name, field))
        finally:
            self.depth -= 1
        hook = self.hooks.get(name)
        if hook is not None:
            hook(data)


# --- what the schema cannot say ------------------------------------------------------------------------

# Graph inputs torch turns into placeholders; a string one is pasted into guard code between quotes.
_GRAPH_INPUTS = frozenset(
    {
        "as_tensor",
        "as_sym_int",
        "as_sym_float",
        "as_sym_bool",
        "as_int",
        "as_float",
        "as_bool",
        "as_none",
        "as_string",
    }
)
_BIG_OPERAND_OPS = frozenset({"_operator.pow", "_operator.lshift", "_operator.rshift"})


def _graph_hook(graph: dict) -> None:
    for argument in graph.get("inputs", []):
        (kind,) = argument
        if kind not in _GRAPH_INPUTS:
            raise Refused(f"a graph input of kind {kind}")
        if kind == "as_string":
            quotable(argument[kind])


def _node_hook(node: dict) -> None:
    # an integer power or shift of a size: 2 ** 10**18 would never finish
    if node.get("target") in _BIG_OPERAND_OPS:
        for named in node.get("inputs", []):
            value = named.get("arg", {}).get("as_int")
            if isinstance(value, int) and abs(value) > pt2_expr.MAX_EXPONENT:
                raise Refused(f"{node['target']} of {value}: an operand beyond {pt2_expr.MAX_EXPONENT}")


def namedtuple_fields(program: dict) -> dict[str, list[str]]:
    """The field names a (checked) program lists for the named tuples its specs name, by the name
    each was registered under."""
    listed = program.get("graph_module", {}).get("treespec_namedtuple_fields") or {}
    return {name: list(definition.get("field_names", [])) for name, definition in listed.items()}


def _graph_module_hook(module: dict) -> None:
    fields = namedtuple_fields({"graph_module": module})
    for entry in module.get("module_call_graph", []):
        if entry.get("signature"):
            output_namedtuples(entry["signature"]["out_spec"], fields)


def check_program(data: Any) -> None:
    """Check the parsed ``models/*.json`` of a ``.pt2`` archive; raises :class:`Refused`."""
    from torch._export.serde import schema

    hooks = {"Graph": _graph_hook, "Node": _node_hook, "GraphModule": _graph_module_hook}
    Walker(hooks).check(data, schema.ExportedProgram)


def check_payload_config(data: Any) -> Any:
    """Check a ``*_weights_config.json`` / ``*_constants_config.json``; returns it as torch's
    dataclass (the archive checks then hold its paths and sizes against the members)."""
    from torch._export.serde import schema
    from torch._export.serde.serialize import _dict_to_dataclass

    Walker().check(data, schema.PayloadConfig)
    return _dict_to_dataclass(schema.PayloadConfig, data)


__all__ = ["RULES", "Refused", "check_payload_config", "check_program", "namedtuple_fields"]
