"""Exact-math tests of Figure 2's backup targets (docs/protocol.md section 4, eq. 81-83), through
the real tf-agents `DqnAgent` loss: the Q network used here returns its observation as the Q values,
so every target can be computed by hand; the loss on it both as squared error and as the Huber
loss that the runs train on (`artifact/training/dqn.py`)."""
import math

import numpy as np
import pytest
import tensorflow as tf
from tf_agents.environments import tf_py_environment
from tf_agents.networks import network
from tf_agents.trajectories import trajectory
from tf_agents.utils import common

from agents.dqn import DQNNStepAgent, SoftDQNEntAgent, SoftDQNKLAgent, StandardDQNAgent
from agents.losses import hard_value, soft_value_ent, soft_value_kl
from artifact.experiment.hparams import AGENT_ARGUMENTS, DQNHparams
from artifact.experiment.runspec import make_run_spec
from artifact.training.dqn import build_dqn_agent
from envs.cartpole import make_cartpole_env

from helpers import run_spec, specs

GAMMA, A = 0.99, 4


class ObservationIsQ(network.Network):
  """Q(s, .) = s: observation [B, |A|] float32 is returned as the Q values."""

  def __init__(self, obs_spec, name="ObservationIsQ"):
    super().__init__(obs_spec, (), name)
    self._dummy = tf.Variable(0.0)

  def call(self, observation, step_type=None, network_state=(), training=False):
    return observation + 0.0 * self._dummy, network_state


def make(cls, n_step=1, loss_fn=common.element_wise_squared_loss, **kw):
  time_step_spec, action_spec, obs_spec = specs((A,), A)
  agent = cls(time_step_spec, action_spec, q_network=ObservationIsQ(obs_spec),
              optimizer=tf.keras.optimizers.SGD(0.0), gamma=GAMMA, n_step_update=n_step,
              td_errors_loss_fn=loss_fn, **kw)
  agent.initialize()
  return agent


def loss_of(agent, exp):
  """The loss exactly as `DqnAgent._train` computes it (it passes the agent's gamma)."""
  return agent._loss(exp, td_errors_loss_fn=agent._td_errors_loss_fn, gamma=agent._gamma)


def experience(q, actions, rewards, discounts):
  B, T = actions.shape
  return trajectory.Trajectory(
      step_type=tf.ones((B, T), tf.int32), observation=tf.constant(q, tf.float32),
      action=tf.constant(actions, tf.int64), policy_info=(),
      next_step_type=tf.ones((B, T), tf.int32),
      reward=tf.constant(rewards, tf.float32), discount=tf.constant(discounts, tf.float32))


def np_lse(x, axis=-1):
  m = x.max(axis=axis, keepdims=True)
  return (m + np.log(np.exp(x - m).sum(axis=axis, keepdims=True))).squeeze(axis)


def ref_next_value(q_next, kind, tau):
  if kind == "hard":
    return q_next.max(-1)
  if kind == "ent":
    return tau * np_lse(q_next / tau)
  return tau * (np_lse(q_next / tau) - math.log(A))


CASES = [(StandardDQNAgent, "hard", None), (SoftDQNEntAgent, "ent", 0.1),
         (SoftDQNKLAgent, "kl", 0.1),
         (SoftDQNEntAgent, "ent", 0.01), (SoftDQNKLAgent, "kl", 0.01)]


def one_step_batch(seed, B, q_scale, terminals):
  """(q, actions, rewards, discounts) of B one-step transitions [B, 2, ...], terminals at rows
  `terminals` (no bootstrap there)."""
  rng = np.random.default_rng(seed)
  q = rng.normal(size=(B, 2, A)) * q_scale
  actions = rng.integers(0, A, (B, 2))
  rewards = rng.choice([-1.0, 0.0, 1.0], (B, 2))
  discounts = np.ones((B, 2))
  discounts[list(terminals), 0] = 0.0
  return q, actions, rewards, discounts


def one_step_td_errors(q, actions, rewards, discounts, kind, tau):
  """y - Q(s, a) by hand (numpy), y the target of `kind` (eq. 81-83)."""
  y = rewards[:, 0] + GAMMA * discounts[:, 0] * ref_next_value(q[:, 1], kind, tau)
  return y - q[np.arange(len(q)), 0, actions[:, 0]]


@pytest.mark.parametrize("cls,kind,tau", CASES)
def test_one_step_target_through_dqn_loss(cls, kind, tau):
  batch = one_step_batch(0, 6, 3, (1, 4))
  agent = make(cls, **({} if tau is None else {"tau": tau}))
  loss = loss_of(agent, experience(*batch)).loss.numpy()
  np.testing.assert_allclose(loss, np.mean(one_step_td_errors(*batch, kind, tau) ** 2), rtol=1e-5)


def test_the_runs_train_on_the_huber_loss():
  # artifact/training/dqn.py builds every Figure 2 agent with tf-agents' Huber TD loss
  env = make_cartpole_env(1, seed=0)
  tf_env = tf_py_environment.TFPyEnvironment(env)
  for name in ("dqn", "dqn_nstep", "soft_dqn_ent_0.1", "soft_dqn_kl_0.1"):
    agent = build_dqn_agent(run_spec(name, DQNHparams()), tf_env.time_step_spec(),
                            tf_env.action_spec(), env.observation_spec(), env.num_actions, 10_000,
                            0,
                            tf.Variable(0, dtype=tf.int64))
    assert agent._td_errors_loss_fn is common.element_wise_huber_loss, name


