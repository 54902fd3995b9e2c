"""Benchmark: bridgec against Apple's coreai-torch, a torch model to a Core AI ``.aimodel``, whole process.

Each run is a fresh ``python`` process, as a user runs it, alternating between the three commands so
machine noise hits them alike; medians of ``--runs`` (at least 5 for figures worth quoting):

bridgec          ``bridgec MODEL.pt --format coreai`` (TorchScript file; the default check runs the
                 written model in Apple's runtime against PyTorch)
bridgec no-check the same with ``--no-check``
coreai-torch     coreai-torch 0.4.3's documented flow (docs/coreai-groundwork.md §5) in a script:
                 build the model from code and load its weights, ``torch.export.export`` ->
                 ``run_decompositions(get_decomp_table())`` -> ``TorchConverter().add_exported_program``
                 -> ``to_coreai()`` -> ``save_asset(minimum_os=OSVersion.v27)``. It checks nothing.

Wall time and CPU time (user + system of the child and everything it waited for:
``getrusage(RUSAGE_CHILDREN)``), the ratios bridgec / coreai-torch, and the load average before and after.

  python tools/bench_coreai.py [--runs 5] [--models mobilenet_v2,resnet18] [--out docs/benchmarks-coreai.md]
  python tools/bench_coreai.py --smoke     # CI: one run of a tiny model, nothing written
"""

from __future__ import annotations

import argparse
import datetime
import importlib.util
import os
import platform
import statistics
import sys
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench_convert import _bin, timed_cpu  # noqa: E402 - the same measure as the Core ML benchmarks

MODELS = ["mobilenet_v2", "resnet18"]
SMOKE = "tiny"
TINY_SHAPE = (1, 3, 32, 32)

# How the model is built from code, shared by this process (which saves the TorchScript file bridgec
# reads) and by the coreai-torch script (which builds it as its user would, then loads the same weights).
MODEL_CODE = """
import torch
from torch import nn

def build(arch):
    if arch == "tiny":
        return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU6(), nn.AdaptiveAvgPool2d(1),
                             nn.Flatten(), nn.Linear(8, 10)).eval()
    from torchvision import models
    return getattr(models, arch)(weights=None).eval()
"""

COREAI_TORCH = (
    """
import sys, warnings, logging
warnings.simplefilter("ignore"); logging.disable(logging.WARNING)
from pathlib import Path
"""
    + MODEL_CODE
    + """
import coreai_torch
from coreai.authoring import OSVersion
arch, weights, out = sys.argv[1], sys.argv[2], Path(sys.argv[3])
shape = tuple(int(d) for d in sys.argv[4].split("x"))
model = build(arch)
model.load_state_dict(torch.load(weights))
program = torch.export.export(model, (torch.randn(*shape),))
program = program.run_decompositions(coreai_torch.get_decomp_table())
converted = (
    coreai_torch.TorchConverter()
    .add_exported_program(program, input_names=["x"], output_names=["logits"])
    .to_coreai()
)
converted.save_asset(out, minimum_os=OSVersion.v27)
"""
)

SIDES = ("bridgec", "bridgec --no-check", "coreai-torch")


@dataclass
class Measured:
    model: str
    wall: dict[str, list[float]] = field(default_factory=lambda: {side: [] for side in SIDES})
    cpu: dict[str, list[float]] = field(default_factory=lambda: {side: [] for side in SIDES})
    loads: list[float] = field(default_factory=list)
    stages: str = ""

    def median(self, kind: str, side: str) -> float:
        return statistics.median(getattr(self, kind)[side])

    def ratio(self, kind: str, side: str) -> float:
        return self.median(kind, side) / self.median(kind, "coreai-torch")


def save_model(arch: str, shape: tuple[int, ...], work: Path) -> tuple[Path, Path]:
    """The TorchScript file bridgec converts and the state dict the coreai-torch script loads: same weights."""
    import torch

    scope: dict = {}
    exec(MODEL_CODE, scope)  # noqa: S102 - our own constant: the one definition both sides build
    if arch == SMOKE:
        torch.manual_seed(0)
        model = scope["build"](arch)
    else:
        from examples import zoo  # seeded weights and random BN statistics, as every zoo benchmark

        model = zoo.build(arch)
    traced, weights = work / f"{arch}.pt", work / f"{arch}.weights.pt"
    with warnings.catch_warnings():
        warnings.simplefilter(
            "ignore"
        )  # torch.jit's deprecation warnings: TorchScript is bridgec's input here
        torch.jit.save(torch.jit.trace(model, torch.randn(*shape)), str(traced))
    torch.save(model.state_dict(), weights)
    return traced, weights


