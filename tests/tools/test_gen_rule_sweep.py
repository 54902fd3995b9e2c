"""docs/rule-sweep.md is what tools/gen_rule_sweep.py generates, and its configurations are what
they say they are."""

import sys
from pathlib import Path

import onnx

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tools"))

import gen_rule_sweep as gen  # noqa: E402


def test_the_document_is_what_the_sweep_generates(tmp_path: Path) -> None:
    assert gen.main(["--check"]) == 0, "run python tools/gen_rule_sweep.py"
    assert gen.main(["--check"], doc=tmp_path / "missing.md") == 1


def test_a_configuration_is_a_valid_one_node_model_of_the_rank() -> None:
    model = gen.configuration("BatchNormalization", 3)
    assert isinstance(model, onnx.ModelProto)
    onnx.checker.check_model(model, full_check=True)
    node = next(n for n in model.graph.node if n.name == gen.NAME)
    assert node.op_type == "BatchNormalization" and len(node.input) == 5
    dims = [d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim]
    assert dims == [2, 3, 4]
    assert gen.configuration("Conv", 2) == "needs rank >= 3 (a spatial axis)"
    assert gen.configuration("And", 2) == "input 'A' does not take float32"


def test_every_built_configuration_is_classified_once_per_format() -> None:
    outcomes, skipped = gen.sweep()
    ops = gen.table_ops()
    built = len(ops) * len(gen.RANKS) - len(skipped)
    assert len(outcomes) == built * len(gen.FORMATS)
    by = {(o.op, o.rank, o.format): o for o in outcomes}
    # Core ML tensors have rank <= 5 in both formats; rank 4 ReLU is a plain layer
    assert all(by[("Relu", 6, fmt)].status == "unsupported" for fmt, _ in gen.FORMATS)
    assert all(by[("Relu", 4, fmt)].status == "native" for fmt, _ in gen.FORMATS)
    assert by[("Celu", 4, "neuralnetwork")].how == "lower::kept_activations/celu_to_elu"
