"""What a conversion did with one op: the status names every report, coverage table and pass uses."""

from __future__ import annotations

NATIVE = "native"  # a Core ML layer / MIL op computes it as it is
LOWERED = "lowered"  # a named lowering rule rewrote it to ops the target has
CUSTOM = "custom"  # it became a Core ML custom layer
REMOVED = "removed"  # a cleanup pass removed it (identity, dead code, folded constant)
UNSUPPORTED = "unsupported"  # none of the above: the conversion fails on it

# In order from best to worst; reports sort and count in this order.
STATUSES: tuple[str, ...] = (NATIVE, LOWERED, CUSTOM, REMOVED, UNSUPPORTED)
