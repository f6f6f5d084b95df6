"""Trainers: one per family, each owning its environments, agent and collect/train loop.

A trainer is built for a `RunSpec` and can be reused for the next seed of the same
(figure, game, condition): `reseed` puts every piece of state back where a newly built trainer
with that seed would start (weights from a network built with the new seed, optimizer slots and
counters, replay, environment seeds, action-sampling streams), which the trainer-reuse test
checks. Reuse saves the tracing of the compiled collect/train steps and the policy export
(about 8 s a run on 2 cores).
"""
from __future__ import annotations

import json
import math
import os
from typing import Dict, Optional

import numpy as np
import tensorflow as tf
from tf_agents.policies import policy_saver
from tf_agents.specs import tensor_spec

from agents.policies import CategoricalPolicy, CompiledPyPolicy, EpsilonGreedyPyPolicy
from artifact import conditions
from artifact.a2c_loop import A2CLoop
from artifact.dqn_loop import DQNLoop
from artifact.files import atomic_save_npz
from artifact.seeding import RunSeeds, run_seeds
from artifact.specs import RunSpec
from envs import make_atari_env


class Trainer:
  """What the runner needs from a family: `update()`, `eval_policy`, envs, checkpoint objects."""
  env = eval_env = agent = eval_policy = None
  env_groups = None             # A2C: the collection's env groups (part of the trainer's structure)
  frames_per_update: int
  _saver = None

  _graph_files = None

  def policy_saver(self):
    if self._saver is None:
      self._saver = policy_saver.PolicySaver(self.agent.policy, batch_size=None)
    return self._saver

  def export_policy(self, export_dir: str):
    """Writes the agent's policy as a tf-agents PolicySaver SavedModel into the new directory
    `export_dir` (load it with `SavedModelPyTFEagerPolicy`).

    The trainer's first export is a full `PolicySaver.save` (~1 s on 2 cores: it walks the Keras
    object graph and serializes every traced function). Its graph part (saved_model.pb,
    policy_specs.pbtxt) is kept; later exports of this trainer (the next seeds: same structure,
    new weights) write that graph part and then the weights with `PolicySaver.save_checkpoint`,
    whose files tf-agents documents as "compatible with the checkpoint part of full saved
    models" (~0.04 s), and recompute fingerprint.pb. A test checks that such an export loads
    with the same variables and acts as a full save of the same weights.
    """
    saver = self.policy_saver()
    if self._graph_files is None:
      saver.save(export_dir)
      self._graph_files = {}
      for root, _, files in os.walk(export_dir):
        rel_root = os.path.relpath(root, export_dir)
        if rel_root.split(os.sep)[0] == "variables":
          continue
        for name in files:
          rel = os.path.normpath(os.path.join(rel_root, name))
          if rel != "fingerprint.pb":
            with open(os.path.join(root, name), "rb") as f:
              self._graph_files[rel] = f.read()
      return
    for d in ("assets", "variables"):
      os.makedirs(os.path.join(export_dir, d), exist_ok=True)
    for rel, data in self._graph_files.items():
      os.makedirs(os.path.dirname(os.path.join(export_dir, rel)), exist_ok=True)
      with open(os.path.join(export_dir, rel), "wb") as f:
        f.write(data)
    saver.save_checkpoint(export_dir)
    # TF's own writer of fingerprint.pb, as tf.saved_model.save calls it (no public API)
    from tensorflow.python.saved_model import fingerprinting_utils  # pylint: disable=g-direct-tensorflow-import
    fingerprinting_utils.write_fingerprint(export_dir)

  def close(self):
    self.env.close()
    self.eval_env.close()

  def extra_checkpoint_objects(self) -> Dict:
    return {}

  def trainable_variables(self):
    return self.agent.network.trainable_variables

  def build_optimizer_slots(self):
    """Creates the optimizer's slot variables now (as its first update would), so a checkpoint
    restores into them at once: a damaged checkpoint then fails at restore, not mid-training."""
    self.agent._optimizer.build(self.trainable_variables())  # pylint: disable=protected-access

  def before_final_checkpoint(self, keep_extension_state: bool):
    """Drops what a finished run's checkpoint need not keep (unless it is to be extended)."""
    del keep_extension_state

  # Beside each TF checkpoint `prefix` (e.g. .../ckpt-1600), data only (numpy arrays, no pickle):
  # `<prefix>.loop-state.npz` holds the training env's action log since its seeded reset
  # (`actions`, uint8 [agent steps per env, envs]: replayed on restore, envs/batched_env.py) and
  # the loop's numpy generator states as JSON (`rng_json`). With them a resumed or extended run
  # continues exactly as the run that never stopped (the extension test checks it).
  def save_beside_checkpoint(self, prefix: str):
    """Writes what the TF checkpoint `prefix` does not hold, beside it (atomically)."""
    atomic_save_npz(f"{prefix}.loop-state.npz", actions=self.env.action_log(),
                    rng_json=np.array(json.dumps(self.rng_states())))

  def load_beside_checkpoint(self, prefix: str):
    """Loads what `save_beside_checkpoint(prefix)` wrote; raises (OSError, ValueError, KeyError)
    if it is missing or damaged."""
    with np.load(f"{prefix}.loop-state.npz", allow_pickle=False) as z:
      self._restored_actions = np.array(z["actions"])
      states = json.loads(str(z["rng_json"]))
    self.set_rng_states(states)

  def rng_states(self) -> Dict:
    """{name: numpy bit-generator state} of the loop's own random streams."""
    return {}

  def set_rng_states(self, states: Dict):
    del states

  def on_restore(self, frames: int, train_env_seeds):
    """Puts the training env where the restored run left it: reseeded as at the run's start,
    then the logged actions replayed. Raises RuntimeError if the log does not match `frames`."""
    if not frames:
      return
    actions = self._restored_actions
    steps = frames // (self.env.frames_per_step * self.env.batch_size)
    if actions.shape != (steps, self.env.batch_size):
      raise RuntimeError(f"the checkpoint at {frames:,} frames has an action log of shape "
                         f"{actions.shape}, expected ({steps}, {self.env.batch_size})")
    self.env.reseed(list(train_env_seeds))
    self.loop.restore_env(actions)
    self.env.pop_finished_games()

  def update(self):
    return self.loop.update()

  def reseed_eval(self, seeds: RunSeeds, point: int):
    """Reseeds the evaluation policy's stream for the evaluation at frame `point`."""
    self.eval_policy.reseed(seeds.eval_policy_seed(point))

  def _make_envs(self, spec: RunSpec, num_envs: int, seeds: RunSeeds, groups: int = 1):
    self.env = make_atari_env(spec.game, num_envs, seed=list(seeds.train_env), groups=groups)
    self.eval_env = make_atari_env(spec.game, spec.eval_games, seed=None, life_loss_terminal=False,
                                   max_frames_per_game=spec.eval_max_frames)

  def _tf_specs(self):
    """(time_step_spec, action_spec) of the training env as TensorSpecs."""
    return (tensor_spec.from_spec(self.env.time_step_spec()),
            tensor_spec.from_spec(self.env.action_spec()))

  def _restart(self, network, family: str, seeds: RunSeeds):
    """The shared part of `reseed`: weights of a network built with the new seed, optimizer and
    train counter back to their start, environments reseeded."""
    fresh = conditions.build_network(family, self.env.observation_spec(), self.env.num_actions,
                                     seeds.network, self.precision)
    network.set_weights(fresh.get_weights())
    opt = self.agent._optimizer  # pylint: disable=protected-access
    if hasattr(opt, "reset"):
      opt.reset()                          # RMSpropTF1: iterations 0, mean squares 1
    else:
      for v in opt.variables:
        v.assign(tf.zeros_like(v))          # Adam: iterations and moments 0, as built
    self.agent.train_step_counter.assign(0)
    self.env.reseed(list(seeds.train_env))
    self.env.pop_finished_games()
    self.eval_env.pop_finished_games()


