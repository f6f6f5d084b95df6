"""One run = one (figure, game, condition, seed): a pure function of its `RunSpec` and run dir.

Phases (Dopamine-style): prepare dir -> build env, agent, loop -> restore checkpoint -> train
(collect + update, progress rows, periodic evaluation games, checkpoints) -> final evaluation ->
export the policy with `PolicySaver` -> `done.json`. Re-running a finished run is a no-op;
re-running a killed one resumes from its last checkpoint (network, optimizer and frame counter;
environments and DQN replay restart fresh, so resumed training is equivalent in distribution,
not bit-identical).

Run directory layout (`runs/figure{F}/{Game}/{condition}/seed{S}/`):
  config.json    the RunSpec (every hyperparameter used)
  progress.csv   one row per logged point: frames, train/eval raw game scores, fps, losses
  checkpoint/    tf-agents `Checkpointer` (agent, optimizer, counters)
  policy/        `PolicySaver` SavedModel of the final policy (load with
                 `tf_agents.policies.py_tf_eager_policy.SavedModelPyTFEagerPolicy`)
  done.json      written last: final numbers and wall time
"""
from __future__ import annotations

import csv
import json
import math
import time
from collections import deque
from pathlib import Path
from typing import Callable, Dict, List

import numpy as np
import tensorflow as tf
from tf_agents.policies import epsilon_greedy_policy, policy_saver
from tf_agents.specs import tensor_spec
from tf_agents.utils import common

from artifact import conditions
from artifact.a2c_loop import A2CLoop
from artifact.dqn_loop import DQNLoop
from artifact.specs import RunSpec
from envs import make_atari_env

PROGRESS_COLUMNS = ["figure", "game", "condition", "seed", "frames", "agent_steps", "train_return",
                    "train_games", "eval_return", "eval_std", "eval_games", "eval_truncated",
                    "fps", "wall_s", "loss", "entropy"]
TRAIN_RETURN_WINDOW = 100          # finished training games averaged (baselines `eprewmean`)
LOG_POINTS = 20                    # progress rows per run (at least)
EVAL_SEED_OFFSET = 10_000          # evaluation envs use seed + this, apart from the training envs


def evaluate(policy, py_env, num_games: int, max_frames: int) -> Dict[str, float]:
  """Plays `num_games` whole games (one per env of the batched `py_env`) with `policy`.

  Scores are raw game scores. A game stopped by the `max_frames` cap counts as truncated.
  Returns dict(eval_return, eval_std, eval_games, eval_truncated).
  """
  act = _compiled_action(policy)
  time_step = py_env.reset()
  py_env.pop_finished_games()
  first: Dict[int, object] = {}
  max_steps = max_frames // py_env.frames_per_step + 2
  for _ in range(max_steps):
    time_step = py_env.step(act(time_step))
    for g in py_env.pop_finished_games():
      first.setdefault(g.env_id, g)
    if len(first) >= num_games:
      break
  scores = np.array([g.score for g in first.values()], np.float64)
  truncated = sum(g.agent_steps * py_env.frames_per_step >= max_frames for g in first.values())
  return dict(eval_return=float(scores.mean()) if len(scores) else math.nan,
              eval_std=float(scores.std()) if len(scores) else math.nan,
              eval_games=int(len(scores)), eval_truncated=int(truncated))


def _compiled_action(policy):
  fn = getattr(policy, "_artifact_compiled_action", None)
  if fn is None:
    fn = tf.function(lambda t: policy.action(t).action, autograph=False)
    policy._artifact_compiled_action = fn  # pylint: disable=protected-access

  def act(time_step):
    return fn(tf.nest.map_structure(tf.convert_to_tensor, time_step)).numpy()
  return act


class _Progress:
  """progress.csv writer that survives a resume (rows past the restored frame are dropped)."""

  def __init__(self, path: Path, restored_frames: int):
    self.path = path
    rows: List[Dict] = []
    if path.exists() and restored_frames > 0:
      with open(path) as f:
        rows = [r for r in csv.DictReader(f) if int(r["frames"]) <= restored_frames]
    with open(path, "w", newline="") as f:
      w = csv.DictWriter(f, PROGRESS_COLUMNS)
      w.writeheader()
      w.writerows(rows)

  def write(self, row: Dict):
    with open(self.path, "a", newline="") as f:
      csv.DictWriter(f, PROGRESS_COLUMNS).writerow({k: row.get(k, "") for k in PROGRESS_COLUMNS})


def _fmt(x) -> str:
  return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.1f}"


