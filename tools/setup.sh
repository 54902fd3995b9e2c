#!/usr/bin/env bash
# Create (once) and update the Python environment bridgec runs in, then install bridgec into it.
#
# The venv lives outside the repository (torch from PyPI is a multi-GB CUDA build): by default in
# ~/.cache/bridgec/venv, or wherever BRIDGEC_VENV points. Re-running is cheap when nothing changed.
# Prints the venv's bin directory as its last line.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${BRIDGEC_VENV:-$HOME/.cache/bridgec/venv}"
python="${PYTHON:-python3}"

if [ ! -x "$venv/bin/python" ]; then
  echo "setup: creating $venv (first run downloads torch, coremltools and onnxruntime: a few minutes)" >&2
  mkdir -p "$(dirname "$venv")"
  "$python" -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --upgrade pip >&2
fi
stamp="$venv/.bridgec-installed"
if [ ! -f "$stamp" ] || [ "$repo/pyproject.toml" -nt "$stamp" ] || [ "$(cat "$stamp")" != "$repo" ]; then
  echo "setup: installing bridgec and its pinned dependencies into $venv" >&2
  log="$(mktemp)"
  # setuptools lectures about the Swift folders shipped as package data: keep it out of sight unless pip fails.
  if ! "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -e "$repo[dev]" >"$log" 2>&1; then
    cat "$log" >&2
    rm -f "$log"
    exit 1
  fi
  rm -f "$log"
  echo "$repo" > "$stamp"
fi
echo "$venv/bin"
