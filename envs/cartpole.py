"""Batched CartPole-v1 (gymnasium) for fast learning tests; same adapter as Atari."""
from __future__ import annotations

import gymnasium as gym
import numpy as np
from tf_agents.specs import array_spec

from envs.batched_env import BatchedGymnasiumEnv


def make_cartpole_env(num_envs: int = 8, seed: int | None = 0,
                      max_episode_steps: int = 500) -> BatchedGymnasiumEnv:
  """CartPole-v1 x `num_envs`; observation float32 [4], reward 1 per step, unclipped.

  The raw score of a finished game is its length in steps (max `max_episode_steps`).
  """
  if num_envs < 1:
    raise ValueError(f"num_envs must be >= 1, got {num_envs}")
  vec = gym.vector.SyncVectorEnv(
      [lambda: gym.make("CartPole-v1", max_episode_steps=max_episode_steps)
       for _ in range(num_envs)],
      autoreset_mode=gym.vector.AutoresetMode.SAME_STEP)
  spec = array_spec.ArraySpec((4,), np.float32, name="observation")
  return BatchedGymnasiumEnv(vec, spec, clip_rewards=False, frames_per_step=1, seed=seed)
