"""Lower Einsum to Transpose / ReduceSum / Reshape / MatMul where the target lacks it.

Two operands become one batched matrix product: every index is a batch index (in both operands
and the output), a contracted index (in both, not the output), or a free index of one operand.

    einsum("bhid,bhjd->bhij", q, k)  ->  matmul(q, transpose(k, [0, 1, 3, 2]))
    einsum("i,j->ij", u, v)          ->  matmul(reshape(u, [3, 1]), reshape(v, [1, 4]))
    einsum("...ij->...ji", x)        ->  transpose(x, [0, 1, 3, 2])

Indices summed within one operand (not in the other nor the output) are reduced first; an index
repeated within one operand (a diagonal) has no such form and stays.
"""

from __future__ import annotations

import math
import string
from dataclasses import dataclass

import numpy as np
import onnx_graphsurgeon as gs

from bridgec.core.words import plural
from bridgec.passes._infra import register
from bridgec.passes._pattern import Rule, RuleSet


@dataclass(frozen=True)
class Operand:
    labels: tuple[str, ...]
    shape: tuple[int | str | None, ...] | None


def _text(equation) -> str:
    return equation.decode() if isinstance(equation, bytes) else str(equation)


def _labels(term: str, rank: int | None, ellipsis_rank: int) -> list[str]:
    """The labels of one term; the k axes of an ellipsis get labels "0".."k-1" aligned right."""
    if "..." not in term:
        return list(term)
    head, tail = term.split("...")
    covered = (rank - len(head) - len(tail)) if rank is not None else ellipsis_rank
    if covered < 0:
        raise ValueError(f"term {term!r} has more indices than its operand's rank {rank}")
    return [*head, *(str(ellipsis_rank - covered + i) for i in range(covered)), *tail]


def parse(equation, ranks: list[int | None]) -> tuple[list[list[str]], list[str]]:
    """Each operand's labels and the output's, ellipses expanded; ValueError if unsupported."""
    text = _text(equation).replace(" ", "")
    lhs, arrow, rhs = text.partition("->")
    terms = lhs.split(",")
    if len(terms) != len(ranks):
        raise ValueError(f"equation {text!r} has {plural(terms, 'term')} for {plural(ranks, 'operand')}")
    widths = [
        (r - len(t.replace("...", ""))) if "..." in t and r is not None else 0
        for t, r in zip(terms, ranks, strict=True)
    ]
    if any("..." in t and r is None for t, r in zip(terms, ranks, strict=True)):
        raise ValueError("an ellipsis needs the operand's rank")
    ellipsis_rank = max(widths, default=0)
    operands = [_labels(t, r, ellipsis_rank) for t, r in zip(terms, ranks, strict=True)]
    for t, labels in zip(terms, operands, strict=True):
        if any(c not in string.ascii_letters for c in t.replace("...", "")):
            raise ValueError(f"term {t!r} is not letters and one optional ellipsis")
        if len(set(labels)) != len(labels):
            raise ValueError(f"term {t!r} repeats an index (a diagonal)")
    if arrow:
        output = _labels(rhs, None, ellipsis_rank)
    else:  # implicit form: the ellipsis, then the indices used once, in alphabetical order
        counts = [label for labels in operands for label in labels]
        letters = sorted(c for c in set(counts) if c.isalpha() and counts.count(c) == 1)
        output = [*map(str, range(ellipsis_rank)), *letters]
    every = {label for labels in operands for label in labels}
    if set(output) - every or len(set(output)) != len(output):
        raise ValueError(f"output {rhs!r} names an index no operand has, or one twice")
    return operands, output


def _sizes(tensor: gs.Tensor, labels: list[str]) -> dict[str, int]:
    shape = tensor.shape
    if shape is None or not all(isinstance(d, int) for d in shape):
        raise ValueError(f"{tensor.name} has no static shape, which the reshapes need")
    return dict(zip(labels, shape, strict=True))


def _transpose(op, x, labels: list[str], order: list[str]):
    if labels == order:
        return x
    return op.Transpose(x, perm=[labels.index(label) for label in order])


