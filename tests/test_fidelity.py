"""Fidelity to the paper's setup: TF1 RMSProp, independent seeds, runs that are pure functions of
their spec, Figure 3's pg trained once, evaluations per run, FIRE after a life loss, kill safety."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tensorflow as tf
from tf_agents.environments import tf_py_environment
from tf_agents.trajectories import trajectory

from artifact import conditions, runner, trainers
from artifact.progress import COLUMNS, TIMING_COLUMNS
from artifact.schedule import eval_updates
from artifact.seeding import run_seeds
from artifact.specs import A2CHparams, FIGURES, SCALES, find_condition, make_run_spec
from envs import make_atari_env, make_cartpole_env

REPO = Path(__file__).resolve().parents[1]
HP = A2CHparams()


# --- 1. RMSProp starts its mean square at 1 (TF1 / openai/baselines) ----------------------------
def _cartpole_a2c():
  env = make_cartpole_env(4, seed=0)
  tf_env = tf_py_environment.TFPyEnvironment(env)
  agent = conditions.build_a2c_agent(find_condition("a2c_1step"), tf_env.time_step_spec(),
                                     tf_env.action_spec(), env.observation_spec(), env.num_actions, HP,
                                     decay_updates=100, seed=3)
  rng = np.random.default_rng(0)
  B, T = 4, 6
  exp = trajectory.Trajectory(
      step_type=tf.ones([B, T], tf.int32), observation=tf.constant(rng.normal(size=(B, T, 4)), tf.float32),
      action=tf.constant(rng.integers(0, 2, (B, T))), policy_info=(),
      next_step_type=tf.ones([B, T], tf.int32), reward=tf.constant(rng.normal(size=(B, T)), tf.float32),
      discount=tf.ones([B, T]))
  return agent, exp


def test_first_update_equals_tf1_rmsprop_numpy_reference():
  agent, exp = _cartpole_a2c()
  variables = agent.network.trainable_variables
  before = [v.numpy().astype(np.float64) for v in variables]
  with tf.GradientTape() as tape:
    loss = agent._loss(exp, training=True).loss
  grads, _ = tf.clip_by_global_norm(tape.gradient(loss, variables), HP.max_grad_norm)
  agent.train(exp)
  lr, rho, eps = HP.lr, HP.rmsprop_rho, HP.rmsprop_eps
  for v, b, g in zip(variables, before, grads):
    g = g.numpy().astype(np.float64)
    ms = rho * 1.0 + (1 - rho) * g ** 2              # TF1 RMSPropOptimizer: ms starts at 1
    expected = b - lr * g / np.sqrt(ms + eps)        # epsilon inside the square root
    np.testing.assert_allclose(v.numpy(), expected, rtol=1e-5, atol=1e-9)
  # Keras' RMSprop (ms from 0) would have moved every entry by about lr, far more
  big = max(np.abs(v.numpy() - b).max() for v, b in zip(variables, before))
  assert big < 0.2 * lr


def test_optimizer_reset_returns_to_the_start_state():
  agent, exp = _cartpole_a2c()
  agent.train(exp)
  opt = agent._optimizer
  assert int(opt.iterations.numpy()) == 1 and any((v.numpy() != 1).any() for v in opt._velocities)
  opt.reset()
  assert int(opt.iterations.numpy()) == 0
  assert all((v.numpy() == 1).all() for v in opt._velocities)


# --- 2. Seeds: one SeedSequence per run seed, no env seed shared between run seeds ----------------
def test_run_seeds_share_no_env_seed_and_are_stable():
  seen = {}
  for s in range(100):
    seeds = run_seeds(s, 16)
    envs = list(seeds.train_env) + [int(x) for k in range(3) for x in seeds.eval_env(10, k)]
    assert len(set(envs)) == len(envs)                       # within a run
    for e in envs:
      assert seen.setdefault(e, s) == s, f"env seed {e} shared by run seeds {seen[e]} and {s}"
    assert all(0 <= e < 2 ** 31 for e in envs)
  assert run_seeds(1, 16) == run_seeds(1, 16)                # a pure function of the run seed
  assert run_seeds(1, 16).network != run_seeds(2, 16).network
  with pytest.raises(ValueError, match="run seed must be >= 0"):
    run_seeds(-1, 16)


def test_conditions_of_one_seed_share_env_and_weight_seeds():
  # common random numbers across conditions: seeds depend on the run seed only
  a = make_run_spec(1, "Pong", "a2c_1step", 2, "smoke")
  b = make_run_spec(3, "Pong", "soft_ql", 2, "smoke")
  assert run_seeds(a.seed, 16) == run_seeds(b.seed, 16)


# --- 3. A run is a pure function of its spec -------------------------------------------------------
ALONE = """
import sys, json
sys.path.insert(0, {repo!r})
from artifact import runner
from artifact.specs import make_run_spec
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
  for name in ("alone1", "alone2"):                     # fresh processes, seed 1 only
    code = ALONE.format(repo=str(REPO), fig=fig, cond=cond, frames=frames, out=str(tmp_path / name))
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, timeout=300)
  grid = _table(tmp_path / "grid" / rel / "progress.csv")
  assert grid["eval_return"].notna().sum() >= 5 and grid["loss"].notna().sum() >= 3
  pd.testing.assert_frame_equal(grid, _table(tmp_path / "alone1" / "progress.csv"))
  pd.testing.assert_frame_equal(_table(tmp_path / "alone1" / "progress.csv"),
                                _table(tmp_path / "alone2" / "progress.csv"))
  seed0 = _table(tmp_path / "grid" / make_run_spec(fig, "Pong", cond, 0, "smoke", frames).relpath() / "progress.csv")
  assert not seed0["loss"].equals(grid["loss"])         # and seed 0 really is another run
  # the reused trainer exported seed 1's policy from its kept graph part plus a weights
  # checkpoint; the fresh process did a full PolicySaver.save: the same policy either way
  assert [t._graph_files for t in trainers._CACHE.values()][0]   # pylint: disable=protected-access
  _assert_same_policy(tmp_path / "grid" / rel / "policy", tmp_path / "alone1" / "policy")


