"""Backends: turn legal ONNX IR into a deployable model. Core ML is the one there is."""

from bridgec.backends import coreml

__all__ = ["coreml"]
