"""Lower a Resize / Upsample the target refuses to MatMuls by constant interpolation matrices.

A resize is separable: along each axis it is one 1-D resize, and a 1-D resize of any mode
(nearest, linear, cubic, antialiased) is linear in its input, a matrix A (out x in). So

    y = Resize(x)                      # x: [N, C, H, W], H and W resized
    y = A_h @ (x @ A_w^T)              # two MatMuls, A_w^T: [W, W_out], A_h: [H_out, H]

and a resized axis k elsewhere is moved last, multiplied and moved back. Each A is not derived
here: it is the node's own 1-D resize (same op, opset, mode, coordinate_transformation_mode,
nearest_mode, cubic_coeff_a, exclude_outside, antialias, the axis' scale or size) run by
onnxruntime on an identity matrix, so every mode comes out as ONNX defines it.

The pass fires only where the target's capability check refuses the node (a Core ML layer that
computes it exactly is better). It leaves the node, and says why, when the input shape is not
static, keep_aspect_ratio_policy is not "stretch", tf_crop_and_resize extrapolates (then the
resize is affine, not linear), or a matrix would exceed ``MAX_MATRIX`` elements (or an axis
``MAX_AXIS`` pixels, the identity it is probed with).

A pass of its own rather than a RuleSet of patterns: Resize comes with up to four inputs, any of
them omitted or empty, in some eight arities across opsets, and what it computes depends on all
of them at once; the pass still records its rule (``lower::resize/resize_to_matmul``) in the
report, rule hits and near misses as a RuleSet does.

The module also reads a node's request with ONNX's defaults (``read``) and computes ONNX's source
coordinates (``source_coordinates``): the Core ML emitters compare those with their layers'
documented sampling grids to decide what they compute exactly.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import onnx
import onnx_graphsurgeon as gs
from onnx import helper

from bridgec.core import ir
from bridgec.core.capabilities import Capabilities
from bridgec.core.errors import ConversionError
from bridgec.core.words import plural
from bridgec.passes._infra import Pass, PassContext, PassResult, drop_nodes, register
from bridgec.passes._pattern import Builder, NearMiss
from bridgec.passes.lower.resize_rank import OPS, legalises

MAX_MATRIX = 2**22  # elements of one interpolation matrix (16 MiB of float32 weights)
MAX_AXIS = 4096  # input pixels along a resized axis (the probe is an identity of that size)

RULE = "resize_to_matmul"
IDENTITY = "resize(x) -> A_h @ x @ A_w^T   (A: the node's 1-D resize of an identity, per resized axis)"


@dataclass(frozen=True)
class ResizeRequest:
    """What a Resize or Upsample node computes, with ONNX's defaults and every axis spelled out."""

    op: str  # Resize | Upsample
    mode: str  # nearest | linear | cubic
    transform: str  # coordinate_transformation_mode (asymmetric for Upsample and Resize-10)
    nearest_mode: str  # "legacy" for Upsample and Resize-10 (onnxruntime floors when upsampling)
    cubic_coeff_a: float
    exclude_outside: int
    antialias: int
    extrapolation_value: float
    in_shape: tuple[int, ...]
    out_shape: tuple[int, ...]
    scales: tuple[float, ...]  # per axis: what ONNX's coordinate transforms divide by
    roi: tuple[tuple[float, float], ...]  # per axis (start, end); read by tf_crop_and_resize only
    from_sizes: bool  # the node gave output sizes (then scale = out / in), not scales

    def resized(self) -> list[int]:
        """The axes whose 1-D resize is not the identity."""
        return [a for a in range(len(self.in_shape)) if not self.is_identity(a)]

    def is_identity(self, axis: int) -> bool:
        """Does the 1-D resize along ``axis`` return its input? (Same length, scale 1, and a mode whose
        coordinates are then the output's own, or the whole roi for a crop; an antialias filter at
        scale 1 is the plain kernel, which weighs the pixel itself only.)"""
        if self.out_shape[axis] != self.in_shape[axis]:
            return False
        if self.transform == "tf_crop_and_resize":  # the roi, not the scale, places the samples
            return self.roi[axis] == (0.0, 1.0)
        return self.scales[axis] == 1.0


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


