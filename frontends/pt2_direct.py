"""A torch.export program written as ONNX node by node: the ``direct`` exporter.

A saved program's graph is already what an exporter would trace: aten calls on tensors of fixed
sizes. torch's exporters get there the long way, ``ep.module()`` traced into TorchScript and that
exported (0.7 s of resnet50's conversion), or dynamo's decompositions and onnxscript's optimiser
(6 s of vit_b_16's). Here each aten call of a known op becomes the ONNX node(s) the TorchScript
exporter writes for it (``Conv`` with its ``BatchNormalization`` folded in, ``Gemm`` for a linear
layer of a matrix) and each kept op (``bridgec.core.ops``, ``OpDecl.aten``) its bridgec node. A
program with anything else (an op not in ``translations()``, a size left free, an in-place write
someone else could see) is refused with the reason (``Refused``) and goes to the next exporter; what
is written is checked against PyTorch like every conversion.

Where each translation's semantics come from: the aten op's schema (``OpOverload._schema``: argument
names and defaults, read at run time rather than restated) and torch's documentation of the op; the
node's from the ONNX operator specification at opset 17 (the TorchScript exporter's, so the passes
see the nodes they see from it).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import onnx
from onnx import helper, numpy_helper

from bridgec.core import ir, layout, ops
from bridgec.core.words import plural
from bridgec.frontends import attention

# The ONNX opset bridgec's exporters write (this one and the TorchScript exporter,
# frontends/pytorch_export.py): the passes see the same nodes from either.
EXPORT_OPSET = 17


class Refused(Exception):
    """The program holds something this exporter does not write; the next exporter takes it."""


# aten ops whose output may share memory with their first input: an in-place write into one of them
# would show through the other (view semantics), which a dataflow graph cannot hold
ALIASING = {
    "view", "reshape", "_unsafe_view", "flatten", "unflatten", "permute", "transpose", "t", "expand",
    "select", "slice", "squeeze", "unsqueeze", "alias", "detach", "contiguous", "dropout", "dropout_",
    "clone",
}  # fmt: skip
# (clone copies, but is kept here: one rule for "its value is its input's")


class _Writer:
    """The ONNX graph being written: values by FX node, nodes, initializers, unique names."""

    def __init__(self, inputs: list[str], outputs: list[str]) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.values: dict[str, str] = {}  # FX node name -> ONNX value name
        self.constants: dict[str, np.ndarray] = {}  # ONNX value name -> its value (weights)
        self.taken: set[str] = set(inputs) | set(outputs)
        self.produced: dict[str, onnx.NodeProto] = {}  # ONNX value name -> the node making it
        self.scope = ""  # the module path of the call being written ("layer1.0.conv1")
        self.node_names: set[str] = set()

    def name(self, wanted: str) -> str:
        # A value is named after its FX node, what a node adds after it with a "/" (``linear/matmul``):
        # onnxruntime's Gather-to-Split fusion names the initializer it makes "<squeeze>_axes" without
        # looking, and refuses the model when one exists already.
        name, n = wanted, 1
        while name in self.taken:
            name, n = f"{wanted}_{n}", n + 1
        self.taken.add(name)
        return name

    def constant(self, value: np.ndarray, wanted: str) -> str:
        name = self.name(wanted)
        self.constants[name] = value
        return name

    def add_initializers(self, graph: onnx.GraphProto, apart: dict[str, np.ndarray] | None = None) -> None:
        """The constants some node reads (a batch norm folded into its Conv leaves the originals),
        made in ``graph``: ``from_array``'s tensor, without building it apart and then copying it in
        (330 MB of weights twice over for a vision transformer). With ``apart``, the large float
        ones go there instead, each declared a graph input of its type and shape
        (``ir.without_large_weights``'s form; ``ir.restore_weights`` makes them constants again)."""
        read = {value for made in self.nodes for value in made.input}
        for name, value in self.constants.items():
            if name not in read:
                continue
            if apart is not None and ir.is_large_weight(value):
                apart[name] = value
                graph.input.append(
                    helper.make_tensor_value_info(
                        name, helper.np_dtype_to_tensor_dtype(value.dtype), list(value.shape)
                    )
                )
                continue
            tensor = graph.initializer.add()
            if value.dtype.kind in "fiub" and value.dtype.byteorder != ">":
                tensor.name = name
                tensor.dims.extend(value.shape)
                tensor.data_type = helper.np_dtype_to_tensor_dtype(value.dtype)
                tensor.raw_data = layout.contiguous(value).tobytes()  # C order, as from_array writes it
            else:
                tensor.CopyFrom(numpy_helper.from_array(np.ascontiguousarray(value), name))

    def ints(self, values: Any, wanted: str) -> str:
        return self.constant(np.asarray(values, dtype=np.int64), wanted)

    def node(self, op: str, inputs: list[str], wanted: str, domain: str = "", **attrs: Any) -> str:
        out = self.name(wanted)
        # named as TorchScript's exporter names nodes, by module path: errors and reports say
        # "/layer1/0/conv1/Conv", which the user can find in the model
        base = f"/{self.scope.replace('.', '/')}/{op}" if self.scope else f"/{op}"
        label, n = base, 1
        while label in self.node_names:
            label, n = f"{base}_{n}", n + 1
        self.node_names.add(label)
        made = helper.make_node(op, inputs, [out], name=label, domain=domain, **attrs)
        self.nodes.append(made)
        self.produced[out] = made
        return out

    def value(self, arg: Any) -> str:
        if arg is None:
            return ""
        if not hasattr(arg, "op"):
            raise Refused(f"a tensor argument {arg!r} that is not a graph value")
        return self.values[arg.name]


# --- argument reading ---------------------------------------------------------------------------


def _arguments(node: Any) -> dict[str, Any]:
    """``node``'s arguments by schema name, defaults filled in."""
    schema = node.target._schema
    given: dict[str, Any] = {}
    for i, arg in enumerate(schema.arguments):
        if i < len(node.args):
            given[arg.name] = node.args[i]
        elif arg.name in node.kwargs:
            given[arg.name] = node.kwargs[arg.name]
        elif arg.has_default_value():
            given[arg.name] = arg.default_value
        elif not arg.kwarg_only:
            raise Refused(f"{node.target} without its argument {arg.name}")
    return given


def _val(node: Any) -> Any:
    val = node.meta.get("val")
    if val is None or not hasattr(val, "shape"):
        raise Refused(f"{node.name} ({node.target}) has no recorded tensor value")
    if not all(isinstance(d, int) for d in val.shape):
        raise Refused(f"{node.name} has sizes left free")
    return val


def _shape(node: Any) -> list[int]:
    return [int(d) for d in _val(node).shape]


def _rank(node: Any) -> int:
    return len(_val(node).shape)


def _np_dtype(node: Any) -> np.dtype:
    import torch

    dtype = _val(node).dtype
    try:
        return torch.empty((), dtype=dtype).numpy().dtype
    except TypeError:  # bfloat16 and the like
        raise Refused(f"{node.name} is of {dtype}, which numpy has no type for") from None


def _axis(dim: int, rank: int) -> int:
    return dim + rank if dim < 0 else dim


def _pair(values: Any, rank: int) -> list[int]:
    values = [int(v) for v in (values if isinstance(values, (list, tuple)) else [values])]
    return values * rank if len(values) == 1 else values


# --- translations: (writer, FX node, its arguments) -> the ONNX value of the node ---------------


def _conv(w: _Writer, node: Any, a: dict) -> str:
    if a.get("transposed"):  # aten._convolution, what a traced module records
        raise Refused(f"{node.target} transposed")
    spatial = _rank(node) - 2
    if isinstance(a["padding"], str):
        raise Refused(f"{node.target} with padding={a['padding']!r}")
    pads = _pair(a["padding"], spatial)
    inputs = [w.value(a["input"]), w.value(a["weight"])]
    if a["bias"] is not None:
        inputs.append(w.value(a["bias"]))
    kernel = _shape(a["weight"])[2:]
    return w.node(
        "Conv",
        inputs,
        node.name,
        kernel_shape=kernel,
        strides=_pair(a["stride"], spatial),
        pads=pads + pads,
        dilations=_pair(a["dilation"], spatial),
        group=int(a["groups"]),
    )


def _batch_norm(w: _Writer, node: Any, a: dict) -> str:
    if a["training"]:
        raise Refused("batch_norm in training mode (batch statistics)")
    if a["running_mean"] is None or a["running_var"] is None:
        raise Refused("batch_norm without running statistics")
    channels = _shape(node)[1]
    dtype = _np_dtype(node)
    params = []
    for key, fill in (("weight", 1.0), ("bias", 0.0), ("running_mean", None), ("running_var", None)):
        params.append(
            w.value(a[key])
            if a[key] is not None
            else w.constant(np.full(channels, fill, dtype), f"{node.name}/{key}")
        )
    eps = float(a["eps"])
    folded = _fold_into_conv(w, a["input"], params, eps)
    if folded is not None:
        return folded
    return w.node("BatchNormalization", [w.value(a["input"]), *params], node.name, epsilon=eps)


def _fold_into_conv(w: _Writer, source: Any, params: list[str], eps: float) -> str | None:
    """The TorchScript exporter's eval-mode fusion (``_jit_pass_onnx_eval_peephole``, computed as
    ``torch.nn.utils.fusion.fuse_conv_bn_weights``): a Conv of constant weights whose only reader is
    this batch norm absorbs it, W' = W * g / sqrt(v + eps), b' = (b - m) * g / sqrt(v + eps) + beta."""
    import torch

    if _packet(source) not in ("conv1d", "conv2d", "conv3d", "_convolution") or len(source.users) != 1:
        return None  # (an alias of a conv, dropout's, could hide the conv's other readers)
    conv = w.produced[w.values[source.name]]
    if not all(p in w.constants for p in [*conv.input[1:], *params]):
        return None
    gamma, beta, mean, var = (torch.from_numpy(w.constants[p]) for p in params)
    weight = torch.from_numpy(w.constants[conv.input[1]])
    bias = torch.from_numpy(w.constants[conv.input[2]]) if len(conv.input) > 2 else torch.zeros_like(mean)
    scale = gamma * torch.rsqrt(var + eps)
    fused_w = (weight * scale.reshape([-1] + [1] * (weight.dim() - 1))).to(weight.dtype)
    fused_b = ((bias - mean) * scale + beta).to(weight.dtype)
    del conv.input[1:]
    conv.input.append(w.constant(fused_w.numpy(), f"{conv.output[0]}/weight"))
    conv.input.append(w.constant(fused_b.numpy(), f"{conv.output[0]}/bias"))
    return conv.output[0]


def _unary(op: str) -> Callable:
    return lambda w, node, a: w.node(op, [w.value(a["self"])], node.name)


def _binary(op: str) -> Callable:
    def translate(w: _Writer, node: Any, a: dict) -> str:
        if a.get("alpha", 1) != 1:
            raise Refused(f"{node.target} with alpha={a['alpha']}")
        values = []
        for key in ("self", "other"):
            arg = a[key]
            if hasattr(arg, "op"):
                if _np_dtype(arg) != _np_dtype(node):
                    raise Refused(f"{node.target} of {_np_dtype(arg)} into {_np_dtype(node)}")
                values.append(w.value(arg))
            else:  # a Python number: a constant of the result's type, as torch promotes it
                values.append(w.constant(np.asarray(arg, dtype=_np_dtype(node)), f"{node.name}/{key}"))
        return w.node(op, values, node.name)

    return translate


def _alias(w: _Writer, node: Any, a: dict) -> str:
    if a.get("train"):
        raise Refused(f"{node.target} in training mode (random)")
    return w.value(a["self"] if "self" in a else a["input"])


def _reshape(w: _Writer, node: Any, a: dict) -> str:
    return w.node("Reshape", [w.value(a["self"]), w.ints(_shape(node), f"{node.name}/shape")], node.name)


def _permute(w: _Writer, node: Any, a: dict) -> str:
    rank = _rank(node)
    return w.node("Transpose", [w.value(a["self"])], node.name, perm=[_axis(int(d), rank) for d in a["dims"]])


def _transpose(w: _Writer, node: Any, a: dict) -> str:
    rank = _rank(node)
    perm = list(range(rank))
    if rank >= 2:
        first, second = _axis(int(a.get("dim0", 0)), rank), _axis(int(a.get("dim1", 1)), rank)
        perm[first], perm[second] = perm[second], perm[first]
    return w.node("Transpose", [w.value(a["self"])], node.name, perm=perm)


def _expand(w: _Writer, node: Any, a: dict) -> str:
    return w.node("Expand", [w.value(a["self"]), w.ints(_shape(node), f"{node.name}/shape")], node.name)


def _cat(w: _Writer, node: Any, a: dict) -> str:
    parts = [t for t in a["tensors"] if _shape(t) != [0]]  # torch skips empty 1-D tensors
    axis = _axis(int(a["dim"]), _rank(node))
    return w.node("Concat", [w.value(t) for t in parts], node.name, axis=axis)


def _layer_norm(w: _Writer, node: Any, a: dict) -> str:
    size = [int(d) for d in a["normalized_shape"]]
    dtype = _np_dtype(node)
    scale = (
        w.value(a["weight"])
        if a["weight"] is not None
        else w.constant(np.ones(size, dtype), f"{node.name}/w")
    )
    bias = (
        w.value(a["bias"]) if a["bias"] is not None else w.constant(np.zeros(size, dtype), f"{node.name}/b")
    )
    return w.node(
        "LayerNormalization",
        [w.value(a["input"]), scale, bias],
        node.name,
        axis=-len(size),
        epsilon=float(a["eps"]),
    )


def _linear(w: _Writer, node: Any, a: dict) -> str:
    x, weight, bias = a["input"], a["weight"], a["bias"]
    name = w.value(weight)
    if _rank(x) == 2:
        inputs = [w.value(x), name] + ([w.value(bias)] if bias is not None else [])
        return w.node("Gemm", inputs, node.name, transB=1)
    # a batch of matrices: MatMul by the transposed weight (folded, as the exporter's constant
    # folding does), then the bias. The fold is a view of the weight: the ML Program emitter hands
    # it on as the weight it is (no copy), and a model written whole lays it out.
    if name in w.constants:
        transposed = w.constant(w.constants[name].T, f"{node.name}/weight_t")
    else:
        transposed = w.node("Transpose", [name], f"{node.name}/weight_t", perm=[1, 0])
    if bias is None:
        return w.node("MatMul", [w.value(x), transposed], node.name)
    product = w.node("MatMul", [w.value(x), transposed], f"{node.name}/matmul")
    return w.node("Add", [product, w.value(bias)], node.name)


def _matmul(w: _Writer, node: Any, a: dict) -> str:
    return w.node(
        "MatMul", [w.value(a["self"]), w.value(a["other"] if "other" in a else a["mat2"])], node.name
    )


def _unsqueeze(w: _Writer, node: Any, a: dict) -> str:
    axis = _axis(int(a["dim"]), _rank(node))
    return w.node("Unsqueeze", [w.value(a["self"]), w.ints([axis], f"{node.name}/axes")], node.name)


def _squeeze(w: _Writer, node: Any, a: dict) -> str:
    shape = _shape(a["self"])
    dims = a.get("dim", a.get("dims"))
    if dims is None:
        dims = range(len(shape))
    elif not isinstance(dims, (list, tuple)):
        dims = [dims]
    axes = sorted({_axis(int(d), len(shape)) for d in dims if shape[_axis(int(d), len(shape))] == 1})
    if not axes:  # torch leaves a dimension that is not 1 as it is
        return w.value(a["self"])
    return w.node("Squeeze", [w.value(a["self"]), w.ints(axes, f"{node.name}/axes")], node.name)


def _select(w: _Writer, node: Any, a: dict) -> str:
    shape = _shape(a["self"])
    axis = _axis(int(a["dim"]), len(shape))
    index = int(a["index"])
    index = index + shape[axis] if index < 0 else index
    return w.node("Gather", [w.value(a["self"]), w.ints(index, f"{node.name}/index")], node.name, axis=axis)


def _slice(w: _Writer, node: Any, a: dict) -> str:
    shape = _shape(a["self"])
    axis = _axis(int(a["dim"]), len(shape))
    size, step = shape[axis], int(a["step"])
    if step < 1:
        raise Refused(f"slice with step {step}")
    start = 0 if a["start"] is None else int(a["start"])
    end = size if a["end"] is None else int(a["end"])
    start, end = (min(max(v + size if v < 0 else v, 0), size) for v in (start, end))
    bounds = [w.ints([v], f"{node.name}/{k}") for k, v in (("starts", start), ("ends", end), ("axes", axis))]
    return w.node("Slice", [w.value(a["self"]), *bounds, w.ints([step], f"{node.name}/steps")], node.name)


def _softmax(w: _Writer, node: Any, a: dict) -> str:
    if a.get("dtype") is not None or a.get("half_to_float"):
        raise Refused(f"{node.target} with a dtype")
    return w.node("Softmax", [w.value(a["self"])], node.name, axis=_axis(int(a["dim"]), _rank(node)))


def _mean(w: _Writer, node: Any, a: dict) -> str:
    if a.get("dtype") is not None:
        raise Refused(f"{node.target} with a dtype")
    rank = _rank(a["self"])
    dims = a["dim"] if a["dim"] else range(rank)
    axes = sorted({_axis(int(d), rank) for d in dims})
    return w.node("ReduceMean", [w.value(a["self"])], node.name, axes=axes, keepdims=int(bool(a["keepdim"])))


def _adaptive_avg_pool(w: _Writer, node: Any, a: dict) -> str:
    if any(int(s) != 1 for s in a["output_size"]):
        raise Refused(f"adaptive_avg_pool2d to {list(a['output_size'])}")
    return w.node("GlobalAveragePool", [w.value(a["self"])], node.name)


def _pool(op: str) -> Callable:
    """max_pool2d / avg_pool2d: one window layout; what only one of them has is read by name."""

    def translate(w: _Writer, node: Any, a: dict) -> str:
        if a.get("divisor_override") is not None:
            raise Refused(f"{node.target} with divisor_override")
        spatial = _rank(node) - 2
        kernel = _pair(a["kernel_size"], spatial)
        pads = _pair(a["padding"], spatial)
        extra = {"dilations": _pair(a["dilation"], spatial)} if "dilation" in a else {}
        if "count_include_pad" in a:
            extra["count_include_pad"] = int(bool(a["count_include_pad"]))
        return w.node(
            op,
            [w.value(a["self"])],
            node.name,
            kernel_shape=kernel,
            strides=_pair(a["stride"], spatial) if a["stride"] else kernel,
            pads=pads + pads,
            ceil_mode=int(bool(a["ceil_mode"])),
            **extra,
        )

    return translate


def _attention(w: _Writer, node: Any, a: dict) -> str:
    query, key, value, mask = a["query"], a["key"], a["value"], a["attn_mask"]
    if a["dropout_p"]:
        raise attention.dropout_refused(a["dropout_p"])
    shapes = [_shape(t) for t in (query, key, value)]
    if any(len(s) != attention.RANK for s in shapes):
        raise Refused("scaled_dot_product_attention of another rank than 4")
    if shapes[0][1] != shapes[1][1]:
        raise Refused("scaled_dot_product_attention with grouped heads")
    kind = attention.mask_kind(bool(a["is_causal"]), None if mask is None else _np_dtype(mask) == np.bool_)
    scale = 1.0 / math.sqrt(shapes[0][-1]) if a["scale"] is None else float(a["scale"])
    inputs = [w.value(t) for t in (query, key, value)] + ([w.value(mask)] if mask is not None else [])
    return w.node(attention.OP.name, inputs, node.name, domain=ir.BRIDGEC_DOMAIN, scale=scale, mask=kind)


def _kept(decl: ops.OpDecl, form: ops.Aten) -> Callable:
    """A kept op (``OpDecl.aten``): its bridgec node, the mapped aten arguments as attributes."""
    mapped = {arg for arg, _ in form.args}

    def translate(w: _Writer, node: Any, a: dict) -> str:
        schema = {arg.name: arg for arg in node.target._schema.arguments}
        for name, value in a.items():
            if name == "self" or name in mapped:
                continue
            default = schema[name].default_value if schema[name].has_default_value() else None
            if value != default:  # an argument the declaration has no attribute for (elu's scale)
                raise Refused(f"{node.target} with {name}={value}")
        attrs = decl.aten_attrs(form, {k: v for k, v in a.items() if k in mapped})
        typed = {k: float(v) if decl.attribute(k).kind == "float" else str(v) for k, v in attrs.items()}
        return w.node(decl.name, [w.value(a["self"])], node.name, domain=decl.domain, **typed)

    return translate


def _translations() -> dict[str, Callable]:
    """aten op name (``aten.<op>.<overload>``) -> its translation."""
    table: dict[str, Callable] = {
        "aten.conv1d.default": _conv,
        "aten.conv2d.default": _conv,
        "aten.conv3d.default": _conv,
        "aten._convolution.default": _conv,
        "aten.batch_norm.default": _batch_norm,
        "aten.relu.default": _unary("Relu"),
        "aten.relu_.default": _unary("Relu"),
        "aten.sigmoid.default": _unary("Sigmoid"),
        "aten.sigmoid_.default": _unary("Sigmoid"),
        "aten.tanh.default": _unary("Tanh"),
        "aten.tanh_.default": _unary("Tanh"),
        "aten.add.Tensor": _binary("Add"),
        "aten.add_.Tensor": _binary("Add"),
        "aten.sub.Tensor": _binary("Sub"),
        "aten.mul.Tensor": _binary("Mul"),
        "aten.mul_.Tensor": _binary("Mul"),
        "aten.div.Tensor": _binary("Div"),
        "aten.dropout.default": _alias,
        "aten.dropout_.default": _alias,
        "aten.contiguous.default": _alias,
        "aten.clone.default": _alias,
        "aten.alias.default": _alias,
        "aten.detach.default": _alias,
        "aten.view.default": _reshape,
        "aten.reshape.default": _reshape,
        "aten._unsafe_view.default": _reshape,
        "aten.flatten.using_ints": _reshape,
        "aten.unflatten.int": _reshape,
        "aten.permute.default": _permute,
        "aten.transpose.int": _transpose,
        "aten.t.default": _transpose,
        "aten.expand.default": _expand,
        "aten.cat.default": _cat,
        "aten.layer_norm.default": _layer_norm,
        "aten.linear.default": _linear,
        "aten.matmul.default": _matmul,
        "aten.bmm.default": _matmul,
        "aten.mm.default": _matmul,
        "aten.unsqueeze.default": _unsqueeze,
        "aten.squeeze.dim": _squeeze,
        "aten.squeeze.dims": _squeeze,
        "aten.squeeze.default": _squeeze,
        "aten.select.int": _select,
        "aten.slice.Tensor": _slice,
        "aten.softmax.int": _softmax,
        "aten._softmax.default": _softmax,
        "aten.mean.dim": _mean,
        "aten.adaptive_avg_pool2d.default": _adaptive_avg_pool,
        "aten.max_pool2d.default": _pool("MaxPool"),
        "aten.avg_pool2d.default": _pool("AveragePool"),
        "aten.scaled_dot_product_attention.default": _attention,
    }
    for decl in ops.all_ops():
        if not decl.elementwise:
            continue
        for form in decl.aten:
            translate = _kept(decl, form)
            table[f"aten.{form.name}.default"] = translate
            if form.inplace:
                table[f"aten.{form.name}_.default"] = translate
    return table


_TABLE: dict[str, Callable] | None = None


def translations() -> dict[str, Callable]:
    global _TABLE
    if _TABLE is None:
        _TABLE = _translations()
    return _TABLE


def _scope(node: Any) -> str:
    """The module path of an FX call (``nn_module_stack``'s innermost), or of ``torchscript_direct``'s
    node (``meta["scope"]``)."""
    stack = node.meta.get("nn_module_stack")
    if stack:
        return str(list(stack.values())[-1][0])
    return node.meta.get("scope", "")


def _packet(node: Any) -> str:
    return node.target._overloadpacket.__name__ if hasattr(node.target, "_overloadpacket") else ""


def fixed_and_pure(program: Any) -> str | None:
    """Why ``program`` is not one fixed-size graph that writes nothing, or None: what both this
    exporter and the trace into TorchScript (``pytorch_export.trace_refusal``) need."""
    if program.range_constraints:
        return "it has dynamic or data-dependent sizes"
    signature = program.graph_signature
    if signature.buffers_to_mutate or signature.user_inputs_to_mutate:
        return "it writes its buffers or inputs"
    return None


def refusal(program: Any) -> str | None:
    """Why this exporter does not take ``program``, or None: checked before anything is written."""
    return fixed_and_pure(program) or nodes_refusal(program.graph.nodes)


def nodes_refusal(nodes: Any) -> str | None:
    """Why these graph nodes (FX's, or ``torchscript_direct``'s of their shape) cannot be written, or
    None: every value a tensor of fixed sizes, every call a known aten op, every in-place write safe."""
    import torch

    table = translations()
    for node in nodes:
        if node.op in ("placeholder", "call_function"):
            val = node.meta.get("val")
            if not isinstance(val, torch.Tensor) or not all(isinstance(d, int) for d in val.shape):
                return f"{node.name} is not a tensor of fixed sizes"
        if node.op != "call_function":
            continue
        if not isinstance(node.target, torch._ops.OpOverload) or str(node.target) not in table:
            return f"it calls {getattr(node.target, '__name__', node.target)}"
        packet = _packet(node)
        if packet.endswith("_") and packet != "dropout_":
            # an in-place write: a dataflow graph holds it only when nothing else can see the tensor
            # before or after (its one reader is this op, and it is no view of another)
            source = node.args[0] if node.args else None
            if (
                not hasattr(source, "op")
                or source.op != "call_function"
                or _packet(source) in ALIASING
                or len(source.users) != 1
            ):
                return f"{node.name} ({node.target}) writes into a tensor read elsewhere"
    return None


def export_direct(
    program: Any,
    args: tuple,
    inputs: list[str],
    outputs: list[str],
    flat: bool,
    result: Any,
    apart: dict[str, np.ndarray] | None = None,
) -> onnx.ModelProto:
    """``program`` (a torch.export program of fixed sizes that writes nothing) as an ONNX model with
    inputs ``inputs`` and outputs ``outputs``; ``args``, ``flat`` and ``result`` are unused (the
    program records every value's shape and dtype). ``apart``: see ``write``. Raises ``Refused``
    for what it does not take."""
    import torch

    if not isinstance(program, torch.export.ExportedProgram):
        raise Refused("the direct exporter takes a torch.export program (.pt2)")
    why = refusal(program)
    if why is not None:
        raise Refused(why)
    signature = program.graph_signature
    user_inputs = list(signature.user_inputs)
    if len(user_inputs) != len(inputs):
        raise Refused(f"{plural(user_inputs, 'program input')} for {plural(inputs, 'name')}")
    names = {
        **signature.inputs_to_parameters,
        **signature.inputs_to_buffers,
        **signature.inputs_to_lifted_tensor_constants,
    }
    weights = {}
    for node in program.graph.nodes:
        if node.op == "placeholder" and node.name in names:
            tensor = program.state_dict.get(names[node.name])
            weights[node.name] = (
                names[node.name],
                program.constants[names[node.name]] if tensor is None else tensor,
            )
        elif node.op == "output":
            results = node.args[0]
    results = list(results) if isinstance(results, (list, tuple)) else [results]
    named = dict(zip(user_inputs, inputs, strict=True))
    return write(program.graph.nodes, weights, named, results, outputs, apart)


def write(
    nodes: Any,
    weights: dict[str, tuple[str, Any]],
    inputs: dict[str, str],
    results: list,
    outputs: list[str],
    apart: dict[str, np.ndarray] | None = None,
) -> onnx.ModelProto:
    """The ONNX model of graph ``nodes`` (in order; FX's, or of their shape): placeholders are
    ``weights`` (node name -> (initializer name, tensor)) or ``inputs`` (node name -> input name),
    ``results`` the nodes whose values are ``outputs``.

    With ``apart`` (a dict, filled here), the large float weights are not copied into the model:
    they are its graph inputs after ``inputs``, their arrays (views of the tensors: read, never
    written) in ``apart``. A vision transformer's 330 MB then is not copied three times over (into
    protobuf, out of it, and transposed back by coremltools)."""
    if len(results) != len(outputs):
        raise Refused(f"{plural(results, 'program output')} for {plural(outputs, 'name')}")
    w = _Writer(list(inputs.values()), outputs)
    graph_inputs = []
    table = translations()
    for node in nodes:
        if node.op == "placeholder":
            if node.name in weights:
                fqn, tensor = weights[node.name]
                w.values[node.name] = w.constant(tensor.detach().contiguous().numpy(), fqn)
            else:
                name = inputs[node.name]
                w.values[node.name] = name
                graph_inputs.append(
                    helper.make_tensor_value_info(
                        name, helper.np_dtype_to_tensor_dtype(_np_dtype(node)), _shape(node)
                    )
                )
        elif node.op == "call_function":
            w.scope = _scope(node)
            w.values[node.name] = table[str(node.target)](w, node, _arguments(node))
    graph_outputs = []
    renamed: dict[str, str] = {}
    for fx, name in zip(results, outputs, strict=True):
        if not hasattr(fx, "op"):
            raise Refused(f"an output {fx!r} that is not a tensor")
        value = w.values[fx.name]
        made = w.produced.get(value)
        if made is not None and value not in renamed and value not in inputs.values():
            renamed[value] = name  # the node writes the output under its name
        else:  # an input, a weight or an output twice over: a copy of it
            w.nodes.append(helper.make_node("Identity", [value], [name], name=f"/{name}/Identity"))
        graph_outputs.append(
            helper.make_tensor_value_info(name, helper.np_dtype_to_tensor_dtype(_np_dtype(fx)), _shape(fx))
        )
    for made in w.nodes:
        for field in (made.input, made.output):
            for i, value in enumerate(field):
                if value in renamed:
                    field[i] = renamed[value]
    # every value's type, as torch recorded it: ONNX's inference cannot see through a bridgec op
    typed = {value: fx for fx in nodes if (value := w.values.get(fx.name)) in w.produced}
    value_info = [
        helper.make_tensor_value_info(value, helper.np_dtype_to_tensor_dtype(_np_dtype(fx)), _shape(fx))
        for value, fx in typed.items()
        if value not in renamed
    ]
    graph = helper.make_graph(w.nodes, "main_graph", graph_inputs, graph_outputs, value_info=value_info)
    opsets = [helper.make_opsetid("", EXPORT_OPSET), helper.make_opsetid(ir.BRIDGEC_DOMAIN, ir.BRIDGEC_OPSET)]
    model = helper.make_model(graph, opset_imports=opsets, producer_name="bridgec", producer_version="direct")
    model.ir_version = 8
    w.add_initializers(model.graph, apart)  # after make_model, which copies the graph it is given
    return model


__all__ = ["Refused", "export_direct", "fixed_and_pure", "nodes_refusal", "refusal", "translations", "write"]
