"""docs/ops.md is generated from the op declarations: fresh, and the check notices a stale copy."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tools"))

import gen_op_docs  # noqa: E402

from bridgec.core import ops  # noqa: E402


def test_docs_ops_md_is_fresh(capsys):
    assert gen_op_docs.main(["--check"]) == 0, capsys.readouterr().out


def test_the_check_fails_on_a_stale_copy_and_names_it(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(gen_op_docs, "ROOT", tmp_path)
    stale = tmp_path / "ops.md"
    stale.write_text(gen_op_docs.render().replace("x * sigmoid(x)", "x * sigmoid(2x)"))
    assert gen_op_docs.main(["--check"], doc=stale) == 1
    assert "ops.md is stale" in capsys.readouterr().out


def test_every_declared_op_has_a_row_with_its_semantics():
    text = gen_op_docs.render()
    for decl in ops.all():
        assert f"| `{decl.name}` |" in text and decl.semantics in text, decl.name
