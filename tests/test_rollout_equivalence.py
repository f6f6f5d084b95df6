"""The overlapped A2C collection (speed without changing the algorithms) gives the rollouts
the synchronous tf-agents driver gives, bit for bit: every env takes n steps per update with the
same parameters and the same action noise, whichever group it is in."""
import numpy as np
import pytest
import tensorflow as tf
from tf_agents.specs import tensor_spec

from agents.policies import gumbel_max_sample
from artifact.experiment.runspec import make_run_spec
from artifact.training.a2c import A2CLoop, build_a2c_agent
from envs.atari import make_atari_env
from envs.batched_env import GroupedBatchedEnv

FIELDS = ("step_type", "observation", "action", "next_step_type", "reward", "discount")
SEEDS = list(range(50, 66))
CAP = 400              # emulator frames per game: truncations and new games inside the test


def _games(env):
  return sorted((g.env_id, g.score, g.agent_steps) for g in env.pop_finished_games())


def test_grouped_env_plays_the_games_of_one_vector_env():
  one = make_atari_env("Breakout", 16, seed=SEEDS, max_frames_per_game=CAP, reuse=False)
  grouped = make_atari_env("Breakout", 16, seed=SEEDS, max_frames_per_game=CAP, reuse=False,
                           groups=2)
  assert isinstance(grouped, GroupedBatchedEnv) and [g.batch_size for g in grouped.groups] == [8, 8]
  a, b = one.reset(), grouped.reset()
  rng = np.random.default_rng(0)
  for _ in range(300):
    for x, y in zip(a, b):
      np.testing.assert_array_equal(x, y)
    action = rng.integers(0, one.num_actions, 16)
    a, b = one.step(action), grouped.step(action)
  games = _games(one)
  assert len(games) >= 16 and games == _games(grouped)
  assert one.frames == grouped.frames == 300 * 16 * 4
  one.close(), grouped.close()


def _loop(groups: int):
  spec = make_run_spec(1, "Breakout", "a2c_proper", 0, "paper")
  env = make_atari_env("Breakout", 16, seed=SEEDS, max_frames_per_game=CAP, reuse=False,
                       groups=groups)
  agent = build_a2c_agent(
      spec, tensor_spec.from_spec(env.time_step_spec()),
      tensor_spec.from_spec(env.action_spec()), env.observation_spec(), env.num_actions,
      1000, seed=3, policy_seed=9)
  return A2CLoop(agent, env, n_steps=5)


@pytest.mark.slow
@pytest.mark.parametrize("groups", [2, 4])
def test_overlapped_collection_gives_the_synchronous_rollouts_bit_for_bit(groups):
  sync, overlapped = _loop(1), _loop(groups)
  assert not sync.overlapped and overlapped.overlapped
  terminals = 0
  for update in range(24):                 # 120 agent steps per env, trained after each rollout
    losses = [float(loop.update().loss) for loop in (sync, overlapped)]
    a, b = (tf.nest.map_structure(np.asarray, loop.last_experience) for loop in (sync, overlapped))
    for f in FIELDS:
      np.testing.assert_array_equal(getattr(a, f), getattr(b, f), err_msg=f"update {update}: {f}")
    assert losses[0] == losses[1]
    terminals += int((a.discount[:, :-1] == 0).sum())
  assert terminals >= 16                   # lives lost and games truncated inside the rollouts
  for x, y in zip(sync.agent.network.variables, overlapped.agent.network.variables):
    np.testing.assert_array_equal(x.numpy(), y.numpy())
  assert _games(sync.py_env) == _games(overlapped.py_env)
  assert int(sync.agent.collect_policy.sampling_step.numpy()) == 24 * 5
  assert int(overlapped.agent.collect_policy.sampling_step.numpy()) == 24 * 5
  sync.py_env.close(), overlapped.py_env.close()


def test_gumbel_max_sample_is_the_boltzmann_policy_and_depends_on_the_env_alone():
  logits = tf.constant([[0.0, 1.0, 2.0, -1.0], [3.0, 0.0, 0.0, 0.0], [0.5, 0.5, 0.5, 0.5]])
  n = 20_000                               # envs per logits row, each with its own noise row
  draws = gumbel_max_sample(tf.repeat(logits, n, axis=0), tf.constant(7, tf.int64),
                            tf.constant(0, tf.int64), tf.range(3 * n), 16).numpy().reshape(3, n)
  probs = tf.nn.softmax(logits).numpy()
  for row in range(3):
    freq = np.bincount(draws[row], minlength=4) / n
    se = np.sqrt(probs[row] * (1 - probs[row]) / n)
    assert np.all(np.abs(freq - probs[row]) < 5 * se + 1e-12), (row, freq, probs[row])
  # env 2 alone, or inside another batch, gets the action it gets in the full batch
  full = gumbel_max_sample(tf.tile(logits[2:3], [16, 1]), tf.constant(7, tf.int64),
                           tf.constant(3, tf.int64), tf.range(16), 16).numpy()
  alone = gumbel_max_sample(logits[2:3], tf.constant(7, tf.int64), tf.constant(3, tf.int64),
                            tf.constant([2]), 16).numpy()
  assert alone[0] == full[2]
  # another seed or step gives other noise
  other = [gumbel_max_sample(tf.tile(logits[2:3], [16, 1]), tf.constant(8, tf.int64),
                             tf.constant(3, tf.int64), tf.range(16), 16).numpy(),
           gumbel_max_sample(tf.tile(logits[2:3], [16, 1]), tf.constant(7, tf.int64),
                             tf.constant(4, tf.int64), tf.range(16), 16).numpy()]
  assert all(not np.array_equal(full, o) for o in other)
