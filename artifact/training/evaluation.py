"""Evaluation games: whole games (no life-loss terminals) played by a policy, raw scores."""
from __future__ import annotations

import math
from typing import Dict

import numpy as np


def evaluate(policy, py_env, num_games: int, max_frames: int, seeds=None) -> Dict[str, float]:
  """Plays `num_games` whole games, one per env of the batched `py_env`, with the `PyPolicy`.

  Args:
    policy: tf-agents `PyPolicy` acting on `py_env`'s batched time steps.
    py_env: `envs.BatchedGymnasiumEnv` with `life_loss_terminal=False`, batch size >= num_games.
    num_games: games to score (the first game finished by each env).
    max_frames: cap per game in emulator frames; a game stopped by it counts as truncated.
    seeds: reseeds the games (one int per env) before they start; None continues the env's stream.
  Returns dict(eval_return, eval_std, eval_games, eval_truncated): mean and std of the raw game
  scores, games scored, and how many of them hit the cap.
  """
  if seeds is not None:
    py_env.seed_games(seeds)
  time_step = py_env.reset()
  py_env.pop_finished_games()
  first: Dict[int, object] = {}
  max_steps = max_frames // py_env.frames_per_step + 2
  for _ in range(max_steps):
    time_step = py_env.step(policy.action(time_step).action)
    for g in py_env.pop_finished_games():
      first.setdefault(g.env_id, g)
    if len(first) >= num_games:
      break
  scores = np.array([g.score for g in first.values()], np.float64)
  truncated = sum(g.agent_steps * py_env.frames_per_step >= max_frames for g in first.values())
  return dict(eval_return=float(scores.mean()) if len(scores) else math.nan,
              eval_std=float(scores.std()) if len(scores) else math.nan,
              eval_games=int(len(scores)), eval_truncated=int(truncated))
