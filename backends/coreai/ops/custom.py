"""The table's entries for custom-layer nodes: each bundled kernel as a ``coreai.metal4_kernel``
(the emitter lives in ``backends/coreai/kernels.py``, beside the Metal 4 adapter it drives)."""

from bridgec.backends.coreai.kernels import emitters

__all__ = ["emitters"]
