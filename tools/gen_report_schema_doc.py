"""Write docs/report-schema.md, the reference of the JSON op report, from the report's schema.

    python tools/gen_report_schema_doc.py            # write docs/report-schema.md
    python tools/gen_report_schema_doc.py --check    # exit 1 if the file is stale; writes nothing

The field names, types, allowed values and which fields may be null come from ``SCHEMA`` (the dict
``validate`` checks every written report against); only what a field means is written here, keyed by
its path. A schema field without a meaning, or a meaning for a field the schema no longer has, is an
error, so the document cannot fall behind the schema. The example is validated against the schema too.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "report-schema.md"

# What a value of each status means, for both the per-status counts and a row's status.
STATUS_MEANING = {
    "native": "translated to a layer (NeuralNetwork) or op (ML Program) the target has",
    "lowered": "rewritten by a pass into ops the target has (`how` names the pass and rule)",
    "custom": "turned into a custom layer; `kernel` says whether bridgec bundles its Swift/Metal kernels",
    "removed": "removed by a pass (e.g. an Identity or a Dropout at inference)",
    "unsupported": "with no native op, rule or custom layer on this target: the model does not convert",
}

# Path syntax: `$` the document, `.key` an object's field, `[]` any element of an array.
MEANINGS = {
    "$.schema": "The schema's name and version. A reader should refuse a version it does not know.",
    "$.target": 'The target\'s description, e.g. "Core ML NeuralNetwork for iOS14".',
    "$.pipeline": "The `-O` pass pipeline that ran.",
    "$.possible": "Whether the model converts: no `unsupported` row, and every `custom` row has a "
    "bundled kernel.",
    "$.summary": "The one-line summary the CLI prints (node counts, target, verdict, pipeline).",
    "$.counts": "Source nodes per status; every status is present (0 when none).",
    "$.rows": "One row per (op, status, how, kernel) group of source nodes, in source order.",
    "$.rows[].op": "The source op, `domain::Op` for an op outside the default ONNX domain.",
    "$.rows[].count": "How many source nodes the row stands for (the length of `nodes`).",
    "$.rows[].status": "What happened to these nodes (see `counts`).",
    "$.rows[].how": 'The Core ML layer or op, "PASS/RULE -> new ops" for a lowered row, the custom '
    "class and its kernels, what removed the nodes, or why the op is unsupported.",
    "$.rows[].kernel": 'Custom rows: the bundled kernels ("CPU+GPU", "CPU", "GPU"), or "none" when the '
    "app must implement the layer itself. `null` for every other status.",
    "$.rows[].nodes": "The source node names.",
    "$.rows[].because": "Lowered rows: source node name -> why the target refused that node as it was, "
    'the reason the legalisation fired (the table forms say "because TARGET refuses it: REASON"); '
    "empty where the target would have run the node (a lowering by choice, a fusion).",
    "$.inputs": "One entry per model input that is not float32 (empty for an all-float32 model).",
    "$.inputs[].name": "The input's name.",
    "$.inputs[].model_dtype": 'Its dtype in the source model, e.g. "int64", "bool", "float16".',
    "$.inputs[].coreml_dtype": 'Its dtype as a Core ML input, e.g. "int32" (Core ML\'s only integer '
    'multiarray); "none" when Core ML cannot take it. For a Core AI model (`backend` "Core AI"): its '
    "dtype as a Core AI input (int64 is held as int32, `lower::index_narrow`).",
    "$.inputs[].note": "Why the Core ML dtype keeps the model's numbers and what the input indexes (e.g. "
    '"indexes an embedding of 1000 rows"), or why Core ML cannot take it; "" when nothing changes.',
    "$.inputs[].backend": 'The model format the dtype is for: "Core ML", or "Core AI" for `--format coreai`.',
    "$.inputs[].line": "The line the report prints for the input.",
    "$.interface": "What the app feeds and gets, read from the written model's description (its "
    "inputs, then outputs, then iOS18 states); empty when no model was built (`bridgec report`).",
    "$.interface[].role": '"input", "output" or "state" (an MLState the app creates and passes to each '
    "prediction).",
    "$.interface[].name": "The feature's name, as the app's generated class spells it.",
    "$.interface[].kind": '"multiarray", "image", "string" or "int64" (a classifier\'s top class), '
    '"dictionary" (a classifier\'s probabilities), "double", "sequence" or "state".',
    "$.interface[].dtype": 'A multiarray\'s or state\'s element type ("float32", "float16", "float64", '
    '"int32"); a dictionary\'s key type ("string" or "int64"); "" otherwise.',
    "$.interface[].shape": "A multiarray's or state's default shape; empty for other kinds, and for an "
    "output whose shape is known only when the model runs.",
    "$.interface[].color_space": 'An image\'s color space ("RGB", "BGR", "GRAYSCALE", '
    '"GRAYSCALE_FLOAT16"); "" otherwise.',
    "$.interface[].width": "An image's default width in pixels; 0 otherwise.",
    "$.interface[].height": "An image's default height in pixels; 0 otherwise.",
    "$.interface[].flexibility": "The other shapes or sizes the feature takes: ranges per dimension "
    '("1x3x(128..512)x(128..512)", "(1..)" unbounded) or "one of 1x3x224x224, 1x3x256x256"; "" when '
    "fixed.",
    "$.interface[].classifier": "For a classifier's outputs, what they hold (\"the top class of 1000 "
    'labels, probabilities in classLabel_probs", "the probability of each of 1000 labels"); "" otherwise.',
    "$.interface[].line": "The line the report prints for the feature.",
    "$.check": "The numbers check of the converted model (the emitted model run by the reference "
    "executor against the source model); `null` when nothing was converted (`bridgec report`, "
    "`bridgec verify`).",
    "$.check.status": '"checked" (every output within the tolerance), "failed" (an output is not; the '
    'model is not written), or "not checked" (`reason` says why, e.g. `--no-check`).',
    "$.check.line": "The one line the CLI ends with.",
    "$.check.reference": 'What the outputs were compared against: "PyTorch" or "onnxruntime".',
    "$.check.precision": '"fp32" or "fp16": the precision the tolerance is chosen for.',
    "$.check.tolerance": "The largest max_rel that passes (`bridgec.core.numerics.TOLERANCES`).",
    "$.check.reason": "Not checked: why. Failed: the worst output and the first node that leaves the "
    'tolerance. Otherwise "".',
    "$.check.shapes": 'The input shapes the model was run at, "name:1x3x224x224" per input.',
    "$.check.user_inputs": "Whether `--check-input` gave (some of) the inputs.",
    "$.check.notes": "Limits of what was proven, shown in `line`.",
    "$.check.outputs": "One entry per model output.",
    "$.check.outputs[].name": "The output's name.",
    "$.check.outputs[].max_abs": "max |got - want| over the elements where the reference is finite; -1 "
    "when not finite (a shape mismatch, or NaN where the reference has a number).",
    "$.check.outputs[].max_rel": "max_abs / max |want|, the metric the tolerance applies to; -1 when not "
    "finite.",
    "$.check.outputs[].passed": "Whether this output is within the tolerance.",
    "$.check.outputs[].nonfinite": "Elements the reference computes as NaN or infinity; not compared by "
    "value, but the model must give the same NaN or infinity there.",
    "$.check.outputs[].size": "The output's number of elements.",
    "$.check.outputs[].note": 'Why the output could not be compared by value, or "".',
    "$.check.compression": "`--compress`: the model written is the checked one with compressed weights; "
    "`null` without `--compress`.",
    "$.check.compression.mode": 'The mode, e.g. "int8", "palettize4" (`backends/coreml/compress.py` MODES).',
    "$.check.compression.granularity": 'How parameters are shared, e.g. "per-channel (a scale per output '
    'channel)", "per-grouped-channel (16 output channels a LUT)".',
    "$.check.compression.size_before": "Bytes of weights before: an ML Program's weight files, a "
    "NeuralNetwork's whole spec.",
    "$.check.compression.size_after": "Bytes of weights after compression, counted the same way.",
    "$.check.compression.ratio": "size_after / size_before.",
    "$.check.compression.outputs": "The compressed model against the same reference on the same input, "
    "one entry per output as in `check.outputs`; empty when not measured. Not judged (`passed` is true) "
    "unless `tolerance` is set.",
    "$.check.compression.reason": 'Why the error was not measured, or "".',
    "$.check.compression.tolerance": "The explicit `--tolerance` the compressed model was held to, or "
    "`null` (the error is reported, not judged).",
    "$.verification": "What `bridgec verify` found; `null` unless `bridgec verify` wrote the report.",
    "$.verification.passed": "Whether every comparison passed.",
    "$.verification.reference": "What every runtime was compared against.",
    "$.verification.comparisons": "One entry per (output, runtime).",
    "$.verification.comparisons[].output": "The output's name.",
    "$.verification.comparisons[].runtime": 'The runtime that produced it, e.g. "coreml_reference".',
    "$.verification.comparisons[].max_abs": "As in `check.outputs`; -1 when not computed (the runtime "
    "could not run: see `note`).",
    "$.verification.comparisons[].max_rel": "As in `check.outputs`; -1 when not computed.",
    "$.verification.comparisons[].passed": "Whether this comparison is within the tolerance.",
    "$.verification.comparisons[].note": 'Why it failed or was not computed, or "".',
    "$.provenance": "Where the report comes from (`bridgec/driver/provenance.py`); `null` only in a report "
    "made from a graph outside a run.",
    "$.provenance.bridgec_version": "The bridgec version that made the report.",
    "$.provenance.command": "How the run was asked for: the command line as typed (shell-quoted), or the "
    "Python call.",
    "$.provenance.input": "The model file as given, or what the model given in memory was.",
    "$.provenance.input_sha256": 'The input file\'s sha256 (hex); "" for a model given in memory.',
    "$.provenance.target": "The target's description, as `target`.",
    "$.provenance.format": "The model format the run made, and the `--format` asked for when that chose "
    'it, e.g. "mlprogram (--format auto)".',
    "$.provenance.precision": '"fp32" or "fp16".',
    "$.provenance.pipeline": "The `-O` pipeline, as `pipeline`.",
}
MEANINGS |= {f"$.counts.{status}": f"Nodes {meaning}." for status, meaning in STATUS_MEANING.items()}
# the compressed model's outputs are compared as the checked model's are
MEANINGS |= {
    path.replace("$.check.outputs", "$.check.compression.outputs"): meaning
    for path, meaning in MEANINGS.items()
    if path.startswith("$.check.outputs[].")
}

EXAMPLE_COMMENT = "The report of a three-node model (Conv, HardSwish, Conv) converted to a NeuralNetwork:"


def example(schema_id: str) -> dict:
    """What `bridgec tiny.onnx -o tiny.mlmodel --report-out r.json` wrote for Conv, HardSwish, Conv."""
    return {
        "schema": schema_id,
        "target": "Core ML NeuralNetwork for iOS15",
        "pipeline": "lower-custom",
        "possible": True,
        "summary": "3 nodes: 2 native, 1 lowered, 0 custom — Core ML NeuralNetwork for iOS15 possible, "
        "-O lower-custom",
        "counts": {"native": 2, "lowered": 1, "custom": 0, "removed": 0, "unsupported": 0},
        "rows": [
            {
                "op": "Conv",
                "count": 2,
                "status": "native",
                "how": "convolution",
                "nodes": ["/conv1/Conv", "/conv2/Conv"],
                "kernel": None,
                "because": {},
            },
            {
                "op": "ai.bridgec::HardSwish",
                "count": 1,
                "status": "lowered",
                "how": "lower::kept_activations/hardswish_to_hardsigmoid -> HardSigmoid, Mul",
                "nodes": ["/act/HardSwish"],
                "kernel": None,
                "because": {"/act/HardSwish": "no Core ML layer computes it"},
            },
        ],
        "inputs": [],
        "interface": [
            {
                "role": "input",
                "name": "x",
                "kind": "multiarray",
                "dtype": "float64",
                "shape": [1, 3, 32, 32],
                "color_space": "",
                "width": 0,
                "height": 0,
                "flexibility": "",
                "classifier": "",
                "line": "x: float64 1x3x32x32",
            },
            {
                "role": "output",
                "name": "y",
                "kind": "multiarray",
                "dtype": "float32",
                "shape": [1, 4, 32, 32],
                "color_space": "",
                "width": 0,
                "height": 0,
                "flexibility": "",
                "classifier": "",
                "line": "y: float32 1x4x32x32",
            },
        ],
        "check": {
            "status": "checked",
            "reference": "onnxruntime",
            "precision": "fp32",
            "tolerance": 1e-4,
            "outputs": [
                {
                    "name": "y",
                    "max_abs": 1.52587890625e-05,
                    "max_rel": 1.991030804432194e-07,
                    "passed": True,
                    "nonfinite": 0,
                    "size": 4096,
                    "note": "",
                }
            ],
            "reason": "",
            "shapes": ["x:1x3x32x32"],
            "user_inputs": False,
            "notes": [],
            "compression": None,
            "line": "checked: 1 output, max rel err 2e-07 (fp32 tolerance 1e-4) against onnxruntime",
        },
        "verification": None,
        "provenance": {
            "bridgec_version": "0.1.0",
            "command": "bridgec tiny.onnx -o tiny.mlmodel --report-out r.json",
            "input": "tiny.onnx",
            "input_sha256": "5d41402abc4b2a76b9719d911017c592a4a8e6d6f4b1d5f1c8f0e1d2c3b4a596",
            "target": "Core ML NeuralNetwork for iOS15",
            "format": "neuralnetwork",
            "precision": "fp32",
            "pipeline": "lower-custom",
        },
    }


def _type(schema: dict) -> str:
    if "const" in schema:
        text = f"`{json.dumps(schema['const'])}`"
    elif "enum" in schema:
        text = "one of " + ", ".join(f"`{json.dumps(v)}`" for v in schema["enum"])
    elif schema["type"] == "array":
        item = schema["items"]
        text = "array of " + ("objects (below)" if item.get("type") == "object" else _type(item))
    else:
        text = schema["type"]
    return text + (" or `null`" if schema.get("nullable") else "")


def _fields(schema: dict, path: str) -> list[tuple[str, dict]]:
    """(path, schema) of every field under ``schema``, depth first, in the schema's order."""
    found = []
    for key, sub in schema.get("required", {}).items():
        here = f"{path}.{key}"
        found.append((here, sub))
        if sub.get("type") == "object":
            found += _fields(sub, here)
        elif sub.get("type") == "array" and sub["items"].get("type") == "object":
            found += _fields(sub["items"], here + "[]")
    return found


