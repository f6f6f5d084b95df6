"""Runs extend: a run to N frames, then the same run to 2N (fresh processes), equals a run that went
straight to 2N: the same progress rows (all columns but fps / wall_s; plus the evaluation at N)
and the same final checkpoint, weights, optimizer, counters and (DQN) replay bit for bit."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tensorflow as tf

from artifact.experiment.schedule import fixed_eval_points
from artifact.training.progress import TIMING_COLUMNS

REPO = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow

# One run in a fresh process: the short-scale spec (paper schedules, points fixed in frames) with
# cheaper evaluations and a denser progress log, so that the test takes seconds.
_RUN = """
import dataclasses, json, sys
from artifact.training import runner
from artifact.experiment.runspec import make_run_spec
a = json.loads(sys.argv[1])
spec = make_run_spec(a["figure"], a["game"], a["condition"], 0, "short", a["frames"],
                     a["overrides"])
spec = dataclasses.replace(spec, eval_games=2, eval_max_frames=2_000,
                           log_every_frames=a["log_every"])
done = runner.run(spec, a["dir"], on_event=lambda e: None)
print(json.dumps(done))
"""


def _start(run_dir: Path, frames: int, **kw) -> subprocess.Popen:
  """The run to `frames` in a fresh process (see _RUN), started."""
  args = dict(kw, frames=frames, dir=str(run_dir))
  return subprocess.Popen([sys.executable, "-c", _RUN, json.dumps(args)], cwd=REPO, text=True,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _done(proc: subprocess.Popen) -> dict:
  """The done.json of a run started by `_start`, once its process ends."""
  stdout, stderr = proc.communicate(timeout=900)
  assert proc.returncode == 0, stdout[-3000:] + stderr[-3000:]
  return json.loads(stdout.strip().splitlines()[-1])


def _final_variables(run_dir: Path, frames: int) -> dict:
  prefix = str(run_dir / "checkpoint" / f"ckpt-{frames}")
  reader = tf.train.load_checkpoint(prefix)
  names = [n for n, _ in tf.train.list_variables(prefix)
           if "save_counter" not in n and n != "_CHECKPOINTABLE_OBJECT_GRAPH"]
  return {n: reader.get_tensor(n) for n in names}


def _compare(tmp_path, n_frames: int, per_update: int, **kw):
  straight, extended = tmp_path / "straight", tmp_path / "extended"
  # the run straight to 2N trains beside the first part of the extended one (separate processes
  # and directories: nothing shared)
  straight_proc, first_proc = _start(straight, 2 * n_frames, **kw), _start(extended, n_frames, **kw)
  first = _done(first_proc)
  assert first["frames"] == n_frames and first["extendable"]
  done = _done(_start(extended, 2 * n_frames, **kw))
  assert done["extended_from"] == n_frames and done["frames"] == 2 * n_frames
  _done(straight_proc)
  a = pd.read_csv(straight / "progress.csv")
  b = pd.read_csv(extended / "progress.csv")
  # the extended run has every row of the straight one, plus the evaluation at N
  assert set(a["frames"]) <= set(b["frames"]), (a["frames"].tolist(), b["frames"].tolist())
  extra = sorted(set(b["frames"]) - set(a["frames"]))
  assert extra in ([], [n_frames])
  assert b.loc[b["frames"] == n_frames, "eval_return"].notna().all()
  cols = [c for c in a.columns if c not in TIMING_COLUMNS and not c.startswith("eval_")]
  b_same = b[b["frames"].isin(a["frames"])].reset_index(drop=True)
  pd.testing.assert_frame_equal(a[cols], b_same[cols], check_exact=True)
  # evaluations at the shared points: the same games and scores (seeded by frame point)
  evals = [c for c in a.columns if c.startswith("eval_")]
  at = a["eval_return"].notna()
  pd.testing.assert_frame_equal(a.loc[at, evals].reset_index(drop=True),
                                b_same.loc[at, evals].reset_index(drop=True), check_exact=True)
  assert at.sum() >= 1 and a["train_games"].iloc[-1] > 0
  va, vb = _final_variables(straight, 2 * n_frames), _final_variables(extended, 2 * n_frames)
  assert va.keys() == vb.keys() and len(va) > 10
  different = [k for k in va if not np.array_equal(va[k], vb[k])]
  assert not different, different[:10]
  return a, b


def test_a2c_run_extended_to_2n_equals_a_run_straight_to_2n(tmp_path):
  # Breakout: life losses, FIRE after each, finished games inside both halves
  a, b = _compare(tmp_path, 9_600, 320, figure=1, game="Breakout", condition="a2c_1step",
                  overrides={}, log_every=1_600)
  assert a["frames"].tolist()[:3] == [1_600, 3_200, 4_800]


def test_dqn_run_extended_to_2n_equals_a_run_straight_to_2n(tmp_path):
  # learning starts inside the first half; the replay, epsilon, exploration and replay-sampling
  # streams all cross the boundary
  _compare(tmp_path, 3_200, 16, figure=2, game="Pong", condition="dqn",
           overrides=dict(learning_starts=400, replay_capacity=5_000), log_every=800)


def test_fixed_points_do_not_depend_on_the_budget():
  assert fixed_eval_points(3_000_000) == [250_000, 500_000, 750_000, 1_000_000, 1_500_000,
                                          2_000_000, 2_500_000, 3_000_000]
  assert fixed_eval_points(2_100_000) == fixed_eval_points(3_000_000)[:6] + [2_100_000]
  long = fixed_eval_points(320_000_000)
  assert long[:8] == fixed_eval_points(3_000_000)[:8] and long[-1] == 320_000_000
  assert len(long) == 4 + 8 + 5 + 12 + 28
