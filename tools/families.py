"""Model families: each from TorchScript and from torch.export, in both Core ML formats and in Core AI,
checked against PyTorch — with coremltools' ``ct.convert`` and Apple's coreai-torch on the same files.

    python tools/families.py                          # every family of the three zoos
    python tools/families.py vit bert levit_128s      # some of them
    python tools/families.py --source pt2 --format mlprogram
    python tools/families.py --format coreai --source pt2   # Core AI: bridgec and coreai-torch
    python tools/families.py --no-coremltools --no-coreai-torch   # bridgec's columns only
    python tools/families.py --write                  # and replace the tables in docs/families.md

The zoos (random weights, nothing downloaded): torchvision ``examples/zoo.py``, timm
``examples/timm_zoo.py``, tiny-config Hugging Face ``examples/hf_zoo.py``. Each family is saved as
TorchScript (traced) and as a torch.export archive; each file is converted by
``bridgec.driver.convert.convert`` (``write=False``, ``strict=True``: its numbers check raises on a
mismatch or an unchecked model) in each format. A row: converted (or the error's first line),
matched (the check within its fp32 tolerance, 1e-4 x max |output|), the worst output's max |Core ML
- PyTorch| / max |PyTorch|, custom layers, and whether ``ct.convert`` (coremltools, ML Program,
iOS15) converts the same file — coremltools cannot run a model on Linux, so that column says only
whether it converts. coremltools runs in a child process: bridgec imports it with torch hidden.

``format="coreai"`` rows (target iOS27) are checked in Apple's runtime (coreai-core, a child process).
Beside each torch.export row, Apple's own converter, coreai-torch (torch.export only), converts the
same archive and its model is run in Apple's runtime and compared with PyTorch
(tools/families_coreai.py, one child process per family: it can crash).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import subprocess
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

from families_coreai import CoreAITorch, kind

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DOC = ROOT / "docs" / "families.md"
SOURCES = {"pt": "TorchScript", "pt2": "torch.export"}
FORMATS = ("mlprogram", "neuralnetwork", "coreai")
COREAI = "coreai"
# docs/families.md's tables: marker name -> the formats its rows hold and the peer converter's column
BLOCKS = {"families": (FORMATS[:2], "ct.convert"), "families-coreai": ((COREAI,), "coreai-torch")}


@dataclass
class Row:
    family: str
    zoo: str
    source: str  # pt | pt2
    format: str
    converted: str = "-"
    matched: str = "-"
    rel: str = "-"
    custom: str = "-"
    coremltools: str = "-"
    coreai_torch: str = "-"  # Core AI torch.export rows: Apple's converter on the same archive
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        return self.matched == "yes"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    line = text[0] if text else type(exc).__name__
    return line if len(line) <= 160 else line[:157] + "..."


# ------------------------------------------------------------------------------------------ the zoos


def zoos() -> dict[str, str]:
    """family -> the zoo it comes from (torchvision, timm, hf)."""
    from examples import hf_zoo, timm_zoo, zoo

    return {
        **dict.fromkeys(zoo.MODELS, "torchvision"),
        **dict.fromkeys(timm_zoo.MODELS, "timm"),
        **dict.fromkeys(hf_zoo.MODELS, "hf"),
    }


def inputs_of(name: str, zoo_name: str) -> list[tuple[str | None, tuple[int, ...], str]]:
    """(input name or None for the only input, shape, dtype name) of a family."""
    from examples import hf_zoo, timm_zoo, zoo

    if zoo_name == "hf":
        return [
            (n, shape, str(dtype).removeprefix("torch.")) for n, shape, dtype in hf_zoo.MODELS[name].inputs
        ]
    shape = timm_zoo.MODELS[name][0] if zoo_name == "timm" else zoo.MODELS[name]
    return [(None, shape, "float32")]


def save(name: str, zoo_name: str, path: Path) -> Path:
    import torch

    from examples import hf_zoo, timm_zoo, zoo

    if zoo_name == "hf":
        return hf_zoo.save(name, path)
    if zoo_name == "timm":
        return timm_zoo.save(name, path)
    if path.suffix == ".pt":
        return zoo.save(name, path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        example = (torch.randn(*zoo.MODELS[name]),)
        torch.export.save(torch.export.export(zoo.build(name), example), str(path))
    return path


def _bridgec_inputs(specs: list[tuple[str | None, tuple[int, ...], str]]) -> dict:
    """``convert``'s ``inputs=`` for a TorchScript file: shapes, with the dtype where not float32."""
    if all(dtype == "float32" for _, _, dtype in specs):
        return {name: shape for name, shape, _ in specs}
    from bridgec.core.tensor_spec import TensorSpec  # issue 17's input dtypes

    return {name: TensorSpec(shape, dtype) for name, shape, dtype in specs}


