"""Figure 2's DQN family (baselines `deepq` Atari protocol): its agent builder, its
collect-and-train loop and its trainer.

One env; every agent step the epsilon-greedy collect policy acts and the transition goes into
replay; after `learning_starts` agent steps, one gradient step on a batch of 32 every
`train_period` (4) agent steps; the target network syncs every `target_update_period` agent
steps (tf-agents counts that in train steps: period / train_period). Units: agent steps.
"""
from __future__ import annotations

import numpy as np
import tensorflow as tf
from tf_agents.specs import tensor_spec
from tf_agents.trajectories import trajectory
from tf_agents.utils import common

from agents.policies import CompiledPyPolicy, EpsilonGreedyPyPolicy, ObservationPyPolicy
from agents.replay import FrameStackReplayBuffer, UniformReplay
from artifact.experiment.hparams import DQNHparams
from artifact.experiment.runspec import RunSpec
from artifact.experiment.seeding import RunSeeds
from artifact.files import atomic_path
from artifact.training.trainer import Trainer, agent_class, make_network

# --- the collect-and-train loop ------------------------------------------------------------------

class LinearEpsilon:
  """Exploration rate decaying linearly from `start` to `end` over `decay_steps` agent steps.

  `epsilon()` reads `step_var` in TensorFlow (what the agent's tf-agents `collect_policy` takes);
  `at(agent_steps)` is the same float32 arithmetic in numpy, bit for bit, without the half-dozen
  eager TF ops per agent step that `float(epsilon())` costs the acting loop.
  """

  def __init__(self, step_var, start: float, end: float, decay_steps: int):
    self.step_var, self.start, self.end = step_var, float(start), float(end)
    self.decay_steps = max(1, int(decay_steps))

  def __call__(self):
    frac = tf.minimum(tf.cast(self.step_var, tf.float32) / float(self.decay_steps), 1.0)
    return self.start + frac * (self.end - self.start)

  def at(self, agent_steps: int) -> float:
    """The rate after `agent_steps` agent steps, as `__call__` computes it (float32)."""
    f32 = np.float32
    frac = np.minimum(f32(agent_steps) / f32(self.decay_steps), f32(1.0))
    return float(f32(self.start) + frac * (f32(self.end) - f32(self.start)))


def linear_epsilon(step_var, start: float, end: float, decay_steps: int) -> LinearEpsilon:
  """Callable: epsilon decays linearly from `start` to `end` over `decay_steps` agent steps."""
  return LinearEpsilon(step_var, start, end, decay_steps)


def make_replay(data_spec, capacity: int):
  """Frame-deduplicating replay for stacked image observations, plain uniform replay otherwise."""
  data_spec = tensor_spec.to_nest_array_spec(data_spec)
  if len(data_spec.observation.shape) == 3:
    return FrameStackReplayBuffer(data_spec, capacity)
  return UniformReplay(data_spec, capacity)


