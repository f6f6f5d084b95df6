"""Collect-and-train step of the A2C framework (Fig. 1 and 3): n agent steps from every env with
the current policy, then one gradient step on that rollout.

Two collections, the same rollouts (the rollout-equivalence test checks them bit for bit):
- synchronous (one vector env): a tf-agents `DynamicStepDriver` steps all envs, waits, runs the
  policy on all of them, and so on; collection and training are one compiled `tf.function`.
- overlapped (a `GroupedBatchedEnv` of k >= 2 groups): while the policy acts on one group, the
  emulators of the other groups step (ale-py's asynchronous `send`/`recv`), as envpool's
  asynchronous mode does. Every env still takes exactly n steps per update with the same
  parameters, and the Boltzmann policy samples each env's action from noise fixed by (seed,
  agent step, env index) (`agents.policies.gumbel_max_sample`), so each env's trajectory is
  the one the synchronous collection gives. This is a Python loop because tf-agents' drivers
  step a `PyEnvironment` synchronously: they cannot leave half the emulators running during
  inference. The gradient step is the same compiled `agent.train`.

Units: one `update()` = n agent steps per env = n * num_envs * frames_per_step frames.
"""
from __future__ import annotations

import numpy as np
import tensorflow as tf
from tf_agents.drivers import dynamic_step_driver
from tf_agents.environments import tf_py_environment
from tf_agents.replay_buffers import tf_uniform_replay_buffer
from tf_agents.trajectories import trajectory

from envs.batched_env import GroupedBatchedEnv


class A2CLoop:
  """Collects n steps of `agent.collect_policy` in `py_env` (a batched PyEnvironment), then trains.

  Args:
    agent: an `agents.a2c.A2CAgentBase`.
    py_env: `envs.BatchedGymnasiumEnv` with batch size B (synchronous collection), or a
      `envs.GroupedBatchedEnv` of >= 2 groups (overlapped collection, module docstring).
    n_steps: rollout length n (5, baselines A2C `nsteps`).

  `last_experience`: the Trajectory [B, n + 1, ...] of the last update (tensors or numpy arrays),
  kept for tests and debugging.
  """

  def __init__(self, agent, py_env, n_steps: int = 5):
    self.agent = agent
    self.py_env = py_env
    self.n_steps = int(n_steps)
    self.overlapped = isinstance(py_env, GroupedBatchedEnv) and len(py_env.groups) > 1
    self.last_experience = None
    if self.overlapped:
      self._init_overlapped()
      return
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
    return next_time_step, loss_info, experience

  def reset(self):
    if self.overlapped:
      self._group_steps = [g.reset() for g in self.py_env.groups]
    else:
      self._time_step = self.tf_env.reset()

  def restore_env(self, actions: np.ndarray):
    """Replays the env's logged `actions` (uint8 [steps, envs], `action_log()`) from its seeded
    reset and continues collection from the state they lead to (a resumed or extended run)."""
    if self.overlapped:
      self._group_steps = self.py_env.replay_groups(actions)
    else:
      self._time_step = tf.nest.map_structure(tf.convert_to_tensor, self.py_env.replay(actions))

  def update(self):
    """One rollout of n steps from every env plus one gradient step. Returns the LossInfo."""
    if self.overlapped:
      return self._update_overlapped()
    if self._time_step is None:
      self.reset()
    self._time_step, loss_info, self.last_experience = self._update(self._time_step)
    return loss_info

  # --- overlapped collection ---------------------------------------------------------------
  def _init_overlapped(self):
    policy = self.agent.collect_policy
    obs_spec = self.py_env.observation_spec()
    self._obs_shape = tuple(obs_spec.shape)
    self._group_steps = None
    self._rows = [slice(off, off + g.batch_size)          # each group's rows of the batch
                  for g, off in zip(self.py_env.groups, self.py_env.offsets)]
    self._env_ids = [tf.range(r.start, r.stop, dtype=tf.int32) for r in self._rows]
    self._sample = tf.function(policy.sample_actions, autograph=False).get_concrete_function(
        tf.TensorSpec([None] + list(self._obs_shape), obs_spec.dtype),
        tf.TensorSpec([None], tf.int32), tf.TensorSpec([], tf.int64))
    spec = self.agent.collect_data_spec
    B, n1 = self.py_env.batch_size, self.n_steps + 1
    fields = ("step_type", "observation", "action", "next_step_type", "reward", "discount")
    signature = [tf.TensorSpec([B, n1] + list(getattr(spec, f).shape), getattr(spec, f).dtype)
                 for f in fields]

    def train(step_type, observation, action, next_step_type, reward, discount):
      return self.agent.train(trajectory.Trajectory(
          step_type=step_type, observation=observation, action=action, policy_info=(),
          next_step_type=next_step_type, reward=reward, discount=discount))
    self._train = tf.function(train, input_signature=signature, autograph=False)

  def _update_overlapped(self):
    groups, n = self.py_env.groups, self.n_steps
    if self._group_steps is None:
      self.reset()
    B = self.py_env.batch_size
    spec = self.agent.collect_data_spec
    obs = np.empty((B, n + 1) + self._obs_shape, spec.observation.dtype.as_numpy_dtype)
    step_type = np.empty((B, n + 1), np.int32)
    next_step_type = np.empty((B, n + 1), np.int32)
    action = np.zeros((B, n + 1), spec.action.dtype.as_numpy_dtype)
    reward = np.zeros((B, n + 1), np.float32)
    discount = np.ones((B, n + 1), np.float32)
    sampling_step = self.agent.collect_policy.sampling_step
    step0 = int(sampling_step.numpy())

    def act(g: int, t: int):               # observe group g at step t, sample, start its step
      rows, time_step = self._rows[g], self._group_steps[g]
      obs[rows, t] = time_step.observation
      step_type[rows, t] = time_step.step_type
      a = self._sample(tf.constant(time_step.observation), self._env_ids[g],
                       tf.constant(step0 + t, tf.int64)).numpy()
      action[rows, t] = a
      groups[g].send(a)

    def receive(g: int, t: int):           # the outcome of group g's step t
      rows = self._rows[g]
      time_step = self._group_steps[g] = groups[g].recv()
      reward[rows, t], discount[rows, t] = time_step.reward, time_step.discount
      next_step_type[rows, t] = time_step.step_type

    for t in range(n):
      for g in range(len(groups)):         # groups g+1.. step while group g is acted on
        if t > 0:
          receive(g, t - 1)
        act(g, t)
    for g in range(len(groups)):
      receive(g, n - 1)
      rows, time_step = self._rows[g], self._group_steps[g]
      obs[rows, n] = time_step.observation  # s_{t+k} for the bootstrap (append_bootstrap_step)
      step_type[rows, n] = next_step_type[rows, n] = time_step.step_type
    sampling_step.assign_add(n)
    self.last_experience = trajectory.Trajectory(
        step_type=step_type, observation=obs, action=action, policy_info=(),
        next_step_type=next_step_type, reward=reward, discount=discount)
    return self._train(step_type, obs, action, next_step_type, reward, discount)


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
