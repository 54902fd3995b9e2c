"""NeuralNetwork MaxPool/AveragePool (ops/pooling.py) at the corners of ONNX's window rules, against
onnxruntime: ceil_mode with and without pads (the rounded-up window's divisor), asymmetric pads,
auto_pad, kernels below the stride; and what Core ML's one exclude-padding flag cannot say."""

from __future__ import annotations

import pytest

from tests.backends.coreml.neuralnetwork_layers._emitter_helpers import (
    assert_matches_onnxruntime,
    model_text,
    unsupported_reason,
)

# (op, attributes, input shape)
MATCHES = {
    "avg_ceil_include_inside_pads": (
        "AveragePool",
        "kernel_shape = [3, 3], strides = [2, 2], pads = [1, 1, 1, 1], ceil_mode = 1, count_include_pad = 1",
        "[1,2,7,7]",
    ),
    # no pads declared: the rounded-up window is divided by its cells inside the input
    "avg_ceil_include_no_pads": (
        "AveragePool",
        "kernel_shape = [3, 3], strides = [2, 2], ceil_mode = 1, count_include_pad = 1",
        "[1,2,6,8]",
    ),
    "avg_ceil_exclude_past_pads": (
        "AveragePool",
        "kernel_shape = [3, 3], strides = [2, 2], pads = [1, 1, 1, 1], ceil_mode = 1",
        "[1,2,8,8]",
    ),
    "avg_asymmetric_ceil": (
        "AveragePool",
        "kernel_shape = [3, 2], strides = [2, 3], pads = [2, 0, 0, 1], ceil_mode = 1",
        "[1,2,8,7]",
    ),
    "avg_same_upper_include": (
        "AveragePool",
        'kernel_shape = [4, 3], strides = [2, 2], auto_pad = "SAME_UPPER", count_include_pad = 1',
        "[1,2,7,8]",
    ),
    "max_same_lower": (
        "MaxPool",
        'kernel_shape = [4, 2], strides = [3, 2], auto_pad = "SAME_LOWER"',
        "[1,2,7,8]",
    ),
    # a window that would start in the end padding (here: past the input) is dropped
    "max_ceil_kernel_below_stride": (
        "MaxPool",
        "kernel_shape = [1, 2], strides = [3, 3], ceil_mode = 1",
        "[1,2,8,7]",
    ),
    "max_ceil_asymmetric": (
        "MaxPool",
        "kernel_shape = [3, 3], strides = [2, 2], pads = [0, 1, 2, 0], ceil_mode = 1, storage_order = 1",
        "[1,2,8,9]",
    ),
    "max_valid_ceil": (
        "MaxPool",
        'kernel_shape = [2, 3], strides = [2, 2], auto_pad = "VALID", ceil_mode = 1',
        "[1,2,7,8]",
    ),
}


@pytest.mark.parametrize("target", ["iOS13", "iOS15"])
@pytest.mark.parametrize("case", sorted(MATCHES))
def test_pool_matches_onnxruntime(case, target):
    op, attrs, shape = MATCHES[case]
    text = model_text(f"float{shape} x", "float y", f"y = {op} <{attrs}> (x)")
    # an average sums its window in another order than onnxruntime: a few float32 roundings
    assert "pooling" in assert_matches_onnxruntime(text, target, tolerance=1e-6)


@pytest.mark.parametrize(
    ("op", "attrs", "shape", "reason"),
    [
        (
            "AveragePool",
            "kernel_shape = [3, 3], strides = [2, 2], pads = [1, 1, 1, 1], ceil_mode = 1, count_include_pad = 1",
            "[1,2,8,8]",
            "window past the pads",
        ),
        ("MaxPool", "kernel_shape = [4, 2], strides = [3, 1]", "[1,2,2,5]", "larger than the padded input"),
        ("MaxPool", "kernel_shape = [2, 2], dilations = [2, 1]", "[1,2,6,6]", "dilations"),
        ("AveragePool", "kernel_shape = [3]", "[1,2,6]", "only 2-D and 3-D pooling"),
    ],
)
def test_pool_refused(op, attrs, shape, reason):
    text = model_text(f"float{shape} x", "float y", f"y = {op} <{attrs}> (x)")
    assert reason in unsupported_reason(text)