# ------------------------------------------------------------------------------------------- bridgec


def run_bridgec(row: Row, path: Path, specs: list, target: str) -> None:
    from bridgec.driver.check import CheckFailed, NotChecked
    from bridgec.driver.convert import convert

    start = time.perf_counter()
    try:
        inputs = _bridgec_inputs(specs) if row.source == "pt" else None
        # --target names the Core ML rows' target; the Core AI rows take Core AI's default (iOS27)
        target = None if row.format == COREAI else target
        result = convert(path, inputs=inputs, target=target, format=row.format, write=False, strict=True)
    except CheckFailed as exc:
        row.converted, row.matched, row.rel = "yes", "no", f"{exc.check.max_rel:.1e}"
    except NotChecked as exc:
        row.converted, row.matched = "yes", f"not checked: {_first_line(exc)}"
    except Exception as exc:  # a tool's table: any failure is a row, not a traceback
        row.converted = f"no: {_first_line(exc)}"
    else:
        row.converted = "yes"
        row.matched = "yes" if result.check.status == "checked" else result.check.line()
        row.rel = f"{result.check.max_rel:.1e}"
        row.custom = str(sum(r.count for r in result.report.rows if r.status == "custom"))
    row.seconds += time.perf_counter() - start


# --------------------------------------------------------------------------------------- coremltools


def coremltools_worker() -> int:
    """Child process: ``ct.convert`` each job (one JSON line on stdin); one JSON line per job on stdout."""
    import coremltools as ct
    import numpy as np
    import torch

    with contextlib.suppress(ImportError):  # registers the ModelOutput classes with torch's pytree:
        import transformers.modeling_outputs  # noqa: F401  torch.export.load needs them for a HF .pt2

    dtypes = {"float32": np.float32, "int64": np.int32, "int32": np.int32}  # Core ML inputs take int32
    for text in sys.stdin:
        job = json.loads(text)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                if job["source"] == "pt":
                    inputs = [
                        ct.TensorType(name=name, shape=shape, dtype=dtypes[dtype])
                        if name
                        else ct.TensorType(shape=shape, dtype=dtypes[dtype])
                        for name, shape, dtype in job["inputs"]
                    ]
                    model = torch.jit.load(job["path"]).eval()
                else:
                    inputs = None
                    model = torch.export.load(job["path"]).run_decompositions({})
                ct.convert(
                    model,
                    inputs=inputs,
                    convert_to="mlprogram",
                    minimum_deployment_target=ct.target.iOS15,
                    skip_model_load=True,  # no Core ML runtime on Linux
                )
            outcome = "yes"
        except Exception as exc:  # what stops coremltools is the column's content
            outcome = f"no: {_first_line(exc)}"
        line = {"key": job["key"], "outcome": outcome}
        print(json.dumps(line), flush=True)
    return 0


