"""Model families: export, onnxruntime vs PyTorch, and Core ML (``bridgec.driver.verify``) per family.

    python tools/families.py                       # every family in examples/zoo.py and timm_zoo.py
    python tools/families.py resnet18 vit_b_16     # some of them
    python tools/families.py --exporter dynamo
    python tools/families.py --format mlprogram    # one Core ML format (default: both)

Random weights, nothing downloaded. For each family: does the export succeed and with which
exporter, the max abs error of the exported ONNX in onnxruntime against PyTorch, then the whole
conversion (``-O lower-custom``) checked by ``bridgec.driver.verify`` through the reference executor, and
the ops the Core ML backend has no layer for (what would otherwise become custom layers). A family
passes when every Core ML output is within 1e-3 x max |output| of PyTorch's (and verify's own
tolerance, 1e-4 x max |output| by default, holds).
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


@dataclass
class Row:
    family: str
    format: str = "-"
    export: str = "-"
    exporter: str = "-"
    ort_err: str = "-"
    coreml: str = "-"
    gaps: list[str] = field(default_factory=list)
    custom: int | str = "-"  # custom layers in the Core ML model
    seconds: float = 0.0


def backend_gaps(graph, target: str, fmt: str) -> list[str]:
    """Ops left after lowering that the target has no layer for (they become custom layers)."""
    from bridgec import passes
    from bridgec.backends.coreml import capabilities_for
    from bridgec.core import ir

    caps = capabilities_for(target, (), fmt)
    ids = [p for p in passes.pipeline_ids("lower") if p != "check::target_legal"]
    lowered = passes.pipeline("lower", ids).run(graph.copy(), target=caps)
    return sorted({ir.op_label(n) for n in lowered.nodes if caps.unsupported_reason(n)})


def relative_error(result) -> float:
    """max |Core ML - PyTorch| / max |PyTorch| over the outputs: the issue's 1e-3 criterion."""
    got, want = result.outputs["coreml_reference"], result.outputs[result.reference]
    return max(float(np.max(np.abs(got[n] - want[n]))) / float(np.max(np.abs(want[n]))) for n in want)


def run_family(name: str, exporter: str, target: str, tolerance: float, fmt: str) -> Row:
    import torch

    from bridgec.core.errors import BridgecError
    from bridgec.core.runtimes import run_onnxruntime
    from bridgec.driver.verify import verify
    from bridgec.frontends import LoadOptions, onnx_file, pytorch_export, pytorch_load

    row = Row(name, fmt)
    start = time.perf_counter()
    shape, model = _family(name)
    input_name = pytorch_load.forward_input_names(model)[0]
    x = torch.randn(*shape, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        names, tensors = pytorch_export.flatten_outputs(model(x))
    expected = {n: t.numpy() for n, t in zip(names, tensors, strict=True)}
    try:
        proto, row.exporter = pytorch_export.export(model, (x,), [input_name], exporter, name=name)
        row.export = "ok"
    except BridgecError as exc:
        row.export = f"FAILED: {exc}"
        row.seconds = time.perf_counter() - start
        return row
    graph = onnx_file.graph_from_model(proto, Path(name))
    got = run_onnxruntime(graph, {input_name: x.numpy()})
    row.ort_err = f"{max(float(np.max(np.abs(got[n] - expected[n]))) for n in names):.2e}"
    row.gaps = backend_gaps(graph, target, fmt)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"{name}.pt"
        torch.save(model, path)  # a whole pickled module: torchvision's classes are importable
        try:
            options = LoadOptions(exporter=exporter, trust_pickle=True)
            result = verify(
                path,
                inputs={input_name: shape},
                target=target,
                tolerance=tolerance,
                frontend=options,
                format=fmt,
            )
            core = [c for c in result.comparisons if c.runtime == "coreml_reference"]
            if core and all(np.isfinite(c.max_abs) for c in core):
                worst, relative = max(c.max_abs for c in core), relative_error(result)
                ok = all(c.passed for c in core) and relative <= 1e-3
                row.custom = sum(r.count for r in result.report.rows if r.status == "custom")
                row.coreml = f"{worst:.2e} ({relative:.1e} rel.) {'PASS' if ok else 'FAIL'}"
            else:
                row.coreml = "not run: " + (core[0].note if core else "no comparison")
        except BridgecError as exc:
            row.coreml = f"conversion failed: {exc}"
    row.seconds = time.perf_counter() - start
    return row


def render(rows: list[Row]) -> str:
    head = (
        "family",
        "format",
        "export",
        "exporter",
        "ORT max abs err",
        "Core ML (verify, ref. executor)",
        "no Core ML layer",
        "custom layers",
        "s",
    )
    body = [
        (
            r.family,
            r.format,
            r.export,
            r.exporter,
            r.ort_err,
            r.coreml,
            ", ".join(r.gaps) or "-",
            str(r.custom),
            f"{r.seconds:.0f}",
        )
        for r in rows
    ]
    widths = [max(len(str(c)) for c in col) for col in zip(head, *body, strict=True)]
    lines = [
        "  ".join(str(c).ljust(w) for c, w in zip(line, widths, strict=True)).rstrip()
        for line in [head, *body]
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _known() -> list[str]:
    from examples import timm_zoo, zoo

    return [*zoo.MODELS, *timm_zoo.MODELS]


def _family(name: str):
    """(input shape, module) of a torchvision family (examples/zoo.py) or a timm one (timm_zoo.py)."""
    from examples import timm_zoo, zoo

    if name in timm_zoo.MODELS:
        return timm_zoo.MODELS[name][0], timm_zoo.build(name)
    return zoo.MODELS[name], zoo.build(name)


def main(argv: list[str] | None = None) -> int:
    known = _known()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("families", nargs="*", help=f"default: all of {', '.join(known)}")
    parser.add_argument("--exporter", choices=("auto", "torchscript", "dynamo"), default="auto")
    parser.add_argument("--target", default="iOS15")
    parser.add_argument(
        "--format", choices=("neuralnetwork", "mlprogram"), action="append", help="default: both"
    )
    parser.add_argument(
        "--tolerance", type=float, default=1e-4, help="max|coreml - pytorch| / max|pytorch| per output"
    )
    args = parser.parse_args(argv)
    unknown = [f for f in args.families if f not in known]
    if unknown:
        parser.error(f"unknown families {unknown}; known: {', '.join(known)}")
    warnings.simplefilter("ignore")
    logging.disable(logging.WARNING)
    rows = []
    for name in args.families or known:
        print(f"families: {name} ...", file=sys.stderr, flush=True)
        for fmt in args.format or ["neuralnetwork", "mlprogram"]:
            rows.append(run_family(name, args.exporter, args.target, args.tolerance, fmt))
    print(render(rows))
    return 0 if all(r.export == "ok" and r.coreml.endswith("PASS") for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
