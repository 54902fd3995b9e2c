"""Regenerate docs/rule-sweep.md: what ``-O lower-custom`` makes of every op the Core ML emitter tables
know, one node at a time, at ranks 1-6, in both formats — so a standard op that ends as a custom layer
(or unsupported) where an exact decomposition could legalise it is visible.

    python tools/gen_rule_sweep.py            # write docs/rule-sweep.md
    python tools/gen_rule_sweep.py --check    # exit 1 (naming the file) if it is stale; writes nothing

Each configuration is a one-node model (float32 input of shape (2, 3, 4, 5, 6, 7)[:rank]; further inputs
and required attributes from the op's ONNX schema, see ``configuration``), read by the frontend and
planned by ``bridgec.passes.legality.plan`` through ``bridgec.driver.coverage.plan_probe``: per node,
from the rules and the target's capabilities; nothing is converted or run. The whole sweep takes a few
seconds, so ``--check`` regenerates all of it.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "rule-sweep.md"
SHAPE = (2, 3, 4, 5, 6, 7)
RANKS = range(1, len(SHAPE) + 1)
FORMATS = (("neuralnetwork", "iOS14"), ("mlprogram", "iOS15"))
NAME = "node"  # the swept node's name

# A required attribute's probe value by name, from the rank; None: not built at that rank.
ATTRIBUTES = {
    "kernel_shape": lambda rank: [1] * (rank - 2) if rank > 2 else None,
    "axis": lambda rank: 0,
    "blocksize": lambda rank: 1,
    "to": lambda rank: TensorProto.FLOAT,
}


def _channels(op: str):
    """Per-channel constants (dim 1) of a normalisation, in the schema's input order after X."""

    def make(shape: tuple[int, ...]) -> list[np.ndarray] | str:
        if len(shape) < 2:
            return "needs rank >= 2 (a channel axis)"
        c = shape[1]
        values = [np.linspace(0.5, 1.5, c, dtype=np.float32), np.linspace(-1, 1, c, dtype=np.float32)]
        if op == "BatchNormalization":  # mean, then a positive variance
            values += [np.linspace(-0.5, 0.5, c, dtype=np.float32), np.linspace(0.5, 2, c, dtype=np.float32)]
        return values

    return make


def _weights(transpose: bool):
    def make(shape: tuple[int, ...]) -> list[np.ndarray] | str:
        if len(shape) < 3:
            return "needs rank >= 3 (a spatial axis)"
        dims = (shape[1], 4) if transpose else (4, shape[1])
        return [np.full(dims + (1,) * (len(shape) - 2), 0.25, dtype=np.float32)]

    return make


def _matmul(shape: tuple[int, ...]) -> list[np.ndarray]:
    other = shape if len(shape) == 1 else shape[:-2] + (shape[-1], shape[-2])
    return [np.full(other, 0.5, dtype=np.float32)]


def _gemm(shape: tuple[int, ...]) -> list[np.ndarray] | str:
    return [np.full((shape[1], 4), 0.5, dtype=np.float32)] if len(shape) == 2 else "Gemm takes rank 2 only"


def _scales(shape: tuple[int, ...]) -> np.ndarray:
    """Upsampling by 2 along the last axis."""
    return np.array([1] * (len(shape) - 1) + [2], dtype=np.float32)


def _int64(*values: int) -> np.ndarray:
    return np.array(values, dtype=np.int64)


# Required inputs that are not a second operand like the first: constants by op, from the input's shape
# (a string: why not at that rank). Everything else the schema needs beyond the first input is built in
# ``configuration`` or skipped.
CONSTANTS = {
    "BatchNormalization": _channels("BatchNormalization"),
    "InstanceNormalization": _channels("InstanceNormalization"),
    "LayerNormalization": lambda shape: [np.linspace(0.5, 1.5, shape[-1], dtype=np.float32)],
    "Conv": _weights(transpose=False),
    "ConvTranspose": _weights(transpose=True),
    "MatMul": _matmul,
    "Gemm": _gemm,
    "PRelu": lambda shape: [np.full(shape[1:2] + (1,) * max(len(shape) - 2, 0), 0.25, dtype=np.float32)],
    "CumSum": lambda shape: [np.array(0, dtype=np.int64)],
    "Expand": lambda shape: [_int64(*shape)],
    "Reshape": lambda shape: [_int64(*reversed(shape))],
    "Gather": lambda shape: [_int64(1, 0)],
    "Tile": lambda shape: [_int64(2, *([1] * (len(shape) - 1)))],
    "TopK": lambda shape: [_int64(1)],
    "Slice": lambda shape: [_int64(0), _int64(1)],
    "Pad": lambda shape: [_int64(*([0] * (2 * len(shape) - 1)), 1)],
    "Unsqueeze": lambda shape: [_int64(0)],
    "Upsample": lambda shape: [_scales(shape)],
    "Resize": lambda shape: [np.zeros(0, dtype=np.float32), _scales(shape)],  # no roi, then scales
}
# Optional attributes a configuration needs all the same (Split must be told how many outputs).
EXTRA_ATTRIBUTES = {"Split": {"num_outputs": 2}}
SCALAR_INPUTS = {"Range"}  # ops whose inputs are scalars: there is no rank to sweep


