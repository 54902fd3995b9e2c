"""upsample and resizeBilinear against F.interpolate, onnxruntime Resize and hand-derived grids."""

from __future__ import annotations

import math

import numpy as np
import onnxruntime as ort
import pytest
import torch
import torch.nn.functional as F
from onnx import TensorProto, helper

from tests.backends.coreml.executor.neuralnetwork._executor_helpers import rand, run_one
from tests.helpers import assert_matches


def _add_upsample(sh, sw, mode, linear_mode="DEFAULT"):
    def add(builder):
        builder.add_upsample("up", sh, sw, "x", "y", mode=mode, linear_upsample_mode=linear_mode)

    return add


def _ort_resize_asymmetric(x: np.ndarray, out_hw: tuple[int, int]) -> np.ndarray:
    """ONNX Resize, linear, coordinate_transformation_mode=asymmetric: output i reads input i*in/out."""
    node = helper.make_node(
        "Resize", ["x", "", "", "sizes"], ["y"], mode="linear", coordinate_transformation_mode="asymmetric"
    )
    graph = helper.make_graph(
        [node],
        "resize",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(x.shape))],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        initializer=[helper.make_tensor("sizes", TensorProto.INT64, [4], list(x.shape[:2]) + list(out_hw))],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(None, {"x": x})[0]


@pytest.mark.parametrize("sh,sw", [(2, 2), (3, 1), (1, 4)])
def test_upsample_nearest(sh, sw):
    x = rand(2, 3, 4, 5, seed=1)
    y = run_one({"x": x}, _add_upsample(sh, sw, "NN"))
    assert_matches(
        y, F.interpolate(torch.from_numpy(x), scale_factor=(sh, sw), mode="nearest"), tolerance=1e-5
    )


@pytest.mark.parametrize("align", [True, False])
@pytest.mark.parametrize("sh,sw", [(2, 2), (3, 2), (1.5, 1.5), (2.5, 1.75)])
def test_upsample_bilinear_align_modes(sh, sw, align):
    x = rand(1, 3, 5, 6, seed=2)
    mode = "ALIGN_CORNERS_TRUE" if align else "ALIGN_CORNERS_FALSE"
    y = run_one({"x": x}, _add_upsample(sh, sw, "BILINEAR", mode))
    size = (math.floor(5 * sh), math.floor(6 * sw))
    # ``size=`` (not ``scale_factor=``): Core ML's spacing is Xin / Xout, which is what torch
    # uses when given an output size.
    ref = F.interpolate(torch.from_numpy(x), size=size, mode="bilinear", align_corners=align)
    assert_matches(y, ref, tolerance=1e-5)


def test_fractional_scale_factor_semantics_differ_from_torch_scale_factor():
    # torch with scale_factor=1.5 maps with 1/1.5, Core ML with Xin/Xout = 5/7: a converter has to
    # use recompute_scale_factor semantics (or resizeBilinear) to stay exact.
    x = rand(1, 1, 5, 5, seed=3)
    y = run_one({"x": x}, _add_upsample(1.5, 1.5, "BILINEAR", "ALIGN_CORNERS_FALSE"))
    xt = torch.from_numpy(x)
    plain = F.interpolate(xt, scale_factor=1.5, mode="bilinear", align_corners=False)
    recomputed = F.interpolate(
        xt, scale_factor=1.5, mode="bilinear", align_corners=False, recompute_scale_factor=True
    )
    assert plain.shape == y.shape and not np.allclose(y, plain.numpy(), atol=1e-3)
    assert_matches(y, recomputed, tolerance=1e-5)


@pytest.mark.parametrize("sh,sw", [(2, 2), (3, 2), (4, 1)])
def test_upsample_bilinear_default_is_asymmetric(sh, sw):
    x = rand(2, 3, 4, 5, seed=4)
    y = run_one({"x": x}, _add_upsample(sh, sw, "BILINEAR", "DEFAULT"))
    assert_matches(y, _ort_resize_asymmetric(x, (4 * sh, 5 * sw)), tolerance=1e-5)


