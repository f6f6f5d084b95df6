#!/usr/bin/env bash
# The test suite. Creates .venv from requirements.txt on first use; extra args go to pytest.
set -euo pipefail
cd "$(dirname "$0")"
source scripts/ensure_venv.sh
exec .venv/bin/python -m pytest "$@"