@dataclass(frozen=True)
class Outcome:
    op: str
    rank: int
    format: str
    status: str
    how: str  # the rule (lowered), custom class (custom), the capability's reason (custom, unsupported)


def configuration(op: str, rank: int) -> onnx.ModelProto | str:
    """The one-node model of ``op`` on a float32 input of rank ``rank``, or why it is not built."""
    schema = onnx.defs.get_schema(op)
    shape = SHAPE[:rank]
    if not schema.inputs:
        return "no input"
    if op in SCALAR_INPUTS:
        return "its inputs are scalars, not a tensor of some rank"
    if not _takes_float(schema, schema.inputs[0]):
        return f"input {schema.inputs[0].name!r} does not take float32"
    attrs = dict(EXTRA_ATTRIBUTES.get(op, {}))
    for name, attr in schema.attributes.items():
        if attr.required:
            if name not in ATTRIBUTES:
                return f"required attribute {name!r} has no simple probe value"
            value = ATTRIBUTES[name](rank)
            if value is None:
                return f"required attribute {name!r} needs rank > 2"
            attrs[name] = value
    inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)]
    names, initializers = ["x"], []
    required = schema.inputs[1 : schema.min_input]
    if op in CONSTANTS:
        values = CONSTANTS[op](shape)
        if isinstance(values, str):
            return values
        for i, value in enumerate(values):
            names.append(f"c{i}")
            initializers.append(onnx.numpy_helper.from_array(value, f"c{i}"))
    else:
        for i, formal in enumerate(required):
            if not _takes_float(schema, formal):
                return f"required input {formal.name!r} has no simple probe value"
            names.append(f"y{i}")  # a second operand like the first
            inputs.append(helper.make_tensor_value_info(f"y{i}", TensorProto.FLOAT, shape))
    outputs = [f"out{i}" for i in range(attrs.get("num_outputs", max(schema.min_output, 1)))]
    nodes = [helper.make_node(op, names, outputs, name=NAME, **attrs)]
    graph = helper.make_graph(nodes, f"sweep_{op}_{rank}", inputs, [], initializer=initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", _opset())])
    try:
        model = onnx.shape_inference.infer_shapes(model, strict_mode=True, check_type=True)
    except Exception as exc:  # noqa: BLE001 - onnx refuses the configuration: say why, do not sweep it
        return "onnx refuses it: " + str(exc).strip().split("] ")[-1]
    types = {v.name: v for v in model.graph.value_info}
    first = types[outputs[0]].type.tensor_type.elem_type
    if first == TensorProto.FLOAT:  # a consumer, as in a real model (cleanup keeps a no-op feeding an output)
        model.graph.node.append(helper.make_node("Relu", [outputs[0]], ["z"]))
        consumed = model.graph.output.add()
        consumed.CopyFrom(types[outputs[0]])
        consumed.name = "z"
        model.graph.output.extend(types[o] for o in outputs[1:])
    else:
        model.graph.output.extend(types[o] for o in outputs)
    return model


def _takes_float(schema: onnx.defs.OpSchema, formal: onnx.defs.OpSchema.FormalParameter) -> bool:
    allowed = {t.type_param_str: t.allowed_type_strs for t in schema.type_constraints}
    return "tensor(float)" in allowed.get(formal.type_str, [formal.type_str])


def _opset() -> int:
    from bridgec.driver.coverage import latest_opset

    return latest_opset()


def table_ops() -> list[str]:
    """Every default-domain op of the NeuralNetwork and ML Program emitter tables, sorted."""
    from bridgec.backends.coreml import mlprogram_ops, neuralnetwork_layers

    keys = set(neuralnetwork_layers.table()) | set(mlprogram_ops.table())
    return sorted(op for domain, op in keys if domain == "")


def sweep() -> tuple[list[Outcome], dict[tuple[str, int], str]]:
    """Every configuration's outcome per format, and the configurations not built (with why)."""
    from bridgec.backends.coreml import capabilities_for
    from bridgec.core.ops.status import CUSTOM, LOWERED, UNSUPPORTED
    from bridgec.driver.coverage import plan_probe

    caps = [(fmt, capabilities_for(target, (), fmt)) for fmt, target in FORMATS]
    outcomes, skipped = [], {}
    for op in table_ops():
        for rank in RANKS:
            model = configuration(op, rank)
            if isinstance(model, str):
                skipped[(op, rank)] = model
                continue
            for fmt, cap in caps:
                try:
                    found, _ = plan_probe(model, NAME, cap)
                except Exception as exc:  # noqa: BLE001 - the frontend refuses it: that is the outcome
                    outcomes.append(Outcome(op, rank, fmt, UNSUPPORTED, f"frontend: {exc}".splitlines()[0]))
                    continue
                if found is None:
                    outcomes.append(Outcome(op, rank, fmt, UNSUPPORTED, "the frontend dropped the node"))
                    continue
                how = {LOWERED: found.rule, CUSTOM: f"{found.custom_class}: {found.reason}"}
                outcomes.append(Outcome(op, rank, fmt, found.status, how.get(found.status, found.reason)))
    return outcomes, skipped


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render() -> str:
    from bridgec.core.ops.status import CUSTOM, UNSUPPORTED
    from bridgec.passes.legality import STATUSES

    outcomes, skipped = sweep()
    ops = table_ops()
    lines = [
        "<!-- GENERATED by tools/gen_rule_sweep.py — do not edit. -->",
        "# Rule sweep: every emitter-table op, one node at a time, ranks 1-6",
        "",
        f"{len(ops)} default-domain ops of the Core ML emitter tables, each as a one-node model on a float32 "
        f"input of shape {SHAPE}[:rank] (other inputs and required attributes from the op's ONNX schema, "
        f"opset {_opset()}), planned through `-O lower-custom` by `bridgec.passes.legality.plan` "
        "(the target's capabilities and the pipeline's rules; nothing converted). "
        f"{len(ops) * len(RANKS)} configurations, {len(skipped)} not built (listed at the end). "
        "Custom counts a node the pipeline makes a custom layer with a bundled kernel; a refused node "
        "without one stays unsupported, as the conversion does.",
        "",
        "## Summary",
        "",
        "| format | " + " | ".join(STATUSES) + " |",
        "|---|" + "---:|" * len(STATUSES),
    ]
    for fmt, target in FORMATS:
        c = Counter(o.status for o in outcomes if o.format == fmt)
        lines.append(f"| {names_of(fmt)} ({target}) | " + " | ".join(str(c[s]) for s in STATUSES) + " |")
    lines += [
        "",
        "## Configurations that end custom or unsupported",
        "",
        "Both formats on one row where they end the same way, with the same reason.",
        "",
        "| op | rank | format | status | custom layer: reason, or reason |",
        "|---|---:|---|---|---|",
    ]
    refused: dict[tuple[str, int, str, str], list[str]] = {}
    for o in outcomes:
        if o.status in (CUSTOM, UNSUPPORTED):
            refused.setdefault((o.op, o.rank, o.status, o.how), []).append(o.format)
    for (op, rank, status, how), fmts in refused.items():
        where = "both" if len(fmts) == len(FORMATS) else ", ".join(map(names_of, fmts))
        lines.append(f"| `{op}` | {rank} | {where} | {status} | {_cell(how)} |")
    lowered = Counter((o.how, o.format) for o in outcomes if o.how and o.status == "lowered")
    lines += ["", "## Rules that fired", "", "| rule | format | configurations |", "|---|---|---:|"]
    for (rule, fmt), n in sorted(lowered.items()):
        lines.append(f"| `{rule}` | {names_of(fmt)} | {n} |")
    lines += ["", "## Configurations not built", "", "| op | ranks | why |", "|---|---|---|"]
    by_op: dict[tuple[str, str], list[int]] = {}
    for (op, rank), why in skipped.items():
        by_op.setdefault((op, why), []).append(rank)
    for (op, why), ranks in by_op.items():
        lines.append(f"| `{op}` | {', '.join(map(str, ranks))} | {_cell(why)} |")
    return "\n".join(lines) + "\n"


def names_of(fmt: str) -> str:
    return "ML Program" if fmt == "mlprogram" else "NeuralNetwork"


def main(argv: list[str] | None = None, doc: Path = DOC) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="report a stale file instead of writing it")
    args = parser.parse_args(argv)
    text = render()
    stale = not doc.exists() or doc.read_text() != text
    shown = doc.relative_to(ROOT) if doc.is_relative_to(ROOT) else doc
    if args.check:
        if stale:
            print(f"gen_rule_sweep: {shown} is stale; run python tools/gen_rule_sweep.py")
        return 1 if stale else 0
    if stale:
        doc.parent.mkdir(exist_ok=True)
        doc.write_text(text)
        print(f"wrote {shown}")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main())
