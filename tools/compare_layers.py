"""How big is what bridgec emits, next to coremltools' own direct PyTorch conversion?

    python tools/compare_layers.py                          # every family, both formats
    python tools/compare_layers.py resnet18 --format mlprogram
    python tools/compare_layers.py --markdown docs/layers.md

For each torchvision family in ``examples/zoo.py`` (random weights, nothing downloaded) and each
format, the count of Core ML NeuralNetwork layers or ML Program MIL operations (``const`` not
counted: weights are not work) in bridgec's ``-O lower-custom`` model beside ``ct.convert`` on the
same traced TorchScript module. A family coremltools cannot convert shows its error instead.
Exit status 1 when bridgec emits more than coremltools on any family both convert.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import logging
import sys
import tempfile
import warnings
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

FORMATS = ("neuralnetwork", "mlprogram")


@dataclass
class Row:
    family: str
    format: str
    bridgec: Counter | str
    coremltools: Counter | str

    @staticmethod
    def total(counts: Counter | str) -> int | None:
        return sum(counts.values()) if isinstance(counts, Counter) else None

    @property
    def verdict(self) -> str:
        ours, theirs = self.total(self.bridgec), self.total(self.coremltools)
        if ours is None:
            return "bridgec failed"
        if theirs is None:
            return "only bridgec converts"
        return "ok" if ours <= theirs else f"MORE (+{ours - theirs})"


def _bridgec_counts(path: Path, shape: tuple[int, ...], fmt: str) -> Counter | str:
    from bridgec.core.errors import BridgecError
    from bridgec.driver.convert import convert

    try:
        result = convert(path, inputs={None: shape}, format=fmt, target="iOS15", write=False)
    except BridgecError as exc:
        return f"error: {exc}"
    return result.model.op_counts()


def _coremltools_counts(path: Path, shape: tuple[int, ...], fmt: str) -> Counter | str:
    import coremltools as ct
    import torch

    from bridgec.backends.coreml.mlprogram import mil_op_counts
    from bridgec.backends.coreml.neuralnetwork import layer_kinds

    module = torch.jit.load(str(path)).eval()
    try:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            model = ct.convert(
                module,
                inputs=[ct.TensorType(shape=shape)],
                convert_to=fmt,
                # coremltools writes NeuralNetworks for iOS14 at most (a newer OS runs them as they are)
                minimum_deployment_target=ct.target.iOS15 if fmt == "mlprogram" else ct.target.iOS14,
            )
    except Exception as exc:  # coremltools' failures are what this column reports
        return f"error: {type(exc).__name__}: {str(exc).splitlines()[0][:80] if str(exc) else ''}"
    return layer_kinds(model.get_spec()) if fmt == "neuralnetwork" else mil_op_counts(model)


def measure(families: list[str], formats: list[str]) -> list[Row]:
    from examples import zoo

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in families:
            print(f"compare_layers: {name} ...", file=sys.stderr, flush=True)
            path = zoo.save(name, Path(tmp) / f"{name}.pt")
            for fmt in formats:
                ours = _bridgec_counts(path, zoo.MODELS[name], fmt)
                theirs = _coremltools_counts(path, zoo.MODELS[name], fmt)
                rows.append(Row(name, fmt, ours, theirs))
    return rows


def _cell(counts: Counter | str) -> str:
    total = Row.total(counts)
    return str(total) if total is not None else str(counts)[:60]


def render(rows: list[Row], markdown: bool = False) -> str:
    head = ("family", "format", "bridgec", "coremltools", "verdict")
    body = [(r.family, r.format, _cell(r.bridgec), _cell(r.coremltools), r.verdict) for r in rows]
    if markdown:
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        lines += ["| " + " | ".join(line) + " |" for line in body]
        return "\n".join(lines)
    widths = [max(len(c) for c in col) for col in zip(head, *body, strict=True)]
    lines = [
        "  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip() for line in [head, *body]
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    # coremltools must see torch when it is first imported (bridgec imports it with torch hidden,
    # to keep .onnx conversions light), or ct.convert cannot tell a TorchScript module's framework.
    import coremltools  # noqa: F401
    import torch  # noqa: F401

    from examples import zoo

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("families", nargs="*", help=f"default: all of {', '.join(zoo.MODELS)}")
    parser.add_argument("--format", choices=FORMATS, action="append", help="default: both")
    parser.add_argument("--markdown", type=Path, metavar="FILE", help="also write the table as Markdown")
    parser.add_argument("--details", action="store_true", help="print the per-kind counts of each model")
    args = parser.parse_args(argv)
    unknown = [f for f in args.families if f not in zoo.MODELS]
    if unknown:
        parser.error(f"unknown families {unknown}; known: {', '.join(zoo.MODELS)}")
    warnings.simplefilter("ignore")
    logging.disable(logging.WARNING)
    rows = measure(args.families or list(zoo.MODELS), args.format or list(FORMATS))
    print(render(rows))
    if args.details:
        for r in rows:
            print(f"\n{r.family} {r.format}\n  bridgec:     {r.bridgec}\n  coremltools: {r.coremltools}")
    if args.markdown:
        args.markdown.write_text(render(rows, markdown=True) + "\n")
    return 1 if any(r.verdict.startswith("MORE") for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
