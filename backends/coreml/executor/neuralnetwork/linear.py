"""``innerProduct`` and ``batchedMatmul``."""

from __future__ import annotations

from typing import Any

import numpy as np

from bridgec.backends.coreml.executor.neuralnetwork._common import f32
from bridgec.backends.coreml.executor.weights import weight_array


def inner_product(layer: Any, inputs: list[np.ndarray]) -> list[np.ndarray]:
    p = layer.innerProduct
    x = f32(inputs[0])
    c_in, c_out = int(p.inputChannels), int(p.outputChannels)
    w = weight_array(p.weights, (c_out, c_in), "innerProduct weights")
    s = x.shape
    # The proto's rank rules: ranks 1-3 contract the last axis; ranks 4 and 5 contract the last
    # three axes (a [B, C, H, W] blob is flattened, giving [B, C_out, 1, 1]).
    if x.ndim <= 3:
        mat, out_shape = x.reshape(-1, s[-1]), s[:-1] + (c_out,)
    elif x.ndim == 4:
        mat, out_shape = x.reshape(s[0], -1), (s[0], c_out, 1, 1)
    elif x.ndim == 5:
        mat, out_shape = x.reshape(s[0] * s[1], -1), (s[0], s[1], c_out, 1, 1)
    else:
        raise ValueError(f"innerProduct supports rank 1 to 5, got shape {s}")
    if mat.shape[1] != c_in:
        raise ValueError(f"innerProduct expects {c_in} input channels, input shape {s} gives {mat.shape[1]}")
    y = mat @ w.T
    if p.hasBias:
        y += weight_array(p.bias, (c_out,), "innerProduct bias")
    return [f32(y.reshape(out_shape))]


def _swap_last(x: np.ndarray) -> np.ndarray:
    return np.swapaxes(x, -1, -2) if x.ndim >= 2 else x


def batched_matmul(layer: Any, inputs: list[np.ndarray]) -> list[np.ndarray]:
    p = layer.batchedMatmul
    a = f32(inputs[0])
    if p.transposeA:
        a = _swap_last(a)
    if len(inputs) == 2:
        b = f32(inputs[1])
        if p.transposeB:
            b = _swap_last(b)
        # numpy's matmul implements the proto's rules: broadcast batch axes, 1-D operands are
        # promoted to matrices and the promoted axis is dropped again.
        return [f32(np.matmul(a, b))]
    if len(inputs) != 1:
        raise ValueError(f"batchedMatmul takes 1 or 2 inputs, got {len(inputs)}")
    rows, cols = int(p.weightMatrixFirstDimension), int(p.weightMatrixSecondDimension)
    # The builder stores W^T row-major, i.e. the spec holds a [cols, rows] matrix.
    w = weight_array(p.weights, (cols, rows), "batchedMatmul weights").T
    if p.transposeB:
        raise ValueError("transposeB with a weight matrix is not defined by the proto")
    if a.shape[-1] != rows:
        raise ValueError(f"batchedMatmul weight has {rows} rows but the input's last axis is {a.shape[-1]}")
    y = a @ w
    if p.hasBias:
        y = y + weight_array(p.bias, (cols,), "batchedMatmul bias")
    return [f32(y)]
