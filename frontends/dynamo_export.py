"""The dynamo exporter (``torch.onnx.export(dynamo=True)``) with the kept ops: onnxscript
translations that make, from the aten ops, the same bridgec nodes the TorchScript symbolics make.
"""

from __future__ import annotations

import contextlib
import io
import logging
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import onnx

from bridgec.core import ir, ops
from bridgec.frontends.attention import dynamo_translations as attention_translations

_ATTR_TYPES = {"float": "FLOAT", "string": "STRING"}
_FLOATS = ["tensor(float)", "tensor(float16)", "tensor(double)"]


@contextlib.contextmanager
def bridgec_schemas() -> Iterator[None]:
    """Register ONNX schemas for the bridgec ops while the dynamo exporter builds nodes of them.

    onnxscript refuses ops without a schema. Registered only for the export: elsewhere the ops are
    defined by their ONNX functions, which shape inference must keep using.
    """
    from onnx.defs import OpSchema

    registered = []
    try:
        for op, attrs in ir.BRIDGEC_OPS.items():
            with contextlib.suppress(onnx.defs.SchemaError):
                onnx.defs.get_schema(op, ir.BRIDGEC_OPSET, ir.BRIDGEC_DOMAIN)
                continue  # already there (someone else registered it): leave it alone
            names = ops.get(op).inputs
            # the first input's type is the output's; the others (attention's key, value, mask) any
            # float type, a mask bool too, and those past the first three (the mask) optional
            optional = OpSchema.FormalParameterOption.Optional
            schema = OpSchema(
                op,
                ir.BRIDGEC_DOMAIN,
                ir.BRIDGEC_OPSET,
                inputs=[
                    OpSchema.FormalParameter(
                        name, "T" if i == 0 else f"T{i}", **({"param_option": optional} if i >= 3 else {})
                    )
                    for i, name in enumerate(names)
                ],
                outputs=[OpSchema.FormalParameter("y", "T")],
                type_constraints=[("T", _FLOATS, "")]
                + [(f"T{i}", [*_FLOATS, "tensor(bool)"], "") for i in range(1, len(names))],
                attributes=[
                    OpSchema.Attribute(name, getattr(OpSchema.AttrType, _ATTR_TYPES[kind]), "")
                    for name, kind in attrs.items()
                ],
            )
            onnx.defs.register_schema(schema)
            registered.append(op)
        yield
    finally:
        for op in registered:
            onnx.defs.deregister_schema(op, ir.BRIDGEC_OPSET, ir.BRIDGEC_DOMAIN)


def dynamo_translations() -> dict[Callable, Callable]:
    """aten op -> onnxscript function making the same bridgec node the TorchScript symbolics make."""
    import onnxscript
    import torch

    bc = onnxscript.values.Opset(ir.BRIDGEC_DOMAIN, ir.BRIDGEC_OPSET)
    aten = torch.ops.aten

    def hardtanh(self, min_val: float = -1.0, max_val: float = 1.0):
        return bc.HardTanh(self, min_value=float(min_val), max_value=float(max_val))

    def hardswish(self):
        return bc.HardSwish(self)

    def hardsigmoid(self):
        return bc.HardSigmoid(self, **ops.aten_node("hardsigmoid")[1])

    def gelu(self, approximate: str = "none"):
        return bc.Gelu(self, approximate=approximate)

    def silu(self):
        return bc.Silu(self)

    def mish(self):
        return bc.Mish(self)

    def elu(self, alpha: float = 1.0, scale: float = 1.0, input_scale: float = 1.0):
        # torch.export decomposes selu to elu(x, alpha, scale, 1) and celu to elu(x, a, 1, 1/a)
        alpha, scale, input_scale = float(alpha), float(scale), float(input_scale)
        if scale == 1.0 and input_scale == 1.0:
            return bc.Elu(self, alpha=alpha)
        if input_scale == 1.0:
            return bc.Selu(self, alpha=alpha, gamma=scale)
        if scale == 1.0 and np.isclose(alpha * input_scale, 1.0, rtol=1e-6, atol=0):
            return bc.Celu(self, alpha=alpha)
        raise ValueError(f"elu with scale {scale} and input_scale {input_scale} has no bridgec form")

    def softplus(self, beta: float = 1.0, threshold: float = 20.0):
        return bc.Softplus(self, beta=float(beta), threshold=float(threshold))

    def leaky_relu(self, negative_slope: float = 0.01):
        return bc.LeakyRelu(self, alpha=float(negative_slope))

    table = {
        aten.hardtanh.default: hardtanh,
        aten.hardswish.default: hardswish,
        aten.hardsigmoid.default: hardsigmoid,
        aten.gelu.default: gelu,
        aten.silu.default: silu,
        aten.mish.default: mish,
        aten.elu.default: elu,
        aten.softplus.default: softplus,
        aten.leaky_relu.default: leaky_relu,
    }
    # ops torch.export may keep whole instead of decomposing them to the ones above
    table[aten.relu6.default] = lambda self: bc.HardTanh(self, **ops.aten_node("relu6")[1])
    table[aten.selu.default] = lambda self: bc.Selu(self, **ops.aten_node("selu")[1])
    table[aten.celu.default] = lambda self, alpha=1.0: bc.Celu(self, alpha=float(alpha))
    table.update(attention_translations(bc))
    return table


def export_dynamo(
    module: Any, args: tuple, inputs: list[str], outputs: list[str], flat: bool, result: Any
) -> onnx.ModelProto:
    """``module`` (a module, a ScriptModule or a torch.export program) called with ``args`` as an
    ONNX model; ``flat`` and ``result`` are unused: torch.export flattens dict and nested outputs
    itself, and traces rather than runs."""
    import torch

    logging.getLogger("torch.onnx").setLevel(logging.ERROR)
    # onnx.reference (imported by onnxscript's optimizer) indexes every schema by name when first
    # imported and refuses two domains with one op name: import it before the bridgec schemas exist.
    import onnx.reference  # noqa: F401
    import onnxscript  # noqa: F401

    translations = dynamo_translations()
    if isinstance(module, torch.jit.ScriptModule):
        # The dynamo exporter takes no ScriptModule; torch's TorchScript -> torch.export converter
        # (private, but the documented suggestion of the exporter's own error) bridges it.
        from torch._export.converter import TS2EPConverter

        with warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO()):
            warnings.simplefilter("ignore")
            module = TS2EPConverter(module, args).convert()
    with warnings.catch_warnings(), bridgec_schemas(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        program = torch.onnx.export(
            module,
            args,
            dynamo=True,
            opset_version=18,  # torchlib's own opset: lower ones go through a lossy down-conversion
            input_names=inputs,
            output_names=outputs,
            custom_translation_table=translations,
            optimize=True,
            verbose=False,
        )
    model = program.model_proto
    # The translations never declared the bridgec domain's version in the model: do it here.
    if not any(imp.domain == ir.BRIDGEC_DOMAIN for imp in model.opset_import):
        model.opset_import.append(onnx.helper.make_opsetid(ir.BRIDGEC_DOMAIN, ir.BRIDGEC_OPSET))
    return model


__all__ = ["bridgec_schemas", "dynamo_translations", "export_dynamo"]
