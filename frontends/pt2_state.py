"""Buffers a model writes on each call (a KV cache, a running statistic) as explicit state.

torch.onnx's dynamo exporter keeps only a program's USER_OUTPUTs: a buffer the forward writes
(``ep.graph_signature.buffers_to_mutate``) becomes an initializer frozen at its value at export time,
and the write is dropped without a word. So a ``.pt2`` whose forward writes buffers is rewritten
before the export into a pure program: each written buffer an input (its current value) and an
extra output (its new value), recorded as a ``bridgec.core.state.StateBuffer`` on the graph.

Only torch.export records what a forward writes; for any other PyTorch form a write is found by
running the model once and comparing its buffers, and refused (``BufferWatch``).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from bridgec.core.errors import ConversionError, UsageError
from bridgec.core.state import StateBuffer
from bridgec.core.words import noun


@dataclass
class PyTorchState:
    """What runs the source model with state: the original program on a copy of its buffers."""

    program: Any  # the ExportedProgram as loaded (its buffers written on every call)
    user_inputs: list[str]
    buffers: tuple[StateBuffer, ...]
    initial: dict[str, np.ndarray]  # state (graph input) name -> the buffer's registered value

    def run_calls(
        self, calls: Sequence[dict[str, np.ndarray]]
    ) -> list[tuple[dict[str, np.ndarray], dict[str, np.ndarray]]]:
        """Run the program once per entry of ``calls`` (user input feeds) on one copy of its buffers,
        from their registered values; after each call, its outputs by graph output name and the
        buffers by state name."""
        import torch

        from bridgec.frontends.pytorch_export import flatten_outputs

        module = self.program.module()  # its buffers share storage with the program's: replaced below
        for buffer in self.buffers:
            _set_buffer(module, buffer.name, torch.from_numpy(self.initial[buffer.input].copy()))
        results = []
        with torch.no_grad():
            for feeds in calls:
                out = module(*(torch.from_numpy(np.ascontiguousarray(feeds[n])) for n in self.user_inputs))
                names, tensors = flatten_outputs(out, self.user_inputs)  # named as ``stateful`` named them
                outputs = {n: t.detach().numpy().copy() for n, t in zip(names, tensors, strict=True)}
                held = dict(module.named_buffers())
                state = {b.input: held[b.name].detach().numpy().copy() for b in self.buffers}
                results.append((outputs, state))
        return results


def _set_buffer(module: Any, name: str, value: Any) -> None:
    owner, _, leaf = name.rpartition(".")
    target = module.get_submodule(owner) if owner else module
    target._buffers[leaf] = value  # noqa: SLF001 - register_buffer refuses dotted names, this is its store


def written_buffers(program: Any) -> list[str]:
    """The buffers ``program``'s forward writes, in the order it lists its buffers. Refuses a forward
    that writes one of its inputs (Core ML inputs are read-only)."""
    signature = program.graph_signature
    if not signature.buffers_to_mutate and not signature.user_inputs_to_mutate:
        if not any(_writes_placeholder(node) for node in program.graph.nodes):
            return []  # no in-place write reaches a buffer or input: no need to functionalise (slow)
        program = program.run_decompositions({})  # in-place writes become outputs it lists
        signature = program.graph_signature
    if signature.user_inputs_to_mutate:
        written = ", ".join(sorted(set(signature.user_inputs_to_mutate.values())))
        raise UsageError(
            f"the model's forward writes its {noun(set(signature.user_inputs_to_mutate.values()), 'input')} "
            f"{written} in place; Core ML inputs are read-only: "
            "write a copy (x = x.clone()) or register it as a buffer"
        )
    written = set(signature.buffers_to_mutate.values())
    return [name for name in signature.buffers if name in written]


def _writes_placeholder(node: Any) -> bool:
    """Whether ``node`` writes in place (an ``a!`` argument of its schema) a tensor that may be a
    view of a placeholder (a buffer, a parameter or an input). May say yes wrongly, never no: it
    only spares torch's exact answer for programs that write nothing but their own temporaries
    (``relu_`` after a conv)."""
    schema = _schema(node)
    if node.op != "call_function" or schema is None or not schema.is_mutable:
        return False
    values = dict(zip((a.name for a in schema.arguments), node.args, strict=False)) | dict(node.kwargs)
    written = [a.name for a in schema.arguments if a.alias_info is not None and a.alias_info.is_write]
    return any(
        _root(values.get(name)).op == "placeholder" for name in written if hasattr(values.get(name), "op")
    )


def _root(value: Any) -> Any:
    """The node whose storage ``value`` (an fx node) shares: through views, in-place results and
    anything without a schema (``getitem`` of ``split``), as far as the first fresh tensor."""
    while value.op == "call_function" and value.args and hasattr(value.args[0], "op"):
        schema = _schema(value)
        if schema is not None and not any(r.alias_info is not None for r in schema.returns):
            break  # a fresh tensor
        value = value.args[0]
    return value


def _schema(node: Any) -> Any:
    return getattr(getattr(node, "target", None), "_schema", None)


def stateful(program: Any, args: tuple, user_inputs: list[str]) -> tuple[Any, PyTorchState] | None:
    """``program`` as a pure program that takes each buffer its forward writes as an input after
    the user's (``args`` are example values of those) and returns its new value after the user's
    outputs, and what runs the original with state; None when the forward writes no buffer."""
    import torch
    from torch.utils import _pytree as pytree

    from bridgec.frontends.pytorch_export import feature_name, flatten_outputs, unique_name

    names = written_buffers(program)
    if not names:
        return None
    refuse_batch_norm_statistics(names)
    held = dict(program.named_buffers())
    # copied first: every run of program.module() writes the program's own buffers
    registered = {name: held[name].detach().clone().numpy() for name in names}
    with torch.no_grad():
        user_outputs = flatten_outputs(program.module()(*args), user_inputs)[0]
    taken = [*user_inputs, *user_outputs]
    buffers = []
    for name in names:
        state = unique_name(feature_name(name, "state"), taken)
        taken.append(state)
        new = unique_name(f"{state}_next", taken)
        taken.append(new)
        buffers.append(StateBuffer(name, state, new))
    initial = {b.input: registered[b.name] for b in buffers}
    inner = program.module()
    outputs, states = list(user_outputs), [b.name for b in buffers]
    new_names = [b.output for b in buffers]

    class Stateful(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, *args: Any) -> dict:
            count = len(args) - len(states)
            values = {name: value.clone() for name, value in zip(states, args[count:], strict=True)}
            result = torch.func.functional_call(self.inner, values, args[:count])
            flat = pytree.tree_flatten(result)[0]
            return {
                **dict(zip(outputs, flat, strict=True)),
                **dict(zip(new_names, values.values(), strict=True)),
            }

    state_args = tuple(torch.from_numpy(initial[b.input].copy()) for b in buffers)
    pure = torch.export.export(Stateful(), (*args, *state_args), strict=False)
    return pure, PyTorchState(program, list(user_inputs), tuple(buffers), initial)


def refuse_constant_states(
    model: Any, buffers: Sequence[StateBuffer], name: str, weights: Collection[str] = ()
) -> None:
    """Refuse a buffer the exported ``model`` (ONNX) sets to one value whatever the inputs
    (``self.flag.fill_(1.0)``): the IR computes outputs from inputs (``onnx_file``), so its new value
    would be no output; keep such a value as a constant of the model. ``weights``: graph inputs
    that are the model's weights kept apart (``pt2_direct.write``), constants like initializers."""
    reached = {i.name for i in model.graph.input if i.name not in weights}
    for node in model.graph.node:  # ONNX lists nodes in topological order
        if any(i in reached for i in node.input):
            reached.update(node.output)
    constant = [b.name for b in buffers if b.output not in reached]
    if constant:
        raise UsageError(
            f"{name}: the forward sets {noun(constant, 'buffer')} {', '.join(constant)} to the same value on "
            "every call, "
            "whatever the inputs; Core ML state is computed from the inputs: make it a constant of the model"
        )


