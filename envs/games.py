"""Atari game names (CamelCase, e.g. 'SpaceInvaders') from ale-py's ROM list, and the frame skip and
game cap of the Atari protocol; no TensorFlow import, so the command line can reject an unknown
game instantly and the experiment specs can convert frames to agent steps."""
from __future__ import annotations

import functools
import re

FRAMESKIP = 4                  # emulator frames per agent step (baselines MaxAndSkipEnv skip=4)
MAX_FRAMES_PER_GAME = 108_000  # 30 minutes of play at 60 Hz (baselines TimeLimit, DQN protocol)


def _camel(rom_id: str) -> str:
  return "".join(part.capitalize() for part in rom_id.split("_"))


def _rom_id(game: str) -> str:
  return re.sub(r"(?<!^)(?=[A-Z])", "_", game).lower()


@functools.lru_cache(maxsize=1)
def _all_games() -> tuple:
  # ale-py (and gymnasium behind it) only when a game is named: this module is imported by the
  # experiment layer for FRAMESKIP, and `--help` or a bad argument should not wait for it
  from ale_py import roms
  return tuple(sorted(_camel(r) for r in roms.get_all_rom_ids()))


class _Games:
  """Lazy list of valid game names (CamelCase, e.g. 'SpaceInvaders'), from ale-py's ROM list."""

  def __iter__(self):
    return iter(_all_games())

  def __contains__(self, name):
    return name in _all_games()

  def __len__(self):
    return len(_all_games())

  def __repr__(self):
    return repr(list(_all_games()))


ATARI_GAMES = _Games()


def validate_game(game: str) -> str:
  """Returns `game` if ale-py ships its ROM; raises ValueError listing the valid names otherwise."""
  if game not in ATARI_GAMES:
    raise ValueError(f"unknown Atari game {game!r}; valid games (ale-py ROMs): "
                     f"{', '.join(ATARI_GAMES)}")
  return game
