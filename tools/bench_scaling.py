"""Pass pipeline scaling on synthetic graphs of 1k, 10k and 100k nodes: time per node and peak memory.

Two shapes: a chain (conv -> hardtanh -> clip -> add ...) and a wide residual DAG where each block
reads the two blocks before it. The -O lower-custom pipeline runs with its per-pass graph checks;
t(100k)/t(10k) should stay near 10 (goal <= 12): no pass may be quadratic.

    python tools/bench_scaling.py [--sizes 1000,10000,100000] [--runs 1] [--no-check-each]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx_graphsurgeon as gs

from bridgec.backends.coreml.targets import Target
from bridgec.core import ir
from bridgec.driver.pipeline import RunOptions, run_pipeline
from bridgec.driver.request import ConversionRequest


def lower_custom(graph: gs.Graph, check_each: bool) -> None:
    """The -O lower-custom pipeline on ``graph`` for the default target (what each size times)."""
    request = ConversionRequest.of(None, pipeline="lower-custom", passes=RunOptions(check_each=check_each))
    run_pipeline(graph, request, Target.parse(None))


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


def measure(nodes: int, shape: str, check_each: bool) -> tuple[float, float, float]:
    """Wall seconds, CPU seconds and peak RSS (MiB) of the pipeline, each size in a fresh process.

    CPU time is the steadier figure on a shared machine: other processes stretch the wall time.
    """
    code = (
        f"import sys, json, time, resource; sys.path.insert(0, {str(Path(__file__).parent)!r}); "
        "from bench_scaling import synthetic, lower_custom; "
        f"g = synthetic({nodes}, {shape!r}); t = time.perf_counter(); c = time.process_time(); "
        f"lower_custom(g, {check_each}); "
        "print(json.dumps([time.perf_counter() - t, time.process_time() - c, "
        "resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024]))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    seconds, cpu, peak = json.loads(done.stdout.strip().splitlines()[-1])
    return seconds, cpu, peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--no-check-each", dest="check_each", action="store_false")
    parser.add_argument("--runs", type=int, default=1, help="runs per size; the table shows medians")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    for shape in ("chain", "dag"):
        walls, cpus = {}, {}
        for n in sizes:
            runs = [measure(n, shape, args.check_each) for _ in range(args.runs)]
            walls[n] = statistics.median(r[0] for r in runs)
            cpus[n] = statistics.median(r[1] for r in runs)
            peak = max(r[2] for r in runs)
            print(
                f"{shape:5} {n:7} nodes: {walls[n]:8.2f} s wall {cpus[n]:8.2f} s CPU "
                f"{cpus[n] / n * 1e6:7.1f} us/node  peak RSS {peak:7.1f} MiB",
                flush=True,
            )
        for small, large in zip(sizes, sizes[1:], strict=False):
            ratio = cpus[large] / cpus[small]
            print(
                f"{shape:5} t({large})/t({small}) = {ratio:.1f} CPU, {walls[large] / walls[small]:.1f} wall "
                f"(size ratio {large // small}, {'ok' if ratio <= 1.2 * large / small else 'SUPERLINEAR'})"
            )


if __name__ == "__main__":
    main()
