"""Legalise Max and Min of more than two inputs into a left fold of two-input ones, where the target's
max/min takes two. It runs in every pipeline, ``-O none`` included: the fold stands for what the
emitters used to write by themselves, so the report names it. Max and min are exact, in any order.

ONNX's Max/Min are variadic and a pattern has a fixed arity, so each op has one rule per arity
from 3 to ``MAX_INPUTS``, all under one name.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable

from bridgec.passes._infra import register
from bridgec.passes._pattern import Rule, RuleSet

MAX_INPUTS = 16


def _signature(count: int) -> inspect.Signature:
    names = ["op", *(f"x{i}" for i in range(count))]
    return inspect.Signature([inspect.Parameter(n, inspect.Parameter.POSITIONAL_OR_KEYWORD) for n in names])


def _variadic(op_type: str, count: int) -> tuple[Callable, Callable]:
    """(pattern, replacement) for ``op_type`` of ``count`` inputs; the signature names the inputs
    x0..x{count-1}, which is how a pattern binds them."""

    def pattern(op, *xs):
        return getattr(op, op_type)(*xs)

    def fold(op, **xs):
        values = [xs[f"x{i}"] for i in range(count)]
        result = values[0]
        for value in values[1:]:
            result = getattr(op, op_type)(result, value)
        return result

    pattern.__signature__ = fold.__signature__ = _signature(count)
    return pattern, fold


def _rules(op_type: str, name: str) -> tuple[Rule, ...]:
    short = op_type.lower()
    identity = f"{short}(a, b, c, ...) -> {short}({short}({short}(a, b), c), ...)"
    return tuple(
        Rule(name, *_variadic(op_type, n), None, identity, legalize=True) for n in range(3, MAX_INPUTS + 1)
    )


@register
class LegalizeMinMax(RuleSet):
    """Max/Min of more than two inputs, where the target's takes two -> a fold of two-input ones."""

    id = "lower::minmax"
    rules = (*_rules("Max", "max_to_pairs"), *_rules("Min", "min_to_pairs"))
