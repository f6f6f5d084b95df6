"""Evaluation games: whole games (no life-loss terminals) played by a policy, raw scores."""
from __future__ import annotations

import math

import numpy as np


def evaluate(policy, py_env, num_games: int, max_frames: int, seeds=None,
             observer=None) -> dict[str, float]:
  """Plays `num_games` whole games, one per env of the batched `py_env`, with the `PyPolicy`.

  Args:
    policy: tf-agents `PyPolicy` acting on `py_env`'s batched time steps.
    py_env: `envs.batched_env.BatchedGymnasiumEnv` with `life_loss_terminal=False` and a batch
      size >= num_games.
    num_games: games to score (the first game finished by each env).
    max_frames: cap per game in emulator frames; a game stopped by it counts as truncated.
    seeds: reseeds the games (one int per env) before they start; None continues the env's stream.
    observer: None, or a callable `observer(action, time_step, finished)` called after every
      agent step with the batch's actions (int [batch]), the time step they led to, and the
      games that step finished (a list of `envs.batched_env.FinishedGame`, raw scores; later
      games of an env that already finished one included). It only watches: the games, the
      actions and the result are the same with or without it (`artifact.watch` records
      videos and prints progress with it).
  Returns dict(eval_return, eval_std, eval_games, eval_truncated): mean and std of the raw game
  scores, games scored, and how many of them hit the cap.
  """
  if seeds is not None:
    py_env.seed_games(seeds)
  time_step = py_env.reset()
  py_env.pop_finished_games()
  first: dict[int, object] = {}
  max_steps = max_frames // py_env.frames_per_step + 2
  for _ in range(max_steps):
    action = policy.action(time_step).action
    time_step = py_env.step(action)
    finished = py_env.pop_finished_games()
    for g in finished:
      first.setdefault(g.env_id, g)
    if observer is not None:
      observer(action, time_step, finished)
    if len(first) >= num_games:
      break
  scores = np.array([g.score for g in first.values()], np.float64)
  truncated = sum(g.agent_steps * py_env.frames_per_step >= max_frames for g in first.values())
  return dict(eval_return=float(scores.mean()) if len(scores) else math.nan,
              eval_std=float(scores.std()) if len(scores) else math.nan,
              eval_games=int(len(scores)), eval_truncated=int(truncated))
