"""Collect-and-train loop of Figure 2's DQN family (baselines `deepq` Atari protocol).

One env; every agent step the epsilon-greedy collect policy acts and the transition goes into
replay; after `learning_starts` agent steps, one gradient step on a batch of 32 every
`train_period` (4) agent steps; the target network syncs every `target_update_period` agent
steps (tf-agents counts that in train steps: period / train_period). Units: agent steps.
"""
from __future__ import annotations

from typing import Optional

import numpy as np
import tensorflow as tf
from tf_agents.drivers import py_driver
from tf_agents.specs import tensor_spec

from agents.policies import CompiledPyPolicy, EpsilonGreedyPyPolicy
from agents.replay import FrameStackReplayBuffer, UniformReplay


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
  """Drives `agent.collect_policy` in the single-env batched `py_env` and trains from replay.

  Args:
    agent: an `agents.dqn.StandardDQNAgent` (or subclass), built with `epsilon_greedy` reading `step_var`.
    py_env: batched PyEnvironment with batch size 1.
    step_var: tf.Variable(int64) holding the agent-step count (drives the epsilon schedule).
    replay_capacity: transitions kept. batch_size: 32. train_period: agent steps per update (4).
    learning_starts: agent steps before the first update.
    epsilon: callable () -> float, the exploration rate now (reads `step_var`); acting is
      `EpsilonGreedyPyPolicy` over the agent's greedy policy, the same rule as the agent's
      tf-agents `collect_policy` but with a reseedable numpy stream.
    seed: replay sampling seed. policy_seed: exploration seed.
  """

  def __init__(self, agent, py_env, step_var, *, replay_capacity: int, batch_size: int = 32,
               train_period: int = 4, learning_starts: int = 10_000, epsilon=None,
               seed: Optional[int] = None, policy_seed: int = 0):
    if py_env.batch_size != 1:
      raise ValueError(f"the DQN loop runs one env (baselines deepq), got batch size {py_env.batch_size}")
    self.agent, self.py_env, self.step_var = agent, py_env, step_var
    self.batch_size, self.train_period = int(batch_size), int(train_period)
    self.learning_starts = int(learning_starts)
    self._replay_capacity = int(replay_capacity)
    self._num_steps = agent.train_sequence_length   # n_step_update + 1
    if epsilon is None:
      epsilon = agent.collect_policy._get_epsilon  # pylint: disable=protected-access
    if isinstance(epsilon, LinearEpsilon):
      read = lambda: epsilon.at(self.agent_steps)   # == float(epsilon()): step_var == agent_steps
    else:
      read = lambda: float(epsilon())
    self._policy = EpsilonGreedyPyPolicy(CompiledPyPolicy(agent.policy, batch_size=1),
                                         read, py_env.num_actions, policy_seed)
    self.new_replay(seed, policy_seed=policy_seed)
    data_spec = agent.collect_data_spec
    batched = tf.nest.map_structure(
        lambda s: tf.TensorSpec([self.batch_size, self._num_steps] + list(s.shape), s.dtype), data_spec)
    self._train_fn = tf.function(lambda exp: agent.train(exp), autograph=False).get_concrete_function(batched)

  def new_replay(self, seed: Optional[int], learning_starts: Optional[int] = None,
                 policy_seed: Optional[int] = None):
    """Empty replay (seeded sampling) and a fresh driver feeding it; agent-step count to 0;
    the exploration stream restarted from `policy_seed` (if given)."""
    self.replay = make_replay(self.agent.collect_data_spec, self._replay_capacity)
    self.replay.seed(seed)
    if policy_seed is not None:
      self._policy.reseed(policy_seed)
    self._driver = py_driver.PyDriver(self.py_env, self._policy, observers=[self.replay.add_batch],
                                      max_steps=self.train_period)
    self._time_step = None
    self.agent_steps = 0
    self.step_var.assign(0)
    if learning_starts is not None:
      self.learning_starts = int(learning_starts)

  def reset(self):
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

  def update(self):
    """`train_period` agent steps of collection, then one gradient step once learning started.

    Returns the LossInfo, or None while still filling replay.
    """
    if self._time_step is None:
      self.reset()
    self._time_step, _ = self._driver.run(self._time_step)
    self.agent_steps += self.train_period
    self.step_var.assign(self.agent_steps)
    if self.agent_steps < self.learning_starts or self.replay.size < self._num_steps + self.batch_size:
      return None
    experience = self.replay.sample(self.batch_size, self._num_steps)
    return self._train_fn(tf.nest.map_structure(tf.constant, experience))