@dataclass(frozen=True)
class Modes:
    """A node's interpolation attributes with ONNX's defaults (they need no shapes)."""

    mode: str
    transform: str
    nearest_mode: str
    antialias: int
    policy: str  # keep_aspect_ratio_policy


def modes(node: gs.Node) -> Modes:
    attrs = node.attrs
    mode = _text(attrs.get("mode", "nearest"))
    mode = "linear" if mode == "bilinear" else mode  # Upsample-1's name for it
    if node.op == "Upsample" or len(node.inputs) == 2:  # Upsample, Resize-10: (X, scales)
        return Modes(mode, "asymmetric", "legacy", 0, "stretch")
    return Modes(
        mode,
        _text(attrs.get("coordinate_transformation_mode", "half_pixel")),
        _text(attrs.get("nearest_mode", "round_prefer_floor")),
        int(attrs.get("antialias", 0)),
        _text(attrs.get("keep_aspect_ratio_policy", "stretch")),
    )


def replicates(transform: str, nearest_mode: str) -> bool:
    """Does nearest with this coordinate/rounding pair repeat each pixel k times for an integer k?

    x_original = i / k under asymmetric (and (i + 0.5) / k under tf_half_pixel_for_nn), floor of
    which is i // k; (i + 0.5) / k - 0.5 under the half-pixel modes (half_pixel_symmetric adds no
    offset when the output is exactly in * k), which stays within (-0.5, 0.5) of i // k, so
    rounding picks it whichever way ties go (no tie occurs). Other pairings pick neighbours.
    Upsample and Resize-10 ("legacy") floor when upsampling.
    """
    if nearest_mode == "legacy" or (transform, nearest_mode) in (
        ("asymmetric", "floor"),
        ("tf_half_pixel_for_nn", "floor"),
    ):
        return True
    half_pixel = transform in ("half_pixel", "pytorch_half_pixel", "half_pixel_symmetric")
    return half_pixel and nearest_mode.startswith("round")


def _present(node: gs.Node, index: int) -> bool:
    return index < len(node.inputs) and not ir.is_empty(node.inputs[index])


