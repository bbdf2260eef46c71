#!/usr/bin/env bash
# Idempotent set-up: ./.venv with edgeseg (editable) and its dev/test dependencies.
# Machines without an NVIDIA GPU get the CPU build of torch first (a bare `torch` requirement would
# pull a multi-GB CUDA build). Set EDGESEG_TORCH_INDEX to PyTorch's CPU wheel index if your pip does
# not already find a CPU build of torch 2.13.0.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
PIP=(.venv/bin/python -m pip -q --disable-pip-version-check)
if ! .venv/bin/python -c "import torch" >/dev/null 2>&1; then
  if command -v nvidia-smi >/dev/null 2>&1; then
    "${PIP[@]}" install "torch>=2.1,<2.15"
  else
    "${PIP[@]}" install torch==2.13.0 ${EDGESEG_TORCH_INDEX:+--index-url "$EDGESEG_TORCH_INDEX"}
  fi
fi
"${PIP[@]}" install -e ".[dev]"
