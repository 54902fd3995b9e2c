"""``mil_pipeline``: coremltools' MIL pass pipelines validated once and without the passes that cannot
act must write the very package coremltools' own ``apply_pipeline`` writes, and leave its
process-wide state (op-name counters, symbols, numpy's global random state) as that does."""

from __future__ import annotations

import contextlib
import hashlib
from pathlib import Path

import numpy as np
import pytest

from bridgec.backends.coreml import mil_pipeline
from bridgec.backends.coreml.classifier import PREDICTED_FEATURE
from bridgec.backends.coreml.image import ImageInput
from bridgec.backends.coreml.model import build
from bridgec.backends.coreml.targets import Target
from tests.backends.coreml.mlprogram_ops._mlprogram_helpers import freeze, graph
from tests.helpers import run_pipeline

# A MobileNet block: conv + batchnorm + relu6, depthwise conv, pointwise conv with a residual, pool,
# classifier head.
MOBILE = """
    c1 = Conv <pads = [1, 1, 1, 1], strides = [2, 2]> (x, w1)
    n1 = BatchNormalization (c1, s1, b1, m1, v1)
    lo = Constant <value = float {0.0}> ()
    hi = Constant <value = float {6.0}> ()
    r1 = Clip (n1, lo, hi)
    d = Conv <group = 8, pads = [1, 1, 1, 1]> (r1, wd)
    n2 = BatchNormalization (d, s2, b2, m2, v2)
    r2 = Relu (n2)
    p = Conv (r2, wp, bp)
    a = Add (p, r1)
    g = GlobalAveragePool (a)
    f = Flatten (g)
    l = Gemm <transB = 1> (f, fw, fb)
    y = Softmax (l)
"""
MOBILE_INPUTS = (
    "float[1,3,16,16] x, float[8,3,3,3] w1, float[8] s1, float[8] b1, float[8] m1, float[8] v1, "
    "float[8,1,3,3] wd, float[8] s2, float[8] b2, float[8] m2, float[8] v2, float[8,8,1,1] wp, float[8] bp, "
    "float[5,8] fw, float[5] fb"
)

# A transformer encoder layer written out op by op: a layer norm from reductions, attention with its
# head transposes, a torch-style exact GELU (erf), a SiLU and the kept LayerNormalization.
TRANSFORMER = """
    mu = ReduceMean <axes = [-1]> (x)
    xc = Sub (x, mu)
    sq = Mul (xc, xc)
    var = ReduceMean <axes = [-1]> (sq)
    eps = Constant <value = float {0.00001}> ()
    ve = Add (var, eps)
    sd = Sqrt (ve)
    nx = Div (xc, sd)
    ng = Mul (nx, g1)
    ln = Add (ng, e1)
    qm = MatMul (ln, wq)
    q = Add (qm, bq)
    km = MatMul (ln, wk)
    k = Add (km, bk)
    vm = MatMul (ln, wv)
    v = Add (vm, bv)
    heads = Constant <value = int64[4] {1, 8, 2, 8}> ()
    q4 = Reshape (q, heads)
    k4 = Reshape (k, heads)
    v4 = Reshape (v, heads)
    qh = Transpose <perm = [0, 2, 1, 3]> (q4)
    kh = Transpose <perm = [0, 2, 3, 1]> (k4)
    vh = Transpose <perm = [0, 2, 1, 3]> (v4)
    s0 = MatMul (qh, kh)
    scale = Constant <value = float {0.35355339}> ()
    s = Mul (s0, scale)
    at = Softmax <axis = -1> (s)
    o = MatMul (at, vh)
    ot = Transpose <perm = [0, 2, 1, 3]> (o)
    flat = Constant <value = int64[3] {1, 8, 16}> ()
    om = Reshape (ot, flat)
    pm = MatMul (om, wo)
    pr = Add (pm, bo)
    h = Add (x, pr)
    ln2 = LayerNormalization <axis = -1> (h, g2, e2)
    f1 = MatMul (ln2, w1)
    m1 = Add (f1, c1)
    root2 = Constant <value = float {1.41421356}> ()
    half = Constant <value = float {0.5}> ()
    one = Constant <value = float {1.0}> ()
    dv = Div (m1, root2)
    er = Erf (dv)
    e1p = Add (er, one)
    hm = Mul (m1, half)
    ge = Mul (hm, e1p)
    f2 = MatMul (ge, w2)
    m2 = Add (f2, c2)
    sg = Sigmoid (m2)
    si = Mul (m2, sg)
    y = Add (h, si)
"""
TRANSFORMER_INPUTS = (
    "float[1,8,16] x, float[16] g1, float[16] e1, float[16,16] wq, float[16] bq, float[16,16] wk, float[16] bk, "
    "float[16,16] wv, float[16] bv, float[16,16] wo, float[16] bo, float[16] g2, float[16] e2, "
    "float[16,32] w1, float[32] c1, float[32,16] w2, float[16] c2"
)