class Coremltools:
    """The ``ct.convert`` child: it converts each saved file while this process runs bridgec on the
    next family (two cores), and its stderr (progress bars) goes to a file, not a pipe that fills."""

    def __init__(self, folder: Path) -> None:
        self.log = (folder / "coremltools.log").open("w")
        self.process = subprocess.Popen(
            [sys.executable, __file__, "--coremltools-worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.log,
            text=True,
        )
        self.keys: list[str] = []

    def submit(self, job: dict) -> None:
        self.keys.append(job["key"])
        self.process.stdin.write(json.dumps(job) + "\n")
        self.process.stdin.flush()

    def results(self) -> dict[str, str]:
        out, _ = self.process.communicate()
        self.log.close()
        results = {}
        for line in out.splitlines():
            if line.startswith("{"):
                data = json.loads(line)
                results[data["key"]] = data["outcome"]
        if self.process.returncode:  # the child died: the jobs it did not report say so
            tail = (Path(self.log.name).read_text().strip().splitlines() or ["no output"])[-1]
            for key in self.keys:
                results.setdefault(key, f"no: the coremltools process died ({tail[:100]})")
        return results


# ----------------------------------------------------------------------------------------- the table


def run_family(
    name: str, zoo_name: str, sources, formats, target, folder: Path, ct, coreai_torch: bool = False
) -> list[Row]:
    specs = inputs_of(name, zoo_name)
    rows = []
    for source in sources:
        start = time.perf_counter()
        path = folder / f"{name}.{source}"
        try:
            save(name, zoo_name, path)
            error = None
        except Exception as exc:  # the export's failure is the row
            error = f"no: export failed: {_first_line(exc)}"
        saved = time.perf_counter() - start
        apple = None  # coreai-torch converts this archive in a child while bridgec runs here
        if coreai_torch and not error and source == "pt2" and COREAI in formats:
            apple = CoreAITorch(path, zoo_name, name, folder)
        for fmt in formats:
            row = Row(name, zoo_name, source, fmt, seconds=saved / len(formats))
            if error:
                row.converted = error
            else:
                run_bridgec(row, path, specs, target)
            if apple and fmt == COREAI:
                row.coreai_torch = apple.outcome().cell()
            rows.append(row)
        if not error and ct:
            ct.submit({"key": f"{name}.{source}", "source": source, "path": str(path), "inputs": specs})
    return rows


def render(rows: list[Row], peers: tuple[str, ...] = ("ct.convert", "coreai-torch")) -> str:
    """The table; ``peers`` the peer converters' columns to show (the Core ML table shows ct.convert only)."""
    head = (
        "family",
        "zoo",
        "source",
        "format",
        "converted",
        "matched",
        "max rel err",
        "custom",
        "ct.convert",
        "coreai-torch",
        "s",
    )
    body = [
        (
            r.family,
            r.zoo,
            SOURCES[r.source],
            r.format,
            r.converted,
            r.matched,
            r.rel,
            r.custom,
            r.coremltools if r.format != COREAI else "-",
            r.coreai_torch,
            f"{r.seconds:.0f}",
        )
        for r in rows
    ]
    hidden = {head.index(peer) for peer in ("ct.convert", "coreai-torch") if peer not in peers}
    head = tuple(cell for i, cell in enumerate(head) if i not in hidden)
    body = [tuple(cell for i, cell in enumerate(line) if i not in hidden) for line in body]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in line) + " |" for line in body]
    return "\n".join(lines)


def summary(rows: list[Row]) -> str:
    """Per source and format: how many families matched, and how many ct.convert converted."""
    parts = []
    for source in SOURCES:
        for fmt in FORMATS:
            these = [r for r in rows if r.source == source and r.format == fmt]
            if these:
                parts.append(f"{SOURCES[source]} {fmt}: {sum(r.passed for r in these)}/{len(these)} matched")
        ct_rows = {r.family: r.coremltools for r in rows if r.source == source}
        if any(v != "-" for v in ct_rows.values()):
            converted = sum(v == "yes" for v in ct_rows.values())
            parts.append(f"ct.convert from {SOURCES[source]}: {converted}/{len(ct_rows)} converted")
    apple = [r.coreai_torch for r in rows if r.coreai_torch != "-"]
    if apple:
        parts.append(
            f"coreai-torch from torch.export: {sum(c.startswith('yes') for c in apple)}/{len(apple)} converted, "
            f"{sum(kind(c) == 'matches' for c in apple)} matched, {sum(kind(c) == 'wrong' for c in apple)} WRONG"
        )
    return "; ".join(parts)


