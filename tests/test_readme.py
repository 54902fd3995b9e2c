"""The README's Python examples run as written (so the docs cannot rot)."""

from __future__ import annotations

import re
import shutil

import numpy as np
import onnx
import pytest

from bridgec import passes
from tests.conftest import ROOT
from tests.helpers import assert_matches, run_graph

BLOCKS = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.S)


def test_readme_has_the_examples():
    assert len(BLOCKS) == 2


@pytest.mark.slow
def test_python_api_example(faceseg_path, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    shutil.copy(faceseg_path, tmp_path / "faceseg.pt")
    exec(compile(BLOCKS[0], "README.md", "exec"), {})
    out = capsys.readouterr().out
    assert "'custom'" not in out and out.count("(1, 2, 256, 256)") == 2
    assert "mlprogram no custom layer remains [('conv'," in out
    assert (tmp_path / "faceseg.mlmodel").stat().st_size > 100_000
    assert (tmp_path / "faceseg.mlpackage" / "Manifest.json").is_file()


def test_user_rule_example(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    onnx.save(
        onnx.parser.parse_model(
            '<ir_version: 8, opset_import: ["" : 17]> g (float[2,5] x) => (float[2,5] y) { y = Sinh (x) }'
        ),
        "sinh.onnx",
    )
    namespace: dict = {}
    try:
        exec(compile(BLOCKS[1], "README.md", "exec"), namespace)
    finally:
        passes.REGISTRY.pop("user::sinh", None)
    assert capsys.readouterr().out.strip() == "['Div', 'Exp', 'Exp', 'Neg', 'Sub']"
    x = np.linspace(-3, 3, 10, dtype=np.float32).reshape(2, 5)
    (got,) = run_graph(namespace["g"], {"x": x})
    assert_matches(got, np.sinh(x), tolerance=1e-7)