def commands(arch: str, shape: tuple[int, ...], work: Path) -> dict[str, list[str]]:
    traced, weights = save_model(arch, shape, work)
    dims = "x".join(map(str, shape))
    bridgec = [_bin("bridgec"), str(traced), "-i", dims, "--format", "coreai", "-q", "--timings"]
    return {
        "bridgec": [*bridgec, "-o", str(work / "b.aimodel")],
        "bridgec --no-check": [*bridgec, "-o", str(work / "n.aimodel"), "--no-check"],
        "coreai-torch": [
            sys.executable,
            "-c",
            COREAI_TORCH,
            arch,
            str(weights),
            str(work / "c.aimodel"),
            dims,
        ],
    }


def measure(arch: str, shape: tuple[int, ...], runs: int, work: Path) -> Measured:
    cmds = commands(arch, shape, work)
    measured = Measured(arch)
    measured.loads.append(os.getloadavg()[0])
    for _ in range(runs):  # alternate, so machine noise hits every side alike
        for side, cmd in cmds.items():
            wall, cpu, done = timed_cpu(cmd)
            if done.returncode != 0:
                last = (done.stderr.strip().splitlines() or [f"exit status {done.returncode}"])[-1]
                raise SystemExit(f"{arch}: {side} failed: {last}")
            measured.wall[side].append(wall)
            measured.cpu[side].append(cpu)
            if side == "bridgec":
                measured.stages = next(
                    (
                        ln.removeprefix("stages: ")
                        for ln in done.stderr.splitlines()
                        if ln.startswith("stages:")
                    ),
                    "",
                )
    measured.loads.append(os.getloadavg()[0])
    for name in ("b", "n", "c"):  # every side wrote its model (a Core AI model is a folder)
        if not (work / f"{name}.aimodel" / "main.mlirb").is_file():
            raise SystemExit(f"{arch}: {work / f'{name}.aimodel'} was not written")
    return measured


def table(results: list[Measured]) -> list[str]:
    rows = [
        "| model | wall (s): bridgec / --no-check / coreai-torch | wall ratio: bridgec, --no-check | "
        "CPU (s): bridgec / --no-check / coreai-torch | CPU ratio: bridgec, --no-check | "
        "load avg (1 min) before → after | bridgec stages (last run) |",
        "|---|---|---|---|---|---|---|",
    ]
    for m in results:
        walls = " / ".join(f"{m.median('wall', s):.2f}" for s in SIDES)
        cpus = " / ".join(f"{m.median('cpu', s):.2f}" for s in SIDES)
        rows.append(
            f"| {m.model} | {walls} | {m.ratio('wall', 'bridgec'):.2f}, {m.ratio('wall', 'bridgec --no-check'):.2f} | "
            f"{cpus} | {m.ratio('cpu', 'bridgec'):.2f}, {m.ratio('cpu', 'bridgec --no-check'):.2f} | "
            f"{m.loads[0]:.2f} → {m.loads[-1]:.2f} | {m.stages} |"
        )
    return rows


def run(models: list[str], runs: int) -> list[Measured]:
    from examples import zoo

    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for arch in models:
            shape = TINY_SHAPE if arch == SMOKE else zoo.MODELS[arch]
            work = Path(tmp) / arch
            work.mkdir()
            results.append(measure(arch, shape, runs, work))
            print(table(results)[-1], flush=True)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="alternating runs per side (median)")
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--out", type=Path, help="also write the table to this Markdown file")
    parser.add_argument("--smoke", action="store_true", help=f"one run of a tiny model ({SMOKE}); for CI")
    args = parser.parse_args(argv)
    models, runs = ([SMOKE], 1) if args.smoke else (args.models.split(","), args.runs)
    if importlib.util.find_spec("coreai_torch") is None:  # one line here, not a traceback per child
        raise SystemExit(
            "coreai-torch is not installed: pip install coreai-torch==0.4.3 (bridgec's dev extra)"
        )

    results = run(models, runs)
    lines = [
        "# bridgec vs coreai-torch: a torch model to a Core AI `.aimodel`, whole process",
        "",
        f"Written by `python {' '.join(['tools/bench_coreai.py', *(argv if argv is not None else sys.argv[1:])])}` "
        f"on {datetime.date.today()} ({platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}): median of {runs} alternating runs per side; ratio = bridgec / "
        "coreai-torch (below 1: bridgec is faster). bridgec's default run includes its check (the model run "
        "in Apple's runtime against PyTorch); coreai-torch checks nothing.",
        "",
        *table(results),
        "",
    ]
    print("\n".join(table(results)))
    if args.out:
        args.out.write_text("\n".join(lines))
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
