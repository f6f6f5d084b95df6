"""Runs survive kills: SIGKILL of the whole process group at random moments, clock checkpoints,
DQN replay in checkpoints, a damaged checkpoint falling back to the one before, an evaluation's
row written before its checkpoint, one process per run directory (a killed holder frees it)."""
import json
import os
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from artifact.experiment import schedule
from artifact.experiment.runspec import make_run_spec
from artifact.training import checkpoints, pool, runner
from artifact.training.progress import COLUMNS

from helpers import lock_held_by_another_process, train_updates

pytestmark = pytest.mark.slow   # processes, kills, Ray clusters or training

REPO = Path(__file__).resolve().parent.parent


def _rows(path: Path) -> int:
  try:
    return max(0, len(path.read_text().splitlines()) - 1)
  except FileNotFoundError:
    return 0


def _newest_checkpoint_mtime(ckpt_dir: Path) -> float:
  index = sorted(ckpt_dir.glob("ckpt-*.index"), key=lambda p: p.stat().st_mtime)
  return index[-1].stat().st_mtime if index else 0.0


def test_sigkilled_run_resumes_each_time_and_writes_every_row_once(tmp_path):
  every = 2.0                                          # --checkpoint-every, seconds
  # 375 A2C updates of 320 frames: 2.5x the training of three kills even on the fastest CPU
  # measured (~7,000 frames/s on an Intel Xeon with AMX trained 48,000 frames before the third
  # kill), so each kill lands while the run trains
  frames = 120_000
  spec = make_run_spec(1, "Pong", "a2c_1step", 0, "smoke", frames)
  run_dir = tmp_path / "runs" / spec.relpath()
  argv = [sys.executable, "-m", "artifact", "--figures", "1", "--games", "Pong", "--conditions",
          "a2c_1step", "--seeds", "0", "--frames", str(frames), "--out", str(tmp_path), "--jobs",
          "1",
          "--checkpoint-every", str(every), "--no-theory"]
  rng = np.random.default_rng(20261122)
  lost_s = []
  for _ in range(3):
    rows_before = _rows(run_dir / "progress.csv")
    proc = subprocess.Popen(argv, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)
    deadline = time.time() + 240
    while _rows(run_dir / "progress.csv") <= rows_before and proc.poll() is None:
      assert time.time() < deadline, "the run wrote no new row"
      time.sleep(0.05)
    assert proc.poll() is None, proc.stdout.read()
    time.sleep(rng.uniform(0.5, 3 * every))           # a random moment while training
    assert proc.poll() is None, "the run finished before it was killed: " + proc.stdout.read()
    os.killpg(proc.pid, signal.SIGKILL)                  # the whole process group, no warning
    killed_at = time.time()
    proc.wait()
    proc.stdout.close()
    lost_s.append(killed_at - _newest_checkpoint_mtime(run_dir / "checkpoint"))
  # the newest checkpoint at each kill was at most --checkpoint-every old (plus one update and
  # the save itself, well under a second here)
  assert max(lost_s) <= every + 1.5, lost_s
  print(f"\nseconds of training lost per kill (--checkpoint-every {every:g}): "
        + ", ".join(f"{x:.2f}" for x in lost_s))
  out = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=600)
  assert out.returncode == 0, out.stdout + out.stderr
  assert "resuming from checkpoint at" in out.stdout
  assert (run_dir / "done.json").exists()
  progress = pd.read_csv(run_dir / "progress.csv")
  # every row exactly once, and as many as an unkilled run writes (same logging schedule)
  assert progress["frames"].is_unique and progress["frames"].is_monotonic_increasing
  total = schedule.total_updates(frames, 320)
  evals = schedule.eval_updates(spec.eval_schedule, frames, 320)
  expected = sorted(u * 320 for u in range(1, total + 1)
                    if schedule.logs_row(u, 320, spec.log_every_frames) or u in evals or u == total)
  assert progress["frames"].tolist() == expected
  assert progress["eval_return"].notna().sum() == len(evals) == 5
  report = pd.read_csv(tmp_path / "reports" / "figure1.csv")
  assert len(report[report["condition"] == "a2c_1step"]) == len(expected)


def _dqn_run(tmp_path, frames=2_400):
  spec = make_run_spec(2, "Pong", "dqn", 0, "smoke", frames)
  run = runner.Run(spec, tmp_path / spec.relpath(), on_event=lambda e: None)
  run.prepare()
  run = runner.Training(run)
  return spec, run


def _replay_state(replay):
  storage = replay._storage
  arrays = [storage._array(i).copy() for i in range(len(storage._flat_specs))]
  frames = {h: (f.copy(), n) for h, (f, n) in replay._frame_buffer._frames.items()}
  return int(replay.size), int(replay._np_state.cur_id), arrays, frames


