"""What an app feeds a built Core ML model and gets back, read from the model's description
(Model.proto ``ModelDescription``, FeatureTypes.proto): its inputs, outputs and states, each a
multiarray, an image, a classifier's label or probability dictionary. It is read from the spec that
is written, never from the request, so it says what the file holds whatever made it so."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

ROLES = ("input", "output", "state")
_DTYPES = {"FLOAT32": "float32", "FLOAT16": "float16", "DOUBLE": "float64", "INT32": "int32", "INT8": "int8"}


@dataclass(frozen=True)
class Feature:
    """One feature of the model's interface. ``kind``: multiarray, image, string, int64, double,
    dictionary, sequence or state; ``dtype``: a multiarray's or state's element type, a dictionary's
    key type; ``shape``: a multiarray's or state's default shape (empty: known only when run);
    ``width``/``height``: an image's default size; ``flexibility``: the other sizes it takes (""
    when fixed); ``classifier``: what a classifier's output holds ("" for any other)."""

    role: str
    name: str
    kind: str
    dtype: str = ""
    shape: tuple[int, ...] = ()
    color_space: str = ""
    width: int = 0
    height: int = 0
    flexibility: str = ""
    classifier: str = ""

    @property
    def line(self) -> str:
        """The feature in one line: ``x: image RGB 224x224 (width x height)``."""
        if self.kind == "image":
            what = f"image {self.color_space} {self.width}x{self.height} (width x height)"
        elif self.kind in ("multiarray", "state"):
            dims = " " + "x".join(map(str, self.shape)) if self.shape else ", shape set when run"
            what = f"{self.dtype}{dims}" + (" (MLState)" if self.kind == "state" else "")
        elif self.kind == "dictionary":
            what = f"dictionary {self.dtype} -> double"
        else:
            what = self.kind
        parts = [what]
        if self.flexibility:
            parts.append(f"flexible: {self.flexibility}")
        if self.classifier:
            parts.append(self.classifier)
        return f"{self.name}: {', '.join(parts)}"

    def to_dict(self) -> dict:
        return {
            "role": self.role,
            "name": self.name,
            "kind": self.kind,
            "dtype": self.dtype,
            "shape": list(self.shape),
            "color_space": self.color_space,
            "width": self.width,
            "height": self.height,
            "flexibility": self.flexibility,
            "classifier": self.classifier,
            "line": self.line,
        }


def describe(spec: Any) -> list[Feature]:
    """The interface of the model ``spec`` (a ``Model_pb2.Model``): its inputs, outputs, then states."""
    description = spec.description
    labels = class_label_count(spec)
    features = [_feature("input", f) for f in description.input]
    for feature in description.output:
        found = _feature("output", feature)
        if feature.name == description.predictedFeatureName and description.predictedFeatureName:
            found = replace(
                found,
                classifier=f"the top class of {_count(labels)} labels, probabilities in "
                f"{description.predictedProbabilitiesName or '?'}",
            )
        elif (
            feature.name == description.predictedProbabilitiesName and description.predictedProbabilitiesName
        ):
            found = replace(found, classifier=f"the probability of each of {_count(labels)} labels")
        features.append(found)
    features += [_feature("state", f) for f in getattr(description, "state", ())]
    return features


def _count(labels: int | None) -> str:
    return "?" if labels is None else str(labels)


def _feature(role: str, feature: Any) -> Feature:
    kind = feature.type.WhichOneof("Type")
    name = feature.name
    if kind == "multiArrayType":
        array = feature.type.multiArrayType
        return Feature(
            role,
            name,
            "multiarray",
            _dtype(array),
            tuple(int(d) for d in array.shape),
            flexibility=_array_flexibility(array),
        )
    if kind == "stateType":
        array = feature.type.stateType.arrayType
        return Feature(role, name, "state", _dtype(array), tuple(int(d) for d in array.shape))
    if kind == "imageType":
        image = feature.type.imageType
        return Feature(
            role,
            name,
            "image",
            color_space=image.ColorSpace.Name(image.colorSpace),
            width=int(image.width),
            height=int(image.height),
            flexibility=_image_flexibility(image),
        )
    if kind == "dictionaryType":
        keys = feature.type.dictionaryType.WhichOneof("KeyType")
        return Feature(role, name, "dictionary", "int64" if keys == "int64KeyType" else "string")
    return Feature(role, name, (kind or "unknown").removesuffix("Type"))


def _dtype(array: Any) -> str:
    name = array.ArrayDataType.Name(array.dataType)
    return _DTYPES.get(name, name.lower())


def _bound(lo: int, hi: int) -> str:
    if lo == hi:
        return str(lo)
    return f"({lo}..)" if hi < 0 else f"({lo}..{hi})"


def _array_flexibility(array: Any) -> str:
    kind = array.WhichOneof("ShapeFlexibility")
    if kind == "enumeratedShapes":
        shapes = ["x".join(str(int(d)) for d in s.shape) for s in array.enumeratedShapes.shapes]
        return f"one of {', '.join(shapes)}"
    if kind == "shapeRange":
        ranges = [(int(r.lowerBound), int(r.upperBound)) for r in array.shapeRange.sizeRanges]
        if all(lo == hi for lo, hi in ranges):
            return ""
        return "x".join(_bound(lo, hi) for lo, hi in ranges)
    return ""


def _image_flexibility(image: Any) -> str:
    kind = image.WhichOneof("SizeFlexibility")
    if kind == "enumeratedSizes":
        sizes = [f"{int(s.width)}x{int(s.height)}" for s in image.enumeratedSizes.sizes]
        return f"one of {', '.join(sizes)}"
    if kind == "imageSizeRange":
        width, height = image.imageSizeRange.widthRange, image.imageSizeRange.heightRange
        return (
            f"{_bound(int(width.lowerBound), int(width.upperBound))}x"
            f"{_bound(int(height.lowerBound), int(height.upperBound))}"
        )
    return ""


def class_label_count(spec: Any) -> int | None:
    """How many class labels a classifier ``spec`` holds, or None when it holds none."""
    labels = labels_of(spec)
    return None if labels is None else len(labels)


def labels_of(spec: Any) -> list | None:
    """The class labels of a classifier ``spec``, in score order: a NeuralNetworkClassifier's label
    vector, or the ``classes`` of an ML Program's ``classify`` op; None when there are none."""
    kind = spec.WhichOneof("Type")
    if kind == "neuralNetworkClassifier":
        network = spec.neuralNetworkClassifier
        labels = network.WhichOneof("ClassLabels")
        return list(getattr(network, labels).vector) if labels else None
    if kind != "mlProgram" or "main" not in spec.mlProgram.functions:
        return None
    function = spec.mlProgram.functions["main"]
    block = function.block_specializations.get(function.opset)
    if block is None:
        return None
    constants = {op.outputs[0].name: op.attributes["val"] for op in block.operations if op.type == "const"}
    for op in block.operations:
        if op.type != "classify" or "classes" not in op.inputs:
            continue
        binding = op.inputs["classes"].arguments[0]
        value = constants.get(binding.name) if binding.WhichOneof("binding") == "name" else binding.value
        if value is not None and value.immediateValue.WhichOneof("value") == "list":
            return [_scalar(item) for item in value.immediateValue.list.values]
    return None


def _scalar(value: Any) -> Any:
    """The one element of a MIL immediate tensor value (a label: a string or an int64)."""
    tensor = value.immediateValue.tensor
    held = getattr(tensor, tensor.WhichOneof("value"))
    return held.values[0]


__all__ = ["ROLES", "Feature", "class_label_count", "describe", "labels_of"]
