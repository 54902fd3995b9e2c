"""The kernel library: Swift (CPU) and Metal (GPU) implementations of bridgec's custom layers.

This folder is both a Swift package (``Package.swift``) and the Python package
``bridgec.runtime_kernels``. The Python side holds the catalog that says which files implement
which Core ML custom layer class, and the numpy reference every kernel is tested against.
"""