# Sequence-first attention's input projection, as torch's MultiheadAttention is exported: a
# transpose feeding a product with no bias (fuse_transpose_matmul rewrites its perm in place, and
# only reduce_transposes' re-inference of the program puts it back), then a pair that cancels
# around a relu, which reduce_transposes removes.
SEQUENCE_FIRST = """
    t = Transpose <perm = [1, 0, 2]> (x)
    m = MatMul (t, w)
    u = Transpose <perm = [0, 2, 1]> (m)
    r = Relu (u)
    v = Transpose <perm = [0, 2, 1]> (r)
    y = Mul (v, m)
"""


def sequence_first():
    g = graph(SEQUENCE_FIRST, inputs="float[4,2,8] x, float[8,8] w", outputs="float[2,4,8] y")
    return freeze(g, w=None)


def mobile():
    g = graph(MOBILE, inputs=MOBILE_INPUTS, outputs="float[1,5] y")
    rng = np.random.default_rng(3)
    positive = {name: rng.uniform(0.5, 2.0, 8).astype(np.float32) for name in ("v1", "v2")}
    weights = ("w1", "s1", "b1", "m1", "wd", "s2", "b2", "m2", "wp", "bp", "fw", "fb")
    return freeze(g, **dict.fromkeys(weights), **positive)


def transformer():
    g = graph(TRANSFORMER, inputs=TRANSFORMER_INPUTS, outputs="float[1,8,16] y", opset=17)
    weights = ("g1", "e1", "wq", "bq", "wk", "bk", "wv", "bv", "wo", "bo", "g2", "e2", "w1", "c1", "w2", "c2")
    return freeze(g, **dict.fromkeys(weights))


def lowered(g, ios: str = "iOS16"):
    _, result, _ = run_pipeline(g, "lower-custom", ios, format="mlprogram")
    return result


@contextlib.contextmanager
def coremltools_own():
    """coremltools' own ``apply_pipeline``: ``mlprogram`` enters ``mil_pipeline.applied()``."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(mil_pipeline, "applied", lambda: contextlib.nullcontext(mil_pipeline.Stats()))
        yield


def package(model, path: Path) -> dict[str, bytes]:
    model.save(path)
    return {str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


def process_state(monkeypatch) -> list:
    """coremltools' counters as each conversion leaves them, just before it resets them."""
    from coremltools.converters.mil import converter
    from coremltools.converters.mil.mil import Builder, program

    seen: list = []
    reset = converter._reset_conversion_state

    def record() -> None:
        # coremltools never resets program.k_num_internal_syms (its reset assigns another module's
        # global), so the symbols a conversion made are the count's change during it
        seen.append([dict(Builder.name_count), program.k_num_internal_syms, len(program.k_used_symbols)])
        reset()

    monkeypatch.setattr(converter, "_reset_conversion_state", record)
    return seen


def both_ways(tmp_path: Path, monkeypatch, make, ios: str, **options):
    """The package from ``mil_pipeline`` and from coremltools' own loop; also their process state."""
    from coremltools.converters.mil.mil import Block

    target = Target.parse(ios, format="mlprogram")
    seen = process_state(monkeypatch)
    from coremltools.converters.mil.mil import program

    results = []
    for own in (False, True):
        np.random.seed(0)
        blocks, symbols = Block.counter, program.k_num_internal_syms
        with coremltools_own() if own else contextlib.nullcontext():
            built = build(make(), target, **options)
        seen[-1][1] -= symbols
        random_state = hashlib.sha256(np.random.get_state()[1].tobytes()).hexdigest()
        files = package(built, tmp_path / f"{'own' if own else 'ours'}.mlpackage")
        results.append((files, seen[-1], random_state, Block.counter - blocks))
    return results