# (op, attributes, padding type): layers that hold for every input size, so a flexible-shape model
# keeps one (ONNX's windows at each size, from the same layer)
SIZE_FREE = {
    "max_ceil_symmetric": (
        "MaxPool",
        "kernel_shape = [3, 3], strides = [2, 2], pads = [1, 1, 1, 1], ceil_mode = 1",
        "includeLastPixel",
    ),
    "max_ceil_unpadded": (
        "MaxPool",
        "kernel_shape = [3, 2], strides = [2, 2], ceil_mode = 1",
        "includeLastPixel",
    ),
    # no window can start in the end padding: the end pad + stride - 1 fits ONNX's windows at every size
    "avg_ceil_exclude_asymmetric": (
        "AveragePool",
        "kernel_shape = [3, 3], strides = [2, 2], pads = [1, 0, 0, 1], ceil_mode = 1",
        "valid",
    ),
    "max_ceil_asymmetric": (
        "MaxPool",
        "kernel_shape = [4, 3], strides = [2, 2], pads = [1, 0, 2, 1], ceil_mode = 1",
        "valid",
    ),
    "avg_same_upper_include": (
        "AveragePool",
        'kernel_shape = [3, 3], strides = [2, 3], auto_pad = "SAME_UPPER", count_include_pad = 1',
        "same",
    ),
    "max_same_lower": ("MaxPool", 'kernel_shape = [4, 3], strides = [3, 2], auto_pad = "SAME_LOWER"', "same"),
}


@pytest.mark.parametrize("case", sorted(SIZE_FREE))
def test_pool_layer_is_the_same_for_every_size(case):
    from bridgec.backends.coreml.neuralnetwork import build_spec
    from tests.helpers import graph_from_text

    op, attrs, padding_type = SIZE_FREE[case]
    layers = []
    for size in (7, 8, 9, 10):
        text = model_text(f"float[1,2,{size},{size + 3}] x", "float y", f"y = {op} <{attrs}> (x)")
        assert_matches_onnxruntime(text, "iOS14", tolerance=1e-6)
        layer = build_spec(graph_from_text(text), "iOS14").neuralNetwork.layers[0]
        layer.ClearField("output")
        layers.append(layer)
    assert layers[0].pooling.WhichOneof("PoolingPaddingType") == padding_type
    assert all(layer == layers[0] for layer in layers[1:])


@pytest.mark.parametrize(
    ("attrs", "refused"),
    [
        ("kernel_shape = [3, 3], strides = [2, 2], pads = [1, 0, 1, 2]", False),
        ('kernel_shape = [3, 3], strides = [2, 2], auto_pad = "SAME_UPPER"', False),  # SamePadding sizes it
        ("kernel_shape = [3, 3], strides = [2, 2], ceil_mode = 1, pads = [1, 0, 0, 1]", True),
    ],
)
def test_pool_without_a_static_shape(attrs, refused):
    from bridgec.backends.coreml import capabilities_for
    from tests.helpers import graph_from_text

    node = graph_from_text(model_text("float[1,2,H,W] x", "float y", f"y = MaxPool <{attrs}> (x)")).nodes[0]
    reason = capabilities_for("iOS14").unsupported_reason(node)
    assert ("static spatial shape" in reason) if refused else reason is None


