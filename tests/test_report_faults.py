"""A report that cannot be written (a full disk, here a file-size limit) is named, the grid's run
summary is still printed, the other reports are still written, and nothing written before is
lost or torn: every report file is written atomically under a unique temporary name."""
import resource
import signal
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow   # trains a tiny run in a subprocess


def _limit_file_size(limit: int):
  def apply():
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)     # a write past the limit fails with EFBIG
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
  return apply


def test_a_failing_report_is_named_and_loses_nothing(tmp_path):
  argv = [sys.executable, "-m", "artifact", "--figures", "1", "--games", "Pong", "--conditions",
          "a2c_1step", "--seeds", "0", "--frames", "640", "--jobs", "1", "--no-theory",
          "--out", str(tmp_path)]
  first = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=600)
  assert first.returncode == 0, first.stdout[-2000:] + first.stderr[-2000:]
  reports = tmp_path / "reports"
  before = {p.name: p.read_bytes() for p in reports.iterdir() if p.is_file()}
  assert before["figure1.pdf"][:4] == b"%PDF" and len(before["figure1.pdf"]) > 8_192
  # the same command again: the run is skipped, the reports are rewritten under an 8 KB limit
  second = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=600,
                          preexec_fn=_limit_file_size(8_192))
  out = second.stdout
  assert second.returncode == 1, out[-2000:] + second.stderr[-2000:]
  assert "REPORT FAILED figure 1" in out and "FAILED writing figure 1" in out
  assert "== finished in" in out and "1 runs ok, 0 failed" in out        # the run summary
  assert "claims: " in out                        # a later, small report was still written
  after = {p.name: p.read_bytes() for p in reports.iterdir() if p.is_file()}
  assert after["figure1.pdf"] == before["figure1.pdf"]     # the old figure, whole
  assert set(after) == set(before), set(after) ^ set(before)   # no temporary file left behind
  for name, data in after.items():                # every file complete: the old one or a new one
    if name.endswith(".pdf"):
      assert data.rstrip().endswith(b"%%EOF"), name
