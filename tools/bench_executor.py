"""Time the Core ML reference executor on a MobileNetV2-shaped NeuralNetwork spec.

The spec is built directly with NeuralNetworkBuilder (no torchvision): stem conv, the 17 inverted
residual blocks (1x1 expand, 3x3 depthwise, 1x1 project, residual add), final 1x1 conv, global
average pool and a fully connected layer; ReLU6 is a ``clip`` layer, as the converter emits it.
The same weights are also written as an ONNX graph so the executor's output can be checked
against onnxruntime and the two timings compared.

    python tools/bench_executor.py [--size 224] [--runs 5] [--batch 1]
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings
from dataclasses import dataclass, field

import numpy as np

# (expansion t, output channels c, repeats n, first stride s), as in the MobileNetV2 paper.
BLOCKS = [
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
]


@dataclass
class Net:
    """Framework-neutral op list, emitted to both Core ML and ONNX."""

    ops: list[tuple] = field(default_factory=list)
    rng: np.random.Generator = field(default_factory=lambda: np.random.default_rng(0))
    n: int = 0

    def name(self, prefix: str) -> str:
        self.n += 1
        return f"{prefix}{self.n}"

    def conv_bn(self, x: str, c_in: int, c_out: int, k: int, stride: int, groups: int, relu6: bool) -> str:
        w = self.rng.standard_normal((c_out, c_in // groups, k, k)) * np.sqrt(2.0 / (c_in // groups * k * k))
        conv = self.name("conv")
        self.ops.append(("conv", conv, x, w.astype(np.float32), stride, k // 2, groups))
        bn = self.name("bn")
        stats = [
            self.rng.uniform(0.5, 1.5, c_out),
            self.rng.uniform(-0.1, 0.1, c_out),
            self.rng.uniform(-0.1, 0.1, c_out),
            self.rng.uniform(0.5, 1.5, c_out),
        ]
        self.ops.append(("bn", bn, conv, [s.astype(np.float32) for s in stats]))
        if not relu6:
            return bn
        act = self.name("relu6")
        self.ops.append(("relu6", act, bn))
        return act


def mobilenet_v2(num_classes: int = 1000) -> Net:
    net = Net()
    x = net.conv_bn("input", 3, 32, 3, 2, 1, True)
    c_in = 32
    for t, c, n, s in BLOCKS:
        for i in range(n):
            stride = s if i == 0 else 1
            hidden = c_in * t
            h = x if t == 1 else net.conv_bn(x, c_in, hidden, 1, 1, 1, True)
            h = net.conv_bn(h, hidden, hidden, 3, stride, hidden, True)
            h = net.conv_bn(h, hidden, c, 1, 1, 1, False)
            if stride == 1 and c_in == c:
                add = net.name("add")
                net.ops.append(("add", add, x, h))
                h = add
            x, c_in = h, c
    x = net.conv_bn(x, c_in, 1280, 1, 1, 1, True)
    net.ops.append(("gap", "gap", x))
    net.ops.append(("flatten", "flat", "gap"))
    w = (net.rng.standard_normal((num_classes, 1280)) * 0.03).astype(np.float32)
    net.ops.append(("fc", "logits", "flat", w, net.rng.uniform(-0.1, 0.1, num_classes).astype(np.float32)))
    return net


def to_coreml(net: Net, shape: tuple[int, ...]):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from coremltools.models import datatypes
        from coremltools.models.neural_network import NeuralNetworkBuilder

    b = NeuralNetworkBuilder(
        [("input", datatypes.Array(*shape))], [("logits", None)], disable_rank5_shape_mapping=True
    )
    for op in net.ops:
        kind, out = op[0], op[1]
        if kind == "conv":
            _, _, x, w, stride, pad, groups = op
            c_out, k_ch, k, _ = w.shape
            b.add_convolution(
                out,
                k_ch,
                c_out,
                k,
                k,
                stride,
                stride,
                "valid",
                groups,
                w.transpose(2, 3, 1, 0),
                None,
                False,
                input_name=x,
                output_name=out,
                padding_top=pad,
                padding_bottom=pad,
                padding_left=pad,
                padding_right=pad,
            )
        elif kind == "bn":
            gamma, beta, mean, var = op[3]
            b.add_batchnorm(out, len(gamma), gamma, beta, mean, var, input_name=op[2], output_name=out)
        elif kind == "relu6":
            b.add_clip(out, op[2], out, 0.0, 6.0)
        elif kind == "add":
            b.add_add_broadcastable(out, [op[2], op[3]], out)
        elif kind == "gap":
            b.add_pooling(out, 1, 1, 1, 1, "AVERAGE", "VALID", op[2], out, is_global=True)
        elif kind == "flatten":
            b.add_flatten_to_2d(out, op[2], out, axis=1)
        elif kind == "fc":
            w, bias = op[3], op[4]
            b.add_inner_product(out, w, bias, w.shape[1], w.shape[0], True, op[2], out)
    return b.spec


def to_onnx(net: Net, shape: tuple[int, ...]) -> bytes:
    from onnx import TensorProto, helper, numpy_helper

    nodes, inits = [], []

    def const(name: str, value: np.ndarray) -> str:
        inits.append(numpy_helper.from_array(np.asarray(value, dtype=np.float32), name))
        return name

    for op in net.ops:
        kind, out = op[0], op[1]
        if kind == "conv":
            _, _, x, w, stride, pad, groups = op
            nodes.append(
                helper.make_node(
                    "Conv",
                    [x, const(out + "_w", w)],
                    [out],
                    strides=[stride] * 2,
                    pads=[pad] * 4,
                    group=groups,
                )
            )
        elif kind == "bn":
            names = [const(f"{out}_{i}", v) for i, v in enumerate(op[3])]
            nodes.append(helper.make_node("BatchNormalization", [op[2], *names], [out], epsilon=1e-5))
        elif kind == "relu6":
            nodes.append(
                helper.make_node("Clip", [op[2], const(out + "_lo", 0.0), const(out + "_hi", 6.0)], [out])
            )
        elif kind == "add":
            nodes.append(helper.make_node("Add", [op[2], op[3]], [out]))
        elif kind == "gap":
            nodes.append(helper.make_node("GlobalAveragePool", [op[2]], [out]))
        elif kind == "flatten":
            nodes.append(helper.make_node("Flatten", [op[2]], [out], axis=1))
        elif kind == "fc":
            nodes.append(
                helper.make_node(
                    "Gemm", [op[2], const(out + "_w", op[3]), const(out + "_b", op[4])], [out], transB=1
                )
            )
    graph = helper.make_graph(
        nodes,
        "mobilenet_v2_like",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, list(shape))],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, None)],
        initializer=inits,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]).SerializeToString()


def median_ms(fn, runs: int) -> float:
    fn()  # warm-up: first-touch allocations and lazy imports
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=224, help="input height and width")
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--no-onnx", action="store_true", help="skip the onnxruntime comparison")
    args = ap.parse_args()

    from bridgec.backends.coreml.executor import run

    shape = (args.batch, 3, args.size, args.size)
    net = mobilenet_v2()
    spec = to_coreml(net, shape)
    x = np.random.default_rng(1).standard_normal(shape).astype(np.float32)
    n_layers = len(spec.neuralNetwork.layers)
    ms = median_ms(lambda: run(spec, {"input": x}), args.runs)
    print(f"executor: MobileNetV2-like, {n_layers} layers, input {shape}:", end=" ")
    print(f"{ms:.1f} ms/run (median of {args.runs})")

    if args.no_onnx:
        return
    import onnxruntime as ort

    opts = ort.SessionOptions()
    sess = ort.InferenceSession(to_onnx(net, shape), opts, providers=["CPUExecutionProvider"])
    ort_ms = median_ms(lambda: sess.run(None, {"input": x}), args.runs)
    ours = run(spec, {"input": x})["logits"]
    theirs = sess.run(None, {"input": x})[0]
    err = float(np.max(np.abs(ours - theirs)) / (np.max(np.abs(theirs)) + 1e-12))
    print(f"onnxruntime (CPU): {ort_ms:.1f} ms/run; executor / onnxruntime = {ms / ort_ms:.1f}x")
    print(f"max |executor - onnxruntime| / max |onnxruntime| on logits: {err:.2e}")


if __name__ == "__main__":
    main()
