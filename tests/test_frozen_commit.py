"""A run computes what the frozen commit that trained the reference runs computed.

Smoke runs of `dqn`, `soft_dqn_kl_0.1`, `dqn_nstep` (Figure 2), `a2c_1step` (Figure 1) and
`soft_ql` (Figure 3) on Breakout, seed 0, trained by this tree and by the frozen commit named in
reports/reference/RUN.md (tag campaign-1), side by side on this CPU with the same command, hold
identical progress.csv rows in every column but fps and wall time (scripts/compare_runs.py). The
check past DQN's learning starts, at 44,000 frames, is run by hand (docs/performance.md).
"""
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow   # trains ten smoke runs in two processes

REPO = Path(__file__).resolve().parent.parent
CONDITIONS = "dqn,soft_dqn_kl_0.1,dqn_nstep,a2c_1step,soft_ql"


def _frozen_commit() -> str:
  """The commit RUN.md says trained every reference run (40 hex digits)."""
  text = (REPO / "reports" / "reference" / "RUN.md").read_text()
  m = re.search(r"frozen code: commit `([0-9a-f]{40})`", text)
  assert m, "reports/reference/RUN.md names no frozen commit"
  return m.group(1)


def _extract(commit: str, dest: Path) -> None:
  """The commit's tree, as `git archive` writes it, under `dest`; skips when this checkout has no
  history holding it (a source archive, or a shallow clone)."""
  have = subprocess.run(["git", "-C", str(REPO), "cat-file", "-e", f"{commit}^{{commit}}"],
                        capture_output=True)
  if have.returncode != 0:
    pytest.skip(f"this checkout has no git history with the frozen commit {commit}")
  tar = dest.with_suffix(".tar")
  subprocess.run(["git", "-C", str(REPO), "archive", "--format=tar", "-o", str(tar), commit],
                 check=True)
  dest.mkdir()
  subprocess.run(["tar", "-x", "-f", str(tar), "-C", str(dest)], check=True)


def test_smoke_runs_equal_the_frozen_commits_bit_for_bit(tmp_path):
  frozen = _frozen_commit()
  _extract(frozen, tmp_path / "frozen")
  args = ["-m", "artifact", "--scale", "smoke", "--figures", "1,2,3", "--games", "Breakout",
          "--conditions", CONDITIONS, "--seeds", "0", "--no-theory", "--jobs", "1"]
  procs = {}
  for name, tree in (("here", REPO), ("frozen", tmp_path / "frozen")):
    log = open(tmp_path / f"{name}.log", "w")
    procs[name] = (subprocess.Popen([sys.executable, *args, "--out", str(tmp_path / name)],
                                    cwd=tree, stdout=log, stderr=subprocess.STDOUT), log)
  for name, (proc, log) in procs.items():
    rc = proc.wait(timeout=900)
    log.close()
    text = (tmp_path / f"{name}.log").read_text()
    assert rc == 0 and "5 runs ok, 0 failed" in text, f"{name}:\n{text[-4000:]}"
  out = subprocess.run([sys.executable, str(REPO / "scripts" / "compare_runs.py"),
                        str(tmp_path / "here" / "runs"), str(tmp_path / "frozen" / "runs")],
                       capture_output=True, text=True)
  assert out.returncode == 0 and "5 runs compared, 0 differ" in out.stdout, out.stdout + out.stderr
  assert out.stdout.count(": identical at ") == 5, out.stdout
