"""A user pass: lower ``com.example::Swish(x, beta)`` — an op bridgec's own rules do not know.

    bridgec swish.onnx --load-passes examples/user_pass.py -O lower

Without this file, ``-O lower`` stops at the Swish nodes and ``-O lower-custom`` makes them custom
layers with no kernel. With it, every Swish becomes Mul/Sigmoid, which Core ML runs natively.
``extends`` adds the pass to the named pipelines, after the cleanups and before custom-layer
tagging, as its ordering constraints say. Packages can ship passes the same way through the
``bridgec.passes`` entry point group.
"""

from bridgec.passes import Rule, RuleSet, register


def swish(op, x, beta):
    return op.Swish(x, beta=beta, _domain="com.example")


def sigmoid_form(op, x, beta):
    return op.Mul(x, op.Sigmoid(x if beta == 1.0 else op.Mul(x, op.const(beta))))


@register
class LowerSwish(RuleSet):
    """Lower com.example::Swish to Mul and Sigmoid."""

    id = "user::swish"
    after = ("cleanup::*",)
    before = ("custom::*",)
    extends = ("lower", "lower-custom")
    rules = (Rule("swish_to_sigmoid", swish, sigmoid_form, identity="swish(x, b) -> x * sigmoid(b * x)"),)