def write_doc(rows: list[Row], seconds: float) -> None:
    """Replace each table of docs/families.md whose formats ``rows`` hold, and keep the others."""
    text = DOC.read_text()
    for block, (formats, peer) in BLOCKS.items():
        these = [r for r in rows if r.format in formats]
        if not these:
            continue
        begin, end = f"<!-- {block}:begin -->", f"<!-- {block}:end -->"
        if begin not in text or end not in text:
            raise SystemExit(f"{DOC} has no {begin} ... {end} block to replace")
        head, _, rest = text.partition(begin)
        _, _, tail = rest.partition(end)
        line = f"{summary(these)} ({seconds:.0f} s in all, every table of the run)"
        text = f"{head}{begin}\n{line}\n\n{render(these, (peer,))}\n{end}{tail}"
    DOC.write_text(text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("families", nargs="*", help="default: every family of the zoos")
    parser.add_argument("--source", choices=tuple(SOURCES), action="append", help="default: both")
    parser.add_argument("--format", choices=FORMATS, action="append", help="default: both")
    parser.add_argument("--target", default="iOS15", help="the Core ML rows' target (Core AI rows: iOS27)")
    parser.add_argument("--no-coremltools", action="store_true", help="skip the ct.convert column")
    parser.add_argument("--no-coreai-torch", action="store_true", help="skip the coreai-torch column")
    parser.add_argument(
        "--write",
        action="store_true",
        help=f"replace the tables of the formats run in {DOC.relative_to(ROOT)}",
    )
    parser.add_argument("--coremltools-worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore")
    logging.disable(logging.WARNING)
    if args.coremltools_worker:
        return coremltools_worker()
    known = zoos()
    unknown = [f for f in args.families if f not in known]
    if unknown:
        parser.error(f"unknown families {unknown}; known: {', '.join(known)}")
    sources, formats = args.source or list(SOURCES), args.format or list(FORMATS)
    whole = any(set(formats) == set(f) for f, _ in BLOCKS.values()) or set(formats) == set(FORMATS)
    if args.write and (
        args.families or args.source or args.no_coremltools or args.no_coreai_torch or not whole
    ):
        parser.error(
            "--write records whole tables: every family and source, the Core ML formats (with ct.convert), "
            "Core AI (with coreai-torch), or both"
        )
    rows: list[Row] = []
    begun = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        coreml = set(formats) & set(BLOCKS["families"][0])
        ct = None if args.no_coremltools or not coreml else Coremltools(Path(tmp))
        for name in args.families or known:
            print(f"families: {name} ...", file=sys.stderr, flush=True)
            done = run_family(
                name, known[name], sources, formats, args.target, Path(tmp), ct, not args.no_coreai_torch
            )
            for row in done:  # as it goes: a whole run takes an hour
                cells = (row.converted, row.matched, row.rel, row.coreai_torch)
                print(f"families: {name} {row.source} {row.format}: {' | '.join(cells)}", file=sys.stderr)
            rows += done
        if ct:
            print("families: waiting for ct.convert ...", file=sys.stderr, flush=True)
            outcomes = ct.results()
            for row in rows:
                row.coremltools = outcomes.get(f"{row.family}.{row.source}", "-")
    seconds = time.perf_counter() - begun
    print(render(rows))
    print(f"{summary(rows)} ({seconds:.0f} s in all)")
    if args.write:
        write_doc(rows, seconds)
    return 0 if all(r.passed for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
