"""--labels: a classifier in both formats (ML Program through MIL's ``classify``, NeuralNetwork through
its classifier message), the executor's classify op on its own, the numbers check of the probability
dictionary and the top label, and the one-line errors."""

from __future__ import annotations

import numpy as np
import onnx
import pytest

from bridgec.backends.coreml.classifier import class_labels
from bridgec.backends.coreml.executor import run as run_coreml
from bridgec.backends.coreml.executor.mlprogram import OPS
from bridgec.backends.coreml.executor.mlprogram._op import Op
from bridgec.driver.check import CheckFailed
from bridgec.driver.cli import main
from bridgec.driver.convert import convert

FORMATS = ("mlprogram", "neuralnetwork")
# scores for 3 classes; the constant makes class 2 ("eel") win for every positive input
ONNX_TEXT = (
    '<ir_version: 8, opset_import: ["" : 17]> g (float[1,3] x) => (float[1,3] {out}) '
    "<float[3] w = {{1.0, 2.0, 9.0}}> {{ a = Mul (x, w)\n {out} = Softmax <axis = 1> (a) }}"
)


def tiny_onnx(path, out="scores"):
    onnx.save(onnx.shape_inference.infer_shapes(onnx.parser.parse_model(ONNX_TEXT.format(out=out))), path)
    return path


def tiny_torch(path, outputs=1):
    import torch

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.register_buffer("w", torch.tensor([1.0, 2.0, 9.0]))

        def forward(self, x):
            scores = torch.softmax(x * self.w, dim=1)
            return scores if outputs == 1 else (scores, x * 2)

    torch.jit.trace(Net().eval(), torch.rand(1, 3)).save(str(path))
    return path


def source(tmp_path, kind):
    if kind == "onnx":
        return tiny_onnx(tmp_path / "tiny.onnx"), None
    return tiny_torch(tmp_path / "tiny.pt"), {"x": (1, 3)}


def convert_tiny(tmp_path, kind, fmt, labels, **options):
    model, inputs = source(tmp_path, kind)
    return convert(model, inputs=inputs, labels=labels, format=fmt, write=False, **options)


@pytest.mark.parametrize("kind", ["pt", "onnx"])
@pytest.mark.parametrize("fmt", FORMATS)
def test_a_classifier_in_both_formats_is_checked(tmp_path, kind, fmt):
    result = convert_tiny(tmp_path, kind, fmt, ["ant", "bee", "eel"])
    assert result.format == fmt
    spec = result.model.spec
    description = spec.description
    assert description.predictedFeatureName == "classLabel"
    # ML Program: coremltools' names (ClassifierConfig); NeuralNetwork: the scores output's own name
    probabilities = "classLabel_probs" if fmt == "mlprogram" else result.analysis.graph.outputs[0].name
    assert description.predictedProbabilitiesName == probabilities
    types = {f.name: f.type.WhichOneof("Type") for f in description.output}
    assert types == {"classLabel": "stringType", probabilities: "dictionaryType"}
    assert result.check.status == "checked", result.check.line()
    assert [o.name for o in result.check.outputs][-1] == "classLabel"
    got = result.model.run_reference({"x": np.array([[0.3, 0.2, 0.1]], np.float32)})
    assert str(got["classLabel"]) == "eel"
    assert sorted(got[probabilities]) == ["ant", "bee", "eel"]
    assert sum(got[probabilities].values()) == pytest.approx(1.0, abs=1e-6)


@pytest.mark.parametrize("fmt", FORMATS)
def test_whole_number_labels_are_int64_classes(tmp_path, fmt):
    result = convert_tiny(tmp_path, "onnx", fmt, ["3", "5", "-7"])
    description = result.model.spec.description
    types = {f.name: f.type for f in description.output}
    assert types["classLabel"].WhichOneof("Type") == "int64Type"
    assert (
        types[description.predictedProbabilitiesName].dictionaryType.WhichOneof("KeyType") == "int64KeyType"
    )
    assert result.check.status == "checked", result.check.line()
    got = result.model.run_reference({"x": np.ones((1, 3), np.float32)})
    assert got["classLabel"].item() == -7 and set(got[description.predictedProbabilitiesName]) == {3, 5, -7}


def test_which_labels_are_whole_numbers():
    assert class_labels(["0", "17", "-3"]) == (0, 17, -3)
    assert class_labels([1, 2]) == (1, 2)
    # a leading zero, a plus sign, a decimal or one word keep every label a string
    for labels in (["007", "8"], ["+1", "2"], ["1.0", "2"], ["1", "cat"], ["١", "2"]):
        assert all(isinstance(label, str) for label in class_labels(labels)), labels
    assert class_labels([str(2**63), "1"]) == (str(2**63), "1")  # beyond int64


@pytest.mark.parametrize("fmt", FORMATS)
def test_the_check_fails_when_the_model_pairs_scores_with_the_wrong_labels(tmp_path, fmt, monkeypatch):
    """The model's dictionary is read back by the user's labels: a backend that wrote them reversed
    (class 2's score under "ant") must fail the check, though each number is right."""
    from bridgec.backends.coreml import classifier as classifier_mod
    from bridgec.backends.coreml import mlprogram, neuralnetwork

    real = classifier_mod.classifier_for

    def reversed_labels(graph, labels, output=None):
        found = real(graph, labels, output)
        return classifier_mod.Classifier(found.scores, tuple(reversed(found.labels)))

    monkeypatch.setattr(mlprogram if fmt == "mlprogram" else neuralnetwork, "classifier_for", reversed_labels)
    with pytest.raises(CheckFailed, match="differs from"):
        convert_tiny(tmp_path, "pt", fmt, ["ant", "bee", "eel"])


