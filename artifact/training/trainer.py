"""The trainer interface: what a run needs from an algorithm family, and what the families share.

A trainer owns one run's environments (training and evaluation), its tf-agents agent, its
collect-and-train loop and its evaluation policy. `artifact.training.a2c` and
`artifact.training.dqn` each hold one family's agent builder, loop and trainer; the run
(`artifact.training.runner`) drives any of them through the methods declared here.

A trainer can be reused for the next seed of the same (figure, game, condition): `restart(seeds)`
puts every piece of state back where a newly built trainer with those seeds would start (weights
from a network built with the new seed, optimizer slots and counters, replay, environment seeds,
action-sampling streams), which the trainer-reuse test checks. Reuse saves the tracing of the
compiled collect/train steps and the policy export (about 8 s a run on 2 cores;
`artifact.training.pool` keeps one trainer per process).
"""
from __future__ import annotations

import abc
import json
import os

import numpy as np
import tensorflow as tf
from tensorflow.python.saved_model import fingerprinting_utils
from tf_agents.policies import policy_saver
from tf_agents.specs import tensor_spec

from agents.a2c import A2CNaiveAgent, A2CProperAgent
from agents.dqn import DQNNStepAgent, SoftDQNEntAgent, SoftDQNKLAgent, StandardDQNAgent
from agents.networks import ActorCriticNetwork, QNetwork
from agents.soft_ql import SoftQLAgent
from artifact.experiment.registry import Condition
from artifact.experiment.runspec import RunSpec
from artifact.experiment.seeding import RunSeeds
from artifact.files import atomic_save_npz
from envs.atari import make_atari_env

# The agents/ class of each key a registry condition names (`Condition.agent`).
AGENT_CLASSES = {
    "a2c_naive": A2CNaiveAgent,          # Figure 1's a2c_1step (eq. 79)
    "a2c_proper": A2CProperAgent,        # Figure 1's a2c_proper = Figure 3's pg (eq. 80)
    "soft_ql": SoftQLAgent,              # Figure 3's soft_ql (eq. 46-47)
    "dqn": StandardDQNAgent,             # Figure 2's dqn (eq. 81)
    "dqn_nstep": DQNNStepAgent,          # Figure 2's dqn_nstep (5-step return)
    "soft_dqn_ent": SoftDQNEntAgent,     # Figure 2's soft_dqn_ent_* (eq. 83)
    "soft_dqn_kl": SoftDQNKLAgent,       # Figure 2's soft_dqn_kl_* (eq. 82)
}


def agent_class(condition: Condition):
  """The agents/ class of a condition (`AGENT_CLASSES[condition.agent]`). Raises ValueError
  naming the key and the valid ones."""
  if condition.agent not in AGENT_CLASSES:
    raise ValueError(f"condition {condition.name!r}: unknown agent {condition.agent!r}; valid: "
                     f"{', '.join(AGENT_CLASSES)}")
  return AGENT_CLASSES[condition.agent]


def make_network(family: str, observation_spec, num_actions: int, seed: int,
                 precision: str = "float32",
                 **options):
  """The network of a family: `ActorCriticNetwork` ("a2c": Nature-CNN torso, pi and V heads) or
  `QNetwork` ("dqn"), weights drawn from `seed` when its variables are built. `options` go to
  the class (the DQN family's `torso_init`; none for "a2c")."""
  cls = ActorCriticNetwork if family == "a2c" else QNetwork
  return cls(observation_spec, num_actions, seed=seed, precision=precision, **options)


def build_network(family: str, observation_spec, num_actions: int, seed: int,
                  precision: str = "float32",
                  **options):
  """`make_network` with its variables built."""
  net = make_network(family, observation_spec, num_actions, seed, precision, **options)
  net.create_variables()
  return net