CASES = {
    "mobile fp32": (lambda: lowered(mobile()), "iOS16", {}),
    "mobile fp16": (lambda: lowered(mobile(), "iOS17"), "iOS17", {"precision": "fp16"}),
    "mobile flexible": (lambda: lowered(mobile()), "iOS16", {"flexible": True}),
    "mobile image classifier": (
        lambda: lowered(mobile()),
        "iOS16",
        {"image": ImageInput("x", 0.5, (1.0, 2.0, 3.0), "BGR"), "labels": ["a", "b", "c", "d", "e"]},
    ),
    "transformer fp32": (lambda: lowered(transformer()), "iOS16", {}),
    "transformer fp16": (lambda: lowered(transformer(), "iOS18"), "iOS18", {"precision": "fp16"}),
    "transformer iOS15": (lambda: lowered(transformer(), "iOS15"), "iOS15", {}),
    "sequence-first projection": (lambda: lowered(sequence_first()), "iOS16", {}),
}


@pytest.mark.parametrize("case", CASES)
def test_same_package_and_process_state_as_coremltools_own(case, tmp_path, monkeypatch):
    make, ios, options = CASES[case]
    (ours, ours_state, ours_random, ours_blocks), (own, own_state, own_random, own_blocks) = both_ways(
        tmp_path, monkeypatch, make, ios, **options
    )
    assert sorted(ours) == sorted(own)
    assert any(name.endswith("weight.bin") for name in ours)
    for name in ours:
        assert ours[name] == own[name], f"{case}: {name} differs"
    assert ours_state == own_state
    assert ours_random == own_random
    assert ours_blocks == own_blocks


def test_passes_are_skipped_and_fusions_still_fire():
    """The transformer: coremltools fuses its erf pattern into a GELU, the sigmoid product into a
    SiLU and each MatMul + Add into a linear, where bridgec wrote erf, sigmoid, matmul and add."""
    from bridgec.backends.coreml.mlprogram import build_mlprogram, mil_op_counts

    with mil_pipeline.applied() as stats:
        model = build_mlprogram(lowered(transformer()), "iOS16")
    counts = mil_op_counts(model)
    assert counts["gelu"] == 1 and counts["silu"] == 1 and counts["linear"] == 6, dict(counts)
    assert not counts["erf"] and not counts["sigmoid"]
    for name in ("common::reduce_transposes", "common::fuse_gelu_exact", "common::fuse_matmul_weight_bias"):
        assert name in stats.ran
    # nothing of these in the program
    for name in ("common::fuse_conv_batchnorm", "common::prelu_to_lrelu", "common::select_optimization"):
        assert name in stats.skipped and name not in stats.ran
    assert set(stats.skipped) <= {*mil_pipeline.PRECONDITIONS, "common::const_deduplication"}


def test_mobile_skips_reduce_transposes():
    from bridgec.backends.coreml.mlprogram import build_mlprogram, mil_op_counts

    with mil_pipeline.applied() as stats:
        model = build_mlprogram(lowered(mobile()), "iOS16")
    assert "transpose" not in mil_op_counts(model)
    assert stats.skipped.count("common::reduce_transposes") == 3
    assert "common::fuse_conv_batchnorm" in stats.ran  # the batchnorms were there to fold
    assert "batch_norm" not in mil_op_counts(model)
    # the first run merges the constants; later ones only when a new large constant appeared
    assert "common::const_deduplication" in stats.ran
    assert "common::const_deduplication" in stats.skipped


def test_reduce_transposes_cancels_a_pair_then_stops_short(monkeypatch):
    """The pass's first run removes the transpose pair around the relu (and re-infers every op, as
    coremltools' own does); in its later runs no transpose is left to cancel, and they re-infer no
    op but a const whose value its inference made."""
    from coremltools.converters.mil.mil import Operation

    from bridgec.backends.coreml.mlprogram import build_mlprogram, mil_op_counts

    inferred: list[str] = []
    infer = Operation.type_value_inference

    def counted(op, overwrite_output=False):
        inferred.append(op.op_type)
        return infer(op, overwrite_output)

    runs: list[set[str]] = []
    transform = mil_pipeline._apply_transform

    def noting(opt):
        first = len(inferred)
        transform(opt)
        runs.append(set(inferred[first:]))

    made = lowered(sequence_first())
    monkeypatch.setattr(Operation, "type_value_inference", counted)
    monkeypatch.setattr(mil_pipeline, "_apply_transform", noting)
    with mil_pipeline.applied() as stats:
        counts = mil_op_counts(build_mlprogram(made, "iOS16"))
    assert counts["transpose"] == 1 and counts["relu"] == 1, dict(counts)
    assert stats.ran.count("common::reduce_transposes") == 3
    assert len(runs) == 3
    assert {"matmul", "relu", "mul"} <= runs[0]
    assert runs[1] <= {"const"} and runs[2] <= {"const"}, runs


