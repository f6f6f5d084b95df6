"""Where a run logs and evaluates: points fixed in emulator frames, not in fractions of its budget.

At `short` and `paper` scale a run is the first N frames of the paper's run (docs/protocol.md
section 7): its schedules (learning rate, epsilon) run over the paper's horizon, and its progress
rows and evaluations fall at the same frame points whatever N is. Runs of any budget then share
their points, and a run extended from N to 2N has the rows of a run that went straight to 2N,
plus the evaluation at N (the end of its first budget).

`smoke` runs keep points spread over their own tiny budget (they exist to exercise every code
path in minutes, and their schedules shrink with the budget too).

Units: frames = emulator frames (4 x agent steps), summed over a run's parallel envs.
"""
from __future__ import annotations

import math

LOG_EVERY_FRAMES = 100_000     # a progress row every 100k frames (short and paper scale)

# Evaluation points: dense early, sparser later: (up to this many frames, every this many).
EVAL_SEGMENTS: tuple[tuple[int, int], ...] = (
    (1_000_000, 250_000),          # 0.25M, 0.5M, 0.75M, 1M
    (5_000_000, 500_000),          # 1.5M ... 5M
    (10_000_000, 1_000_000),       # 6M ... 10M
    (40_000_000, 2_500_000),       # 12.5M ... 40M
    (10 ** 12, 10_000_000),        # 50M, 60M, ... (320M at paper scale)
)

FIXED = "fixed"                    # RunSpec.eval_schedule of short / paper runs
SPREAD = "spread"                  # "spread:K": K evaluations evenly spaced over the budget (smoke)


def fixed_eval_points(budget: int) -> list[int]:
  """The fixed evaluation points (frames) up to `budget`, plus `budget` itself (its end).

  E.g. fixed_eval_points(3_000_000) == [250k, 500k, 750k, 1M, 1.5M, 2M, 2.5M, 3M].
  Raises ValueError for budget <= 0."""
  if budget <= 0:
    raise ValueError(f"budget must be > 0 frames, got {budget}")
  points, start = [], 0
  for end, step in EVAL_SEGMENTS:
    f = start + step
    while f <= min(end, budget):
      points.append(f)
      f += step
    start = end
    if end >= budget:
      break
  if not points or points[-1] != budget:
    points.append(budget)
  return points


def parse_eval_schedule(schedule: str) -> tuple[str, int]:
  """("fixed", 0) or ("spread", K). Raises ValueError naming the allowed forms."""
  if schedule == FIXED:
    return FIXED, 0
  if schedule.startswith(SPREAD + ":"):
    k = schedule.split(":", 1)[1]
    if k.isdigit() and int(k) >= 1:
      return SPREAD, int(k)
  raise ValueError(f"eval schedule must be {FIXED!r} or '{SPREAD}:K' with K >= 1, got {schedule!r}")


def eval_updates(schedule: str, budget: int, per_update: int) -> list[int]:
  """Update numbers (1-based) after which an evaluation runs, for a run of `budget` frames whose
  updates are `per_update` frames each: the first update that reaches each evaluation point.
  With "spread:K": K evaluations evenly spaced in updates, the last at the end."""
  total = total_updates(budget, per_update)
  kind, k = parse_eval_schedule(schedule)
  if kind == SPREAD:
    return sorted({max(1, round(total * (i + 1) / k)) for i in range(k)})
  return sorted({min(total, max(1, math.ceil(p / per_update))) for p in fixed_eval_points(budget)})


def total_updates(budget: int, per_update: int) -> int:
  """Updates of a run of `budget` frames (the last one may pass the budget by < one update)."""
  return max(1, math.ceil(int(budget) / int(per_update)))


def logs_row(update: int, per_update: int, log_every_frames: int) -> bool:
  """True if the update numbered `update` crosses a multiple of `log_every_frames` frames."""
  after, before = update * per_update, (update - 1) * per_update
  return after // log_every_frames > before // log_every_frames


def row_updates(per_update: int, log_every_frames: int, eval_at, total: int,
                up_to_frames: int) -> list[int]:
  """Update numbers after which a run writes a progress row, those at `up_to_frames` emulator
  frames or fewer, sorted: the updates that cross a multiple of `log_every_frames` (`logs_row`),
  the evaluations `eval_at` (update numbers, `eval_updates`) and the last update `total`."""
  last = int(up_to_frames) // int(per_update)
  logged = {math.ceil(m * log_every_frames / per_update)
            for m in range(1, int(up_to_frames) // int(log_every_frames) + 1)}
  return sorted(u for u in logged | set(eval_at) | {int(total)} if 1 <= u <= last)
