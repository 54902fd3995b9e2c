"""docs/report-schema.md is generated from the report's SCHEMA and cannot drift from it."""

import copy
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tools"))

import gen_report_schema_doc as gen  # noqa: E402

from bridgec.driver.report_schema import SCHEMA, SCHEMA_ID, validate  # noqa: E402


def test_the_document_is_what_the_schema_generates() -> None:
    assert gen.DOC.read_text() == gen.expected(), "run python tools/gen_report_schema_doc.py"
    assert gen.main(["--check"]) == 0


def test_every_schema_field_has_a_row() -> None:
    text = gen.DOC.read_text()
    rows = [line.split("|")[1].strip().strip("`") for line in text.splitlines() if line.startswith("| `")]
    assert rows == [path.removeprefix("$.") for path, _ in gen._fields(SCHEMA, "$")]
    assert "`check.outputs[].max_rel` | number" in text


def test_a_new_schema_field_without_a_meaning_fails_the_generation() -> None:
    grown = copy.deepcopy(SCHEMA)
    grown["required"]["rows"]["items"]["required"]["domain"] = {"type": "string"}
    with pytest.raises(ValueError, match=r"\$\.rows\[\]\.domain"):
        gen.document(grown, SCHEMA_ID, validate)


def test_a_meaning_of_a_field_the_schema_dropped_fails_the_generation() -> None:
    shrunk = copy.deepcopy(SCHEMA)
    del shrunk["required"]["check"]["required"]["notes"]
    with pytest.raises(ValueError, match=r"\$\.check\.notes"):
        gen.document(shrunk, SCHEMA_ID, validate)


def test_the_example_must_be_a_valid_report() -> None:
    retyped = copy.deepcopy(SCHEMA)
    retyped["required"]["counts"]["required"]["native"] = {"type": "string"}
    with pytest.raises(ValueError, match=r"\$\.counts\.native: expected string"):
        gen.document(retyped, SCHEMA_ID, validate)
