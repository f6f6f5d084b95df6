"""The local executor (--jobs 2) survives real kills: a worker process killed with SIGKILL while
it trains is replaced and its run retried from its checkpoint; a run whose worker dies twice is
reported failed while the others finish and the reports are written; the grid process killed
alone leaves no worker and no lock behind, and the same command then finishes every run."""
import contextlib
import fcntl
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

REPO = Path(__file__).resolve().parent.parent
FRAMES = 19_200                  # 60 A2C updates of 320 frames: tens of seconds on a loaded machine
GRID_TIMEOUT_S = 1800


def _argv(out: Path, games: str, seeds: str):
  return [sys.executable, "-m", "artifact", "--figures", "1", "--games", games, "--conditions",
          "a2c_1step", "--seeds", seeds, "--frames", str(FRAMES), "--jobs", "2",
          "--checkpoint-every", "1", "--status-every", "30", "--no-theory", "--out", str(out)]


def _runs(games: str, seeds: str):
  return [f"figure1/{g}/a2c_1step/seed{s}" for g in games.split(",") for s in seeds.split(",")]


def _alive(pid: int) -> bool:
  """A process that exists and is not a zombie."""
  try:
    stat = Path(f"/proc/{pid}/stat").read_text()
  except (FileNotFoundError, ProcessLookupError):
    return False
  return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def _children(pid: int):
  kids = set()
  for f in Path(f"/proc/{pid}/task").glob("*/children"):
    try:
      kids |= {int(x) for x in f.read_text().split()}
    except FileNotFoundError:
      pass
  return kids


def _descendants(pid: int):
  out, todo = set(), [pid]
  while todo:
    for k in _children(todo.pop()):
      if k not in out:
        out.add(k)
        todo.append(k)
  return out


def _holder(run_dir: Path):
  """The pid written into the run directory's lock file by its last holder, or None."""
  try:
    m = re.match(r"pid (\d+)", (run_dir / ".lock").read_text())
  except FileNotFoundError:
    return None
  return int(m.group(1)) if m else None


def _training(grid: subprocess.Popen, out: Path, exclude_pids=(), need_checkpoint=True):
  """(run, worker pid) of a run that a live worker of `grid` holds, unfinished (with a
  checkpoint if `need_checkpoint`); None if there is none right now."""
  workers = _children(grid.pid)
  for d in sorted((out / "runs").glob("figure*/*/*/seed*")):
    rel = d.relative_to(out / "runs").as_posix()
    pid = _holder(d)
    if (pid in workers and pid not in exclude_pids and _alive(pid)
        and not (d / "done.json").exists()
        and (not need_checkpoint or any(d.glob("checkpoint/ckpt-*.index")))):
      return rel, pid
  return None


def _held_by_another_worker(grid: subprocess.Popen, run_dir: Path, old_pid: int):
  """(run directory, pid) when a live worker of `grid` other than `old_pid` holds `run_dir`'s lock;
  None if none does right now."""
  p = _holder(run_dir)
  return (run_dir, p) if p not in (None,
                                   old_pid) and _alive(p) and p in _children(grid.pid) else None


def _wait_for(what, grid, log: Path, timeout_s=900.0, poll_s=0.1):
  deadline = time.time() + timeout_s
  while True:
    got = what()
    if got:
      return got
    assert grid.poll() is None, "the grid ended early:\n" + log.read_text()[-4000:]
    assert time.time() < deadline, "timed out:\n" + log.read_text()[-4000:]
    time.sleep(poll_s)


def _sigkill_when(found, grid, log: Path, poll_s=0.1):
  """Waits (`_wait_for`) until `found()` names a process as (what, pid), kills that pid with
  SIGKILL (no warning) and returns (what, pid)."""
  what, pid = _wait_for(found, grid, log, poll_s=poll_s)
  os.kill(pid, signal.SIGKILL)
  return what, pid