@pytest.mark.parametrize("cls,kind,tau", CASES)
def test_huber_loss_through_dqn_loss(cls, kind, tau):
  # Huber with delta 1 (Mnih et al. 2015's clipping of the TD error to [-1, 1] in the gradient):
  # 0.5 d^2 for |d| <= 1, |d| - 0.5 beyond, d = y - Q(s, a), averaged over the batch
  batch = one_step_batch(2, 16, 2, (3, 9))
  agent = make(cls, loss_fn=common.element_wise_huber_loss, **({} if tau is None else {"tau": tau}))
  loss = loss_of(agent, experience(*batch)).loss.numpy()
  d = one_step_td_errors(*batch, kind, tau)
  assert (np.abs(d) < 1).sum() >= 3 and (np.abs(d) > 1).sum() >= 3  # both branches are exercised
  huber = np.where(np.abs(d) <= 1, 0.5 * d ** 2, np.abs(d) - 0.5)
  np.testing.assert_allclose(loss, huber.mean(), rtol=1e-5)
  assert not np.isclose(loss, np.mean(d ** 2) / 2, rtol=1e-3)               # not the squared loss


def test_five_step_target_through_dqn_loss():
  rng = np.random.default_rng(1)
  B, n = 5, 5
  q = rng.normal(size=(B, n + 1, A))
  actions = rng.integers(0, A, (B, n + 1))
  rewards = rng.choice([-1.0, 0.0, 1.0], (B, n + 1))
  discounts = np.ones((B, n + 1))
  discounts[2, 1] = 0.0                              # terminal after 2 rewards
  discounts[3, 4] = 0.0                              # terminal on the last reward
  agent = make(DQNNStepAgent, n_step=5)
  loss = loss_of(agent, experience(q, actions, rewards, discounts)).loss.numpy()
  y = np.zeros(B)
  for b in range(B):
    acc, disc = 0.0, 1.0
    for d in range(n):
      acc += disc * rewards[b, d]
      disc *= GAMMA * discounts[b, d]
    y[b] = acc + disc * q[b, n].max()
  q_sa = q[np.arange(B), 0, actions[:, 0]]
  np.testing.assert_allclose(loss, np.mean((y - q_sa) ** 2), rtol=1e-5)
  # terminal mid-window: y = r0 + gamma * r1 exactly
  np.testing.assert_allclose(y[2], rewards[2, 0] + GAMMA * rewards[2, 1])


def test_soft_values_approach_hard_max_as_tau_goes_to_zero():
  q = tf.constant(np.random.default_rng(2).normal(size=(8, A)), tf.float32)
  hard = hard_value(q).numpy()
  errs = [np.abs(soft_value_ent(q, tau).numpy() - hard).max() for tau in (1.0, 0.1, 0.01, 0.001)]
  assert errs[0] > errs[1] > errs[2] > errs[3]
  assert errs[-1] <= 0.001 * math.log(A) + 1e-5      # the gap is bounded by tau*log|A|
  for tau in (0.1, 0.01, 0.001):
    gap = soft_value_ent(q, tau).numpy() - hard
    assert np.all(gap >= -1e-5) and np.all(gap <= tau * math.log(A) + 1e-5)
    assert np.abs(soft_value_kl(q, tau).numpy() - hard).max() <= tau * math.log(A) + 1e-5


@pytest.mark.parametrize("tau", [0.1, 0.01])
def test_kl_and_entropy_targets_differ_by_gamma_tau_log_a(tau):
  rng = np.random.default_rng(3)
  B = 4
  q = rng.normal(size=(B, 2, A))
  actions = rng.integers(0, A, (B, 2))
  rewards = rng.normal(size=(B, 2))
  disc = np.ones((B, 2))
  ent = make(SoftDQNEntAgent, tau=tau)
  kl = make(SoftDQNKLAgent, tau=tau)
  exp = experience(q, actions, rewards, disc)
  # the TD error is y - q; the difference of the two TD errors is the difference of the targets
  td_ent = loss_of(ent, exp).extra.td_error.numpy()
  td_kl = loss_of(kl, exp).extra.td_error.numpy()
  np.testing.assert_allclose(td_ent - td_kl, GAMMA * tau * math.log(A), rtol=1e-4)


def test_soft_value_is_numerically_stable():
  q = tf.constant([[1000.0, 999.0, -1000.0, 0.0]])
  v = soft_value_ent(q, 0.01).numpy()
  assert np.isfinite(v).all()
  np.testing.assert_allclose(v, 1000.0, rtol=1e-6)


@pytest.mark.parametrize("tau", [0.0, -0.1])
def test_a_non_positive_soft_tau_is_refused_where_it_is_declared(tau):
  # the one range check of a soft target's tau: its declaration (AGENT_ARGUMENTS), applied by
  # make_run_spec to the registered value and to a --set override before any agent is built
  with pytest.raises(ValueError, match=f"tau must be > 0 for soft Q-learning .*, got {tau}"):
    AGENT_ARGUMENTS["tau"].check("tau", tau)
  for condition in ("soft_dqn_ent_0.1", "soft_dqn_kl_0.01"):
    with pytest.raises(ValueError, match="tau must be > 0 for soft Q-learning"):
      make_run_spec(2, "Pong", condition, 0, "smoke", overrides={"tau": tau})