def a2c_env_groups(num_envs: int, requested: Optional[int] = None) -> int:
  """Env groups of the A2C collection (`artifact.a2c_loop`): `requested` (--env-groups; 1 =
  synchronous, k >= 2 = overlapped over k groups) if given, else 2 when TensorFlow sees a GPU
  (the policy runs there while the CPU steps the other group's emulators; not measured here)
  and 1 on CPUs, where overlapping measured slower: on 2 cores the emulator threads and the
  network compete for the same cores (docs/performance.md). Both give the same rollouts bit for
  bit. Raises ValueError for a value that is not an int in [1, num_envs]."""
  if requested is None:
    return 2 if tf.config.list_physical_devices("GPU") else 1
  if isinstance(requested, bool) or not isinstance(requested, int) or not 1 <= requested <= num_envs:
    raise ValueError(f"env_groups={requested!r}: must be an integer in [1, {num_envs}] "
                     f"(1: synchronous collection, k >= 2: k env groups, overlapped)")
  return requested


class A2CTrainer(Trainer):
  """A2C framework (Fig. 1, 3): 16 envs, n-step rollouts, RMSProp (TF1 start); the collection is
  synchronous or overlapped (`a2c_env_groups(num_envs, env_groups)`), with the same rollouts."""

  def __init__(self, spec: RunSpec, seeds: RunSeeds, env_groups: Optional[int] = None):
    hp = spec.hparams
    self.precision = hp.precision
    self.env_groups = a2c_env_groups(hp.num_envs, env_groups)
    self._make_envs(spec, hp.num_envs, seeds, groups=self.env_groups)
    self.frames_per_update = hp.n_steps * hp.num_envs * self.env.frames_per_step
    decay_updates = max(1, math.ceil(hp.horizon_frames / self.frames_per_update))
    self.agent = conditions.build_a2c_agent(
        spec.condition_spec, *self._tf_specs(), self.env.observation_spec(), self.env.num_actions, hp,
        decay_updates, seeds.network, policy_seed=seeds.policy)
    self.loop = A2CLoop(self.agent, self.env, hp.n_steps)
    tf_policy = CategoricalPolicy(self.agent.time_step_spec, self.agent.action_spec,
                                  self.agent.network, seed=seeds.eval_policy)
    self.eval_policy = _Reseedable(CompiledPyPolicy(tf_policy, spec.eval_games), tf_policy.reseed)

  def reseed(self, spec: RunSpec, seeds: RunSeeds):
    del spec
    self._restart(self.agent.network, "a2c", seeds)
    self.agent.collect_policy.reseed(seeds.policy)
    self.loop.reset()


