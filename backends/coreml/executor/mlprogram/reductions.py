"""reduce_* ops, as the MIL op reference describes them (iOS15 reduction.py): "axes ... (Optional,
default="None", reduce on all axes.)", "keep_dims ... If False, the rank is reduced by 1 for each entry
in axes, otherwise retain reduced axes with length 1"; reduce_log_sum is "the natural logarithm of the
sum", reduce_log_sum_exp "the natural logarithm of the sum of the exponentials", the norms sum |x| and
sqrt(sum x^2). argmax/argmin's iOS17 ``output_dtype`` is the declared type.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from bridgec.backends.coreml.executor.mlprogram._op import Op, OpFn, accumulate_dtype


def _axes(op: Op, rank: int) -> tuple[int, ...]:
    if op.get("axes") is None:
        return tuple(range(rank))
    axes = op.ints("axes")
    for a in axes:
        if not -rank <= a < max(rank, 1):
            raise op.error(f"axis {a} is out of range for rank {rank}")
    return tuple(sorted({a % max(rank, 1) for a in axes}))


def _reduce(fn: Callable[[np.ndarray, tuple[int, ...], bool], np.ndarray], widen: bool = True) -> OpFn:
    def impl(op: Op) -> np.ndarray:
        x = op["x"]
        if widen and x.dtype.kind == "f":
            # Sums are accumulated wider than fp16, as on device; max/min are exact anyway.
            x = x.astype(accumulate_dtype(x))
        return fn(x, _axes(op, x.ndim), op.bool("keep_dims", False))

    return impl


def _arg(fn: Callable[..., np.ndarray]) -> OpFn:
    """reduce_argmax / reduce_argmin: the index of the maximum (minimum) along ``axis`` (default -1).
    "In case of ties, the identity of the return value is not guaranteed": the executor takes the
    first, as numpy and ONNX's select_last_index=0 do (the emitters refuse select_last_index=1);
    test_reductions.py pins that here and the ArgMax property test against onnxruntime."""

    def impl(op: Op) -> np.ndarray:
        x = op["x"]
        axis = op.axis("axis", x.ndim, -1)
        return fn(x, axis=axis, keepdims=op.bool("keep_dims", False))

    return impl


def _log_sum_exp(x: np.ndarray, axes: tuple[int, ...], keep: bool) -> np.ndarray:
    m = np.max(x, axis=axes, keepdims=True)
    y = m + np.log(np.sum(np.exp(x - m), axis=axes, keepdims=True))
    return y if keep else np.squeeze(y, axis=axes)


OPS: dict[str, OpFn] = {
    "reduce_sum": _reduce(lambda x, a, k: np.sum(x, axis=a, keepdims=k)),
    "reduce_mean": _reduce(lambda x, a, k: np.mean(x, axis=a, keepdims=k)),
    "reduce_prod": _reduce(lambda x, a, k: np.prod(x, axis=a, keepdims=k)),
    "reduce_max": _reduce(lambda x, a, k: np.max(x, axis=a, keepdims=k), widen=False),
    "reduce_min": _reduce(lambda x, a, k: np.min(x, axis=a, keepdims=k), widen=False),
    "reduce_l1_norm": _reduce(lambda x, a, k: np.sum(np.abs(x), axis=a, keepdims=k)),
    "reduce_l2_norm": _reduce(lambda x, a, k: np.sqrt(np.sum(x * x, axis=a, keepdims=k))),
    "reduce_sum_square": _reduce(lambda x, a, k: np.sum(x * x, axis=a, keepdims=k)),
    "reduce_log_sum": _reduce(lambda x, a, k: np.log(np.sum(x, axis=a, keepdims=k))),
    "reduce_log_sum_exp": _reduce(_log_sum_exp),
    "reduce_argmax": _arg(np.argmax),
    "reduce_argmin": _arg(np.argmin),
}