def run(spec: RunSpec, run_dir, log: Callable[[str], None] = print, prefix: str = "") -> Dict:
  """Trains (or resumes, or skips if finished) one run; returns the contents of done.json.

  Raises ValueError if `run_dir` holds a different run's config.
  """
  run_dir = Path(run_dir)
  done_path = run_dir / "done.json"
  cfg_path = run_dir / "config.json"
  if cfg_path.exists():
    old = json.loads(cfg_path.read_text())
    new = json.loads(spec.to_json())
    if old != new:
      raise ValueError(f"{run_dir} holds a run with a different config; use another --out "
                       f"or delete that directory (differs in: "
                       f"{sorted(k for k in new if old.get(k) != new[k])})")
    if done_path.exists():
      log(f"{prefix}{spec.relpath()}: already finished, skipping")
      return json.loads(done_path.read_text())
  run_dir.mkdir(parents=True, exist_ok=True)
  cfg_path.write_text(spec.to_json())

  t_start = time.time()
  phases = {}
  tf.random.set_seed(spec.seed)
  np.random.seed(spec.seed)
  trainer = _acquire_trainer(spec)

  frames_var = tf.Variable(0, dtype=tf.int64, name="frames")
  ckpt = common.Checkpointer(str(run_dir / "checkpoint"), max_to_keep=1, agent=trainer.agent,
                             frames=frames_var, **trainer.extra_checkpoint_objects())
  ckpt.initialize_or_restore()
  frames = int(frames_var.numpy())
  if frames:
    log(f"{prefix}{spec.relpath()}: resuming from checkpoint at {frames:,} frames")
  trainer.on_restore(frames)
  progress = _Progress(run_dir / "progress.csv", frames)
  phases["build_s"] = time.time() - t_start

  per_update = trainer.frames_per_update
  total_updates = max(1, math.ceil(spec.frames / per_update))
  log_every = max(1, total_updates // LOG_POINTS)
  eval_at = {max(1, round(total_updates * (i + 1) / spec.evals_per_run)) for i in range(spec.evals_per_run)}
  eval_env = trainer.eval_env
  recent = deque(maxlen=TRAIN_RETURN_WINDOW)
  update = frames // per_update
  t_last, f_last = time.time(), frames
  loss_info = None
  t_eval = 0.0
  while update < total_updates:
    t_up = time.time()
    loss_info = trainer.update()
    if "first_update_s" not in phases:
      phases["first_update_s"] = time.time() - t_up
    update += 1
    frames = update * per_update
    recent.extend(g.score for g in trainer.env.pop_finished_games())
    if update % log_every == 0 or update in eval_at or update == total_updates:
      now = time.time()
      fps = (frames - f_last) / max(now - t_last, 1e-9)
      row = dict(figure=spec.figure, game=spec.game, condition=spec.condition, seed=spec.seed,
                 frames=frames, agent_steps=frames // trainer.env.frames_per_step,
                 train_return=float(np.mean(recent)) if recent else math.nan,
                 train_games=len(recent), fps=round(fps, 1), wall_s=round(now - t_start, 2))
      if loss_info is not None:
        row["loss"] = float(loss_info.loss)
        row["entropy"] = float(loss_info.extra["entropy"]) if isinstance(loss_info.extra, dict) else ""
      if update in eval_at:
        t_e = time.time()
        row.update(evaluate(trainer.eval_policy, eval_env, spec.eval_games, spec.eval_max_frames))
        if update < total_updates:           # the final checkpoint is written below
          frames_var.assign(frames)
          ckpt.save(global_step=frames_var)
        t_eval += time.time() - t_e
      progress.write(row)
      eta = (total_updates - update) * per_update / max(fps, 1e-9)
      log(f"{prefix}{spec.relpath()}  frames {frames:,}/{spec.frames:,} ({100 * frames / spec.frames:.0f}%)"
          f"  {fps:,.0f} fps  train return {_fmt(row['train_return'])} ({len(recent)} games)"
          + (f"  eval {_fmt(row['eval_return'])}" if "eval_return" in row else "")
          + f"  eta {eta:,.0f}s")
      t_last, f_last = time.time(), frames
  phases["train_loop_s"] = time.time() - t_start - phases["build_s"]
  phases["eval_and_checkpoint_s"] = t_eval
  t_save = time.time()
  frames_var.assign(frames)
  ckpt.save(global_step=frames_var)
  trainer.policy_saver().save(str(run_dir / "policy"))
  phases["save_s"] = time.time() - t_save
  _release_trainer(spec, trainer)
  done = dict(run=spec.relpath(), frames=frames, wall_s=round(time.time() - t_start, 2),
              final_train_return=float(np.mean(recent)) if recent else None,
              phases_s={k: round(v, 2) for k, v in phases.items()})
  done_path.write_text(json.dumps(done, indent=2))
  return done


# --- trainers: build once, reseed per run ---------------------------------------------------------
# Runs that differ only in their seed (the seeds of one figure/game/condition) share one trainer
# in a process: the networks get fresh weights from a network built with the new seed, optimizer
# slots and counters are zeroed, replay is emptied and the environments are reseeded, so a run
# starts exactly as it would in a new process (TF's own per-op random streams aside), without
# paying again for tracing the compiled collect/train steps and the policy export (~8 s a run).
_TRAINER_CACHE: Dict[str, object] = {}


def _structure_key(spec: RunSpec) -> str:
  d = json.loads(spec.to_json())
  d.pop("seed")
  return json.dumps(d, sort_keys=True)


def _acquire_trainer(spec: RunSpec):
  key = _structure_key(spec)
  trainer = _TRAINER_CACHE.pop(key, None)
  _close_cached()
  if trainer is None:
    return _A2CTrainer(spec) if spec.family == "a2c" else _DQNTrainer(spec)
  trainer.reseed(spec)
  return trainer


def _release_trainer(spec: RunSpec, trainer):
  _close_cached()
  _TRAINER_CACHE[_structure_key(spec)] = trainer


def _close_cached():
  for t in _TRAINER_CACHE.values():
    t.close()
  _TRAINER_CACHE.clear()


def _reset_optimizer(optimizer):
  for v in optimizer.variables:
    v.assign(tf.zeros_like(v))


class _TrainerBase:
  _saver = None

  def policy_saver(self):
    if self._saver is None:
      self._saver = policy_saver.PolicySaver(self.agent.policy, batch_size=None)
    return self._saver

  def close(self):
    self.env.close()
    self.eval_env.close()

  def _make_eval_env(self, spec: RunSpec):
    self.eval_env = make_atari_env(spec.game, spec.eval_games, seed=spec.seed + EVAL_SEED_OFFSET,
                                   life_loss_terminal=False, max_frames_per_game=spec.eval_max_frames)

  def _tf_specs(self):
    """(time_step_spec, action_spec) of the training env as TensorSpecs."""
    return (tensor_spec.from_spec(self.env.time_step_spec()),
            tensor_spec.from_spec(self.env.action_spec()))

  def _restart(self, network, family: str, spec: RunSpec):
    """Fresh weights (from a network built with the new seed), zeroed optimizer slots and train
    counter, reseeded envs: the shared part of `reseed`."""
    fresh = conditions.build_network(family, self.env.observation_spec(), self.env.num_actions, spec.seed)
    network.set_weights(fresh.get_weights())
    _reset_optimizer(self.agent._optimizer)  # pylint: disable=protected-access
    self.agent.train_step_counter.assign(0)
    self.env.reseed(spec.seed)
    self.eval_env.reseed(spec.seed + EVAL_SEED_OFFSET)
    self.env.pop_finished_games()
    self.eval_env.pop_finished_games()


class _A2CTrainer(_TrainerBase):
  """A2C framework (Fig. 1, 3): 16 envs, n-step rollouts, RMSProp."""

  def __init__(self, spec: RunSpec):
    hp = spec.hparams
    self.env = make_atari_env(spec.game, hp["num_envs"], seed=spec.seed)
    self._make_eval_env(spec)
    self.frames_per_update = hp["n_steps"] * hp["num_envs"] * self.env.frames_per_step
    total_updates = max(1, math.ceil(spec.frames / self.frames_per_update))
    self.agent = conditions.build_a2c_agent(
        spec.agent, *self._tf_specs(), self.env.observation_spec(),
        self.env.num_actions, hp, total_updates, spec.seed)
    self.loop = A2CLoop(self.agent, self.env, hp["n_steps"])
    self.eval_policy = self.agent.policy

  def reseed(self, spec: RunSpec):
    self._restart(self.agent.network, "a2c", spec)
    self.loop.reset()

  def extra_checkpoint_objects(self):
    return {}

  def on_restore(self, frames: int):
    del frames

  def update(self):
    return self.loop.update()


class _DQNTrainer(_TrainerBase):
  """DQN family (Fig. 2): 1 env, replay, epsilon-greedy, target network."""

  def __init__(self, spec: RunSpec):
    hp = spec.hparams
    self.env = make_atari_env(spec.game, 1, seed=spec.seed)
    self._make_eval_env(spec)
    self.frames_per_update = hp["train_period"] * self.env.frames_per_step
    self.step_var = tf.Variable(0, dtype=tf.int64, name="agent_steps")
    self.agent = conditions.build_dqn_agent(
        spec.agent, *self._tf_specs(), self.env.observation_spec(),
        self.env.num_actions, hp, spec.frames // self.env.frames_per_step, spec.seed, self.step_var)
    self._learning_starts = hp["learning_starts"]
    self.loop = DQNLoop(self.agent, self.env, self.step_var, replay_capacity=hp["replay_capacity"],
                        batch_size=hp["batch_size"], train_period=hp["train_period"],
                        learning_starts=hp["learning_starts"], seed=spec.seed)
    self.eval_policy = epsilon_greedy_policy.EpsilonGreedyPolicy(self.agent.policy, hp["eval_epsilon"])

  def reseed(self, spec: RunSpec):
    self._restart(self.agent._q_network, "dqn", spec)  # pylint: disable=protected-access
    self.agent.initialize()                                  # target network <- online network
    self.agent._update_target._counter.assign(0)  # pylint: disable=protected-access
    self.loop.new_replay(spec.seed, self._learning_starts)

  def extra_checkpoint_objects(self):
    return {"agent_steps": self.step_var}

  def on_restore(self, frames: int):
    # Replay restarts empty after a resume: refill it before updating again.
    self.loop.agent_steps = frames // self.env.frames_per_step
    self.step_var.assign(self.loop.agent_steps)
    if frames:
      self.loop.learning_starts = self.loop.agent_steps + self._learning_starts

  def update(self):
    return self.loop.update()
