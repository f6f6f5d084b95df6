#!/usr/bin/env bash
# Reproduce every figure of arXiv:1704.06440 end to end. Creates .venv from requirements.txt
# on first use, then runs `python -m artifact "$@"` (see ./run_all.sh --help).
set -euo pipefail
cd "$(dirname "$0")"
source scripts/ensure_venv.sh

exec .venv/bin/python -m artifact "$@"