class DQNLoop:
  """Acts epsilon-greedily in the single-env batched `py_env`, fills replay and trains from it.

  Acting is tf-agents' `PyDriver` loop written out (`collect`): per agent step
  `EpsilonGreedyPyPolicy.choose` over the agent's greedy policy compiled on the observation
  alone (`agents.policies.ObservationPyPolicy`), `py_env.step`, and the transition
  (`trajectory.from_transition`'s fields, unbatched) into the replay with `add_item`.
  Leaving out the driver, the policy's time-step canonicalization and the replay's nest walks
  over a batch of one took acting from 7.68 to 6.94 ms an update on quiet cores
  (docs/performance.md); the transitions, actions and random draws are the driver's, bit for
  bit (tests/test_fast_paths.py). The env never returns a LAST step (a game's end is discount 0
  and the next game starts inside the same step), so every step counts, as in the driver.

  Args:
    agent: an `agents.dqn.StandardDQNAgent` (or subclass) whose `epsilon_greedy` reads
      `step_var`.
    py_env: batched PyEnvironment with batch size 1.
    step_var: tf.Variable(int64) holding the agent-step count (drives the epsilon schedule).
    replay_capacity: transitions kept. batch_size: 32. train_period: agent steps per update (4).
    learning_starts: agent steps before the first update.
    epsilon: callable () -> float, the exploration rate now (reads `step_var`; default: the
      agent's `epsilon_greedy`, `agents.dqn.StandardDQNAgent`); acting is
      `EpsilonGreedyPyPolicy` over the agent's greedy policy, the same rule as the agent's
      tf-agents `collect_policy` but with a reseedable numpy stream.
    seed: replay sampling seed. policy_seed: exploration seed.
  """

  def __init__(self, agent, py_env, step_var, *, replay_capacity: int, batch_size: int = 32,
               train_period: int = 4, learning_starts: int = 10_000, epsilon=None,
               seed: int | None = None, policy_seed: int = 0):
    if py_env.batch_size != 1:
      raise ValueError(
          f"the DQN loop runs one env (baselines deepq), got batch size {py_env.batch_size}")
    self.agent, self.py_env, self.step_var = agent, py_env, step_var
    self.batch_size, self.train_period = int(batch_size), int(train_period)
    self.learning_starts = int(learning_starts)
    self._replay_capacity = int(replay_capacity)
    self._num_steps = agent.train_sequence_length   # n_step_update + 1
    if epsilon is None:
      epsilon = agent.epsilon_greedy
    if isinstance(epsilon, LinearEpsilon):
      def read():                   # == float(epsilon()): step_var == agent_steps
        return epsilon.at(self.agent_steps)
    else:
      def read():
        return float(epsilon())
    self._greedy = ObservationPyPolicy(agent.policy, batch_size=1)
    self._policy = EpsilonGreedyPyPolicy(self._greedy, read, py_env.num_actions, policy_seed)
    self.replay = self._time_step = None   # set by new_replay, now and on restart
    self.agent_steps = 0                  # agent steps taken (drives epsilon through step_var)
    self.new_replay(seed, policy_seed=policy_seed)
    data_spec = agent.collect_data_spec
    batched = tf.nest.map_structure(
        lambda s: tf.TensorSpec([self.batch_size, self._num_steps] + list(s.shape), s.dtype),
        data_spec)
    self._train_fn = tf.function(lambda exp: agent.train(exp),
                                 autograph=False).get_concrete_function(batched)

  def new_replay(self, seed: int | None, learning_starts: int | None = None,
                 policy_seed: int | None = None):
    """Empty replay (seeded sampling) and a fresh driver feeding it; agent-step count to 0;
    the exploration stream restarted from `policy_seed` (if given)."""
    self.replay = make_replay(self.agent.collect_data_spec, self._replay_capacity)
    self.replay.seed(seed)
    if policy_seed is not None:
      self._policy.seed_sampling(policy_seed)
    self._time_step = None
    self.agent_steps = 0
    self.step_var.assign(0)
    if learning_starts is not None:
      self.learning_starts = int(learning_starts)

  def reset(self):
    """Resets the env (seeded as set); the next update collects from the new game."""
    self._time_step = self.py_env.reset()

  def restore_env(self, actions: np.ndarray):
    """Replays the env's logged `actions` (uint8 [steps, 1]) from its seeded reset and goes on
    from the state they lead to (a resumed or extended run)."""
    self._time_step = self.py_env.replay(actions)

  def rng_states(self):
    """The numpy generator states of exploration and replay sampling (JSON-able dicts)."""
    return dict(exploration=self._policy.rng.bit_generator.state,
                replay=self.replay.rng.bit_generator.state)

  def set_rng_states(self, states):
    """Restores `rng_states()`. Raises KeyError/ValueError/TypeError for a bad dict."""
    self._policy.rng.bit_generator.state = states["exploration"]
    self.replay.rng.bit_generator.state = states["replay"]

  def collect(self):
    """`train_period` agent steps of the epsilon-greedy policy (epsilon read once per step, at
    the update's agent-step count), each transition added to the replay (class docstring)."""
    if self._time_step is None:
      self.reset()
    time_step, env, replay = self._time_step, self.py_env, self.replay
    policy, greedy = self._policy, self._greedy.on_observation
    for _ in range(self.train_period):
      action = policy.choose((1,), lambda time_step=time_step: greedy(time_step.observation))
      next_time_step = env.step(action)
      replay.add_item(trajectory.Trajectory(
          step_type=time_step.step_type[0], observation=time_step.observation[0],
          action=action[0], policy_info=(), next_step_type=next_time_step.step_type[0],
          reward=next_time_step.reward[0], discount=next_time_step.discount[0]))
      time_step = next_time_step
    self._time_step = time_step

  def update(self):
    """`train_period` agent steps of collection, then one gradient step once learning started.

    Returns the LossInfo, or None while still filling replay.
    """
    self.collect()
    self.agent_steps += self.train_period
    self.step_var.assign(self.agent_steps)
    if (self.agent_steps < self.learning_starts
        or self.replay.size < self._num_steps + self.batch_size):
      return None
    experience = self.replay.sample(self.batch_size, self._num_steps)
    return self._train_fn(tf.nest.map_structure(tf.constant, experience))


