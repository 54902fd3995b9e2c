"""The report's formats and the suffixes that name them, apart from the report itself: the parsers
and ``bridgec targets`` read them without importing what builds a report (onnx, the kernel catalog)."""

from __future__ import annotations

FORMATS = ("table", "markdown", "json", "html")
SUFFIX_FORMATS = {
    ".md": "markdown",
    ".markdown": "markdown",
    ".json": "json",
    ".html": "html",
    ".htm": "html",
}


def format_for(path, fmt: str | None = None) -> str:
    """The output format: ``fmt`` if given, else from the file's suffix (one-line error otherwise)."""
    from bridgec.core.errors import UsageError

    if fmt:
        if fmt not in FORMATS:
            raise UsageError(f"unknown report format {fmt!r}; choose one of: {', '.join(FORMATS)}")
        return fmt
    found = SUFFIX_FORMATS.get(str(path).lower()[str(path).rfind(".") :] if "." in str(path) else "")
    if found is None:
        raise UsageError(
            f"--report-out {path}: cannot tell the format from the suffix (.md, .json, .html); "
            "add --report-format table|markdown|json|html"
        )
    return found
