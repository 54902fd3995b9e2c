"""Soak run of the emitter property tests (tests/properties): many more drawn nodes per op and format
than CI's default, with the outcome of every draw counted and written to docs/properties.md.

    python tools/prove_emitters.py [--examples 200] [--workers 2] [--random] [--out docs/properties.md]

Each drawn node either matches onnxruntime through the reference executor, or is refused by the
emitter's capability check (or, later, by its build); ``wrong`` must be 0. ``--random`` draws new
cases instead of CI's fixed ones.
"""

from __future__ import annotations

import argparse
import datetime
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=200, help="examples per op and format (CI: 25)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--random", action="store_true", help="new random cases, not CI's fixed ones")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "properties.md")
    args = parser.parse_args()
    from tests.properties.stats import load, render

    with tempfile.TemporaryDirectory() as stats:
        env = dict(os.environ, BRIDGEC_PROPERTY_EXAMPLES=str(args.examples), BRIDGEC_PROPERTY_STATS=stats)
        if args.random:
            env["BRIDGEC_PROPERTY_RANDOM"] = "1"
        start = time.perf_counter()
        code = subprocess.call(
            [
                sys.executable,
                "-m",
                "pytest",
                "-q",
                "-p",
                "no:cacheprovider",
                "-n",
                str(args.workers),
                "tests/properties",
            ],
            cwd=ROOT,
            env=env,
        )
        seconds = time.perf_counter() - start
        counts = load(Path(stats))
    lines = [
        "# Emitters proven by property",
        "",
        f"Written by `tools/prove_emitters.py --examples {args.examples}{' --random' if args.random else ''}` on "
        f"{datetime.date.today()} in {seconds / 60:.0f} min (pytest exit status {code}). Every row is one ONNX op in "
        "one Core ML format: nodes drawn from the op's ONNX schema (attributes, optional inputs, shapes of rank "
        "1-5, broadcasting) on the oldest and newest target of the format, counted by outcome: `matched` "
        "onnxruntime through the reference executor (max |error| <= 1e-4 x max |output|), `refused` by the "
        "emitter's capability check (the passes then lower it, make a custom layer of it or report it), "
        "`refused-build` (refused while building), `wrong` (a bug: must be 0), `invalid` (onnxruntime itself "
        "rejects the node; discarded).",
        "",
        render(counts, markdown=True),
        "",
    ]
    args.out.write_text("\n".join(lines))
    print(f"wrote {args.out}")
    return code


if __name__ == "__main__":
    sys.exit(main())
