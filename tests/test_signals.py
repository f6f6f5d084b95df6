"""Signals stop a grid gracefully: the first SIGTERM or SIGINT (Ctrl-C) makes every training run
checkpoint at its next update and stop, the grid prints one line with the command that resumes
it and exits 128 + the signal; a second signal stops at once. Real signals, real grids."""
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow   # processes, kills, Ray clusters or training

REPO = Path(__file__).resolve().parent.parent
RELS = [f"figure1/Pong/a2c_1step/seed{s}" for s in (0, 1)]


def _argv(out: Path, jobs: int, seeds="0,1"):
  # a budget no run reaches before the signal; --checkpoint-every long enough that only the
  # evaluations' checkpoints and the stop's own are written
  return [sys.executable, "-m", "artifact", "--figures", "1", "--games", "Pong", "--conditions",
          "a2c_1step", "--seeds", seeds, "--frames", "240000", "--out", str(out), "--jobs",
          str(jobs), "--checkpoint-every", "600", "--no-theory", "--status-every", "2"]


def _start(argv):
  # its own session (a terminal's Ctrl-C reaches its process group), SIGINT at its default
  # (a shell's background job starts with SIGINT ignored, and Python keeps it so)
  def preexec():
    os.setsid()
    signal.signal(signal.SIGINT, signal.SIG_DFL)
  return subprocess.Popen(argv, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, preexec_fn=preexec)


def _read_until(proc, pattern: str, timeout_s: float = 300.0) -> str:
  """Lines of `proc` up to and including the first that matches `pattern`."""
  seen, deadline = [], time.time() + timeout_s
  for line in proc.stdout:
    seen.append(line)
    if re.search(pattern, line):
      return "".join(seen)
    assert time.time() < deadline, "".join(seen)
  raise AssertionError(f"ended before {pattern!r}:\n" + "".join(seen))


def _until_training(proc, rels) -> str:
  """Lines of `proc` until each run of `rels` has reported frames > 0 (it has updated)."""
  seen, left = "", set(rels)
  while left:
    line = _read_until(proc, r"seed\d  frames [1-9][\d,]*/")
    seen += line
    left -= {r for r in left if re.search(re.escape(r) + r"  frames [1-9]", line)}
  return seen


def _stopped_frames(text: str) -> dict[str, int]:
  return {m[1]: int(m[2].replace(",", "")) for m in
          re.finditer(r"stopped (\S+): stopped by SIG\w+ at ([\d,]+) frames, checkpoint", text)}


def _check_stopped(out: Path, text: str, rc: int, sig: signal.Signals) -> dict[str, int]:
  assert rc == 128 + sig.value, text
  frames = _stopped_frames(text)
  assert sorted(frames) == RELS, text
  for rel, f in frames.items():
    run_dir = out / "runs" / rel
    assert f > 0 and (run_dir / "checkpoint" / f"ckpt-{f}.index").exists(), (rel, f)
    assert not (run_dir / "done.json").exists()
    rows = (run_dir / "progress.csv").read_text().splitlines()[1:]
    assert all(int(r.split(",")[4]) <= f for r in rows), rel     # no row past the checkpoint
  assert f"== stopped by {sig.name} after " in text
  assert "resume with the same command: ./run_all.sh --figures 1 --games Pong" in text
  assert not list(out.glob(".stop-*")), "the grid's stop file was left behind"
  return frames


def test_ctrl_c_then_sigterm_each_stop_every_run_at_a_checkpoint_that_resumes(tmp_path):
  # Ctrl-C as a terminal sends it: SIGINT to the grid and its workers at once
  proc = _start(_argv(tmp_path, jobs=2))
  _until_training(proc, RELS)
  os.killpg(proc.pid, signal.SIGINT)
  text = proc.stdout.read()
  proc.wait(timeout=120)
  first = _check_stopped(tmp_path, text, proc.returncode, signal.SIGINT)
  assert "== SIGINT: stopping: each training run writes a checkpoint" in text
  assert "FAILED" not in text and "Traceback" not in text, text
  threads = max(1, (os.cpu_count() or 1) // 2)          # --jobs 2: cores / 2 TF threads a worker
  for rel in RELS:
    config = json.loads((tmp_path / "runs" / rel / "config.json").read_text())
    assert config["tf_threads"] == dict(intra_op=threads, inter_op=threads)

  # the same command resumes both from those checkpoints; SIGTERM to the grid alone (a batch
  # scheduler's) reaches the workers through the stop file
  proc = _start(_argv(tmp_path, jobs=2))
  head = _read_until(proc, r"resuming from checkpoint at")
  head += _read_until(proc, r"resuming from checkpoint at")
  for rel, f in first.items():
    assert f"{rel}: resuming from checkpoint at {f:,} frames" in head, head
  _until_training(proc, RELS)
  os.kill(proc.pid, signal.SIGTERM)
  text = proc.stdout.read()
  proc.wait(timeout=120)
  second = _check_stopped(tmp_path, text, proc.returncode, signal.SIGTERM)
  assert all(second[r] > first[r] for r in RELS), (first, second)


def test_sigterm_stops_a_run_trained_in_the_grids_own_process(tmp_path):
  proc = _start(_argv(tmp_path, jobs=1, seeds="0"))
  _until_training(proc, RELS[:1])
  os.kill(proc.pid, signal.SIGTERM)
  text = proc.stdout.read()
  proc.wait(timeout=120)
  assert proc.returncode == 128 + signal.SIGTERM.value, text
  frames = _stopped_frames(text)
  assert list(frames) == RELS[:1], text
  assert "0 run(s) finished, 1 stopped at a checkpoint, 0 not started" in text
  assert (tmp_path / "runs" / RELS[0] / "checkpoint" / f"ckpt-{frames[RELS[0]]}.index").exists()


def test_a_second_signal_stops_the_grid_at_once(tmp_path):
  proc = _start(_argv(tmp_path, jobs=2))
  _read_until(proc, r"^== 2 runs")        # the workers are loading TensorFlow (seconds)
  os.kill(proc.pid, signal.SIGTERM)
  _read_until(proc, r"^== SIGTERM: stopping", timeout_s=30)
  t = time.time()
  os.kill(proc.pid, signal.SIGTERM)
  text = proc.stdout.read()
  proc.wait(timeout=30)
  assert time.time() - t < 10
  assert proc.returncode == -signal.SIGTERM, text          # ended by the signal itself
  assert "== second SIGTERM: stopping at once; the runs resume from their last checkpoints" in text
  # its workers went with it (they end with the grid's process)
  deadline = time.time() + 15
  while time.time() < deadline and _workers_of(proc.pid):
    time.sleep(0.2)
  assert not _workers_of(proc.pid)


def _workers_of(grid_pid: int) -> list[int]:
  """Live processes whose command line names the grid's worker entry point and whose parent was
  `grid_pid` (re-parented ones included: matched by their session)."""
  found = []
  for d in Path("/proc").iterdir():
    if not d.name.isdigit():
      continue
    try:
      stat = (d / "stat").read_text().rsplit(")", 1)[1].split()
      cmd = (d / "cmdline").read_bytes()
    except OSError:
      continue
    if int(stat[3]) == grid_pid and b"multiprocessing" in cmd and stat[0] != "Z":
      found.append(int(d.name))
  return found
