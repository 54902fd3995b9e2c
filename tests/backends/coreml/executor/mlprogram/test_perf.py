"""mobilenet_v2 converted by coremltools' torch frontend: the executor agrees with torch, and its
speed relative to onnxruntime in the same process is recorded (goal: within 10x)."""

from __future__ import annotations

import io
import time
import warnings

import numpy as np
import pytest
import torch
from _mlp_helpers import ct

from bridgec.backends.coreml.executor import run

pytestmark = pytest.mark.slow

# Two cores shared with other jobs make timings noisy: the bound is loose enough not to flake, tight
# enough to catch a conv that fell back to per-pixel Python. The measured ratio is printed (-s).
MAX_RATIO = 30.0


def _best_of(fn, repeat: int = 3) -> float:
    fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def test_mobilenet_v2_matches_torch_and_time_vs_onnxruntime(tmp_path):
    import onnxruntime as ort

    from examples import zoo

    module = zoo.build("mobilenet_v2")
    x = torch.randn(1, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = ct.convert(
            torch.jit.trace(module, x),
            convert_to="mlprogram",
            inputs=[ct.TensorType(name="x", shape=x.shape)],
            minimum_deployment_target=ct.target.iOS15,
            compute_precision=ct.precision.FLOAT32,
        )
        onnx_bytes = io.BytesIO()
        torch.onnx.export(module, (x,), onnx_bytes, dynamo=False, input_names=["x"])
    path = tmp_path / "mobilenet_v2.mlpackage"
    model.save(str(path))
    feeds = {"x": x.numpy()}
    with torch.no_grad():
        want = module(x).numpy()
    (got,) = run(path, feeds).values()
    np.testing.assert_allclose(got, want, atol=1e-4, rtol=1e-3)
    assert np.abs(want).max() > 0.05  # not a trivially small output

    session = ort.InferenceSession(onnx_bytes.getvalue(), providers=["CPUExecutionProvider"])
    t_exec = _best_of(lambda: run(path, feeds))
    t_ort = _best_of(lambda: session.run(None, feeds))
    ratio = t_exec / t_ort
    print(
        f"\nmobilenet_v2: executor {t_exec * 1e3:.0f} ms, onnxruntime {t_ort * 1e3:.1f} ms, ratio {ratio:.1f}x"
    )
    assert ratio < MAX_RATIO
