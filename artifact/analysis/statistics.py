"""Reviewer-grade statistics with rliable (Agarwal et al., NeurIPS 2021): interval estimates, not
point estimates, over a handful of seeds.

Every interval is a 95% percentile interval of rliable's stratified bootstrap
(`rliable.library.get_interval_estimates`, `BOOTSTRAP_REPS` replications, random state 0 and
numpy's global RNG seeded to 0 around each estimate (`_seeded_global_rng`), so the statistics are
a pure function of the scores). Two rliable metrics are computed here instead of by rliable, with
the same numbers bit for bit: `aggregate_iqm` and `probability_of_improvement` (their docstrings
say why).

Inputs are the long progress frames of `artifact.analysis.results.load_progress`. The final score of
a run is the mean evaluation return over its last `FINAL_EVALS` evaluations (docs/decision_rules.md
says why). Outputs (`write_statistics`): reports/statistics.csv in the long format `COLUMNS` (one
row per figure / metric / condition or pair / game or "aggregate" / frames point / threshold) and
reports/statistics.pdf, with the same pages stacked in reports/statistics.png.
"""
from __future__ import annotations

import concurrent.futures as cf
import contextlib
import io
import math
import multiprocessing as mp
import os
from collections.abc import Sequence
from pathlib import Path

import matplotlib
import matplotlib.image
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.backends.backend_pdf import PdfPages
from rliable import library as rly
from rliable import metrics

from artifact.analysis.atari_scores import has_reference, human_normalized
from artifact.experiment.registry import FIGURES
from artifact.files import atomic_path, atomic_write_text

matplotlib.use("Agg")      # files only, no display

FINAL_EVALS = 3            # evaluations averaged into a run's final score
BOOTSTRAP_REPS = 2000      # stratified bootstrap replications per interval
CI_SIZE = 0.95
AGGREGATE = "aggregate"    # the `game` of a row aggregated over games
PROFILE_TAUS = np.linspace(0.0, 2.0, 41)   # HNS thresholds of the performance profiles

COLUMNS = ["figure", "metric", "condition", "game", "point", "ci_low", "ci_high", "seeds",
           "games", "frames", "threshold"]


def _rng():
  return np.random.RandomState(0)


def aggregate_iqm(scores: np.ndarray) -> float:
  """Interquartile mean (25% trimmed mean) over all runs and tasks of `scores` [runs x tasks]:
  rliable's `metrics.aggregate_iqm`, the same numbers bit for bit (a test compares them).

  rliable's is `scipy.stats.trim_mean(scores, 0.25, axis=None)`; this is that function's own
  arithmetic (ravel, `np.partition` at the two cuts, mean of the middle) plus its NaN rule (any
  NaN gives NaN). Why not rliable's: scipy's NaN-policy wrapper inspects the function signature
  on every call, ~0.35 ms, and the bootstrap calls it 2,000 times per interval: IQM intervals
  were ~60% of the statistics time of the smoke grid's Figure 2 (measured on 2 CPU
  cores).
  """
  a = np.asarray(scores).ravel()
  if a.size == 0 or np.isnan(a).any():
    return np.float64(np.nan)
  lowercut = int(0.25 * a.size)
  uppercut = a.size - lowercut
  return np.mean(np.partition(a, (lowercut, uppercut - 1))[lowercut:uppercut])


AGGREGATES = {   # name -> rliable aggregate over a [runs x games] matrix
    "iqm_hns": aggregate_iqm,     # rliable's, computed without scipy's per-call overhead
    "median_hns": metrics.aggregate_median,
    "mean_hns": metrics.aggregate_mean,
    "optimality_gap_hns": metrics.aggregate_optimality_gap,
}