@contextlib.contextmanager
def _grid(argv, log: Path, finish=True):
  """The grid process `argv` (its own session, output in `log`) for the body of a `with`. On leaving
  it, even on a failed assertion: if `finish`, the grid is waited for (up to GRID_TIMEOUT_S; its
  exit status is then grid.returncode); then, if it still runs, its whole process group is
  killed."""
  with open(log, "w") as f:
    grid = subprocess.Popen(argv, cwd=REPO, stdout=f, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
  try:
    yield grid
  finally:
    try:
      if finish:
        grid.wait(timeout=GRID_TIMEOUT_S)
    finally:
      if grid.poll() is None:
        os.killpg(grid.pid, signal.SIGKILL)
        grid.wait()


def _check_complete(out: Path, rel: str):
  d = out / "runs" / rel
  assert (d / "done.json").exists(), rel
  rows = pd.read_csv(d / "progress.csv")
  assert rows["frames"].is_unique and rows["frames"].is_monotonic_increasing, rel
  assert rows["frames"].max() == FRAMES and rows["eval_return"].notna().sum() == 5, rel


def _victim_of(log_text: str, pid: int) -> str:
  m = re.search(rf"worker process {pid} was killed by SIGKILL .*? while training (\S+): retrying",
                log_text)
  assert m, log_text[-4000:]
  return m.group(1)


@pytest.mark.slow
def test_a_killed_worker_is_replaced_and_its_run_retried_from_its_checkpoint(tmp_path):
  log = tmp_path / "grid.log"
  games, seeds = "Pong", "0,1,2"                         # 3 runs on 2 workers
  with _grid(_argv(tmp_path, games, seeds), log) as grid:
    rel, pid = _sigkill_when(lambda: _training(grid, tmp_path), grid, log)   # one worker, mid-run
  text = log.read_text()
  assert grid.returncode == 0, text[-4000:]
  victim = _victim_of(text, pid)
  assert "Traceback" not in text and "BrokenProcessPool" not in text
  for r in _runs(games, seeds):
    _check_complete(tmp_path, r)
  if victim == rel:                                      # killed after a checkpoint of this run
    assert f"{victim}: resuming from checkpoint at" in text, text[-4000:]
  assert "3 runs ok, 0 failed" in text
  report = pd.read_csv(tmp_path / "reports" / "figure1.csv")
  assert set(zip(report["game"], report["seed"])) == {("Pong", s) for s in (0, 1, 2)}
  assert (tmp_path / "reports" / "claims.csv").exists()


@pytest.mark.slow
def test_a_run_whose_worker_dies_twice_fails_and_the_grid_goes_on(tmp_path):
  runs = _runs("Pong", "0,1")
  argv = _argv(tmp_path, "Pong", "0,1")
  log = tmp_path / "grid.log"
  with _grid(argv, log) as grid:
    rel, pid = _sigkill_when(lambda: _training(grid, tmp_path), grid, log)
    victim = _wait_for(lambda: re.search(rf"worker process {pid} was killed by SIGKILL .*? while "
                                         rf"training (\S+): retrying", log.read_text()), grid,
                       log).group(1)
    # the retry, in a new worker, holds the run's lock as soon as it starts it: kill that one too
    d = tmp_path / "runs" / victim
    _, pid2 = _sigkill_when(lambda: _held_by_another_worker(grid, d, pid), grid, log, poll_s=0.02)
  text = log.read_text()
  assert grid.returncode == 1, text[-4000:]
  assert (f"FAILED {victim}: its worker process died 2 times while training it: worker process "
          f"{pid} was killed by SIGKILL, then worker process {pid2} was killed by SIGKILL "
          "(SIGKILL: "
          f"kill -9 or the kernel's out-of-memory killer)") in text, text[-4000:]
  assert "1 runs ok, 1 failed" in text and f"   FAILED {victim}: " in text     # cli's summary
  for r in runs:
    if r != victim:
      _check_complete(tmp_path, r)
  reports = tmp_path / "reports"
  assert (reports / "figure1.csv").exists() and (reports / "claims.csv").exists()
  # the same command again: the failed run resumes and finishes
  again = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=GRID_TIMEOUT_S)
  assert again.returncode == 0, again.stdout[-4000:] + again.stderr[-4000:]
  for r in runs:
    _check_complete(tmp_path, r)


@pytest.mark.slow
def test_a_killed_grid_leaves_no_worker_and_no_lock_and_reruns(tmp_path):
  runs = _runs("Pong", "0,1")
  argv = _argv(tmp_path, "Pong", "0,1")
  log = tmp_path / "grid.log"
  with _grid(argv, log, finish=False) as grid:            # killed below, not waited for
    first = _wait_for(lambda: _training(grid, tmp_path), grid, log)
    _wait_for(lambda: _training(grid, tmp_path, exclude_pids=(first[1],), need_checkpoint=False),
              grid, log)
    workers = _children(grid.pid)
    procs = _descendants(grid.pid)
    assert first[1] in workers and len(workers) >= 2
    os.kill(grid.pid, signal.SIGKILL)                    # the grid alone, not its process group
    grid.wait()
    deadline = time.time() + 10
    while any(_alive(p) for p in procs) and time.time() < deadline:
      time.sleep(0.1)
    left = [p for p in procs if _alive(p)]
    assert not left, [Path(f"/proc/{p}/cmdline").read_bytes() for p in left]
  for r in runs:                                         # every run directory's lock is free
    lock = tmp_path / "runs" / r / ".lock"
    if lock.exists():
      with open(lock, "a+") as f:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
  again = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=GRID_TIMEOUT_S)
  assert again.returncode == 0, again.stdout[-4000:] + again.stderr[-4000:]
  assert "resuming from checkpoint at" in again.stdout
  for r in runs:
    _check_complete(tmp_path, r)
