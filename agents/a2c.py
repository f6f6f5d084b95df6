"""A2C agents of Figure 1 (Sec. 6.1) and the `pg` condition of Figure 3, as tf-agents `TFAgent`s.

Experience: a `Trajectory` with shapes [B, n + 1, ...] collected by a tf-agents driver from B
parallel envs; steps 0..n-1 are the rollout (reward_t, discount_t belong to the transition out
of s_t) and step n only supplies s_{t+k} for the bootstrap V(s_{t+k}) (its action, reward and
discount are ignored), the convention of tf-agents' PPO agents.

Conditions (docs/protocol.md section 4, entropy-bonus form with tau = 0.01; `regularizer="kl"` gives
the KL-penalty form, replacing +tau*H by -tau*KL):
- `A2CNaiveAgent` (`a2c_1step`, eq. 79; openai/baselines A2C): the return carries rewards only.
- `A2CProperAgent` (`a2c_proper`, eq. 80, 36, 52-54): the return carries the entropy bonuses
  tau*H_{t+d} of the current, stop-gradiented policy; V regresses onto that return.
Both keep the local -tau*H_t gradient term. The only difference is `_return_bonus`.

loss = mean_{b,t} [ -log pi(a_t|s_t) * sg(R_t - V(s_t)) - tau*H_t + c * 0.5 * (R_t - V(s_t))^2 ]
(openai/baselines writes the value term as vf_coef * mean((R - V)^2); the paper's c * 0.5 * (.)^2
with c = 0.5 is the form whose gradient c * (V - R) matches the soft-Q condition of Sec. 6.3.)
"""
from __future__ import annotations

from typing import NamedTuple

import tensorflow as tf
from tf_agents.agents import tf_agent

from agents import losses
from agents.policies import CategoricalPolicy


class RolloutTerms(NamedTuple):
  """Everything a loss needs from one rollout; all float32 [B, T] unless noted."""
  log_pi_a: tf.Tensor      # log pi(a_t | s_t)
  values: tf.Tensor        # V(s_t)
  next_values: tf.Tensor   # V(s_{t+1}) (the last one is the bootstrap V(s_{t+k}))
  bootstrap: tf.Tensor     # V(s_{t+k}), float32 [B]
  entropy: tf.Tensor       # H_t in nats
  kl: tf.Tensor            # KL_t = log|A| - H_t in nats
  rewards: tf.Tensor       # r_t (clipped for Atari)
  discounts: tf.Tensor     # gamma * (1 - done_t)


