"""Symbolic shape expressions of a ``.pt2`` program, read with a small grammar instead of sympify.

torch.export writes each symbolic size as ``sympy.srepr`` text (``Symbol('s77', positive=True,
integer=True)``, ``FloorDiv(Symbol('s0', ...), Integer(2))``) and torch's deserializer turns it back
into an expression with ``sympy.sympify``, which evaluates the text as Python: a crafted archive
runs anything. This parser reads the same text (and the plain form older archives hold: ``s0``,
``2*s0 + 1``, ``Max(1, s0)``) and builds the expression by calling a fixed set of sympy and torch
functions itself. Anything else is refused with the reason.

Grammar (Python's precedence)::

    comparison := or_expr [('<' | '<=' | '>' | '>=') or_expr]
    or_expr    := and_expr ('|' and_expr)*
    and_expr   := arith ('&' arith)*
    arith      := term (('+' | '-') term)*
    term       := unary (('*' | '/' | '//' | '%') unary)*
    unary      := ('-' | '+' | '~') unary | power
    power      := primary ['**' unary]
    primary    := INT | FLOAT | NAME | NAME '(' [arg (',' arg)*] ')' | '(' comparison ')'
    arg        := comparison | 'string' | NAME '=' (True | False | INT)
"""

from __future__ import annotations

import keyword
import operator
import re
from collections.abc import Callable, Mapping
from typing import Any

MAX_LENGTH = 20_000  # characters; torch writes a few hundred for the longest sizes
MAX_DEPTH = 64  # nested calls and parentheses
MAX_ARGS = 256
MAX_BITS = 8192  # of any integer the expression computes while it is built
MAX_EXPONENT = 64  # |n| of a power or shift with a number on the right
MAX_DEGREE = 4096  # of a polynomial in the size symbols (s0**4096 still evaluates at once)
MAX_PRECISION = 256  # bits of a Float
MAX_UNBACKED_INDEX = 100_000  # u<N>: torch's deserializer counts up to the highest N one by one

# sympy's own classes and the torch.utils._sympy.functions torch's deserializer offers to sympify
SYMPY_FUNCTIONS = (
    "Add", "Mul", "Pow", "Max", "Min", "Abs", "floor", "ceiling",
    "Eq", "Ne", "Lt", "Le", "Gt", "Ge",
    "Equality", "Unequality", "StrictLessThan", "LessThan", "StrictGreaterThan", "GreaterThan",
    "And", "Or", "Not",
)  # fmt: skip
TORCH_FUNCTIONS = (
    "FloorDiv", "ModularIndexing", "Where", "PythonMod", "Mod", "CleanDiv", "CeilToInt",
    "FloorToInt", "CeilDiv", "LShift", "RShift", "PowByNatural", "FloatPow", "FloatTrueDiv",
    "IntTrueDiv", "IsNonOverlappingAndDenseIndicator", "TruncToFloat", "TruncToInt", "RoundToInt",
    "RoundDecimal", "ToFloat", "Identity",
)  # fmt: skip
CONSTRUCTORS = ("Symbol", "Integer", "Rational", "Float")
_POWERS = ("Pow", "PowByNatural", "FloatPow")
_SHIFTS = ("LShift", "RShift")

_TOKEN = re.compile(
    r"""\s*(?:
      (?P<float>\d+\.\d*(?:[eE][-+]?\d+)?|\d+[eE][-+]?\d+)
    | (?P<int>\d+)
    | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
    | (?P<string>'[^'\\]*')
    | (?P<op>\*\*|//|<=|>=|[-+*/%()<>,=&|~])
    )""",
    re.X,
)
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
_FLOAT_TEXT = re.compile(r"[-+]?(?:\d+\.?\d*(?:[eE][-+]?\d{1,3})?|inf|nan)")


class ExprError(ValueError):
    """Text that is not a shape expression bridgec reads; the message says why."""


