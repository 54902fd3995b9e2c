"""The parsers of the commands that list what bridgec can do, without a model: ``bridgec coverage``,
``bridgec targets`` and ``bridgec passes``. They share the convert commands' vocabulary
(``cli_parsers``): ``--format`` is the model format, ``--report-format`` the printed table's format,
``--report-out`` the file it goes to, ``--json`` one JSON object on stdout."""

from __future__ import annotations

import argparse
from pathlib import Path

from bridgec.driver.cli_deprecated import DeprecatedOption, FormatOption
from bridgec.driver.cli_parsers import Parser
from bridgec.driver.cli_vocabulary import COMMANDS, add_json_arg, add_report_args

# what coverage and targets print: their tables have no HTML form
TABLE_FORMATS = ("table", "markdown", "json")


def coverage_parser() -> Parser:
    from bridgec.backends.coreai.targets import DEFAULT_TARGET as COREAI_TARGET
    from bridgec.backends.coreai.targets import FORMAT as COREAI
    from bridgec.backends.coreai.targets import TARGETS as COREAI_TARGETS
    from bridgec.backends.coreml.targets import DEFAULT_TARGET, FORMAT_NAMES, SPEC_VERSIONS

    parser = Parser(
        prog="bridgec coverage",
        description=f"{COMMANDS['coverage']}: native, lowered by a rule, custom layer with a bundled kernel, "
        "or unsupported; with attribute restrictions and, with --node-tests, ONNX's backend node-test "
        "results through bridgec.",
    )
    parser.add_argument(
        "--target",
        default=None,  # the format's default
        metavar="OS",
        help=f"deployment target: {', '.join(SPEC_VERSIONS)} (default {DEFAULT_TARGET}), or "
        f"{' / '.join(COREAI_TARGETS)} with --format {COREAI} (default {COREAI_TARGET})",
    )
    formats = (*FORMAT_NAMES, COREAI)
    parser.add_argument(
        "--format",
        action=FormatOption,
        formats=formats,
        old_values=TABLE_FORMATS,
        default="neuralnetwork",
        help=f"model format to report on (default neuralnetwork; {COREAI}: a Core AI .aimodel)",
    )
    parser.add_argument(
        "--node-tests",
        action="store_true",
        help="also run ONNX's backend node tests through bridgec (convert + reference executor, or for "
        "coreai Apple's runtime in one child process; minutes)",
    )
    add_report_args(parser, TABLE_FORMATS)
    add_json_arg(parser)
    parser.add_argument(
        "--model-format", action=DeprecatedOption, new="--format", dest="format", choices=formats
    )
    parser.add_argument(
        "-o", "--output", action=DeprecatedOption, new="--report-out", dest="old_output", type=Path
    )
    return parser


def targets_parser() -> Parser:
    parser = Parser(prog="bridgec targets", description=f"{COMMANDS['targets']}.")
    add_report_args(parser, TABLE_FORMATS, out=False, printed=True)
    add_json_arg(parser)
    parser.add_argument(
        "--format",
        action=FormatOption,
        formats=(),
        old_values=TABLE_FORMATS,
        dest="old_format",
        help=argparse.SUPPRESS,
    )
    return parser


def passes_parser() -> Parser:
    parser = Parser(prog="bridgec passes", description=f"{COMMANDS['passes']}.")
    parser.add_argument(
        "--load-passes",
        action="append",
        default=[],
        metavar="FILE.py",
        help="import a Python file that registers passes (repeatable)",
    )
    add_json_arg(parser)
    return parser


__all__ = ["TABLE_FORMATS", "coverage_parser", "passes_parser", "targets_parser"]
