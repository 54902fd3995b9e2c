"""``innerProduct`` and ``batchedMatmul``, as NeuralNetwork.proto's InnerProductLayerParams and
BatchedMatMulLayerParams comments describe them."""

from __future__ import annotations

from typing import Any

import numpy as np

from bridgec.backends.coreml.executor.neuralnetwork._common import f32
from bridgec.backends.coreml.executor.weights import weight_array


def inner_product(layer: Any, inputs: list[np.ndarray]) -> list[np.ndarray]:
    """InnerProductLayerParams: "The weight parameters correspond to a matrix of dimensions
    (inputChannels, outputChannels)", stored as "Weight matrix [C_out, C_in]"; "Bias vector [C_out]"."""
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
    """BatchedMatMulLayerParams, "matrix multiplication of two tensors with numpy-like broadcasting
    where the matrices reside in the last two indices of the tensor".

    Two inputs: "If the first tensor is 1-D, it is converted to a 2-D tensor by prepending a 1 to its
    shape ... If the second tensor is 1-D, it is converted to a 2-D tensor by appending a 1", and
    "When there are two inputs: rank is max(2, rank(a), rank(b))" -- so unlike numpy.matmul the
    promoted axis stays in the result ([K] x [K, N] is [1, N], not [N]). transposeA/B "transposes the
    left/right matrix"; the proto does not say what that means for a 1-D operand, which is taken here
    as the vector before its promotion (transposing a vector changes nothing).

    One input: "The weight matrix corresponds to a matrix, of shape (X1, X2)" whose "Values are however
    stored in column major order"; the input's leading axes are batch ("if "a" is rank 1 (X1,) -->
    (1, X1). Output shape will be (X2,)", i.e. the result has the input's rank); transposeA/B "is
    ignored when there is one input"; "Bias vector [X2]".
    """
    p = layer.batchedMatmul
    a = f32(inputs[0])
    if len(inputs) == 2:
        b = f32(inputs[1])
        a, b = (_swap_last(a) if p.transposeA else a), (_swap_last(b) if p.transposeB else b)
        a = a[np.newaxis, :] if a.ndim == 1 else a
        b = b[:, np.newaxis] if b.ndim == 1 else b
        if a.ndim > 2 and b.ndim == 2:  # one product of a's stacked rows: one BLAS call, not one per item
            return [f32(np.matmul(a.reshape(-1, a.shape[-1]), b).reshape(a.shape[:-1] + b.shape[-1:]))]
        return [f32(np.matmul(a, b))]
    if len(inputs) != 1:
        raise ValueError(f"batchedMatmul takes 1 or 2 inputs, got {len(inputs)}")
    rows, cols = int(p.weightMatrixFirstDimension), int(p.weightMatrixSecondDimension)
    # column-major [X1, X2] is row-major [X2, X1]
    w = weight_array(p.weights, (cols, rows), "batchedMatmul weights").T
    if a.shape[-1] != rows:
        raise ValueError(f"batchedMatmul weight has {rows} rows but the input's last axis is {a.shape[-1]}")
    y = a @ w
    if p.hasBias:
        y = y + weight_array(p.bias, (cols,), "batchedMatmul bias")
    return [f32(y)]
