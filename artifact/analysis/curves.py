"""CSV and PDF reports from the per-run progress.csv files (pandas + matplotlib).

Per figure F, under the reports dir:
  figure{F}.csv          long format: one row per (figure, game, condition, seed, frames) point;
                         train_return / eval_return are raw game scores (unclipped)
  figure{F}_summary.csv  per (game, condition): seeds, final eval and train mean/std over seeds;
                         Figure 3 adds curve_gap, seed_spread and gap_over_spread per game
  figure{F}.pdf          the paper's layout: one panel per game, mean over seeds with a +-1 std
                         band, x in frames; evaluation returns in the top rows (what the paper
                         plots), training returns (last-100-game mean) in their own rows below,
                         with the published SB3 curve matching Figure 1's a2c_1step / Figure 2's
                         dqn where it overlaps our frames (artifact/analysis/published.py)
A curve that is the same run as another figure's (Figure 3's `pg` = Figure 1's `a2c_proper`) is
read from that run's directory and relabelled.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from artifact.files import atomic_path, atomic_write_text  # noqa: E402
from artifact.training.progress import COLUMNS as PROGRESS_COLUMNS  # noqa: E402
from artifact.analysis.published import draw_published  # noqa: E402
from artifact.experiment.registry import FIGURES
from artifact.experiment.runspec import config_matches# noqa: E402

# The long format: the progress.csv schema without the per-update loss diagnostics.
LONG_COLUMNS = [c for c in PROGRESS_COLUMNS if c not in ("loss", "entropy")]
SUMMARY_COLUMNS = ["figure", "game", "condition", "extension", "seeds", "frames", "final_eval_mean",
                   "final_eval_std", "final_train_mean", "final_train_std"]


def progress_files(runs_dir, figure: int):
  """[(condition name, progress.csv path)] of every run of a figure found under `runs_dir`."""
  out = []
  for cond in FIGURES[figure].conditions:
    src_fig, src_cond = cond.same_run_as or (figure, cond.name)
    for f in sorted(Path(runs_dir).glob(f"figure{src_fig}/*/{src_cond}/seed*/progress.csv")):
      out.append((cond.name, f))
  return out


def grid_runs(specs) -> dict:
  """{run relpath: RunSpec} of a grid, the `grid` argument of `load_progress`."""
  return {s.relpath(): s for s in specs}


def not_in_grid(runs_dir, figures, grid: dict) -> list:
  """Relpaths of the runs under `runs_dir` (of the given figures) that `load_progress(...,
  grid)` leaves out: not in the grid, or trained with another config (a `--set` value, say)."""
  out = set()
  for figure in figures:
    for _, f in progress_files(runs_dir, figure):
      rel = f.parent.relative_to(runs_dir).as_posix()
      if not _in_grid(f.parent, rel, grid):
        out.add(rel)
  return sorted(out)


def _in_grid(run_dir: Path, rel: str, grid: dict) -> bool:
  if rel not in grid:
    return False
  cfg = run_dir / "config.json"
  if not cfg.exists():                   # nothing to check against: the grid's own path
    return True
  try:
    return config_matches(json.loads(cfg.read_text()), grid[rel])
  except (ValueError, KeyError, TypeError):
    return False


def rows_up_to(df: pd.DataFrame, frames: int) -> pd.DataFrame:
  """A run's progress rows up to `frames`: through its first row at or past them (where the
  update that crosses them ends); all rows if none reaches them."""
  reached = df["frames"] >= frames
  return df[df["frames"] <= df.loc[reached, "frames"].min()] if reached.any() else df


def load_progress(runs_dir, figure: int, grid=None) -> pd.DataFrame:
  """Concatenates the figure's progress.csv files (empty frame with the columns if none), with
  `figure` and `condition` set to this figure's names. With `grid` ({relpath: RunSpec},
  `grid_runs`), only the runs of that grid whose config.json is that spec's run are read, so
  runs of other grids or other `--set` values under the same directory are never averaged in, and
  each run with a config.json is read up to its spec's budget (`RunSpec.frames`; its first row at
  or past it, where the run's last update ends): a run extended past the grid's --frames (say, to
  3M in a grid reported at 1M) is reported at the grid's frames like the others."""
  frames = []
  for cond, f in progress_files(runs_dir, figure):
    rel = f.parent.relative_to(runs_dir).as_posix()
    if grid is not None and not _in_grid(f.parent, rel, grid):
      continue
    df = pd.read_csv(f)
    # a run whose config.json matches the grid's spec is a prefix of the same run: cut it at the
    # grid's frames (without a config.json nothing says what its frames mean: all rows are read)
    if grid is not None and (f.parent / "config.json").exists():
      df = rows_up_to(df, grid[rel].frames)
    if len(df):
      frames.append(df.assign(figure=figure, condition=cond))
  if not frames:
    return pd.DataFrame(columns=LONG_COLUMNS)
  df = pd.concat(frames, ignore_index=True)
  # one row per (run, frame point): the last written wins (a resumed run never writes a point
  # twice, but a file written by two processes at once, before run locks existed, could)
  df = df.drop_duplicates(subset=["game", "condition", "seed", "frames"], keep="last")
  return df.reindex(columns=LONG_COLUMNS).sort_values(["game", "condition", "seed", "frames"]).reset_index(drop=True)


