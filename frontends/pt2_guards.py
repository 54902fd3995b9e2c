"""The ``guards_code`` lines of a ``.pt2`` program (see ``guard``), held to the part of Python syntax
torch's guard printers write: input sizes, integers, arithmetic, comparisons and a few calls."""

from __future__ import annotations

import ast

from bridgec.frontends.pt2_strings import CONTROL, IDENT, Refused, shown

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
    what = f"guard {shown(value)}"
    if len(value) > MAX_GUARD:
        raise Refused(f"{what} is longer than {MAX_GUARD:,} characters")
    # quotes, backslashes and comments could end the string torch embeds the guard in
    if any(c in value for c in '"\\#\n\r') or CONTROL.search(value):
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
        raise Refused(f"constant {shown(node.value)}")
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
            raise Refused(f"a call of {shown(ast.unparse(func), 40)}")
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
    raise Refused(f"{type(node).__name__} {shown(ast.unparse(node), 40)}")


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
                return node.value.id == "L" and isinstance(key, str) and bool(IDENT.fullmatch(key))
            if not ((type(key) is int and key >= 0) or (isinstance(key, str) and IDENT.fullmatch(key))):
                return False
            node = node.value
        elif isinstance(node, ast.Attribute) and IDENT.fullmatch(node.attr):
            node = node.value
        else:
            return False
    return False


__all__ = ["MAX_GUARD", "guard"]