def probability_of_improvement(scores_x: np.ndarray, scores_y: np.ndarray) -> float:
  """P(X > Y) averaged over tasks: rliable's `metrics.probability_of_improvement`, the same
  numbers bit for bit (a test compares them), without scipy.

  scores_x [runs_x x tasks], scores_y [runs_y x tasks] float64. Per task the Mann-Whitney U of x
  over (runs_x * runs_y), i.e. P(X > Y) + 0.5 P(X = Y); 0.5 for identical columns and NaN for a
  column with a NaN, as rliable (scipy's `mannwhitneyu`, nan_policy "propagate") gives. U is
  counted directly: #(x > y) + 0.5 #(x = y), which equals scipy's rank-sum U exactly (sums of
  half-integers). Why not rliable's: it calls `scipy.stats.mannwhitneyu` once per task per
  bootstrap replication, ~0.75 ms each, so one interval over 6 games at 2,000 replications took
  9.1 s; on the smoke grid's runs these intervals took the statistics from 43 s to 112 s and the
  claims from 2.7 s to 24.5 s (measured on 2 CPU cores). The bootstrap around it is still
  rliable's.
  """
  scores_x, scores_y = np.asarray(scores_x), np.asarray(scores_y)
  num_runs_x, num_runs_y = scores_x.shape[0], scores_y.shape[0]
  probs = []
  for task in range(scores_x.shape[1]):
    x, y = scores_x[:, task], scores_y[:, task]
    if np.array_equal(x, y):
      probs.append(0.5)
    elif np.isnan(x).any() or np.isnan(y).any():
      probs.append(math.nan)
    else:
      u = np.count_nonzero(x[:, None] > y[None, :]) + 0.5 * np.count_nonzero(
          x[:, None] == y[None, :])
      probs.append(u / (num_runs_x * num_runs_y))
  return np.mean(probs)


@contextlib.contextmanager
def _seeded_global_rng(seed: int = 0):
  """Seeds numpy's global RNG for one estimate and restores the caller's state afterwards.

  rliable's `StratifiedBootstrap.update_indices` draws its resampling indices from the global
  `np.random` (rliable 1.2.0, library.py line 117), not from the `random_state` it is given, so
  without this the intervals changed from one report run to the next (measured: the same
  scores gave IQM CIs of [-0.095, 0.421] and [-0.117, 0.418])."""
  state = np.random.get_state()
  np.random.seed(seed)
  try:
    yield
  finally:
    np.random.set_state(state)


def interval(arrays: Sequence[np.ndarray], func,
             ci_size: float = CI_SIZE) -> tuple[float, float, float]:
  """(point, ci_low, ci_high) of `func(*arrays)` (a scalar) under rliable's stratified bootstrap,
  a `ci_size` percentile interval (default 95%; the multi-game rules of amendment A3 ask for
  1 - 0.05 / games per game).

  `arrays`: one or more [runs x games] matrices; several are resampled independently, each with
  its own run indices (rliable wraps a list of matrices in `StratifiedIndependentBootstrap`), so a
  CI of two conditions is not paired by seed (docs/decision_rules.md, amendment A2). Fewer than 2
  runs: the CI is the point (NaN-free but uninformative; callers report seeds so a reader can tell).
  """
  arrays = [np.asarray(a, np.float64) for a in arrays]

  def f(*xs):
    return np.array([func(*xs)])
  if arrays[0].shape[0] < 2:
    p = float(func(*arrays))
    return p, p, p
  with _seeded_global_rng():
    point, ci = rly.get_interval_estimates({"x": arrays if len(arrays) > 1 else arrays[0]}, f,
                                           reps=BOOTSTRAP_REPS, confidence_interval_size=ci_size,
                                           random_state=_rng())
  return float(point["x"][0]), float(ci["x"][0][0]), float(ci["x"][1][0])


def final_scores(df: pd.DataFrame, last: int = FINAL_EVALS) -> pd.DataFrame:
  """One row per run: game, condition, seed, final_score (raw), final_hns, first_score (its
  first evaluation), best_score (its best evaluation), evals, frames (its last frame point)."""
  ev = df[df["eval_return"].notna()].sort_values("frames")
  rows = []
  for (game, cond, seed), g in ev.groupby(["game", "condition", "seed"]):
    scores = g["eval_return"].to_numpy(np.float64)
    final = float(scores[-last:].mean())
    rows.append(dict(game=game, condition=cond, seed=int(seed), final_score=final,
                     final_hns=human_normalized(game, final), first_score=float(scores[0]),
                     best_score=float(scores.max()), evals=len(scores),
                     frames=int(df[(df.game == game) & (df.condition == cond)
                                   & (df.seed == seed)]["frames"].max())))
  return pd.DataFrame(rows, columns=["game", "condition", "seed", "final_score", "final_hns",
                                     "first_score", "best_score", "evals", "frames"])


def score_matrix(finals: pd.DataFrame, conditions: Sequence[str], games: Sequence[str],
                 column: str = "final_hns") -> tuple[dict[str, np.ndarray], list[int]]:
  """{condition: [seeds x games]} over the seeds that every listed (condition, game) has, so the
  rows pair up across conditions. Returns (matrices, seeds); empty matrices if no common seed."""
  seeds = None
  for c in conditions:
    for g in games:
      s = set(finals[(finals.condition == c) & (finals.game == g)]["seed"])
      seeds = s if seeds is None else seeds & s
  seeds = sorted(seeds or [])
  out = {}
  for c in conditions:
    sub = finals[finals.condition == c].set_index(["game", "seed"])[column]
    out[c] = np.array([[sub[(g, s)] for g in games] for s in seeds],
                      np.float64).reshape(len(seeds), len(games))
  return out, seeds