def _reduce(op, x, labels: list[str], keep: set[str]):
    """Sum out the labels not in ``keep``; returns the tensor and its remaining labels."""
    gone = [i for i, label in enumerate(labels) if label not in keep]
    if not gone:
        return x, labels
    if op.opset >= 13:
        x = op.ReduceSum(x, op.const(gone, np.int64), keepdims=0)
    else:
        x = op.ReduceSum(x, axes=gone, keepdims=0)
    return x, [label for label in labels if label in keep]


def _reshape(op, x, shape: list[int]):
    return op.Reshape(x, op.const(shape, np.int64))


def _plan_two(a: gs.Tensor, b: gs.Tensor, la: list[str], lb: list[str], out: list[str]):
    """The index groups of a two-operand einsum, and whether static shapes are needed."""
    la = [label for label in la if label in lb or label in out]
    lb = [label for label in lb if label in la or label in out]
    batch = [label for label in out if label in la and label in lb]
    contract = [label for label in la if label in lb and label not in out]
    free_a = [label for label in la if label not in lb]
    free_b = [label for label in lb if label not in la]
    reshaped = len(free_a) != 1 or len(free_b) != 1 or len(contract) != 1
    return batch, contract, free_a, free_b, reshaped


def einsum_one(op, a, equation):
    return op.Einsum(a, equation=equation)


def einsum_two(op, a, b, equation):
    return op.Einsum(a, b, equation=equation)


def _rank(tensor: gs.Tensor) -> int | None:
    return len(tensor.shape) if tensor.shape is not None else None


def supported_one(a, equation):
    try:
        parse(equation, [_rank(a)])
    except ValueError as exc:
        return str(exc)
    return None


def supported_two(a, b, equation):
    try:
        (la, lb), out = parse(equation, [_rank(a), _rank(b)])
        *_, reshaped = _plan_two(a, b, la, lb, out)
        if reshaped:
            _sizes(a, la), _sizes(b, lb)
    except ValueError as exc:
        return str(exc)
    return None


def one_operand(op, a, equation):
    (labels,), out = parse(equation, [_rank(a)])
    x, labels = _reduce(op, a, labels, set(out))
    return _transpose(op, x, labels, out)


def two_operands(op, a, b, equation):
    (la, lb), out = parse(equation, [_rank(a), _rank(b)])
    batch, contract, free_a, free_b, reshaped = _plan_two(a, b, la, lb, out)
    size_a = _sizes(a, la) if reshaped else {}
    size_b = _sizes(b, lb) if reshaped else {}
    x, la = _reduce(op, a, la, set(lb) | set(out))
    y, lb = _reduce(op, b, lb, set(la) | set(out))
    x = _transpose(op, x, la, batch + free_a + contract)
    y = _transpose(op, y, lb, batch + contract + free_b)
    if reshaped:

        def prod(sizes: dict[str, int], labels: list[str]) -> int:
            return math.prod(sizes[label] for label in labels)

        x = _reshape(op, x, [size_a[i] for i in batch] + [prod(size_a, free_a), prod(size_a, contract)])
        y = _reshape(op, y, [size_b[i] for i in batch] + [prod(size_b, contract), prod(size_b, free_b)])
    z = op.MatMul(x, y)
    labels = batch + free_a + free_b
    if reshaped:
        sizes = {**size_a, **size_b}
        batch_out = [max(size_a[i], size_b[i]) for i in batch]  # broadcast batch extents
        z = _reshape(op, z, batch_out + [sizes[i] for i in free_a + free_b])
    return _transpose(op, z, labels, out)


@register
class LowerEinsum(RuleSet):
    """Lower one- and two-operand Einsum to transposes, sums and one batched matmul."""

    id = "lower::einsum"
    # fmt: off
    rules = (
        Rule("einsum_to_transpose", einsum_one, one_operand, supported_one, "einsum('...ij->...ji', x) -> transpose(reduce_sum(x))", legalize=True),
        Rule("einsum_to_matmul", einsum_two, two_operands, supported_two, "einsum('bij,bjk->bik', a, b) -> transpose(matmul(transpose(a), transpose(b)))", legalize=True),
    )
    # fmt: on
