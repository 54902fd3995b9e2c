"""Issue 19's families mark, in CI: tools/families.py's Core AI column on a few families, from their
torch.export archives. bridgec's ``.aimodel`` matches PyTorch in Apple's runtime, and coreai-torch, run
beside it on the same archive (its model run in Apple's runtime too), does what docs/families.md records —
including a family it gets silently wrong. The whole table: ``python tools/families.py --format coreai``."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

pytest.importorskip("coreai.authoring", reason="coreai-core is not installed (pip install bridgec[coreai])")
pytest.importorskip("coreai_torch")  # bridgec's dev extra installs it: CI runs this

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tools"))

import families  # noqa: E402
from families_coreai import kind  # noqa: E402

pytestmark = pytest.mark.slow

# family -> coreai-torch's outcome on its torch.export archive, as measured by tools/families.py
COREAI_TORCH = {
    "bert": "matches",  # int64 token ids: coreai-torch narrows them to int32, bridgec keeps them
    "poolformer_s12": "wrong",  # AvgPool2d(count_include_pad=False) written as if the padding counted
    "convnext_atto": "fails",  # aten.as_strided (AdaptiveAvgPool2d(1) on a permuted tensor) unsupported
}


@pytest.mark.parametrize("name", list(COREAI_TORCH))
def test_bridgec_matches_and_coreai_torch_is_as_recorded(name: str, tmp_path: Path) -> None:
    zoo = families.zoos()[name]
    (row,) = families.run_family(
        name, zoo, ["pt2"], [families.COREAI], None, tmp_path, None, coreai_torch=True
    )
    assert row.converted == "yes" and row.matched == "yes", (row.converted, row.matched)
    assert kind(row.coreai_torch) == COREAI_TORCH[name], row.coreai_torch
