"""The coreai-torch column of tools/families.py: Apple's converter on a family's torch.export archive,
its ``.aimodel`` run in Apple's runtime and compared with PyTorch — measured, not assumed.

One child process per family (``python tools/families_coreai.py ARCHIVE.pt2 ZOO FAMILY FOLDER``): the
converter can crash or abort its process, and a crash costs that family's cell, not the table. The
child loads the archive, runs it in PyTorch on the zoo's example inputs, converts it with coreai-torch
0.4.3's documented flow (``run_decompositions(get_decomp_table())`` -> ``TorchConverter()
.add_exported_program`` -> ``to_coreai()`` -> ``save_asset``), runs the written model in Apple's
runtime (``bridgec.backends.coreai.run``, itself a child: a bad model aborts it) and compares with
bridgec's own measure (``bridgec.core.numerics.difference``, fp32 tolerance), printing one JSON line.
coreai-torch narrows int64 inputs to int32 (docs/coreai-groundwork.md §5), so ids are fed as int32.
"""

from __future__ import annotations

import contextlib
import json
import logging
import subprocess
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TIMEOUT = 1200.0  # seconds per family: export, decompositions, conversion and one run in the interpreter
MATCHES, WRONG = "matches", "WRONG"


@dataclass
class Outcome:
    """coreai-torch on one family: converted, then matched (None: not run), worst max rel err, why not."""

    converted: bool
    matched: bool | None = None
    rel: float | None = None
    error: str = ""

    def cell(self) -> str:
        if not self.converted:
            return f"no: {self.error}"
        if self.matched is None:
            return f"yes, does not run: {self.error}"
        return f"yes, {MATCHES if self.matched else WRONG} ({self.rel:.1e})"


def kind(cell: str) -> str:
    """A coreai-torch cell's outcome: matches | wrong | fails (no model, or one that does not run) | - (not run)."""
    if cell == "-":
        return cell
    return "matches" if f", {MATCHES} (" in cell else "wrong" if f", {WRONG} (" in cell else "fails"


def _first_line(exc: BaseException | str) -> str:
    text = str(exc).strip().splitlines()
    line = text[0] if text else type(exc).__name__
    return line if len(line) <= 160 else line[:157] + "..."


def _examples(zoo_name: str, family: str) -> tuple:
    import torch

    from examples import hf_zoo, timm_zoo, zoo

    if zoo_name == "hf":
        return hf_zoo.example(family)
    torch.manual_seed(0)
    return (torch.randn(*(timm_zoo.MODELS[family][0] if zoo_name == "timm" else zoo.MODELS[family])),)


def worker(archive: Path, zoo_name: str, family: str, folder: Path) -> Outcome:
    """In the child: convert, run, compare."""
    import numpy as np
    import torch

    from bridgec.backends.coreai.run import CoreAIRunError, run_model
    from bridgec.core.numerics import difference, tolerance_for

    with contextlib.suppress(ImportError):  # registers the ModelOutput classes with torch's pytree:
        import transformers.modeling_outputs  # noqa: F401  torch.export.load needs them for a HF .pt2

    program = torch.export.load(str(archive))
    inputs = _examples(zoo_name, family)
    with torch.no_grad():
        want = [t.numpy() for t in torch.utils._pytree.tree_leaves(program.module()(*inputs))]
    try:
        import coreai_torch
        from coreai.authoring import OSVersion

        names = [f"in{i}" for i in range(len(inputs))]
        outs = [f"out{i}" for i in range(len(want))]
        decomposed = program.run_decompositions(coreai_torch.get_decomp_table())
        converted = (
            coreai_torch.TorchConverter()
            .add_exported_program(decomposed, input_names=names, output_names=outs)
            .to_coreai()
        )
        model = folder / f"{family}.coreai-torch.aimodel"
        converted.save_asset(model, minimum_os=OSVersion.v27)
    except Exception as exc:  # what stops coreai-torch is the cell's content
        return Outcome(False, error=_first_line(exc))
    feeds = {
        n: t.numpy().astype(np.int32) if t.dtype == torch.int64 else t.numpy()
        for n, t in zip(names, inputs, strict=True)
    }
    try:
        got = run_model(model, feeds)
    except CoreAIRunError as exc:
        return Outcome(True, error=_first_line(exc))
    diffs = [difference(got[o], w) if o in got else None for o, w in zip(outs, want, strict=True)]
    if any(d is None for d in diffs):
        return Outcome(True, False, float("inf"), f"outputs {sorted(got)}, expected {len(want)}")
    tolerance = tolerance_for("fp32")
    return Outcome(True, all(d.within(tolerance) for d in diffs), max(d.max_rel for d in diffs))


class CoreAITorch:
    """coreai-torch on one family's archive in its own child process, started now, read by ``outcome``:
    it converts while this process runs bridgec on the same family (two cores)."""

    def __init__(self, archive: Path, zoo_name: str, family: str, folder: Path) -> None:
        self.log = (folder / f"{family}.coreai-torch.log").open("w")
        self.process = subprocess.Popen(
            [sys.executable, __file__, str(archive), zoo_name, family, str(folder)],
            stdout=subprocess.PIPE,
            stderr=self.log,  # progress bars and warnings: a file, not a pipe that fills
            text=True,
        )

    def outcome(self) -> Outcome:
        try:
            out, _ = self.process.communicate(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.communicate()
            return Outcome(False, error=f"timed out after {TIMEOUT:.0f} s")
        finally:
            self.log.close()
        line = next((ln for ln in reversed(out.splitlines()) if ln.startswith("{")), None)
        if line is None:  # a crash or an abort: the last thing it said
            said = [ln for ln in Path(self.log.name).read_text().splitlines() if ln.strip()]
            tail = said[-1].strip() if said else "no output"
            return Outcome(
                False, error=f"coreai-torch's process died (exit {self.process.returncode}): {tail}"
            )
        return Outcome(**json.loads(line))


def main(argv: list[str]) -> int:
    warnings.simplefilter("ignore")
    logging.disable(logging.WARNING)
    archive, zoo_name, family, folder = argv
    outcome = worker(Path(archive), zoo_name, family, Path(folder))
    sys.stdout.flush()
    print(json.dumps(outcome.__dict__), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
