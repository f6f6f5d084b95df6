"""The Atari adapter on real ROMs (ale-py): shapes, dtypes, step types, clipped vs raw rewards,
life loss vs game over, FIRE after a life loss in training (baselines' FireResetEnv under
EpisodicLifeEnv) but not in evaluation (docs/protocol.md section 2)."""
import numpy as np
import pytest
from tf_agents.trajectories import time_step as ts

from envs.atari import make_atari_env
from envs.cartpole import make_cartpole_env
from envs.games import ATARI_GAMES, validate_game


def test_pong_shapes_dtypes_and_step_types():
  env = make_atari_env("Pong", num_envs=4, seed=0, num_threads=2)
  assert env.batched and env.batch_size == 4
  assert env.observation_spec().shape == (4, 84, 84) and env.observation_spec().dtype == np.uint8
  assert env.num_actions == 6                      # Pong's minimal action set
  t = env.reset()
  assert t.observation.shape == (4, 4, 84, 84) and t.observation.dtype == np.uint8
  assert (t.step_type == ts.StepType.FIRST).all()
  rng = np.random.default_rng(0)
  nonzero = 0
  for _ in range(1200):
    t = env.step(rng.integers(0, 6, 4))
    assert t.reward.dtype == np.float32 and t.discount.dtype == np.float32
    assert (t.step_type == ts.StepType.MID).all()
    assert set(np.unique(t.reward)) <= {-1.0, 0.0, 1.0}
    nonzero += int((t.reward != 0).sum())
  assert nonzero > 0                               # points were scored in 1200 steps x 4 games
  # oldest frame first: the newest frame of step t is the 2nd-newest of step t+1
  t2 = env.step(np.zeros(4, np.int64))
  same = (t2.discount == 1.0)
  assert np.array_equal(t2.observation[same][:, 2], t.observation[same][:, 3])
  assert env.frames == (1201) * 4 * 4
  env.close()


def test_pong_raw_scores_equal_sum_of_clipped_rewards_and_every_terminal_is_game_over():
  """Pong rewards are +-1 already, and Pong has no lives: raw score == sum of learning rewards."""
  env = make_atari_env("Pong", num_envs=2, seed=1, num_threads=2, max_frames_per_game=3000)
  env.reset()
  per_env = np.zeros(2)
  scores, terminals = [], 0
  rng = np.random.default_rng(1)
  while len(scores) < 2:
    t = env.step(rng.integers(0, 6, 2))
    per_env += t.reward
    terminals += int((t.discount == 0).sum())
    for g in env.pop_finished_games():
      scores.append((g.env_id, g.score, g.agent_steps))
      # the learning rewards of that game add up to its raw score
      assert per_env[g.env_id] == pytest.approx(g.score)
      per_env[g.env_id] = 0.0
  assert terminals == len(scores)                  # no lives: every terminal is a game over
  assert all(steps * 4 >= 3000 - 4 for _, _, steps in scores)   # capped at 3000 frames


def test_breakout_life_loss_is_terminal_but_not_game_over_and_raw_score_is_unclipped():
  env = make_atari_env("Breakout", num_envs=2, seed=0, num_threads=2)
  env.reset()
  rng = np.random.default_rng(0)
  terminals, games = 0, []
  for _ in range(3000):
    t = env.step(rng.integers(0, 4, 2))
    terminals += int((t.discount == 0).sum())
    games += env.pop_finished_games()
    if len(games) >= 3:
      break
  assert len(games) >= 3
  # 5 lives: about 5 terminals per game (the first game of an env can show 4)
  assert terminals >= 4 * len(games)
  assert all(g.score >= 0 and g.agent_steps > 0 for g in games)


def test_fire_is_pressed_after_a_life_loss_so_noop_breakout_games_end():
  env = make_atari_env("Breakout", 2, seed=[5, 9], reuse=False, max_frames_per_game=20_000)
  env.reset()
  games = []
  for _ in range(1200):
    env.step(np.zeros(2, np.int64))                    # the agent never presses FIRE
    games += env.pop_finished_games()
  env.close()
  # 5 lives, each served by the adapter's FIRE: whole games end in ~125 agent steps
  assert len(games) >= 4 and all(g.agent_steps < 400 for g in games)
  stalled = make_atari_env("Breakout", 1, seed=[5], reuse=False, life_loss_terminal=False,
                           max_frames_per_game=20_000)   # evaluation envs: no FIRE after life loss
  stalled.reset()
  for _ in range(600):
    stalled.step(np.zeros(1, np.int64))
  assert stalled.pop_finished_games() == []             # baselines' eval stalls the same way
  stalled.close()


def test_raw_score_is_unclipped_on_a_game_with_large_rewards():
  """SpaceInvaders pays 5..30 points per alien: raw scores exceed the clipped reward count."""
  env = make_atari_env("SpaceInvaders", num_envs=4, seed=0, num_threads=2, max_frames_per_game=4000)
  env.reset()
  rng = np.random.default_rng(0)
  clipped = np.zeros(4)
  games = []
  while len(games) < 4:
    t = env.step(rng.integers(0, 6, 4))
    clipped += t.reward
    for g in env.pop_finished_games():
      games.append((g.score, clipped[g.env_id]))
      clipped[g.env_id] = 0.0
  assert any(raw > clip > 0 for raw, clip in games)
  assert all(raw >= clip for raw, clip in games)


def test_unknown_game_fails_early_with_the_valid_list():
  with pytest.raises(ValueError) as e:
    make_atari_env("Pongg")
  assert "Pongg" in str(e.value) and "SpaceInvaders" in str(e.value) and "Breakout" in str(e.value)
  assert "Pong" in ATARI_GAMES and validate_game("BeamRider") == "BeamRider"
  assert len(ATARI_GAMES) > 50


def test_cartpole_batched():
  env = make_cartpole_env(4, seed=0)
  t = env.reset()
  assert t.observation.shape == (4, 4) and t.observation.dtype == np.float32
  for _ in range(60):
    t = env.step(np.zeros(4, np.int64))             # always push left: falls within ~10 steps
  games = env.pop_finished_games()
  assert len(games) >= 4 and all(5 <= g.score <= 30 for g in games)
