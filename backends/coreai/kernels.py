"""Custom kernels for Core AI: a node kept as a custom layer becomes one ``coreai.metal4_kernel``.

``custom::tag_custom_layers`` moves a node the target lacks (``-O custom``, or ``-O lower-custom``
where no rule applies) into bridgec's custom-layer domain, as for a Core ML NeuralNetwork. For Core
ML the app supplies an ``MLCustomLayer`` (runtime_kernels/, Swift + Metal). A Core AI model instead
carries the kernel's Metal source inside the op: ``coreai.metal4_kernel(outputs, kernel_args,
threads_per_grid, threads_per_thread_group, result_shapes, kernel_source, kernel_name)``
(``_coreai_ops_gen.py``, ``Metal4KernelOp``; docs/coreai-groundwork.md §4). The source is the
second adapter of the same Metal kernel (``runtime_kernels/metal4.py``), so Core ML and Core AI run
one piece of math.

The op's attributes become rank-0 kernel arguments (``constant T&``, the Metal type of the kernel's
parameter struct), the data goes through as one flat tensor (reshaped before and after), and the
kernel name is bridgec's own, so the written file is deterministic (Apple's helper would append a
random suffix). Apple's runtime cannot run a ``metal4_kernel`` on Linux (``Unresolved symbol:
coreai.metal4_kernel (encode)``), so the conversion's check runs the model in bridgec's executor,
where this module registers the op's semantics: the kept op's numpy reference, in float16 as the
kernel computes. That the Metal source computes the same is what tests/runtime_kernels/test_metal4.py
shows, compiling it as C++ (tools/metal_linux) and comparing it with that reference.
"""

from __future__ import annotations

import math

import numpy as np
import onnx_graphsurgeon as gs

from bridgec.backends.coreai.executor.registry import OpCall, register
from bridgec.backends.coreai.ops import CoreAIEmitter, i32, static_shape, u32
from bridgec.core import ir
from bridgec.core.ops.defaults import attr
from bridgec.core.words import noun
from bridgec.runtime_kernels.catalog import KERNELS, KernelSpec
from bridgec.runtime_kernels.metal4 import Metal4Kernel, function_for, metal4_kernel

OP = "metal4_kernel"
# Threads per threadgroup (x); the grid is one thread per LANES elements, so a short tensor gets
# one partial group and the kernel's own guard covers any rounding up by the runtime.
THREADGROUP = 256
# The numpy dtype of a rank-0 argument of each Metal scalar type the adapter declares.
_SCALAR_DTYPES = {"half": np.float16, "float": np.float32}


# The report's kernel column for a custom-layer node on Core AI.
KINDS = "Metal 4 (not executable on Linux)"


def kernel_note(node: gs.Node) -> str:
    """The op report's "how" of a custom-layer node: the kernel it becomes and where its source comes from."""
    kernel = kernel_of(node)
    (source,) = KERNELS[node.op].gpu_sources
    return (
        f"{node.op} as coreai.{OP} {kernel.name} (Metal source generated from runtime_kernels/{source}; "
        "not executable on Linux)"
    )


def parameters(spec: KernelSpec, node: gs.Node) -> dict:
    """The node's values of the kernel's parameters (its attributes, as the Core ML layer gets them)."""
    return {name: attr(node, name) for name in spec.parameters}


def kernel_of(node: gs.Node) -> Metal4Kernel:
    """The Metal 4 kernel a custom-layer node becomes (which Metal function: as the Core ML adapter picks)."""
    spec = KERNELS[node.op]
    dtype = np.dtype(node.inputs[0].dtype).name
    return metal4_kernel(spec, function_for(spec, parameters(spec, node)), dtype)


def _check(node: gs.Node, target) -> str | None:
    """Restrictions: a bundled kernel (runtime_kernels/ catalog) with every parameter present and none NaN; float32 input of static shape."""
    spec = KERNELS.get(node.op)
    if spec is None:
        return (
            f"no bundled kernel for custom layer {node.op}: a Core AI model needs the kernel's Metal source"
        )
    missing = [p for p in spec.parameters if p not in node.attrs]
    if missing:
        return f"custom layer {node.op} is missing {noun(missing, 'parameter')} {missing}"
    if any(isinstance(v, float) and math.isnan(v) for v in node.attrs.values()):
        return "NaN parameter"
    dtype = node.inputs[0].dtype
    if dtype is None or np.dtype(dtype) != np.float32:
        return f"input {node.inputs[0].name!r} is {dtype}; the Core AI kernels take float32"
    if static_shape(node.inputs[0]) is None:
        return f"a Core AI custom kernel needs a static shape ({node.inputs[0].name!r} is {node.inputs[0].shape})"
    return None


