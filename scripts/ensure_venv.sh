# Sourced by run_all.sh and test.sh: create .venv from requirements.txt (or the file named by
# PG_SOFTQ_REQUIREMENTS, e.g. requirements-gpu.txt) if missing or stale, and install this
# repository into it (`pip install -e .`: `import agents, envs, artifact` from any
# directory, and the `pg-softq` command, the same as ./run_all.sh).
# Stale: .venv/.installed (line 1: the requirements file installed; line 2: "inputs-sha256 H",
# the SHA-256 of that file's content followed by pyproject.toml's) does not match the files'
# contents now. Contents, not file times: a fresh clone beside an existing .venv, or a touched
# file, is no reason to reinstall. A stamp of the older one-line form is trusted as before (the
# files no newer than it) and upgraded to the hash without reinstalling.
REQ="${PG_SOFTQ_REQUIREMENTS:-requirements.txt}"
if [ ! -f "$REQ" ]; then
  echo "error: PG_SOFTQ_REQUIREMENTS=$REQ: no such file (requirements.txt or requirements-gpu.txt)" >&2
  exit 2
fi
# the SHA-256 (hex) of $REQ's content then pyproject.toml's: sha256sum, shasum or Python
inputs_sha256() {
  if command -v sha256sum >/dev/null 2>&1; then cat "$REQ" pyproject.toml | sha256sum | cut -d' ' -f1
  elif command -v shasum >/dev/null 2>&1; then cat "$REQ" pyproject.toml | shasum -a 256 | cut -d' ' -f1
  else .venv/bin/python -c 'import hashlib, sys; print(hashlib.sha256(b"".join(open(f, "rb").read() for f in sys.argv[1:])).hexdigest())' "$REQ" pyproject.toml
  fi
}
INSTALLED_FROM="$(head -n 1 .venv/.installed 2>/dev/null || true)"
INSTALLED_HASH="$(sed -n 's/^inputs-sha256 //p' .venv/.installed 2>/dev/null || true)"
if [ -n "$INSTALLED_FROM" ] && [ "$INSTALLED_FROM" != "$REQ" ]; then
  # another requirements file (CPU <-> GPU TensorFlow): two TF builds must not mix in one venv
  echo "== .venv was installed from $INSTALLED_FROM; recreating it from $REQ"
  rm -rf .venv
  INSTALLED_FROM="" INSTALLED_HASH=""
fi
STALE=""
if [ ! -x .venv/bin/python ] || [ ! -f .venv/.installed ]; then
  STALE=yes
elif [ -n "$INSTALLED_HASH" ]; then
  [ "$INSTALLED_HASH" = "$(inputs_sha256)" ] || STALE=yes
elif [ "$REQ" -nt .venv/.installed ] || [ pyproject.toml -nt .venv/.installed ]; then
  STALE=yes                      # a one-line stamp: the file times, as it was written
else
  printf '%s\ninputs-sha256 %s\n' "$REQ" "$(inputs_sha256)" > .venv/.installed
fi
if [ -n "$STALE" ]; then
  # any Python 3.11: on PATH under any of these names, the Windows launcher's, or one uv manages
  is311() { "$@" -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else 1)' >/dev/null 2>&1; }
  PY=""
  for c in python3.11 python3 python; do
    if command -v "$c" >/dev/null 2>&1 && is311 "$c"; then PY="$c"; break; fi
  done
  if [ -z "$PY" ] && command -v py >/dev/null 2>&1 && is311 py -3.11; then
    PY="$(py -3.11 -c 'import sys; print(sys.executable)')"
  fi
  if [ -z "$PY" ] && command -v uv >/dev/null 2>&1; then
    c="$(uv python find 3.11 2>/dev/null || true)"
    if [ -n "$c" ] && is311 "$c"; then PY="$c"; fi
  fi
  if [ -z "$PY" ]; then
    echo "error: Python 3.11 is required (TF 2.15 and tf-agents 0.19; docs/protocol.md section 1) and none was found (python3.11, python3, python, py -3.11, uv); install one, e.g. 'uv python install 3.11', pyenv, or your system's python3.11 package" >&2
    exit 2
  fi
  echo "== creating .venv with $PY and installing $REQ (first use only)"
  "$PY" -m venv .venv
  # pip's own notices go to a log, shown only if an install fails
  log=.venv/pip-install.log
  { .venv/bin/pip install --quiet --upgrade pip setuptools \
    && .venv/bin/pip install --quiet -r "$REQ" \
    && .venv/bin/pip install --quiet --no-deps --no-build-isolation -e . ; } >"$log" 2>&1 \
    || { cat "$log" >&2; echo "error: installing $REQ failed (log: $log)" >&2; exit 1; }
  printf '%s\ninputs-sha256 %s\n' "$REQ" "$(inputs_sha256)" > .venv/.installed
  echo "== .venv ready"
fi
export TF_CPP_MIN_LOG_LEVEL="${TF_CPP_MIN_LOG_LEVEL:-2}"
