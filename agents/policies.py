"""The Boltzmann policy pi(a|s) = softmax(logits) of an `ActorCriticNetwork`, as a tf-agents TFPolicy."""
from __future__ import annotations

import tensorflow as tf
import tensorflow_probability as tfp
from tf_agents.policies import py_policy, tf_policy
from tf_agents.specs import tensor_spec
from tf_agents.trajectories import policy_step
from tf_agents.trajectories import time_step as ts


class CategoricalPolicy(tf_policy.TFPolicy):
  """Samples a ~ Categorical(logits) from the network's pi head; `greedy=True` takes the argmax.

  Exportable with `tf_agents.policies.policy_saver.PolicySaver`.
  """

  def __init__(self, time_step_spec, action_spec, actor_critic_network, greedy: bool = False,
               name=None):
    super().__init__(time_step_spec, action_spec, policy_state_spec=(), name=name)
    self._net = actor_critic_network
    self._greedy = greedy

  def _variables(self):
    return self._net.variables

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
