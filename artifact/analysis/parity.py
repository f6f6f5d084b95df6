"""Our training curves beside the published ones, at shared frame points: parity.csv, parity.md.

For every game where our runs of a condition with a published match exist (artifact.analysis.published
MATCHES: Figure 1's `a2c_1step` with SB3-zoo A2C, Figure 2's `dqn` with SB3-zoo DQN), at every
`Match.step` emulator frames (A2C 1M, DQN 250k) up to the largest frame ALL our seeds of that
condition reached in that game, each curve is interpolated linearly in frames (never
extrapolated: a point past a curve's last point, or before its first, is left empty):

  ours      progress.csv `train_return` (mean raw score of the last <=100 finished training games),
            per seed, then mean / std (ddof 0) / min / max over the seeds that have a value there
  zoo       reports/published/sb3_zoo_curves.csv `train_return_last100` (one seed)
  sb3-here  optional: reports/parity/sb3_here/ (SB3 with the zoo's settings on ale-py 0.12.1),
            mean / std / min / max over its seeds
  gaps      100 * (a - b) / |b| in % (empty where b is missing or 0): ours vs zoo, ours vs
            sb3-here, sb3-here vs zoo

Units: frames are emulator frames (4 x agent steps, summed over a run's parallel envs); returns
are raw (unclipped) game scores.
"""
from __future__ import annotations

import io
import math
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np
import pandas as pd

from artifact.analysis import published
from artifact.analysis.results import Results, load_results
from artifact.files import atomic_write_text

PARITY_COLUMNS = ["figure", "condition", "algo", "game", "frames",
                  "ours_seeds", "ours_mean", "ours_std", "ours_min", "ours_max",
                  "zoo_return",
                  "sb3_here_seeds", "sb3_here_mean", "sb3_here_std", "sb3_here_min", "sb3_here_max",
                  "gap_ours_vs_zoo_pct", "gap_ours_vs_sb3_here_pct", "gap_sb3_here_vs_zoo_pct"]


def gap_pct(a, b) -> float:
  """100 * (a - b) / |b|: how far a is above (+) or below (-) b, in % of b's size; NaN if either
  is missing or b is 0."""
  if a is None or b is None or not (math.isfinite(a) and math.isfinite(b)) or b == 0:
    return math.nan
  return 100.0 * (a - b) / abs(b)


