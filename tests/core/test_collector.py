"""The command's collector policy (bridgec.core.collector): no collection while a watched library
imports, what it made frozen afterwards, and a Python program's collector left as it was."""

from __future__ import annotations

import json
import subprocess
import sys

# Runs in a fresh interpreter, so onnx really imports: prints what the collector looked like.
_PROBE = """
import gc, json, sys
from bridgec.core import collector, timing
if sys.argv[1] == "command":
    collector.freeze_after_imports()
timing.watch_imports()
before = gc.get_freeze_count()
import onnx
print(json.dumps({"frozen": gc.get_freeze_count() - before, "enabled": gc.isenabled(), "modules": len(sys.modules)}))
"""


def _probe(mode: str) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, mode], capture_output=True, text=True, check=True, timeout=120
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_the_command_freezes_what_a_library_import_made():
    probe = _probe("command")
    # onnx's modules, functions and classes: tens of thousands of objects out of every later collection
    assert probe["frozen"] > 10_000
    assert probe["enabled"]  # the conversion's own cyclic garbage is still collected


def test_a_python_program_keeps_its_collector():
    probe = _probe("library")
    assert probe["frozen"] == 0
    assert probe["enabled"]


def test_no_collection_runs_inside_an_import_and_a_disabled_collector_stays_off():
    script = """
import gc
from bridgec.core import collector
collector.freeze_after_imports()
runs = []
gc.callbacks.append(lambda phase, info: runs.append(phase))
with collector.importing():
    with collector.importing():  # a library importing another
        junk = [[] for _ in range(100_000)]
        assert not gc.isenabled()
    assert not gc.isenabled()  # still inside the outer import
assert gc.isenabled() and runs == [], runs
gc.disable()
with collector.importing():
    pass
assert not gc.isenabled()  # the caller had it off: it stays off
print("ok")
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "ok", done.stderr