def read(
    node: gs.Node, shape: tuple[int, ...] | None = None, const: Callable = ir.constant_value
) -> ResizeRequest | str:
    """The request of a Resize / Upsample node on an input of static ``shape`` (default: the IR's),
    its scales, sizes and roi given by ``const`` (an emitter passes the values folded at build
    time); or why it cannot be known."""
    x = node.inputs[0]
    shape = shape if shape is not None else x.shape
    if shape is None or not all(isinstance(d, int) and d >= 0 for d in shape):
        return f"the input shape {shape} is not static"
    shape = tuple(int(d) for d in shape)
    rank = len(shape)
    attrs = node.attrs
    found = modes(node)
    scales = sizes = roi = None
    if found.nearest_mode == "legacy":  # Upsample, Resize-10: (X, scales), or Upsample-7's attribute
        if "scales" in attrs:
            scales = np.asarray(attrs["scales"], np.float32)
        elif _present(node, 1):
            scales = const(node.inputs[1])
            if scales is None:
                return "scales must be a constant"
    else:
        values = {}
        for index, what in ((1, "roi"), (2, "scales"), (3, "sizes")):
            if _present(node, index):
                values[what] = const(node.inputs[index])
                if values[what] is None:
                    return f"{what} must be a constant"
        # opsets 11 and 12 have no optional scales: an empty tensor stands for "not given"
        roi, scales, sizes = (
            v if v is not None and v.size else None for v in map(values.get, ("roi", "scales", "sizes"))
        )
    policy, transform = found.policy, found.transform
    axes = [int(a) % rank if rank else 0 for a in attrs.get("axes", range(rank))]
    if (scales is None) == (sizes is None):
        return "exactly one of scales and sizes must be given"
    given = (scales if sizes is None else sizes).reshape(-1)
    if len(given) != len(axes):
        return f"{plural(given, 'scale/size', 'scales/sizes')} for {plural(axes, 'axis', 'axes')}"
    full_scales = [1.0] * rank
    out = list(shape)
    if sizes is not None:
        if policy != "stretch":
            return f"keep_aspect_ratio_policy {policy!r}"
        for axis, size in zip(axes, given, strict=True):
            out[axis] = int(size)
            # onnxruntime's scale for a given size, in float32 as it computes it
            full_scales[axis] = float(np.float32(size) / np.float32(shape[axis])) if shape[axis] else 1.0
    else:
        for axis, scale in zip(axes, given.astype(np.float32), strict=True):
            if not scale > 0:
                return f"scale {float(scale)} is not positive"
            full_scales[axis] = float(scale)
            # ONNX: floor(input * scale), which onnxruntime computes in float32
            out[axis] = int(math.floor(np.float32(shape[axis]) * scale))
    known = node.outputs[0].shape if node.outputs else None
    static = known is not None and len(known) == rank and all(isinstance(d, int) for d in known)
    if static and tuple(known) != tuple(out):
        # e.g. floor(10 * 0.7f): 7 in onnxruntime's float32, 6 in shape inference's float64
        return f"the graph's output shape {tuple(known)} is not onnxruntime's {tuple(out)}"
    spans = [(0.0, 1.0)] * rank
    if roi is not None and transform == "tf_crop_and_resize":
        flat = roi.astype(np.float64).reshape(-1)
        if len(flat) != 2 * len(axes):
            return f"roi has {plural(flat, 'value')} for {plural(axes, 'axis', 'axes')}"
        for i, axis in enumerate(axes):
            spans[axis] = (float(flat[i]), float(flat[len(axes) + i]))
    return ResizeRequest(
        op=node.op,
        mode=found.mode,
        transform=transform,
        nearest_mode=found.nearest_mode,
        cubic_coeff_a=float(attrs.get("cubic_coeff_a", -0.75)),
        exclude_outside=int(attrs.get("exclude_outside", 0)),
        antialias=found.antialias,
        extrapolation_value=float(attrs.get("extrapolation_value", 0.0)),
        in_shape=shape,
        out_shape=tuple(out),
        scales=tuple(full_scales),
        roi=tuple(spans),
        from_sizes=sizes is not None,
    )


def source_coordinates(request: ResizeRequest, axis: int) -> np.ndarray:
    """ONNX's x_original for every output index along ``axis`` (Resize's coordinate_transformation_mode
    formulas; not clamped: linear reads clamp them, tf_crop_and_resize extrapolates outside)."""
    n_in, n_out, scale = request.in_shape[axis], request.out_shape[axis], request.scales[axis]
    i = np.arange(n_out, dtype=np.float64)
    transform = request.transform
    if transform in ("half_pixel", "pytorch_half_pixel", "half_pixel_symmetric"):
        x = (i + 0.5) / scale - 0.5
        if transform == "pytorch_half_pixel" and n_out == 1:
            x = np.zeros(1)
        if transform == "half_pixel_symmetric":  # centred when floor() shortened the output
            adjustment = n_out / (scale * n_in)
            x = x + n_in / 2 * (1 - adjustment)
        return x
    if transform == "align_corners":
        return i * ((n_in - 1) / (n_out - 1)) if n_out > 1 else np.zeros(1)
    if transform == "asymmetric":
        return i / scale
    if transform == "tf_half_pixel_for_nn":
        return (i + 0.5) / scale
    if transform == "tf_crop_and_resize":
        start, end = request.roi[axis]
        if n_out == 1:
            return np.array([0.5 * (start + end) * (n_in - 1)])
        return start * (n_in - 1) + i * (end - start) * (n_in - 1) / (n_out - 1)
    raise ValueError(f"unknown coordinate_transformation_mode {transform!r}")


