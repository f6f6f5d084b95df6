"""Real Atari (ale-py ROMs) as a batched tf-agents environment with the docs/protocol.md section 2
protocol.

DeepMind preprocessing as openai/baselines `atari_wrappers`, done in C++ by
`ale_py.vector_env.AtariVectorEnv`: 1..30 no-op starts, frameskip 4 with a max-pool over the
last 2 frames, 84x84 grayscale, 4-frame stack (oldest first), FIRE on reset, no sticky actions,
minimal action set, 108,000-frame game cap. Loss of a life is a terminal for bootstrapping
(`life_loss_info=True`); rewards are clipped to sign(r) here (for learning) while each finished
game reports its raw score.
"""
from __future__ import annotations

import atexit
import functools
import os

import ale_py
import numpy as np
from ale_py import roms
from ale_py.vector_env import AtariVectorEnv
from tf_agents.specs import array_spec

from envs.batched_env import BatchedGymnasiumEnv, GroupedBatchedEnv
from envs.games import FRAMESKIP, MAX_FRAMES_PER_GAME, _rom_id, validate_game


def _game_over(terminated, truncated, info, prev_info):
  """A terminal is a game over (not a life loss) iff the episode frame counter restarted.

  With SAME_STEP autoreset the info of a game-over step already belongs to the new game, so
  its `episode_frame_number` is smaller than the one reported the step before.
  """
  done = np.logical_or(terminated, truncated)
  if prev_info is None:
    return done
  restarted = info["episode_frame_number"] < prev_info["episode_frame_number"]
  return np.logical_and(done, restarted)


# Constructing AtariVectorEnv costs about 0.2 s per emulator and its first reset 0.1 s more
# (measured: 16 Pong envs, 3.5 s + 2.0 s on 2 CPU cores), which would dominate a smoke
# grid of short runs. Closed envs are therefore parked here and handed to the next run that
# asks for the same configuration; `reset(seed=...)` reseeds every emulator, so a reused env
# starts exactly like a new one.
_POOL: dict[tuple, list] = {}


@atexit.register
def _close_pool():
  """Closes the parked envs at exit, before the interpreter tears down ale-py's bindings (which
  otherwise report the vector envs still alive then as leaked)."""
  for vecs in _POOL.values():
    for vec in vecs:
      vec.close()
  _POOL.clear()


class _PooledVectorEnv:
  """Forwards to an AtariVectorEnv; `close()` parks it in the pool (if `pooled`) instead of
  destroying it. `reset(seed=[...])` passes a list of per-env seeds as the int array ale-py
  takes."""

  def __init__(self, key, vec, pooled: bool = True):
    self._key, self._vec, self._pooled = key, vec, pooled

  def __getattr__(self, name):
    return getattr(self._vec, name)

  def reset(self, *, seed=None, **kwargs):
    if isinstance(seed, (list, tuple)):
      seed = np.asarray(seed, np.int64)
    return self._vec.reset(seed=seed, **kwargs)

  def step(self, action):
    return self._vec.step(action)

  def close(self):
    if self._vec is not None:
      if self._pooled:
        _POOL.setdefault(self._key, []).append(self._vec)
      else:
        self._vec.close()
      self._vec = None


LIFE_LOSS_FIRE = ("recorded", "hidden")
LIFE_LOSS_STACK = ("keep", "zero")
NOOP, FIRE = 0, 1       # minimal action set indices (FIRE where `has_fire_reset`)


def life_reset_actions(game: str) -> tuple[int, ...]:
  """The hidden reset after a life loss in baselines' wrappers (and SB3's, the same): the
  `EpisodicLifeEnv.reset` no-op step, then, in games with a FIRE reset (`has_fire_reset`),
  `FireResetEnv.reset`'s FIRE and action 2: (0, 1, 2), else (0,). Minimal-action-set indices."""
  return (NOOP, FIRE, 2) if has_fire_reset(game) else (NOOP,)


