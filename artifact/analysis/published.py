"""Published learning curves to hold ours against, and which of our conditions each one matches.

Sources (details, settings and how each differs from our protocol: reports/published/README.md):
  sb3-zoo   reports/published/sb3_zoo_curves.csv: the training curves of stable-baselines3's
            rl-zoo Atari agents (DLR-RM/rl-trained-agents, commit cd35bde6, one seed per
            algorithm and game, 0.25M to 10M frames), extracted by
            scripts/extract_sb3_zoo_curves.py.
  sb3-here  optional: the same SB3 settings rerun on this project's emulator (ale-py 0.12.1),
            reports/parity/sb3_here/sb3_here_{Game}_seed{S}.csv, one file per game and seed.

Every curve has the columns of CURVE_COLUMNS: `frames` = emulator frames (4 x agent steps, all
envs together), `train_return_last100` = mean raw (unclipped) score of the last <=100 finished
training games at that point (the definition of our progress.csv `train_return`),
`games_so_far` = finished training games up to that point, `seed` (empty for the zoo's runs).

A published curve goes with one of our conditions (MATCHES): SB3 A2C with Figure 1's `a2c_1step`
(the same algorithm up to the learning-rate schedule), SB3 DQN with Figure 2's `dqn`; the part of
each that overlaps our runs is drawn on the figures' training panels (`overlay_curves`) and
tabulated in parity.csv (`artifact.analysis.parity`). No plotting here.
"""
from __future__ import annotations

import dataclasses
import re
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

REPO_ROOT = Path(__file__).resolve().parents[2]
ZOO_CSV = REPO_ROOT / "reports" / "published" / "sb3_zoo_curves.csv"
SB3_HERE_DIR = REPO_ROOT / "reports" / "parity" / "sb3_here"
ZOO_SOURCE = "sb3-zoo rl-trained-agents"
SB3_HERE_SOURCE = "sb3-here (ale-py 0.12.1)"
CURVE_COLUMNS = ["source", "algo", "game", "frames", "train_return_last100", "games_so_far", "seed"]
OVERLAY_COLUMNS = ["game", "source", "label", "frames", "train_return_last100"]   # `overlay_curves`
_SB3_HERE_NAME = re.compile(r"sb3_here_(?P<game>[A-Za-z0-9]+)_seed(?P<seed>\d+)\.csv$")


@dataclasses.dataclass(frozen=True)
class Match:
  """A published algorithm (`algo`, as in the curves' `algo` column) and the condition of ours
  it is held against. `short` names the settings that differ, for legends; the full list is in
  reports/published/README.md. `step`: emulator frames between parity.csv's points (A2C: 1M over
  its 3M runs; DQN: 250k, the zoo curve's own spacing, so its 2M runs show where a gap opens)."""
  figure: int
  condition: str
  algo: str
  name: str
  short: str
  step: int


MATCHES: tuple[Match, ...] = (
    Match(1, "a2c_1step", "a2c", "A2C", "constant lr", 1_000_000),
    Match(2, "dqn", "dqn", "DQN", "replay 10k, learning starts 100k steps", 250_000),
)


def _empty() -> pd.DataFrame:
  return pd.DataFrame({c: pd.Series(dtype="object" if c in ("source", "algo", "game")
                                    else "float64")
                       for c in CURVE_COLUMNS})


def load_zoo_curves(path=None) -> pd.DataFrame:
  """The SB3-zoo curves (reports/published/sb3_zoo_curves.csv unless `path`), CURVE_COLUMNS,
  `source` = ZOO_SOURCE, `seed` empty (one run per algorithm and game; its seed is not recorded).
  Raises FileNotFoundError when the file is missing."""
  df = pd.read_csv(ZOO_CSV if path is None else path)
  df["source"] = ZOO_SOURCE
  df["seed"] = np.nan
  return df.reindex(columns=CURVE_COLUMNS)


def load_sb3_here(directory=None) -> pd.DataFrame:
  """The optional "SB3 on today's emulator" curves: every sb3_here_{Game}_seed{S}.csv under
  `directory` (default reports/parity/sb3_here/), CURVE_COLUMNS, `source` set to
  SB3_HERE_SOURCE; `frames` is the file's `trained_frames` where it has one (frames trained,
  as in our progress.csv). `game` and `seed` come from the file's columns, else from its name; a
  file without an `algo` column is skipped with a warning (it cannot be matched). Empty if none."""
  directory = Path(SB3_HERE_DIR if directory is None else directory)
  parts = []
  for f in sorted(directory.glob("sb3_here_*_seed*.csv")) if directory.is_dir() else []:
    m = _SB3_HERE_NAME.search(f.name)
    if not m:
      continue
    df = pd.read_csv(f)
    if "algo" not in df.columns:
      warnings.warn(f"{f}: no `algo` column; skipped", stacklevel=1)
      continue
    if "game" not in df.columns:
      df["game"] = m["game"]
    if "seed" not in df.columns:
      df["seed"] = int(m["seed"])
    df["source"] = SB3_HERE_SOURCE
    if "trained_frames" in df.columns:
      # x = frames trained when the row's game finished, as our progress rows count frames (the
      # zoo's files only give the lower bound `frames`, the finished games' frames)
      df["frames"] = df["trained_frames"]
    parts.append(df.reindex(columns=CURVE_COLUMNS))
  if not parts:
    return _empty()
  return pd.concat(parts, ignore_index=True)