# (op, attributes, input shape): 3-D pooling (Pooling3D, CUSTOM padding fitted to ONNX's windows)
MATCHES_3D = {
    "avg_asymmetric_exclude": (
        "AveragePool",
        "kernel_shape = [3, 2, 3], strides = [2, 2, 1], pads = [1, 0, 1, 1, 1, 0]",
        "[1,2,7,6,5]",
    ),
    "avg_asymmetric_include": (
        "AveragePool",
        "kernel_shape = [3, 2, 3], strides = [2, 2, 1], pads = [1, 0, 1, 1, 1, 0], count_include_pad = 1",
        "[1,2,7,6,5]",
    ),
    "avg_ceil_no_pads_include": (
        "AveragePool",
        "kernel_shape = [3, 3, 3], strides = [2, 2, 2], ceil_mode = 1, count_include_pad = 1",
        "[1,2,8,6,7]",
    ),
    "avg_ceil_pads_exclude": (
        "AveragePool",
        "kernel_shape = [3, 3, 3], strides = [2, 2, 2], pads = [1, 1, 1, 1, 1, 1], ceil_mode = 1",
        "[1,2,8,6,7]",
    ),
    "avg_same_lower": (
        "AveragePool",
        'kernel_shape = [3, 2, 2], strides = [2, 2, 1], auto_pad = "SAME_LOWER"',
        "[2,3,7,6,5]",
    ),
    "max_unpadded_strided": ("MaxPool", "kernel_shape = [3, 2, 2], strides = [2, 2, 2]", "[1,2,7,6,5]"),
    # end pads no window reaches: Pooling3D's zeros are never compared
    "max_unreached_end_pads": (
        "MaxPool",
        "kernel_shape = [2, 2, 2], strides = [2, 2, 2], pads = [0, 0, 0, 1, 1, 1]",
        "[1,2,6,6,6]",
    ),
    "global_average": ("GlobalAveragePool", "", "[2,3,4,5,6]"),
    "global_max": ("GlobalMaxPool", "", "[2,3,4,5,6]"),
}


@pytest.mark.parametrize("case", sorted(MATCHES_3D))
def test_pool3d_matches_onnxruntime(case):
    op, attrs, shape = MATCHES_3D[case]
    body = f"y = {op} <{attrs}> (x)" if attrs else f"y = {op} (x)"
    kinds = assert_matches_onnxruntime(
        model_text(f"float{shape} x", "float y", body), "iOS14", tolerance=1e-6
    )
    assert set(kinds) == {"globalPooling3d" if op.startswith("Global") else "pooling3d"}


@pytest.mark.parametrize(
    ("op", "attrs", "shape", "target", "reason"),
    [
        ("MaxPool", "kernel_shape = [2, 2, 2]", "[1,2,4,4,4]", "iOS13", "needs iOS14"),
        ("GlobalMaxPool", "", "[1,2,4,4,4]", "iOS13", "needs iOS14"),
        # Pooling3D pads with zeros; lower::maxpool_pads makes such a MaxPool legal
        ("MaxPool", "kernel_shape = [3, 3, 3], pads = [1, 1, 1, 1, 1, 1]", "[1,2,5,5,5]", "iOS14", "zeros"),
        (
            "MaxPool",
            "kernel_shape = [2, 2, 2], strides = [2, 2, 2], ceil_mode = 1",
            "[1,2,5,5,5]",
            "iOS14",
            "zeros",
        ),
        (
            "AveragePool",
            "kernel_shape = [3, 3, 3], strides = [2, 2, 2], pads = [1, 1, 1, 1, 1, 1], ceil_mode = 1, count_include_pad = 1",
            "[1,2,8,8,8]",
            "iOS14",
            "window past the pads",
        ),
        ("GlobalAveragePool", "", "[2,3]", "iOS14", "with a spatial axis (rank 2)"),
    ],
)
def test_pool3d_refused(op, attrs, shape, target, reason):
    body = f"y = {op} <{attrs}> (x)" if attrs else f"y = {op} (x)"
    assert reason in unsupported_reason(model_text(f"float{shape} x", "float y", body), target)
