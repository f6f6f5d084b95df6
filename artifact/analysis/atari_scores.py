"""Random, human and Nature-DQN reference scores: human-normalized scores (HNS) and the
random-play thresholds of docs/decision_rules.md (amendment A1).

Source: Mnih et al. (2015), "Human-level control through deep reinforcement learning", Nature
518, Extended Data Table 2 ("Random play", "Professional human games tester" and "DQN"
columns); the same table is used by Dopamine, rliable's Atari notebooks and most Atari papers
since. HNS = (score - random) / (human - random): 0 is random play, 1 is the human tester.
"""
from __future__ import annotations

import math

RANDOM = {"BeamRider": 363.9, "Breakout": 1.7, "Enduro": 0.0, "Pong": -20.7, "Qbert": 163.9,
          "Seaquest": 68.4, "SpaceInvaders": 148.0}
HUMAN = {"BeamRider": 16926.5, "Breakout": 30.5, "Enduro": 860.5, "Pong": 14.6, "Qbert": 13455.0,
         "Seaquest": 42054.7, "SpaceInvaders": 1668.7}
DQN_NATURE = {"BeamRider": 6846.0, "Breakout": 401.2, "Enduro": 301.8, "Pong": 18.9,
              "Qbert": 10596.0, "Seaquest": 5286.0, "SpaceInvaders": 1976.0}


def has_reference(game: str) -> bool:
  """Whether `game` (CamelCase, e.g. "Seaquest") has both random and human reference scores."""
  return game in RANDOM and game in HUMAN


def human_normalized(game: str, score: float) -> float:
  """HNS (a float, unitless) of a raw game score: (score - random) / (human - random); NaN for a
  game without reference scores."""
  if not has_reference(game):
    return math.nan
  return (score - RANDOM[game]) / (HUMAN[game] - RANDOM[game])
