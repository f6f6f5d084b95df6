"""CSV and PDF reports from the per-run progress.csv files (pandas + matplotlib).

Per figure F, under the reports dir:
  figure{F}.csv          long format: one row per (figure, game, condition, seed, frames) point;
                         train_return / eval_return are raw game scores (unclipped)
  figure{F}_summary.csv  per (game, condition): seeds, final eval and train mean/std over seeds;
                         Figure 3 adds curve_gap, seed_spread and gap_over_spread per game
  figure{F}.pdf          the paper's layout: one panel per game, mean over seeds with a +-1 std
                         band, x in frames
"""
from __future__ import annotations

import math
from pathlib import Path

import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from artifact.specs import FIGURES  # noqa: E402

LONG_COLUMNS = ["figure", "game", "condition", "seed", "frames", "agent_steps", "train_return",
                "train_games", "eval_return", "eval_std", "eval_games", "eval_truncated", "fps",
                "wall_s"]
SUMMARY_COLUMNS = ["figure", "game", "condition", "seeds", "frames", "final_eval_mean",
                   "final_eval_std", "final_train_mean", "final_train_std"]


def load_progress(runs_dir, figure: int) -> pd.DataFrame:
  """Concatenates runs/figure{F}/*/*/seed*/progress.csv (empty frame with the columns if none)."""
  files = sorted(Path(runs_dir).glob(f"figure{figure}/*/*/seed*/progress.csv"))
  frames = [pd.read_csv(f) for f in files]
  frames = [f for f in frames if len(f)]
  if not frames:
    return pd.DataFrame(columns=LONG_COLUMNS)
  df = pd.concat(frames, ignore_index=True)
  return df[LONG_COLUMNS].sort_values(["game", "condition", "seed", "frames"]).reset_index(drop=True)


def _last_valid(s: pd.Series) -> float:
  s = s.dropna()
  return float(s.iloc[-1]) if len(s) else math.nan


def summarize(df: pd.DataFrame, figure: int) -> pd.DataFrame:
  """Per (game, condition): final eval/train return per seed, then mean and std over seeds."""
  if df.empty:
    return pd.DataFrame(columns=SUMMARY_COLUMNS)
  per_seed = (df.groupby(["game", "condition", "seed"])
              .agg(frames=("frames", "max"), final_eval=("eval_return", _last_valid),
                   final_train=("train_return", _last_valid)).reset_index())
  out = (per_seed.groupby(["game", "condition"])
         .agg(seeds=("seed", "nunique"), frames=("frames", "max"),
              final_eval_mean=("final_eval", "mean"), final_eval_std=("final_eval", lambda s: s.std(ddof=0)),
              final_train_mean=("final_train", "mean"), final_train_std=("final_train", lambda s: s.std(ddof=0)))
         .reset_index())
  out.insert(0, "figure", figure)
  if figure == 3:
    out = out.merge(curve_agreement(df), on="game", how="left")
  return out


def _curve_metric(df_game: pd.DataFrame) -> str:
  return "train_return" if df_game["train_return"].notna().any() else "eval_return"


def curve_agreement(df: pd.DataFrame, a: str = "pg", b: str = "soft_ql") -> pd.DataFrame:
  """Figure 3's "almost identical learning curves", per game.

  curve_gap: mean over shared frame points of |mean_seeds(a) - mean_seeds(b)|.
  seed_spread: mean over frame points and both conditions of the std between seeds.
  gap_over_spread: their ratio (about 1 or below: the conditions differ no more than seeds do).
  """
  rows = []
  for game, g in df.groupby("game"):
    metric = _curve_metric(g)
    piv = g.pivot_table(index="frames", columns=["condition", "seed"], values=metric)
    if a not in piv.columns.get_level_values(0) or b not in piv.columns.get_level_values(0):
      continue
    ma, mb = piv[a].mean(axis=1), piv[b].mean(axis=1)
    gap = float((ma - mb).abs().mean())
    spread = float(pd.concat([piv[a].std(axis=1, ddof=0), piv[b].std(axis=1, ddof=0)]).mean())
    rows.append(dict(game=game, curve_metric=metric, curve_gap=gap, seed_spread=spread,
                     gap_over_spread=gap / spread if spread > 0 else math.nan))
  return pd.DataFrame(rows, columns=["game", "curve_metric", "curve_gap", "seed_spread", "gap_over_spread"])


