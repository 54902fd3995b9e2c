"""The program of a ``.pt2`` archive (``models/model.json``), checked string by string before torch
reads it.

torch's deserializer treats much of the JSON as code: it evaluates shape expressions with sympify,
turns value names into the parameters of Python functions it generates and executes, writes
parameter names into ``getattr(self, "...")`` calls of that code, executes ``guards_code``, imports
the modules a pytree spec names and calls any callable a node's ``target`` resolves to. So every
field is walked with torch's own schema (``torch._export.serde.schema``) and every string must pass
the rule for its field — a field without a rule is refused, so a schema that grows fails closed:

- names that become Python identifiers must be identifiers; parameter and buffer paths are dotted
  names without quotes;
- shape expressions go through :mod:`bridgec.frontends.pt2_expr`, guards through an allow-list of
  Python syntax (input sizes, integers, arithmetic, comparisons);
- node targets are aten/prims operators (none that opens files or returns nothing but asserts), the
  symbolic-size operators torch's serializer writes, and the control-flow operators;
- pytree specs name only registered types whose contexts are plain JSON;
- free text (stack traces, string arguments) holds no control characters but tab and newline.
"""

from __future__ import annotations

import ast
import dataclasses
import json
import keyword
import re
import types
import typing
from collections.abc import Callable
from enum import IntEnum
from typing import Any

from bridgec.frontends import pt2_expr


class Refused(ValueError):
    """A part of the program bridgec will not hand to torch; the message says which and why."""


def _shown(text: object, limit: int = 80) -> str:
    text = str(text)
    return repr(text if len(text) <= limit else text[: limit - 3] + "...")


# --- strings -------------------------------------------------------------------------------------------

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_FQN = re.compile(r"[A-Za-z0-9_\-]+(?:\.[A-Za-z0-9_\-]+)*")
_DOTTED = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]")
MAX_TEXT = 1 << 20
MAX_NAME = 1024


def text(value: str, what: str = "text") -> None:
    if len(value) > MAX_TEXT:
        raise Refused(f"{what} longer than {MAX_TEXT:,} characters")
    found = _CONTROL.search(value)
    if found:
        raise Refused(f"{what} {_shown(value)} holds the control character {found[0]!r}")


def identifier(value: str, what: str = "name", keywords: bool = False) -> None:
    if len(value) > MAX_NAME or not _IDENT.fullmatch(value) or (keyword.iskeyword(value) and not keywords):
        raise Refused(f"{what} {_shown(value)} is not a Python identifier (torch writes it into Python code)")


def fqn(value: str, what: str = "parameter path") -> None:
    if len(value) > MAX_NAME or not _FQN.fullmatch(value):
        raise Refused(
            f"{what} {_shown(value)} is not a dotted module path (torch writes it into Python code)"
        )


def quotable(value: str, what: str = "string input") -> None:
    text(value, what)
    if any(c in value for c in "'\"\\\n"):
        raise Refused(f"{what} {_shown(value)} holds a quote or backslash (torch quotes it into Python code)")


def expression(value: str) -> None:
    try:
        pt2_expr.parse(value)
    except pt2_expr.ExprError as exc:
        raise Refused(f"symbolic shape expression {_shown(value)} is not one bridgec reads ({exc})") from None


def json_text(value: str, what: str) -> None:
    """Metadata torch decodes with ``json.loads``: plain JSON whose strings are text."""
    try:
        data = json.loads(value)
    except (ValueError, RecursionError):
        raise Refused(f"{what} {_shown(value)} is not JSON") from None

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
        raise Refused(f"operator {_shown(value)} {why}")


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


# --- guards and pytree specs ---------------------------------------------------------------------------

# what torch's guard printers (torch.utils._sympy.printers, ShapeGuardPythonPrinter) call
_GUARD_CALLS = frozenset({"max", "min", "abs", "round", "int", "float", "IsNonOverlappingAndDenseIndicator"})
_GUARD_MODULE_CALLS = {
    "math": frozenset(
        {"floor", "ceil", "trunc", "sqrt", "isnan", "isinf", "cos", "cosh", "acos", "sin", "sinh", "asin",
         "tan", "tanh", "atan", "log2", "exp"}
    ),
    "torch": frozenset({"sym_max", "sym_min", "sym_float", "sym_int", "sym_not", "sym_ite", "_sym_sqrt"}),
}  # fmt: skip
_GUARD_OPS = (
    ast.Add, ast.Sub, ast.Mult, ast.FloorDiv, ast.Mod, ast.Div, ast.Pow, ast.BitAnd, ast.BitOr,
    ast.BitXor, ast.LShift, ast.Eq, ast.NotEq, ast.Lt, ast.LtE, ast.Gt, ast.GtE, ast.And, ast.Or,
    ast.Not, ast.USub, ast.UAdd,
)  # fmt: skip
MAX_GUARD = 10_000


