"""A run is a pure function of its spec: seed 1 trained after seed 0 by the same (reused) trainer
equals seed 1 alone in a fresh process, twice, policy included; a reused trainer starts exactly
like a fresh one (weights, optimizer slots, counters, DQN replay, first updates)."""
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tensorflow as tf

from artifact.experiment.runspec import make_run_spec
from artifact.training import pool, runner
from artifact.training.progress import TIMING_COLUMNS
from envs.atari import make_atari_env

REPO = Path(__file__).resolve().parents[1]


ALONE = """
import sys, json
sys.path.insert(0, {repo!r})
from artifact.training import runner
from artifact.experiment.runspec import make_run_spec
spec = make_run_spec({fig}, "Pong", {cond!r}, 1, "smoke", {frames})
runner.run(spec, {out!r}, on_event=lambda e: None)
"""


def _table(path):
  df = pd.read_csv(path)
  return df.drop(columns=list(TIMING_COLUMNS))


@pytest.mark.slow
@pytest.mark.parametrize("fig,cond,frames", [(1, "a2c_proper", 1600), (2, "soft_dqn_kl_0.1", 1200)])
def test_seed1_after_seed0_equals_seed1_alone_and_repeats(tmp_path, fig, cond, frames):
  for seed in (0, 1):                                   # in this process, trainer reused for seed 1
    spec = make_run_spec(fig, "Pong", cond, seed, "smoke", frames)
    runner.run(spec, tmp_path / "grid" / spec.relpath(), on_event=lambda e: None)
  rel = make_run_spec(fig, "Pong", cond, 1, "smoke", frames).relpath()
  alone = [subprocess.Popen([sys.executable, "-c", ALONE.format(     # fresh processes, seed 1 only
      repo=str(REPO), fig=fig, cond=cond, frames=frames, out=str(tmp_path / name))],
      stdout=subprocess.PIPE, stderr=subprocess.STDOUT) for name in ("alone1", "alone2")]
  for p in alone:                                       # side by side: separate directories
    output = p.communicate(timeout=300)[0]
    assert p.returncode == 0, output.decode()[-3000:]
  grid = _table(tmp_path / "grid" / rel / "progress.csv")
  assert grid["eval_return"].notna().sum() >= 5 and grid["loss"].notna().sum() >= 3
  pd.testing.assert_frame_equal(grid, _table(tmp_path / "alone1" / "progress.csv"))
  pd.testing.assert_frame_equal(_table(tmp_path / "alone1" / "progress.csv"),
                                _table(tmp_path / "alone2" / "progress.csv"))
  seed0 = _table(tmp_path / "grid" / make_run_spec(fig, "Pong", cond, 0, "smoke", frames).relpath()
                 / "progress.csv")
  assert not seed0["loss"].equals(grid["loss"])         # and seed 0 really is another run
  # the reused trainer exported seed 1's policy from its kept graph part plus a weights
  # checkpoint; the fresh process did a full PolicySaver.save: the same policy either way
  assert [t._graph_files for t in pool._POOL.values()][0]
  _assert_same_policy(tmp_path / "grid" / rel / "policy", tmp_path / "alone1" / "policy")


def _assert_same_policy(a_dir, b_dir):
  """Two exported SavedModels: the same variables, the same actions on the same Pong games."""
  from tf_agents.policies.py_tf_eager_policy import SavedModelPyTFEagerPolicy
  va, vb = ([v.numpy() for v in tf.saved_model.load(str(d)).model_variables]
            for d in (a_dir, b_dir))
  assert len(va) == len(vb) > 0 and all(np.array_equal(x, y) for x, y in zip(va, vb))
  env = make_atari_env("Pong", num_envs=2, seed=5, reuse=False)
  pa, pb = (SavedModelPyTFEagerPolicy(str(d), env.time_step_spec(), env.action_spec(),
                                      batch_time_steps=False) for d in (a_dir, b_dir))
  t = env.reset()
  for _ in range(30):
    a = pa.action(t).action
    np.testing.assert_array_equal(a, pb.action(t).action)
    t = env.step(a)
  env.close()
  assert tf.saved_model.experimental.read_fingerprint(str(a_dir)).checkpoint_hash != 0


@pytest.mark.slow
@pytest.mark.parametrize("condition,env_groups",
                         [("a2c_1step", 1), ("a2c_1step", 2), ("dqn", None)])
def test_reused_trainer_starts_like_a_fresh_one(condition, env_groups):
  # env_groups 2: the overlapped A2C collection
  fig = 1 if condition == "a2c_1step" else 2
  s0 = make_run_spec(fig, "Breakout", condition, 0, "smoke", 1600)
  s1 = make_run_spec(fig, "Breakout", condition, 1, "smoke", 1600)
  pool.close_all()
  t = pool.acquire(s0, env_groups)
  if condition == "a2c_1step":
    assert t.loop.overlapped == (env_groups == 2)
  for _ in range(30):
    t.update()
  pool.release(s0, t)
  reused = pool.acquire(s1, env_groups)
  assert reused is t
  def slots(o):
    return [o.iterations] + list(o._velocities) + list(getattr(o, "_momentums", []))

  def state(tr):
    return ([v.numpy() for v in slots(tr.agent._optimizer)],
            [v.numpy() for v in tr.agent.trainable_variables],
            int(tr.agent.train_step_counter.numpy()))
  r_opt, r_w, r_step = state(reused)
  r_replay = reused.loop.replay.size if condition == "dqn" else None
  first_reused = [reused.update() for _ in range(3)][-1]
  pool.close_all()
  fresh = pool.acquire(s1, env_groups)
  assert fresh is not reused
  net = fresh.agent.network if condition == "a2c_1step" else fresh.agent._q_network
  fresh.agent._optimizer.build(net.trainable_variables)   # Keras builds its slots lazily
  f_opt, f_w, f_step = state(fresh)
  assert r_step == f_step == 0
  for a, b in zip(r_w, f_w):
    np.testing.assert_array_equal(a, b)
  assert len(r_opt) == len(f_opt)
  for a, b in zip(r_opt, f_opt):
    np.testing.assert_array_equal(a, b)
  if condition == "dqn":
    assert r_replay == fresh.loop.replay.size == 0
  first_fresh = [fresh.update() for _ in range(3)][-1]
  if first_fresh is not None:
    assert float(first_fresh.loss) == float(first_reused.loss)   # same data, same update
  pool.close_all()