class A2CAgentBase(tf_agent.TFAgent):
  """Shared machinery: rollout -> `RolloutTerms` -> `_loss_from_terms` -> RMSProp step.

  Args:
    time_step_spec, action_spec: tf-agents specs of the (batched) environment.
    network: `agents.networks.ActorCriticNetwork`.
    optimizer: tf.keras optimizer (the runner uses RMSProp lr 7e-4 -> 0, rho 0.99, eps 1e-5,
      baselines `a2c.py`).
    gamma: discount (0.99). tau: temperature in nats per step, >= 0 (0.01, paper Sec. 6).
    value_coef: c (0.5, baselines `vf_coef`). max_grad_norm: global-norm clip (0.5, baselines).
    regularizer: "entropy" (bonus tau*H) or "kl" (penalty -tau*KL against uniform pibar).
    The runs' values are checked where they are declared (`artifact.experiment.hparams`'
    `A2CHparams.validate`, before any work), not again here.
    policy_seed: seed of the collect policy's action sampling (`CategoricalPolicy.seed_sampling`).
    num_envs: the number of training envs B (the collect policy's noise rows, see
      `agents.policies.gumbel_max_sample`); 0: the batch size of each call.
  """

  def __init__(self, time_step_spec, action_spec, network, optimizer, *, gamma: float = 0.99,
               tau: float = 0.01, value_coef: float = 0.5, max_grad_norm: float | None = 0.5,
               regularizer: str = "entropy", policy_seed: int = 0, num_envs: int = 0,
               train_step_counter=None,
               name: str | None = None):
    tf.Module.__init__(self, name=name)
    network.create_variables()
    self._network = network
    self._optimizer = optimizer
    self.gamma, self.tau, self.value_coef = float(gamma), float(tau), float(value_coef)
    self._max_grad_norm = max_grad_norm
    self.regularizer = regularizer
    policy = CategoricalPolicy(time_step_spec, action_spec, network, seed=policy_seed,
                               num_envs=num_envs)
    super().__init__(time_step_spec, action_spec, policy=policy, collect_policy=policy,
                     train_sequence_length=None, train_step_counter=train_step_counter)

  @property
  def network(self):
    """The `agents.networks.ActorCriticNetwork` trained (pi logits and V heads)."""
    return self._network

  @property
  def optimizer(self):
    """The optimizer the updates apply (`agents.optimizers.RMSpropTF1` in the runs)."""
    return self._optimizer

  def _initialize(self):
    return tf.no_op()

  # --- the hooks a condition overrides --------------------------------------------------------
  def _regularizer(self, terms: RolloutTerms):
    """Per-step reward-shaping term of the entropy-regularized objective: +tau*H_t or -tau*KL_t."""
    return self.tau * terms.entropy if self.regularizer == "entropy" else -self.tau * terms.kl

  def _return_bonus(self, terms: RolloutTerms):
    """What the n-step return adds to each reward r_{t+d}; [B, T]. Naive A2C: nothing."""
    return tf.zeros_like(terms.rewards)

  def n_step_returns(self, terms: RolloutTerms):
    """R_t = sum_{d<k} gamma^d (r_{t+d} + bonus_{t+d}) + gamma^k V(s_{t+k}), stop-gradiented;
    [B, T]."""
    return losses.n_step_returns(terms.rewards, self._return_bonus(terms), terms.discounts,
                                 terms.bootstrap)

  def _loss_from_terms(self, terms: RolloutTerms):
    """eq. (79)/(80): policy-gradient term + local regularizer gradient + value regression."""
    total, parts = losses.a2c_loss(terms.log_pi_a, terms.values, self.n_step_returns(terms),
                                   self._regularizer(terms), self.value_coef)
    return total, dict(parts, entropy=tf.reduce_mean(terms.entropy))

  # --- tf-agents plumbing -------------------------------------------------------------------
  def rollout_terms(self, experience, training: bool = True) -> RolloutTerms:
    """Runs the network over the B * T rollout observations (with gradient) and the B bootstrap
    observations s_{t+k} (stop-gradiented: no backward pass is spent on them)."""
    obs = experience.observation
    B = tf.shape(obs)[0]
    T = obs.shape[1] - 1
    flat = tf.reshape(obs[:, :-1], tf.concat([[-1], tf.shape(obs)[2:]], 0))
    (logits, values), _ = self._network(flat, training=training)
    (_, bootstrap), _ = self._network(obs[:, -1], training=training)
    bootstrap = tf.stop_gradient(bootstrap)
    logits = tf.reshape(logits, [B, T, -1])
    values = tf.reshape(values, [B, T])
    log_pi, entropy, kl = losses.entropy_and_kl(logits)
    actions = tf.cast(experience.action[:, :-1], tf.int32)
    log_pi_a = tf.gather(log_pi, actions, batch_dims=2)
    dtype = values.dtype
    return RolloutTerms(
        log_pi_a=log_pi_a, values=values,
        next_values=tf.concat([values[:, 1:], bootstrap[:, None]], axis=1),
        bootstrap=bootstrap, entropy=entropy, kl=kl,
        rewards=tf.cast(experience.reward[:, :-1], dtype),
        discounts=self.gamma * tf.cast(experience.discount[:, :-1], dtype))

  def _loss(self, experience, weights=None, training=False):
    del weights
    total, extra = self._loss_from_terms(self.rollout_terms(experience, training))
    return tf_agent.LossInfo(total, extra)

  def _train(self, experience, weights=None):
    variables = self._network.trainable_variables
    with tf.GradientTape() as tape:
      loss_info = self._loss(experience, weights, training=True)
    grads = tape.gradient(loss_info.loss, variables)
    if self._max_grad_norm is not None:
      grads, _ = tf.clip_by_global_norm(grads, self._max_grad_norm)
    self._optimizer.apply_gradients(zip(grads, variables))
    self.train_step_counter.assign_add(1)
    return loss_info


class A2CNaiveAgent(A2CAgentBase):
  """`a2c_1step` (eq. 79): entropy bonus only as the local -tau*H_t gradient (= baselines A2C)."""


class A2CProperAgent(A2CAgentBase):
  """`a2c_proper` (eq. 80): the return carries tau*H_{t+d} (KL form: -tau*KL_{t+d})."""

  def _return_bonus(self, terms):
    return self._regularizer(terms)
