"""The ``bridgec`` command line.

bridgec [convert] MODEL [--input NAME:DIMS] [-O PIPELINE] [--target T] [--format F] [-o OUT]
bridgec verify | report | coverage | targets | passes [...]

(``cli_vocabulary.COMMANDS`` says what each does; docs/cli.md lists every option.)

This module runs the commands: it builds the request from the parsed arguments
(``cli_parsers``, ``cli_requests``), runs it, prints the result and turns every outcome into one
line and an exit status (0 done, 1 conversion failed, 2 bad usage, 130 interrupted).
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import ctypes
import logging
import os
import sys
import traceback
import warnings
from pathlib import Path
from typing import NoReturn

from bridgec.core import collector, timing  # first: timing's clock starts at its import
from bridgec.core.errors import BridgecError, UsageError, out_of_memory
from bridgec.core.words import noun
from bridgec.driver.cli_json import emit_json, json_stdout
from bridgec.driver.cli_listings import TABLE_FORMATS, coverage_parser, passes_parser, targets_parser
from bridgec.driver.cli_parsers import (
    ArgumentError,
    ParserExit,
    convert_parser,
    glue_bias,
    report_parser,
    verify_parser,
)
from bridgec.driver.cli_requests import check_report_out, conversion_request, model_options, user_files
from bridgec.driver.cli_vocabulary import COMMANDS, overview

SUBCOMMANDS = tuple(COMMANDS)


def _print_stats(args: argparse.Namespace, ctx) -> None:
    if args.timings:
        print(timing.render(timing.report()), file=sys.stderr)
    if args.stats:
        from bridgec.passes import render_stats

        print(render_stats(ctx))


def _write_report(args: argparse.Namespace, report) -> None:
    """--report-out of ``bridgec verify`` and ``bridgec report`` (a conversion writes it with the model)."""
    if args.report_out:
        from bridgec.driver.output import write_file
        from bridgec.driver.report_formats import format_for

        text = report.render(format_for(args.report_out, args.report_format))
        write_file(text.encode(), args.report_out)


def _cmd_verify(argv: list[str]) -> int:
    args = verify_parser().parse_args(argv)
    from bridgec.driver import files
    from bridgec.driver.verify import data, render, save_inputs, save_outputs, verify
    from bridgec.driver.verify_artifact import is_artifact

    if args.against is not None:
        return _verify_against(args)
    if is_artifact(args.model):
        raise UsageError(
            f"{args.model} is a model already written; to check it add --against SOURCE (the .pt, .pt2 or "
            f".onnx it was converted from): bridgec verify {args.model} --against SOURCE"
        )
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

    _positive_tolerance(args)
    # float16 keeps 11 significant bits: its honest error is far above float32's
    args.tolerance = args.tolerance if args.tolerance is not None else TOLERANCES[args.precision]
    options = model_options(args)
    with json_stdout(args.json):
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
        if args.json:
            emit_json("verify", data(result, args))
        else:
            print(render(result, args.pipeline, args.tolerance))
        _print_stats(args, result.context)
        if args.report_out:
            from bridgec.driver.report import Verification

            result.report.verification = Verification.from_result(result)
            _write_report(args, result.report)
    return 0 if result.passed else 1


def _positive_tolerance(args: argparse.Namespace) -> None:
    if args.tolerance is not None and not args.tolerance > 0:
        raise UsageError(f"--tolerance {args.tolerance}: give a positive number such as 1e-4")


# verify's options that act on a conversion, which --against does not run
_CONVERSION_ONLY = {
    "pipeline": "-O",
    "target": "--target",
    "format": "--format",
    "precision": "--precision",
    "avoid_op": "--avoid-op",
    "per_node": "--per-node",
    "verify_each": "--verify-each",
    "dump_dir": "--dump-dir",
    "load_passes": "--load-passes",
    "report_out": "--report-out",
    "save_inputs": "--save-inputs",
    "save_outputs": "--save-outputs",
    "stats": "--stats",
}


def _verify_against(args: argparse.Namespace) -> int:
    """``bridgec verify ARTIFACT --against SOURCE``: the artifact as it is, against its source."""
    from bridgec.driver import files
    from bridgec.driver.verify_against import data, render, verify_against

    defaults = verify_parser()
    given = [
        flag
        for dest, flag in _CONVERSION_ONLY.items()
        if getattr(args, dest, None) != defaults.get_default(dest)
    ]
    if given:
        raise UsageError(
            f"{', '.join(given)}: not with --against, which runs {args.model} as it is written (no conversion); "
            "drop it, or verify the source alone: bridgec verify SOURCE"
        )
    if args.inputs is not None:
        from bridgec.core.input_files import regular_file

        regular_file(args.inputs, f"--inputs {args.inputs}")
    files.check_claims(
        [
            files.Claim(f"the model to check {args.model}", args.model, "input"),
            files.Claim(f"--against {args.against}", args.against, "input"),
            *user_files(args, {}, {"--inputs": "inputs"}),
        ]
    )
    _positive_tolerance(args)
    options = model_options(args)
    with json_stdout(args.json):
        with options["progress"]:
            result = verify_against(
                args.model,
                args.against,
                inputs=options["inputs"],
                feeds_file=args.inputs,
                seed=args.seed,
                tolerance=args.tolerance,
                frontend=options["frontend"],
                progress=options["progress"],
            )
        if args.json:
            emit_json("verify", data(result))
        else:
            print(render(result))
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
    with json_stdout(args.json):
        with options["progress"]:
            report = analyze(args.model, **options)
        if args.json:
            from bridgec.driver.cli_results import report_data

            emit_json("report", report_data(args.model, report))
        else:
            print(report.render(_printed_format(args)))
        _print_stats(args, report.context)
        _write_report(args, report)
    return 0 if report.possible else 1


def _printed_format(args: argparse.Namespace) -> str:
    """The format of the report on stdout: --report-format's when no --report-out takes it."""
    old = getattr(args, "print_format", None)  # report --report-print-format, deprecated
    return old or (None if args.report_out else args.report_format) or "table"


