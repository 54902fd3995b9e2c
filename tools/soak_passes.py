"""Soak run of the property-based pass tests: many more random graphs than CI runs.

    python tools/soak_passes.py [--examples 5000]

Every named pipeline must keep onnxruntime's numbers (1e-5 relative), change nothing on a second
run, and emit a Core ML model whose reference-executor outputs match.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=5000)
    args = parser.parse_args()
    env = dict(os.environ, BRIDGEC_PROPERTY_EXAMPLES=str(args.examples))
    test = ROOT / "tests" / "passes" / "test_properties.py"
    return subprocess.call(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            str(test),
            "--hypothesis-show-statistics",
        ],
        cwd=ROOT,
        env=env,
    )


if __name__ == "__main__":
    sys.exit(main())
