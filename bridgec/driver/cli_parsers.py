"""The ``bridgec`` command line's argument parsers, one a command, sharing the argument groups of
what to convert and how (model, passes, PyTorch input, reports). Parsing only: what the arguments
mean is ``bridgec.driver.cli_requests``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bridgec import __version__
from bridgec.core.errors import UsageError
from bridgec.driver.cli_deprecated import DeprecatedOption
from bridgec.driver.cli_vocabulary import COMMANDS, QUIET_HELP, add_json_arg, add_report_args, tolerance_help


class Parser(argparse.ArgumentParser):
    """argparse, but usage errors are one line and exit status 2, like every other bridgec error."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise ArgumentError(f"{message} (see {self.prog} --help)")

    def exit(self, status: int = 0, message: str | None = None) -> None:  # type: ignore[override]
        if message:
            self._print_message(message, sys.stderr)
        raise ParserExit(status)


class ArgumentError(UsageError):
    """The command line does not parse (the arguments themselves, before any file is read)."""


class ParserExit(SystemExit):
    """--help and --version ending the run: the one sys.exit bridgec obeys (see ``_run``)."""


def _add_model_args(parser: Parser) -> None:
    """The arguments that say what to convert and how: shared by convert and verify."""
    from bridgec.backends.coreml.targets import DEFAULT_TARGET, FORMATS, PRECISIONS, SPEC_VERSIONS
    from bridgec.passes import DEFAULT_PIPELINE, PIPELINE_DOCS

    pipelines = "; ".join(f"{name}: {doc}" for name, doc in PIPELINE_DOCS.items())
    parser.add_argument(
        "model",
        type=Path,
        help="TorchScript archive (torch.jit.save), torch.export archive (.pt2), torch.save file "
        "(see --trust-pickle, --arch) or .onnx file",
    )
    parser.add_argument(
        "--input",
        "-i",
        action="append",
        metavar="NAME:DIMS[:DTYPE]",
        default=[],
        help="input shape, e.g. x:1x3x256x256 (repeatable; the name may be omitted for a "
        "single input). Required for TorchScript, which stores no shapes. Flexible shapes for "
        "Core ML: ranges x:1x3x(128..512)x(128..512) ((128..): no upper bound, NeuralNetwork only), "
        "enumerated x:1x3x{224,256}x{224,256} (every combination, at most 64) or x:1x3x224x224,1x3x320x320. "
        "DTYPE: fp32 (default), fp16, int32, int64 or bool, e.g. ids:1x16:int64 for token ids; "
        "a .pt2 or .onnx file's own input dtypes are used without it.",
    )
    parser.add_argument(
        "-O",
        dest="pipeline",
        default=DEFAULT_PIPELINE,
        metavar="PIPELINE",
        help=f"rewriting pipeline (default {DEFAULT_PIPELINE}). {pipelines}",
    )
    parser.add_argument(
        "--target",
        default=None,  # iOS15 for Core ML, iOS27 for --format coreai
        metavar="OS",
        help=f"deployment target: {', '.join(SPEC_VERSIONS)} (default {DEFAULT_TARGET}), or iOS27 / macOS27 "
        "for --format coreai (its default iOS27). It fixes the "
        "Core ML features the model may use; ML Programs need iOS15 / macOS12 or newer",
    )
    parser.add_argument(
        "--avoid-op",
        action="append",
        default=[],
        metavar="OP",
        help="treat an ONNX op as missing on the target (repeatable), so lowering picks "
        "another form, e.g. --avoid-op Clip gives hardtanh as max/min, with --avoid-op Max too the ReLU-only form",
    )
    parser.add_argument(
        "--format",
        choices=(*FORMATS, "coreai"),
        default="auto",
        help="model format: coreai (.aimodel, Apple's Core AI for iOS27 / macOS27, checked in Apple's own "
        "runtime; needs pip install bridgec[coreai]), or a Core ML model format: mlprogram (.mlpackage; iOS15+, fp16, the Neural Engine's format, no "
        "custom layers) or neuralnetwork (.mlmodel; the format with custom layers). auto (default) "
        "writes an ML Program when no custom layer remains and the target runs one, else a "
        "NeuralNetwork, and says why",
    )
    parser.add_argument(
        "--precision",
        choices=PRECISIONS,
        default="fp32",
        help="fp16: ML Program computes in float16; a NeuralNetwork stores its weights as float16 "
        "(half the size). Default fp32",
    )
    parser.add_argument("-q", "--quiet", action="store_true", help=QUIET_HELP)
    parser.add_argument(
        "--progress",
        action="store_true",
        help="a line per stage on stderr also when it is not a terminal (a log, a pipe); on a terminal "
        "the stage is one live line, and piped nothing is shown without this flag",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks and library warnings")
    _add_frontend_args(parser)


def _add_frontend_args(parser: Parser) -> None:
    """How PyTorch files are read and exported: shared by convert and verify."""
    group = parser.add_argument_group("PyTorch input")
    group.add_argument(
        "--exporter",
        choices=("auto", "torchscript", "dynamo"),
        default="auto",
        help="torch.onnx exporter: torchscript (dynamo=False) or dynamo (torch.export based); auto "
        "tries the one that suits the file first (for a .pt or a .pt2 of fixed sizes and known ops, "
        "bridgec's own direct exporter) and says when it falls back (default auto)",
    )
    group.add_argument(
        "--trust-pickle",
        action="store_true",
        help="allow unpickling a whole module saved with torch.save(model); this runs code from the file",
    )
    group.add_argument(
        "--import",
        dest="imports",
        action="append",
        default=[],
        metavar="MODULE",
        help="import this module before unpickling or building --arch, so its classes are found (repeatable)",
    )
    group.add_argument(
        "--path",
        dest="paths",
        action="append",
        default=[],
        metavar="DIR",
        help="put DIR on the Python path for --import and --arch (repeatable)",
    )
    group.add_argument(
        "--arch",
        metavar="PKG.MODULE:CLASS",
        help="for a state_dict file: the module class to build and load the weights into",
    )
    group.add_argument(
        "--arch-args", metavar="JSON", help="constructor arguments for --arch: a JSON list or object"
    )


def _add_pass_args(parser: Parser) -> None:
    """How the pass pipeline runs and what watches it: shared by convert and verify."""
    group = parser.add_argument_group("passes")
    group.add_argument(
        "--passes", metavar="A,B,C", help="run exactly these pass ids instead of the -O pipeline's"
    )
    group.add_argument("--disable-pass", action="append", default=[], metavar="ID", help="leave a pass out")
    group.add_argument(
        "--load-passes",
        action="append",
        default=[],
        metavar="FILE.py",
        help="import a Python file that registers passes (repeatable)",
    )
    group.add_argument(
        "--stats", action="store_true", help="print time per pass and rule hits (with near-misses)"
    )
    group.add_argument(
        "--dump-dir",
        type=Path,
        metavar="DIR",
        help="write the graph after every pass as DIR/NN_<pass>.onnx (open in Netron)",
    )
    group.add_argument("--dump-graphml", action="store_true", help="with --dump-dir, also write GraphML")
    group.add_argument(
        "--print-after",
        action="append",
        default=[],
        metavar="ID",
        help="print the graph after this pass ('all' for every pass) to stderr",
    )
    group.add_argument(
        "--verify-each",
        action="store_true",
        help="compare onnxruntime outputs after every pass that changes the graph",
    )
    group.add_argument(
        "--timings",
        action="store_true",
        help="print wall time per stage (imports, load, export, passes, ...)",
    )
    group.add_argument(
        "--allow-missing-kernels",
        action="store_true",
        help="make custom layers even of ops with no bundled Swift/Metal kernel (the app implements them)",
    )
    group.add_argument(
        "--no-check-each",
        dest="check_each",
        action="store_false",
        help="skip the ONNX checker and shape inference after every pass",
    )


def glue_bias(argv: list[str]) -> list[str]:
    """``--bias -0.485,-0.456,-0.406`` as ``--bias=...``: argparse takes a leading '-' for an option."""
    out: list[str] = []
    for i, arg in enumerate(argv):
        if i and argv[i - 1] == "--bias" and out and out[-1] == "--bias":
            out[-1] = f"--bias={arg}"
        else:
            out.append(arg)
    return out


def convert_parser() -> Parser:
    parser = Parser(
        prog="bridgec convert",
        description=f"{COMMANDS['convert']}. The ops the target lacks are lowered and an ML Program "
        "(.mlpackage) written; where custom layers remain, a NeuralNetwork (.mlmodel) with Swift/Metal "
        "kernels for them; --format coreai writes a Core AI .aimodel.",
        epilog="other commands: bridgec --help. Exit status: 0 converted, 1 conversion failed, 2 bad usage or "
        "unreadable input.",
    )
    _add_model_args(parser)
    _add_pass_args(parser)
    parser.add_argument(
        "-o",
        "--output",
        type=Path,
        metavar="OUT.mlpackage|OUT.mlmodel",
        help="output model (default: beside MODEL, .mlpackage for an ML Program, .mlmodel for a "
        "NeuralNetwork); with --format auto, a .mlmodel name asks for a NeuralNetwork. Custom-layer "
        "kernels go to bridgec_kernels/ beside OUT, one Swift package for the models of that folder",
    )
    parser.add_argument("--report-json", type=Path, metavar="FILE", help="also write the op report as JSON")
    add_report_args(parser)
    add_json_arg(parser)
    check = parser.add_argument_group(
        "the numbers check (before anything is written, the emitted model runs in bridgec's reference "
        "executor and is compared with the source model: PyTorch, or onnxruntime for .onnx files)"
    )
    check.add_argument(
        "--check-input",
        action="append",
        default=[],
        metavar="NAME=FILE.npy",
        help="check on this input instead of seeded random data (repeatable; FILE.npy alone for a one-input "
        "model; integer or bool arrays for integer or bool inputs; for an --image-input, H x W x 3 pixels "
        "0..255). Random integer inputs take values within the tables they index, else 0 and 1",
    )
    check.add_argument(
        "--tolerance",
        type=float,
        metavar="T",
        help=tolerance_help(),
    )
    check.add_argument(
        "--strict",
        action="store_true",
        help="fail (exit 1, nothing written) when the model cannot be checked, e.g. the reference executor "
        "lacks one of its ops",
    )
    check.add_argument(
        "--no-check",
        dest="check",
        action="store_false",
        help="skip the check (the model is written unchecked, and the last line says so)",
    )
    app = parser.add_argument_group("what the app feeds and gets")
    app.add_argument(
        "--image-input",
        metavar="NAME",
        help="make this 1x3xHxW (1x1xHxW for GRAY) input a Core ML image (CVPixelBuffer)",
    )
    app.add_argument("--scale", type=float, default=1.0, help="image pixel scale, e.g. 0.00392 (1/255)")
    app.add_argument(
        "--bias",
        default="0",
        metavar="B or R,G,B",
        help="added after scaling: one value, or one per channel in R,G,B order",
    )
    app.add_argument(
        "--color-layout",
        choices=("RGB", "BGR", "GRAY", "G"),
        default="RGB",
        help="channel order the model expects (G: GRAY); a 3-channel --image-output is in it too",
    )
    app.add_argument(
        "--image-output",
        action="append",
        default=[],
        metavar="NAME",
        help="make this 1x3xHxW (1x1xHxW: gray) output a Core ML image, for image-to-image models "
        "(repeatable); Core ML clips its values to 0..255 pixels",
    )
    app.add_argument(
        "--labels",
        type=Path,
        metavar="labels.txt",
        help="class labels, one a line: makes a classifier (classLabel + probabilities) of the one output",
    )
    app.add_argument(
        "--labels-output",
        metavar="NAME",
        help="with --labels, the output that holds the class scores, for a model with several outputs",
    )
    from bridgec.backends.coreml.compress import MODES, WEIGHT_THRESHOLD, describe_modes

    parser.add_argument_group("weights").add_argument(
        "--compress",
        choices=tuple(MODES),
        help=f"store weights of {WEIGHT_THRESHOLD}+ values in fewer bits ({describe_modes()}); an ML Program "
        "needs --target iOS16+, int4 iOS18 (which also groups the LUTs). The model is checked uncompressed, "
        "then the compressed model's error against PyTorch is measured and reported (and held to "
        "--tolerance if given)",
    )
    meta = parser.add_argument_group("model metadata (shown in Xcode)")
    meta.add_argument(
        "--metadata",
        type=Path,
        metavar="FILE.json",
        help='all of it from a JSON object: {"author": ..., "license": ..., "version": ..., '
        '"description": ..., "inputs": {NAME: TEXT}, "outputs": {NAME: TEXT}}; the flags below win',
    )
    meta.add_argument("--author", default="", help="model author")
    meta.add_argument("--license", default="", help="model license, e.g. 'MIT' or a URL")
    meta.add_argument("--model-version", default="", metavar="VERSION", help="model version string")
    meta.add_argument(
        "--description",
        default="",
        metavar="TEXT",
        help="short description (default: MODEL, converted by bridgec)",
    )
    meta.add_argument(
        "--input-description",
        action="append",
        default=[],
        metavar="NAME=TEXT",
        help="describe an input (repeatable)",
    )
    meta.add_argument(
        "--output-description",
        action="append",
        default=[],
        metavar="NAME=TEXT",
        help="describe an output (repeatable)",
    )
    parser.add_argument("--version", action="version", version=f"bridgec {__version__}")
    return parser


def verify_parser() -> Parser:
    parser = Parser(
        prog="bridgec verify",
        description="Run the same inputs through PyTorch, onnxruntime before and after the passes, and the "
        "Core ML model (bridgec's reference executor everywhere; Core ML itself too on macOS for "
        "models without custom layers), and compare every output with the reference. With --against, "
        "MODEL is a model already written (.mlmodel, .mlpackage or .aimodel, by bridgec or coremltools), "
        "checked as it is against SOURCE: 'bridgec verify model.mlpackage --against model.pt'.",
        epilog="Exit status: 0 all PASS, 1 a comparison failed or the conversion failed, 2 bad usage.",
    )
    _add_model_args(parser)
    _add_pass_args(parser)
    parser.add_argument(
        "--against",
        type=Path,
        metavar="SOURCE",
        help="check MODEL, an existing .mlmodel / .mlpackage / .aimodel, against SOURCE (.pt, .pt2 or .onnx) "
        "without converting again: the artifact's own input shapes (--input picks one shape of a flexible "
        "one), its precision's tolerance, outputs paired by name or else by position",
    )
    parser.add_argument(
        "--inputs", type=Path, metavar="IN.npz", help="input arrays by input name (default: random)"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed for random inputs (default 0)")
    parser.add_argument(
        "--tolerance",
        type=float,
        metavar="T",
        help=tolerance_help(),
    )
    parser.add_argument(
        "--per-node",
        action="store_true",
        help="also compare every intermediate tensor and name the first node that diverges",
    )
    parser.add_argument("--save-inputs", type=Path, metavar="FILE.npz", help="write the inputs used")
    parser.add_argument(
        "--save-outputs",
        type=Path,
        metavar="FILE.npz",
        help="write every runtime's outputs, keyed runtime.output (replay them on a Mac)",
    )
    add_report_args(parser, printed=False)  # verify prints its comparisons, not the op report
    add_json_arg(parser)
    return parser


def report_parser() -> Parser:
    parser = Parser(
        prog="bridgec report",
        description="What converting MODEL would do to every op (native, lowered by which rule, custom layer "
        "with or without kernels, unsupported), without writing a model. A model the target cannot run "
        "still gets its table, with the unsupported rows.",
        epilog="Exit status: 0 the model converts, 1 something is unsupported or lacks a kernel, 2 bad usage.",
    )
    _add_model_args(parser)
    _add_pass_args(parser)
    add_report_args(parser)
    add_json_arg(parser)
    from bridgec.driver.report_formats import FORMATS

    parser.add_argument(
        "--report-print-format",
        action=DeprecatedOption,
        new="--report-format (without --report-out)",
        dest="print_format",
        choices=FORMATS,
    )
    return parser
