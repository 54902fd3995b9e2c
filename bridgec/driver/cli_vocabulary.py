"""The words every ``bridgec`` command shares: the commands and what each does, and the options
that mean the same wherever they appear (--report-out, --report-format, --json, -q). docs/cli.md
states the vocabulary; ``cli_parsers`` and ``cli_listings`` build the commands' parsers with it."""

from __future__ import annotations

import argparse
from pathlib import Path

# every subcommand, in the order ``bridgec --help`` lists them, and what it does in one line (each
# parser's description starts with it)
COMMANDS = {
    "convert": "Convert a PyTorch or ONNX model to Core ML or Core AI, check its numbers and write it (the default)",
    "verify": "Compare every output in PyTorch, onnxruntime and the converted model (--against: an existing one)",
    "report": "What converting a model would do to every op, without writing a model",
    "coverage": "Every operator of the default ONNX domain (latest opset) on a Core ML or Core AI target",
    "targets": "Every --target and the model formats it takes",
    "passes": "The registered passes, their rules and the -O pipelines",
}

QUIET_HELP = (
    "no progress lines, on a terminal too; convert prints no report either (warnings and errors still show)"
)


def overview() -> str:
    """``bridgec --help``: the commands, one line each."""
    width = max(map(len, COMMANDS))
    lines = [
        "usage: bridgec [convert] MODEL [options]",
        "       bridgec COMMAND [options]",
        "",
        "commands:",
        *(f"  {name:{width}}  {what}" for name, what in COMMANDS.items()),
        "",
        "'bridgec COMMAND --help' lists a command's options; docs/cli.md lists them all.",
        "A model file named like a command: bridgec ./NAME, or bridgec convert NAME.",
        "bridgec --version prints the version.",
    ]
    return "\n".join(lines)


def add_report_args(
    parser: argparse.ArgumentParser,
    formats: tuple[str, ...] | None = None,
    out: bool = True,
    printed: bool = True,
) -> None:
    """--report-out and --report-format: where the command's report or table goes (a file with
    ``out``, stdout with ``printed``) and in which format (``formats``: the op report's by default)."""
    if formats is None:
        from bridgec.driver.report_formats import FORMATS as formats
    if out:
        parser.add_argument(
            "--report-out",
            type=Path,
            metavar="FILE",
            help="write the report to FILE: .md Markdown, .json JSON"
            + (" (docs/report-schema.md)" if "html" in formats else "")
            + (", .html a self-contained page" if "html" in formats else "")
            + ", or any name with --report-format",
        )
    parser.add_argument(
        "--report-format",
        choices=formats,
        help={
            (
                True,
                True,
            ): "format of the report: of --report-out when given (default: from its suffix), else of "
            "the report printed on stdout (default table)",
            (True, False): "format of --report-out (default: from its suffix)",
            (False, True): "format of the table printed on stdout (default table)",
        }[out, printed],
    )


def tolerance_help() -> str:
    """--tolerance of convert and verify: one meaning, one wording, the defaults from the table the
    check uses."""
    from bridgec.core.numerics import TOLERANCES

    defaults = ", ".join(f"{f'{value:.0e}'.replace('e-0', 'e-')} at {p}" for p, value in TOLERANCES.items())
    return f"largest accepted max|got - reference| / max|reference| per output (default {defaults})"


def add_json_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--json",
        action="store_true",
        help="print the result as one JSON object on stdout instead of the human lines (keys "
        '"bridgec_version", "command" and the result; docs/cli.md)',
    )


__all__ = ["COMMANDS", "QUIET_HELP", "add_json_arg", "add_report_args", "overview", "tolerance_help"]
