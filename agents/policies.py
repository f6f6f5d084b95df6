"""The Boltzmann policy pi(a|s) = softmax(logits) of an `ActorCriticNetwork`, as a tf-agents TFPolicy."""
from __future__ import annotations

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp
from tf_agents.policies import py_policy, tf_policy
from tf_agents.specs import tensor_spec
from tf_agents.trajectories import policy_step
from tf_agents.trajectories import time_step as ts


class CategoricalPolicy(tf_policy.TFPolicy):
  """Samples a ~ Categorical(logits) from the network's pi head; `greedy=True` takes the argmax.

  Sampling draws from the policy's own `tf.random.Generator` (stateless categorical sampling with
  seeds split off the generator), not from TF's per-op random streams: `reseed(seed)` puts the
  policy back exactly where a new one built with `seed` starts, even inside an already traced
  `tf.function`, so a run does not depend on what ran before it in the process.
  Exportable with `tf_agents.policies.policy_saver.PolicySaver`.
  """

  def __init__(self, time_step_spec, action_spec, actor_critic_network, greedy: bool = False,
               seed: int = 0, name=None):
    super().__init__(time_step_spec, action_spec, policy_state_spec=(), name=name)
    self._net = actor_critic_network
    self._greedy = greedy
    self._rng = tf.random.Generator.from_seed(int(seed))

  def reseed(self, seed: int):
    """Restarts the action-sampling stream from `seed` (eager; traced functions see it)."""
    self._rng.reset_from_seed(int(seed))

  def _variables(self):
    return self._net.variables

  def _action(self, time_step, policy_state, seed):
    del seed  # the policy's own generator, see the class docstring
    (logits, _), _ = self._net(time_step.observation, step_type=time_step.step_type)
    logits = tf.cast(logits, tf.float32)
    if self._greedy:
      action = tf.argmax(logits, -1)
    else:
      action = tf.random.stateless_categorical(logits, 1, seed=self._rng.make_seeds(1)[:, 0])[:, 0]
    return policy_step.PolicyStep(tf.cast(action, self.action_spec.dtype), policy_state, ())

  def _distribution(self, time_step, policy_state):
    (logits, _), _ = self._net(time_step.observation, step_type=time_step.step_type)
    logits = tf.cast(logits, tf.float32)
    if self._greedy:
      dist = tfp.distributions.Deterministic(
          tf.cast(tf.argmax(logits, -1), self.action_spec.dtype))
    else:
      dist = tfp.distributions.Categorical(logits=logits, dtype=self.action_spec.dtype)
    return policy_step.PolicyStep(dist, policy_state)


class CompiledPyPolicy(py_policy.PyPolicy):
  """A tf-agents `PyPolicy` view of a `TFPolicy` through one pre-traced concrete function.

  `py_tf_eager_policy.PyTFEagerPolicy` canonicalizes the nested TimeStep on every call
  (about 3 ms per call on the 2-core machine, more than the Nature-CNN forward pass); this calls a
  concrete function on the four flat tensors instead. Acts on batched numpy time steps of
  `batch_size` environments.
  """

  def __init__(self, policy: tf_policy.TFPolicy, batch_size: int):
    super().__init__(tensor_spec.to_nest_array_spec(policy.time_step_spec),
                     tensor_spec.to_nest_array_spec(policy.action_spec))
    spec = policy.time_step_spec
    sig = [tf.TensorSpec([batch_size] + list(s.shape), s.dtype)
           for s in (spec.step_type, spec.reward, spec.discount, spec.observation)]

    def act(step_type, reward, discount, observation):
      return policy.action(ts.TimeStep(step_type, reward, discount, observation)).action
    self._fn = tf.function(act, autograph=False).get_concrete_function(*sig)

  def _action(self, time_step, policy_state):
    action = self._fn(tf.constant(time_step.step_type), tf.constant(time_step.reward),
                      tf.constant(time_step.discount), tf.constant(time_step.observation))
    return policy_step.PolicyStep(action.numpy(), (), ())


class EpsilonGreedyPyPolicy(py_policy.PyPolicy):
  """Epsilon-greedy over a greedy `PyPolicy`, with its own seeded numpy generator.

  With probability epsilon() each env takes a uniformly random action, else the greedy one
  (baselines deepq / tf-agents `EpsilonGreedyPolicy` semantics). The random draws come from
  `numpy.random.Generator(PCG64(seed))`, so `reseed(seed)` restarts the stream exactly, which
  TF's per-op random streams inside a traced function cannot do.

  Args:
    greedy: a PyPolicy returning int actions [B] (e.g. `CompiledPyPolicy(agent.policy, B)`).
    epsilon: callable () -> float in [0, 1], read at every step (e.g. a linear schedule).
    num_actions: |A|. seed: int.
  """

  def __init__(self, greedy: py_policy.PyPolicy, epsilon, num_actions: int, seed: int = 0):
    super().__init__(greedy.time_step_spec, greedy.action_spec)
    self._greedy, self._epsilon, self._num_actions = greedy, epsilon, int(num_actions)
    self.reseed(seed)

  def reseed(self, seed: int):
    self._rng = np.random.Generator(np.random.PCG64(int(seed)))

  def _action(self, time_step, policy_state):
    shape = np.shape(time_step.step_type)
    explore = self._rng.random(shape) < float(self._epsilon())
    random = self._rng.integers(0, self._num_actions, size=shape)
    dtype = self.action_spec.dtype
    if explore.all():          # the greedy action would be discarded: skip the network
      return policy_step.PolicyStep(random.astype(dtype), (), ())
    greedy = np.asarray(self._greedy.action(time_step).action)
    return policy_step.PolicyStep(np.where(explore, random, greedy).astype(dtype), (), ())
