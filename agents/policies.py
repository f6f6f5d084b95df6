"""The Boltzmann policy pi(a|s) = softmax(logits) of an `ActorCriticNetwork`, as a tf-agents
TFPolicy."""
from __future__ import annotations

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp
from tf_agents.policies import py_policy, tf_policy
from tf_agents.specs import tensor_spec
from tf_agents.trajectories import policy_step
from tf_agents.trajectories import time_step as ts


def gumbel_max_sample(logits, seed, step, env_ids, num_envs: int):
  """Samples a ~ Categorical(softmax(logits)) per row by the Gumbel-max trick, with the noise of
  env `env_ids[i]` at agent step `step` fixed by (seed, step, env id) alone.

  The noise is one stateless uniform draw of shape [max(num_envs, max(env_ids) + 1), |A|] keyed by
  (seed, step), and row i takes row `env_ids[i]` of it: an env gets the same action whether it is
  sampled in the full batch or in a group of envs (the overlapped A2C collection,
  `artifact.training.a2c`), which the rollout-equivalence test relies on.

  Args: logits float32 [b, |A|]; seed, step int64 scalars; env_ids int32 [b] (distinct, in
  [0, num_envs) for the runs' use); num_envs: Python int, the run's env count.
  Returns int64 [b]. argmax(logits + G), G ~ Gumbel(0, 1), is an exact Categorical sample.
  """
  rows = tf.maximum(tf.constant(num_envs, tf.int32), tf.reduce_max(env_ids) + 1)
  u = tf.random.stateless_uniform(tf.stack([rows, tf.shape(logits)[1]]),
                                  seed=tf.stack([seed, step]), minval=1e-20, maxval=1.0)
  gumbel = -tf.math.log(-tf.math.log(u))
  return tf.argmax(logits + tf.gather(gumbel, env_ids), axis=-1, output_type=tf.int64)


class CategoricalPolicy(tf_policy.TFPolicy):
  """Samples a ~ Categorical(logits) from the network's pi head (the Boltzmann policy).

  Sampling is `gumbel_max_sample` keyed by the policy's seed, its agent-step counter and the
  env's index in the batch, not TF's per-op random streams: `seed_sampling(seed)` puts the policy
  back exactly where a new one built with `seed` starts, even inside an already traced
  `tf.function`, so a run does not depend on what ran before it in the process; and a group of the
  envs can be sampled on its own (`sample_actions`) with the actions the full batch would have got.
  Each `action()` call is one agent step of every env in the batch (the counter advances by one).
  Seed and counter are variables: checkpoints and exported policies carry them.
  Exportable with `tf_agents.policies.policy_saver.PolicySaver`.

  Args: num_envs: the batch size the policy acts on in training (noise rows; see
  `gumbel_max_sample`); 0 means the batch size of each call.
  """

  def __init__(self, time_step_spec, action_spec, actor_critic_network,
               seed: int = 0, num_envs: int = 0, name=None):
    super().__init__(time_step_spec, action_spec, policy_state_spec=(), name=name)
    self._net = actor_critic_network
    self._num_envs = int(num_envs)
    self._seed = tf.Variable(int(seed), dtype=tf.int64, trainable=False, name="sampling_seed")
    self._step = tf.Variable(0, dtype=tf.int64, trainable=False, name="sampling_step")

  def seed_sampling(self, seed: int):
    """Restarts the action-sampling stream from `seed` (eager; traced functions see it)."""
    self._seed.assign(int(seed))
    self._step.assign(0)

  @property
  def sampling_step(self) -> tf.Variable:
    """Agent steps per env sampled since `seed_sampling` (int64 variable)."""
    return self._step

  def _variables(self):
    return self._net.variables + [self._seed, self._step]

  def sample_actions(self, observation, env_ids, step):
    """Actions of the envs `env_ids` (int32 [b]) at agent step `step` (int64 scalar) from their
    observations [b, ...]: the actions `action()` gives those envs at that step in the full
    batch. Does not advance the counter (the caller advances `sampling_step` per step taken).
    Returns int64 [b]."""
    (logits, _), _ = self._net(observation)
    return gumbel_max_sample(tf.cast(logits, tf.float32), self._seed, step, env_ids, self._num_envs)

  def _action(self, time_step, policy_state, seed):
    del seed  # the policy's own seed and counter, see the class docstring
    (logits, _), _ = self._net(time_step.observation, step_type=time_step.step_type)
    logits = tf.cast(logits, tf.float32)
    env_ids = tf.range(tf.shape(logits)[0], dtype=tf.int32)
    step = self._step.assign_add(1) - 1
    action = gumbel_max_sample(logits, self._seed, step, env_ids, self._num_envs)
    return policy_step.PolicyStep(tf.cast(action, self.action_spec.dtype), policy_state, ())

  def _distribution(self, time_step, policy_state):
    (logits, _), _ = self._net(time_step.observation, step_type=time_step.step_type)
    logits = tf.cast(logits, tf.float32)
    dist = tfp.distributions.Categorical(logits=logits, dtype=self.action_spec.dtype)
    return policy_step.PolicyStep(dist, policy_state)


