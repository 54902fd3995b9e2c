"""Conversion scaling on synthetic graphs of 1k, 10k and 100k nodes: CPU time per node, per stage.

Two shapes: a chain (conv -> hardtanh -> clip -> add ...) and a wide residual DAG where each block
reads the two blocks before it. Each is saved as an .onnx file and converted as a user converts it:
``bridgec.convert`` on the file (load -> passes with their per-pass graph checks -> backend -> the
numbers check, on by default -> write), for each ``--format``. Each conversion runs in a fresh child
process (so one size's heap does not slow the next), in-process there, as the Python API runs it;
imports are not timed, since they cost the same at every size. t(100k)/t(10k) should stay near 10
(goal <= 11): no stage may be superlinear, and the per-stage rows show which one is. The source of
an .onnx file is onnxruntime, so "check: source" is onnxruntime's session on the file as read.

    python tools/bench_scaling.py [--sizes 1000,10000,100000] [--formats neuralnetwork,mlprogram]
                                  [--shapes chain,dag] [--runs 1] [--no-check] [--no-check-each]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import onnx_graphsurgeon as gs

from bridgec.core import ir

# The CPU seconds of the stages bridgec's --timings names (bridgec.core.timing), in this order; the
# numbers check's first half (the source run on the check input, just after loading) is its own row.
STAGES = ("load", "check: source", "passes", "report", "backend", "check", "save")


def synthetic(nodes: int, shape: str) -> gs.Graph:
    x = gs.Variable("x", dtype=np.float32, shape=[1, 4, 8, 8])
    eye = np.eye(4, dtype=np.float32).reshape(4, 4, 1, 1)
    tensors, graph_nodes = [x], []
    for i in range(nodes):
        kind = i % 4
        a = tensors[-1]
        out = gs.Variable(f"t{i}", dtype=np.float32, shape=[1, 4, 8, 8])
        if kind == 0:
            # each layer has its own weights, as in real models (one tensor shared by thousands of
            # nodes would measure graphsurgeon's consumer lists instead of the passes)
            weight = gs.Constant(f"w{i}", eye)
            node = gs.Node(
                "Conv", f"conv{i}", attrs={"kernel_shape": [1, 1]}, inputs=[a, weight], outputs=[out]
            )
        elif kind == 1:
            node = gs.Node(
                "HardTanh",
                f"ht{i}",
                attrs={"min_value": 0.0, "max_value": 6.0},
                inputs=[a],
                outputs=[out],
                domain=ir.BRIDGEC_DOMAIN,
            )
        elif kind == 2:
            lo, hi = (
                gs.Constant(f"lo{i}", np.array(0.0, np.float32)),
                gs.Constant(f"hi{i}", np.array(6.0, np.float32)),
            )
            node = gs.Node("Clip", f"clip{i}", inputs=[a, lo, hi], outputs=[out])
        else:
            other = tensors[-3] if shape == "dag" and len(tensors) > 3 else a
            node = gs.Node("Add", f"add{i}", inputs=[a, other], outputs=[out])
        graph_nodes.append(node)
        tensors.append(out)
    return gs.Graph(nodes=graph_nodes, inputs=[x], outputs=[tensors[-1]], opset=17)


def save_synthetic(nodes: int, shape: str, path: Path) -> Path:
    """The synthetic graph as an .onnx file (bridgec's ops defined as ONNX functions), what a user
    would hand to ``bridgec``."""
    import onnx

    onnx.save(ir.export_model(synthetic(nodes, shape)), str(path))
    return path


# Runs in the child: one conversion of argv[1] to argv[2] in format argv[3], as the Python API runs it.
_CHILD = """
import contextlib, gc, json, resource, sys, time
from bridgec.core import timing
from bridgec.driver import convert as convert_mod
from bridgec.driver.pipeline import RunOptions

source, out, fmt, check, check_each = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4] == "1", sys.argv[5] == "1"
cpu, stack, renamed = {}, [], {}
counted = timing._counted

@contextlib.contextmanager
def counted_cpu(name):
    # timing's stages count wall time; on a shared machine CPU time is the steadier figure
    name = renamed.get(name, name)
    start = time.process_time()
    stack.append(name)
    try:
        with counted(name):
            yield
    finally:
        stack.pop()
        spent = time.process_time() - start
        cpu[name] = cpu.get(name, 0.0) + spent
        if stack:  # as in timing: a nested stage's time is not its parent's
            cpu[stack[-1]] = cpu.get(stack[-1], 0.0) - spent