def replication_factor(request: ResizeRequest, axis: int) -> int | None:
    """k if nearest along ``axis`` is output i = input i // k (each pixel repeated k times), else None
    (see ``replicates``); 1 for an axis the resize leaves as it is."""
    n_in, n_out = request.in_shape[axis], request.out_shape[axis]
    if request.is_identity(axis):
        return 1
    if request.mode != "nearest" or n_in == 0 or n_out % n_in or request.scales[axis] != n_out // n_in:
        return None
    return n_out // n_in if replicates(request.transform, request.nearest_mode) else None


# --- the lowering -----------------------------------------------------------------------------------


def _probe_model(node: gs.Node, request: ResizeRequest, axis: int, opset: int) -> onnx.ModelProto:
    """The node's 1-D resize along ``axis`` as a one-node model on X [1, n, n, 1]: channel k holds
    the unit vector e_k along the resized axis 2, whose scale (or size) and roi are the axis'.

    onnxruntime returns its input unchanged when the output shape equals the input's, whatever the
    scales say (n = 2 by 1.25 gives 2 pixels, which ONNX and PyTorch sample at 0 and 0.8). Such a
    probe also doubles the width 1 -> 2 (every mode reads the one pixel for output 0, and the
    spec applies no antialias filter when upscaling, onnxruntime's needs the width untouched).
    """
    n, out = request.in_shape[axis], request.out_shape[axis]
    dodge = out == n
    drop = ("axes", "keep_aspect_ratio_policy", "scales")
    if dodge:
        drop += ("antialias",) + (("exclude_outside",) if request.mode == "linear" else ())
    attrs = {k: v for k, v in node.attrs.items() if k not in drop}
    width = 2 if dodge else 1
    scales = np.array([1, 1, request.scales[axis], width], np.float32)
    inits, names = [], ["x"]

    def constant(name: str, value: np.ndarray) -> str:
        inits.append(onnx.numpy_helper.from_array(value, name))
        return name

    if node.op == "Upsample" and "scales" in node.attrs:  # Upsample-7/8
        attrs["scales"] = [float(s) for s in scales]
    elif node.op == "Upsample" or len(node.inputs) == 2:  # Upsample-9, Resize-10
        names.append(constant("scales", scales))
    else:
        start, end = request.roi[axis]
        roi = np.array([0, 0, start, 0, 1, 1, end, 1], np.float32)
        names.append(constant("roi", roi if request.transform == "tf_crop_and_resize" else roi[:0]))
        if request.from_sizes:
            sizes = np.array([1, n, out, width], np.int64)
            names += [constant("scales", scales[:0]), constant("sizes", sizes)]
        else:
            names.append(constant("scales", scales))
    graph = helper.make_graph(
        [helper.make_node(node.op, names, ["y"], **attrs)],
        "probe",
        [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1, n, n, 1])],
        [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, None)],
        inits,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], ir_version=8)


def interpolation_matrix(node: gs.Node, request: ResizeRequest, axis: int, opset: int) -> np.ndarray:
    """A [out, in] with resize_1d(v) = A @ v along ``axis``: the node's own 1-D resize, run by
    onnxruntime on the identity. ConversionError if onnxruntime refuses it or it is not linear."""
    from bridgec.core.runtimes import run_model

    n, out = request.in_shape[axis], request.out_shape[axis]
    model = _probe_model(node, request, axis, opset)
    probe = np.eye(n, dtype=np.float32).reshape(1, n, n, 1)
    y = run_model(model, {"x": probe})["y"]
    if y.shape[:3] != (1, n, out):
        raise ConversionError(f"the 1-D resize along axis {axis} gives {y.shape[2]} pixels, not {out}")
    # tf_crop_and_resize: points outside the roi become extrapolation_value, affine unless that is 0
    if request.transform == "tf_crop_and_resize" and np.any(
        run_model(model, {"x": np.zeros_like(probe)})["y"]
    ):
        raise ConversionError("tf_crop_and_resize extrapolates outside the roi (affine, not a matrix)")
    return y[0, :, :, 0].T.astype(np.float32)


