#!/usr/bin/env bash
# Runs scripts/sb3_parity.py (stable-baselines3's A2C or DQN on our emulator) in its own
# virtualenv: .venv-sb3 (git-ignored), made from requirements-sb3.txt on first use, or the one
# SB3_VENV names. The project's .venv is never touched. Arguments go to sb3_parity.py (--help).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${SB3_VENV:-.venv-sb3}"
if [ ! -x "$VENV/bin/python" ] || ! cmp -s requirements-sb3.txt "$VENV/.installed"; then
  PY="$(command -v python3.11 || command -v python3)"
  echo "== creating $VENV with $PY from requirements-sb3.txt (first use only)" >&2
  "$PY" -m venv "$VENV"
  "$VENV/bin/pip" install --quiet -r requirements-sb3.txt > "$VENV/pip-install.log" 2>&1 \
    || { cat "$VENV/pip-install.log" >&2; echo "error: installing requirements-sb3.txt failed" >&2; exit 1; }
  cp requirements-sb3.txt "$VENV/.installed"
fi
exec "$VENV/bin/python" scripts/sb3_parity.py "$@"