def _table_format(args: argparse.Namespace, path: Path | None) -> str:
    """coverage's and targets' table format: --report-format, else --report-out's suffix, else table."""
    from bridgec.driver.report_formats import SUFFIX_FORMATS

    if args.report_format or path is None:
        return args.report_format or "table"
    found = SUFFIX_FORMATS.get(path.suffix.lower())
    if found not in TABLE_FORMATS:
        raise UsageError(
            f"--report-out {path}: cannot tell the format from the suffix; name a .md or .json file, or add "
            f"--report-format {'|'.join(TABLE_FORMATS)}"
        )
    return found


def _cmd_coverage(argv: list[str]) -> int:
    args = coverage_parser().parse_args(argv)
    from bridgec.driver import coverage

    path = args.report_out or args.old_output
    # the deprecated -o wrote the --format table (default: the plain table) whatever the file's name
    fmt = (args.report_format or "table") if args.old_output else _table_format(args, path)
    with json_stdout(args.json):
        table = coverage.build(args.target, node_tests=args.node_tests, format=args.format)
        if path:
            from bridgec.driver.output import write_file

            write_file(table.render(fmt).encode(), path)
        if args.json:
            emit_json("coverage", table.to_dict())
        elif not path:
            print(table.render(fmt))
    return 0


def _cmd_targets(argv: list[str]) -> int:
    args = targets_parser().parse_args(argv)
    from bridgec.driver import targets

    if args.json:
        from bridgec.driver.cli_results import targets_data

        emit_json("targets", targets_data())
    else:
        print(targets.render(_table_format(args, None)))
    return 0


def _cmd_passes(argv: list[str]) -> int:
    args = passes_parser().parse_args(argv)
    from bridgec.driver.cli_results import passes_data, render_passes
    from bridgec.passes._plugins import load_entry_points, load_file

    with json_stdout(args.json):  # a plugin that prints while it loads
        load_entry_points()
        for path in args.load_passes:
            load_file(path)
        data = passes_data()
        if args.json:
            emit_json("passes", data)
        else:
            print(render_passes(data))
    return 0


def _cmd_convert(argv: list[str]) -> int:
    args = convert_parser().parse_args(glue_bias(argv))
    from bridgec.driver.cli_results import convert_data, kernel_names, missing_kernels
    from bridgec.driver.convert import run

    request = conversion_request(args)
    with json_stdout(args.json):
        with request.progress:
            result = run(request)
        _print_stats(args, result.context)
        if args.json:
            emit_json("convert", convert_data(result))
        elif not args.quiet:
            print(result.report.render(_printed_format(args)))
            print(f"format: {result.format} ({result.format_reason})")
            print(f"wrote {result.model_path}")
            if result.kernels_dir:
                print(f"wrote {result.kernels_dir}/: {', '.join(kernel_names(result))}")
            missing = missing_kernels(result)
            if missing:
                print(
                    f"note: no bundled kernel for {noun(missing, 'custom layer')} {', '.join(missing)}: the "
                    "app must implement "
                    "them"
                )
            print(result.check.line())  # the last line: what was proven about the numbers
    warned = any(note.startswith("warning:") for note in result.check.notes)  # a constant output
    if (args.quiet or args.json) and (result.check.status != "checked" or warned):
        print(f"bridgec: warning: {result.model_path}: {result.check.line()}", file=sys.stderr)
    return 0


