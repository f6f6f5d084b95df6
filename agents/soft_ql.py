"""`soft_ql` of Figure 3 (Sec. 6.3): soft Q-learning in the A2C framework, as a tf-agents TFAgent.

Same network, rollouts, optimizer and hyperparameters as A2C; only the update rule differs.
Q is parameterized dueling-style by the A2C network (eq. 46-47, docs/protocol.md section 4):

    Q(s, a) = V(s) + tau * log pi(a|s)            (KL form: + tau * log(pi(a|s) / pibar(a)))

Target (no target network, stop-gradiented), entropy form:

    delta_t = r_t + tau*H_t + gamma * V(s_{t+1}) - V(s_t)
    Delta_t = sum_{d<k} gamma^d delta_{t+d}
    y_t     = -tau*H_t + V(s_t) + Delta_t
    (KL form: r_t - tau*KL_t in delta_t and +tau*KL_t in y_t)

Loss 0.5 * (Q(s_t,a_t) - y_t)^2 with the gradient into the advantage stream tau*log pi scaled by
1/tau and the gradient into V scaled by c = 0.5; implemented as the surrogate

    L = sg(Q(s_t,a_t) - y_t) * (log pi(a_t|s_t) + c * V(s_t))

whose gradient is exactly that scaled squared-error gradient. Behaviour policy = pi (Boltzmann),
no epsilon-greedy.
"""
from __future__ import annotations

import tensorflow as tf

from agents import losses
from agents.a2c import A2CAgentBase, RolloutTerms


class SoftQLAgent(A2CAgentBase):
  """Soft Q-learning with Q = V + tau*log pi (see module docstring). Args as `A2CAgentBase`."""

  def q_values(self, terms: RolloutTerms):
    """Q(s_t, a_t) = V(s_t) + tau * log pi(a_t|s_t) [+ tau*log|A| in the KL form]; [B, T]."""
    return losses.soft_q_values(terms.values, terms.log_pi_a, self.tau,
                                self._n_actions() if self.regularizer == "kl" else 0)

  def soft_targets(self, terms: RolloutTerms):
    """y_t of eq. (46-47), stop-gradiented; [B, T]."""
    return losses.soft_q_targets(terms.rewards, self._regularizer(terms), terms.values,
                                 terms.next_values, terms.discounts)

  def _loss_from_terms(self, terms: RolloutTerms):
    q = self.q_values(terms)
    y = self.soft_targets(terms)
    surrogate = losses.soft_q_surrogate(q, y, terms.log_pi_a, terms.values, self.value_coef)
    return surrogate, dict(q_loss=tf.reduce_mean(0.5 * tf.square(q - y)),
                           entropy=tf.reduce_mean(terms.entropy))

  def _n_actions(self) -> int:
    return int(self.action_spec.maximum) - int(self.action_spec.minimum) + 1
