"""Saving an ML Program package: its weight file is a link to the one coremltools wrote (no second
copy of the weights), the files ``save`` rewrites are copies, and the package runs as the model in
memory does; where links fail, a copy."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from bridgec.backends.coreml.model import build
from bridgec.backends.coreml.targets import Target
from tests.backends.coreml.mlprogram_ops._mlprogram_helpers import run_model
from tests.backends.coreml.test_mil_pipeline import lowered, mobile

WEIGHTS = Path("Data/com.apple.CoreML/weights/weight.bin")
SPEC = Path("Data/com.apple.CoreML/model.mlmodel")


def built():
    return build(lowered(mobile()), Target.parse("iOS16", format="mlprogram"))


def feeds():
    return {"x": np.random.default_rng(0).standard_normal((1, 3, 16, 16)).astype(np.float32)}


def test_weights_linked_other_files_copied(tmp_path: Path):
    model = built()
    temporary = Path(model.mlmodel.package_path)
    first, second = tmp_path / "a.mlpackage", tmp_path / "b.mlpackage"
    model.save(first)
    model.save(second)
    inode = os.stat(temporary / WEIGHTS).st_ino
    assert os.stat(first / WEIGHTS).st_ino == inode == os.stat(second / WEIGHTS).st_ino
    assert os.stat(first / SPEC).st_ino != os.stat(temporary / SPEC).st_ino
    assert (first / SPEC).read_bytes() == model.spec.SerializeToString(deterministic=True)
    expected = model.run_reference(feeds())
    for path in (first, second):
        got = run_model(str(path), feeds())
        assert got.keys() == expected.keys()
        for name in expected:
            np.testing.assert_array_equal(got[name], expected[name])


def test_copied_where_links_fail(tmp_path: Path, monkeypatch):
    model = built()
    temporary = Path(model.mlmodel.package_path)

    def refuse(source, destination):
        raise OSError(18, "Invalid cross-device link")

    monkeypatch.setattr(os, "link", refuse)
    path = tmp_path / "a.mlpackage"
    model.save(path)
    assert os.stat(path / WEIGHTS).st_ino != os.stat(temporary / WEIGHTS).st_ino
    assert (path / WEIGHTS).read_bytes() == (temporary / WEIGHTS).read_bytes()
    assert sorted(p.relative_to(path) for p in path.rglob("*")) == sorted(
        p.relative_to(temporary) for p in temporary.rglob("*")
    )
