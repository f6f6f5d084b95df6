"""Batched tf-agents environments: real Atari (ale-py) and CartPole (tests)."""
from envs.batched_env import BatchedGymnasiumEnv, FinishedGame
from envs.atari import ATARI_GAMES, make_atari_env, validate_game
from envs.cartpole import make_cartpole_env

__all__ = ["BatchedGymnasiumEnv", "FinishedGame", "ATARI_GAMES", "make_atari_env",
           "validate_game", "make_cartpole_env"]