def cpu_kind(run_dir) -> str:
  """The CPU kind that trained a run, e.g. "AMD EPYC (avx512)": its model name and widest vector
  instruction set, from the run's machine.json (written beside a run by the campaign's store:
  {"cpu": model, "isa": "avx512" | "avx2" | "other"}) or else its config.json's "machine" record
  (written by runs themselves); "not recorded" when neither has it. Runs repeat bit for bit on
  one CPU kind, not across kinds (docs/decision_rules.md, A2)."""
  run_dir = Path(run_dir)
  for name, pick in (("machine.json", lambda d: d), ("config.json", lambda d: d.get("machine"))):
    try:
      rec = pick(json.loads((run_dir / name).read_text()))
    except (OSError, ValueError, AttributeError):
      continue
    if isinstance(rec, dict) and rec.get("cpu"):
      isa = rec.get("isa")
      if isinstance(isa, dict):        # {"avx2": true, "avx512f": true, ...}
        isa = "avx512" if isa.get("avx512f") else "avx2" if isa.get("avx2") else "other"
      return f"{rec['cpu']} ({isa})" if isa else str(rec["cpu"])
  return "not recorded"


def run_machines(runs_dir, figure: int, grid=None) -> pd.DataFrame:
  """One row per run of the figure under `runs_dir` (the runs `load_progress` reads, with the
  same `grid` filter and condition names): game, condition, seed, cpu (`cpu_kind`)."""
  rows = []
  for cond, f in progress_files(runs_dir, figure):
    rel = f.parent.relative_to(runs_dir).as_posix()
    if grid is not None and not _in_grid(f.parent, rel, grid):
      continue
    game, seed = f.parent.parent.parent.name, int(f.parent.name.removeprefix("seed"))
    rows.append(dict(game=game, condition=cond, seed=seed, cpu=cpu_kind(f.parent)))
  return pd.DataFrame(rows, columns=["game", "condition", "seed", "cpu"])


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
  out.insert(3, "extension", ~out["game"].isin(FIGURES[figure].games))   # not a game of the paper
  if FIGURES[figure].agreement:
    out = out.merge(curve_agreement(df, *FIGURES[figure].agreement), on="game", how="left")
  return out


def _curve_metric(df_game: pd.DataFrame) -> str:
  """The curve the paper plots (evaluation returns) when there is one, else training returns."""
  return "eval_return" if df_game["eval_return"].notna().any() else "train_return"