def _assert_same_policy(a_dir, b_dir):
  """Two exported SavedModels: the same variables, the same actions on the same Pong games."""
  from tf_agents.policies.py_tf_eager_policy import SavedModelPyTFEagerPolicy
  va, vb = ([v.numpy() for v in tf.saved_model.load(str(d)).model_variables] for d in (a_dir, b_dir))
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
@pytest.mark.parametrize("condition,env_groups", [("a2c_1step", "1"), ("a2c_1step", "2"), ("dqn", "1")])
def test_reused_trainer_starts_like_a_fresh_one(condition, env_groups, monkeypatch):
  monkeypatch.setenv(trainers.ENV_GROUPS_VAR, env_groups)   # 2: the overlapped A2C collection
  fig = 1 if condition == "a2c_1step" else 2
  s0 = make_run_spec(fig, "Breakout", condition, 0, "smoke", 1600)
  s1 = make_run_spec(fig, "Breakout", condition, 1, "smoke", 1600)
  trainers.close_all()
  t = trainers.acquire(s0)
  if condition == "a2c_1step":
    assert t.loop.overlapped == (env_groups == "2")
  for _ in range(30):
    t.update()
  trainers.release(s0, t)
  reused = trainers.acquire(s1)
  assert reused is t
  slots = lambda o: [o.iterations] + list(o._velocities) + list(getattr(o, "_momentums", []))
  state = lambda tr: ([v.numpy() for v in slots(tr.agent._optimizer)],
                      [v.numpy() for v in tr.agent.trainable_variables],
                      int(tr.agent.train_step_counter.numpy()))
  r_opt, r_w, r_step = state(reused)
  r_replay = reused.loop.replay.size if condition == "dqn" else None
  first_reused = [reused.update() for _ in range(3)][-1]
  trainers.close_all()
  fresh = trainers.acquire(s1)
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
  trainers.close_all()


# --- 4. Figure 3's pg is Figure 1's a2c_proper ---------------------------------------------------
def test_pg_is_the_a2c_proper_run():
  pg = make_run_spec(3, "Seaquest", "pg", 2, "short")
  proper = make_run_spec(1, "Seaquest", "a2c_proper", 2, "short")
  assert pg == proper and pg.relpath() == "figure1/Seaquest/a2c_proper/seed2"


