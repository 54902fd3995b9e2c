"""Model state (``bridgec.core.state``) as Core ML state: an ML Program for iOS18 / macOS15 or newer.

Emitted as ``ct.convert`` writes a torch model with ``states=[ct.StateType(...)]``: each state is a
function input of MIL type ``state<tensor<fp16, shape>>`` declared in the model description's
``state`` (not among its inputs), read once at the top (``read_state``, then a cast to the program's
float) and written once at the end (``coreml_update_state`` of the new value cast to fp16); the new
value is no output. Core ML holds state in float16 only (coremltools refuses other dtypes: "State
only support fp16 dtype"), so a float32 buffer is stored rounded to float16 between calls; the
check compares it with PyTorch's after every call at float16's tolerance.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import onnx_graphsurgeon as gs

from bridgec.backends.coreml.targets import Target
from bridgec.core.errors import UsageError
from bridgec.core.state import StateBuffer, state_of
from bridgec.core.words import noun

STATE_MIN_IOS = 18  # MLState: iOS 18 / macOS 15 (the read_state op is in MIL's iOS18 opset)
STATE_DTYPE = np.float16  # what Core ML state holds


def check_target(graph: gs.Graph, target: Target, format: str | None = None) -> None:
    """Refuse, in one line, a stateful graph for a target or format (default: the target's) without
    Core ML state, or a buffer whose dtype state cannot hold."""
    buffers = state_of(graph)
    if not buffers:
        return
    names = ", ".join(b.name for b in buffers)
    if (format or target.format) == "neuralnetwork":
        raise UsageError(
            f"the model writes {noun(buffers, 'buffer')} {names} (state), which only an ML Program holds; "
            "drop "
            "--format neuralnetwork (and use --target iOS18 or newer)"
        )
    if target.ios < STATE_MIN_IOS:
        raise UsageError(
            f"the model writes {noun(buffers, 'buffer')} {names} (state), which Core ML holds from iOS18 / "
            "macOS15 "
            f"(MLState); target {target.name} has none: use --target iOS18"
        )
    dtypes = {t.name: t.dtype for t in graph.inputs}
    for buffer in buffers:
        dtype = dtypes.get(buffer.input)
        if dtype is None or not np.issubdtype(np.dtype(dtype), np.floating):
            raise UsageError(
                f"buffer {buffer.name!r} is {np.dtype(dtype) if dtype is not None else 'of unknown dtype'}; "
                "Core ML state holds float16 only: keep it as a float buffer (a counter counts exactly "
                "to 2048 in float16) or pass it as an input"
            )


def is_state_input(graph: gs.Graph, name: str) -> bool:
    return any(b.input == name for b in state_of(graph))


def input_specs(mb: Any, graph: gs.Graph) -> dict[str, Any]:
    """The MIL function inputs of the states: ``state<tensor<fp16, shape>>`` each."""
    from coremltools.converters.mil.mil import types

    shapes = {t.name: t.shape for t in graph.inputs}
    return {
        b.input: mb.StateTensorSpec(shape=tuple(int(d) for d in shapes[b.input]), dtype=types.fp16)
        for b in state_of(graph)
    }


def read_states(ctx: Any, function_inputs: dict[str, Any]) -> None:
    """Read each state at the top of the program, in the graph's float dtype (float32: the
    precision pass of coremltools then keeps or drops the cast)."""
    tensors = {t.name: t for t in ctx.graph.inputs}
    for buffer in state_of(ctx.graph):
        read = ctx.mb.read_state(
            input=function_inputs[buffer.input], name=ctx.tmp_name(f"{buffer.input}_read")
        )
        ctx.set(tensors[buffer.input], ctx.mb.cast(x=read, dtype="fp32", name=ctx.tmp_name(buffer.input)))


def update_states(ctx: Any, function_inputs: dict[str, Any]) -> None:
    """Write each state's new value (the paired graph output) at the end of the program."""
    tensors = {t.name: t for t in ctx.graph.outputs}
    for buffer in state_of(ctx.graph):
        value = ctx.value(tensors[buffer.output])
        if isinstance(value, np.ndarray):  # a constant new value (the model sets the buffer)
            value = ctx.mb.const(val=value.astype(np.float32), name=ctx.tmp_name(f"{buffer.output}_const"))
        new = ctx.mb.cast(x=value, dtype="fp16", name=ctx.tmp_name(f"{buffer.output}_fp16"))
        ctx.mb.coreml_update_state(
            state=function_inputs[buffer.input], value=new, name=ctx.tmp_name(f"{buffer.input}_update")
        )


def model_outputs(graph: gs.Graph) -> list[gs.Tensor]:
    """The graph outputs the model returns: all but the states' new values."""
    written = {b.output for b in state_of(graph)}
    return [t for t in graph.outputs if t.name not in written]


def described_states(spec: Any) -> list[tuple[str, tuple[int, ...]]]:
    """(name, shape) of each state the model description declares."""
    return [(f.name, tuple(int(d) for d in f.type.stateType.arrayType.shape)) for f in spec.description.state]


__all__ = [
    "STATE_DTYPE",
    "STATE_MIN_IOS",
    "StateBuffer",
    "check_target",
    "described_states",
    "input_specs",
    "is_state_input",
    "model_outputs",
    "read_states",
    "update_states",
]