class DQNTrainer(Trainer):
  """DQN family (Fig. 2): 1 env, replay, epsilon-greedy, target network."""

  def __init__(self, spec: RunSpec, seeds: RunSeeds, env_groups: Optional[int] = None):
    del env_groups                         # one env: nothing to group
    hp = spec.hparams
    self.precision = hp.precision
    self._make_envs(spec, 1, seeds)
    self.frames_per_update = hp.train_period * self.env.frames_per_step
    self.step_var = tf.Variable(0, dtype=tf.int64, name="agent_steps")
    self.agent = conditions.build_dqn_agent(
        spec.condition_spec, *self._tf_specs(), self.env.observation_spec(), self.env.num_actions,
        hp, hp.horizon_frames // self.env.frames_per_step, seeds.network, self.step_var,
        agent_kwargs=spec.agent_kwargs)
    self._learning_starts = hp.learning_starts
    self.loop = DQNLoop(self.agent, self.env, self.step_var, replay_capacity=hp.replay_capacity,
                        batch_size=hp.batch_size, train_period=hp.train_period,
                        learning_starts=hp.learning_starts,
                        epsilon=self.agent._epsilon_greedy,  # pylint: disable=protected-access
                        seed=seeds.replay,
                        policy_seed=seeds.policy)
    eval_eps = float(hp.eval_epsilon)
    self.eval_policy = EpsilonGreedyPyPolicy(CompiledPyPolicy(self.agent.policy, spec.eval_games),
                                             lambda: eval_eps, self.env.num_actions, seeds.eval_policy)

  def reseed(self, spec: RunSpec, seeds: RunSeeds):
    del spec
    self._restart(self.agent._q_network, "dqn", seeds)  # pylint: disable=protected-access
    self.agent.initialize()                                  # target network <- online network
    self.agent._update_target._counter.assign(0)  # pylint: disable=protected-access
    self.loop.new_replay(seeds.replay, self._learning_starts, policy_seed=seeds.policy)

  def trainable_variables(self):
    return self.agent._q_network.trainable_variables  # pylint: disable=protected-access

  def close(self):
    super().close()
    # a discarded trainer frees its replay's frames now, not when the garbage collector gets to
    # it: the next run's trainer may be loading a replay as large (artifact/memory.py)
    self.loop.replay.clear()

  def extra_checkpoint_objects(self):
    # tf-agents' Python replay buffers are checkpointable (numpy storage of the transitions), so
    # the replay goes into the same checkpoint as the weights it trained; the frame dictionary
    # is not trackable and goes beside the checkpoint (`save_beside_checkpoint`).
    return {"agent_steps": self.step_var, "replay": self.loop.replay}

  def before_final_checkpoint(self, keep_extension_state: bool):
    if not keep_extension_state:
      self.loop.replay.clear()             # a finished run keeps its weights, not its replay

  def rng_states(self):
    return self.loop.rng_states()

  def set_rng_states(self, states):
    self.loop.set_rng_states(states)

  # The replay's frames go to `<prefix>.replay-frames.npz` beside each checkpoint (streamed, see
  # agents/replay.py); the rest of the replay (transitions as frame hashes, counters) is in the
  # TF checkpoint. Vector-observation replays (CartPole) have no frames.
  def save_beside_checkpoint(self, prefix: str):
    super().save_beside_checkpoint(prefix)
    if hasattr(self.loop.replay, "save_frames"):
      self.loop.replay.save_frames(f"{prefix}.replay-frames.npz")

  def load_beside_checkpoint(self, prefix: str):
    super().load_beside_checkpoint(prefix)
    if hasattr(self.loop.replay, "load_frames"):
      self.loop.replay.load_frames(f"{prefix}.replay-frames.npz")

  def on_restore(self, frames: int, train_env_seeds):
    super().on_restore(frames, train_env_seeds)
    self.loop.agent_steps = frames // self.env.frames_per_step
    self.step_var.assign(self.loop.agent_steps)
    if frames and self.loop.replay.size == 0:
      # a checkpoint without replay (the final one): refill before updating again
      self.loop.learning_starts = self.loop.agent_steps + self._learning_starts


