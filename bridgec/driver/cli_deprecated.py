"""Old spellings of the command line. Each keeps working for one release and says once, on stderr,
what replaced it: ``bridgec: note: OLD is deprecated; use NEW``. They are hidden from ``--help``;
docs/cli.md lists them with their replacements (``replacement``)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def deprecated(old: str, new: str) -> None:
    """The one line an old spelling prints."""
    print(f"bridgec: note: {old} is deprecated; use {new}", file=sys.stderr)


def _command(parser: argparse.ArgumentParser) -> str:
    """'coverage' for ``bridgec coverage``: the notes name the command the old spelling belongs to."""
    return parser.prog.removeprefix("bridgec").strip()


class DeprecatedOption(argparse.Action):
    """An old option: stores its value as it always did and prints the note. ``new`` is the
    spelling to use instead."""

    def __init__(self, option_strings: Sequence[str], dest: str, new: str, **kwargs) -> None:
        super().__init__(option_strings, dest, help=argparse.SUPPRESS, **kwargs)
        self.new = new

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        deprecated(f"{_command(parser)} {option_string}".strip(), self.new)
        setattr(namespace, self.dest, values)


class FormatOption(argparse.Action):
    """``--format``, the model format, on a command where it used to name the printed table's
    format: those old values (``old_values``) still choose the table's format, as
    ``--report-format`` does now, with the note."""

    def __init__(
        self,
        option_strings: Sequence[str],
        dest: str,
        formats: Sequence[str],
        old_values: Sequence[str],
        **kwargs,
    ) -> None:
        metavar = "{" + ",".join(formats) + "}" if formats else None
        super().__init__(option_strings, dest, metavar=metavar, **kwargs)
        self.formats = tuple(formats)
        self.old_values = tuple(old_values)

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        if values in self.old_values:
            deprecated(f"{_command(parser)} {option_string} {values}".strip(), f"--report-format {values}")
            if getattr(namespace, "report_format", None) is None:  # an explicit --report-format wins
                namespace.report_format = values
            return
        if values not in self.formats:
            wanted = ", ".join(self.formats) or "no model format here"
            parser.error(
                f"{option_string} {values!r}: {option_string} is the model format ({wanted}); the table's "
                f"format is --report-format {'|'.join(self.old_values)}"
            )
        setattr(namespace, self.dest, values)


def replacement(action: argparse.Action) -> str | None:
    """What replaced an old option (None for an option that is current)."""
    return action.new if isinstance(action, DeprecatedOption) else None


__all__ = ["DeprecatedOption", "FormatOption", "deprecated", "replacement"]
