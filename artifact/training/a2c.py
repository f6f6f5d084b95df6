"""The A2C framework (Fig. 1 and 3): its agent builder, its collect-and-train step and its trainer.

The step: n agent steps from every env with the current policy, then one gradient step on that
rollout.

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

import math

import numpy as np
import tensorflow as tf
from tf_agents.drivers import dynamic_step_driver
from tf_agents.environments import tf_py_environment
from tf_agents.replay_buffers import tf_uniform_replay_buffer
from tf_agents.trajectories import trajectory

from agents.optimizers import RMSpropTF1
from agents.policies import CategoricalPolicy, CompiledPyPolicy
from artifact.experiment.hparams import A2CHparams
from artifact.experiment.runspec import RunSpec
from artifact.experiment.seeding import RunSeeds
from artifact.training.trainer import Trainer, agent_class, make_network
from envs.batched_env import GroupedBatchedEnv

# --- the collect-and-train step ------------------------------------------------------------------

class A2CLoop:
  """Collects n steps of `agent.collect_policy` in `py_env` (a batched PyEnvironment), then trains.

  Args:
    agent: an `agents.a2c.A2CAgentBase`.
    py_env: `envs.batched_env.BatchedGymnasiumEnv` with batch size B (synchronous collection), or a
      `envs.batched_env.GroupedBatchedEnv` of >= 2 groups (overlapped collection, module docstring).
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
    self._time_step = None           # synchronous collection: the batched time step it goes on from
    self._group_steps = None         # overlapped collection: each group's time step
    if self.overlapped:
      self.tf_env = self._buffer = self._driver = self._update = None
      (self._obs_shape, self._rows, self._env_ids, self._sample,
       self._train) = self._overlapped_parts()
      return
    self._obs_shape = self._rows = self._env_ids = self._sample = self._train = None
    self.tf_env = tf_py_environment.TFPyEnvironment(py_env, check_dims=False)
    self._buffer = tf_uniform_replay_buffer.TFUniformReplayBuffer(
        agent.collect_data_spec, batch_size=py_env.batch_size, max_length=self.n_steps)
    self._driver = dynamic_step_driver.DynamicStepDriver(
        self.tf_env, agent.collect_policy, observers=[self._buffer.add_batch],
        num_steps=self.n_steps * py_env.batch_size)
    batched_spec = tf.nest.map_structure(
        lambda s: tf.TensorSpec([py_env.batch_size] + list(s.shape), s.dtype),
        self.tf_env.time_step_spec())
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
    """Resets every env (seeded as set); the next update collects from the new games."""
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
  def _overlapped_parts(self):
    """(observation shape, each group's rows of the batch, their env indices, the compiled
    action sampler, the compiled train step) of the overlapped collection."""
    policy = self.agent.collect_policy
    obs_spec = self.py_env.observation_spec()
    obs_shape = tuple(obs_spec.shape)
    rows = [slice(off, off + g.batch_size)                # each group's rows of the batch
            for g, off in zip(self.py_env.groups, self.py_env.offsets)]
    env_ids = [tf.range(r.start, r.stop, dtype=tf.int32) for r in rows]
    sample = tf.function(policy.sample_actions, autograph=False).get_concrete_function(
        tf.TensorSpec([None] + list(obs_shape), obs_spec.dtype),
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
    return obs_shape, rows, env_ids, sample, tf.function(train, input_signature=signature,
                                                         autograph=False)

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
  return tf.nest.map_structure(lambda r, s: tf.concat([r, s[:, None]], axis=1), rollout, last)


# --- the agent -----------------------------------------------------------------------------------
def build_a2c_agent(spec: RunSpec, time_step_spec, action_spec, observation_spec,
                    num_actions: int, decay_updates: int, seed: int, policy_seed: int = 0):
  """The A2C-framework agent of `spec`'s condition (`agent_class`), built from the spec's
  hyperparameters (`A2CHparams`: gamma, tau, value_coef, max_grad_norm, regularizer, num_envs)
  and its agent arguments (`spec.agent_kwargs`: the condition's, with --set overrides), with
  TF1-style RMSProp (mean square starts at 1, baselines), lr linearly decayed to 0 over
  `decay_updates` updates (the horizon, `A2CHparams.horizon_frames`, in updates; it stays 0
  after). `seed`: weights; `policy_seed`: action sampling."""
  hp: A2CHparams = spec.hparams
  net = make_network("a2c", observation_spec, num_actions, seed, hp.precision)
  lr = tf.keras.optimizers.schedules.PolynomialDecay(hp.lr, max(1, decay_updates), 0.0, power=1.0)
  opt = RMSpropTF1(lr, rho=hp.rmsprop_rho, epsilon=hp.rmsprop_eps)
  agent = agent_class(spec.condition_spec)(
      time_step_spec, action_spec, net, opt, gamma=hp.gamma, tau=hp.tau, value_coef=hp.value_coef,
      max_grad_norm=hp.max_grad_norm, regularizer=hp.regularizer, policy_seed=policy_seed,
      num_envs=hp.num_envs, train_step_counter=tf.Variable(0, dtype=tf.int64),
      **spec.agent_kwargs)
  agent.initialize()
  return agent


# --- the trainer ---------------------------------------------------------------------------------
def a2c_env_groups(num_envs: int, requested: int | None = None) -> int:
  """Env groups of the A2C collection (`A2CLoop`): `requested` (--env-groups; 1 = synchronous,
  k >= 2 = overlapped over k groups) if given, else 2 when TensorFlow sees a GPU (the policy
  runs there while the CPU steps the other group's emulators; not measured here) and 1 on CPUs,
  where overlapping measured slower: on 2 cores the emulator threads and the network compete for
  the same cores (docs/performance.md). Both give the same rollouts bit for bit. Raises
  ValueError for a value that is not an int in [1, num_envs]."""
  if requested is None:
    return 2 if tf.config.list_physical_devices("GPU") else 1
  if isinstance(requested, bool) or not isinstance(requested,
                                                   int) or not 1 <= requested <= num_envs:
    raise ValueError(f"env_groups={requested!r}: must be an integer in [1, {num_envs}] "
                     f"(1: synchronous collection, k >= 2: k env groups, overlapped)")
  return requested


class A2CTrainer(Trainer):
  """A2C framework (Fig. 1, 3): 16 envs, n-step rollouts, RMSProp (TF1 start); the collection is
  synchronous or overlapped (`a2c_env_groups(num_envs, env_groups)`), with the same rollouts."""

  def __init__(self, spec: RunSpec, seeds: RunSeeds, env_groups: int | None = None):
    """Builds the run's envs, agent, loop and evaluation policy. Raises ValueError for
    env_groups outside [1, num_envs]."""
    hp = spec.hparams
    super().__init__(spec, seeds, hp.num_envs, a2c_env_groups(hp.num_envs, env_groups))
    self.frames_per_update = hp.n_steps * hp.num_envs * self.env.frames_per_step
    decay_updates = max(1, math.ceil(hp.horizon_frames / self.frames_per_update))
    self.agent = build_a2c_agent(
        spec, *self._tf_specs(), self.env.observation_spec(), self.env.num_actions,
        decay_updates, seeds.network, policy_seed=seeds.policy)
    self.network, self.optimizer = self.agent.network, self.agent.optimizer
    self.loop = A2CLoop(self.agent, self.env, hp.n_steps)
    tf_policy = CategoricalPolicy(self.agent.time_step_spec, self.agent.action_spec,
                                  self.agent.network, seed=seeds.eval_policy)
    self.eval_policy = _SeedablePolicy(CompiledPyPolicy(tf_policy, spec.eval_games),
                                       tf_policy.seed_sampling)

  def restart(self, seeds: RunSeeds):
    self._restart_common("a2c", seeds)
    self.agent.collect_policy.seed_sampling(seeds.policy)
    self.loop.reset()


class _SeedablePolicy:
  """A compiled PyPolicy plus the `seed_sampling` of the TF policy behind it."""

  def __init__(self, py_policy, seed_sampling):
    self._py_policy, self.seed_sampling = py_policy, seed_sampling

  def action(self, time_step):
    """The compiled policy's action for a batched time step."""
    return self._py_policy.action(time_step)
