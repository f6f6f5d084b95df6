"""n-step returns over a rollout, and the entropy / KL of a Boltzmann policy (docs/protocol.md sections 3-4).

Shapes: [B, T] for per-step quantities (B parallel envs, T rollout steps), [B] for bootstraps.
`discounts` are gamma * (1 - done_t): zero after a terminal, so nothing is bootstrapped through it.
"""
from __future__ import annotations

import math

import tensorflow as tf


def discounted_sum(x, discounts, final):
  """R_t = x_t + discounts_t * R_{t+1} for t = T-1..0, with R_T = final.

  With x = rewards and final = V(s_T) this is the n-step return of eq. (79) (k = T - t steps to
  the rollout end): R_t = sum_{d<k} gamma^d r_{t+d} + gamma^k V(s_{t+k}), cut at terminals.
  Args: x float [B, T]; discounts float [B, T]; final float [B]. Returns float [B, T].
  The loop is over the static rollout length (n = 5 for A2C), unrolled when traced.
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


def entropy_and_kl(logits):
  """Entropy H = -sum_a pi log pi and KL[pi || uniform] = log|A| - H, in nats.

  Args: logits float [..., |A|]. Returns (log_pi [..., |A|], H [...], KL [...]).
  """
  log_pi = tf.nn.log_softmax(logits, axis=-1)
  entropy = -tf.reduce_sum(tf.exp(log_pi) * log_pi, axis=-1)
  kl = math.log(logits.shape[-1]) - entropy
  return log_pi, entropy, kl
