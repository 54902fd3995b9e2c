"""docs/compression.md (the size ratio and error of every --compress mode on faceseg and mobilenet_v2)
is what tools/compression_table.py measures now: the figures the README quotes cannot go stale."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tools"))

import compression_table as gen  # noqa: E402


@pytest.mark.slow
def test_the_document_is_what_the_tool_measures() -> None:
    assert gen.DOC.read_text() == gen.table(lambda line: None), "run python tools/compression_table.py"