class CompiledPyPolicy(py_policy.PyPolicy):
  """A tf-agents `PyPolicy` view of a `TFPolicy` through one pre-traced concrete function.

  `py_tf_eager_policy.PyTFEagerPolicy` canonicalizes the nested TimeStep on every call
  (about 3 ms per call on 2 CPU cores, more than the Nature-CNN forward pass); this calls a
  concrete function on the four flat tensors instead. Acts on batched numpy time steps of
  `batch_size` environments.
  """

  def __init__(self, policy: tf_policy.TFPolicy, batch_size: int):
    super().__init__(tensor_spec.to_nest_array_spec(policy.time_step_spec),
                     tensor_spec.to_nest_array_spec(policy.action_spec))
    self._fn = compile_on_time_steps(lambda time_step: policy.action(time_step).action,
                                     policy.time_step_spec, batch_size)

  def _action(self, time_step, policy_state):
    return policy_step.PolicyStep(self._fn(time_step).numpy(), (), ())


def compile_on_time_steps(fn, time_step_spec, batch_size: int, *extra_specs):
  """`fn(TimeStep, *extra)` traced once, as one concrete function of the time step's four flat
  tensors [batch_size, ...] (step type, reward, discount, observation) and `extra_specs`.
  Returns `call(time_step, *extra)` on a batched numpy time step: what `CompiledPyPolicy` and
  the play command's saved-policy wrappers call, without the nest canonicalization of
  `PyTFEagerPolicy`. `time_step_spec`: TensorSpecs or array specs (dtypes either way)."""
  sig = [tf.TensorSpec([batch_size] + list(s.shape), tf.as_dtype(s.dtype))
         for s in (time_step_spec.step_type, time_step_spec.reward, time_step_spec.discount,
                   time_step_spec.observation)]

  def flat(step_type, reward, discount, observation, *extra):
    return fn(ts.TimeStep(step_type, reward, discount, observation), *extra)
  concrete = tf.function(flat, autograph=False).get_concrete_function(*sig, *extra_specs)

  def call(time_step, *extra):
    return concrete(tf.constant(time_step.step_type), tf.constant(time_step.reward),
                    tf.constant(time_step.discount), tf.constant(time_step.observation), *extra)
  return call