def _row(figure, metric, condition, game, pit, seeds, games, frames, threshold=math.nan):
  point, lo, hi = pit
  return dict(figure=figure, metric=metric, condition=condition, game=game, point=point,
              ci_low=lo, ci_high=hi, seeds=seeds, games=games, frames=frames, threshold=threshold)


def figure_statistics(df: pd.DataFrame, figure: int, conditions: Sequence[str],
                      pairs: Sequence[tuple[str, str]]) -> pd.DataFrame:
  """All statistics of one figure as rows of `COLUMNS` (see the module docstring), from its long
  progress frame `df`: per game and condition the mean and IQM of raw final scores; per
  condition the HNS aggregates over games (AGGREGATES); per declared pair (x, y) of `pairs` the
  probability of improvement P(x > y) over games and per game; the performance profiles
  (`rliable.library.create_performance_profile`) and the IQM HNS curve against emulator frames.
  Each with its 95% stratified-bootstrap CI (`interval`); empty without a finished evaluation."""
  finals = final_scores(df)
  rows = []
  if finals.empty:
    return pd.DataFrame(rows, columns=COLUMNS)
  present = [c for c in conditions if c in set(finals.condition)]
  # per game and condition: mean and IQM of raw final scores over seeds
  for (game, cond), g in finals.groupby(["game", "condition"]):
    x = g["final_score"].to_numpy()[:, None]
    fr = int(g["frames"].max())
    rows.append(_row(figure, "final_score_mean", cond, game, interval([x], metrics.aggregate_mean),
                     len(x), 1, fr))
    rows.append(_row(figure, "final_score_iqm", cond, game, interval([x], aggregate_iqm), len(x), 1,
                     fr))
  # across games: human-normalized aggregates
  norm_games = sorted(g for g in set(finals.game) if has_reference(g))
  for cond in present:
    games = [g for g in norm_games if g in set(finals[finals.condition == cond].game)]
    if not games:
      continue
    mats, seeds = score_matrix(finals, [cond], games)
    if not seeds:
      continue
    fr = int(finals[finals.condition == cond]["frames"].max())
    for name, fn in AGGREGATES.items():
      rows.append(_row(figure, name, cond, AGGREGATE, interval([mats[cond]], fn), len(seeds),
                       len(games), fr))
  # probability of improvement of each declared pair, over the games both conditions ran
  for x, y in pairs:
    games = sorted(set(finals[finals.condition == x].game)
                   & set(finals[finals.condition == y].game))
    if not games:
      continue
    mats, seeds = score_matrix(finals, [x, y], games, column="final_score")
    if len(seeds) < 1:
      continue
    fr = int(finals[finals.condition.isin([x, y])]["frames"].max())
    rows.append(_row(figure, "probability_of_improvement", f"{x}>{y}", AGGREGATE,
                     interval([mats[x], mats[y]], probability_of_improvement),
                     len(seeds), len(games), fr))
    for game in games:      # each game on its own seeds (the aggregate above needs the common ones)
      gm, gseeds = score_matrix(finals, [x, y], [game], column="final_score")
      if gseeds:
        rows.append(_row(figure, "probability_of_improvement", f"{x}>{y}", game,
                         interval([gm[x], gm[y]], probability_of_improvement), len(gseeds), 1, fr))
  # performance profiles (fraction of runs with HNS > tau) and sample-efficiency curves
  rows += _profiles(figure, finals, present, norm_games)
  rows += _sample_efficiency(figure, df, present, norm_games)
  return pd.DataFrame(rows, columns=COLUMNS)


def _profiles(figure, finals, conditions, norm_games) -> list[dict]:
  rows = []
  for cond in conditions:
    games = [g for g in norm_games if g in set(finals[finals.condition == cond].game)]
    mats, seeds = score_matrix(finals, [cond], games)
    if not games or len(seeds) < 2:
      continue
    with _seeded_global_rng():             # rliable takes no random state here
      prof, cis = rly.create_performance_profile(mats, PROFILE_TAUS, reps=BOOTSTRAP_REPS)
    fr = int(finals[finals.condition == cond]["frames"].max())
    for i, tau in enumerate(PROFILE_TAUS):
      rows.append(_row(figure, "performance_profile", cond, AGGREGATE,
                       (float(prof[cond][i]), float(cis[cond][0][i]), float(cis[cond][1][i])),
                       len(seeds), len(games), fr, float(tau)))
  return rows


