"""The progress.csv schema (defined once: the runner writes it, the reports read it,
docs/outputs.md documents it) and its kill-safe writer.

One row per logged point of a run. Returns are raw (unclipped) game scores.
"""
from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Dict, List

from artifact.files import atomic_write_text

# (column, meaning) in file order.
SCHEMA = (
    ("figure", "figure number (1, 2, 3); a run serving two figures is written under the first"),
    ("game", "Atari game, CamelCase (e.g. Seaquest)"),
    ("condition", "condition name (e.g. a2c_proper)"),
    ("seed", "run seed (all of the run's random streams derive from it)"),
    ("frames", "emulator frames trained so far (= 4 x agent steps)"),
    ("agent_steps", "agent steps summed over the run's parallel envs"),
    ("train_return", "mean raw score of the last <=100 finished training games (baselines eprewmean)"),
    ("train_games", "training games in that mean"),
    ("eval_return", "mean raw score of this evaluation's games (empty between evaluations)"),
    ("eval_std", "std of those scores"),
    ("eval_games", "games played in this evaluation"),
    ("eval_truncated", "evaluation games stopped by the frame cap"),
    ("fps", "training frames per second since the previous row (wall clock)"),
    ("wall_s", "seconds since this (possibly resumed) process started the run"),
    ("loss", "total loss of the last update"),
    ("entropy", "mean policy entropy of the last update, nats (A2C framework)"),
)
COLUMNS: List[str] = [c for c, _ in SCHEMA]
TIMING_COLUMNS = ("fps", "wall_s")          # the only columns that differ between identical runs


class ProgressLog:
  """progress.csv that survives kills and resumes.

  On open, rows past `restored_frames` (written after the checkpoint a resumed run restarts
  from) are dropped, so every frame point appears exactly once. Each `write` adds one row by
  replacing the file atomically (the file is small: a few dozen rows), so a kill never leaves a
  torn last line.
  """

  def __init__(self, path, restored_frames: int):
    self.path = Path(path)
    rows: List[Dict] = []
    if self.path.exists() and restored_frames > 0:
      with open(self.path, newline="") as f:
        rows = [r for r in csv.DictReader(f) if r.get("frames") and int(r["frames"]) <= restored_frames]
    buf = io.StringIO()
    w = csv.DictWriter(buf, COLUMNS, lineterminator="\n")
    w.writeheader()
    w.writerows({k: r.get(k, "") for k in COLUMNS} for r in rows)
    self._text = buf.getvalue()
    atomic_write_text(self.path, self._text)

  def write(self, row: Dict):
    """Appends one row ({column: value}; missing columns empty) and rewrites the file atomically."""
    buf = io.StringIO()
    csv.DictWriter(buf, COLUMNS, lineterminator="\n").writerow({k: row.get(k, "") for k in COLUMNS})
    self._text += buf.getvalue()
    atomic_write_text(self.path, self._text)
