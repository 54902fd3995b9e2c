"""Model state in the IR: a buffer the model writes on each call (a KV cache, a running statistic).

The IR is a pure function, so a state is a graph input holding its current value paired with a
graph output holding its new value. The pairing is recorded once, in the graph's ``doc_string``
(``STATE_KEY`` then JSON), which ``gs.Graph.copy``, ONNX export and import all keep; the pass manager
refuses a pass that changes it, as it refuses one that renames an input or output. The frontend
sets it (``frontends.pt2_state``), a backend reads it to emit the state natively (Core ML's
``read_state`` / ``coreml_update_state``), and the check to run calls in sequence.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

import onnx_graphsurgeon as gs

STATE_KEY = "bridgec.state="


@dataclass(frozen=True)
class StateBuffer:
    """One state: ``name`` is the buffer as the model registers it (``layers.0.cache``); ``input``
    the graph input with its current value (also the state's name in the emitted model), ``output``
    the graph output with the value the next call sees."""

    name: str
    input: str
    output: str


def state_of(graph: gs.Graph) -> tuple[StateBuffer, ...]:
    """The states ``graph`` records, in input order; () for a stateless graph."""
    for line in (graph.doc_string or "").splitlines():
        if line.startswith(STATE_KEY):
            return tuple(StateBuffer(**entry) for entry in json.loads(line[len(STATE_KEY) :]))
    return ()


def set_state(graph: gs.Graph, buffers: tuple[StateBuffer, ...] | list[StateBuffer]) -> None:
    """Record ``buffers`` on ``graph`` (replacing what it recorded); each input and output must be
    one of the graph's."""
    inputs, outputs = {t.name for t in graph.inputs}, {t.name for t in graph.outputs}
    for buffer in buffers:
        if buffer.input not in inputs or buffer.output not in outputs:
            raise ValueError(
                f"state {buffer.name!r}: {buffer.input!r} / {buffer.output!r} are not graph input / output"
            )
    kept = [line for line in (graph.doc_string or "").splitlines() if not line.startswith(STATE_KEY)]
    if buffers:
        kept.append(STATE_KEY + json.dumps([asdict(b) for b in buffers]))
    graph.doc_string = "\n".join(kept)


def state_inputs(graph: gs.Graph) -> set[str]:
    return {b.input for b in state_of(graph)}


def state_outputs(graph: gs.Graph) -> set[str]:
    return {b.output for b in state_of(graph)}


__all__ = ["STATE_KEY", "StateBuffer", "set_state", "state_inputs", "state_of", "state_outputs"]
