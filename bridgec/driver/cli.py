"""The ``bridgec`` command line.

bridgec MODEL [--input NAME:DIMS] [-O PIPELINE] [--target T] [--format F] [-o OUT]  convert
bridgec passes                                                                  list passes
bridgec report MODEL [...]                                                      op report, no conversion
bridgec coverage [--target T]                                                   ONNX op coverage of a target
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import traceback
import warnings
from pathlib import Path

from bridgec import __version__
from bridgec.core.errors import BridgecError, UsageError, out_of_memory

SUBCOMMANDS = ("passes", "verify", "report", "coverage")


class _Parser(argparse.ArgumentParser):
    """argparse, but usage errors are one line and exit status 2, like every other bridgec error."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"{message} (see {self.prog} --help)")

    def exit(self, status: int = 0, message: str | None = None) -> None:  # type: ignore[override]
        if message:
            self._print_message(message, sys.stderr)
        raise _ParserExit(status)


class _ParserExit(SystemExit):
    """--help and --version ending the run: the one sys.exit bridgec obeys (see ``_run``)."""


def _add_model_args(parser: _Parser) -> None:
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
        metavar="NAME:DIMS",
        default=[],
        help="input shape, e.g. x:1x3x256x256 (repeatable; the name may be omitted for a "
        "single input). Required for TorchScript, which stores no shapes. Flexible shapes for "
        "Core ML: ranges x:1x3x(128..512)x(128..512) or enumerated x:1x3x224x224,1x3x320x320.",
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
        default=DEFAULT_TARGET,
        metavar="OS",
        help=f"deployment target: {', '.join(SPEC_VERSIONS)} (default {DEFAULT_TARGET}). It fixes the "
        "Core ML features the model may use; ML Programs need iOS15 / macOS12 or newer",
    )
    parser.add_argument(
        "--avoid-op",
        action="append",
        default=[],
        metavar="OP",
        help="treat an ONNX op as missing on the target (repeatable), so lowering picks "
        "another form, e.g. --avoid-op Clip gives the ReLU-only hardtanh",
    )
    parser.add_argument(
        "--format",
        choices=FORMATS,
        default="auto",
        help="Core ML model format: mlprogram (.mlpackage; iOS15+, fp16, the Neural Engine's format, no "
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
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress lines")
    parser.add_argument("--debug", action="store_true", help="show tracebacks and library warnings")
    _add_frontend_args(parser)


def _add_frontend_args(parser: _Parser) -> None:
    """How PyTorch files are read and exported: shared by convert and verify."""
    group = parser.add_argument_group("PyTorch input")
    group.add_argument(
        "--exporter",
        choices=("auto", "torchscript", "dynamo"),
        default="auto",
        help="torch.onnx exporter: torchscript (dynamo=False) or dynamo (torch.export based); auto "
        "tries the one that suits the file first and says when it falls back (default auto)",
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


def _flexible_inputs(args: argparse.Namespace) -> dict:
    from bridgec.frontends.shapes import parse_flexible_specs

    flexible = parse_flexible_specs(args.input)
    if flexible and args.image_input:
        raise UsageError("flexible --input shapes with --image-input are not supported yet; give one shape")
    return flexible


def _glue_bias(argv: list[str]) -> list[str]:
    """``--bias -0.485,-0.456,-0.406`` as ``--bias=...``: argparse takes a leading '-' for an option."""
    out: list[str] = []
    for i, arg in enumerate(argv):
        if i and argv[i - 1] == "--bias" and out and out[-1] == "--bias":
            out[-1] = f"--bias={arg}"
        else:
            out.append(arg)
    return out


# far beyond any class list (ImageNet-21k's is under 1 MB), and read whole into the model
_MAX_LABELS_BYTES = 64 << 20


def _app_options(args: argparse.Namespace) -> dict:
    """--image-input/--scale/--bias/--color-layout and --labels as convert()'s image and labels."""
    from bridgec.backends.coreml.neuralnetwork import ImageInput

    options: dict = {}
    if args.image_input:
        try:
            bias = tuple(float(b) for b in args.bias.split(","))
        except ValueError:
            raise UsageError(f"--bias {args.bias!r}: expected numbers such as -0.485,-0.456,-0.406") from None
        options["image"] = ImageInput(args.image_input, args.scale, bias, args.color_layout)
    elif args.scale != 1.0 or args.bias != "0" or args.color_layout != "RGB":
        raise UsageError("--scale, --bias and --color-layout describe an image input: add --image-input NAME")
    if args.labels:
        from bridgec.core.input_files import read_bytes, shown

        label = f"--labels {shown(args.labels)}"
        try:
            text = read_bytes(args.labels, label, limit=_MAX_LABELS_BYTES).decode("utf-8")
        except UnicodeDecodeError:
            raise UsageError(f"{label}: not UTF-8 text (one label a line)") from None
        labels = [line.strip() for line in text.splitlines() if line.strip()]
        if not labels:
            raise UsageError(f"--labels {args.labels}: no labels in it (one a line)")
        options["labels"] = labels
    return options


def _frontend_options(args: argparse.Namespace):
    from bridgec.frontends import LoadOptions

    def notify(message: str) -> None:  # warnings and exporter fallbacks: shown even with -q
        print(f"bridgec: {message}", file=sys.stderr, flush=True)

    if args.arch_args is not None and not args.arch:
        raise UsageError("--arch-args without --arch: they are the constructor arguments of --arch's class")
    if args.arch is not None:
        from bridgec.frontends.pytorch import check_arch_spec

        check_arch_spec(args.arch)
    return LoadOptions(
        exporter=args.exporter,
        trust_pickle=args.trust_pickle,
        imports=tuple(args.imports),
        paths=tuple(args.paths),
        arch=args.arch,
        arch_args=args.arch_args,
        notify=notify,
    )


def _add_pass_args(parser: _Parser) -> None:
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


def _run_options(args: argparse.Namespace):
    from bridgec.driver.convert import RunOptions
    from bridgec.passes._plugins import load_entry_points, load_file

    load_entry_points()
    for path in args.load_passes:
        load_file(path)
    passes = [p.strip() for p in args.passes.split(",") if p.strip()] if args.passes is not None else None
    if passes == []:  # '' or ',' would otherwise run the -O pipeline as if --passes were not given
        raise UsageError(f"--passes {args.passes!r}: no pass ids in it; give A,B,C (see bridgec passes)")
    if args.dump_dir is not None and args.dump_dir.exists() and not args.dump_dir.is_dir():
        raise UsageError(f"--dump-dir {args.dump_dir}: is a file; name a folder (bridgec creates it)")
    return RunOptions(
        passes=passes,
        disable=tuple(args.disable_pass),
        check_each=args.check_each,
        verify_each=args.verify_each,
        dump_dir=args.dump_dir,
        dump_graphml=args.dump_graphml,
        print_after=tuple(args.print_after),
        allow_missing_kernels=args.allow_missing_kernels,
    )


def _print_stats(args: argparse.Namespace, ctx) -> None:
    if args.timings:
        from bridgec.driver import timing

        print(timing.render(timing.report()), file=sys.stderr)
    if args.stats:
        from bridgec.passes import render_stats

        print(render_stats(ctx))


def _add_report_args(parser: _Parser) -> None:
    parser.add_argument(
        "--report-out",
        type=Path,
        metavar="FILE",
        help="write the op report to FILE: .md Markdown, .json JSON (docs/report-schema.md), .html a "
        "self-contained page, or any name with --report-format",
    )
    parser.add_argument(
        "--report-format",
        choices=("table", "markdown", "json", "html"),
        help="format of --report-out (default: from its suffix)",
    )


def _check_report_out(args: argparse.Namespace) -> None:
    """A --report-out whose format cannot be told fails before the slow part."""
    if args.report_out:
        from bridgec.driver.report import format_for

        format_for(args.report_out, args.report_format)


def _write_report(args: argparse.Namespace, report) -> None:
    if args.report_out:
        report.write(args.report_out, args.report_format)


def _user_files(args: argparse.Namespace, outputs: dict[str, str], inputs: dict[str, str]) -> list:
    """The paths a command reads and writes besides the model and ``-o`` (flag -> argparse dest), as
    ``files.Claim``: no output may write over an input or another output."""
    from bridgec.driver.files import Claim

    claims = []
    for flag, dest in outputs.items():
        if getattr(args, dest, None):
            kind = "dump" if flag == "--dump-dir" else "file"
            claims.append(Claim(f"{flag} {getattr(args, dest)}", Path(getattr(args, dest)), kind))
    for flag, dest in inputs.items():
        values = getattr(args, dest, None) or []
        for value in values if isinstance(values, list) else [values]:
            path = str(value)
            if flag == "--check-input":  # NAME=FILE.npy, or FILE.npy alone
                path = path.partition("=")[2] or path
            claims.append(Claim(f"{flag} {path}", Path(path), "input"))
    return claims


def _convert_parser() -> _Parser:
    parser = _Parser(
        prog="bridgec",
        description="Convert a PyTorch (TorchScript, torch.export) or ONNX model to Core ML: lower the ops "
        "Core ML lacks and write an ML Program (.mlpackage); where custom layers remain, write a "
        "NeuralNetwork (.mlmodel) with Swift/Metal kernels for them.",
        epilog="other commands: 'bridgec verify MODEL' checks the numbers of a conversion, 'bridgec report "
        "MODEL' prints the op report without converting, 'bridgec coverage' lists the ONNX ops a target "
        "runs, 'bridgec passes' lists passes and pipelines. Exit status: 0 converted, 1 conversion failed, 2 bad usage or "
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
        "kernels go to OUT_kernels/",
    )
    parser.add_argument("--report-json", type=Path, metavar="FILE", help="also write the op report as JSON")
    _add_report_args(parser)
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
        "model; for an --image-input, H x W x 3 pixels 0..255)",
    )
    check.add_argument(
        "--tolerance",
        type=float,
        metavar="T",
        help="largest accepted max|coreml - source| / max|source| per output (default 1e-4 at fp32, 5e-2 at "
        "fp16)",
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
        choices=("RGB", "BGR", "GRAY"),
        default="RGB",
        help="channel order the model expects",
    )
    app.add_argument(
        "--labels",
        type=Path,
        metavar="labels.txt",
        help="class labels, one a line: makes a classifier (classLabel + probabilities) of the one output",
    )
    meta = parser.add_argument_group("model metadata (shown in Xcode)")
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


def _metadata(args: argparse.Namespace):
    from bridgec.backends.coreml.metadata import Metadata

    def pairs(values: list[str], flag: str) -> dict[str, str]:
        found = {}
        for value in values:
            name, sep, text = value.partition("=")
            if not sep or not name.strip():
                raise UsageError(f"{flag} {value!r}: expected NAME=TEXT")
            found[name.strip()] = text
        return found

    return Metadata(
        short_description=args.description,
        author=args.author,
        license=args.license,
        version=args.model_version,
        input_descriptions=pairs(args.input_description, "--input-description"),
        output_descriptions=pairs(args.output_description, "--output-description"),
    )


def _verify_parser() -> _Parser:
    parser = _Parser(
        prog="bridgec verify",
        description="Run the same inputs through PyTorch, onnxruntime before and after the passes, and the "
        "Core ML model (bridgec's reference executor everywhere; Core ML itself too on macOS for "
        "models without custom layers), and compare every output with the reference.",
        epilog="Exit status: 0 all PASS, 1 a comparison failed or the conversion failed, 2 bad usage.",
    )
    _add_model_args(parser)
    _add_pass_args(parser)
    parser.add_argument(
        "--inputs", type=Path, metavar="IN.npz", help="input arrays by input name (default: random)"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed for random inputs (default 0)")
    parser.add_argument(
        "--tolerance",
        type=float,
        metavar="T",
        help="largest accepted max|got - ref| / max|ref| per output (default 1e-4; 5e-2 with --precision fp16)",
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
    _add_report_args(parser)
    return parser


def _progress(quiet: bool):
    from bridgec.core import interrupts

    def say(message: str) -> None:
        interrupts.checkpoint()  # every stage: an interrupt a library swallowed ends the run here
        if not quiet:
            print(f"bridgec: {message}", file=sys.stderr, flush=True)

    return say


def _model_kwargs(args: argparse.Namespace) -> dict:
    """The arguments convert, verify and report share: what to read and how to run the passes."""
    from bridgec.backends.coreml.targets import Target
    from bridgec.frontends import parse_input_specs

    Target.parse(args.target)  # a wrong --target fails now, not after loading the model
    empty = [op for op in args.avoid_op if not op.strip()]
    if empty:
        raise UsageError("--avoid-op '': give an ONNX op type, e.g. --avoid-op Clip")
    return {
        "inputs": parse_input_specs(args.input),
        "pipeline": args.pipeline,
        "target": args.target,
        "avoid_ops": tuple(args.avoid_op),
        "format": args.format,
        "precision": args.precision,
        "progress": _progress(args.quiet),
        "options": _run_options(args),
        "frontend": _frontend_options(args),
    }


def _cmd_verify(argv: list[str]) -> int:
    args = _verify_parser().parse_args(argv)
    from bridgec.driver import files
    from bridgec.driver.verify import render, save_inputs, save_outputs, verify

    _check_report_out(args)
    if args.inputs is not None:  # a pipe or a device fails now, not after the model has loaded
        from bridgec.core.input_files import regular_file

        regular_file(args.inputs, f"--inputs {args.inputs}")
    outputs = {"--save-inputs": "save_inputs", "--save-outputs": "save_outputs", "--report-out": "report_out"}
    files.check_claims(
        [
            files.Claim(f"the input model {args.model}", args.model, "input"),
            *_user_files(
                args,
                {**outputs, "--dump-dir": "dump_dir"},
                {"--inputs": "inputs", "--load-passes": "load_passes"},
            ),
        ]
    )
    from bridgec.core.numerics import TOLERANCES

    if args.tolerance is not None and not args.tolerance > 0:
        raise UsageError(f"--tolerance {args.tolerance}: give a positive number such as 1e-4")
    # float16 keeps 11 significant bits: its honest error is far above float32's
    args.tolerance = args.tolerance if args.tolerance is not None else TOLERANCES[args.precision]
    result = verify(
        args.model,
        feeds_file=args.inputs,
        seed=args.seed,
        tolerance=args.tolerance,
        per_node=args.per_node,
        **_model_kwargs(args),
    )
    if args.save_inputs:
        save_inputs(result, args.save_inputs)
    if args.save_outputs:
        save_outputs(result, args.save_outputs)
    print(render(result, args.pipeline, args.tolerance))
    _print_stats(args, result.context)
    if args.report_out:
        from bridgec.driver.report import Verification

        result.report.verification = Verification.from_result(result)
        _write_report(args, result.report)
    return 0 if result.passed else 1


def _report_parser() -> _Parser:
    parser = _Parser(
        prog="bridgec report",
        description="What converting MODEL would do to every op (native, lowered by which rule, custom layer "
        "with or without kernels, unsupported), without writing a model. A model the target cannot run "
        "still gets its table, with the unsupported rows.",
        epilog="Exit status: 0 the model converts, 1 something is unsupported or lacks a kernel, 2 bad usage.",
    )
    _add_model_args(parser)
    _add_pass_args(parser)
    _add_report_args(parser)
    parser.add_argument(
        "--report-print-format",
        dest="print_format",
        choices=("table", "markdown", "json", "html"),
        default="table",
        help="what to print on stdout (default table)",
    )
    return parser


def _cmd_report(argv: list[str]) -> int:
    args = _report_parser().parse_args(argv)
    from bridgec.driver import files
    from bridgec.driver.report import analyze

    _check_report_out(args)
    files.check_claims(
        [
            files.Claim(f"the input model {args.model}", args.model, "input"),
            *_user_files(
                args,
                {"--report-out": "report_out", "--dump-dir": "dump_dir"},
                {"--load-passes": "load_passes"},
            ),
        ]
    )
    report = analyze(args.model, **_model_kwargs(args))
    print(report.render(args.print_format))
    _print_stats(args, report.context)
    _write_report(args, report)
    return 0 if report.possible else 1


def _coverage_parser() -> _Parser:
    from bridgec.backends.coreml.targets import DEFAULT_TARGET, FORMAT_NAMES, SPEC_VERSIONS

    parser = _Parser(
        prog="bridgec coverage",
        description="Every operator of the default ONNX domain (latest opset) on a Core ML target: native, "
        "lowered by a rule, custom layer with a bundled kernel, or unsupported; with attribute "
        "restrictions and, with --node-tests, ONNX's backend node-test results through bridgec.",
    )
    parser.add_argument(
        "--target",
        default=DEFAULT_TARGET,
        metavar="OS",
        help=f"deployment target: {', '.join(SPEC_VERSIONS)} (default {DEFAULT_TARGET})",
    )
    parser.add_argument(
        "--format",
        choices=("table", "markdown", "json"),
        default="table",
        help="output format (default table)",
    )
    parser.add_argument(
        "--model-format",
        choices=tuple(FORMAT_NAMES),
        default="neuralnetwork",
        help="Core ML model format to report on (default neuralnetwork)",
    )
    parser.add_argument(
        "--node-tests",
        action="store_true",
        help="also run ONNX's backend node tests through bridgec (convert + reference executor; minutes)",
    )
    parser.add_argument("-o", "--output", type=Path, metavar="FILE", help="write to FILE instead of stdout")
    return parser


def _cmd_coverage(argv: list[str]) -> int:
    args = _coverage_parser().parse_args(argv)
    from bridgec.driver import coverage

    table = coverage.build(args.target, node_tests=args.node_tests, format=args.model_format)
    text = table.render(args.format)
    if args.output:
        from bridgec.backends.coreml.neuralnetwork import write_atomic

        write_atomic(text.encode(), args.output)
    else:
        print(text)
    return 0


def _passes_parser() -> _Parser:
    parser = _Parser(
        prog="bridgec passes", description="List registered passes, their rules and the -O pipelines."
    )
    parser.add_argument(
        "--load-passes",
        action="append",
        default=[],
        metavar="FILE.py",
        help="also load the passes a Python file registers",
    )
    return parser


def _cmd_passes(argv: list[str]) -> int:
    args = _passes_parser().parse_args(argv)
    from bridgec.passes import PIPELINE_DOCS, PIPELINES, REGISTRY, pipeline_ids
    from bridgec.passes._plugins import load_entry_points, load_file

    load_entry_points()
    for path in args.load_passes:
        load_file(path)

    print("passes:")
    for pass_id, cls in sorted(REGISTRY.items()):
        print(f"  {pass_id:34} {cls.doc()}")
        if hasattr(cls, "explain"):  # RuleSets, and passes that explain their rules the same way
            for line in cls.explain():
                print(f"  {'':34}   {line}")
    print("pipelines (-O):")
    for name in PIPELINES:
        print(f"  {name:14} {PIPELINE_DOCS[name]}")
        print(f"  {'':14} {' -> '.join(pipeline_ids(name))}")
    return 0


def _cmd_convert(argv: list[str]) -> int:
    args = _convert_parser().parse_args(_glue_bias(argv))
    from bridgec.driver.convert import convert

    _check_report_out(args)
    from bridgec.driver.check import parse_check_inputs

    result = convert(
        args.model,
        output=args.output,
        check=args.check,
        check_inputs=parse_check_inputs(args.check_input),
        strict=args.strict,
        tolerance=args.tolerance,
        **_model_kwargs(args),
        metadata=_metadata(args),
        flexible=_flexible_inputs(args),
        # written with the model, all or nothing
        extra_outputs={args.report_json: lambda r: r.report.to_json().encode()} if args.report_json else None,
        protect=_user_files(
            args,
            {"--report-json": "report_json", "--report-out": "report_out", "--dump-dir": "dump_dir"},
            {"--check-input": "check_input", "--labels": "labels", "--load-passes": "load_passes"},
        ),
        **_app_options(args),
    )
    _print_stats(args, result.context)
    _write_report(args, result.report)
    if not args.quiet:
        print(result.report.render())
        print(f"format: {result.format} ({result.format_reason})")
        print(f"wrote {result.model_path}")
        if result.kernels_dir:
            names = ", ".join(p.name for p in result.kernel_files if not p.name.startswith("."))
            print(f"wrote {result.kernels_dir}/: {names}")
        missing = [c for c in result.custom_classes if c not in _kernel_classes()]
        if missing:
            print(
                f"note: no bundled kernel for custom layer(s) {', '.join(missing)}: the app must implement them"
            )
        print(result.check.line())  # the last line: what was proven about the numbers
    elif result.check.status != "checked":
        print(f"bridgec: warning: {result.model_path}: {result.check.line()}", file=sys.stderr)
    return 0


def _kernel_classes() -> set[str]:
    from bridgec.runtime_kernels.catalog import KERNELS

    return set(KERNELS)


def _quiet_libraries() -> None:
    warnings.simplefilter("ignore")
    for name in ("coremltools", "onnx_graphsurgeon", "torch"):
        logging.getLogger(name).setLevel(logging.ERROR)
    os.environ.setdefault("PYTHONWARNINGS", "ignore")


def _terminate_as_interrupt():
    """SIGTERM unwinds like Ctrl-C, so staged outputs and temporary files are removed either way.
    Both are recorded (``interrupts.received``): a library that swallowed the KeyboardInterrupt, or
    turned it into an error of its own (an extension module interrupted while importing raises
    ImportError), still ends the run as interrupted."""
    import threading

    from bridgec.core import interrupts

    interrupts.received.clear()
    if "bridgec.driver.convert" in sys.modules:
        sys.modules["bridgec.driver.convert"].COMMITTED.clear()
    if threading.current_thread() is not threading.main_thread():
        return None
    return {sig: signal.signal(sig, interrupts.handler) for sig in interrupts.SIGNALS}


def _interrupted() -> int:
    convert = sys.modules.get("bridgec.driver.convert")
    written = list(getattr(convert, "COMMITTED", []))
    if written:  # the signal came after the outputs were renamed into place: they are whole
        print(f"bridgec: interrupted; {written[-1]} was already written completely", file=sys.stderr)
    else:
        from bridgec.core.interrupts import MESSAGE

        print(MESSAGE, file=sys.stderr)
    return 130


_OUT_OF_MEMORY = (
    "out of memory: the model at these input shapes needs more memory than this process may use; convert "
    "it at smaller --input shapes, or where more memory is available"
)


def _printable_output() -> None:
    """A file name that is not UTF-8 reaches Python with surrogate escapes, which a strict UTF-8
    stdout cannot print ("wrote mod\\udcff.mlpackage" would fail after the model was written)."""
    reconfigure = getattr(sys.stdout, "reconfigure", None)
    if reconfigure is not None and getattr(sys.stdout, "errors", None) == "strict":
        reconfigure(errors="backslashreplace")


def _run(argv: list[str], debug: bool) -> int:
    from bridgec.core import interrupts

    try:
        if argv and argv[0] in SUBCOMMANDS:
            code = {
                "passes": _cmd_passes,
                "verify": _cmd_verify,
                "report": _cmd_report,
                "coverage": _cmd_coverage,
            }[argv[0]](argv[1:])
        else:
            code = _cmd_convert(argv)
        interrupts.checkpoint()  # a swallowed interrupt ends as one, whatever the command returned
        return code
    except BridgecError as exc:
        if debug:
            traceback.print_exc()
        if interrupts.received:
            raise KeyboardInterrupt from None
        print(f"bridgec: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except SystemExit as exc:
        if isinstance(exc, _ParserExit):
            raise
        # user code bridgec runs (a module --trust-pickle unpickles, --arch's class) may not end the
        # run silently with a status of its choosing
        if debug:
            traceback.print_exc()
        if interrupts.received:
            raise KeyboardInterrupt from None
        print(
            f"bridgec: error: code from the model or a plugin called sys.exit({exc.code!r}); nothing was "
            "written (rerun with --debug to see where)",
            file=sys.stderr,
        )
        return 2
    except MemoryError:
        return _out_of_memory(debug)
    except Exception as exc:  # noqa: BLE001 - the contract is one line; --debug shows the rest
        if out_of_memory(exc):  # torch and onnxruntime report a failed allocation as their own error
            return _out_of_memory(debug)
        if debug:
            traceback.print_exc()
        if interrupts.received:
            raise KeyboardInterrupt from None
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        print(
            f"bridgec: error: internal error {type(exc).__name__}: {message} (rerun with --debug and report "
            "it)",
            file=sys.stderr,
        )
        return 1


def _out_of_memory(debug: bool) -> int:
    """Sizes are bounded (2^30 elements a tensor) before anything is allocated, but a model at shapes
    under the bound can still need more memory than this machine gives the process."""
    from bridgec.core import interrupts

    if debug:
        traceback.print_exc()
    if interrupts.received:
        raise KeyboardInterrupt from None
    print(f"bridgec: error: {_OUT_OF_MEMORY}", file=sys.stderr)
    return 1


def main(argv: list[str] | None = None) -> int:
    own_process = argv is None  # the bridgec command itself, not a call from Python
    argv = list(sys.argv[1:] if argv is None else argv)
    if own_process:
        _printable_output()
    debug = "--debug" in argv
    if debug:
        os.environ["BRIDGEC_DEBUG"] = "1"  # frontends keep torch's native output visible
    else:
        _quiet_libraries()
    from bridgec.core import interrupts
    from bridgec.driver import files

    previous = _terminate_as_interrupt()
    scratch = None
    code = None
    try:
        with interrupts.deferred():  # the folder exists only once ``scratch`` holds it for removal
            scratch = files.PrivateTemp()
        code = _run(argv, debug)
    except KeyboardInterrupt:
        # Outputs are staged under temporary names and renamed last; the finally blocks that
        # ran on the way here removed the staged files, so nothing half-written is left.
        pass
    finally:
        # the command has decided its exit status: a signal now would only cut the cleanup short
        for sig in previous or {}:
            signal.signal(sig, signal.SIG_IGN)
        if scratch is not None:
            scratch.close()
        for sig, handler in (previous or {}).items():
            signal.signal(sig, signal.SIG_IGN if own_process else handler)
    if code is None:
        code = _interrupted()
    if not own_process:
        interrupts.received.clear()
    elif code == 130:
        # Exit now, with 130. CPython remembers a KeyboardInterrupt that went through C code running
        # Python (an extension module's import) even after it was handled, and would end the process
        # by SIGINT at exit.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(130)
    return code


if __name__ == "__main__":
    sys.exit(main())
