"""Layer implementations for Core ML NeuralNetwork models, keyed by ``WhichOneof("layer")``."""

from __future__ import annotations

from bridgec.backends.coreml.executor.neuralnetwork import (
    activations,
    conv,
    custom,
    elementwise,
    linear,
    normalization,
    pooling,
    resize,
    shape,
)
from bridgec.backends.coreml.executor.neuralnetwork._common import LayerFn

LAYERS: dict[str, LayerFn] = {
    "convolution": conv.convolution,
    "pooling": pooling.pooling,
    "activation": activations.activation,
    "clip": activations.clip,
    "gelu": activations.gelu,
    "unary": activations.unary,
    **activations.UNARY_SIMPLE,
    "batchnorm": normalization.batchnorm,
    "softmax": normalization.softmax,
    "softmaxND": normalization.softmax_nd,
    "layerNormalization": normalization.layer_normalization,
    "innerProduct": linear.inner_product,
    "batchedMatmul": linear.batched_matmul,
    **elementwise.BROADCASTABLE,
    **elementwise.COMPARISONS,
    **elementwise.OLD_STYLE,
    "flattenTo2D": shape.flatten_to_2d,
    "flatten": shape.flatten,
    "reshapeStatic": shape.reshape_static,
    "reshapeLike": shape.reshape_like,
    "transpose": shape.transpose,
    "squeeze": shape.squeeze,
    "expandDims": shape.expand_dims,
    "concatND": shape.concat_nd,
    "concat": shape.concat,
    "loadConstantND": shape.load_constant_nd,
    "loadConstant": shape.load_constant,
    "sliceStatic": shape.slice_static,
    "splitND": shape.split_nd,
    "gather": shape.gather,
    "split": shape.split,
    "padding": shape.padding,
    "copy": shape.copy,
    **shape.REDUCTIONS,
    "upsample": resize.upsample,
    "resizeBilinear": resize.resize_bilinear,
    "custom": custom.custom,
}

__all__ = ["LAYERS", "LayerFn"]
