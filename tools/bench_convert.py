"""Benchmarks, written to docs/benchmarks.md: bridgec against what users would run instead, same run.

convert  tools/bench_speed.py's table for the TorchScript files, per format (ML Program for iOS15, the
         default, and NeuralNetwork): whole-process CPU and wall time of `bridgec model.pt` vs a
         process running coremltools' own ct.convert on the same file, alternating runs, medians and
         ratios (goal: CPU <= 0.5). bench_speed alone also does the .pt2 files and --profile.
cleanup  bridgec's cleanup passes vs onnxslim on the same exported ONNX graphs: time and node counts.
custom   custom layers the default pipeline leaves per family (goal 0: they force Core ML's slow path).
scaling  tools/bench_scaling.py's table (1k/10k/100k-node synthetic graphs, whole conversion, both formats).
check    what the numbers check in every conversion costs: whole-process `bridgec` against
         `bridgec --no-check` on the same model, same format, alternating runs, median wall and CPU
         time (the child's user + system), and the check stage alone (--timings).

  python tools/bench_convert.py [--runs 3] [--sections convert,cleanup,custom,scaling,check] [--out docs/benchmarks.md]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import bench_speed  # noqa: E402 - one runner and one coremltools peer for every benchmark

_bin = bench_speed._bin
timed_cpu = bench_speed.run_child  # (wall, CPU, process): the check section's and bench_coreai.py's measure

CONVERT_MODELS = ["mobilenet_v2", "resnet50", "efficientnet_b0", "lraspp_mobilenet_v3_large"]


CHECK_MODELS = ["mobilenet_v2", "resnet50"]


def section_check(runs: int, work: Path, models: list[str] = CHECK_MODELS) -> list[str]:
    """The default check's price: `bridgec` vs `bridgec --no-check`, alternating, median of ``runs``."""
    from examples import zoo

    rows = [
        "| model | format | wall with check / without (s) | ratio | CPU with / without (s) | CPU ratio | "
        "check stage (s, median) | load avg (1 min) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name in models:
        path = zoo.save(name, work / f"{name}.pt")
        shape = "x".join(map(str, zoo.MODELS[name]))
        for fmt, suffix in (("mlprogram", ".mlpackage"), ("neuralnetwork", ".mlmodel")):
            base = [_bin("bridgec"), str(path), "-i", shape, "--format", fmt, "-q", "--timings"]
            walls: dict[bool, list[float]] = {True: [], False: []}
            cpus: dict[bool, list[float]] = {True: [], False: []}
            stage: list[float] = []
            loads = []
            for _ in range(runs):  # alternate, so machine noise hits both alike
                for checked in (True, False):
                    cmd = [*base, "-o", str(work / f"k{int(checked)}{suffix}")] + (
                        [] if checked else ["--no-check"]
                    )
                    wall, cpu, done = timed_cpu(cmd)
                    if done.returncode != 0:
                        raise SystemExit(f"{name} {fmt}: {done.stderr.strip().splitlines()[-1]}")
                    walls[checked].append(wall)
                    cpus[checked].append(cpu)
                    timings = next((ln for ln in done.stderr.splitlines() if ln.startswith("stages:")), "")
                    if checked and " check " in timings:
                        stage.append(float(timings.split(" check ")[1].split("s")[0]))
                    loads.append(os.getloadavg()[0])
            w = {k: statistics.median(v) for k, v in walls.items()}
            c = {k: statistics.median(v) for k, v in cpus.items()}
            rows.append(
                f"| {name} | {fmt} | {w[True]:.2f} / {w[False]:.2f} | {w[True] / w[False]:.2f} | "
                f"{c[True]:.2f} / {c[False]:.2f} | {c[True] / c[False]:.2f} | "
                f"{statistics.median(stage) if stage else float('nan'):.2f} | "
                f"{min(loads):.1f}–{max(loads):.1f} |"
            )
            print(rows[-1], flush=True)
    return rows


def section_convert(
    runs: int, work: Path, models: list[str] = CONVERT_MODELS, fmt: str = "mlprogram"
) -> list[str]:
    """bench_speed's rows for TorchScript files: the same runner, coremltools peer and table."""
    from examples import zoo

    rows = list(bench_speed.HEADER)
    for name in models:
        case = bench_speed.Case(
            name, bench_speed.cached_model(name, "pt"), "pt", "x".join(map(str, zoo.MODELS[name]))
        )
        sides, loads = bench_speed.measure(case, fmt, runs, work, f"{name} {fmt}")
        rows.append(bench_speed.row(case, fmt, sides, loads))
        print(rows[-1], flush=True)
    return rows


def section_cleanup(work: Path) -> list[str]:
    import onnx
    import onnxslim

    from bridgec import frontends
    from bridgec.backends.coreml.targets import Target
    from bridgec.core import ir
    from bridgec.driver.pipeline import RunOptions, run_pipeline
    from bridgec.driver.request import ConversionRequest
    from examples import zoo

    rows = [
        "| model | nodes exported | bridgec cleanup: nodes / ms | onnxslim: nodes / ms | time ratio |",
        "|---|---|---|---|---|",
    ]
    for name in ["mobilenet_v2", "resnet50", "efficientnet_b0"]:
        path = zoo.save(name, work / f"{name}.pt")
        graph = frontends.load(path, {"x": zoo.MODELS[name]})
        model = ir.export_model(graph)
        start = time.perf_counter()
        cleanup = RunOptions(
            passes=["cleanup::fold_constants", "cleanup::identities", "cleanup::dead_nodes"], check_each=False
        )
        request = ConversionRequest.of(None, pipeline="lower-custom", passes=cleanup)
        _, cleaned, _ = run_pipeline(graph.copy(), request, Target.parse(None))
        ours = (time.perf_counter() - start) * 1e3
        start = time.perf_counter()
        slim = onnxslim.slim(onnx.ModelProto.FromString(model.SerializeToString()))
        theirs = (time.perf_counter() - start) * 1e3
        rows.append(
            f"| {name} | {len(graph.nodes)} | {len(cleaned.nodes)} / {ours:.0f} | {len(slim.graph.node)} / "
            f"{theirs:.0f} | {ours / theirs:.2f} |"
        )
        print(rows[-1], flush=True)
    return rows


CUSTOM_COUNT = """
import json, sys
from pathlib import Path
from bridgec.backends.coreml.neuralnetwork import network_of
from bridgec.driver.convert import convert
from examples import zoo
name = sys.argv[1]
path = zoo.save(name, Path(sys.argv[2]) / f"{name}.pt")
# custom layers exist only in the NeuralNetwork format, the one --format auto falls back to for them
result = convert(path, inputs={None: zoo.MODELS[name]}, format="neuralnetwork", write=False)
customs = sum(len(v) for v in result.custom_classes.values())
print(json.dumps([customs, len(network_of(result.spec).layers)]))
"""


def section_custom(work: Path, timeout: float = 600.0) -> list[str]:
    """Each family in its own process with its own timeout: one slow family (vit_b_16's in-process
    export took longer than the whole run was given) costs its row, not the table."""
    from examples import zoo

    rows = ["| family | custom layers left by -O lower-custom | Core ML layers |", "|---|---|---|"]
    for name in zoo.MODELS:
        try:
            done = subprocess.run(
                [sys.executable, "-c", CUSTOM_COUNT, name, str(work)],
                capture_output=True,
                text=True,
                timeout=timeout,
                cwd=ROOT,
                env=dict(os.environ, PYTHONPATH=str(ROOT)),
            )
        except subprocess.TimeoutExpired:
            rows.append(f"| {name} | timed out after {timeout:.0f} s | |")
            print(rows[-1], flush=True)
            continue
        if done.returncode != 0:
            last = (done.stderr.strip().splitlines() or ["?"])[-1]
            rows.append(f"| {name} | failed: {last[:80]} | |")
        else:
            customs, layers = json.loads(done.stdout.strip().splitlines()[-1])
            rows.append(f"| {name} | {customs} | {layers} |")
        print(rows[-1], flush=True)
    return rows


def section_scaling() -> list[str]:
    # both formats: a 100k-node ML Program takes about five minutes (coremltools' MIL builder and
    # passes), the whole section about twenty
    done = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "bench_scaling.py")],
        capture_output=True,
        text=True,
    )
    return ["```", *done.stdout.strip().splitlines(), "```"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--sections", default="convert,cleanup,custom,scaling,check")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks.md")
    parser.add_argument("--models", default=",".join(CONVERT_MODELS), help="models for the convert section")
    parser.add_argument(
        "--custom-timeout", type=float, default=600.0, help="seconds per family in the custom section"
    )
    args = parser.parse_args()
    sections = args.sections.split(",")
    lines = [
        "# Benchmarks",
        "",
        f"Written by `tools/bench_convert.py` on {datetime.date.today()} ({platform.machine()}, "
        f"{os.cpu_count()} cores, Python {platform.python_version()}); a run of some `--sections` keeps the "
        "others as they were. Ratios come from runs in the same command, alternating, so machine noise hits "
        "both sides alike; absolute times are noisy.",
        "",
    ]
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for fmt, title in (("mlprogram", "ML Program (iOS15)"), ("neuralnetwork", "NeuralNetwork")):
            if "convert" in sections:
                lines += [
                    f"## End to end vs coremltools, {title}: median of {args.runs} whole-process runs "
                    "(tools/bench_speed.py)",
                    "",
                    *section_convert(args.runs, work, args.models.split(","), fmt),
                    "",
                ]
        if "cleanup" in sections:
            lines += [
                "## Cleanup vs onnxslim (same exported graphs, in process)",
                "",
                *section_cleanup(work),
                "",
            ]
        if "custom" in sections:
            lines += [
                "## Custom layers left by the default pipeline",
                "",
                *section_custom(work, args.custom_timeout),
                "",
            ]
        if "scaling" in sections:
            lines += ["## Scaling (whole conversion, numbers check on)", "", *section_scaling(), ""]
        if "check" in sections:
            lines += [
                f"## The numbers check: `bridgec` vs `bridgec --no-check`, median of {args.runs} alternating runs",
                "",
                *section_check(args.runs, work),
                "",
            ]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    text = "\n".join(lines)
    if args.out.exists():
        # A run of some sections must not erase the others' figures: keep every section this run did not
        # measure, replace the ones it did.
        text = merge_sections(args.out.read_text(), text)
    args.out.write_text(text)
    print(f"wrote {args.out}")


def _blocks(text: str) -> tuple[list[str], dict[str, list[str]]]:
    """The lines before the first section, and each section's lines keyed by its heading up to the colon."""
    head: list[str] = []
    blocks: dict[str, list[str]] = {}
    current = head
    for line in text.splitlines():
        if line.startswith("## "):
            current = blocks.setdefault(line.split(":")[0], [])
        current.append(line)
    return head, blocks


def merge_sections(old: str, new: str) -> str:
    """`old` with the sections `new` measured replaced (or appended), and `new`'s header line."""
    _, old_blocks = _blocks(old)
    head, new_blocks = _blocks(new)
    merged = {key: new_blocks.get(key, block) for key, block in old_blocks.items()}
    merged.update({key: block for key, block in new_blocks.items() if key not in merged})
    out = list(head)
    for block in merged.values():
        out += block
        if block[-1] != "":
            out.append("")
    return "\n".join(out)


if __name__ == "__main__":
    main()