def curve_agreement(df: pd.DataFrame, a: str, b: str) -> pd.DataFrame:
  """A figure's "almost identical learning curves" of conditions a and b (Figure 3: pg and
  soft_ql, from its spec's `agreement`), per game, on the evaluation curves.

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
  """Panels per game: evaluation returns (top rows, what the paper plots) and training returns
  (bottom rows), each the mean over seeds with a +-1 std band, x in frames. Evaluation points
  whose games hit the frame cap are drawn hollow (their scores are of truncated games)."""
  spec = FIGURES[figure]
  games = [g for g in spec.games if g in set(df["game"])] or list(spec.games)
  games += sorted(set(df["game"]) - set(games))          # extension games (not in the paper)
  ncols = min(3, len(games))
  grid_rows = max(1, math.ceil(len(games) / ncols))
  width = max(7.5, 4.2 * ncols)
  fig, axes = plt.subplots(2 * grid_rows, ncols, figsize=(width, 3.0 * 2 * grid_rows + 0.6),
                           squeeze=False)
  labels = {c.name: c.label or c.name for c in spec.conditions}
  colors = {c.name: f"C{i}" for i, c in enumerate(spec.conditions)}
  for block, metric in enumerate(("eval_return", "train_return")):
    panels = axes[block * grid_rows:(block + 1) * grid_rows].flat
    for ax, game in zip(panels, games):
      g = df[df["game"] == game]
      for cond in [c.name for c in spec.conditions]:
        gc = g[(g["condition"] == cond) & g[metric].notna()]
        if gc.empty:
          continue
        piv = gc.pivot_table(index="frames", columns="seed", values=metric)
        mean, std = piv.mean(axis=1), piv.std(axis=1, ddof=0).fillna(0.0)
        ax.plot(piv.index, mean, color=colors[cond], lw=1.4, marker="o" if len(mean) <= 12 else None,
                ms=3.5, label=f"{labels[cond]} ({piv.shape[1]} seeds)")
        ax.fill_between(piv.index, mean - std, mean + std, color=colors[cond], alpha=0.2)
        if metric == "eval_return":
          capped = gc[gc["eval_truncated"].fillna(0) > 0]["frames"].unique()
          if len(capped):
            ax.plot(capped, mean.loc[capped], ls="none", marker="o", ms=6, mfc="white",
                    mec=colors[cond])
      draw_published(ax, figure, game, g, metric)   # SB3 curves on the training panels
      extension = "" if game in spec.games else " [extension]"
      what = "evaluation games" if metric == "eval_return" else "training, last 100 games"
      ax.set_title(f"{game}{extension}: {what}", fontsize=9)
      ax.set_xlabel("frames")
      ax.set_ylabel("raw game score")
      ax.ticklabel_format(axis="x", style="sci", scilimits=(0, 3))
      ax.grid(alpha=0.3)
  for ax in axes[grid_rows:].flat:
    if not ax.has_data() and ax.get_title():
      ax.text(0.5, 0.5, "no finished training game yet", ha="center", va="center",
              transform=ax.transAxes, fontsize=8, color="0.4")
  for ax in list(axes[:grid_rows].flat)[len(games):] + list(axes[grid_rows:].flat)[len(games):]:
    ax.axis("off")
  handles, lbls = [], []
  for ax in axes.flat:
    for hh, ll in zip(*ax.get_legend_handles_labels()):
      if ll.rsplit(" (", 1)[0] not in [x.rsplit(" (", 1)[0] for x in lbls]:
        handles.append(hh)
        lbls.append(ll)
  if df["eval_truncated"].fillna(0).gt(0).any():
    handles.append(plt.Line2D([], [], ls="none", marker="o", mfc="white", mec="0.3"))
    lbls.append("evaluation games stopped by the frame cap")
  if handles:
    fig.legend(handles, lbls, loc="lower center", ncol=1 if ncols == 1 else min(3, len(handles)),
               fontsize=8)
  import textwrap
  fig.suptitle(textwrap.fill(f"Figure {figure} ({spec.section}): {spec.title}{scale_note}",
                             int(width * 13)), fontsize=10)
  legend_h = (0.035 * len(handles) if ncols == 1 else 0.06) if handles else 0
  fig.tight_layout(rect=(0, legend_h, 1, 0.95))
  try:
    with atomic_path(path) as tmp:
      fig.savefig(tmp, format=Path(path).suffix.lstrip(".") or None)
  finally:
    plt.close(fig)


def write_figure_reports(figure: int, runs_dir, reports_dir, scale_note: str = "", grid=None) -> dict:
  """Writes figure{F}.csv, figure{F}_summary.csv and figure{F}.pdf (of the `grid`'s runs, if
  given, see `load_progress`); returns their paths."""
  reports_dir = Path(reports_dir)
  reports_dir.mkdir(parents=True, exist_ok=True)
  df = load_progress(runs_dir, figure, grid)
  paths = dict(csv=reports_dir / f"figure{figure}.csv",
               summary=reports_dir / f"figure{figure}_summary.csv",
               pdf=reports_dir / f"figure{figure}.pdf")
  atomic_write_text(paths["csv"], df.to_csv(index=False))
  atomic_write_text(paths["summary"], summarize(df, figure).to_csv(index=False))
  plot_figure(df, figure, paths["pdf"], scale_note)
  return paths