def test_dqn_replay_after_restore_equals_the_checkpointed_replay(tmp_path):
  pool.close_all()
  spec, run = _dqn_run(tmp_path)
  train_updates(run, 400)  # 1,600 agent steps: past learning_starts
  run.checkpoint("clock")
  size, cur, arrays, frames = _replay_state(run.trainer.loop.replay)
  assert size == 1600 and len(frames) > 100
  run.trainer.update()                                 # the replay moves on after the save
  run.run.lock.close()
  pool.close_all()                                 # a new process: a new trainer, empty replay
  spec2, resumed = _dqn_run(tmp_path)
  assert resumed.updates_done == 400
  size2, cur2, arrays2, frames2 = _replay_state(resumed.trainer.loop.replay)
  assert (size2, cur2) == (size, cur)
  for a, b in zip(arrays, arrays2):
    np.testing.assert_array_equal(a, b)
  assert frames2.keys() == frames.keys()
  for h, (f, n) in frames.items():
    np.testing.assert_array_equal(frames2[h][0], f)
    assert frames2[h][1] == n
  assert resumed.trainer.loop.learning_starts == spec.hparams.learning_starts   # no refill needed
  assert resumed.trainer.update() is not None          # trains at once from the restored replay
  resumed.run.lock.close()
  pool.close_all()
  # the frames are streamed to a file beside the TF checkpoint; without it the checkpoint is
  # incomplete and refused (here there is no older one to fall back to)
  checkpoint_dir = tmp_path / spec.relpath() / "checkpoint"
  frames_file = checkpoint_dir / f"ckpt-{400 * run.per_update}.replay-frames.npz"
  assert frames_file.stat().st_size > 100 * 84 * 84
  frames_file.write_bytes(frames_file.read_bytes()[:5000])          # torn
  with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    with pytest.raises(checkpoints.CheckpointLoadError, match="none of its 1 checkpoints loads"):
      _dqn_run(tmp_path)
  pool.close_all()


def test_a_damaged_checkpoint_falls_back_to_the_previous_one(tmp_path, monkeypatch):
  pool.close_all()
  spec = make_run_spec(1, "Pong", "a2c_1step", 0, "smoke", 1600)
  run_dir = tmp_path / spec.relpath()

  def killed(self):
    raise KeyboardInterrupt("killed before the final checkpoint")
  monkeypatch.setattr(runner.Training, "finish", killed)
  with pytest.raises(KeyboardInterrupt):
    runner.run(spec, run_dir, on_event=lambda e: None)
  monkeypatch.undo()
  names = sorted(p.name for p in run_dir.glob("checkpoint/ckpt-*.index"))
  assert names == ["ckpt-1280.index", "ckpt-960.index"]      # the newest two are kept
  for p in run_dir.glob("checkpoint/ckpt-1280.data-*"):
    p.write_bytes(b"\0" * 64)                                # damaged (e.g. a disk error)
  pool.close_all()
  events = []
  with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    done = runner.run(spec, run_dir, on_event=events.append)
  assert any("ckpt-1280 does not load" in str(w.message) for w in caught)
  started = [e for e in events if e.kind == "started"]
  assert started[0].frames == 960                           # the previous one, not zero
  assert done["frames"] == 1600
  rows = pd.read_csv(run_dir / "progress.csv")
  assert rows["frames"].is_unique and rows["eval_return"].notna().sum() == 5
  (run_dir / "done.json").unlink()
  for p in run_dir.glob("checkpoint/ckpt-*.data-*"):
    p.write_bytes(b"\0" * 64)                                # every checkpoint damaged
  pool.close_all()
  with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    with pytest.raises(checkpoints.CheckpointLoadError, match="none of its 1 checkpoints loads"):
      runner.run(spec, run_dir, on_event=lambda e: None)
  pool.close_all()


@pytest.mark.slow
def test_eval_row_survives_a_kill_before_the_checkpoint(tmp_path, monkeypatch):
  spec = make_run_spec(1, "Pong", "a2c_1step", 0, "smoke", 1600)
  run_dir = tmp_path / spec.relpath()

  def killed(self, reason="evaluation", keep=2):
    raise KeyboardInterrupt(f"killed between the row and the {reason} checkpoint")
  monkeypatch.setattr(runner.Training, "checkpoint", killed)
  with pytest.raises(KeyboardInterrupt):
    runner.run(spec, run_dir, on_event=lambda e: None)
  rows = pd.read_csv(run_dir / "progress.csv")
  assert rows["eval_return"].notna().sum() == 1 and list(rows.columns) == COLUMNS
  monkeypatch.undo()
  pool.close_all()
  runner.run(spec, run_dir, on_event=lambda e: None)          # no checkpoint yet: restarts from 0
  rows = pd.read_csv(run_dir / "progress.csv")
  assert rows["frames"].is_unique and rows["frames"].max() == 1600
  assert rows["eval_return"].notna().sum() == 5
  assert json.loads((run_dir / "done.json").read_text())["frames"] == 1600


@pytest.mark.slow
def test_a_run_directory_is_trained_by_one_process_at_a_time(tmp_path):
  from artifact.training.checkpoints import lock_run_dir
  with lock_held_by_another_process(tmp_path, 60) as held:
    with pytest.raises(RuntimeError, match=f"being trained by pid {held.pid}"):
      lock_run_dir(tmp_path)
  lock_run_dir(tmp_path).close()          # the kernel released the dead holder's lock
