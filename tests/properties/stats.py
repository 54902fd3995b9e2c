"""Sum the property-test outcome counts a run wrote (``BRIDGEC_PROPERTY_STATS=DIR``) into a table.

python -m tests.properties.stats DIR [--markdown]
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

OUTCOMES = ("matched", "refused", "refused-build", "wrong", "invalid")


def load(where: Path) -> Counter:
    counts: Counter = Counter()
    for path in sorted(Path(where).glob("stats-*.json")):
        for fmt, op, outcome, n in json.loads(path.read_text()):
            counts[(fmt, op, outcome)] += n
    return counts


def render(counts: Counter, markdown: bool = False) -> str:
    rows = sorted({(fmt, op) for fmt, op, _ in counts})
    head = ("format", "op", *OUTCOMES)
    lines = []
    table = [head] + [(fmt, op, *(str(counts[(fmt, op, o)]) for o in OUTCOMES)) for fmt, op in rows]
    totals = Counter()
    for fmt, op, outcome in counts:
        totals[outcome] += counts[(fmt, op, outcome)]
    table.append(("all", f"{len(rows)} (format, op)", *(str(totals[o]) for o in OUTCOMES)))
    if markdown:
        lines.append("| " + " | ".join(head) + " |")
        lines.append("|" + "---|" * len(head))
        lines += ["| " + " | ".join(row) + " |" for row in table[1:]]
    else:
        widths = [max(len(r[i]) for r in table) for i in range(len(head))]
        lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in table]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("where", type=Path)
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args()
    print(render(load(args.where), args.markdown))


if __name__ == "__main__":
    main()