def eval_curves_hns(df: pd.DataFrame, condition: str, games: Sequence[str]):
  """[seeds x games x points] HNS evaluation returns at the frame points every run has.
  Returns (array, frame points, seeds)."""
  ev = df[(df.condition == condition) & df.eval_return.notna() & df.game.isin(games)]
  if ev.empty:
    return np.zeros((0, 0, 0)), [], []
  runs = ev.groupby(["game", "seed"])
  points = sorted(set.intersection(*[set(g.frames) for _, g in runs]))
  seeds = sorted(set.intersection(*[set(ev[ev.game == g].seed) for g in games])) if games else []
  arr = np.full((len(seeds), len(games), len(points)), np.nan)
  for (game, seed), g in runs:
    if seed in seeds and game in games:
      s = g.set_index("frames")["eval_return"]
      arr[seeds.index(seed), list(games).index(game)] = [human_normalized(game, s[p])
                                                         for p in points]
  return arr, points, seeds


def _sample_efficiency(figure, df, conditions, norm_games) -> list[dict]:
  rows = []
  for cond in conditions:
    games = [g for g in norm_games if g in set(df[df.condition == cond].game)]
    arr, points, seeds = eval_curves_hns(df, cond, games)
    if not points or not seeds:
      continue
    for k, fr in enumerate(points):
      rows.append(_row(figure, "iqm_hns_curve", cond, AGGREGATE,
                       interval([arr[:, :, k]], aggregate_iqm), len(seeds), len(games), int(fr)))
  return rows


def _plot_aggregates(ax, s: pd.DataFrame):
  """Panel 1: each condition's aggregates over games (AGGREGATES) with their 95% CIs."""
  agg = s[s.metric.isin(AGGREGATES) & (s.game == AGGREGATE)]
  conds = list(dict.fromkeys(agg.condition))
  for i, name in enumerate(AGGREGATES):
    a = agg[agg.metric == name].set_index("condition").reindex(conds)
    pt, lo, hi = (a[c].to_numpy(np.float64) for c in ("point", "ci_low", "ci_high"))
    ax.errorbar(pt, np.arange(len(conds)) + 0.18 * (i - 1.5), xerr=np.vstack([pt - lo, hi - pt]),
                fmt="o", label=name.replace("_hns", ""), capsize=2)
  ax.set_yticks(range(len(conds)), conds, fontsize=7)
  ax.set_xlabel("human-normalized score")
  ax.legend(fontsize=7)
  ax.set_title("aggregates over games, 95% CIs", fontsize=9)


def _plot_improvement(ax, s: pd.DataFrame):
  """Panel 2: the probability of improvement of each declared pair over games, with its CI."""
  poi = s[(s.metric == "probability_of_improvement") & (s.game == AGGREGATE)]
  pt, lo, hi = (poi[c].to_numpy(np.float64) for c in ("point", "ci_low", "ci_high"))
  ax.errorbar(pt, np.arange(len(poi)), xerr=np.vstack([pt - lo, hi - pt]), fmt="o", capsize=3)
  ax.axvline(0.5, color="0.5", ls="--")
  ax.set_yticks(range(len(poi)), [c.replace(">", " > ") for c in poi.condition], fontsize=7)
  ax.set_xlim(0, 1)
  ax.set_xlabel("P(X > Y)")
  ax.set_title("probability of improvement", fontsize=9)


def _plot_bands(ax, s: pd.DataFrame, metric: str, x: str, **line):
  """One line per condition of `metric`'s rows against column `x`, with its CI band."""
  for cond, p in s[s.metric == metric].groupby("condition"):
    drawn, = ax.plot(p[x], p.point, label=cond, **line)
    ax.fill_between(p[x], p.ci_low, p.ci_high, color=drawn.get_color(), alpha=0.2)


def _statistics_pages(stats: pd.DataFrame, title: str = ""):
  """The pages of statistics.pdf, one matplotlib figure each (the caller closes them): per
  figure the four panels of `plot_statistics`; one page saying so when `stats` is empty."""
  if stats.empty:
    fig = plt.figure(figsize=(8, 2))
    fig.text(0.5, 0.5, "no finished evaluations: nothing to report yet", ha="center")
    yield fig
    return
  for figure, s in stats.groupby("figure"):
    fig, axes = plt.subplots(1, 4, figsize=(18, 4.2))
    _plot_aggregates(axes[0], s)
    _plot_improvement(axes[1], s)
    _plot_bands(axes[2], s, "performance_profile", "threshold")
    axes[2].set_xlabel("human-normalized score tau")
    axes[2].set_ylabel("fraction of runs > tau")
    axes[2].set_title("performance profiles", fontsize=9)
    _plot_bands(axes[3], s, "iqm_hns_curve", "frames", marker="o", ms=3)
    axes[3].set_xlabel("frames")
    axes[3].set_ylabel("IQM human-normalized score")
    axes[3].set_title("sample efficiency (IQM over runs, 95% CI)", fontsize=9)
    for ax in axes[2:]:
      if ax.has_data():
        ax.legend(fontsize=7)
      ax.grid(alpha=0.3)
    fig.suptitle(f"Figure {figure}: statistics (rliable, stratified bootstrap){title}",
                 fontsize=10)
    fig.tight_layout(rect=(0, 0, 1, 0.94))
    yield fig


