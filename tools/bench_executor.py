"""Reference executor vs onnxruntime on the same converted model, timed in the same process.

Converts a model-zoo network (default mobilenet_v2 at 1x3x224x224) with bridgec, then times
bridgec's numpy Core ML executor on the .mlmodel spec and onnxruntime on the rewritten ONNX graph,
alternating runs so machine noise hits both alike. Prints medians and their ratio (goal: <= 10x),
and checks the two agree.

    python tools/bench_executor.py [--model mobilenet_v2] [--runs 7] [-O lower-custom]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # examples/ is not installed: it is the repository's own


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="mobilenet_v2")
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("-O", dest="pipeline", default="lower-custom")
    args = parser.parse_args()

    import onnxruntime as ort

    from bridgec.backends.coreml.executor import run
    from bridgec.core import ir
    from bridgec.driver.convert import convert
    from examples import zoo

    shape = zoo.MODELS[args.model]
    with tempfile.TemporaryDirectory() as tmp:
        path = zoo.save(args.model, Path(tmp) / f"{args.model}.pt")
        result = convert(path, inputs={"x": shape}, pipeline=args.pipeline, write=False)
    feeds = {"x": np.random.default_rng(0).standard_normal(shape).astype(np.float32)}
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1  # numpy's executor is single-threaded apart from BLAS
    session = ort.InferenceSession(
        ir.export_model(result.graph).SerializeToString(), options, providers=["CPUExecutionProvider"]
    )
    expected = session.run(None, feeds)[0]
    got = run(result.spec, feeds)
    assert np.allclose(next(iter(got.values())), expected, atol=1e-3), "executor and onnxruntime disagree"

    executor_times, ort_times = [], []
    for _ in range(args.runs):
        start = time.perf_counter()
        run(result.spec, feeds)
        executor_times.append(time.perf_counter() - start)
        start = time.perf_counter()
        session.run(None, feeds)
        ort_times.append(time.perf_counter() - start)
    executor_ms, ort_ms = statistics.median(executor_times) * 1e3, statistics.median(ort_times) * 1e3
    layers = len(result.spec.neuralNetwork.layers)
    print(f"{args.model} {shape}, {layers} Core ML layers, median of {args.runs}:")
    print(f"  reference executor  {executor_ms:8.1f} ms")
    print(f"  onnxruntime (1 thread) {ort_ms:5.1f} ms")
    print(f"  ratio executor/onnxruntime = {executor_ms / ort_ms:.1f}x (goal <= 10x)")


if __name__ == "__main__":
    main()
