"""The ``bridgec`` command line.

bridgec MODEL [--input NAME:DIMS] [-O PIPELINE] [--target T] [--format F] [-o OUT]  convert
bridgec passes                                                                  list passes
bridgec report MODEL [...]                                                      op report, no conversion
bridgec coverage [--target T]                                                   ONNX op coverage of a target
bridgec targets                                                                 targets and the formats each takes

This module runs the commands: it builds the request from the parsed arguments
(``cli_parsers``, ``cli_requests``), runs it, prints the result and turns every outcome into one
line and an exit status (0 done, 1 conversion failed, 2 bad usage, 130 interrupted).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import traceback
import warnings

from bridgec.core.errors import BridgecError, UsageError, out_of_memory
from bridgec.driver.cli_parsers import (
    ParserExit,
    convert_parser,
    coverage_parser,
    glue_bias,
    passes_parser,
    report_parser,
    targets_parser,
    verify_parser,
)
from bridgec.driver.cli_requests import check_report_out, conversion_request, model_options, user_files

SUBCOMMANDS = ("passes", "verify", "report", "coverage", "targets")


def _print_stats(args: argparse.Namespace, ctx) -> None:
    if args.timings:
        from bridgec.core import timing

        print(timing.render(timing.report()), file=sys.stderr)
    if args.stats:
        from bridgec.passes import render_stats

        print(render_stats(ctx))


def _write_report(args: argparse.Namespace, report) -> None:
    """--report-out of ``bridgec verify`` and ``bridgec report`` (a conversion writes it with the model)."""
    if args.report_out:
        from bridgec.driver.output import write_file
        from bridgec.driver.report import format_for

        text = report.render(format_for(args.report_out, args.report_format))
        write_file(text.encode(), args.report_out)


def _cmd_verify(argv: list[str]) -> int:
    args = verify_parser().parse_args(argv)
    from bridgec.driver import files
    from bridgec.driver.verify import render, save_inputs, save_outputs, verify

    check_report_out(args)
    if args.inputs is not None:  # a pipe or a device fails now, not after the model has loaded
        from bridgec.core.input_files import regular_file

        regular_file(args.inputs, f"--inputs {args.inputs}")
    outputs = {"--save-inputs": "save_inputs", "--save-outputs": "save_outputs", "--report-out": "report_out"}
    files.check_claims(
        [
            files.Claim(f"the input model {args.model}", args.model, "input"),
            *user_files(
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
    options = model_options(args)
    with options["progress"]:  # the status line goes before anything is printed
        result = verify(
            args.model,
            feeds_file=args.inputs,
            seed=args.seed,
            tolerance=args.tolerance,
            per_node=args.per_node,
            **options,
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


def _cmd_report(argv: list[str]) -> int:
    args = report_parser().parse_args(argv)
    from bridgec.driver import files
    from bridgec.driver.analysis import analyze

    check_report_out(args)
    files.check_claims(
        [
            files.Claim(f"the input model {args.model}", args.model, "input"),
            *user_files(
                args,
                {"--report-out": "report_out", "--dump-dir": "dump_dir"},
                {"--load-passes": "load_passes"},
            ),
        ]
    )
    options = model_options(args)
    with options["progress"]:
        report = analyze(args.model, **options)
    print(report.render(args.print_format))
    _print_stats(args, report.context)
    _write_report(args, report)
    return 0 if report.possible else 1


def _cmd_coverage(argv: list[str]) -> int:
    args = coverage_parser().parse_args(argv)
    from bridgec.driver import coverage

    table = coverage.build(args.target, node_tests=args.node_tests, format=args.model_format)
    text = table.render(args.format)
    if args.output:
        from bridgec.driver.output import write_file

        write_file(text.encode(), args.output)
    else:
        print(text)
    return 0


def _cmd_targets(argv: list[str]) -> int:
    args = targets_parser().parse_args(argv)
    from bridgec.driver import targets

    print(targets.render(args.format))
    return 0


def _cmd_passes(argv: list[str]) -> int:
    args = passes_parser().parse_args(argv)
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
    args = convert_parser().parse_args(glue_bias(argv))
    from bridgec.driver.convert import run

    request = conversion_request(args)
    with request.progress:
        result = run(request)
    _print_stats(args, result.context)
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
                "targets": _cmd_targets,
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
        if isinstance(exc, ParserExit):
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
    from bridgec.driver.output import run_guarded

    code = run_guarded(lambda: _run(argv, debug), own_process)
    if own_process and code == 130:
        # Exit now, with 130. CPython remembers a KeyboardInterrupt that went through C code running
        # Python (an extension module's import) even after it was handled, and would end the process
        # by SIGINT at exit.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(130)
    return code


if __name__ == "__main__":
    sys.exit(main())