def test_program_with_constexpr_runs_every_pass():
    """Compressed weights (constexpr ops) make vars non-replaceable, which every block refreshes
    on exit: such a program skips nothing."""
    import coremltools as ct
    from coremltools.converters.mil import Builder as mb
    from coremltools.converters.mil.mil.passes.pass_pipeline import PassPipeline

    @mb.program(input_specs=[mb.TensorSpec(shape=(1, 4))], opset_version=ct.target.iOS16)
    def prog(x):
        weight = mb.constexpr_affine_dequantize(
            quantized_data=np.arange(16, dtype=np.uint8).reshape(4, 4),
            zero_point=np.uint8(1),
            scale=np.float32(0.5),
            axis=0,
        )
        return mb.relu(x=mb.matmul(x=x, y=weight))

    stats = mil_pipeline.Stats()
    with mil_pipeline.applied():
        mil_pipeline.apply_pipeline(prog, PassPipeline.DEFAULT, stats)
    assert stats.skipped == [] and len(stats.ran) == len(PassPipeline.DEFAULT.passes)


def test_preconditions_name_real_passes_and_op_types():
    from coremltools.converters.mil.mil import Program
    from coremltools.converters.mil.mil.ops.registry import SSAOpRegistry
    from coremltools.converters.mil.mil.passes.pass_pipeline import PassPipeline
    from coremltools.converters.mil.mil.passes.pass_registry import PASS_REGISTRY

    pipelines = {
        name
        for pipeline in ("default", "backend_mlprogram")
        for name in PassPipeline.get_pipeline(pipeline).passes
    }
    op_types = set(SSAOpRegistry.core_ops) | set(SSAOpRegistry.dialect_ops)
    for name, groups in mil_pipeline.PRECONDITIONS.items():
        assert name in PASS_REGISTRY and name in pipelines, name
        assert groups and all(groups), name
        for group in groups:
            unknown = set(group) - op_types
            assert not unknown, f"{name}: {unknown} are not MIL op types"
        PASS_REGISTRY[name](Program())  # what a skipped pass runs on


def test_restores_coremltools_own_and_other_threads_keep_it():
    import threading

    from coremltools.converters.mil.mil import Block
    from coremltools.converters.mil.mil.passes.pass_pipeline import PassPipelineManager

    before = PassPipelineManager.__dict__["apply_pipeline"]
    propagate = Block.__dict__["_propagate_nonreplaceable_vars"]
    seen = {}
    with pytest.raises(RuntimeError), mil_pipeline.applied():
        assert PassPipelineManager.__dict__["apply_pipeline"] is not before
        thread = threading.Thread(
            target=lambda: seen.update(stats=getattr(mil_pipeline._local, "stats", None))
        )
        thread.start()
        thread.join()
        raise RuntimeError
    assert PassPipelineManager.__dict__["apply_pipeline"] is before
    assert Block.__dict__["_propagate_nonreplaceable_vars"] is propagate
    assert seen == {"stats": None}  # the other thread's calls go to coremltools' own


def test_classifier_outputs_kept(tmp_path, monkeypatch):
    """A classifier's outputs (from MIL's classify op, added by coremltools) come out as before."""
    (ours, *_), _ = both_ways(tmp_path, monkeypatch, lambda: lowered(mobile()), "iOS16", labels=list("abcde"))
    from coremltools.proto import Model_pb2

    spec = Model_pb2.Model.FromString(ours["Data/com.apple.CoreML/model.mlmodel"])
    assert spec.description.output[0].name == PREDICTED_FEATURE


def test_other_coremltools_version_runs_coremltools_own_loop(tmp_path, monkeypatch):
    """The precondition table and the loop were read from one coremltools: under another, nothing
    is installed and the package is the one coremltools' own loop writes."""
    import coremltools
    from coremltools.converters.mil.mil.passes.pass_pipeline import PassPipelineManager

    monkeypatch.setattr(coremltools, "__version__", "9.1")
    calls = []
    ours = mil_pipeline.apply_pipeline
    monkeypatch.setattr(mil_pipeline, "apply_pipeline", lambda *args: calls.append(1) or ours(*args))
    before = PassPipelineManager.__dict__["apply_pipeline"]
    with mil_pipeline.applied() as stats:
        assert PassPipelineManager.__dict__["apply_pipeline"] is before
    (fallback, *_), (own, *_) = both_ways(tmp_path, monkeypatch, lambda: lowered(mobile()), "iOS16")
    assert calls == [] and stats == mil_pipeline.Stats()
    assert sorted(fallback) == sorted(own)
    for name in fallback:
        assert fallback[name] == own[name], name