def document(schema: dict, schema_id: str, validate) -> str:
    """docs/report-schema.md for ``schema``; ValueError naming the field when a meaning is missing."""
    fields = _fields(schema, "$")
    paths = {path for path, _ in fields}
    missing = [path for path in paths if path not in MEANINGS]
    unknown = [path for path in MEANINGS if path not in paths]
    if missing or unknown:
        raise ValueError(
            f"schema fields without a meaning: {sorted(missing)}; meanings of fields not in the schema: "
            f"{sorted(unknown)} (edit MEANINGS in tools/gen_report_schema_doc.py)"
        )
    sample = example(schema_id)
    problems = validate(sample, schema)
    if problems:
        raise ValueError(f"the example breaks the schema: {'; '.join(problems)}")

    lines = [
        "# The JSON op report",
        "",
        "<!-- Generated by tools/gen_report_schema_doc.py from the report's SCHEMA; do not edit. -->",
        "",
        "`bridgec MODEL --report-out FILE.json` (and `bridgec report` / `bridgec verify` with "
        "`--report-out`) write the op report as JSON: what happened to every source op, and, when the "
        "model was converted or verified, what the numbers check proved. Every field below is always "
        "present (a field that does not apply is `null`, never missing), and an object has no other "
        f'fields. `"schema"` is `"{schema_id}"`; a change that removes or retypes a field changes it.',
        "",
        "Paths: `.key` is a field of an object, `[]` any element of an array.",
        "",
        "| field | type | meaning |",
        "|---|---|---|",
    ]
    for path, sub in fields:
        shown = path.removeprefix("$.")
        meaning = MEANINGS[path].replace("|", "\\|")  # a bare | would end the table cell
        lines.append(f"| `{shown}` | {_type(sub)} | {meaning} |")
    lines += ["", EXAMPLE_COMMENT, "", "```json", json.dumps(sample, indent=2, ensure_ascii=False), "```", ""]
    return "\n".join(lines)


def expected() -> str:
    from bridgec.driver.report_schema import SCHEMA, SCHEMA_ID, validate

    return document(SCHEMA, SCHEMA_ID, validate)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="report a stale file instead of writing it")
    args = parser.parse_args(argv)
    try:
        text = expected()
    except ValueError as exc:
        print(f"gen_report_schema_doc: error: {exc}", file=sys.stderr)
        return 2
    stale = not DOC.exists() or DOC.read_text() != text
    if args.check:
        if stale:
            print(
                f"gen_report_schema_doc: {DOC.relative_to(ROOT)} is stale; run python "
                "tools/gen_report_schema_doc.py"
            )
        return 1 if stale else 0
    if stale:
        DOC.write_text(text)
        print(f"wrote {DOC.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main())