def guard(value: str) -> None:
    """One line of ``guards_code``: torch pastes it into a function it executes when the program
    becomes a module, so it must be a size check — ``L['x'].size()[0] <= 64`` — and nothing else."""
    what = f"guard {_shown(value)}"
    if len(value) > MAX_GUARD:
        raise Refused(f"{what} is longer than {MAX_GUARD:,} characters")
    # quotes, backslashes and comments could end the string torch embeds the guard in
    if any(c in value for c in '"\\#\n\r') or _CONTROL.search(value):
        raise Refused(f"{what} holds a character no size guard has")
    try:
        tree = ast.parse(value, mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        raise Refused(f"{what} is not a Python expression") from None
    try:
        _guard_node(tree.body, 0)
    except Refused as exc:
        raise Refused(f"{what} is not a size guard bridgec runs ({exc})") from None


def _guard_node(node: ast.AST, depth: int) -> None:
    if depth > 50:
        raise Refused("nested more than 50 deep")
    child = depth + 1
    if isinstance(node, ast.Constant):
        if isinstance(node.value, (bool, float)):
            return
        if isinstance(node.value, int) and abs(node.value) < 1 << 64:
            return
        raise Refused(f"constant {_shown(node.value)}")
    if isinstance(node, ast.BinOp) and isinstance(node.op, _GUARD_OPS):
        if isinstance(node.op, (ast.Pow, ast.LShift)):
            exponent = node.right
            if not (
                isinstance(exponent, ast.Constant)
                and type(exponent.value) is int
                and abs(exponent.value) <= 64
            ):
                raise Refused("a power or shift by something other than an integer up to 64")
            if any(
                isinstance(n, ast.BinOp) and isinstance(n.op, (ast.Pow, ast.LShift))
                for n in ast.walk(node.left)
            ):
                raise Refused("a power of a power")
        _guard_node(node.left, child)
        _guard_node(node.right, child)
        return
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, _GUARD_OPS):
        _guard_node(node.operand, child)
        return
    if isinstance(node, ast.BoolOp) and isinstance(node.op, _GUARD_OPS):
        for value in node.values:
            _guard_node(value, child)
        return
    if isinstance(node, ast.Compare) and all(isinstance(op, _GUARD_OPS) for op in node.ops):
        for value in (node.left, *node.comparators):
            _guard_node(value, child)
        return
    if isinstance(node, ast.IfExp):
        for value in (node.test, node.body, node.orelse):
            _guard_node(value, child)
        return
    if isinstance(node, ast.Subscript):
        index = node.slice
        if not (isinstance(index, ast.Constant) and type(index.value) is int and index.value >= 0):
            raise Refused("an index that is not a non-negative integer")
        if _is_input(node.value, child):
            return
        if isinstance(node.value, ast.Call) and _is_method_call(node.value, ("size", "stride"), child):
            return
        raise Refused("an index into something other than an input or its sizes")
    if isinstance(node, ast.Call):
        if node.keywords:
            raise Refused("a call with keywords")
        if _is_method_call(node, ("storage_offset", "dim", "numel"), child):
            return
        func = node.func
        named = isinstance(func, ast.Name) and func.id in _GUARD_CALLS
        qualified = (
            isinstance(func, ast.Attribute)
            and isinstance(func.value, ast.Name)
            and func.attr in _GUARD_MODULE_CALLS.get(func.value.id, ())
        )
        if not (named or qualified):
            raise Refused(f"a call of {_shown(ast.unparse(func), 40)}")
        for arg in node.args:
            if isinstance(arg, ast.Starred):
                raise Refused("a starred argument")
            _guard_node(arg, child)
        return
    if (
        isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name)
        and node.value.id == "math"
        and node.attr in ("inf", "nan")
    ):
        return
    if isinstance(node, ast.Name) and node.id in ("inf", "True", "False"):
        return
    raise Refused(f"{type(node).__name__} {_shown(ast.unparse(node), 40)}")


def _is_method_call(node: ast.Call, methods: tuple[str, ...], depth: int) -> bool:
    func = node.func
    return (
        isinstance(func, ast.Attribute)
        and func.attr in methods
        and not node.args
        and not node.keywords
        and _is_input(func.value, depth)
    )


def _is_input(node: ast.AST, depth: int) -> bool:
    """``L['x']``, ``L['args'][0]``, ``L['x'].field``: the path of an input as torch prints it."""
    while depth < 60:
        depth += 1
        if isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant):
            key = node.slice.value
            if isinstance(node.value, ast.Name):
                return node.value.id == "L" and isinstance(key, str) and bool(_IDENT.fullmatch(key))
            if not ((type(key) is int and key >= 0) or (isinstance(key, str) and _IDENT.fullmatch(key))):
                return False
            node = node.value
        elif isinstance(node, ast.Attribute) and _IDENT.fullmatch(node.attr):
            node = node.value
        else:
            return False
    return False


