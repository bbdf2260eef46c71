#!/usr/bin/env bash
# Set up (idempotent) and run the test suite. Extra arguments go to pytest.
# A run that dies of a signal (a native crash prints no pytest report) names the test it was in.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
trail=$(mktemp "${TMPDIR:-/tmp}/edgeseg-test-trail.XXXXXX")
trap 'rm -f "$trail"' EXIT
rc=0
EDGESEG_TEST_TRAIL="$trail" .venv/bin/python -X faulthandler -m pytest -q "$@" || rc=$?
if [ "$rc" -gt 128 ]; then
  echo "scripts/test.sh: pytest died of signal $((rc - 128)) ($(kill -l $((rc - 128)) 2>/dev/null || echo '?')) while running: $(cat "$trail" 2>/dev/null || echo 'no test yet')" >&2
fi
exit "$rc"
