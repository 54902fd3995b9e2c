"""Conversion speed (issue 21): bridgec against coremltools' ct.convert, whole process, CPU and wall time.

The whole-process CPU and wall time of `bridgec MODEL --format F` against a process running
coremltools' own `ct.convert` on the same file, same format, fp32:

    python tools/bench_speed.py [--models mobilenet_v2,resnet50,efficientnet_b0,vit_b_16]
        [--formats mlprogram,neuralnetwork] [--sources pt,pt2] [--pairs 5] [--profile] [--out FILE.md]

Each side is a fresh interpreter; runs alternate (bridgec, coremltools, bridgec, ...) so the machine's
noise hits both alike. CPU is the child's user + system time (all its threads), wall is perf_counter
around it; a row gives each side's medians and the ratios bridgec / coremltools, pass or fail against
the goal (CPU ratio <= 0.5). The peer for a TorchScript `.pt` is `ct.convert(torch.jit.load(p), ...)`,
for a `.pt2` `ct.convert(torch.export.load(p).run_decompositions(), ...)` (torch's default
decompositions: coremltools takes the inference IR). A model is a torchvision name (built with seeded
random weights by examples/zoo.py, traced or exported with a 1x3x224x224 input `x`, cached under
~/.cache/bridgec/bench/ by torch version) or a path to a `.pt`/`.pt2` file (input `x` of --shape).

bridgec's own modules are byte-compiled first (into their __pycache__ folders, as any import
would), so an environment that sets PYTHONDONTWRITEBYTECODE does not charge bridgec for compiling.

--profile profiles both conversions of the first model, format and source in process (cProfile's wall
clock, one fresh process each) and splits the time by the code it is spent under: imports per library,
model loading, tracing/export, bridgec's passes, building the MIL program (or NeuralNetwork layers),
coremltools' MIL passes, proto/serialisation and weights, the numbers check, the rest.
"""

from __future__ import annotations

import argparse
import cProfile
import hashlib
import importlib.abc
import importlib.metadata
import json
import os
import platform
import pstats
import resource
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
GOAL = 0.5  # issue 21: bridgec's CPU time at most half of coremltools'
MODELS = ("mobilenet_v2", "resnet50", "efficientnet_b0", "vit_b_16")
FORMATS = ("mlprogram", "neuralnetwork")
SOURCES = ("pt", "pt2")
SUFFIX = {"mlprogram": ".mlpackage", "neuralnetwork": ".mlmodel"}

# What a user of coremltools runs instead of bridgec: argv SRC OUT FORMAT SHAPE (e.g. 1x3x224x224; the
# input is named x). Run as `python -c PEER ...`; --profile calls its function.
PEER = """
import sys, warnings, logging

def convert(src, out, fmt, shape):
    import torch, coremltools as ct

    kw = dict(convert_to=fmt, minimum_deployment_target=ct.target.iOS14)
    if fmt == "mlprogram":
        kw.update(minimum_deployment_target=ct.target.iOS15, compute_precision=ct.precision.FLOAT32)
    if src.endswith(".pt2"):
        model = ct.convert(torch.export.load(src).run_decompositions(), **kw)
    else:
        dims = tuple(int(d) for d in shape.split("x"))
        model = ct.convert(torch.jit.load(src), inputs=[ct.TensorType(name="x", shape=dims)], **kw)
    model.save(out)

warnings.simplefilter("ignore"); logging.disable(logging.WARNING)
if __name__ == "__main__":
    convert(*sys.argv[1:5])
"""


def _bin(name: str) -> str:
    return str(Path(sys.executable).with_name(name))