def _page_pixels(fig) -> np.ndarray:
  """A page as an RGBA pixel array, rendered as `savefig` renders it to PNG."""
  buf = io.BytesIO()
  fig.savefig(buf, format="png")
  buf.seek(0)
  return matplotlib.image.imread(buf, format="png")


def plot_statistics(stats: pd.DataFrame, path, title: str = "", png_path=None):
  """statistics.pdf at `path` from the rows of `statistics_table` (COLUMNS): per figure a page of
  the aggregate IQM/median/mean/optimality gap with CIs, the probability of improvement per
  pair, the performance profiles (rliable's `create_performance_profile`) and the
  sample-efficiency curves (IQM HNS against emulator frames); one page saying so when `stats`
  is empty. `title` is appended to each page's title. With `png_path`, the same pages are also
  written there as one PNG, stacked top to bottom in the PDF's order (pages narrower than the
  widest are padded with white on the right)."""
  pages = []
  with PdfPages(path) as pdf:
    for fig in _statistics_pages(stats, title):
      try:
        pdf.savefig(fig)
        if png_path is not None:
          pages.append(_page_pixels(fig))
      finally:
        plt.close(fig)
  if png_path is not None:
    width = max(p.shape[1] for p in pages)
    pages = [np.pad(p, ((0, 0), (0, width - p.shape[1]), (0, 0)), constant_values=1.0)
             for p in pages]
    matplotlib.image.imsave(png_path, np.concatenate(pages, axis=0), format="png")


def _figure_statistics_job(job):
  return figure_statistics(*job)


def _map_figures(jobs) -> list[pd.DataFrame]:
  """`figure_statistics` of each job, the figures in parallel processes when there are several
  figures and cores: rliable's bootstrap is a Python loop per interval (on 2 CPU cores,
  the smoke grid's figures take 6.0, 16.0 and 4.4 s one after the other). Each interval
  draws from its own `RandomState(0)`, so the rows are the same in any process, in any order."""
  workers = min(len(jobs), os.cpu_count() or 1)
  if workers < 2:
    return [_figure_statistics_job(j) for j in jobs]
  with cf.ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn")) as pool:
    return list(pool.map(_figure_statistics_job, jobs))


def statistics_table(progress_by_figure: dict[int, pd.DataFrame]) -> pd.DataFrame:
  """Every figure's statistics (`figure_statistics`, each figure's conditions and declared
  `pairs` from the registry) as one table in COLUMNS, figure by figure in the given order, from
  {figure: long progress frame} (`artifact.analysis.results.Results.progress`)."""
  jobs = [(df, f, [c.name for c in FIGURES[f].conditions], FIGURES[f].pairs)
          for f, df in progress_by_figure.items()]
  # an empty part would make every column object
  parts = [p for p in _map_figures(jobs) if not p.empty]
  return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=COLUMNS)


def write_statistics(progress_by_figure: dict[int, pd.DataFrame], reports_dir,
                     title: str = "") -> dict[str, Path]:
  """Writes reports/statistics.csv (`statistics_table`), statistics.pdf (`plot_statistics`,
  `title` appended to each page's title) and statistics.png (the PDF's pages stacked in one
  image, as the figures have a PNG beside their PDF) for the given {figure: long progress
  frame}, each atomically; returns their paths."""
  stats = statistics_table(progress_by_figure)
  reports_dir = Path(reports_dir)
  paths = dict(statistics_csv=reports_dir / "statistics.csv",
               statistics_pdf=reports_dir / "statistics.pdf",
               statistics_png=reports_dir / "statistics.png")
  atomic_write_text(paths["statistics_csv"], stats.to_csv(index=False))
  with atomic_path(paths["statistics_pdf"]) as pdf, atomic_path(paths["statistics_png"]) as png:
    plot_statistics(stats, pdf, title, png_path=png)
  return paths
