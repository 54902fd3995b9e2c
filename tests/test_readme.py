"""The README's Python examples run as written (so the docs cannot rot)."""

from __future__ import annotations

import re
import shlex
import shutil

import numpy as np
import onnx
import pytest

from bridgec import passes
from tests.conftest import ROOT
from tests.helpers import assert_matches, run_graph

# A block after a marker line (<!-- name -->) has a test of its own that finds it by name:
# python-api-example is bridgec.convert's example, shared with docs/python-api.md;
# readme-against-example makes the files of `bridgec verify ... --against` (test_against_example).
API_MARKER = "<!-- python-api-example -->\n"
_FOUND = re.findall(r"(?:<!-- ([\w-]+) -->\n)?```python\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
BLOCKS = [code for marker, code in _FOUND if not marker]
MARKED = {marker: code for marker, code in _FOUND if marker}


def _api_example(text: str) -> str | None:
    found = re.search(re.escape(API_MARKER) + r"```python\n(.*?)```", text, re.S)
    return found[1] if found else None


def test_readme_has_the_examples():
    assert len(BLOCKS) == 2
    assert sorted(MARKED) == ["python-api-example", "readme-against-example"]


def _against_command() -> list[str]:
    """The README's `bridgec verify ... --against ...` line, as written."""
    line = re.search(r"^bridgec verify \S+ --against .*$", (ROOT / "README.md").read_text(), re.M)[0]
    return shlex.split(line)


@pytest.mark.slow
def test_against_example(tmp_path, monkeypatch, capsys):
    """A coremltools user's resnet18 .mlpackage, checked by `bridgec verify --against` as README shows."""
    from bridgec.driver.cli import main

    monkeypatch.chdir(tmp_path)
    exec(compile(MARKED["readme-against-example"], "README.md", "exec"), {})
    argv = _against_command()
    assert argv[:2] == ["bridgec", "verify"] and "--against" in argv
    capsys.readouterr()
    assert main(argv[1:]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    # ct.convert's default ML Program computes in float16: judged at fp16's tolerance, paired by position
    assert (
        last.startswith("checked: 1 output, max rel err") and "(fp16 tolerance 5e-2) against PyTorch" in last
    )
    assert "outputs matched by position" in last
    assert float(last.split("max rel err ")[1].split()[0]) < 5e-3  # fp16's honest error, not a wrong model


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


@pytest.mark.slow
def test_python_api_quickstart(tmp_path, monkeypatch, capsys):
    """The three-line bridgec.convert example, as docs/python-api.md (and the README) show it."""
    example = _api_example((ROOT / "docs" / "python-api.md").read_text())
    in_readme = _api_example((ROOT / "README.md").read_text())
    assert in_readme in (None, example)  # the README's copy, once it has one, is the one that runs
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(ROOT))  # examples.faceseg, as from the repository's root
    exec(compile(example, "docs/python-api.md", "exec"), {})
    out = capsys.readouterr().out
    assert out.startswith("<ConvertedModel FaceSeg: Core ML ML Program for iOS15 (no custom layer remains)")
    assert "checked: 1 output, max rel err" in out and "against PyTorch>" in out
    assert out.rstrip().endswith("[PosixPath('faceseg.mlpackage')]")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["faceseg.mlpackage"]


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