def run_child(cmd: list[str]) -> tuple[float, float, subprocess.CompletedProcess]:
    """(wall seconds, CPU seconds of the child: user + system, all its threads), and the process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, done


def _last_line(done: subprocess.CompletedProcess) -> str:
    lines = [ln.strip() for ln in (done.stderr or "").splitlines() if ln.strip()]
    return lines[-1][:160] if lines else f"exit status {done.returncode}"


# --- the models ---------------------------------------------------------------------------------


def _zoo_names() -> list[str]:
    sys.path.insert(0, str(ROOT))
    from examples import zoo

    return list(zoo.MODELS)


def byte_compiled() -> None:
    """bridgec's modules compiled to bytecode, as an installed copy has them (pip compiles a package
    when it installs it; an editable install writes them on first import). Where the environment says
    PYTHONDONTWRITEBYTECODE every bridgec run would compile its ~170 modules again, 0.26 s that no
    user pays, while the libraries on both sides were compiled by pip."""
    import compileall

    for folder in ("bridgec", "passes", "frontends", "backends", "runtime_kernels"):
        compileall.compile_dir(ROOT / folder, quiet=1)


def cache_dir() -> Path:
    """Keyed by torch's version (a .pt2 only loads in the torch that wrote it) and examples/zoo.py's
    text (the weights and tracing options)."""
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    zoo = hashlib.sha256((ROOT / "examples" / "zoo.py").read_bytes()).hexdigest()[:10]
    return base / "bridgec" / "bench" / f"torch-{importlib.metadata.version('torch')}-zoo-{zoo}"


def cached_model(name: str, source: str) -> Path:
    """A torchvision model of examples/zoo.py as TorchScript (``pt``) or a torch.export archive (``pt2``)."""
    path = cache_dir() / f"{name}.{source}"
    if path.exists():
        return path
    sys.path.insert(0, str(ROOT))
    import torch

    from examples import zoo

    path.parent.mkdir(parents=True, exist_ok=True)
    # Written aside under its own name (a .pt2 names its root folder after the file), then moved: another
    # run may be building it too.
    with tempfile.TemporaryDirectory(dir=path.parent) as tmp:
        partial = Path(tmp) / path.name
        if source == "pt":
            zoo.save(name, partial)
        else:
            program = torch.export.export(zoo.build(name), (torch.randn(*zoo.MODELS[name]),))
            torch.export.save(program, str(partial))
        partial.replace(path)
    return path


@dataclass
class Case:
    name: str
    path: Path
    source: str  # pt or pt2
    shape: str  # 1x3x224x224


def cases(models: list[str], sources: list[str], shape: str) -> list[Case]:
    out = []
    for model in models:
        if model.endswith((".pt", ".pt2")):
            path = Path(model)
            out.append(Case(path.stem, path, path.suffix[1:], shape))
            continue
        for source in sources:
            print(f"bench_speed: model {model}.{source}", file=sys.stderr, flush=True)
            out.append(Case(model, cached_model(model, source), source, shape))
    return out


# --- the timed runs -----------------------------------------------------------------------------


@dataclass
class Side:
    cpu: list[float] = field(default_factory=list)
    wall: list[float] = field(default_factory=list)
    failure: str = ""

    def median(self, which: str) -> float | None:
        values = getattr(self, which)
        return statistics.median(values) if values else None


def commands(case: Case, fmt: str, work: Path) -> dict[str, tuple[list[str], Path]]:
    ours, theirs = work / f"bridgec{SUFFIX[fmt]}", work / f"coremltools{SUFFIX[fmt]}"
    # TorchScript stores no shapes; the name is left out (one input, whatever the model calls it)
    shape = ["-i", case.shape] if case.source == "pt" else []
    return {
        "bridgec": ([_bin("bridgec"), str(case.path), *shape, "--format", fmt, "-o", str(ours), "-q"], ours),
        "coremltools": ([sys.executable, "-c", PEER, str(case.path), str(theirs), fmt, case.shape], theirs),
    }


def measure(case: Case, fmt: str, pairs: int, work: Path, label: str) -> tuple[dict[str, Side], list[float]]:
    """``pairs`` alternating runs of each side; a side that fails is not run again, the other goes on."""
    sides = {"bridgec": Side(), "coremltools": Side()}
    loads = [os.getloadavg()[0]]
    for pair in range(1, pairs + 1):
        for who, (cmd, out) in commands(case, fmt, work).items():
            side = sides[who]
            if side.failure:
                continue
            if out.is_dir():  # each run writes a new model, none replaces one
                shutil.rmtree(out)
            out.unlink(missing_ok=True)
            wall, cpu, done = run_child(cmd)
            loads.append(os.getloadavg()[0])
            if done.returncode != 0:
                side.failure = _last_line(done)
                print(
                    f"bench_speed: {label} pair {pair}/{pairs} {who} failed: {side.failure}", file=sys.stderr
                )
                continue
            side.cpu.append(cpu)
            side.wall.append(wall)
            print(
                f"bench_speed: {label} pair {pair}/{pairs} {who}: {cpu:.2f} s CPU, {wall:.2f} s wall",
                file=sys.stderr,
                flush=True,
            )
    return sides, loads


HEADER = [
    "| model | source | format | bridgec CPU (s) | coremltools CPU (s) | CPU ratio | goal ≤ 0.5 | "
    "bridgec wall (s) | coremltools wall (s) | wall ratio | pairs | load (1 min) | note |",
    "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
]


def row(case: Case, fmt: str, sides: dict[str, Side], loads: list[float]) -> str:
    ours, theirs = sides["bridgec"], sides["coremltools"]

    def cell(side: Side, which: str) -> str:
        value = side.median(which)
        return f"{value:.2f}" if value is not None else "failed"

    def ratio(which: str) -> float | None:
        a, b = ours.median(which), theirs.median(which)
        return a / b if a is not None and b is not None and not ours.failure and not theirs.failure else None

    cpu_ratio, wall_ratio = ratio("cpu"), ratio("wall")
    verdict = "—" if cpu_ratio is None else ("pass" if cpu_ratio <= GOAL else "fail")
    counts = {len(ours.cpu), len(theirs.cpu)}
    pairs = str(counts.pop()) if len(counts) == 1 else f"{len(ours.cpu)} / {len(theirs.cpu)}"
    notes = [f"{who} failed: {side.failure}" for who, side in sides.items() if side.failure]
    return (
        f"| {case.name} | {case.source} | {fmt} | {cell(ours, 'cpu')} | {cell(theirs, 'cpu')} | "
        f"{'—' if cpu_ratio is None else f'{cpu_ratio:.2f}'} | {verdict} | {cell(ours, 'wall')} | "
        f"{cell(theirs, 'wall')} | {'—' if wall_ratio is None else f'{wall_ratio:.2f}'} | {pairs} | "
        f"{min(loads):.1f}–{max(loads):.1f} | {'; '.join(notes).replace('|', '/')} |"
    )


# --- the profile --------------------------------------------------------------------------------

IMPORTS = {  # top-level module -> the library whose import it counts with
    "torch": "torch",
    "torchvision": "torch",
    "functorch": "torch",
    "torchgen": "torch",
    "coremltools": "coremltools",
    "onnx": "onnx + onnxruntime",
    "onnxruntime": "onnx + onnxruntime",
    "onnxscript": "onnx + onnxruntime",
    "onnx_ir": "onnx + onnxruntime",
    "bridgec": "bridgec",
}
PARTS = (
    *(f"import {lib}" for lib in dict.fromkeys(IMPORTS.values())),
    "import other",
    "load model",
    "tracing / export",
    "bridgec passes",
    "MIL / NeuralNetwork building",
    "coremltools passes",
    "proto, serialisation + weights",
    "numbers check",
    "other",
)
# Where a function's file (path from its package's root) starts with one of these, it and what it calls
# count there, until a callee matches another (the longest match of a frame wins). The check and
# imports hold everything under them.
WHERE: dict[tuple[str, str], str] = {  # (path prefix, function or "" for any): part
    ("torch/jit/_serialization.py", ""): "load model",
    ("torch/_export/serde/", ""): "load model",
    ("torch/export/__init__.py", "load"): "load model",
    ("bridgec/frontends/pytorch_load.py", ""): "load model",
    ("bridgec/frontends/pt2_archive.py", ""): "load model",
    ("bridgec/frontends/", ""): "tracing / export",
    ("torch/jit/_trace.py", ""): "tracing / export",
    ("torch/onnx/", ""): "tracing / export",
    ("torch/export/", ""): "tracing / export",
    ("torch/_export/", ""): "tracing / export",
    ("torch/_dynamo/", ""): "tracing / export",
    ("bridgec/passes/", ""): "bridgec passes",
    ("bridgec/driver/pipeline.py", ""): "bridgec passes",
    ("bridgec/driver/analysis.py", ""): "bridgec passes",
    ("bridgec/backends/coreml/", ""): "MIL / NeuralNetwork building",
    ("coremltools/converters/mil/frontend/", ""): "MIL / NeuralNetwork building",
    ("coremltools/converters/mil/mil/passes/", ""): "coremltools passes",
    ("coremltools/converters/mil/backend/mil/passes/", ""): "coremltools passes",
    ("coremltools/converters/mil/backend/nn/passes/", ""): "coremltools passes",
    ("coremltools/converters/mil/backend/", ""): "proto, serialisation + weights",
    ("coremltools/models/", ""): "proto, serialisation + weights",
    ("google/protobuf/", ""): "proto, serialisation + weights",
    ("bridgec/driver/output.py", ""): "proto, serialisation + weights",
    ("bridgec/backends/coreml/executor/", ""): "numbers check",
    ("bridgec/driver/check", ""): "numbers check",
    ("bridgec/driver/convert.py", "_prepare_check"): "numbers check",
    ("bridgec/driver/convert.py", "check"): "numbers check",
    ("bridgec/driver/convert.py", "_run_check"): "numbers check",
    ("<frozen importlib.", ""): "import",  # the import machinery itself: finders, loaders
}
HOLD = ("import", "numbers check")  # what runs under an import is import time, under the check the check's
SOURCE_FOLDERS = ("passes", "frontends", "backends", "runtime_kernels")  # pyproject's package-dir


def _package_path(filename: str) -> str:
    """``torch/jit/_trace.py`` for a library's file, ``bridgec/passes/...`` for bridgec's source folders."""
    if "site-packages/" in filename:
        return filename.rsplit("site-packages/", 1)[1]
    path = Path(filename)
    if path.is_relative_to(ROOT):
        rel = path.relative_to(ROOT).as_posix()
        return f"bridgec/{rel}" if rel.split("/")[0] in SOURCE_FOLDERS else rel
    return filename


def _where(func: tuple[str, int, str]) -> str | None:
    filename, _, name = func
    path = _package_path(filename)
    matches = [
        (len(prefix) + len(function), part)
        for (prefix, function), part in WHERE.items()
        if path.startswith(prefix) and function in ("", name)
    ]
    return max(matches)[1] if matches else None


def _descend(held: str, part: str | None) -> str:
    if held == "import" or part == "import":
        return "import"
    if held in HOLD:
        return held
    return part or held


def split(stats: pstats.Stats, imports: dict[str, float]) -> dict[str, float]:
    """CPU seconds per part. cProfile keeps no stacks, only who called whom and how long: a function's
    own time is shared among the parts its callers run in, in proportion to the time each caller spent
    in it (exact wherever a function is reached from one part only). The import total is split among
    the libraries by ``imports`` (each library's import, measured as it ran)."""
    table = stats.stats  # type: ignore[attr-defined]
    where = {f: _where(f) for f in table}
    # (caller, share of the callee's cumulative time, share of its own time) for each function
    edges: dict[Any, list[tuple[Any, float, float]]] = {}
    for f, (_, _, _, _, callers) in table.items():
        known = [(c, edge[3], edge[2]) for c, edge in callers.items() if c in table]
        cumulative, own = sum(e[1] for e in known), sum(e[2] for e in known)
        edges[f] = [
            (c, ct / cumulative if cumulative else 1 / len(known), tt / own if own else 1 / len(known))
            for c, ct, tt in known
        ]
    out: dict[Any, dict[str, float]] = {f: {_descend("other", where[f]): 1.0} for f in table}
    # A function's own recursive calls run in the parts its other callers give it: leaving them out
    # changes no fixed point and reaches it in a few rounds.
    inward = {f: [(c, share) for c, share, _ in edges[f] if c != f] for f in table}
    for f, incoming in inward.items():
        total = sum(share for _, share in incoming)
        inward[f] = [(c, share / total) for c, share in incoming] if total else incoming
    callees: dict[Any, list[Any]] = {f: [] for f in table}
    for f, incoming in inward.items():
        for c, _ in incoming:
            callees[c].append(f)
    # Callers before callees (depth-first from the callers' side, reversed): one round is exact but for
    # mutual recursion, which the next rounds settle to within a millisecond of any function.
    order: list[Any] = []
    seen: set[Any] = set()
    for root in sorted(table, key=lambda f: (bool(inward[f]), -table[f][3])):
        if root in seen:
            continue
        seen.add(root)
        stack = [(root, iter(callees[root]))]
        while stack:
            f, below = stack[-1]
            g = next(below, None)
            if g is None:
                order.append(f)
                stack.pop()
            elif g not in seen:
                seen.add(g)
                stack.append((g, iter(callees[g])))
    order.reverse()
    for _ in range(100):
        change = 0.0
        for f in order:
            if not inward[f]:
                continue
            weights: dict[str, float] = {}
            for c, share in inward[f]:
                for held, fraction in out[c].items():
                    part = _descend(held, where[f])
                    weights[part] = weights.get(part, 0.0) + share * fraction
            before, out[f] = out[f], weights
            moved = max(abs(weights.get(p, 0.0) - before.get(p, 0.0)) for p in {*weights, *before})
            change = max(change, moved * table[f][3])
        if change < 1e-3:
            break
    parts = dict.fromkeys(PARTS, 0.0)
    imported = 0.0
    for f, (_, _, own, _, _) in table.items():
        sources = [(share, out[c]) for c, _, share in edges[f]] or [(1.0, {"other": 1.0})]
        for share, held_parts in sources:
            for held, fraction in held_parts.items():
                part = _descend(held, where[f])
                if part == "import":
                    imported += own * share * fraction
                else:
                    parts[part] += own * share * fraction
    # The clock misses the finders' time before a library's code runs: what it measured is shared out
    # of the profile's import total, the rest is the other modules' imports.
    measured = sum(imports.values())
    scale = min(1.0, imported / measured) if measured else 0.0
    for lib, seconds in imports.items():
        parts[f"import {lib}"] = seconds * scale
    parts["import other"] = imported - measured * scale
    return parts


def profile_child(who: str, src: str, fmt: str, shape: str, out: str, stats_file: str) -> None:
    """One side's conversion, imports included, under cProfile, in this fresh process."""
    peer: dict[str, Any] = {"__name__": "peer"}
    # Defined before the profile starts: the profile shares a builtin's callees among its callers, and
    # exec's are the imports' module bodies.
    exec(compile(PEER, "<coremltools peer>", "exec"), peer)
    from bridgec.core import timing  # the command's own import clock, with this profile's rows

    timing.watch_imports(
        lambda name: f"import {IMPORTS[name.split('.')[0]]}" if name.split(".")[0] in IMPORTS else None
    )
    # Its default clock, not CPU time: CPU time is a system call per function call, which quadruples
    # the imports.
    profiler = cProfile.Profile()
    profiler.enable()
    if who == "bridgec":
        from bridgec.driver.convert import convert

        inputs = {"x": tuple(int(d) for d in shape.split("x"))} if src.endswith(".pt") else None
        convert(src, inputs=inputs, format=fmt, output=out)
    else:
        peer["convert"](src, out, fmt, shape)
    profiler.disable()
    profiler.dump_stats(stats_file)
    seconds = {row.removeprefix("import "): value for row, value in timing.imports().items()}
    Path(stats_file + ".json").write_text(json.dumps(seconds))


def profile(case: Case, fmt: str, work: Path, keep: Path | None = None) -> list[str]:
    """The profile table; with ``keep`` (FILE.md) each side's cProfile file too, FILE.bridgec.prof and
    FILE.coremltools.prof, to look into (snakeviz, pstats)."""
    columns: dict[str, dict[str, float] | str] = {}
    for who in ("bridgec", "coremltools"):
        print(
            f"bench_speed: profiling {who} on {case.name} .{case.source} {fmt}", file=sys.stderr, flush=True
        )
        stats_file = keep.with_suffix(f".{who}.prof") if keep else work / f"{who}.prof"
        out = work / f"profiled-{who}{SUFFIX[fmt]}"
        cmd = [sys.executable, __file__, "--profile-child", who, str(case.path), fmt, case.shape, str(out)]
        done = subprocess.run([*cmd, str(stats_file)], capture_output=True, text=True)
        if done.returncode != 0:
            columns[who] = f"failed: {_last_line(done)}"
            continue
        clock = Path(f"{stats_file}.json")
        imports = json.loads(clock.read_text())
        clock.unlink()
        columns[who] = split(pstats.Stats(str(stats_file)), imports)
    lines = [
        f"## Profile: {case.name} .{case.source} {fmt}, in process",
        "",
        "cProfile's clock (wall time) in one fresh process per side, imports included and the profiler's "
        "overhead too: the totals exceed the runs above. A function's time counts in the part whose code "
        "it runs under; one reached from several parts is shared among them in proportion to each "
        "caller's time in it.",
        "",
        "| part | bridgec (s) | bridgec % | coremltools (s) | coremltools % |",
        "|---|---|---|---|---|",
    ]
    totals = {who: sum(c.values()) for who, c in columns.items() if isinstance(c, dict)}

    def cells(who: str, part: str | None) -> str:
        column = columns[who]
        if isinstance(column, str):
            return "— | —"
        seconds = totals[who] if part is None else column[part]
        return f"{seconds:.2f} | {100 * seconds / totals[who]:.0f}"

    for part in PARTS:
        lines.append(f"| {part} | {cells('bridgec', part)} | {cells('coremltools', part)} |")
    lines.append(f"| total | {cells('bridgec', None)} | {cells('coremltools', None)} |")
    lines += [f"\n{who}: {column}" for who, column in columns.items() if isinstance(column, str)]
    return lines


# --- the command --------------------------------------------------------------------------------


def _versions() -> str:
    def version(dist: str) -> str:
        try:
            return importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            return "?"

    return (
        f"bridgec {version('bridgec')}, torch {version('torch')}, coremltools {version('coremltools')}, "
        f"Python {platform.python_version()}, {platform.machine()}, {os.cpu_count()} cores"
    )


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--profile-child"]:
        profile_child(*argv[1:7])
        os._exit(0)  # the models' threads and atexit hooks are no part of what was profiled
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=",".join(MODELS), help="torchvision names or .pt/.pt2 paths")
    parser.add_argument("--formats", default=",".join(FORMATS))
    parser.add_argument("--sources", default=",".join(SOURCES), help="pt (TorchScript), pt2 (torch.export)")
    parser.add_argument("--pairs", type=int, default=5, help="alternating runs of each side")
    parser.add_argument("--shape", default="1x3x224x224", help="the input x of a model given as a path")
    parser.add_argument("--profile", action="store_true", help="profile the first model, format and source")
    parser.add_argument(
        "--out",
        type=Path,
        help="also write the output (markdown) here, and --profile's cProfile files beside it",
    )
    args = parser.parse_args(argv)
    formats, sources = args.formats.split(","), args.sources.split(",")
    unknown = sorted({*formats} - {*FORMATS}) + sorted({*sources} - {*SOURCES})
    if unknown:
        parser.error(
            f"unknown --formats/--sources value {', '.join(unknown)}: choose from {FORMATS + SOURCES}"
        )
    if args.pairs < 1:
        parser.error(f"--pairs {args.pairs}: at least 1 (the issue's figures take 5)")
    for model in args.models.split(","):
        if model.endswith((".pt", ".pt2")):
            if not Path(model).is_file():
                parser.error(f"--models: {model}: no such file")
        elif model not in _zoo_names():
            parser.error(
                f"--models: unknown model {model!r}: a .pt/.pt2 path or one of {', '.join(_zoo_names())}"
            )
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
    byte_compiled()

    lines = [
        "# Conversion speed: bridgec vs coremltools",
        "",
        f"`{shlex.join(['python', 'tools/bench_speed.py', *argv])}`",
        "",
        f"{_versions()}. CPU: the process's user + system time (all threads); wall: perf_counter around "
        f"it; medians of alternating runs (bridgec, coremltools, ...), each a fresh process, fp32. "
        f"Goal: CPU ratio bridgec / coremltools ≤ {GOAL}.",
        "",
        f"load average (1 min) at start: {os.getloadavg()[0]:.2f}",
        "",
    ]
    print("\n".join(lines), flush=True)
    todo = cases(args.models.split(","), sources, args.shape)
    table = list(HEADER)
    print("\n".join(table), flush=True)
    with tempfile.TemporaryDirectory(prefix="bench_speed.") as tmp:
        work = Path(tmp)
        for n, case in enumerate(todo, 1):
            for fmt in formats:
                label = f"[{n}/{len(todo)}] {case.name} .{case.source} {fmt}"
                sides, loads = measure(case, fmt, args.pairs, work, label)
                table.append(row(case, fmt, sides, loads))
                print(table[-1], flush=True)
        lines += [*table, "", f"load average (1 min) at end: {os.getloadavg()[0]:.2f}"]
        print(lines[-1], flush=True)
        if args.profile and todo:
            profiled = profile(todo[0], formats[0], work, args.out)
            print("\n" + "\n".join(profiled), flush=True)
            lines += ["", *profiled]
    if args.out:
        args.out.write_text("\n".join(lines) + "\n")
        print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