def frame_points(reached: float, step: int) -> np.ndarray:
  """step, 2*step, ... up to `reached` emulator frames (none if reached < step)."""
  return np.arange(1, int(reached // step) + 1, dtype=float) * step


def parity_table(progress_by_figure: Dict[int, pd.DataFrame], theirs: pd.DataFrame,
                 step: Optional[int] = None) -> pd.DataFrame:
  """The rows of parity.csv (PARITY_COLUMNS), one per (matched condition, game, frame point),
  from {figure: long progress frame} (`artifact.analysis.results.Results.progress`; a figure
  absent there has no rows) and the published curves `theirs`
  (`artifact.analysis.published.load_published_curves`, CURVE_COLUMNS). Points every `step`
  emulator frames if given, else every match's own `Match.step`. Frames are emulator frames,
  returns raw game scores, gaps in % (the module docstring)."""
  rows = []
  for m in published.MATCHES:
    df = progress_by_figure.get(m.figure)
    if df is None:
      continue
    df = df[df["condition"] == m.condition]
    for game, g in df.groupby("game"):
      reached = g.groupby("seed")["frames"].max().min()        # frames every seed reached
      at = frame_points(float(reached), step or m.step)
      if len(at):
        rows += _game_rows(m, game, g, theirs, at)
  return pd.DataFrame(rows, columns=PARITY_COLUMNS)


def _game_rows(m: published.Match, game: str, g: pd.DataFrame, theirs: pd.DataFrame,
               at: np.ndarray) -> List[Dict]:
  """parity.csv's rows of one matched condition `m` in one game: our seeds `g` (long progress
  rows), the zoo and sb3-here curves of `theirs`, at the frame points `at`."""
  ours = published.seed_stats(g, at, value="train_return")
  c = theirs[(theirs["algo"] == m.algo) & (theirs["game"] == game)]
  zoo = c[c["source"] == published.ZOO_SOURCE]
  zoo_v = published.interpolate(zoo["frames"], zoo["train_return_last100"], at)
  here = c[c["source"] == published.SB3_HERE_SOURCE]
  hs = published.seed_stats(here, at) if len(here) else None
  rows = []
  for i, x in enumerate(at):
    o = ours.iloc[i]
    h = hs.iloc[i] if hs is not None else None
    om = o["mean"] if o["seeds"] else math.nan
    hm = h["mean"] if h is not None and h["seeds"] else math.nan
    rows.append(dict(
        figure=m.figure, condition=m.condition, algo=m.algo, game=game, frames=int(x),
        ours_seeds=int(o["seeds"]), ours_mean=om, ours_std=o["std"], ours_min=o["min"],
        ours_max=o["max"], zoo_return=zoo_v[i],
        sb3_here_seeds=int(h["seeds"]) if h is not None else 0, sb3_here_mean=hm,
        sb3_here_std=h["std"] if h is not None else math.nan,
        sb3_here_min=h["min"] if h is not None else math.nan,
        sb3_here_max=h["max"] if h is not None else math.nan,
        gap_ours_vs_zoo_pct=gap_pct(om, zoo_v[i]), gap_ours_vs_sb3_here_pct=gap_pct(om, hm),
        gap_sb3_here_vs_zoo_pct=gap_pct(hm, zoo_v[i])))
  return rows


def _num(v) -> str:
  if v is None or not math.isfinite(v):
    return "–"
  return f"{v:.0f}" if abs(v) >= 1000 else f"{v:.4g}"


def _spread(mean, lo, hi, n) -> str:
  if not n or not math.isfinite(mean):
    return "–"
  return f"{_num(mean)} [{_num(lo)}, {_num(hi)}] ({int(n)})"


def _pct(v) -> str:
  return "–" if not math.isfinite(v) else f"{v:+.1f}%"


_POINTS = " or ".join(f"{m.step / 1e6:g}M ({m.name})" for m in published.MATCHES)

HEADER = f"""# Our training curves beside published ones

What each column means (all rows: training returns, i.e. the mean raw game score of the last
<=100 finished training games, at a number of **emulator frames** = 4 x agent steps, summed over a
run's parallel envs; points every {_POINTS} frames up to the largest frame that all our seeds
of the condition reached; every curve is interpolated linearly in frames between its own points and
never extrapolated past its last point, "–" where there is no value):

- **ours**: our runs' progress.csv `train_return`: mean over seeds [min, max] (number of seeds).
- **SB3 zoo**: the published curve of stable-baselines3's rl-zoo (one seed, trained in 2021 on
  the gym/atari-py stack of then; DLR-RM/rl-trained-agents, reports/published/, 0.25M-10M frames;
  its frames count finished games only, a lower bound on the frames trained by then).
- **SB3 here**: stable-baselines3 with the zoo's settings rerun on this project's emulator
  (ale-py 0.12.1), reports/parity/sb3_here/ (how: its README.md): mean [min, max] (number of
  seeds); "–" where absent.
- **gaps** are 100 x (a - b) / |b|: "ours vs zoo" is the whole difference; "SB3 here vs zoo" is
  the emulator/wrapper share (same settings; today's emulator, gymnasium Atari wrapper and SB3
  release instead of 2021's); "ours vs SB3 here" is our implementation's share (same emulator;
  our code and our protocol's settings, listed below). The % of a score near 0 (Breakout and Enduro early on,
  Pong as it crosses 0) is unstable: read the scores there. With 1 zoo seed and a few of ours, a
  gap within the spread of the seeds is no evidence of a difference.

Settings that differ from the SB3 zoo's (ours at short and paper scale; full list:
reports/published/README.md):
- `a2c_1step` vs SB3 A2C: our learning rate decays linearly to 0 over the paper run's 320M
  frames, SB3's is a constant 7e-4: ours is <2% below it over the first 6.4M frames, 3.1% at
  10M. The rest (16 envs, n = 5, RMSProp as TF1, entropy 0.01 in the gradient, value weight
  0.25 (R - V)^2, gradient norm 0.5, Nature CNN) is the same.
- `dqn` vs SB3 DQN: replay 1M transitions vs 10k; learning starts after 10k agent steps vs
  100k; per-variable gradient clip 10 vs global norm 10; network init orthogonal vs PyTorch's
  default. The same: Adam 1e-4, batch 32, a gradient step every 4 agent steps, target sync every
  1,000, epsilon 1 -> 0.01 over the first 4M frames.
"""


def parity_markdown(table: pd.DataFrame) -> str:
  """parity.md: HEADER, then a table per (matched condition, game)."""
  out = [HEADER]
  if table.empty:
    out.append("\nNo frame point yet: no run of "
               + " or ".join(f"Figure {m.figure}'s `{m.condition}`" for m in published.MATCHES)
               + f" has reached its first point (every {_POINTS} frames) in all its seeds.\n")
    return "".join(out)
  for m in published.MATCHES:
    t = table[(table["figure"] == m.figure) & (table["condition"] == m.condition)]
    if t.empty:
      continue
    out.append(f"\n## Figure {m.figure} `{m.condition}` vs SB3 {m.name} ({m.short})\n")
    for game, g in t.groupby("game", sort=False):
      out.append(f"\n### {game}\n\n| frames | ours | SB3 zoo | SB3 here | ours vs zoo | ours vs SB3 here "
                 "| SB3 here vs zoo |\n|---|---|---|---|---|---|---|\n")
      for r in g.itertuples(index=False):
        out.append(f"| {r.frames / 1e6:g}M | {_spread(r.ours_mean, r.ours_min, r.ours_max, r.ours_seeds)} "
                   f"| {_num(r.zoo_return)} "
                   f"| {_spread(r.sb3_here_mean, r.sb3_here_min, r.sb3_here_max, r.sb3_here_seeds)} "
                   f"| {_pct(r.gap_ours_vs_zoo_pct)} | {_pct(r.gap_ours_vs_sb3_here_pct)} "
                   f"| {_pct(r.gap_sb3_here_vs_zoo_pct)} |\n")
  return "".join(out)


def write_parity_reports(results: Results, reports_dir, step: Optional[int] = None) -> Dict[str, Path]:
  """Writes parity.csv (PARITY_COLUMNS) and parity.md into `reports_dir` (atomically) from a
  report pass's `Results` (its progress and published curves); returns their paths. Raises
  what the published curves' loading raises (a missing curves file: FileNotFoundError)."""
  reports_dir = Path(reports_dir)
  table = parity_table(results.progress, results.published_curves(), step)
  buf = io.StringIO()
  table.to_csv(buf, index=False, lineterminator="\n")
  paths = dict(parity_csv=reports_dir / "parity.csv", parity_md=reports_dir / "parity.md")
  atomic_write_text(paths["parity_csv"], buf.getvalue())
  atomic_write_text(paths["parity_md"], parity_markdown(table))
  return paths


def write_parity(runs_dir, reports_dir, zoo_path=None, sb3_here_dir=None, step: Optional[int] = None,
                 grid=None) -> Dict[str, Path]:
  """parity.csv and parity.md on their own (`write_parity_reports`), from the progress.csv files
  of the matched figures' runs under `runs_dir` (of the `grid`'s runs, if given:
  `artifact.analysis.results.load_progress`); returns their paths. Reference curves: the
  repository's reports/published/sb3_zoo_curves.csv and reports/parity/sb3_here/ unless given."""
  figures = sorted({m.figure for m in published.MATCHES})
  return write_parity_reports(load_results(runs_dir, figures, grid, zoo_path, sb3_here_dir),
                              reports_dir, step)