def _emit(ctx, node: gs.Node) -> None:
    from coreai._compiler.ir import F32Type, RankedTensorType
    from coreai.authoring import CustomMetalKernel, Value
    from coreai.authoring.constant import constant

    spec = KERNELS[node.op]
    kernel = kernel_of(node)
    values = parameters(spec, node)
    shape = static_shape(node.inputs[0])
    count = math.prod(shape)
    threads = -(-count // kernel.lanes)
    scalars = [constant(np.asarray(values[name], _SCALAR_DTYPES[kind])) for name, kind in kernel.scalars]
    flat = ctx.ca.reshape(ctx.value(node.inputs[0]), i32([count]))
    grid = constant(u32([threads, 1, 1]))
    group = constant(u32([min(threads, THREADGROUP), 1, 1]))
    result_shape = constant(u32([count]))
    inputs = ["x", *(name for name, _ in kernel.scalars)]
    helper = CustomMetalKernel(kernel.name, inputs, ["y"], src="")
    # Apple's helper copies the operands to and from Metal buffers and builds the op; seeding its
    # signature cache with our (rank, Metal type) key makes it use our source under our name instead
    # of templating a body of its own under a random one.
    key = ((1, kernel.element), *((0, kind) for _, kind in kernel.scalars), (1, kernel.element))
    helper.kernel_cache[key] = (kernel.name, kernel.source)
    # It takes and returns raw MLIR values, as coreai-torch hands them (the facade's Value wraps one).
    raw = [v._to_mlir() for v in (flat, *scalars, grid, group, result_shape)]  # noqa: SLF001
    (out,) = helper._construct_kernel_op(  # noqa: SLF001 - what coreai-torch calls (see the groundwork)
        raw, [RankedTensorType.get([count], F32Type.get())]
    )
    ctx.set(node.outputs[0], ctx.ca.reshape(Value._from_mlir(out), i32(shape)))  # noqa: SLF001


emitters = [
    CoreAIEmitter(class_name, _emit, _check, domain=ir.CUSTOM_DOMAIN, coreai_ops=(OP, "reshape"))
    for class_name in sorted(KERNELS)
]


# ---------------------------------------------------------------------- in bridgec's Core AI executor


def _kernels_by_name() -> dict[str, tuple[KernelSpec, str]]:
    """kernel name -> (catalog entry, Metal function), for every kernel this module can write."""
    out = {}
    for spec in KERNELS.values():
        for function in spec.metal_functions:
            for dtype in METAL_DTYPES:
                out[metal4_kernel(spec, function, dtype).name] = (spec, function)
    return out


# Tensor dtypes the emitter's check lets through (the adapter itself binds more).
METAL_DTYPES = ("float32",)


@register(f"coreai.{OP}")
def execute(call: OpCall) -> np.ndarray:
    """bridgec's executor's semantics of a ``coreai.metal4_kernel`` that bridgec wrote: the kept op's
    numpy reference (the op declaration's, which the Metal source is tested against through
    tools/metal_linux), on the input rounded to float16 as the kernel computes. A kernel whose
    name or source is not bridgec's own is refused: its Metal source cannot run here."""
    name, source = call.attributes.get("kernel_name"), call.attributes.get("kernel_source")
    found = _kernels_by_name().get(name)
    if found is None:
        raise call.fail(f"kernel {name!r} is not one bridgec writes; its Metal source cannot run on Linux")
    spec, function = found
    x, *rest = call.groups()[0]
    kernel = metal4_kernel(spec, function, x.dtype.name)
    if source != kernel.source:
        raise call.fail(f"kernel {name!r} carries Metal source other than bridgec's generated one")
    values = {p: float(np.asarray(v)) for (p, _), v in zip(kernel.scalars, rest, strict=True)}
    for parameter, choices in spec.choices.items():  # the function stands for the string parameter
        values[parameter] = choices[spec.metal_functions.index(function)]
    with np.errstate(all="ignore"):
        y = spec.reference(x.astype(np.float16), **values)
    (shape, dtype) = call.results[0]
    return np.asarray(y).astype(dtype).reshape(shape)
