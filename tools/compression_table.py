"""Write docs/compression.md: what each ``--compress`` mode does to the bundled example (faceseg) and
mobilenet_v2 (examples/zoo.py, seeded random weights): the weights' size before and after, and the
compressed model's error against PyTorch on the check's input, as ``bridgec --compress`` reports them.

    python tools/compression_table.py            # write docs/compression.md (a few minutes)
    python tools/compression_table.py --check    # exit 1 if the file is stale; writes nothing

Every cell comes from ``convert(..., compress=MODE)``, the command line's path: the uncompressed model
is checked against PyTorch, then the compressed one measured.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "compression.md"
sys.path.insert(0, str(ROOT))

TARGETS = (("mlprogram", "iOS18"), ("mlprogram", "iOS16"), ("neuralnetwork", "iOS15"))
HEADER = """# Compressed weights: size and error

`--compress MODE` stores each weight of 2048 values or more in fewer bits; Core ML restores them when
the model loads. The model is checked uncompressed first (that proves the graph), then the compressed
model runs in the reference executor on the same input and its error against PyTorch is measured and
reported; it fails the conversion only against an explicit `--tolerance`. The modes, formats and
targets are the table in `backends/coreml/compress.py`:

| mode | ML Program | NeuralNetwork |
|---|---|---|
| `int8` | iOS16+: per-channel (`constexpr_affine_dequantize`; iOS18 `constexpr_blockwise_shift_scale`) | per-channel linear |
| `int4` | iOS18+: per-block, up to 32 input channels a scale (`constexpr_blockwise_shift_scale`) | per-channel linear, 4 bits |
| `palettize8/4/2` | one LUT a tensor; iOS18+ (4 and 2 bits): a LUT per group of up to 16 output channels (`constexpr_lut_to_dense`; at 8 bits 256-entry LUTs per group would outweigh what they save) | one LUT a tensor |

Where 32 or 16 does not divide a weight's channels (a 1000-class classifier, a 3-channel first
convolution) its blocks or groups shrink to the largest size that does, so no large weight stays
float. The LUTs come from a one-dimensional k-means in numpy (coremltools' own needs scikit-learn).
Sizes are bytes of weights: an ML Program's weight files, a NeuralNetwork's whole `.mlmodel`.
Errors are max |got - PyTorch| / max |PyTorch| over the output, on the check's seeded random input
(random weights: a trained model's error differs).

Made by `python tools/compression_table.py` (`--check` to compare; tests/tools/test_compression_table.py does it in CI).
"""


def _models(work: Path) -> list[tuple[str, Path, tuple[int, ...]]]:
    from examples import faceseg, zoo

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return [
            ("faceseg", faceseg.save(work / "faceseg.pt"), faceseg.INPUT_SHAPE),
            ("mobilenet_v2", zoo.save("mobilenet_v2", work / "mobilenet_v2.pt"), zoo.MODELS["mobilenet_v2"]),
        ]


def _megabytes(size: int) -> str:
    return f"{size / 1e6:.2f} MB"


def table(progress=print) -> str:
    from bridgec.backends.coreml.compress import MODES
    from bridgec.backends.coreml.targets import FORMAT_NAMES, Target
    from bridgec.driver.convert import convert

    lines = [
        HEADER,
        "| model | format | mode | granularity | weights | after | ratio | max rel err vs PyTorch |",
        "|---|---|---|---|---:|---:|---:|---:|",
    ]
    with tempfile.TemporaryDirectory() as work:
        for name, path, shape in _models(Path(work)):
            for format, target in TARGETS:
                ios = Target.parse(target).ios
                for mode in MODES.values():
                    if mode.refusal(format, ios):
                        continue
                    progress(f"{name} {format} {target} {mode.name}")
                    result = convert(
                        path,
                        inputs={None: shape},
                        target=target,
                        format=format,
                        compress=mode.name,
                        write=False,
                    )
                    c = result.check.compression
                    lines.append(
                        f"| {name} | {FORMAT_NAMES[format]} {target} | `{mode.name}` | {c.granularity} | "
                        f"{_megabytes(c.size_before)} | {_megabytes(c.size_after)} | {c.ratio:.3f} | "
                        f"{c.max_rel:.2g} |"
                    )
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if docs/compression.md is stale")
    args = parser.parse_args()
    text = table(lambda line: print(line, file=sys.stderr))
    if args.check:
        if not DOC.exists() or DOC.read_text() != text:
            print(
                f"compression_table: {DOC.relative_to(ROOT)} is stale; run python tools/compression_table.py"
            )
            return 1
        return 0
    DOC.write_text(text)
    print(f"wrote {DOC.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
