"""The paper's targets and losses as plain functions, named after what they compute (as rlax does).

The agents call these functions. `artifact/analysis/theory.py` checks the ones the theorems are
about (`entropy_and_kl`, `soft_q_values`, `soft_q_surrogate`) on real networks, so the theorems are
verified on the code that trains; the targets and returns (`discounted_sum`, `n_step_returns`,
`soft_q_targets`) are checked against numpy references of eq. 46-47 and the n-step return in
tests/test_a2c_math.py (through the agents that call them). Shapes: [B, T] for per-step quantities
(B parallel envs, T rollout steps), [B] for bootstraps; [B, |A|] for per-action values. float32 in
training, float64 in the theory checks. `discounts` are gamma * (1 - done_t): zero after a terminal,
so nothing is bootstrapped through it. Notation: docs/protocol.md section 3.
"""
from __future__ import annotations

import math

import tensorflow as tf


# --- the Boltzmann policy: entropy and KL to the uniform reference policy -----------------------
def entropy_and_kl(logits):
  """Entropy H = -sum_a pi log pi and KL[pi || uniform] = log|A| - H, in nats.

  Args: logits float [..., |A|]. Returns (log_pi [..., |A|], H [...], KL [...]).
  """
  log_pi = tf.nn.log_softmax(logits, axis=-1)
  entropy = -tf.reduce_sum(tf.exp(log_pi) * log_pi, axis=-1)
  kl = math.log(logits.shape[-1]) - entropy
  return log_pi, entropy, kl


# --- n-step returns (eq. 79, 80) ----------------------------------------------------------------
def discounted_sum(x, discounts, final):
  """R_t = x_t + discounts_t * R_{t+1} for t = T-1..0, with R_T = final.

  With x = rewards and final = V(s_T) this is the n-step return of eq. (79) (k = T - t steps to
  the rollout end): R_t = sum_{d<k} gamma^d r_{t+d} + gamma^k V(s_{t+k}), cut at terminals.
  Args: x float [B, T]; discounts float [B, T]; final float [B]. Returns float [B, T].
  The loop is over the static rollout length (n = 5 for A2C), unrolled when traced.
  Raises ValueError if T is not static.
  """
  T = x.shape[1]
  if T is None:
    raise ValueError("rollout length must be static")
  out = [None] * T
  acc = final
  for t in reversed(range(T)):
    acc = x[:, t] + discounts[:, t] * acc
    out[t] = acc
  return tf.stack(out, axis=1)


def n_step_returns(rewards, bonus, discounts, bootstrap):
  """R_t = sum_{d<k} gamma^d (r_{t+d} + bonus_{t+d}) + gamma^k V(s_{t+k}), stop-gradiented.

  bonus = 0: naive A2C (eq. 79); bonus = tau*H (or -tau*KL): entropy in the returns (eq. 80).
  All [B, T] but bootstrap [B]. Returns [B, T].
  """
  bonus = tf.stop_gradient(bonus)
  return tf.stop_gradient(discounted_sum(rewards + bonus, discounts, tf.stop_gradient(bootstrap)))


def a2c_loss(log_pi_a, values, returns, regularizer, value_coef: float):
  """eq. (79)/(80): mean of -log pi(a_t|s_t) sg(R_t - V(s_t)) - reg_t + c * 0.5 * (R_t - V(s_t))^2.

  regularizer: the per-step entropy-regularization term tau*H_t (or -tau*KL_t) whose gradient is
  the local entropy bonus. All [B, T]. Returns (total scalar, dict of the three parts).
  """
  advantages = tf.stop_gradient(returns - values)
  pg_loss = -tf.reduce_mean(log_pi_a * advantages)
  reg_loss = -tf.reduce_mean(regularizer)
  value_loss = tf.reduce_mean(0.5 * tf.square(returns - values))
  total = pg_loss + reg_loss + value_coef * value_loss
  return total, dict(pg_loss=pg_loss, regularizer_loss=reg_loss, value_loss=value_loss)


# --- soft Q-learning in the A2C framework (eq. 46-47, Sec. 6.3) --------------------------------
def soft_q_values(values, log_pi_a, tau: float, num_actions: int = 0):
  """Q(s,a) = V(s) + tau * log(pi(a|s) / pibar(a)), the dueling parameterization of eq. (46).

  num_actions = 0: entropy form (pibar term dropped, Q = V + tau log pi); else the KL form
  against the uniform pibar (adds tau * log|A|). [B, T] -> [B, T].
  """
  log_ratio = log_pi_a + (math.log(num_actions) if num_actions else 0.0)
  return values + tau * log_ratio


def soft_q_targets(rewards, regularizer, values, next_values, discounts):
  """y_t of eq. (46-47), stop-gradiented, no target network:

      delta_t = r_t + reg_t + gamma V(s_{t+1}) - V(s_t),  Delta_t = sum_{d<k} gamma^d delta_{t+d},
      y_t = -reg_t + V(s_t) + Delta_t

  reg_t = tau*H_t (entropy form) or -tau*KL_t (KL form). All [B, T]. Returns [B, T].
  """
  reg = tf.stop_gradient(regularizer)
  v = tf.stop_gradient(values)
  delta = rewards + reg + discounts * tf.stop_gradient(next_values) - v
  big_delta = discounted_sum(delta, discounts, tf.zeros_like(delta[:, 0]))
  return tf.stop_gradient(-reg + v + big_delta)


def soft_q_surrogate(q, y, log_pi_a, values, value_coef: float):
  """mean sg(Q - y) * (log pi(a|s) + c V(s)): its gradient is that of 0.5 (Q - y)^2 with the
  advantage-stream gradient scaled by 1/tau and the V gradient by c (Sec. 6.3). [B, T] -> scalar."""
  return tf.reduce_mean(tf.stop_gradient(q - y) * (log_pi_a + value_coef * values))


# --- the DQN family's backup values (eq. 81-83) -------------------------------------------------
def hard_value(q):
  """eq. (81): max_a Q(s, a). q: float [B, |A|] -> [B]."""
  return tf.reduce_max(q, axis=-1)


def soft_value_ent(q, tau: float):
  """eq. (83), entropy form: tau * logsumexp_a Q(s, a) / tau. q: float [B, |A|] -> [B]."""
  return tau * tf.reduce_logsumexp(q / tau, axis=-1)


def soft_value_kl(q, tau: float):
  """eq. (82), KL form: tau * (logsumexp_a Q(s, a) / tau - log|A|). q: float [B, |A|] -> [B]."""
  return tau * (tf.reduce_logsumexp(q / tau, axis=-1) - math.log(q.shape[-1]))