def classify(probabilities, classes):
    op = Op("classify", "c", {"probabilities": np.asarray(probabilities, np.float32), "classes": classes})
    return OPS["classify"](op)


def test_executor_classify_op_against_hand_computed_outputs():
    classes = [np.array(name, dtype=object) for name in ("ant", "bee", "eel")]
    top, dictionary = classify([[0.25, 0.5, 0.25]], classes)
    assert top.item() == "bee"
    assert dictionary == {"ant": 0.25, "bee": 0.5, "eel": 0.25}
    top, dictionary = classify([0.4, 0.4, 0.2], classes)  # a tie: the first of them
    assert top.item() == "ant"
    top, dictionary = classify([0.1, 0.9], [np.array(7, np.int64), np.array(-2, np.int64)])
    assert top.item() == -2 and top.dtype == np.int64 and dictionary == pytest.approx({7: 0.1, -2: 0.9})


def test_executor_classify_refuses_a_count_mismatch():
    from bridgec.backends.coreml.executor.errors import LayerError

    with pytest.raises(LayerError, match="2 classes for 3 probabilities"):
        classify([0.2, 0.3, 0.5], [np.array("a", dtype=object), np.array("b", dtype=object)])


def run_cli(args, capsys):
    code = main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.parametrize(
    "text, message",
    [
        ("ant\nbee\n", "--labels: 2 labels for the 3 classes of output 'scores'; give one label a line"),
        ("ant\nbee\nant\n", "--labels: 'ant' is given twice; every class needs its own label"),
        ("\n  \n", "no labels in it (one a line)"),
        (None, "no such file"),
    ],
)
@pytest.mark.parametrize("out", ["m.mlpackage", "m.mlmodel"])
def test_label_mistakes_are_one_line_usage_errors_in_both_formats(tmp_path, capsys, text, message, out):
    model = tiny_onnx(tmp_path / "tiny.onnx")
    labels = tmp_path / "labels.txt"
    if text is not None:
        labels.write_text(text)
    code, _, err = run_cli([model, "--labels", labels, "-o", tmp_path / out, "-q"], capsys)
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and message in err, err
    assert not (tmp_path / out).exists()


def test_a_model_with_several_outputs_needs_labels_output(tmp_path, capsys):
    model = tiny_torch(tmp_path / "two.pt", outputs=2)
    (tmp_path / "labels.txt").write_text("ant\nbee\neel\n")
    args = [model, "--input", "x:1x3", "--labels", tmp_path / "labels.txt", "-q"]
    code, _, err = run_cli([*args, "-o", tmp_path / "m.mlpackage"], capsys)
    assert code == 2 and "--labels: the model has 2 outputs" in err and "--labels-output NAME" in err
    code, _, err = run_cli([*args, "--labels-output", "nope", "-o", tmp_path / "m.mlpackage"], capsys)
    assert code == 2 and "--labels-output nope: not an output of the model" in err
    for fmt in FORMATS:  # the torch exporter names them output, output_1
        result = convert(
            model,
            inputs={"x": (1, 3)},
            labels=["ant", "bee", "eel"],
            labels_output="output",
            format=fmt,
            write=False,
        )
        assert result.check.status == "checked", result.check.line()
        outputs = {f.name: f.type.WhichOneof("Type") for f in result.model.spec.description.output}
        assert outputs["classLabel"] == "stringType" and outputs["output_1"] == "multiArrayType"
        assert outputs[result.model.spec.description.predictedProbabilitiesName] == "dictionaryType"
        assert len(outputs) == 3
        assert [o.name for o in result.check.outputs] == ["output", "output_1", "classLabel"]


def test_labels_output_needs_labels(tmp_path, capsys):
    code, _, err = run_cli([tiny_onnx(tmp_path / "t.onnx"), "--labels-output", "y", "-q"], capsys)
    assert code == 2 and "add --labels FILE" in err


def test_format_auto_writes_an_ml_program_classifier(tmp_path, capsys):
    model = tiny_onnx(tmp_path / "tiny.onnx")
    (tmp_path / "labels.txt").write_text("ant\nbee\neel\n")
    code, out, _ = run_cli(
        [model, "--labels", tmp_path / "labels.txt", "-o", tmp_path / "m.mlpackage"], capsys
    )
    assert code == 0, out
    assert out.strip().splitlines()[-1].startswith("checked: 2 outputs")
    got = run_coreml(str(tmp_path / "m.mlpackage"), {"x": np.ones((1, 3), np.float32)})
    assert str(got["classLabel"]) == "eel"


def test_labels_that_fit_no_model_are_refused_before_loading(tmp_path):
    from bridgec.core.errors import UsageError
    from bridgec.driver.request import ConversionRequest, validate

    model = tmp_path / "never_read.onnx"  # validate runs before the load stage: no file needed
    with pytest.raises(UsageError, match="'a' is given twice"):
        validate(ConversionRequest.of(model, labels=["a", "b", "a"], write=False))
    with pytest.raises(UsageError, match="no labels given"):
        validate(ConversionRequest.of(model, labels=[], write=False))
    with pytest.raises(UsageError, match="add --labels FILE"):
        validate(ConversionRequest.of(model, labels_output="y", write=False))


@pytest.mark.parametrize("name", ["classLabel", "classLabel_probs"])
def test_an_output_named_like_the_classifiers_is_refused(tmp_path, name):
    from bridgec.core.errors import UsageError

    model = tiny_onnx(tmp_path / "t.onnx", out=name)
    for fmt in FORMATS:
        with pytest.raises(UsageError, match=f"an output named '{name}'"):
            convert(model, labels=["a", "b", "c"], format=fmt, write=False)
