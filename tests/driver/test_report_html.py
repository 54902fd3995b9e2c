"""The HTML report as a browser shows it: converted models' reports rendered in headless Chromium
(tools/report_screenshot.py), the graph's nodes counted, their status colours found on screen, the
checked error and the provenance on the page, and a user's odd node names escaped."""

from __future__ import annotations

import hashlib
import os
import sys
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from bridgec.driver import analysis
from bridgec.driver.cli import main
from bridgec.driver.report_html import STATUS_STYLE

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tools"))
from report_screenshot import ARGS, PACKAGE, chromium, render  # noqa: E402

pytestmark = [
    pytest.mark.skipif(
        chromium() is None and os.environ.get("CI") != "true",  # CI fails instead (tools/test.sh)
        reason=f"needs headless Chromium (Debian package `{PACKAGE}`)",
    )
]
SHAPE = ["--input", "x:1x3x256x256"]
NODE_AREA = 2000  # pixels: less than one node box's fill, more than a legend swatch's


class Page(HTMLParser):
    """The graph's node groups (status, data-name) and the page's text, from HTML or a dumped DOM."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.nodes: list[tuple[str, str]] = []
        self.tags: dict[str, int] = {}
        self.text: list[str] = []
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags[tag] = self.tags.get(tag, 0) + 1
        classes = (attrs.get("class") or "").split()
        if tag == "g" and "node" in classes:
            status = next(c[2:] for c in classes if c.startswith("s-"))
            self.nodes.append((status, attrs.get("data-name", "")))

    def handle_data(self, data):
        self.text.append(data)


def _colour_counts(png: Path) -> dict[str, int]:
    """Pixels of each status's fill colour in the screenshot, and how varied the picture is."""
    from PIL import Image

    pixels = np.asarray(Image.open(png).convert("RGB")).reshape(-1, 3)
    found = {}
    for status, (fill, _, _) in STATUS_STYLE.items():
        rgb = [int(fill[i : i + 2], 16) for i in (1, 3, 5)]
        found[status] = int(np.all(pixels == rgb, axis=1).sum())
    found["colours"] = len(np.unique(pixels[::7], axis=0))
    return found


def _graph_height(html: str) -> int:
    start = html.index('<svg xmlns="http://www.w3.org/2000/svg" class="graph"')
    return int(html[start:].split('height="', 1)[1].split('"', 1)[0])


def _convert(model: Path, tmp_path: Path, *args: str) -> tuple[str, Page]:
    report = tmp_path / "report.html"
    code = main([str(model), *args, "-o", str(tmp_path / "m.mlmodel"), "--report-out", str(report), "-q"])
    assert code == 0
    text = report.read_text()
    return text, Page(text)


def _shot(html_text: str, tmp_path: Path, name: str) -> dict[str, int]:
    page, png = tmp_path / f"{name}.html", tmp_path / f"{name}.png"
    page.write_text(html_text)
    render(page, png=png, size=(1400, _graph_height(html_text) + 900))  # the whole graph in the window
    return _colour_counts(png)


def test_faceseg_report_renders_its_graph_check_and_provenance(faceseg_path, tmp_path, capsys):
    html, page = _convert(faceseg_path, tmp_path, *SHAPE, "--format", "neuralnetwork")
    # one node group per node the backend emitted from (the report's own pipeline, counted apart)
    graph = analysis.analyze(faceseg_path, inputs={"x": (1, 3, 256, 256)}, format="neuralnetwork").graph
    drawn = [name for status, name in page.nodes if status not in ("input", "output")]
    assert sorted(drawn) == sorted(n.name for n in graph.nodes)
    assert [s for s, _ in page.nodes].count("output") == 1
    text = "".join(page.text)
    sha = hashlib.sha256(faceseg_path.read_bytes()).hexdigest()
    assert f"sha256 {sha}" in text and "bridgec " + str(faceseg_path) in text
    assert "max rel" in text and "≤ 1e-4 ✓ vs PyTorch" in text  # the output node's checked error
    colours = _shot(html, tmp_path, "faceseg")
    assert colours["colours"] > 50  # not blank: text, edges, boxes
    # HardTanh is lowered to Clip on a NeuralNetwork: native and lowered boxes, no custom or unsupported
    assert colours["native"] > 20 * NODE_AREA and colours["lowered"] > 5 * NODE_AREA, colours
    assert colours["custom"] < NODE_AREA and colours["unsupported"] < NODE_AREA, colours
    dom = Page(render(tmp_path / "faceseg.html"))  # what the browser built from the page
    assert dom.nodes == page.nodes


def test_a_custom_layer_and_a_lowering_rule_show_in_their_colours(faceseg_path, tmp_path):
    html, page = _convert(faceseg_path, tmp_path, *ARGS)
    statuses = {s for s, _ in page.nodes}
    assert {"native", "lowered", "custom"} <= statuses and "unsupported" not in statuses
    assert "HardTanh (CPU+GPU kernels)" in html and "by resize_to_matmul" in html
    colours = _shot(html, tmp_path, "custom")
    assert colours["custom"] > 10 * NODE_AREA and colours["lowered"] > 2 * NODE_AREA, colours
    assert colours["unsupported"] < NODE_AREA, colours


def test_names_from_the_model_are_escaped_and_unsupported_nodes_say_why(tmp_path):
    odd = ["a<b>&\"c'", "<script>alert(1)</script>", "x&amp;y"]
    nodes = [
        helper.make_node("Relu", ["x"], ["t0"], name=odd[0]),
        helper.make_node("Round", ["t0"], ["t1"], name=odd[1]),  # no Core ML layer, no rule under -O lower
        helper.make_node("Relu", ["t1"], ['y<&"'], name=odd[2]),
    ]
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])
    y = helper.make_tensor_value_info('y<&"', TensorProto.FLOAT, [1, 4])
    model = helper.make_model(
        helper.make_graph(nodes, "g", [x], [y]), opset_imports=[helper.make_opsetid("", 20)]
    )
    path = tmp_path / "odd.onnx"
    onnx.save(model, path)
    report = tmp_path / "odd.html"
    assert (
        main(["report", str(path), "-O", "lower", "--target", "iOS14", "-q", "--report-out", str(report)])
        == 1
    )
    dom = Page(render(report))
    assert sorted(name for status, name in dom.nodes if status not in ("input", "output")) == sorted(odd)
    assert dict((name, status) for status, name in dom.nodes)[odd[1]] == "unsupported"
    assert dom.tags["script"] == 1  # the page's own; the node named <script> stayed text
    assert any('y<&"' in t for t in dom.text) and "no Core ML layer" in "".join(dom.text)
    colours = _shot(report.read_text(), tmp_path, "odd")
    assert colours["unsupported"] > NODE_AREA and colours["native"] > NODE_AREA, colours
