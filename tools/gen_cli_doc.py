"""Write the generated part of docs/cli.md: every subcommand's options, in the words of its --help.

    python tools/gen_cli_doc.py            # rewrite the part between the cli:begin / cli:end markers
    python tools/gen_cli_doc.py --check    # exit 1 if it is stale; writes nothing

The rest of docs/cli.md (the vocabulary, --json) is written by hand; tests/driver/test_cli_vocabulary.py
checks that every option it names exists.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "cli.md"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if docs/cli.md is stale")
    args = parser.parse_args(argv)
    from bridgec.driver import cli_docs

    text = DOC.read_text()
    fresh = cli_docs.replace_block(text, cli_docs.block())
    if fresh == text:
        return 0
    if args.check:
        print("gen_cli_doc: docs/cli.md is stale; run python tools/gen_cli_doc.py", file=sys.stderr)
        return 1
    DOC.write_text(fresh)
    print("gen_cli_doc: wrote docs/cli.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
