"""The ``bridgec`` command line.

bridgec MODEL [--input NAME:DIMS] [-O PIPELINE] [--target T] [-o OUT.mlmodel]   convert
bridgec passes                                                                  list passes
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import traceback
import warnings
from pathlib import Path

from bridgec import __version__
from bridgec.errors import BridgecError, UsageError

SUBCOMMANDS = ("passes", "verify")


class _Parser(argparse.ArgumentParser):
    """argparse, but usage errors are one line and exit status 2, like every other bridgec error."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"{message} (see {self.prog} --help)")


def _add_model_args(parser: _Parser) -> None:
    """The arguments that say what to convert and how: shared by convert and verify."""
    from bridgec.backends.coreml.targets import DEFAULT_TARGET, SPEC_VERSIONS
    from bridgec.passes import DEFAULT_PIPELINE, PIPELINE_DOCS

    pipelines = "; ".join(f"{name}: {doc}" for name, doc in PIPELINE_DOCS.items())
    parser.add_argument("model", type=Path, help="TorchScript archive (torch.jit.save) or .onnx file")
    parser.add_argument(
        "--input",
        "-i",
        action="append",
        metavar="NAME:DIMS",
        default=[],
        help="input shape, e.g. x:1x3x256x256 (repeatable; the name may be omitted for a "
        "single input). Required for TorchScript, which stores no shapes.",
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
        help=f"deployment target: {', '.join(SPEC_VERSIONS)} (default {DEFAULT_TARGET})",
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
        choices=("auto", "neuralnetwork"),
        default="auto",
        help="Core ML model format: neuralnetwork (.mlmodel, the one with custom layers) is the "
        "one bridgec writes today; auto picks it",
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress lines")
    parser.add_argument("--debug", action="store_true", help="show tracebacks and library warnings")


def _convert_parser() -> _Parser:
    parser = _Parser(
        prog="bridgec",
        description="Convert a PyTorch (TorchScript) or ONNX model to Core ML: lower the ops Core ML lacks, "
        "make custom layers of the rest, and write Swift/Metal kernels for them.",
        epilog="other commands: 'bridgec verify MODEL' checks the numbers of a conversion, 'bridgec passes' "
        "lists passes and pipelines. Exit status: 0 converted, 1 conversion failed, 2 bad usage or "
        "unreadable input.",
    )
    _add_model_args(parser)
    parser.add_argument(
        "-o",
        "--output",
        type=Path,
        metavar="OUT.mlmodel",
        help="output model (default: beside MODEL, with .mlmodel); custom-layer kernels go to OUT_kernels/",
    )
    parser.add_argument("--report-json", type=Path, metavar="FILE", help="also write the op report as JSON")
    parser.add_argument("--version", action="version", version=f"bridgec {__version__}")
    return parser


def _verify_parser() -> _Parser:
    parser = _Parser(
        prog="bridgec verify",
        description="Run the same inputs through PyTorch, onnxruntime before and after the passes, and the "
        "Core ML model (bridgec's reference executor everywhere; Core ML itself too on macOS for "
        "models without custom layers), and compare every output with the reference.",
        epilog="Exit status: 0 all PASS, 1 a comparison failed or the conversion failed, 2 bad usage.",
    )
    _add_model_args(parser)
    parser.add_argument(
        "--inputs", type=Path, metavar="IN.npz", help="input arrays by input name (default: random)"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed for random inputs (default 0)")
    parser.add_argument("--atol", type=float, default=1e-4, help="absolute tolerance (default 1e-4)")
    parser.add_argument("--rtol", type=float, default=1e-3, help="relative tolerance (default 1e-3)")
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
    return parser


def _progress(quiet: bool):
    def say(message: str) -> None:
        if not quiet:
            print(f"bridgec: {message}", file=sys.stderr, flush=True)

    return say


def _cmd_verify(argv: list[str]) -> int:
    args = _verify_parser().parse_args(argv)
    from bridgec.frontends import parse_input_specs
    from bridgec.verify import render, save_inputs, save_outputs, verify

    result = verify(
        args.model,
        inputs=parse_input_specs(args.input),
        pipeline=args.pipeline,
        target=args.target,
        avoid_ops=tuple(args.avoid_op),
        feeds_file=args.inputs,
        seed=args.seed,
        atol=args.atol,
        rtol=args.rtol,
        per_node=args.per_node,
        progress=_progress(args.quiet),
    )
    if args.save_inputs:
        save_inputs(result, args.save_inputs)
    if args.save_outputs:
        save_outputs(result, args.save_outputs)
    print(render(result, args.pipeline, args.atol, args.rtol))
    return 0 if result.passed else 1


def _passes_parser() -> _Parser:
    return _Parser(
        prog="bridgec passes", description="List registered passes, their rules and the -O pipelines."
    )


def _cmd_passes(argv: list[str]) -> int:
    _passes_parser().parse_args(argv)
    from bridgec.passes import PIPELINE_DOCS, PIPELINES, REGISTRY, RuleSet

    print("passes:")
    for pass_id, cls in sorted(REGISTRY.items()):
        print(f"  {pass_id:34} {cls.doc()}")
        if issubclass(cls, RuleSet):
            for line in cls.explain():
                print(f"  {'':34}   {line}")
    print("pipelines (-O):")
    for name, ids in PIPELINES.items():
        print(f"  {name:14} {PIPELINE_DOCS[name]}")
        print(f"  {'':14} {' -> '.join(ids)}")
    return 0


def _cmd_convert(argv: list[str]) -> int:
    args = _convert_parser().parse_args(argv)
    from bridgec.convert import convert
    from bridgec.frontends import parse_input_specs

    inputs = parse_input_specs(args.input)

    def progress(message: str) -> None:
        if not args.quiet:
            print(f"bridgec: {message}", file=sys.stderr, flush=True)

    result = convert(
        args.model,
        inputs=inputs,
        pipeline=args.pipeline,
        target=args.target,
        avoid_ops=tuple(args.avoid_op),
        output=args.output,
        progress=progress,
    )
    if args.report_json:
        from bridgec.backends.coreml.neuralnetwork import write_atomic

        write_atomic(result.report.to_json().encode(), args.report_json)
    if not args.quiet:
        print(result.report.render())
        print(f"wrote {result.model_path}")
        if result.kernels_dir:
            names = ", ".join(p.name for p in result.kernel_files if not p.name.startswith("."))
            print(f"wrote {result.kernels_dir}/: {names}")
        missing = [c for c in result.custom_classes if c not in _kernel_classes()]
        if missing:
            print(
                f"note: no bundled kernel for custom layer(s) {', '.join(missing)}: the app must implement them"
            )
    return 0


def _kernel_classes() -> set[str]:
    from bridgec.runtime_kernels.catalog import KERNELS

    return set(KERNELS)


def _quiet_libraries() -> None:
    warnings.simplefilter("ignore")
    for name in ("coremltools", "onnx_graphsurgeon", "torch"):
        logging.getLogger(name).setLevel(logging.ERROR)
    os.environ.setdefault("PYTHONWARNINGS", "ignore")


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    if not debug:
        _quiet_libraries()
    try:
        if argv and argv[0] in SUBCOMMANDS:
            return {"passes": _cmd_passes, "verify": _cmd_verify}[argv[0]](argv[1:])
        return _cmd_convert(argv)
    except BridgecError as exc:
        if debug:
            traceback.print_exc()
        print(f"bridgec: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("bridgec: interrupted; no output was written", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - the contract is one line; --debug shows the rest
        if debug:
            traceback.print_exc()
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        print(
            f"bridgec: error: internal error {type(exc).__name__}: {message} (rerun with --debug and report "
            "it)",
            file=sys.stderr,
        )
        return 1


if __name__ == "__main__":
    sys.exit(main())
