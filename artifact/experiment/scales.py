"""Scales: the budgets, evaluation and schedule rules a grid runs at (smoke, short, paper;
docs/protocol.md section 7).
"""
from __future__ import annotations

import dataclasses

from artifact.experiment.registry import FigureSpec
from envs.games import MAX_FRAMES_PER_GAME

LOG_POINTS_SMOKE = 20              # progress rows of a smoke run (spread over its budget)

@dataclasses.dataclass(frozen=True)
class Scale:
  """Budgets, evaluation and schedule rules of one scale (docs/protocol.md section 7).

  A scale with `paper_schedules` runs the first N frames of the paper's run: learning-rate and
  epsilon schedules over the paper's horizon, progress rows and evaluations at points fixed in
  frames (`artifact.experiment.schedule`), so its runs extend. Without (smoke), every schedule and
  point shrinks into the run's own budget."""
  name: str
  # emulator frames per run by family; None: the figure's paper budget
  frames: dict[str, int] | None
  eval_games: int                   # games per evaluation, played in parallel
  eval_max_frames: int              # cap per evaluation game, emulator frames (108,000 = 30 min)
  paper_schedules: bool             # schedules over the paper's horizon, points fixed in frames
  evals_per_run: int = 0            # without paper_schedules: evaluations spread over the budget
  replay_capacity: int | None = None  # DQN replay cap in transitions; None: the hyperparameter (1M)

  def frames_for(self, fig: FigureSpec, family: str) -> int:
    """Emulator frames per run of `family` in figure `fig` at this scale."""
    return fig.paper_frames if self.frames is None else self.frames[family]


SCALES: dict[str, Scale] = {
    # smoke: proves the pipeline end to end on 2 CPU cores, not the science. Evaluation games are
    # capped at 500 frames (reported as truncated), replay is small, and the DQN learning-start /
    # target schedules shrink with the budget so that every condition trains.
    "smoke": Scale("smoke", frames={"a2c": 6_400, "dqn": 1_200}, eval_games=2, eval_max_frames=500,
                   paper_schedules=False, evals_per_run=5, replay_capacity=20_000),
    # short: the first 10M / 5M frames of the paper's runs, a budget where published curves have
    # left random play on most games (docs/protocol.md section 8: SB3-zoo A2C at 10M frames,
    # Dopamine DQN at 10M); evaluation games capped at 27,000 frames (7.5 minutes of play) to
    # keep evaluation under ~10% of the run.
    "short": Scale("short", frames={"a2c": 10_000_000, "dqn": 5_000_000}, eval_games=8,
                   eval_max_frames=27_000, paper_schedules=True),
    # paper: the paper's budgets; 10 evaluation games of at most 108,000 frames (the game cap).
    "paper": Scale("paper", frames=None, eval_games=10, eval_max_frames=MAX_FRAMES_PER_GAME,
                   paper_schedules=True),
}


def frames_text(frames: int) -> str:
  """An emulator-frame count as the docs and reports write it: exact where it is round (6,400;
  100k; 10M; 320M), else to 3 significant digits (2,999,360 -> '3M', 1,234,567 -> '1.23M',
  123,456 -> '123k')."""
  if frames < 100_000:
    return f"{frames:,}"
  unit, size = ("M", 1_000_000) if frames >= 1_000_000 else ("k", 1_000)
  if frames % size == 0:
    return f"{frames // size:,}{unit}"
  text = f"{frames / size:.3g}"                  # "1e+03" when it rounds up to 1,000
  return (f"{frames / size:,.0f}" if "e" in text else text) + unit


def check_scale(name: str) -> Scale:
  """The Scale called `name`. Raises ValueError naming it and the valid scales."""
  if name not in SCALES:
    raise ValueError(f"unknown scale {name!r}; valid: {', '.join(SCALES)}")
  return SCALES[name]
