"""Collect-and-train step of the A2C framework (Fig. 1 and 3): a tf-agents driver fills a rollout
of n agent steps from every env, the agent trains on it, all in one compiled `tf.function`.

Units: one `update()` = n agent steps per env = n * num_envs * frames_per_step frames.
"""
from __future__ import annotations

import tensorflow as tf
from tf_agents.drivers import dynamic_step_driver
from tf_agents.environments import tf_py_environment
from tf_agents.replay_buffers import tf_uniform_replay_buffer
from tf_agents.trajectories import trajectory


class A2CLoop:
  """Drives `agent.collect_policy` in `py_env` (a batched PyEnvironment) n steps, then trains.

  Args:
    agent: an `agents.a2c.A2CAgentBase`.
    py_env: `envs.BatchedGymnasiumEnv` with batch size B.
    n_steps: rollout length n (5, baselines A2C `nsteps`).
  """

  def __init__(self, agent, py_env, n_steps: int = 5):
    self.agent = agent
    self.py_env = py_env
    self.n_steps = int(n_steps)
    self.tf_env = tf_py_environment.TFPyEnvironment(py_env, check_dims=False)
    self._buffer = tf_uniform_replay_buffer.TFUniformReplayBuffer(
        agent.collect_data_spec, batch_size=py_env.batch_size, max_length=self.n_steps)
    self._driver = dynamic_step_driver.DynamicStepDriver(
        self.tf_env, agent.collect_policy, observers=[self._buffer.add_batch],
        num_steps=self.n_steps * py_env.batch_size)
    self._time_step = None
    batched_spec = tf.nest.map_structure(
        lambda s: tf.TensorSpec([py_env.batch_size] + list(s.shape), s.dtype), self.tf_env.time_step_spec())
    # A fixed input signature: traced once, never retraced (the reset time step and the
    # driver's returned one differ in static shape information).
    self._update = tf.function(self._update_fn, input_signature=[batched_spec], autograph=False)

  def _update_fn(self, time_step):
    self._buffer.clear()
    next_time_step, _ = self._driver.run(time_step)
    rollout = self._buffer.gather_all()                       # [B, n, ...]
    batch, n = self.py_env.batch_size, self.n_steps
    rollout = tf.nest.map_structure(
        lambda x: tf.ensure_shape(x, [batch, n] + x.shape.as_list()[2:]), rollout)
    experience = append_bootstrap_step(rollout, next_time_step)  # [B, n + 1, ...]
    loss_info = self.agent.train(experience)
    return next_time_step, loss_info

  def reset(self):
    self._time_step = self.tf_env.reset()

  def update(self):
    """One rollout of n steps from every env plus one gradient step. Returns the LossInfo."""
    if self._time_step is None:
      self.reset()
    self._time_step, loss_info = self._update(self._time_step)
    return loss_info


def append_bootstrap_step(rollout, next_time_step):
  """Appends s_{t+k} as step n of the experience (action/reward/discount are dummies)."""
  batch_size = tf.shape(next_time_step.discount)[0]
  last = trajectory.Trajectory(
      step_type=next_time_step.step_type,
      observation=next_time_step.observation,
      action=tf.zeros([batch_size], rollout.action.dtype),
      policy_info=rollout.policy_info,
      next_step_type=next_time_step.step_type,
      reward=tf.zeros_like(next_time_step.reward),
      discount=tf.ones_like(next_time_step.discount))
  if tf.nest.flatten(rollout.policy_info):
    raise NotImplementedError("policy_info is not used by the A2C-framework agents")
  return tf.nest.map_structure(lambda r, l: tf.concat([r, l[:, None]], axis=1), rollout, last)