def _subcommand(name: str, argv: list[str]) -> int:
    commands = {
        "convert": _cmd_convert,
        "verify": _cmd_verify,
        "report": _cmd_report,
        "coverage": _cmd_coverage,
        "targets": _cmd_targets,
        "passes": _cmd_passes,
    }
    try:
        return commands[name](argv)
    except ArgumentError as exc:
        if Path(name).is_file():  # 'bridgec report' meant the model file named report
            raise UsageError(
                f"{exc}; to convert the file {name}, write bridgec ./{name} or bridgec convert {name}"
            ) from None
        raise


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
        if argv and argv[0] in ("-h", "--help"):
            print(overview())
            code = 0
        elif argv and argv[0] in SUBCOMMANDS:
            code = _subcommand(argv[0], argv[1:])
        else:
            code = _cmd_convert(argv)  # bridgec MODEL ...: convert, the default command
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
        if isinstance(exc, BrokenPipeError) and _stdout_gone():
            return _READER_GONE
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


# what a shell reports for a program SIGPIPE ended: 128 + SIGPIPE's number
_READER_GONE = 141


def _stdout_gone() -> bool:
    """Whether stdout's reader has gone (``bridgec coverage | head``): then the output is cut short
    by the reader's choice, not by a bridgec error, and nothing more is said. A broken pipe of
    anything else (a child process) leaves stdout writable and stays an internal error."""
    import select

    try:
        fd = sys.stdout.fileno()
    except (OSError, ValueError):  # a stdout with no descriptor (a caller's StringIO)
        return False
    poll = select.poll()
    poll.register(fd, select.POLLOUT)
    if not any(events & (select.POLLERR | select.POLLHUP) for _, events in poll.poll(0)):
        return False
    # Python flushes stdout again at exit: that goes to /dev/null, not to a second error
    os.dup2(os.open(os.devnull, os.O_WRONLY), fd)
    return True


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
        _idle_threads_sleep()
        _keep_freed_memory()
        _printable_output()
        timing.watch_imports()  # --timings shows what importing torch, coremltools, ... cost
        collector.freeze_after_imports()  # the libraries' objects stay out of every collection
    debug = "--debug" in argv
    if debug:
        os.environ["BRIDGEC_DEBUG"] = "1"  # frontends keep torch's native output visible
    else:
        _quiet_libraries()
    from bridgec.driver.output import run_guarded
    from bridgec.driver.provenance import command_line, invoked

    with invoked(command_line(argv)):  # the reports' provenance: the command as the user typed it
        code = run_guarded(lambda: _run(argv, debug), own_process)
    if own_process:
        _leave(code)
    return code


# After each parallel region torch's OpenMP (libgomp) and numpy's OpenBLAS keep their worker threads
# spinning, OpenBLAS for some 2^28 cycles: CPU time the command is charged for while it waits. These
# make an idle worker sleep at once and keep the parallelism (the same threads, the same numbers). The
# libraries read them when they load, so they are set before numpy or torch is imported; a value the
# user set wins, and a Python caller's process (``main(argv)``) is left alone.
_THREAD_WAITS = {"OMP_WAIT_POLICY": "PASSIVE", "OPENBLAS_THREAD_TIMEOUT": "4"}


def _idle_threads_sleep() -> None:
    for name, value in _THREAD_WAITS.items():
        os.environ.setdefault(name, value)


# glibc hands a freed block of 128 KiB or more back to the kernel (the bound adapts, up to 32 MiB) and
# trims the free top of its heap, so each weight-sized array a conversion makes next is fresh memory
# the kernel must zero page by page: a vision transformer's weights are copied several times over
# (torch's, ONNX's, MIL's), and a fifth of its CPU time was page faults. Blocks up to 32 MiB (every
# weight matrix of the torchvision models) come from the heap and a freed one is reused instead;
# the process ends soon after, so nothing is held for long. The environment's MALLOC_* settings win.
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # glibc's malloc.h
_KEPT = {_M_MMAP_THRESHOLD: 32 << 20, _M_TRIM_THRESHOLD: 2**31 - 1}


def _keep_freed_memory() -> None:
    if any(name.startswith("MALLOC_") for name in os.environ) or "malloc" in os.environ.get(
        "GLIBC_TUNABLES", ""
    ):
        return
    try:
        mallopt = ctypes.CDLL(None).mallopt  # glibc's; macOS's libc has none
    except (OSError, AttributeError):
        return
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    for option, value in _KEPT.items():
        mallopt(option, value)


def _leave(code: int) -> NoReturn:
    """End the command now, with ``code``: its outputs are in place and its streams are flushed here.

    The interpreter's own finalisation (freeing every object torch, coremltools and onnxruntime
    made, then their libraries) takes 0.4 s on a one-node model and 2 s after a ViT, after the last
    line and outside anything ``--timings`` can show. atexit handlers still run (logging's flush,
    the libraries' cleanups), except after an interrupt: CPython remembers a KeyboardInterrupt that
    went through C code running Python (an extension module's import) even after it was handled,
    and would end the process by SIGINT in them."""
    if code != 130:
        atexit._run_exitfuncs()  # noqa: SLF001 - what a normal exit runs first, before finalisation
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a closed pipe: nothing more can be said on it
            stream.flush()
    os._exit(code)


if __name__ == "__main__":
    sys.exit(main())
