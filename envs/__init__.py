"""Batched tf-agents environments: real Atari (ale-py) and CartPole (tests).

Names are imported lazily so that `envs.games` (the game list) loads without TensorFlow.
"""
import importlib


_EXPORTS = {
    "BatchedGymnasiumEnv": "envs.batched_env", "FinishedGame": "envs.batched_env",
    "GroupedBatchedEnv": "envs.batched_env",
    "ATARI_GAMES": "envs.games", "validate_game": "envs.games",
    "make_atari_env": "envs.atari", "make_cartpole_env": "envs.cartpole",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name):
  if name in _EXPORTS:
    return getattr(importlib.import_module(_EXPORTS[name]), name)
  raise AttributeError(f"module 'envs' has no attribute {name!r}")