# --- 5. At least 5 evaluations per run at every scale ---------------------------------------------
@pytest.mark.parametrize("scale", list(SCALES))
def test_every_run_has_at_least_five_evaluations(scale):
  for f, fig in FIGURES.items():
    cond = fig.conditions[0]
    spec = make_run_spec(f, fig.games[0], cond.name, 0, scale)
    per_update = (spec.hparams.n_steps * spec.hparams.num_envs * 4 if cond.family == "a2c"
                  else spec.hparams.train_period * 4)
    updates = -(-spec.frames // per_update)
    at = eval_updates(spec.eval_schedule, spec.frames, per_update)
    assert len(at) >= 5 and at[-1] == updates, (scale, f)


# --- 6. FIRE after a life loss in training (baselines FireResetEnv under EpisodicLifeEnv) ---------
def test_fire_is_pressed_after_a_life_loss_so_noop_breakout_games_end():
  env = make_atari_env("Breakout", 2, seed=[5, 9], reuse=False, max_frames_per_game=20_000)
  env.reset()
  games = []
  for _ in range(1200):
    env.step(np.zeros(2, np.int64))                    # the agent never presses FIRE
    games += env.pop_finished_games()
  env.close()
  # 5 lives, each served by the adapter's FIRE: whole games end in ~125 agent steps
  assert len(games) >= 4 and all(g.agent_steps < 400 for g in games)
  stalled = make_atari_env("Breakout", 1, seed=[5], reuse=False, life_loss_terminal=False,
                           max_frames_per_game=20_000)   # evaluation envs: no FIRE after life loss
  stalled.reset()
  for _ in range(600):
    stalled.step(np.zeros(1, np.int64))
  assert stalled.pop_finished_games() == []             # baselines' eval stalls the same way
  stalled.close()


# --- 7. Kill safety: an evaluation's row is written before its checkpoint ------------------------
@pytest.mark.slow
def test_eval_row_survives_a_kill_before_the_checkpoint(tmp_path, monkeypatch):
  spec = make_run_spec(1, "Pong", "a2c_1step", 0, "smoke", 1600)
  run_dir = tmp_path / spec.relpath()

  def killed(self, reason="evaluation", keep=2):
    raise KeyboardInterrupt(f"killed between the row and the {reason} checkpoint")
  monkeypatch.setattr(runner.Run, "checkpoint", killed)
  with pytest.raises(KeyboardInterrupt):
    runner.run(spec, run_dir, on_event=lambda e: None)
  rows = pd.read_csv(run_dir / "progress.csv")
  assert rows["eval_return"].notna().sum() == 1 and list(rows.columns) == COLUMNS
  monkeypatch.undo()
  trainers.close_all()
  runner.run(spec, run_dir, on_event=lambda e: None)          # no checkpoint yet: restarts from 0
  rows = pd.read_csv(run_dir / "progress.csv")
  assert rows["frames"].is_unique and rows["frames"].max() == 1600
  assert rows["eval_return"].notna().sum() == 5
  assert json.loads((run_dir / "done.json").read_text())["frames"] == 1600


# --- 8. One process per run directory ------------------------------------------------------------
@pytest.mark.slow
def test_a_run_directory_is_trained_by_one_process_at_a_time(tmp_path):
  from artifact.runner import lock_run_dir
  held = subprocess.Popen([sys.executable, "-c", (
      "import sys, time; sys.path.insert(0, %r)\n"
      "from pathlib import Path\nfrom artifact.runner import lock_run_dir\n"
      "lock = lock_run_dir(Path(%r)); print('locked', flush=True); time.sleep(60)") % (str(REPO), str(tmp_path))],
      stdout=subprocess.PIPE, text=True)
  try:
    assert held.stdout.readline().strip() == "locked"
    with pytest.raises(RuntimeError, match=f"being trained by pid {held.pid}"):
      lock_run_dir(tmp_path)
  finally:
    held.kill()
    held.wait()
  lock_run_dir(tmp_path).close()          # the kernel released the dead holder's lock


@pytest.mark.slow
def test_a_restored_optimizer_keeps_its_checkpointed_mean_squares(tmp_path):
  from tf_agents.utils import common
  agent, exp = _cartpole_a2c()
  for _ in range(3):
    agent.train(exp)
  saved = [v.numpy().copy() for v in agent._optimizer._velocities]
  common.Checkpointer(str(tmp_path), max_to_keep=1, agent=agent).save(global_step=agent.train_step_counter)
  resumed, _ = _cartpole_a2c()                           # a new process's agent: slots not built
  common.Checkpointer(str(tmp_path), max_to_keep=1, agent=resumed).initialize_or_restore()
  resumed._optimizer.build(resumed.network.trainable_variables)
  assert int(resumed._optimizer.iterations.numpy()) == 3
  for v, s in zip(resumed._optimizer._velocities, saved):
    np.testing.assert_array_equal(v.numpy(), s)          # not reset to 1 by the TF1 start value