def make_atari_env(game: str, num_envs: int = 16, seed=0, *,
                   num_threads: int | None = None, life_loss_terminal: bool = True,
                   max_frames_per_game: int = MAX_FRAMES_PER_GAME,
                   reuse: bool = True, groups: int = 1,
                   life_loss_fire: str = "recorded", life_loss_stack: str = "keep"):
  """Batched Atari `game` (CamelCase, e.g. 'Pong') as a tf-agents PyEnvironment.

  Observations uint8 [num_envs, 4, 84, 84], oldest frame first. Rewards sign-clipped.
  `seed`: an int (sub-env i gets seed + i, ale-py's convention), one int per sub-env, or None.
  `life_loss_terminal=False` gives whole-game episodes (used for evaluation). With
  `life_loss_terminal=True` (training) FIRE is also pressed on the first step of every new life
  in games whose action 1 is FIRE, as baselines' `FireResetEnv` under `EpisodicLifeEnv` does.
  `max_frames_per_game`: the game cap in emulator frames (108,000 = 30 min, docs/protocol.md
  section 2).
  `reuse`: take an identical closed env from this process's pool if there is one (it is reset
  with `seed` on first use, like a new one).
  `groups`: 1 gives one `BatchedGymnasiumEnv`; k > 1 a `GroupedBatchedEnv` of k vector envs of
  (about) num_envs / k emulators each, envs numbered and seeded as in one vector env (the
  overlapped A2C collection acts on one group while the others step).
  After a life loss in training (the DQN parity experiment's options, `DQNHparams`):
  `life_loss_fire` "recorded" (default: FIRE replaces the agent's action on the new life's first
  agent step, the sampled action is recorded) or "hidden" (`life_reset_actions(game)` played
  inside the life-loss step, unseen and unrecorded: one env only); `life_loss_stack` "keep"
  (default) or "zero" (the stack's frames from before the new life zeroed, as SB3's
  `VecFrameStack`). Both act only with `life_loss_terminal` (evaluation has no life losses).
  Raises ValueError for an unknown game (message lists the valid ones), num_envs < 1, groups
  not in [1, num_envs], a `life_loss_fire` or `life_loss_stack` not in LIFE_LOSS_FIRE /
  LIFE_LOSS_STACK, or "hidden" with num_envs / groups > 1.
  """
  validate_game(game)
  if num_envs < 1:
    raise ValueError(f"num_envs must be >= 1, got {num_envs}")
  if not 1 <= groups <= num_envs:
    raise ValueError(f"groups must be in [1, num_envs={num_envs}], got {groups}")
  if life_loss_fire not in LIFE_LOSS_FIRE:
    raise ValueError(
        f"life_loss_fire must be one of {', '.join(LIFE_LOSS_FIRE)}; got {life_loss_fire!r}")
  if life_loss_stack not in LIFE_LOSS_STACK:
    raise ValueError(
        f"life_loss_stack must be one of {', '.join(LIFE_LOSS_STACK)}; got {life_loss_stack!r}")
  hidden = life_loss_terminal and life_loss_fire == "hidden"
  if groups > 1:  # the groups' seeds: as one vector env's (GroupedBatchedEnv.seed_games)
    env = GroupedBatchedEnv([
        make_atari_env(game, len(ids), None, num_threads=num_threads,
                       life_loss_terminal=life_loss_terminal,
                       max_frames_per_game=max_frames_per_game, reuse=reuse,
                       life_loss_fire=life_loss_fire, life_loss_stack=life_loss_stack)
        for ids in np.array_split(np.arange(num_envs), groups)])
    env.seed_games(seed)
    return env
  if hidden and num_envs != 1:
    raise ValueError(f"life_loss_fire='hidden' needs one env per vector env (its hidden steps "
                     f"step them all), got {num_envs}")
  threads = num_threads or min(num_envs, os.cpu_count() or 1)
  key = (game, num_envs, threads, life_loss_terminal, max_frames_per_game)
  spec = array_spec.BoundedArraySpec((4, 84, 84), np.uint8, 0, 255, name="observation")
  if reuse and _POOL.get(key):
    vec = _POOL[key].pop()
  else:
    vec = _new_vector_env(game, num_envs, threads, life_loss_terminal, max_frames_per_game)
  fire = FIRE if life_loss_terminal and not hidden and has_fire_reset(game) else None
  return BatchedGymnasiumEnv(_PooledVectorEnv(key, vec, pooled=reuse), spec, clip_rewards=True,
                             game_over_fn=_game_over, frames_per_step=FRAMESKIP, seed=seed,
                             fire_action=fire,
                             life_reset_actions=life_reset_actions(game) if hidden else None,
                             zero_stack_on_life_loss=life_loss_terminal
                             and life_loss_stack == "zero")


