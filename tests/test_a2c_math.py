"""Exact-math tests: the n-step returns and losses of a2c_1step, a2c_proper (pg) and soft_ql
against hand-written numpy references of docs/protocol.md section 4."""
import math

import numpy as np
import pytest
import tensorflow as tf

from agents.a2c import A2CNaiveAgent, A2CProperAgent, RolloutTerms
from agents.losses import discounted_sum, entropy_and_kl
from agents.networks import ActorCriticNetwork
from agents.soft_ql import SoftQLAgent

from helpers import specs

GAMMA, TAU, C = 0.99, 0.01, 0.5


def make_agent(cls, regularizer="entropy", tau=TAU):
  time_step_spec, action_spec, obs_spec = specs((4,), 3)
  net = ActorCriticNetwork(obs_spec, 3, seed=0)
  return cls(time_step_spec, action_spec, net, tf.keras.optimizers.SGD(0.1), gamma=GAMMA, tau=tau,
             value_coef=C, regularizer=regularizer)


def random_terms(seed=0, B=3, T=5, terminals=((0, 2), (2, 4))):
  rng = np.random.default_rng(seed)
  done = np.zeros((B, T))
  for b, t in terminals:
    done[b, t] = 1.0
  ent = rng.uniform(0.2, 1.0, (B, T))
  return dict(log_pi_a=np.log(rng.uniform(0.1, 0.9, (B, T))), values=rng.normal(size=(B, T)),
              next_values=rng.normal(size=(B, T)), bootstrap=rng.normal(size=B), entropy=ent,
              kl=math.log(3) - ent, rewards=rng.choice([-1.0, 0.0, 1.0], (B, T)), done=done)


def to_terms(d):
  next_values = np.concatenate([d["values"][:, 1:], d["bootstrap"][:, None]], 1)
  def f(x):
    return tf.constant(x, tf.float32)
  return RolloutTerms(log_pi_a=f(d["log_pi_a"]), values=f(d["values"]), next_values=f(next_values),
                      bootstrap=f(d["bootstrap"]), entropy=f(d["entropy"]), kl=f(d["kl"]),
                      rewards=f(d["rewards"]), discounts=f(GAMMA * (1 - d["done"])))


def numpy_returns(rewards, bonus, done, bootstrap):
  """protocol: R_t = sum_{d<k} gamma^d (r_{t+d} + bonus_{t+d}) + gamma^k V(s_{t+k}), cut at
  terminals."""
  B, T = rewards.shape
  R = np.zeros((B, T))
  for b in range(B):
    for t in range(T):
      total, disc, ended = 0.0, 1.0, False
      for d in range(T - t):
        total += disc * (rewards[b, t + d] + bonus[b, t + d])
        if done[b, t + d]:
          ended = True
          break
        disc *= GAMMA
      R[b, t] = total + (0.0 if ended else disc * bootstrap[b])
  return R


def test_discounted_sum_by_hand():
  x = tf.constant([[1.0, 2.0, 3.0]])
  disc = tf.constant([[0.5, 0.0, 0.5]])
  out = discounted_sum(x, disc, tf.constant([10.0])).numpy()
  # R2 = 3 + .5*10 = 8; R1 = 2 + 0*8 = 2; R0 = 1 + .5*2 = 2
  np.testing.assert_allclose(out, [[2.0, 2.0, 8.0]])


def test_entropy_and_kl():
  logits = tf.constant([[0.0, 0.0, 0.0, 0.0], [10.0, 0.0, 0.0, 0.0]])
  _, h, kl = entropy_and_kl(logits)
  np.testing.assert_allclose(h.numpy()[0], math.log(4), rtol=1e-6)
  np.testing.assert_allclose(kl.numpy()[0], 0.0, atol=1e-6)
  p = np.exp([10.0, 0, 0, 0]) / np.exp([10.0, 0, 0, 0]).sum()
  np.testing.assert_allclose(h.numpy()[1], -(p * np.log(p)).sum(), rtol=1e-3)


@pytest.mark.parametrize("cls,in_return", [(A2CNaiveAgent, False), (A2CProperAgent, True)])
def test_n_step_returns_match_numpy(cls, in_return):
  d = random_terms()
  agent = make_agent(cls)
  got = agent.n_step_returns(to_terms(d)).numpy()
  bonus = TAU * d["entropy"] if in_return else np.zeros_like(d["rewards"])
  want = numpy_returns(d["rewards"], bonus, d["done"], d["bootstrap"])
  np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
  # the terminal at (0, 2) cuts the bootstrap: R_{0,2} = r + bonus only
  np.testing.assert_allclose(got[0, 2], d["rewards"][0, 2] + bonus[0, 2], rtol=1e-5)


