#!/usr/bin/env bash
# Set up (idempotent) and run the whole pipeline on the embedded synthetic scenes. Extra arguments go to `edgeseg demo`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/edgeseg demo "$@"