@functools.cache
def has_fire_reset(game: str) -> bool:
  """True if the game's minimal action set has FIRE at index 1 and at least 3 actions: the test
  baselines' `FireResetEnv` applies (`get_action_meanings()[1] == 'FIRE'`)."""
  ale_py.ALEInterface.setLoggerMode(ale_py.LoggerMode.Error)
  ale = ale_py.ALEInterface()
  ale.loadROM(roms.get_rom_path(_rom_id(game)))
  actions = list(ale.getMinimalActionSet())
  return len(actions) >= 3 and actions[1] == ale_py.Action.FIRE


# The observation processing of the agents' input (DeepMind preprocessing). It changes what the
# emulator's screen is turned into, never the emulator's dynamics (`make_rgb_vector_env`).
_AGENT_OBSERVATION = dict(img_height=84, img_width=84, grayscale=True, stack_num=4, maxpool=True)
_SCREEN_OBSERVATION = dict(img_height=210, img_width=160, grayscale=False, stack_num=1,
                           maxpool=False)


def _new_vector_env(game, num_envs, threads, life_loss_terminal, max_frames_per_game,
                    observation=None):
  return AtariVectorEnv(
      _rom_id(game), num_envs, num_threads=threads,
      max_num_frames_per_episode=max_frames_per_game, repeat_action_probability=0.0,
      autoreset_mode="SameStep", frameskip=FRAMESKIP, noop_max=30, episodic_life=False,
      life_loss_info=life_loss_terminal, reward_clipping=False, use_fire_reset=True,
      **(observation or _AGENT_OBSERVATION))


def make_rgb_vector_env(game: str, num_envs: int = 1, *, life_loss_terminal: bool = False,
                        max_frames_per_game: int = MAX_FRAMES_PER_GAME, num_threads: int = 1):
  """The emulators of `make_atari_env` with the screen as it is shown: a raw ale-py
  `AtariVectorEnv` (gymnasium API, SAME_STEP autoreset, raw rewards) with exactly the emulator
  settings of `make_atari_env(game, num_envs, ...)` (no-op starts, frameskip 4, FIRE on reset,
  no sticky actions, the game cap `max_frames_per_game` in emulator frames, life loss as a
  terminal iff `life_loss_terminal`) but observations uint8 [num_envs, 1, 210, 160, 3]: the
  full-resolution RGB screen of the last frame of each agent step, not max-pooled, not stacked.
  Observation processing does not change the emulator's dynamics, so reset with the same seeds
  (`reset(seed=int64 array [num_envs])`) and stepped with the same actions it plays the same
  games, reward for reward, as the agent's env: an RGB twin that films them (videos of
  evaluation games). Never pooled. Raises ValueError for an unknown game or num_envs < 1."""
  validate_game(game)
  if num_envs < 1:
    raise ValueError(f"num_envs must be >= 1, got {num_envs}")
  return _new_vector_env(game, num_envs, num_threads, life_loss_terminal, max_frames_per_game,
                         observation=_SCREEN_OBSERVATION)