def _plan(node: gs.Node, opset: int) -> dict[int, np.ndarray] | str:
    """Axis -> interpolation matrix for every axis the node changes, or why it cannot be lowered."""
    request = read(node)
    if isinstance(request, str):
        return request
    plan = {}
    for axis in request.resized():
        n, out = request.in_shape[axis], request.out_shape[axis]
        if n > MAX_AXIS or n * out > MAX_MATRIX:
            return f"axis {axis} ({n} -> {out}) needs a matrix beyond the limit ({MAX_AXIS} px, {MAX_MATRIX} elements)"
        try:
            matrix = interpolation_matrix(node, request, axis, opset)
        except ConversionError as exc:
            return str(exc)
        if matrix.shape[0] == matrix.shape[1] and np.array_equal(matrix, np.eye(n, dtype=np.float32)):
            continue
        plan[axis] = matrix
    return plan


def _apply(op: Builder, x: gs.Tensor, rank: int, plan: dict[int, np.ndarray]) -> gs.Tensor:
    """x with each axis' matrix applied: the last axis from the right, the one before from the left
    (MatMul broadcasts a 2-D operand over the leading axes), any other moved last and back."""
    for axis in sorted(plan, reverse=True):
        matrix = plan[axis]
        if axis == rank - 1:
            x = op.MatMul(x, op.const(matrix.T))
        elif axis == rank - 2:
            x = op.MatMul(op.const(matrix), x)
        else:
            perm = list(range(rank))
            perm[axis], perm[-1] = perm[-1], perm[axis]  # a swap is its own inverse
            x = op.Transpose(op.MatMul(op.Transpose(x, perm=perm), op.const(matrix.T)), perm=perm)
    return x


@register
class LowerResize(Pass):
    """Lower a Resize/Upsample the target refuses: y = A_h @ x @ A_w^T, a MatMul per resized axis."""

    id = "lower::resize"
    plan_by_trial = True
    after = ("cleanup::fold_constants",)  # sizes computed from Shape are constants by then

    @classmethod
    def explain(cls) -> list[str]:
        return [f"{RULE}: {IDENTITY}"]

    def may_rewrite(self, graph: gs.Graph, capabilities: Capabilities) -> bool:
        return any(ir.op_key(n) in OPS and capabilities.unsupported_reason(n) for n in graph.nodes)

    def call(self, graph: gs.Graph, ctx: PassContext) -> PassResult:
        key = f"{self.id}/{RULE}"
        opset = ir.default_opset(graph)
        hits, miss = 0, None
        removed: set[int] = set()
        for node in [n for n in graph.nodes if ir.op_key(n) in OPS]:
            if ctx.capabilities.unsupported_reason(node) is None:
                miss = _closer(miss, NearMiss(node.name, 1, "the target runs it as it is"))
                continue
            if legalises(node, graph, ctx.capabilities):  # a rank-1/2 resize the target takes as rank 4
                miss = _closer(miss, NearMiss(node.name, 1, "lower::resize_rank resizes it as rank 4"))
                continue
            plan = _plan(node, opset)
            if isinstance(plan, str):
                miss = _closer(miss, NearMiss(node.name, 1, plan))
                continue
            builder = Builder(graph, node, RULE)
            y = _apply(builder, node.inputs[0], len(node.inputs[0].shape), plan)
            lacking = [(n.op, ctx.capabilities.unsupported_reason(n)) for n in builder.nodes]
            lacking = [(op, why) for op, why in lacking if why]
            if lacking:
                builder.discard()
                miss = _closer(miss, NearMiss(node.name, 1, f"target lacks {lacking[0][0]}: {lacking[0][1]}"))
                continue
            because = ctx.capabilities.unsupported_reason(node) or ""
            builder.commit([y], [node])
            ctx.applied(self.id, RULE, [node], node, builder.nodes, because)
            removed.add(id(node))
            hits += 1
        ctx.tally(key, hits, miss)
        if hits:
            drop_nodes(graph, removed)
        return PassResult(graph, bool(hits))


def _closer(old: NearMiss | None, new: NearMiss) -> NearMiss:
    """The near miss to report: why a node the target refuses was not lowered beats "runs it"."""
    return old if old is not None and new.reason == "the target runs it as it is" else new
