"""The Boltzmann policy pi(a|s) = softmax(logits) of an `ActorCriticNetwork`, as a tf-agents TFPolicy."""
from __future__ import annotations

import tensorflow as tf
import tensorflow_probability as tfp
from tf_agents.policies import tf_policy
from tf_agents.trajectories import policy_step


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