def _tables() -> tuple[dict[str, Callable], dict[str, Any]]:
    import sympy
    from torch.utils._sympy import functions as torch_functions
    from torch.utils._sympy.numbers import int_oo

    functions = {name: getattr(sympy, name) for name in SYMPY_FUNCTIONS}
    functions.update({name: getattr(torch_functions, name) for name in TORCH_FUNCTIONS})
    constants = {
        "true": sympy.true,
        "false": sympy.false,
        "True": sympy.true,
        "False": sympy.false,
        "oo": sympy.oo,
        "int_oo": int_oo,
        "nan": sympy.nan,
        "zoo": sympy.zoo,
    }
    return functions, constants


def _assumptions() -> frozenset[str]:
    from sympy.core.assumptions import _assume_defined

    return frozenset(_assume_defined)


def check_symbol_name(name: str) -> None:
    """A size symbol's name: an identifier; an unbacked one (``u<N>``) with a modest N, since the
    deserializer counts up to it."""
    if not _IDENTIFIER.fullmatch(name) or keyword.iskeyword(name):
        raise ExprError(f"symbol name {name!r} is not an identifier of at most 64 characters")
    found = re.fullmatch(r"(u|zuf)(\d+)", name)
    if found and int(found[2]) > MAX_UNBACKED_INDEX:
        raise ExprError(f"unbacked symbol {name} is numbered beyond {MAX_UNBACKED_INDEX:,}")


def _bits(value: Any) -> int:
    import sympy

    if isinstance(value, sympy.Integer):
        return int(value).bit_length()
    if isinstance(value, sympy.Rational):
        return max(int(value.p).bit_length(), int(value.q).bit_length())
    return 0


def _degree(expr: Any) -> int:
    """An upper bound of the polynomial degree of ``expr`` in its symbols."""
    import sympy

    if isinstance(expr, sympy.Symbol):
        return 1
    if not isinstance(expr, sympy.Basic) or not expr.args:
        return 0
    name = type(expr).__name__
    if name in _POWERS and len(expr.args) == 2 and expr.args[1].is_Number:
        return _degree(expr.args[0]) * max(1, abs(int(expr.args[1].round())))
    degrees = [_degree(arg) for arg in expr.args]
    return sum(degrees) if name in ("Mul", "IsNonOverlappingAndDenseIndicator") else max(degrees)


