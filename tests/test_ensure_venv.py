"""scripts/ensure_venv.sh decides from contents, not file times: .venv/.installed records the
requirements file and the SHA-256 of it and pyproject.toml; touching them (a fresh clone beside
an existing .venv) installs nothing, editing one reinstalls, another requirements file (CPU <->
GPU) recreates .venv, an older one-line stamp is trusted by its file times and upgraded without
reinstalling. On a copy of the files with a fake python3.11 and pip that only log what they are
asked: nothing is installed, no network. Fast."""
import hashlib
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

FAKE_PYTHON = """#!/bin/sh
echo "python $*" >> "$FAKE_LOG"
case "$1" in
  -c) exit 0 ;;                                   # the 3.11 check
  -m) mkdir -p .venv/bin && cp "$FAKE_PIP" .venv/bin/pip && cp "$0" .venv/bin/python ;;
esac
"""
FAKE_PIP = """#!/bin/sh
echo "pip $*" >> "$FAKE_LOG"
"""


@pytest.fixture
def repo(tmp_path):
  """(a copy of the files ensure_venv.sh reads, run(env) -> (exit status, stdout, log lines))."""
  repo, fake = tmp_path / "repo", tmp_path / "bin"
  (repo / "scripts").mkdir(parents=True)
  fake.mkdir()
  for f in ("requirements.txt", "pyproject.toml", "scripts/ensure_venv.sh"):
    shutil.copy(ROOT / f, repo / f)
  (repo / "requirements-gpu.txt").write_text("tensorflow==2.15.1\n")
  for name, text in (("python3.11", FAKE_PYTHON), ("pip", FAKE_PIP)):
    (fake / name).write_text(text)
    (fake / name).chmod(0o755)
  log = tmp_path / "log"

  def run(**env):
    log.write_text("")
    done = subprocess.run(["/bin/bash", "-c", "set -euo pipefail; source scripts/ensure_venv.sh"],
                          cwd=repo, capture_output=True, text=True, timeout=60,
                          env={"PATH": f"{fake}:{os.environ['PATH']}", "FAKE_LOG": str(log),
                               "FAKE_PIP": str(fake / "pip"), **env})
    return done.returncode, done.stdout + done.stderr, log.read_text().splitlines()
  return repo, run


def _installs(lines):
  return sum(line.startswith("pip install --quiet -r ") for line in lines)


def _stamp(repo, req="requirements.txt"):
  h = hashlib.sha256((repo / req).read_bytes() + (repo / "pyproject.toml").read_bytes()).hexdigest()
  return f"{req}\ninputs-sha256 {h}\n"


def _touch(*paths):
  later = time.time() + 60
  for p in paths:
    os.utime(p, (later, later))


def test_a_fresh_venv_records_its_inputs_hash(repo):
  repo, run = repo
  status, out, log = run()
  assert status == 0, out
  assert _installs(log) == 1 and "pip install --quiet -r requirements.txt" in log
  assert (repo / ".venv" / ".installed").read_text() == _stamp(repo)


def test_newer_files_with_the_same_content_install_nothing(repo):
  repo, run = repo
  run()
  _touch(repo / "requirements.txt", repo / "pyproject.toml")      # a fresh clone's file times
  status, out, log = run()
  assert status == 0 and log == [] and "creating .venv" not in out


def test_an_edited_requirements_file_or_pyproject_reinstalls(repo):
  repo, run = repo
  run()
  with open(repo / "pyproject.toml", "a") as f:
    f.write("\n# edited\n")
  status, out, log = run()
  assert status == 0 and _installs(log) == 1 and "creating .venv" in out
  assert (repo / ".venv" / ".installed").read_text() == _stamp(repo)
  assert run()[2] == []                                            # and then it is fresh


def test_another_requirements_file_recreates_the_venv(repo):
  repo, run = repo
  run()
  (repo / ".venv" / "marker").write_text("")
  status, out, log = run(PG_SOFTQ_REQUIREMENTS="requirements-gpu.txt")
  assert status == 0
  assert ".venv was installed from requirements.txt; recreating it from requirements-gpu.txt" in out
  assert "pip install --quiet -r requirements-gpu.txt" in log
  assert not (repo / ".venv" / "marker").exists()
  assert (repo / ".venv" / ".installed").read_text() == _stamp(repo, "requirements-gpu.txt")


def test_a_one_line_stamp_is_upgraded_without_reinstalling_unless_older(repo):
  repo, run = repo
  run()
  stamp = repo / ".venv" / ".installed"
  stamp.write_text("requirements.txt\n")                           # the older form
  _touch(stamp)
  status, _, log = run()
  assert status == 0 and log == [] and stamp.read_text() == _stamp(repo)
  stamp.write_text("requirements.txt\n")
  _touch(repo / "requirements.txt")                                # newer than the old stamp
  status, _, log = run()
  assert status == 0 and _installs(log) == 1


def test_a_missing_requirements_file_is_refused(repo):
  _, run = repo
  status, out, _ = run(PG_SOFTQ_REQUIREMENTS="requirements-tpu.txt")
  assert status == 2 and "PG_SOFTQ_REQUIREMENTS=requirements-tpu.txt: no such file" in out