def test_kl_form_returns_carry_minus_tau_kl():
  d = random_terms(1)
  agent = make_agent(A2CProperAgent, regularizer="kl")
  want = numpy_returns(d["rewards"], -TAU * d["kl"], d["done"], d["bootstrap"])
  np.testing.assert_allclose(agent.n_step_returns(to_terms(d)).numpy(), want, rtol=1e-5, atol=1e-6)


def test_naive_and_proper_differ_exactly_by_the_entropy_terms():
  d = random_terms(2, terminals=())
  naive = make_agent(A2CNaiveAgent).n_step_returns(to_terms(d)).numpy()
  proper = make_agent(A2CProperAgent).n_step_returns(to_terms(d)).numpy()
  T = d["rewards"].shape[1]
  extra = np.array([[sum(GAMMA ** k * TAU * d["entropy"][b, t + k] for k in range(T - t))
                     for t in range(T)]
                    for b in range(d["rewards"].shape[0])])
  np.testing.assert_allclose(proper - naive, extra, rtol=1e-4, atol=1e-7)


@pytest.mark.parametrize("cls,in_return", [(A2CNaiveAgent, False), (A2CProperAgent, True)])
def test_a2c_loss_value_matches_numpy(cls, in_return):
  d = random_terms(3)
  loss, extra = make_agent(cls)._loss_from_terms(to_terms(d))
  bonus = TAU * d["entropy"] if in_return else 0 * d["entropy"]
  R = numpy_returns(d["rewards"], bonus, d["done"], d["bootstrap"])
  adv = R - d["values"]
  want = np.mean(-d["log_pi_a"] * adv - TAU * d["entropy"] + C * 0.5 * adv ** 2)
  np.testing.assert_allclose(float(loss), want, rtol=1e-5)


def test_soft_ql_targets_match_eq_46_47():
  d = random_terms(4)
  agent = make_agent(SoftQLAgent)
  terms = to_terms(d)
  y = agent.soft_targets(terms).numpy()
  B, T = d["rewards"].shape
  next_v = np.concatenate([d["values"][:, 1:], d["bootstrap"][:, None]], 1)
  delta = d["rewards"] + TAU * d["entropy"] + GAMMA * (1 - d["done"]) * next_v - d["values"]
  want = np.zeros((B, T))
  for b in range(B):
    for t in range(T):
      acc, disc = 0.0, 1.0
      for k in range(T - t):                       # Delta_t = sum_{d<k} gamma^d delta_{t+d}
        acc += disc * delta[b, t + k]
        if d["done"][b, t + k]:
          break
        disc *= GAMMA
      want[b, t] = -TAU * d["entropy"][b, t] + d["values"][b, t] + acc
  np.testing.assert_allclose(y, want, rtol=1e-5, atol=1e-6)
  # telescoping: y_t = -tau*H_t + R_t with R_t the entropy-augmented n-step return of a2c_proper
  R = make_agent(A2CProperAgent).n_step_returns(terms).numpy()
  np.testing.assert_allclose(y, R - TAU * d["entropy"], rtol=1e-5, atol=1e-5)


def test_soft_ql_q_values_and_loss():
  d = random_terms(5)
  agent = make_agent(SoftQLAgent)
  terms = to_terms(d)
  np.testing.assert_allclose(agent.q_values(terms).numpy(), d["values"] + TAU * d["log_pi_a"],
                             rtol=1e-5)
  kl_agent = make_agent(SoftQLAgent, regularizer="kl")
  np.testing.assert_allclose(kl_agent.q_values(terms).numpy(),
                             d["values"] + TAU * (d["log_pi_a"] + math.log(3)), rtol=1e-5)
  loss, extra = agent._loss_from_terms(terms)
  q = d["values"] + TAU * d["log_pi_a"]
  y = agent.soft_targets(terms).numpy()
  np.testing.assert_allclose(float(loss), np.mean((q - y) * (d["log_pi_a"] + C * d["values"])),
                             rtol=1e-4)


