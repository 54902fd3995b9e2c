"""Importing coremltools leaves the user's libraries as they were (issue 17, item 5): coremltools
probes its torch-based optional dependencies while bridgec hides torch from it, and transformers
imported by that probe believed torch missing for the rest of the process ("[transformers] PyTorch
was not found", and every model refused). Each case runs in a fresh process, beside transformers,
converting a model in-process through the Python API."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("transformers")

ROOT = Path(__file__).resolve().parents[3]

CONVERT = """
import numpy as np, onnx
from onnx import helper, TensorProto
from bridgec.driver.convert import convert
graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g",
    [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
    [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])])
onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), "m.onnx")
convert("m.onnx", write=False)
"""

BUILD_BERT = """
from transformers import BertConfig, BertModel
from transformers.utils import is_torch_available
assert is_torch_available()
BertModel(BertConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=37,
                     vocab_size=99))
"""


def _run(code: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=cwd,
        capture_output=True,
        text=True,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
        timeout=300,
    )


def test_transformers_imported_after_a_conversion_sees_torch(tmp_path):
    done = _run(CONVERT + "import sys\nassert 'transformers' not in sys.modules\n" + BUILD_BERT, tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stderr == ""  # no "[transformers] PyTorch was not found", nor any other line


def test_transformers_imported_before_a_conversion_is_left_as_it_was(tmp_path):
    before = "import transformers, torch\nmodules = (transformers, torch)\n"
    after = "import transformers, torch\nassert (transformers, torch) == modules\n"
    done = _run(before + CONVERT + after + BUILD_BERT, tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stderr == ""