# pytree types whose contexts are not read by plain ``json.loads``: defaultdict's imports a module
# and takes an attribute of it by name.
_TREESPEC_DENIED = frozenset({"collections.defaultdict", "NO_SERIALIZED_TYPE_NAME_FOUND"})


def treespec(value: str) -> None:
    """A module-call spec (``in_spec``/``out_spec``), which torch reads with ``treespec_loads``: its
    JSON contexts may hold ``{"__enum__": ..., "fqn": "module:Class"}``, which imports the module."""
    from torch.utils import _pytree as pytree

    try:
        data = json.loads(value)
    except (ValueError, RecursionError):
        raise Refused(f"pytree spec {_shown(value)} is not JSON") from None
    if not (isinstance(data, list) and len(data) == 2 and data[0] == 1):
        raise Refused(f"pytree spec {_shown(value)} is not a protocol-1 spec")

    def node(spec: Any, depth: int) -> None:
        if depth > 64:
            raise Refused("a pytree spec nested more than 64 deep")
        if not (isinstance(spec, dict) and set(spec) == {"type", "context", "children_spec"}):
            raise Refused(f"pytree spec node {_shown(spec)} is not a type, a context and children")
        kind, context, children = spec["type"], spec["context"], spec["children_spec"]
        if not isinstance(children, list):
            raise Refused("pytree spec children that are not a list")
        if kind is None:
            if context is not None or children:
                raise Refused("a pytree leaf with a context or children")
            return
        if not isinstance(kind, str) or kind in _TREESPEC_DENIED:
            raise Refused(f"pytree type {_shown(kind)} is not one bridgec reads")
        python_type = pytree.SERIALIZED_TYPE_TO_PYTHON_TYPE.get(kind)
        if python_type is None:
            raise Refused(f"pytree type {_shown(kind)} is not registered in this process")
        if not isinstance(context, str):
            raise Refused(f"pytree context {_shown(context)} is not text")
        if pytree.SUPPORTED_SERIALIZED_TYPES[python_type].from_dumpable_context is None:
            json_text(context, "pytree context")
            if "__enum__" in context:
                raise Refused("a pytree context naming an enum class (torch would import its module)")
        else:
            text(context, "pytree context")  # a namedtuple's registered name, looked up, not imported
        for child in children:
            node(child, depth + 1)

    node(data[1], 0)


# --- the schema walk -----------------------------------------------------------------------------------

_METADATA_KEYS = frozenset(
    {"stack_trace", "nn_module_stack", "source_fn_stack", "torch_fn", "custom", "from_node"}
)


def _metadata(key: str, value: str) -> None:
    if key not in _METADATA_KEYS:
        raise Refused(f"node metadata {_shown(key)} is not one torch writes")
    text(value, key)
    if key in ("custom", "from_node"):
        json_text(value, key)
    elif key == "source_fn_stack":
        # "name,target;...": torch resolves each target by attribute lookups on torch and operator
        for item in value.split(";"):
            parts = item.split(",")
            if len(parts) != 2 or not _DOTTED.fullmatch(parts[1]) or not _IDENT.fullmatch(parts[0]):
                raise Refused(f"source_fn_stack entry {_shown(item)} is not a name and a dotted target")


def _graph_module_metadata(key: str, value: str) -> None:
    if key != "custom":
        raise Refused(f"graph metadata {_shown(key)} is not one torch writes")
    json_text(value, key)


def _verifier(value: str) -> None:
    if not re.fullmatch(r"[A-Z_]{0,32}", value):
        raise Refused(f"verifier {_shown(value)} is not a dialect name")