# --- the agent -----------------------------------------------------------------------------------
def build_dqn_agent(spec: RunSpec, time_step_spec, action_spec, observation_spec,
                    num_actions: int, horizon_agent_steps: int, seed: int, step_var):
  """The DQN-family agent of `spec`'s condition (`agent_class`), built from the spec's
  hyperparameters (`DQNHparams`) and its agent arguments (`spec.agent_kwargs`: the condition's,
  with --set overrides, e.g. tau of a soft target). Epsilon (a `LinearEpsilon`, the agent's
  `epsilon_greedy`) reads `step_var` (agent steps) and decays over `epsilon_fraction` of
  `horizon_agent_steps` (the horizon, `DQNHparams.horizon_frames`, in agent steps). Target
  period in agent steps. The network's kernels are initialised as `hp.torso_init` says, the
  gradient clipped as `hp.grad_clip_mode` says (`optimizer_and_clipping`)."""
  hp: DQNHparams = spec.hparams
  net = make_network("dqn", observation_spec, num_actions, seed, hp.precision,
                     torso_init=hp.torso_init)
  eps = linear_epsilon(step_var, hp.epsilon_start, hp.epsilon_end,
                       int(hp.epsilon_fraction * horizon_agent_steps))
  optimizer, per_variable_clip = optimizer_and_clipping(hp)
  agent = agent_class(spec.condition_spec)(
      time_step_spec, action_spec, q_network=net, optimizer=optimizer, epsilon_greedy=eps,
      target_update_period=max(1, hp.target_update_period // hp.train_period),
      td_errors_loss_fn=common.element_wise_huber_loss, gamma=hp.gamma,
      gradient_clipping=per_variable_clip, train_step_counter=tf.Variable(0, dtype=tf.int64),
      **spec.agent_kwargs)
  agent.initialize()
  return agent


def optimizer_and_clipping(hp: DQNHparams):
  """(Adam optimizer, tf-agents `gradient_clipping` argument) for `hp.grad_clip_mode`:

    "per_variable"  Adam(lr, eps) and gradient_clipping = grad_clip: tf-agents' DqnAgent clips
                    each variable's gradient to L2 norm <= grad_clip (tf.clip_by_norm per
                    variable, as baselines deepq's `minimize_and_clip`).
    "global"        Adam(lr, eps, global_clipnorm=grad_clip) and no per-variable clip: Keras
                    rescales all gradients together, g * grad_clip / max(||g||_global, grad_clip)
                    (tf.clip_by_global_norm), as SB3's th.nn.utils.clip_grad_norm_ over all
                    parameters (which divides by ||g|| + 1e-6: the same up to that 1e-6).

  Raises ValueError for another mode."""
  if hp.grad_clip_mode == "per_variable":
    return tf.keras.optimizers.Adam(hp.lr, epsilon=hp.adam_eps), hp.grad_clip
  if hp.grad_clip_mode == "global":
    return tf.keras.optimizers.Adam(hp.lr, epsilon=hp.adam_eps, global_clipnorm=hp.grad_clip), None
  raise ValueError(f"grad_clip_mode must be one of per_variable, global; got {hp.grad_clip_mode!r}")


# --- the trainer ---------------------------------------------------------------------------------
class DQNTrainer(Trainer):
  """DQN family (Fig. 2): 1 env, replay, epsilon-greedy, target network; the training env's
  life-loss handling and the network's initialiser as the hyperparameters' factor options say
  (`DQNHparams`: life_loss_fire, life_loss_stack, torso_init, grad_clip_mode)."""

  def __init__(self, spec: RunSpec, seeds: RunSeeds, env_groups: int | None = None):
    """Builds the run's env, agent, replay loop and evaluation policy; `env_groups` must be None
    (one env: nothing to group). Raises ValueError otherwise."""
    if env_groups is not None:
      raise ValueError(f"env_groups={env_groups!r}: the DQN family runs one env (None only)")
    hp = spec.hparams
    super().__init__(spec, seeds, 1, None, env_options=dict(life_loss_fire=hp.life_loss_fire,
                                                            life_loss_stack=hp.life_loss_stack))
    self.network_options = dict(torso_init=hp.torso_init)
    self.frames_per_update = hp.train_period * self.env.frames_per_step
    self.step_var = tf.Variable(0, dtype=tf.int64, name="agent_steps")
    self.agent = build_dqn_agent(
        spec, *self._tf_specs(), self.env.observation_spec(), self.env.num_actions,
        hp.horizon_frames // self.env.frames_per_step, seeds.network, self.step_var)
    self.network, self.optimizer = self.agent.q_network, self.agent.optimizer
    self._learning_starts = hp.learning_starts
    self.loop = DQNLoop(self.agent, self.env, self.step_var, replay_capacity=hp.replay_capacity,
                        batch_size=hp.batch_size, train_period=hp.train_period,
                        learning_starts=hp.learning_starts, epsilon=self.agent.epsilon_greedy,
                        seed=seeds.replay, policy_seed=seeds.policy)
    eval_eps = float(hp.eval_epsilon)
    self.eval_policy = EpsilonGreedyPyPolicy(CompiledPyPolicy(self.agent.policy, spec.eval_games),
                                             lambda: eval_eps, self.env.num_actions,
                                             seeds.eval_policy)

  def restart(self, seeds: RunSeeds):
    self._restart_common("dqn", seeds)
    self.agent.restart_target_updates()       # target network <- online network, counter 0
    self.loop.new_replay(seeds.replay, self._learning_starts, policy_seed=seeds.policy)

  def close(self):
    super().close()
    # a discarded trainer frees its replay's frames now, not when the garbage collector gets to
    # it: the next run's trainer may be loading a replay as large (artifact/grid/memory.py)
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
      with atomic_path(f"{prefix}.replay-frames.npz") as tmp:
        self.loop.replay.save_frames(tmp)

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