prepare = convert_mod._prepare_check

def prepare_check(*args, **kwargs):
    renamed["check"] = "check: source"
    try:
        return prepare(*args, **kwargs)
    finally:
        renamed.clear()

timing._counted, convert_mod._prepare_check = counted_cpu, prepare_check
collected = {"seconds": 0.0, "full": 0}

def watch_gc(phase, info):
    if phase == "start":
        collected["started"] = time.process_time()
    else:
        collected["seconds"] += time.process_time() - collected["started"]
        collected["full"] += info["generation"] == 2

gc.callbacks.append(watch_gc)
start, wall = time.process_time(), time.perf_counter()
result = convert_mod.convert(source, format=fmt, output=out, check=check, options=RunOptions(check_each=check_each))
total, wall = time.process_time() - start, time.perf_counter() - wall
assert result.check.status == ("checked" if check else "not checked"), result.check.line()
# this process's own high-water mark: getrusage's ru_maxrss keeps the parent's through fork and exec,
# and the parent has built the largest graph so far
try:
    peak = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM:")) / 1024
except (OSError, StopIteration):
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"cpu": total, "wall": wall, "stages": cpu, "gc": collected["seconds"], "full_gc": collected["full"], "peak": peak}))
"""


def measure(source: Path, out: Path, fmt: str, check: bool, check_each: bool) -> dict:
    """One conversion in a fresh process: CPU and wall seconds of ``convert``, CPU seconds per
    stage, CPU seconds in CPython's garbage collector and its full collections, peak RSS (MiB)."""
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, str(source), str(out), fmt, str(int(check)), str(int(check_each))],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["?"])[-1]
        raise SystemExit(f"{source.name} --format {fmt} failed: {last}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--formats", default="neuralnetwork,mlprogram")
    parser.add_argument("--shapes", default="chain,dag")
    parser.add_argument("--no-check", dest="check", action="store_false", help="without the numbers check")
    parser.add_argument("--no-check-each", dest="check_each", action="store_false")
    parser.add_argument("--runs", type=int, default=1, help="runs per size; the table shows medians")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    print(
        f"CPU seconds of bridgec.convert on an .onnx file, {'with' if args.check else 'without'} the numbers "
        f"check, {'with' if args.check_each else 'without'} per-pass graph checks; per stage, gc = "
        "CPython's collector (in the stages), full = its full collections"
    )
    with tempfile.TemporaryDirectory(prefix="bench_scaling_") as scratch:
        for fmt in args.formats.split(","):
            suffix = ".mlpackage" if fmt == "mlprogram" else ".mlmodel"
            print(f"\n--format {fmt}")
            print(
                f"{'shape':5} {'nodes':>7} {'CPU s':>8} {'us/node':>7} "
                + " ".join(f"{s:>13}" for s in STAGES)
                + f" {'gc':>6} {'full':>4} {'wall s':>8} {'peak MiB':>8}"
            )
            for shape in args.shapes.split(","):
                cpus = {}
                for n in sizes:
                    source = save_synthetic(n, shape, Path(scratch) / f"{shape}{n}.onnx")
                    runs = [
                        measure(
                            source, Path(scratch) / f"{shape}{n}{suffix}", fmt, args.check, args.check_each
                        )
                        for _ in range(args.runs)
                    ]
                    cpus[n] = statistics.median(r["cpu"] for r in runs)
                    stages = {s: statistics.median(r["stages"].get(s, 0.0) for r in runs) for s in STAGES}
                    print(
                        f"{shape:5} {n:7} {cpus[n]:8.2f} {cpus[n] / n * 1e6:7.1f} "
                        + " ".join(f"{stages[s]:13.2f}" for s in STAGES)
                        + f" {statistics.median(r['gc'] for r in runs):6.2f}"
                        f" {max(r['full_gc'] for r in runs):4}"
                        f" {statistics.median(r['wall'] for r in runs):8.2f}"
                        f" {max(r['peak'] for r in runs):8.1f}",
                        flush=True,
                    )
                for small, large in zip(sizes, sizes[1:], strict=False):
                    ratio = cpus[large] / cpus[small]
                    limit = 1.1 * large / small
                    print(
                        f"{shape:5} t({large})/t({small}) = {ratio:.1f} CPU "
                        f"(size ratio {large // small}, {'ok' if ratio <= limit else 'SUPERLINEAR'})"
                    )


if __name__ == "__main__":
    main()
