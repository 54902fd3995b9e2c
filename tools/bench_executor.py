"""Reference executor vs onnxruntime on the same converted model, timed in the same process.

Converts model-zoo networks (default: mobilenet_v2, resnet50, efficientnet_b0 and vit_b_16 at
1x3x224x224) with bridgec to each Core ML format, then times bridgec's numpy Core ML executor on the
emitted model (what the numbers check runs) and onnxruntime on the rewritten ONNX graph, alternating
runs so machine noise hits both alike. Prints medians of wall and CPU time (user + sys of the
process: steadier on a busy machine), their ratios (goal: <= 5x) and, with ``--ops``, where the
executor's CPU time goes per layer kind / MIL op type; checks the two agree.

``--threads 1`` (the default) pins onnxruntime and numpy's BLAS to one thread each, the steadiest
comparison on a shared machine; ``--threads default`` leaves both at their defaults, as a user's
numbers check runs them (it must be given before numpy is imported, hence the environment variable).

    python tools/bench_executor.py [--models mobilenet_v2 ...] [--formats mlprogram neuralnetwork]
                                   [--runs 5] [--ops] [--threads 1|default] [-O PIPELINE]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, MutableMapping
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # examples/ is not installed: it is the repository's own

MODELS = ("mobilenet_v2", "resnet50", "efficientnet_b0", "vit_b_16")
FORMATS = ("mlprogram", "neuralnetwork")


def _timed(table: MutableMapping[str, Callable], spent: dict[str, list[float]]) -> dict[str, Callable]:
    """Wrap every implementation of ``table`` in place so each call adds its time to ``spent[kind]``;
    returns the originals so the caller can put them back."""
    originals = dict(table)

    def wrap(kind: str, fn: Callable) -> Callable:
        def timed(*args):
            start = time.process_time()
            try:
                return fn(*args)
            finally:
                spent[kind].append(time.process_time() - start)

        return timed

    for kind, fn in originals.items():
        table[kind] = wrap(kind, fn)
    return originals


def _profile(run: Callable[[], object], table: MutableMapping[str, Callable], total_ms: float) -> None:
    spent: dict[str, list[float]] = defaultdict(list)
    originals = _timed(table, spent)
    try:
        run()
    finally:
        table.update(originals)
    rows = sorted(((sum(t), len(t), kind) for kind, t in spent.items()), reverse=True)
    accounted = sum(s for s, _, _ in rows) * 1e3
    for seconds, calls, kind in rows:
        if seconds * 1e3 >= 0.5:
            print(f"      {kind:<24} {seconds * 1e3:8.1f} ms  {calls:4d} calls")
    print(f"      {'(runner, consts, casts)':<24} {max(total_ms - accounted, 0.0):8.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=list(MODELS))
    parser.add_argument("--formats", nargs="+", default=list(FORMATS), choices=FORMATS)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--ops", action="store_true", help="print the executor's time per op type")
    parser.add_argument("--threads", default="1", choices=("1", "default"))
    parser.add_argument("-O", dest="pipeline", default=None)
    args = parser.parse_args()
    if args.threads == "1":
        for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ[var] = "1"

    import numpy as np
    import onnxruntime as ort

    from bridgec.backends.coreml.executor import LAYERS
    from bridgec.backends.coreml.executor.mlprogram import OPS
    from bridgec.core import ir
    from bridgec.driver.convert import convert
    from examples import zoo

    print(f"threads: {args.threads}; load {os.getloadavg()[0]:.2f}; median of {args.runs}")
    for name in args.models:
        shape = zoo.MODELS[name]
        feeds = {"x": np.random.default_rng(0).standard_normal(shape).astype(np.float32)}
        with tempfile.TemporaryDirectory() as tmp:
            path = zoo.save(name, Path(tmp) / f"{name}.pt")
            for fmt in args.formats:
                options = {"pipeline": args.pipeline} if args.pipeline else {}
                result = convert(path, inputs={"x": shape}, format=fmt, write=False, check=False, **options)
                model = result.model
                session_options = ort.SessionOptions()
                if args.threads == "1":
                    session_options.intra_op_num_threads = 1
                session = ort.InferenceSession(
                    ir.export_model(result.graph).SerializeToString(),
                    session_options,
                    providers=["CPUExecutionProvider"],
                )
                expected = session.run(None, feeds)[0]
                got = next(iter(model.run_reference(feeds).values()))
                err = float(np.max(np.abs(got - expected)))
                assert np.allclose(got, expected, atol=1e-3), f"{name} {fmt}: executor and onnxruntime differ"

                wall: dict[str, list[float]] = {"executor": [], "ort": []}
                cpu: dict[str, list[float]] = {"executor": [], "ort": []}
                for _ in range(args.runs):
                    for who, call in (
                        ("executor", partial(model.run_reference, feeds)),
                        ("ort", partial(session.run, None, feeds)),
                    ):
                        start, start_cpu = time.perf_counter(), time.process_time()
                        call()
                        wall[who].append(time.perf_counter() - start)
                        cpu[who].append(time.process_time() - start_cpu)
                ms = {k: statistics.median(v) * 1e3 for k, v in wall.items()}
                cpu_ms = {k: statistics.median(v) * 1e3 for k, v in cpu.items()}
                executor_ms = cpu_ms["executor"]
                print(
                    f"{name:<16} {fmt:<13} wall: executor {ms['executor']:7.1f} ms  onnxruntime {ms['ort']:6.1f} ms  "
                    f"ratio {ms['executor'] / ms['ort']:4.1f}x | CPU: executor {cpu_ms['executor']:7.1f} ms  "
                    f"onnxruntime {cpu_ms['ort']:6.1f} ms  ratio {cpu_ms['executor'] / cpu_ms['ort']:4.1f}x "
                    f"(goal <= 5x)  max |diff| {err:.2g}"
                )
                if args.ops:
                    _profile(
                        partial(model.run_reference, feeds),
                        OPS if fmt == "mlprogram" else LAYERS,
                        executor_ms,
                    )
    sys.stdout.flush()


if __name__ == "__main__":
    main()