def _experience(B=2, n=3, seed=0):
  from tf_agents.trajectories import trajectory
  rng = np.random.default_rng(seed)
  return trajectory.Trajectory(
      step_type=tf.ones((B, n + 1), tf.int32),
      observation=tf.constant(rng.normal(size=(B, n + 1, 4)), tf.float32),
      action=tf.constant(rng.integers(0, 3, (B, n + 1)), tf.int64), policy_info=(),
      next_step_type=tf.ones((B, n + 1), tf.int32),
      reward=tf.constant(rng.normal(size=(B, n + 1)), tf.float32),
      discount=tf.constant([[1, 0, 1, 1], [1, 1, 1, 1]][:B], tf.float32))


def test_soft_ql_surrogate_gradient_is_the_scaled_squared_error_gradient():
  """On a real network: the agent's surrogate loss has the gradient of 0.5*(Q - y)^2 with the
  advantage-stream part scaled by 1/tau and the V part by c (Sec. 6.3)."""
  agent = make_agent(SoftQLAgent)
  exp = _experience()
  agent.rollout_terms(exp)
  variables = agent.network.trainable_variables
  with tf.GradientTape(persistent=True) as tape:
    terms = agent.rollout_terms(exp)
    surrogate, _ = agent._loss_from_terms(terms)
    y = agent.soft_targets(terms)
    n = tf.cast(tf.size(y), tf.float32)
    l_v = tf.reduce_sum(0.5 * tf.square(terms.values + tf.stop_gradient(TAU * terms.log_pi_a)
                                        - y)) / n
    l_a = tf.reduce_sum(0.5 * tf.square(tf.stop_gradient(terms.values) + TAU * terms.log_pi_a
                                        - y)) / n
    l_plain = tf.reduce_sum(0.5 * tf.square(terms.values + TAU * terms.log_pi_a - y)) / n
  def z(g, v):
    return tf.zeros_like(v) if g is None else g
  g_sur = [z(g, v) for g, v in zip(tape.gradient(surrogate, variables), variables)]
  g_v = [z(g, v) for g, v in zip(tape.gradient(l_v, variables), variables)]
  g_a = [z(g, v) for g, v in zip(tape.gradient(l_a, variables), variables)]
  g_plain = [z(g, v) for g, v in zip(tape.gradient(l_plain, variables), variables)]
  for gs, gv, ga in zip(g_sur, g_v, g_a):
    np.testing.assert_allclose(gs.numpy(), (C * gv + ga / TAU).numpy(), rtol=1e-4, atol=1e-6)
  # and it is NOT the unscaled squared-error gradient
  assert max(float(tf.reduce_max(tf.abs(a - b))) for a, b in zip(g_sur, g_plain)) > 1e-3


def test_rollout_terms_from_experience():
  """rollout_terms reads rewards/discounts of steps 0..n-1, bootstraps from step n's observation."""
  from tf_agents.trajectories import trajectory
  agent = make_agent(A2CNaiveAgent)
  B, n = 2, 3
  rng = np.random.default_rng(0)
  obs = tf.constant(rng.normal(size=(B, n + 1, 4)), tf.float32)
  actions = tf.constant(rng.integers(0, 3, (B, n + 1)), tf.int64)
  exp = trajectory.Trajectory(step_type=tf.ones((B, n + 1), tf.int32), observation=obs,
                              action=actions,
                              policy_info=(), next_step_type=tf.ones((B, n + 1), tf.int32),
                              reward=tf.constant(rng.normal(size=(B, n + 1)), tf.float32),
                              discount=tf.constant([[1, 0, 1, 1], [1, 1, 1, 1]], tf.float32))
  terms = agent.rollout_terms(exp)
  (logits, values), _ = agent.network(tf.reshape(obs, [-1, 4]))
  values = tf.reshape(values, [B, n + 1]).numpy()
  np.testing.assert_allclose(terms.bootstrap.numpy(), values[:, -1], rtol=1e-6)
  np.testing.assert_allclose(terms.values.numpy(), values[:, :-1], rtol=1e-6)
  np.testing.assert_allclose(terms.discounts.numpy(), GAMMA * np.array([[1, 0, 1], [1, 1, 1]]),
                             rtol=1e-6)
  lp = tf.nn.log_softmax(tf.reshape(logits, [B, n + 1, 3])).numpy()
  want = np.take_along_axis(lp[:, :-1], actions.numpy()[:, :-1, None], 2)[..., 0]
  np.testing.assert_allclose(terms.log_pi_a.numpy(), want, rtol=1e-5)