def load_published_curves(zoo_path=None, sb3_here_dir=None) -> pd.DataFrame:
  """All reference curves, zoo then sb3-here, in CURVE_COLUMNS (`load_zoo_curves`,
  `load_sb3_here`). Raises FileNotFoundError when the zoo's CSV is missing."""
  parts = [load_zoo_curves(zoo_path)]
  here = load_sb3_here(sb3_here_dir)
  if len(here):
    parts.append(here)
  return pd.concat(parts, ignore_index=True)


def interpolate(frames, values, at) -> np.ndarray:
  """Linear interpolation in frames of one curve at the frame points `at`; NaN outside
  [first, last] point of the curve (never extrapolated). NaN values and repeated frames (the
  last one kept) are dropped first."""
  s = pd.Series(np.asarray(values, dtype=float), index=np.asarray(frames, dtype=float)).dropna()
  s = s[~s.index.duplicated(keep="last")].sort_index()
  at = np.atleast_1d(np.asarray(at, dtype=float))
  if s.empty:
    return np.full(at.shape, np.nan)
  out = np.interp(at, s.index.to_numpy(), s.to_numpy())
  out[(at < s.index[0]) | (at > s.index[-1])] = np.nan
  return out


def seed_stats(curves: pd.DataFrame, at, value="train_return_last100", frames="frames",
               seed="seed") -> pd.DataFrame:
  """Each seed's curve interpolated at the frame points `at` (never extrapolated), then per
  point: `seeds` (how many seeds have a value there), `mean`, `std` (ddof 0), `min`, `max`."""
  at = np.atleast_1d(np.asarray(at, dtype=float))
  cols = [interpolate(g[frames], g[value], at) for _, g in curves.groupby(seed, dropna=False)]
  vals = np.vstack(cols) if cols else np.full((1, len(at)), np.nan)     # no curve: all NaN
  n = np.sum(~np.isnan(vals), axis=0)
  with warnings.catch_warnings():
    warnings.simplefilter("ignore", RuntimeWarning)          # a point without any value -> NaN
    return pd.DataFrame(dict(frames=at, seeds=n, mean=np.nanmean(vals, axis=0),
                             std=np.nanstd(vals, axis=0), min=np.nanmin(vals, axis=0),
                             max=np.nanmax(vals, axis=0)))


def sb3_here_grid(curves: pd.DataFrame) -> np.ndarray:
  """Frame points for the sb3-here mean curve: the union of its seeds' points inside the range
  every seed covers (so the mean is over all seeds at every point)."""
  if curves.empty:
    return np.array([])
  lo = curves.groupby("seed")["frames"].min().max()
  hi = curves.groupby("seed")["frames"].max().min()
  pts = np.unique(curves["frames"].to_numpy(dtype=float))
  return pts[(pts >= lo) & (pts <= hi)]


def overlay_curves(figure: int, game: str, ours: pd.DataFrame,
                   load_curves: Callable[[], pd.DataFrame] = load_published_curves) -> pd.DataFrame:
  """The published curve(s) matching a condition of `figure` in `game`, as drawn on the figure's
  training-return panel (OVERLAY_COLUMNS; `artifact.analysis.curves.plot_figure`): the SB3-zoo
  curve (1 seed, its own points) and, if present, the sb3-here mean over its seeds (at
  `sb3_here_grid`'s points), each only where it overlaps our frames (up to the largest emulator
  frame our runs of the matching condition reached in this game; a curve is cut there, with a
  point interpolated at that frame, never extrapolated). `ours`: the figure's long progress rows
  of this game; `load_curves()` gives the published curves (CURVE_COLUMNS), called only when a
  match has runs here. `label` names each curve for the legend; `frames` in emulator frames,
  `train_return_last100` in raw game score. Empty for an unmatched figure or condition."""
  rows = []
  for m in (m for m in MATCHES if m.figure == figure):
    mine = ours[ours["condition"] == m.condition]
    if mine.empty:
      continue
    xmax = float(mine["frames"].max())
    curves = load_curves()
    c = curves[(curves["algo"] == m.algo) & (curves["game"] == game)]
    zoo = c[c["source"] == ZOO_SOURCE].sort_values("frames")
    if not zoo.empty:
      x = _clip_points(zoo["frames"].to_numpy(dtype=float), xmax)
      if len(x):
        rows.append(_overlay(game, ZOO_SOURCE, f"SB3 zoo {m.name} (published, 1 seed; {m.short})",
                             x,
                             interpolate(zoo["frames"], zoo["train_return_last100"], x)))
    here = c[c["source"] == SB3_HERE_SOURCE]
    if not here.empty:
      x = _clip_points(sb3_here_grid(here), xmax)
      if len(x):
        st = seed_stats(here, x)
        rows.append(_overlay(game, SB3_HERE_SOURCE,
                             f"SB3 {m.name} on ale-py 0.12.1 (mean of {here['seed'].nunique()} "
                             "seeds)",
                             st["frames"].to_numpy(), st["mean"].to_numpy()))
  if not rows:
    return pd.DataFrame(columns=OVERLAY_COLUMNS)
  return pd.concat(rows, ignore_index=True)


def _overlay(game: str, source: str, label: str, frames: np.ndarray,
             values: np.ndarray) -> pd.DataFrame:
  """One overlay curve's rows (OVERLAY_COLUMNS)."""
  return pd.DataFrame(dict(game=game, source=source, label=label, frames=np.asarray(frames, float),
                           train_return_last100=np.asarray(values, float)), columns=OVERLAY_COLUMNS)


def _clip_points(x: np.ndarray, xmax: float) -> np.ndarray:
  """The points of a curve up to xmax, plus xmax itself when the curve runs past it."""
  x = np.unique(x)
  inside = x[x <= xmax]
  if len(x) and x[-1] > xmax and len(inside):
    inside = np.append(inside, xmax)
  return inside
