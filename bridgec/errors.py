"""The error contract: every failure a user can cause is one of these, printed as one line."""

from __future__ import annotations


class BridgecError(Exception):
    """A failure with a message fit for one line of terminal output."""

    exit_code = 1


class UsageError(BridgecError):
    """The command line or the input file is wrong: exit status 2."""

    exit_code = 2


class ConversionError(BridgecError):
    """The model is fine but cannot be converted as asked: exit status 1."""

    exit_code = 1


class SourceUnrunnable(BridgecError):
    """The source model cannot be run again to check a conversion against it, through no fault of the
    model (e.g. an op onnxruntime has no implementation for): the conversion is written unchecked."""