class Trainer(abc.ABC):
  """One family's trainer for one run (module docstring). Built by a family's `__init__`, which
  calls this one first (the environments) and then sets the family's members:

    agent              the tf-agents agent (an `agents.a2c` or `agents.dqn` class)
    network            the Keras network it trains (online network of the DQN family)
    optimizer          the optimizer the agent applies
    loop               the collect-and-train loop: `update()`, `reset()`, `restore_env(actions)`
    eval_policy        the evaluation PyPolicy, with `seed_sampling(seed)`
    frames_per_update  emulator frames one `update()` trains on

  Attributes set here: `env` (the training env, a batched `envs` PyEnvironment), `eval_env`
  (whole games, no life-loss terminals, capped at the spec's frames per game), `precision`,
  `env_groups` (A2C: the collection's env groups; None for DQN), `network_options` (keyword
  arguments of `make_network` beyond the precision: {} here, the DQN family's `torso_init`).
  """
  agent: object
  network: tf.keras.Model
  optimizer: tf.keras.optimizers.Optimizer
  loop: object
  eval_policy: object
  frames_per_update: int

  def __init__(self, spec: RunSpec, seeds: RunSeeds, num_envs: int, env_groups: int | None,
               env_options: dict | None = None):
    """Builds the run's environments: `num_envs` training envs seeded with `seeds.train_env`
    (in `env_groups` groups, None = 1; `env_options`: more keyword arguments of
    `envs.atari.make_atari_env` for them, the DQN family's life-loss handling) and `spec.eval_games`
    evaluation envs."""
    self.precision = spec.hparams.precision
    self.env_groups = env_groups
    self.network_options: dict = {}
    self.env = make_atari_env(spec.game, num_envs, seed=list(seeds.train_env),
                              groups=env_groups or 1,
                              **(env_options or {}))
    self.eval_env = make_atari_env(spec.game, spec.eval_games, seed=None, life_loss_terminal=False,
                                   max_frames_per_game=spec.eval_max_frames)
    self._saver = None                   # the PolicySaver, made at the first export
    self._graph_files: dict[str, bytes] | None = None   # the first export's graph part
    self._restored_actions: np.ndarray | None = None    # the action log of a loaded checkpoint

  @abc.abstractmethod
  def restart(self, seeds: RunSeeds):
    """Puts the trainer in the start state of a run with `seeds` (module docstring)."""

  # --- training and evaluation --------------------------------------------------------------------
  def update(self):
    """One collect-and-train step of the loop (`frames_per_update` frames). Returns the
    tf-agents `LossInfo`, or None while the DQN replay still fills."""
    return self.loop.update()

  def seed_evaluation(self, seeds: RunSeeds, point: int):
    """Seeds the evaluation policy's sampling stream for the evaluation at frame `point`."""
    self.eval_policy.seed_sampling(seeds.eval_policy_seed(point))

  def trainable_variables(self):
    """The trained network's variables (what the optimizer's slots are built for)."""
    return self.network.trainable_variables

  def build_optimizer_slots(self):
    """Creates the optimizer's slot variables now (as its first update would), so a checkpoint
    restores into them at once: a damaged checkpoint then fails at restore, not mid-training."""
    self.optimizer.build(self.trainable_variables())

  def close(self):
    """Closes the environments (their emulator threads)."""
    self.env.close()
    self.eval_env.close()

  # --- checkpoints --------------------------------------------------------------------------------
  def extra_checkpoint_objects(self) -> dict:
    """{name: trackable} the run's `tf.train.Checkpoint` holds besides the agent (DQN: replay)."""
    return {}

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
    """Loads what `save_beside_checkpoint(prefix)` wrote (applied by `on_restore`); raises
    (OSError, ValueError, KeyError) if it is missing or damaged."""
    with np.load(f"{prefix}.loop-state.npz", allow_pickle=False) as z:
      self._restored_actions = np.array(z["actions"])
      states = json.loads(str(z["rng_json"]))
    self.set_rng_states(states)

  def rng_states(self) -> dict:
    """{name: numpy bit-generator state} of the loop's own random streams."""
    return {}

  def set_rng_states(self, states: dict):
    """Restores `rng_states()`."""
    del states

  def on_restore(self, frames: int, train_env_seeds):
    """Puts the training env where the restored run left it: seeded as at the run's start, then
    the action log of the checkpoint loaded by `load_beside_checkpoint` replayed. Raises
    RuntimeError if that log does not match `frames`, or if no checkpoint was loaded."""
    if not frames:
      return
    actions = self._restored_actions
    if actions is None:
      raise RuntimeError(f"on_restore at {frames:,} frames before a checkpoint was loaded "
                         f"(load_beside_checkpoint)")
    steps = frames // (self.env.frames_per_step * self.env.batch_size)
    if actions.shape != (steps, self.env.batch_size):
      raise RuntimeError(f"the checkpoint at {frames:,} frames has an action log of shape "
                         f"{actions.shape}, expected ({steps}, {self.env.batch_size})")
    self.env.seed_games(list(train_env_seeds))
    self.loop.restore_env(actions)
    self.env.pop_finished_games()

  # --- the final policy ---------------------------------------------------------------------------
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
    if self._saver is None:
      self._saver = policy_saver.PolicySaver(self.agent.policy, batch_size=None)
    if self._graph_files is None:
      self._saver.save(export_dir)
      self._graph_files = _graph_part(export_dir)
      return
    for d in ("assets", "variables"):
      os.makedirs(os.path.join(export_dir, d), exist_ok=True)
    for rel, data in self._graph_files.items():
      os.makedirs(os.path.dirname(os.path.join(export_dir, rel)), exist_ok=True)
      with open(os.path.join(export_dir, rel), "wb") as f:
        f.write(data)
    self._saver.save_checkpoint(export_dir)
    # TF's own writer of fingerprint.pb, as tf.saved_model.save calls it (no public API)
    fingerprinting_utils.write_fingerprint(export_dir)

  # --- shared by the families ---------------------------------------------------------------------
  def _tf_specs(self):
    """(time_step_spec, action_spec) of the training env as TensorSpecs."""
    return (tensor_spec.from_spec(self.env.time_step_spec()),
            tensor_spec.from_spec(self.env.action_spec()))

  def _restart_common(self, family: str, seeds: RunSeeds):
    """The shared part of `restart`: weights of a network built with the new seed, optimizer and
    train counter back to their start, environments seeded anew."""
    fresh = build_network(family, self.env.observation_spec(), self.env.num_actions,
                          seeds.network, self.precision, **self.network_options)
    self.network.set_weights(fresh.get_weights())
    if hasattr(self.optimizer, "reset"):
      self.optimizer.reset()               # RMSpropTF1: iterations 0, mean squares 1
    else:
      for v in self.optimizer.variables:
        v.assign(tf.zeros_like(v))          # Adam: iterations and moments 0, as built
    self.agent.train_step_counter.assign(0)
    self.env.seed_games(list(seeds.train_env))
    self.env.pop_finished_games()
    self.eval_env.pop_finished_games()


def _graph_part(export_dir: str) -> dict[str, bytes]:
  """{relative path: bytes} of a SavedModel's files outside variables/, fingerprint.pb aside."""
  files = {}
  for root, _, names in os.walk(export_dir):
    rel_root = os.path.relpath(root, export_dir)
    if rel_root.split(os.sep)[0] == "variables":
      continue
    for name in names:
      rel = os.path.normpath(os.path.join(rel_root, name))
      if rel != "fingerprint.pb":
        with open(os.path.join(root, name), "rb") as f:
          files[rel] = f.read()
  return files