def reorder_program(seed: int):
    """A random block of relus, adds, casts and transposes over [4, 4] values, each op reading one
    or two earlier values (so most are read several times), with a cond whose branches read outer
    values and hold casts and transposes of their own: what ``topological_reorder`` moves."""
    import coremltools as ct
    from coremltools.converters.mil import Builder as mb

    rng = np.random.default_rng(seed)

    @mb.program(
        input_specs=[mb.TensorSpec(shape=(4, 4)), mb.TensorSpec(shape=(4, 4))], opset_version=ct.target.iOS16
    )
    def prog(x, z):
        values = [x, z]
        for i in range(40):
            a, b = (values[j] for j in rng.integers(len(values), size=2))
            kind = rng.choice(["relu", "add", "cast", "transpose", "cond"])
            if kind == "relu":
                values.append(mb.relu(x=a, name=f"relu{i}"))
            elif kind == "add":
                values.append(mb.add(x=a, y=b, name=f"add{i}"))
            elif kind == "cast":
                values.append(mb.cast(x=a, dtype="fp32", name=f"cast{i}"))
            elif kind == "transpose":
                values.append(mb.transpose(x=a, perm=[1, 0], name=f"transpose{i}"))
            else:
                flag = mb.reduce_sum(x=a, keep_dims=False, name=f"sum{i}")
                positive = mb.greater(x=flag, y=0.0, name=f"positive{i}")
                values.append(
                    mb.cond(
                        pred=positive,
                        _true_fn=lambda a=a, b=b, i=i: mb.add(
                            x=mb.transpose(x=a, perm=[1, 0], name=f"inner_t{i}"), y=b, name=f"inner_add{i}"
                        ),
                        _false_fn=lambda a=a, i=i: mb.cast(x=mb.relu(x=a, name=f"inner_r{i}"), dtype="fp32"),
                        name=f"cond{i}",
                    )
                )
        # a transpose read by no op and not an output (moved to the end); outputs read mid-block
        mb.transpose(x=values[-1], perm=[1, 0], name="unread")
        picks = rng.choice(np.arange(2, len(values)), size=3, replace=False)
        return tuple(values[j] for j in sorted(picks))

    return prog


@pytest.mark.parametrize("seed", range(6))
def test_topological_reorder_writes_coremltools_own_program(seed):
    """``_move_to_the_end`` compares positions only for the ops it moves; the program it leaves
    (op order, op and value names, the nested blocks) is the one coremltools' own pass leaves."""
    from coremltools.converters.mil.mil import Block, Builder
    from coremltools.converters.mil.mil.passes.pass_registry import PASS_REGISTRY

    reorder = PASS_REGISTRY["common::topological_reorder"]
    counters, blocks = dict(Builder.name_count), Block.counter
    texts = []
    for ours in (True, False):
        Builder.name_count.clear()
        Builder.name_count.update(counters)
        Block.counter = blocks
        prog = reorder_program(seed)
        before = str(prog)
        with mil_pipeline.applied() if ours else contextlib.nullcontext():
            reorder(prog)
        prog.validate()
        texts.append(str(prog))
    assert texts[0] == texts[1]
    assert texts[0] != before  # something was moved


def test_topological_reorder_scans_only_for_moved_ops(monkeypatch):
    """A residual block of 2,000 ops reading values twice, with one transpose: coremltools' pass
    scans the op list twice per value read twice; this one once per reader of the transpose."""
    import coremltools as ct
    from coremltools.converters.mil import Builder as mb
    from coremltools.converters.mil.mil.passes.pass_registry import PASS_REGISTRY

    @mb.program(input_specs=[mb.TensorSpec(shape=(4, 4))], opset_version=ct.target.iOS16)
    def prog(x):
        values = [mb.transpose(x=x, perm=[1, 0])]
        for _ in range(2000):
            values.append(mb.add(x=values[-1], y=values[max(0, len(values) - 3)]))
        return values[-1]

    scans = []

    class Counted(list):
        def index(self, *args):
            scans.append(1)
            return super().index(*args)

    monkeypatch.setattr(mil_pipeline, "list", Counted, raising=False)
    with mil_pipeline.applied():
        PASS_REGISTRY["common::topological_reorder"](prog)
    assert len(scans) <= 2