class _Parser:
    def __init__(self, text: str, symbols: Mapping[str, Any]) -> None:
        import sympy

        self.sympy = sympy
        self.functions, self.constants = _tables()
        self.symbols = symbols
        self.tokens: list[tuple[str, str]] = []
        position = 0
        while position < len(text):
            found = _TOKEN.match(text, position)
            if not found or found.end() == position:
                if text[position:].strip() == "":
                    break
                raise ExprError(f"unexpected character {text[position]!r} at {position}")
            kind = found.lastgroup
            self.tokens.append((kind, found[kind]))
            position = found.end()
        self.index = 0
        self.depth = 0

    # --- tokens ---

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.index] if self.index < len(self.tokens) else None

    def take(self, value: str | None = None) -> tuple[str, str]:
        token = self.peek()
        if token is None:
            raise ExprError("the expression ends too early")
        if value is not None and token[1] != value:
            raise ExprError(f"expected {value!r}, found {token[1]!r}")
        self.index += 1
        return token

    def at(self, *values: str) -> bool:
        token = self.peek()
        return token is not None and token[0] == "op" and token[1] in values

    # --- grammar ---

    def parse(self) -> Any:
        value = self.comparison()
        if self.peek() is not None:
            raise ExprError(f"unexpected {self.peek()[1]!r} after the expression")
        return self.defined(self.expression(value))

    def comparison(self) -> Any:
        left = self.or_expr()
        if self.at("<", "<=", ">", ">="):
            op = self.take()[1]
            right = self.or_expr()
            if self.at("<", "<=", ">", ">="):
                raise ExprError("chained comparisons are not shape expressions")
            compare = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}[op]
            return self.apply(compare, left, right)
        return left

    def or_expr(self) -> Any:
        value = self.and_expr()
        while self.at("|"):
            self.take()
            value = self.apply(operator.or_, value, self.and_expr())
        return value

    def and_expr(self) -> Any:
        value = self.arith()
        while self.at("&"):
            self.take()
            value = self.apply(operator.and_, value, self.arith())
        return value

    def arith(self) -> Any:
        value = self.term()
        while self.at("+", "-"):
            op = operator.add if self.take()[1] == "+" else operator.sub
            value = self.apply(op, value, self.term())
        return value

    def term(self) -> Any:
        value = self.unary()
        ops = {"*": operator.mul, "/": operator.truediv, "//": operator.floordiv, "%": operator.mod}
        while self.at(*ops):
            op = ops[self.take()[1]]
            value = self.apply(op, value, self.unary())
        return value

    def unary(self) -> Any:
        if self.at("-", "+", "~"):
            op = {"-": operator.neg, "+": operator.pos, "~": operator.invert}[self.take()[1]]
            with self.nested():
                return self.apply(op, self.unary())
        return self.power()

    def power(self) -> Any:
        base = self.primary()
        if self.at("**"):
            self.take()
            with self.nested():
                exponent = self.unary()
            return self.call("Pow", [base, exponent], {})
        return base

    def primary(self) -> Any:
        kind, text = self.take()
        if kind == "int":
            return self.integer(text)
        if kind == "float":
            return self.sympy.Float(text)
        if kind == "op" and text == "(":
            with self.nested():
                value = self.comparison()
            self.take(")")
            return value
        if kind == "name":
            if self.at("("):
                return self.call_from_tokens(text)
            return self.name(text)
        raise ExprError(f"unexpected {text!r}")

    def call_from_tokens(self, name: str) -> Any:
        if name not in self.functions and name not in CONSTRUCTORS:
            raise ExprError(f"{name}(...) is not a function of shape expressions")
        self.take("(")
        args: list[Any] = []
        keywords: dict[str, Any] = {}
        with self.nested():
            while not self.at(")"):
                if len(args) + len(keywords) >= MAX_ARGS:
                    raise ExprError(f"{name}(...) has more than {MAX_ARGS} arguments")
                token = self.peek()
                following = self.tokens[self.index + 1] if self.index + 1 < len(self.tokens) else None
                if token and token[0] == "string":
                    args.append(self.take()[1][1:-1])
                elif token and token[0] == "name" and following == ("op", "="):
                    key = self.take()[1]
                    self.take("=")
                    kind, value = self.take()
                    if kind == "name" and value in ("True", "False"):
                        keywords[key] = value == "True"
                    elif kind == "int":
                        keywords[key] = int(self.integer(value))
                    else:
                        raise ExprError(f"{name}(...): keyword {key} takes True, False or an integer")
                else:
                    if keywords:
                        raise ExprError(f"{name}(...): a positional argument after a keyword")
                    args.append(self.comparison())
                if not self.at(")"):
                    self.take(",")
        self.take(")")
        return self.call(name, args, keywords)

    # --- values ---

    def nested(self):
        parser = self

        class Depth:
            def __enter__(self) -> None:
                parser.depth += 1
                if parser.depth > MAX_DEPTH:
                    raise ExprError(f"nested more than {MAX_DEPTH} deep")

            def __exit__(self, *exc: object) -> None:
                parser.depth -= 1

        return Depth()

    def integer(self, text: str) -> Any:
        if len(text) > 40:
            raise ExprError(f"the integer {text[:20]}... has more than 40 digits")
        return self.sympy.Integer(int(text))

    def name(self, name: str) -> Any:
        known = self.symbols.get(name)
        if isinstance(known, self.sympy.Basic):
            return known
        if name in self.constants:
            return self.constants[name]
        if name in self.functions or name in CONSTRUCTORS:
            raise ExprError(f"{name} is a function, used as a value")
        check_symbol_name(name)
        return self.sympy.Symbol(name)

    def expression(self, value: Any) -> Any:
        if not isinstance(value, self.sympy.Basic):
            raise ExprError(f"{value!r} is not an expression")
        return value

    def apply(self, op: Callable, *operands: Any) -> Any:
        for operand in operands:
            self.expression(operand)
        return self.checked(lambda: op(*operands))

    def checked(self, build: Callable[[], Any]) -> Any:
        try:
            value = build()
        except ExprError:
            raise
        except Exception as exc:  # noqa: BLE001 - sympy and torch's functions fail in many ways
            raise ExprError(f"{type(exc).__name__}: {str(exc)[:120]}") from None
        if _bits(value) > MAX_BITS:
            raise ExprError(f"a number of more than {MAX_BITS} bits")
        return self.defined(value)

    def defined(self, value: Any) -> Any:
        if isinstance(value, self.sympy.Basic) and value.has(self.sympy.zoo, self.sympy.nan):
            # torch's shape checks fail on it later, with warnings on stderr
            raise ExprError("an undefined value (zoo or nan, e.g. from a division by zero)")
        return value

    def call(self, name: str, args: list[Any], keywords: dict[str, Any]) -> Any:
        sympy = self.sympy
        if name == "Symbol":
            if len(args) != 1 or not isinstance(args[0], str):
                raise ExprError("Symbol(...) takes one quoted name")
            check_symbol_name(args[0])
            unknown = set(keywords) - _assumptions()
            if unknown or not all(isinstance(v, bool) for v in keywords.values()):
                raise ExprError(f"Symbol(...) with assumptions other than True/False ones: {sorted(unknown)}")
            known = self.symbols.get(args[0])
            if (
                isinstance(known, sympy.Symbol)
                and known.assumptions0 == sympy.Symbol(args[0], **keywords).assumptions0
            ):
                return known
            return sympy.Symbol(args[0], **keywords)
        if name == "Float":
            precision = keywords.pop("precision", 53)
            if keywords or len(args) != 1 or not 1 <= precision <= MAX_PRECISION:
                raise ExprError(f"Float(...) takes a number and a precision up to {MAX_PRECISION}")
            value = args[0]
            if isinstance(value, str) and not _FLOAT_TEXT.fullmatch(value):
                raise ExprError(f"Float({value!r}) is not a number")
            return self.checked(lambda: sympy.Float(value, precision=precision))
        if keywords:
            raise ExprError(f"{name}(...) takes no keywords")
        for arg in args:
            self.expression(arg)
        if name == "Integer":
            if len(args) != 1 or not args[0].is_Integer:
                raise ExprError("Integer(...) takes one integer")
            return args[0]
        if name == "Rational":
            if len(args) != 2 or not all(a.is_Integer for a in args):
                raise ExprError("Rational(...) takes two integers")
            return self.checked(lambda: sympy.Rational(int(args[0]), int(args[1])))
        if name in _POWERS or name in _SHIFTS:
            if len(args) != 2:
                raise ExprError(f"{name}(...) takes two arguments")
            base, exponent = args
            if not exponent.is_Number or abs(exponent) > MAX_EXPONENT:
                raise ExprError(
                    f"{name}(...) needs a number from -{MAX_EXPONENT} to {MAX_EXPONENT} on the right"
                )
            if name in _POWERS and _degree(base) * max(1, abs(int(exponent.round()))) > MAX_DEGREE:
                raise ExprError(f"{name}(...) makes a polynomial of degree above {MAX_DEGREE}")
        function = self.functions[name]
        return self.checked(lambda: function(*args))


def parse(text: str, symbols: Mapping[str, Any] | None = None) -> Any:
    """The sympy expression ``text`` stands for; ``symbols`` maps names to expressions already made
    (what torch's deserializer passes sympify as ``locals``). Raises :class:`ExprError`."""
    if not isinstance(text, str):
        raise ExprError(f"a {type(text).__name__}, not expression text")
    if len(text) > MAX_LENGTH:
        raise ExprError(f"longer than {MAX_LENGTH:,} characters")
    return _Parser(text, symbols or {}).parse()


def sympify(value: Any, *args: Any, locals: Mapping[str, Any] | None = None, **kwargs: Any) -> Any:  # noqa: A002
    """A stand-in for ``sympy.sympify`` in torch's deserializer: text goes to :func:`parse`; sympy
    objects and plain numbers (which sympify never evaluates) go to sympy."""
    import sympy

    if isinstance(value, str):
        return parse(value, locals)
    if isinstance(value, sympy.Basic) or type(value) in (int, float, bool):
        return sympy.sympify(value)
    raise ExprError(f"a {type(value).__name__}, not a shape expression")


__all__ = ["ExprError", "check_symbol_name", "parse", "sympify"]