def _refuse_custom_object(value: str) -> None:
    raise Refused(
        f"a script/opaque object ({_shown(value)}): objects torch rebuilds from the file run code, and the "
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
        raise Refused(f"range constraint {_shown(value)}: {exc}") from None


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
    ("ModuleCallSignature", "out_spec"): treespec,
    ("ModuleCallSignature", "forward_arg_names"): identifier,
    ("ModuleCallEntry", "fqn"): _module_fqn,
    ("NamedTupleDef", "field_names"): identifier,
    ("GraphModule", "metadata.key"): lambda v: None,  # checked with its value
    ("GraphModule", "metadata"): _graph_module_metadata,
    ("GraphModule", "treespec_namedtuple_fields.key"): lambda v: (
        None if _DOTTED.fullmatch(v) else _bad_type(v)
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
    raise Refused(f"device {_shown(value)} is not a device type")


def _bad_type(value: str) -> None:
    raise Refused(f"named tuple type {_shown(value)} is not a dotted name")


class Walker:
    """Checks JSON against a schema dataclass, every field by its declared type, every string by
    :data:`RULES`; ``hooks`` run on each object of a class after its fields."""

    def __init__(self, hooks: dict[str, Callable[[dict], None]] | None = None) -> None:
        from torch._export.serde import schema
        from torch._export.serde.union import _Union

        self.schema, self.union = schema, _Union
        self.hooks = hooks or {}
        self.hints: dict[type, dict[str, Any]] = {}
        self.depth = 0

    def check(self, data: Any, cls: type) -> None:
        try:
            self.value(data, cls, ("", ""))
        except RecursionError:
            raise Refused("the program is nested too deeply") from None

    def fields(self, cls: type) -> dict[str, Any]:
        if cls not in self.hints:
            self.hints[cls] = typing.get_type_hints(cls, globalns=vars(self.schema))
        return self.hints[cls]

    def value(self, data: Any, hint: Any, where: tuple[str, str], key: str | None = None) -> None:
        origin = typing.get_origin(hint)
        if origin is typing.Annotated:
            return self.value(data, typing.get_args(hint)[0], where, key)
        if isinstance(hint, (str, typing.ForwardRef)):
            name = hint if isinstance(hint, str) else hint.__forward_arg__
            return self.value(data, getattr(self.schema, name), where, key)
        if origin in (typing.Union, types.UnionType):
            options = [a for a in typing.get_args(hint) if a is not type(None)]
            if data is None:
                return None
            return self.value(data, options[0], where, key)
        owner, field = where
        if hint is str:
            if not isinstance(data, str):
                raise Refused(f"{owner}.{field}: {_shown(data)} is not a string")
            rule = RULES.get(where)
            if rule is None:
                raise Refused(f"{owner}.{field}: a string field bridgec has no rule for")
            return rule(key, data) if where in _KEYED_VALUES else rule(data)
        if hint is bool:
            if not isinstance(data, bool):
                raise Refused(f"{owner}.{field}: {_shown(data)} is not true/false")
            return None
        if hint is int:
            if type(data) is not int:
                raise Refused(f"{owner}.{field}: {_shown(data)} is not an integer")
            return None
        if hint is float:
            if type(data) not in (int, float) and data not in ("Infinity", "-Infinity", "NaN"):
                raise Refused(f"{owner}.{field}: {_shown(data)} is not a number")
            return None
        if isinstance(hint, type) and issubclass(hint, IntEnum):
            if type(data) is not int or data not in {m.value for m in hint}:
                raise Refused(f"{owner}.{field}: {_shown(data)} is not a {hint.__name__}")
            return None
        if origin is list:
            if not isinstance(data, list):
                raise Refused(f"{owner}.{field}: not a list")
            (item,) = typing.get_args(hint)
            for element in data:
                self.value(element, item, where)
            return None
        if origin is dict:
            if not isinstance(data, dict):
                raise Refused(f"{owner}.{field}: not an object")
            _, item = typing.get_args(hint)
            key_rule = RULES.get((owner, f"{field}.key"))
            if key_rule is None and data:
                raise Refused(f"{owner}.{field}: keys bridgec has no rule for")
            for k, v in data.items():
                key_rule(k)
                self.value(v, item, where, key=k)
            return None
        if dataclasses.is_dataclass(hint):
            return self.object(data, hint)
        raise Refused(f"{owner}.{field}: a {hint!r} field bridgec does not know")

    def object(self, data: Any, cls: type) -> None:
        name = cls.__name__
        if not isinstance(data, dict):
            raise Refused(f"{name}: {_shown(data)} is not an object")
        fields = self.fields(cls)
        unknown = [k for k in data if k not in fields]
        if unknown:
            raise Refused(f"{name}: field {_shown(unknown[0])} is not in torch's schema")
        if issubclass(cls, self.union) and len(data) != 1:
            raise Refused(f"{name}: {len(data)} alternatives set, not one")
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


def check_program(data: Any) -> None:
    """Check the parsed ``models/*.json`` of a ``.pt2`` archive; raises :class:`Refused`."""
    from torch._export.serde import schema

    Walker({"Graph": _graph_hook, "Node": _node_hook}).check(data, schema.ExportedProgram)


def check_payload_config(data: Any) -> Any:
    """Check a ``*_weights_config.json`` / ``*_constants_config.json``; returns it as torch's
    dataclass (the archive checks then hold its paths and sizes against the members)."""
    from torch._export.serde import schema
    from torch._export.serde.serialize import _dict_to_dataclass

    Walker().check(data, schema.PayloadConfig)
    return _dict_to_dataclass(schema.PayloadConfig, data)


__all__ = ["Refused", "check_payload_config", "check_program", "guard", "target", "treespec"]