class _Reseedable:
  """A PyPolicy plus the `reseed` of the TF policy behind it."""

  def __init__(self, py_policy, reseed):
    self._py_policy, self.reseed = py_policy, reseed

  def action(self, time_step):
    return self._py_policy.action(time_step)


# --- the per-process cache: build once, reseed per run -------------------------------------------
_CACHE: Dict[str, Trainer] = {}


def _structure_key(spec: RunSpec, env_groups: Optional[int]) -> str:
  d = json.loads(spec.to_json())
  d.pop("seed")
  d["env_groups"] = env_groups             # a cached trainer keeps its env grouping
  return json.dumps(d, sort_keys=True)


def acquire(spec: RunSpec, env_groups: Optional[int] = None) -> Trainer:
  """A trainer in the start state of `spec`'s run: the cached one for the same structure, reseeded,
  or a new one. Closes any other cached trainer (one trainer's envs alive at a time).
  `env_groups`: the A2C collection's env groups (--env-groups; None = auto, `a2c_env_groups`).
  Raises ValueError for env_groups outside [1, num_envs]."""
  seeds = run_seeds(spec.seed, spec.hparams.num_envs)
  groups = a2c_env_groups(spec.hparams.num_envs, env_groups) if spec.family == "a2c" else None
  trainer = _CACHE.pop(_structure_key(spec, groups), None)
  close_all()
  if trainer is None:
    return (A2CTrainer if spec.family == "a2c" else DQNTrainer)(spec, seeds, groups)
  trainer.reseed(spec, seeds)
  return trainer


def release(spec: RunSpec, trainer: Trainer):
  """Parks `trainer` for the next seed of the same structure."""
  close_all()
  _CACHE[_structure_key(spec, trainer.env_groups)] = trainer


def close_all():
  for t in _CACHE.values():
    t.close()
  _CACHE.clear()
