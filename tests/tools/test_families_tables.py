"""tools/families.py's tables: the Core AI table is written beside the Core ML one, each run replacing only
the tables of the formats it ran, and coreai-torch's cells are counted by what they say."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tools"))

import families  # noqa: E402
from families_coreai import Outcome, kind  # noqa: E402

DOC = """# Families

<!-- families:begin -->
old Core ML summary

| old Core ML table |
<!-- families:end -->

Between the tables.

<!-- families-coreai:begin -->
<!-- families-coreai:end -->
"""


def _rows() -> list[families.Row]:
    right = Outcome(True, True, 6.6e-7).cell()
    wrong = Outcome(True, False, 0.44).cell()
    return [
        families.Row(
            "resnet18", "torchvision", "pt2", "coreai", "yes", "yes", "6.6e-07", "0", coreai_torch=right
        ),
        families.Row(
            "poolformer_s12", "timm", "pt2", "coreai", "yes", "yes", "8.0e-07", "0", coreai_torch=wrong
        ),
        families.Row(
            "gpt2",
            "hf",
            "pt2",
            "coreai",
            "no: Core AI lacks X",
            coreai_torch=Outcome(False, error="boom").cell(),
        ),
    ]


def test_a_core_ai_run_writes_its_table_and_keeps_the_core_ml_one(tmp_path, monkeypatch) -> None:
    doc = tmp_path / "families.md"
    doc.write_text(DOC)
    monkeypatch.setattr(families, "DOC", doc)
    families.write_doc(_rows(), 12.0)
    text = doc.read_text()
    assert "| old Core ML table |" in text and "Between the tables." in text
    block = text.split("<!-- families-coreai:begin -->")[1].split("<!-- families-coreai:end -->")[0]
    assert "coreai-torch from torch.export: 2/3 converted, 1 matched, 1 WRONG" in block
    assert "torch.export coreai: 2/3 matched" in block
    header = next(line for line in block.splitlines() if line.startswith("| family"))
    assert "coreai-torch" in header and "ct.convert" not in header  # the Core AI table's peer only
    assert "| yes, WRONG (4.4e-01) |" in block and "| no: boom |" in block


def test_cells_say_their_kind() -> None:
    assert kind(Outcome(True, True, 1e-7).cell()) == "matches"
    assert kind(Outcome(True, False, 0.5).cell()) == "wrong"
    assert kind(Outcome(True, None, error="Apple's runtime aborted").cell()) == "fails"
    assert kind(Outcome(False, error="aten.as_strided").cell()) == "fails"
    assert kind("-") == "-"
