"""TorchScript archives (``torch.jit.save``): loaded, run once, and exported to ONNX with kept ops."""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import onnx
import onnx_graphsurgeon as gs
from bridgec.frontends import onnx_file, shapes
from bridgec.frontends.kept_ops import CUSTOM_OPSETS, kept_ops_registered

from bridgec.errors import ConversionError, UsageError

EXPORT_OPSET = 17


def input_names(module) -> list[str]:
    schema = module.forward.schema
    return [arg.name for arg in schema.arguments[1:]]


def output_names(result) -> list[str]:
    """Stable names for the module's outputs: dict keys, or output / output_1 ... for tuples."""
    import torch

    if isinstance(result, torch.Tensor):
        return ["output"]
    if isinstance(result, dict):
        return [str(k) for k in result]
    if isinstance(result, (tuple, list)) and all(isinstance(t, torch.Tensor) for t in result):
        return ["output"] + [f"output_{i}" for i in range(1, len(result))]
    raise ConversionError(
        f"the model returns {type(result).__name__}; bridgec needs tensors, a tuple of "
        "tensors or a dict of tensors"
    )


def load(path: Path, given: dict[str | None, tuple[int, ...]] | None) -> gs.Graph:
    import torch

    try:
        module = torch.jit.load(str(path), map_location="cpu")
    except Exception as exc:  # noqa: BLE001 - torch raises RuntimeError subclasses with long C++ traces
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UsageError(f"{path}: not a loadable TorchScript archive: {first}") from None
    module.eval()
    names = input_names(module)
    resolved = shapes.resolve(given, names)
    missing = [n for n in names if n not in resolved]
    if missing:
        example = " ".join(f"--input {n}:1x3x224x224" for n in missing)
        raise UsageError(f"{path.name}: TorchScript archives carry no input shapes; pass {example}")
    args = tuple(torch.randn(*resolved[n]) for n in names)
    try:
        with torch.no_grad():
            result = module(*args)
    except Exception as exc:  # noqa: BLE001
        first = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        raise UsageError(
            f"{path.name}: the model does not run on inputs of shape "
            f"{', '.join(f'{n}:{resolved[n]}' for n in names)}: {first}"
        ) from None
    outputs = output_names(result)
    if isinstance(result, dict):
        # The TorchScript exporter cannot export prim::DictConstruct from an archive.
        raise ConversionError(
            f"{path.name}: the model returns a dict ({', '.join(outputs)}); bridgec reads "
            "tensor or tuple outputs from TorchScript today: return a tuple"
        )
    buffer = io.BytesIO()
    try:
        with warnings.catch_warnings(), kept_ops_registered(EXPORT_OPSET):
            warnings.simplefilter("ignore")  # exporter deprecation chatter is not the user's concern
            torch.onnx.export(
                module,
                args,
                buffer,
                dynamo=False,
                opset_version=EXPORT_OPSET,
                input_names=names,
                output_names=outputs,
                custom_opsets=CUSTOM_OPSETS,
                do_constant_folding=True,
            )
    except Exception as exc:  # noqa: BLE001
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConversionError(f"{path.name}: torch.onnx export failed: {first}") from None
    model = onnx.load_from_string(buffer.getvalue())
    return onnx_file.graph_from_model(model, path, resolved)
