#!/usr/bin/env bash
# README command 2: set up, then lint, build and test everything (Swift kernels, then Python).
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin="$(bash "$repo/tools/setup.sh" | tail -n 1)"
cd "$repo"

echo "==> ruff"
"$bin/ruff" check .
"$bin/ruff" format --check .

echo "==> generated files are fresh (kernel goldens, Swift adapters, op table, report schema, rule sweep)"
"$bin/python" tools/gen_kernel_goldens.py --check
"$bin/python" runtime_kernels/generate_layers.py --check
"$bin/python" tools/gen_op_docs.py --check
"$bin/python" tools/gen_report_schema_doc.py --check
"$bin/python" tools/gen_rule_sweep.py --check

echo "==> imports follow the layers"
"$bin/python" tools/import_layers.py

if command -v swift >/dev/null 2>&1; then
  echo "==> swift build && swift test (runtime_kernels)"
  (cd runtime_kernels && swift build && swift test --disable-swift-testing)
else
  echo "==> swift not found: skipping the Swift kernel tests" >&2
  [ "${CI:-}" = "true" ] && { echo "CI needs the Swift toolchain" >&2; exit 1; }
fi

if [ "${CI:-}" = "true" ]; then
  # The Core AI tests skip where coreai-core cannot be installed; CI must run them, in Apple's runtime.
  "$bin/python" -c "import coreai.authoring, coreai.runtime" || { echo "CI needs coreai-core (pip install bridgec[coreai])" >&2; exit 1; }
  # coreai-torch (Apple's converter, the dev extra) is what the Core AI benchmark and families tests measure.
  "$bin/python" -c "import coreai_torch" 2>/dev/null || { echo "CI needs coreai-torch (pip install -e .[dev])" >&2; exit 1; }
  # The HTML report's test renders it in a real browser; outside CI it skips without one.
  command -v chromium >/dev/null 2>&1 || { echo "CI needs headless Chromium (apt-get install chromium)" >&2; exit 1; }
fi

echo "==> pytest"
"$bin/python" -m pytest -n "${BRIDGEC_TEST_WORKERS:-2}" "$@"
