"""Regenerate docs/coverage.md, docs/coverage-mlprogram.md, docs/coverage-coreai.md and the README's
coverage numbers.

    python tools/gen_coverage.py            # run ONNX's node tests through bridgec and write them all
    python tools/gen_coverage.py --static   # keep the node-test results recorded in docs/coverage.md
    python tools/gen_coverage.py --check    # exit 1 (naming the file) if one is stale; writes nothing

The Core AI node tests run every converted case in Apple's runtime (coreai-core, one child process),
so they need ``pip install bridgec[coreai]``.

Statuses come from the op table, the lowering rules and the kernel catalog (bridgec/driver/coverage.py).
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "coverage.md"
ML_DOC = ROOT / "docs" / "coverage-mlprogram.md"
AI_DOC = ROOT / "docs" / "coverage-coreai.md"
README = ROOT / "README.md"


def expected(static: bool) -> tuple[str, str, str, str]:
    """(docs/coverage.md, docs/coverage-mlprogram.md, docs/coverage-coreai.md, README.md) as they should be."""
    from bridgec.driver import coverage_docs

    recorded = [
        coverage_docs.parse_tests(d.read_text()) if static and d.exists() else None
        for d in (DOC, ML_DOC, AI_DOC)
    ]
    if static and None in recorded:
        raise SystemExit("gen_coverage: a coverage document records no node tests; run without --static")
    main, others = coverage_docs.generate(*recorded)
    readme = coverage_docs.replace_readme_block(README.read_text(), coverage_docs.readme_block(main, others))
    return (
        coverage_docs.document(main, others),
        coverage_docs.mlprogram_document(others),
        coverage_docs.coreai_document(others),
        readme,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--static", action="store_true", help="reuse the node-test results in docs/coverage.md"
    )
    parser.add_argument("--check", action="store_true", help="report stale files instead of writing them")
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore")
    start = time.monotonic()
    try:
        doc, ml_doc, ai_doc, readme = expected(args.static)
    except ValueError as exc:
        print(f"gen_coverage: error: {exc}", file=sys.stderr)
        return 2
    stale = [
        path
        for path, text in ((DOC, doc), (ML_DOC, ml_doc), (AI_DOC, ai_doc), (README, readme))
        if not path.exists() or path.read_text() != text
    ]
    if args.check:
        for path in stale:
            print(f"gen_coverage: {path.relative_to(ROOT)} is stale; run python tools/gen_coverage.py")
        return 1 if stale else 0
    DOC.parent.mkdir(exist_ok=True)
    for path, text in ((DOC, doc), (ML_DOC, ml_doc), (AI_DOC, ai_doc), (README, readme)):
        if path in stale:
            path.write_text(text)
            print(f"wrote {path.relative_to(ROOT)}")
    print(f"gen_coverage: done in {time.monotonic() - start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main())
