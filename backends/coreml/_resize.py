"""What both Core ML formats' resize emitters ask of a Resize before their own sampling modes: the
last two axes of a rank-limited tensor, no antialias, and nearest only as integer replication."""

from __future__ import annotations

from bridgec.passes.lower.resize import ResizeRequest, replication_factor

# ONNX's float32 scales misstate ratios like 1/3 by ~1e-7 pixel per pixel of the axis; a grid that
# agrees within this stays within 2e-5 of the interpolated values' range (fp32 tolerance: 1e-4).
GRID_TOLERANCE = 1e-5


def spatial_form(request: ResizeRequest, who: str, ranks: tuple[int, int]) -> tuple[int, int] | str:
    """``who`` (the format's name, for messages) resizes the last two axes of a rank in ``ranks``
    without antialias: the nearest replication factors (k_h, k_w), or (0, 0) for a linear resize, or
    why the format cannot resize it."""
    rank = len(request.in_shape)
    if not ranks[0] <= rank <= ranks[1]:
        return f"{who} resizes the last two axes of a rank {ranks[0]}..{ranks[1]} tensor, not rank {rank}"
    if request.antialias:
        return f"antialias has no {who} form"
    if any(a < rank - 2 for a in request.resized()):
        return "only the last two axes can be resized"
    h, w = rank - 2, rank - 1
    if request.mode != "nearest":
        return 0, 0
    factors = (replication_factor(request, h), replication_factor(request, w))
    if None in factors:
        return (
            f"nearest {request.transform}/{request.nearest_mode} {request.in_shape[h:]} -> "
            f"{request.out_shape[h:]} does not match {who}'s nearest upsampling by integer factors"
        )
    return factors