def plot_figure(df: pd.DataFrame, figure: int, path, scale_note: str = ""):
  """One panel per game: mean over seeds with a +-1 std band, x in frames."""
  spec = FIGURES[figure]
  games = [g for g in spec.games if g in set(df["game"])] or list(spec.games)
  ncols = 3
  nrows = max(1, math.ceil(len(games) / ncols))
  fig, axes = plt.subplots(nrows, ncols, figsize=(4.2 * ncols, 3.2 * nrows), squeeze=False)
  labels = {c.name: c.label or c.name for c in spec.conditions}
  for ax, game in zip(axes.flat, games):
    g = df[df["game"] == game]
    metric = _curve_metric(g) if len(g) else "train_return"
    for cond in [c.name for c in spec.conditions]:
      gc = g[g["condition"] == cond]
      if gc.empty or gc[metric].notna().sum() == 0:
        continue
      piv = gc.pivot_table(index="frames", columns="seed", values=metric)
      mean, std = piv.mean(axis=1), piv.std(axis=1, ddof=0).fillna(0.0)
      sparse = mean.notna().sum() <= 3             # e.g. smoke scale: a single evaluation point
      line, = ax.plot(piv.index, mean, label=f"{labels[cond]} ({piv.shape[1]} seeds)", lw=1.4,
                      marker="o" if sparse else None, ms=4)
      if sparse:
        ax.errorbar(piv.index, mean, yerr=std, fmt="none", ecolor=line.get_color(), capsize=3)
      else:
        ax.fill_between(piv.index, mean - std, mean + std, color=line.get_color(), alpha=0.2)
    ax.set_title(f"{game}" + ("" if metric == "train_return" else " (eval games)"), fontsize=10)
    ax.set_xlabel("frames")
    ax.set_ylabel("raw game score")
    ax.ticklabel_format(axis="x", style="sci", scilimits=(0, 3))
    ax.grid(alpha=0.3)
  for ax in list(axes.flat)[len(games):]:
    ax.axis("off")
  handles, lbls = [], []
  for ax in axes.flat:
    h, l = ax.get_legend_handles_labels()
    for hh, ll in zip(h, l):
      key = ll.rsplit(" (", 1)[0]
      if key not in [x.rsplit(" (", 1)[0] for x in lbls]:
        handles.append(hh)
        lbls.append(ll)
  if handles:
    fig.legend(handles, lbls, loc="lower center", ncol=min(3, len(handles)), fontsize=8)
  fig.suptitle(f"Figure {figure} ({spec.section}): {spec.title}{scale_note}", fontsize=10)
  fig.tight_layout(rect=(0, 0.08 if handles else 0, 1, 0.95))
  fig.savefig(path)
  plt.close(fig)


def write_figure_reports(figure: int, runs_dir, reports_dir, scale_note: str = "") -> dict:
  """Writes figure{F}.csv, figure{F}_summary.csv and figure{F}.pdf; returns their paths."""
  reports_dir = Path(reports_dir)
  reports_dir.mkdir(parents=True, exist_ok=True)
  df = load_progress(runs_dir, figure)
  paths = dict(csv=reports_dir / f"figure{figure}.csv",
               summary=reports_dir / f"figure{figure}_summary.csv",
               pdf=reports_dir / f"figure{figure}.pdf")
  df.to_csv(paths["csv"], index=False)
  summarize(df, figure).to_csv(paths["summary"], index=False)
  plot_figure(df, figure, paths["pdf"], scale_note)
  return paths