class ObservationPyPolicy(py_policy.PyPolicy):
  """A tf-agents `PyPolicy` view of a `TFPolicy` whose action reads nothing but the observation,
  traced once as a concrete function of the observation alone ([batch_size, ...]); the time step
  is built inside the graph (step type MID, reward 0, discount 1). For tf-agents' `GreedyPolicy`
  over a `QPolicy` of `agents.networks.QNetwork` (which ignores the step type): the DQN family's
  acting policy. `on_observation(obs)` is one tensor in per call instead of `CompiledPyPolicy`'s
  four, without tf-agents' nest handling; the DQN loop calls it once per agent step.
  """

  def __init__(self, policy: tf_policy.TFPolicy, batch_size: int):
    super().__init__(tensor_spec.to_nest_array_spec(policy.time_step_spec),
                     tensor_spec.to_nest_array_spec(policy.action_spec))
    spec = policy.time_step_spec
    mid = tf.constant(ts.StepType.MID, spec.step_type.dtype)

    def act(observation):
      b = tf.shape(observation)[0:1]
      return policy.action(ts.TimeStep(tf.fill(b, mid), tf.zeros(b, spec.reward.dtype),
                                       tf.ones(b, spec.discount.dtype), observation)).action
    self._fn = tf.function(act, autograph=False).get_concrete_function(
        tf.TensorSpec([batch_size] + list(spec.observation.shape), spec.observation.dtype))

  def on_observation(self, observation) -> np.ndarray:
    """Actions [batch_size] for the observations [batch_size, ...] (numpy)."""
    return self._fn(tf.constant(observation)).numpy()

  def _action(self, time_step, policy_state):
    return policy_step.PolicyStep(self.on_observation(time_step.observation), (), ())


class EpsilonGreedyPyPolicy(py_policy.PyPolicy):
  """Epsilon-greedy over a greedy `PyPolicy`, with its own seeded numpy generator.

  With probability epsilon() each env takes a uniformly random action, else the greedy one
  (baselines deepq / tf-agents `EpsilonGreedyPolicy` semantics). The random draws come from
  `numpy.random.Generator(PCG64(seed))`, so `seed_sampling(seed)` restarts the stream exactly, which
  TF's per-op random streams inside a traced function cannot do.

  Args:
    greedy: a PyPolicy returning int actions [B] (e.g. `CompiledPyPolicy(agent.policy, B)`).
    epsilon: callable () -> float in [0, 1], read at every step (e.g. a linear schedule).
    num_actions: |A|. seed: int.
  """

  def __init__(self, greedy: py_policy.PyPolicy, epsilon, num_actions: int, seed: int = 0):
    super().__init__(greedy.time_step_spec, greedy.action_spec)
    self._greedy, self._epsilon, self._num_actions = greedy, epsilon, int(num_actions)
    self.seed_sampling(seed)

  def seed_sampling(self, seed: int):
    """Restarts the exploration stream from `seed` (numpy PCG64), as at construction."""
    self._rng = np.random.Generator(np.random.PCG64(int(seed)))

  @property
  def rng(self) -> np.random.Generator:
    """The exploration stream (its `bit_generator.state` is checkpointed beside the weights)."""
    return self._rng

  def choose(self, shape, greedy) -> np.ndarray:
    """The epsilon-greedy actions of `shape` (int64-like, the action spec's dtype): one draw of
    `rng.random(shape)` (explore where < epsilon()) and one of `rng.integers(0, |A|, shape)` per
    call, in that order; `greedy()` (-> int array of `shape`) is called only where some env does
    not explore. `action()` is this on its time step's greedy actions; the DQN loop calls it with
    `ObservationPyPolicy.on_observation` (`artifact.training.dqn.DQNLoop`)."""
    explore = self._rng.random(shape) < float(self._epsilon())
    random = self._rng.integers(0, self._num_actions, size=shape)
    dtype = self.action_spec.dtype
    if explore.all():          # the greedy action would be discarded: skip the network
      return random.astype(dtype)
    return np.where(explore, random, np.asarray(greedy())).astype(dtype)

  def _action(self, time_step, policy_state):
    action = self.choose(np.shape(time_step.step_type),
                         lambda: self._greedy.action(time_step).action)
    return policy_step.PolicyStep(action, (), ())
