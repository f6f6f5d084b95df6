"""Speed paths compute exactly what the plain paths compute (speed without changing the
algorithms): DQN's numpy epsilon schedule, epsilon-greedy acting that skips the network when
every env explores, DQN acting without tf-agents' driver (the same transitions, losses and
weights), the replay's vectorized decode."""
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


def _driver_collect(loop):
  """The acting the DQN loop replaced, as it was: tf-agents' `PyDriver` running
  `EpsilonGreedyPyPolicy` over `CompiledPyPolicy(agent.policy)` (the time step's four tensors),
  the replay's `add_batch` as its observer, `train_period` steps per update."""
  from tf_agents.drivers import py_driver

  from agents.policies import CompiledPyPolicy
  policy = EpsilonGreedyPyPolicy(CompiledPyPolicy(loop.agent.policy, batch_size=1),
                                 loop._policy._epsilon, loop.py_env.num_actions)
  policy._rng = loop._policy.rng          # the loop's exploration stream (checkpointed with it)
  state = {}

  def collect():
    if loop._time_step is None:
      loop.reset()
    if state.get("replay") is not loop.replay:
      state["replay"] = loop.replay
      state["driver"] = py_driver.PyDriver(loop.py_env, policy, observers=[loop.replay.add_batch],
                                           max_steps=loop.train_period)
    loop._time_step, _ = state["driver"].run(loop._time_step)
  return collect


def test_dqn_acting_is_the_tf_agents_driver_bit_for_bit():
  """Two DQN trainers of one spec (real Breakout, life losses, epsilon 1 -> 0.3, a replay of 300
  transitions that wraps): one acts through `DQNLoop.collect`, the other through the driver it
  replaced. Every update's loss, the replay's stored transitions and frames, the RNG states and
  the final weights are equal."""
  from artifact.experiment.runspec import make_run_spec
  from artifact.experiment.seeding import run_seeds
  from artifact.training.dqn import DQNTrainer
  spec = make_run_spec(2, "Breakout", "dqn", 0, "smoke",
                       overrides=dict(replay_capacity=300, epsilon_end=0.3))
  fast, plain = DQNTrainer(spec, run_seeds(0, 1)), DQNTrainer(spec, run_seeds(0, 1))
  try:
    plain.loop.collect = _driver_collect(plain.loop)
    losses = [[], []]
    for _ in range(100):                                   # 400 agent steps, past learning starts
      for trainer, out in zip((fast, plain), losses):
        info = trainer.update()
        out.append(None if info is None else float(info.loss.numpy()))
    assert losses[0] == losses[1]
    assert sum(x is not None for x in losses[0]) >= 85
    a, b = fast.loop.replay, plain.loop.replay
    assert int(a._np_state.item_count) == int(b._np_state.item_count) == 400
    for i in range(len(a._storage._flat_specs)):
      np.testing.assert_array_equal(a._storage._array(i), b._storage._array(i))
    fa, fb = a._frame_buffer._frames, b._frame_buffer._frames
    assert fa.keys() == fb.keys() and all(fa[h][1] == fb[h][1] for h in fa)
    assert fast.loop.rng_states() == plain.loop.rng_states()
    for x, y in zip(fast.network.get_weights(), plain.network.get_weights()):
      np.testing.assert_array_equal(x, y)
    np.testing.assert_array_equal(fast.env.action_log(), plain.env.action_log())
    # the sampled batch decodes to the frames stored (the vectorized decode)
    state = a.rng.bit_generator.state
    batch = a.sample(32, 2)
    a.rng.bit_generator.state = state
    a._decode_batch = lambda item: item                   # the same windows, still encoded
    hashes = a.sample(32, 2).observation
    assert batch.observation.shape == (32, 2, 4, 84, 84) and hashes.shape == (32, 2, 4)
    for (i, t, k), h in np.ndenumerate(hashes):
      np.testing.assert_array_equal(batch.observation[i, t, k], fa[h][0])
  finally:
    fast.close()
    plain.close()
