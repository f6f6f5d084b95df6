"""Speed paths compute exactly what the plain paths compute (speed without changing the
algorithms): DQN's numpy epsilon schedule, epsilon-greedy acting that skips the network when
every env explores."""
import numpy as np
import tensorflow as tf
from tf_agents.policies import py_policy
from tf_agents.specs import array_spec
from tf_agents.trajectories import policy_step
from tf_agents.trajectories import time_step as ts

from agents.policies import EpsilonGreedyPyPolicy
from artifact.training.dqn import linear_epsilon


def test_numpy_epsilon_schedule_equals_the_tensorflow_one_bit_for_bit():
  step = tf.Variable(0, dtype=tf.int64)
  eps = linear_epsilon(step, 1.0, 0.01, 1_000_003)
  for s in list(range(0, 1_200_000, 9_973)) + [1_000_002, 1_000_003, 1_000_004]:
    step.assign(s)
    assert eps.at(s) == float(eps()), s
  assert eps.at(0) == 1.0 and abs(eps.at(5_000_000) - 0.01) < 1e-7


class _CountingGreedy(py_policy.PyPolicy):
  def __init__(self, spec, action_spec):
    super().__init__(spec, action_spec)
    self.calls = 0

  def _action(self, time_step, policy_state):
    self.calls += 1
    return policy_step.PolicyStep(np.full(np.shape(time_step.step_type), 2, np.int64), (), ())


def _reference_epsilon_greedy(seed, epsilons, batch, num_actions):
  """The rule written out: per env, explore with probability epsilon (uniform action), else greedy
  (2)."""
  rng = np.random.Generator(np.random.PCG64(seed))
  out, network_needed = [], 0
  for e in epsilons:
    explore = rng.random(batch) < e
    random = rng.integers(0, num_actions, size=batch)
    out.append(np.where(explore, random, 2))
    network_needed += not explore.all()
  return out, network_needed


def test_epsilon_greedy_skips_the_network_only_when_every_env_explores():
  obs = array_spec.ArraySpec((3,), np.float32)
  spec = ts.time_step_spec(obs)
  action_spec = array_spec.BoundedArraySpec((), np.int64, 0, 5)
  epsilons = [1.0] * 50 + [0.5] * 50 + [0.0] * 20
  it = iter(epsilons)
  current = {"e": None}

  def epsilon():
    return current["e"]
  greedy = _CountingGreedy(spec, action_spec)
  policy = EpsilonGreedyPyPolicy(greedy, epsilon, 6, seed=11)
  step = ts.restart(np.zeros((2, 3), np.float32), batch_size=2)
  got = []
  for e in it:
    current["e"] = e
    got.append(policy.action(step).action)
  want, needed = _reference_epsilon_greedy(11, epsilons, 2, 6)
  for g, w in zip(got, want):
    np.testing.assert_array_equal(g, w)
  # epsilon 1: never called; 0.5 with 2 envs: unless both explore (~3/4 of the steps); 0: always
  assert greedy.calls == needed and 20 + 25 <= needed < 20 + 50