def test_upsample_default_grid_by_hand():
    # A ramp input makes the output equal to the sampled coordinates. DEFAULT on 2 -> 4:
    # spacing (2 - 2/4) / 3 = 0.5, grid 0, 0.5, 1, 1.5 clamped to 1.
    x = np.array([0.0, 1.0], dtype=np.float32).reshape(1, 1, 1, 2)
    y = run_one({"x": x}, _add_upsample(1, 2, "BILINEAR", "DEFAULT"))
    assert_matches(y.reshape(-1), [0.0, 0.5, 1.0, 1.0])
    # ...whereas torch align_corners=False gives 0, 0.25, 0.75, 1 and align_corners=True 0, 1/3, 2/3, 1.
    y = run_one({"x": x}, _add_upsample(1, 2, "BILINEAR", "ALIGN_CORNERS_FALSE"))
    assert_matches(y.reshape(-1), [0.0, 0.25, 0.75, 1.0])


def test_upsample_rank3_input():
    x = rand(3, 4, 4, seed=5)
    y = run_one({"x": x}, _add_upsample(2, 2, "NN"))
    assert_matches(y, np.repeat(np.repeat(x, 2, axis=1), 2, axis=2), tolerance=1e-5)


def _add_resize(h, w, mode):
    def add(builder):
        builder.add_resize_bilinear("rb", "x", "y", target_height=h, target_width=w, mode=mode)

    return add


@pytest.mark.parametrize("mode", ["STRICT_ALIGN_ENDPOINTS_MODE", "ALIGN_ENDPOINTS_MODE"])
@pytest.mark.parametrize("size", [(9, 13), (3, 2)])
def test_resize_bilinear_align_endpoints(mode, size):
    x = rand(1, 2, 5, 6, seed=6)
    y = run_one({"x": x}, _add_resize(*size, mode))
    assert_matches(
        y, F.interpolate(torch.from_numpy(x), size=size, mode="bilinear", align_corners=True), tolerance=1e-5
    )


def test_resize_bilinear_single_row_modes():
    ramp = np.arange(5, dtype=np.float32).reshape(1, 1, 5, 1)
    # STRICT samples the start, ALIGN_ENDPOINTS the centre, when N == 1.
    assert run_one({"x": ramp}, _add_resize(1, 1, "STRICT_ALIGN_ENDPOINTS_MODE")).item() == 0.0
    assert run_one({"x": ramp}, _add_resize(1, 1, "ALIGN_ENDPOINTS_MODE")).item() == 2.0


@pytest.mark.parametrize("size", [(8, 12), (6, 7), (3, 3)])
def test_resize_bilinear_upsample_mode(size):
    x = rand(1, 2, 4, 6, seed=7)
    y = run_one({"x": x}, _add_resize(*size, "UPSAMPLE_MODE"))
    assert_matches(y, _ort_resize_asymmetric(x, size), tolerance=1e-5)


def test_resize_bilinear_roi_align_grid_by_hand():
    # X = 4, N = 2: spacing max(1, 3) / 2 = 1.5, start 0.75 -> grid 0.75, 2.25.
    ramp = np.arange(4, dtype=np.float32).reshape(1, 1, 1, 4)
    y = run_one({"x": ramp}, _add_resize(1, 2, "ROI_ALIGN_MODE"))
    assert_matches(y.reshape(-1), [0.75, 2.25], tolerance=1e-5)


def test_resize_bilinear_upsample_mode_grid_by_hand():
    # UPSAMPLE_MODE, X = 2, N = 5: min(X-1, linspace(0, X - X/N = 1.6, 5)) = 0, .4, .8, 1, 1
    ramp = np.array([0.0, 1.0], dtype=np.float32).reshape(1, 1, 1, 2)
    y = run_one({"x": ramp}, _add_resize(1, 5, "UPSAMPLE_MODE"))
    assert_matches(y.reshape(-1), [0.0, 0.4, 0.8, 1.0, 1.0])


def test_fractional_upsample_output_size_is_assumed_floor():
    # The proto gives scalingFactor * H for integer factors only; for fractionalScalingFactor the
    # executor assumes floor(H * factor) (MIL's upsample_* document it). bridgec emits a fractional
    # factor only where H * factor is an integer, so the assumption is never what decides a size.
    x = rand(1, 1, 5, 4, seed=8)
    y = run_one({"x": x}, _add_upsample(1.5, 1.5, "BILINEAR", "ALIGN_CORNERS_FALSE"))
    assert y.shape == (1, 1, 7, 6)
