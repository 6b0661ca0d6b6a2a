#!/usr/bin/env bash
# Create .venv with everything the workbench needs, on a fresh machine with Python 3.11.
# Idempotent: a second run only checks. torch goes first, pinned, in its own pip call: a plain `torch`
# requirement would otherwise pull several GB of CUDA packages (see docs/performance.md, "The stack on this machine").
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null 2>&1 || PY=python3
"$PY" -c 'import sys; assert sys.version_info[:2] == (3, 11), f"Python 3.11 needed, found {sys.version}"'
if [ ! -x .venv/bin/python ]; then
    "$PY" -m venv .venv
fi
stamp=.venv/.workbench-installed
want="$(sha256sum pyproject.toml | cut -d' ' -f1)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    exit 0
fi
.venv/bin/pip install -q --upgrade pip
.venv/bin/pip install -q torch==2.13.0
.venv/bin/pip install -q -e ".[retrieval,scale,test]"
echo "$want" > "$stamp"