_BATCH_NORM_STATISTICS = ("running_mean", "running_var", "num_batches_tracked")


def refuse_batch_norm_statistics(buffers: Sequence[str], where: str = "") -> None:
    """A BatchNorm in training mode updates its running statistics: a model exported for training,
    not state the user means to keep (ConversionError, as the training-mode BatchNorm it would be)."""
    statistics = [name for name in buffers if name.rsplit(".", 1)[-1] in _BATCH_NORM_STATISTICS]
    if statistics:
        raise ConversionError(
            f"{where}the model's forward writes {noun(statistics, 'buffer')} {', '.join(statistics)}: a "
            "BatchNorm in training "
            "mode updating its running statistics; export the model in eval mode (model.eval() before "
            "tracing or exporting)"
        )


class BufferWatch:
    """The buffers of a module before a forward, to refuse one the forward changed: outside
    torch.export nothing records the write, and the exporters drop it (freezing the buffer)."""

    def __init__(self, module: Any) -> None:
        import torch

        self.buffers = dict(module.named_buffers()) if isinstance(module, torch.nn.Module) else {}
        self.before = {key: value.detach().clone() for key, value in self.buffers.items()}

    def refuse_writes(self, name: str) -> None:
        changed = [key for key, value in self.buffers.items() if not _same(self.before[key], value.detach())]
        # a batch norm traced in training mode (the module reads as in eval mode by now: loading sets
        # it, but the trace kept training's ops)
        refuse_batch_norm_statistics(changed, f"{name}: ")
        if changed:
            raise UsageError(
                f"{name}: the model's forward writes {noun(changed, 'buffer')} {', '.join(changed)}, and "
                "this file form "
                "records no mutation (state needs it); export with torch.export.export and save a .pt2 "
                "(torch.export.save), then convert with --target iOS18 for a stateful ML Program"
            )


def _same(a: Any, b: Any) -> bool:
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    return bool(((a == b) | ((a != a) & (b != b))).all())  # NaN stays NaN: unchanged


__all__ = ["BufferWatch", "PyTorchState", "refuse_constant_states", "stateful", "written_buffers"]
