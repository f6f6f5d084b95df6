"""Figure reports from a figure's long progress frame (`artifact.analysis.results`): tables
computed first (`summarize`, `figure_curves`), then drawn (`plot_figure`), then written
(`write_figure_reports`).

Per figure F, under the reports dir:
  figure{F}.csv          long format (`results.LONG_COLUMNS`): one row per (figure, game,
                         condition, seed, frames) point; train_return / eval_return are raw game
                         scores (unclipped), frames emulator frames (4 x agent steps, all envs)
  figure{F}_summary.csv  per (game, condition): seeds, final eval and train mean/std over seeds;
                         Figure 3 adds curve_gap, seed_spread and gap_over_spread per game
  figure{F}.pdf, .png    the paper's layout: one panel per game, mean over seeds with a +-1 SD
                         band over seeds, x in frames; evaluation returns in the top rows (what
                         the paper plots), training returns (last-100-game mean) in their own rows
                         below, with the published SB3 curve matching Figure 1's a2c_1step /
                         Figure 2's dqn where it overlaps our frames (`artifact.analysis.published`);
                         on every panel the game's random-play threshold (amendment A1,
                         `artifact.analysis.claims.random_play_threshold`) as a dashed line; each
                         panel's title gives its seeds and says when the game counts for no claim
                         (no condition's majority of seeds left random play)
"""
from __future__ import annotations

import dataclasses
import math
import re
import textwrap
from collections.abc import Callable
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402

from artifact.analysis import published  # noqa: E402
from artifact.analysis.claims import random_play_threshold, split_by_learning  # noqa: E402
from artifact.analysis.results import LONG_COLUMNS, Results  # noqa: E402
from artifact.analysis.statistics import final_scores  # noqa: E402
from artifact.experiment.registry import FIGURES  # noqa: E402
from artifact.files import atomic_path, atomic_write_text  # noqa: E402

SUMMARY_COLUMNS = ["figure", "game", "condition", "extension", "seeds", "frames", "final_eval_mean",
                   "final_eval_std", "final_train_mean", "final_train_std"]
METRICS = ("eval_return", "train_return")      # the PDF's two blocks of panels, top to bottom
BAND_COLUMNS = ["game", "condition", "metric", "frames", "mean", "std", "seeds", "capped"]


def _last_valid(s: pd.Series) -> float:
  s = s.dropna()
  return float(s.iloc[-1]) if len(s) else math.nan


def summarize(df: pd.DataFrame, figure: int) -> pd.DataFrame:
  """figure{F}_summary.csv's table (SUMMARY_COLUMNS, then Figure 3's `curve_agreement` columns):
  per (game, condition) of the long progress frame `df`, each seed's last evaluation and
  training return (raw game score), then their mean and std (ddof 0) over seeds; `frames` the
  largest emulator frame reached; `extension` a game not in the paper's figure."""
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


def panel_games(df: pd.DataFrame, figure: int) -> list[str]:
  """The games of a figure's panels, in order: the paper's games that `df` has (all of them when
  it has none), then any other game of `df` (extension games), sorted."""
  spec = FIGURES[figure]
  games = [g for g in spec.games if g in set(df["game"])] or list(spec.games)
  return games + sorted(set(df["game"]) - set(games))


def curve_bands(df: pd.DataFrame, figure: int) -> pd.DataFrame:
  """The curves a figure's PDF draws (BAND_COLUMNS), per game, condition of the figure (in the
  registry's order) and metric of METRICS: at each frame point (emulator frames) where a seed
  has a value, `mean` and `std` (ddof 0; 0 for one seed) of the metric (raw game score) over
  those seeds; `seeds`: the curve's seeds; `capped`: an evaluation point where a game was
  stopped by the frame cap (its scores are of truncated games)."""
  parts = []
  for game, g in df.groupby("game"):
    for cond in [c.name for c in FIGURES[figure].conditions]:
      for metric in METRICS:
        gc = g[(g["condition"] == cond) & g[metric].notna()]
        if gc.empty:
          continue
        piv = gc.pivot_table(index="frames", columns="seed", values=metric)
        capped = (gc[gc["eval_truncated"].fillna(0) > 0]["frames"].unique()
                  if metric == "eval_return" else [])
        parts.append(pd.DataFrame(dict(
            game=game, condition=cond, metric=metric, frames=piv.index, mean=piv.mean(axis=1).to_numpy(),
            std=piv.std(axis=1, ddof=0).fillna(0.0).to_numpy(), seeds=piv.shape[1],
            capped=piv.index.isin(capped)), columns=BAND_COLUMNS))
  return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=BAND_COLUMNS)


@dataclasses.dataclass(frozen=True)
class FigureCurves:
  """Everything a figure's PDF draws, computed (`figure_curves`): figure; games (the panels'
  games, `panel_games`); bands (`curve_bands`); published (the published curves' overlays of
  the training panels, `artifact.analysis.published.overlay_curves`, OVERLAY_COLUMNS, every
  game); truncated (some evaluation game of the figure was stopped by the frame cap);
  thresholds ({game: its random-play threshold, raw score; NaN without reference scores});
  no_claim ({game: why it counts for no claim}: the games with evaluations of which no
  condition's majority of seeds left random play, `no_claim_games`)."""
  figure: int
  games: tuple[str, ...]
  bands: pd.DataFrame
  published: pd.DataFrame
  truncated: bool
  thresholds: dict[str, float] = dataclasses.field(default_factory=dict)
  no_claim: dict[str, str] = dataclasses.field(default_factory=dict)


def no_claim_games(df: pd.DataFrame, figure: int, games) -> dict[str, str]:
  """{game: reason} of the `games` of a figure's long progress frame `df` that count for no
  claim under amendment A1 (`artifact.analysis.claims.split_by_learning` over all the figure's
  conditions: for none of them did more than half of its seeds leave random play, or the game
  has no reference scores). A game without any evaluation yet is not judged (absent)."""
  finals = final_scores(df)
  judged = [g for g in games if g in set(finals["game"])]
  if not judged:
    return {}
  _, excluded = split_by_learning(df, finals, judged, [c.name for c in FIGURES[figure].conditions])
  return excluded


def figure_curves(df: pd.DataFrame, figure: int,
                  load_published: Callable[[], pd.DataFrame] = published.load_published_curves) -> FigureCurves:
  """The `FigureCurves` of a figure's long progress frame `df` (LONG_COLUMNS). `load_published()`
  gives the published curves, called only for a game where a condition with a published match
  has runs (`Results.published_curves` in a report pass)."""
  games = panel_games(df, figure)
  overlays = [published.overlay_curves(figure, game, df[df["game"] == game], load_published)
              for game in games]
  overlays = [o for o in overlays if len(o)]
  return FigureCurves(figure, tuple(games), curve_bands(df, figure),
                      pd.concat(overlays, ignore_index=True) if overlays
                      else pd.DataFrame(columns=published.OVERLAY_COLUMNS),
                      bool(df["eval_truncated"].fillna(0).gt(0).any()),
                      {g: random_play_threshold(g) for g in games},
                      no_claim_games(df, figure, games) if len(df) else {})


# How each published source is drawn (`published.overlay_curves`' `source`)
_PUBLISHED_STYLE = {published.ZOO_SOURCE: dict(ls="--", color="0.5"),
                    published.SB3_HERE_SOURCE: dict(ls="-.", color="0.3")}


BAND_LABEL = "shaded: +-1 SD over seeds"
THRESHOLD_LABEL = "dashed red: random-play threshold (A1)"
THRESHOLD_STYLE = dict(ls=(0, (5, 3)), lw=0.9, color="#b2182b")
NO_CLAIM_NOTE = "at random play: counts for no claim"


def _draw_bands(ax, bands: pd.DataFrame, colors: dict[str, str], labels: dict[str, str]):
  """One panel's curves: per condition the mean line (points marked when at most 12) with its
  +-1 SD band over seeds, and hollow markers at the points whose evaluation games hit the
  frame cap."""
  for cond, b in bands.groupby("condition", sort=False):
    b = b.sort_values("frames")
    ax.plot(b["frames"], b["mean"], color=colors[cond], lw=1.4, marker="o" if len(b) <= 12 else None,
            ms=3.5, label=f"{labels[cond]} ({int(b['seeds'].iloc[0])} seeds)")
    ax.fill_between(b["frames"], b["mean"] - b["std"], b["mean"] + b["std"], color=colors[cond], alpha=0.2)
    capped = b[b["capped"].astype(bool)]
    if len(capped):
      ax.plot(capped["frames"], capped["mean"], ls="none", marker="o", ms=6, mfc="white", mec=colors[cond])


def _draw_threshold(ax, threshold: float):
  """The game's random-play threshold (raw score) as a dashed line across the panel, labelled
  'A1 <value>' at its right end, above the line in the panel's lower half and below it in the
  upper half (inside the axes either way); nothing for NaN (no reference scores)."""
  if math.isnan(threshold):
    return
  ax.axhline(threshold, **THRESHOLD_STYLE)
  low, high = ax.get_ylim()
  above = threshold < (low + high) / 2
  ax.annotate(f"A1 {threshold:.4g}", xy=(1, threshold), xycoords=("axes fraction", "data"),
              xytext=(-2, 2 if above else -2), textcoords="offset points", ha="right",
              va="bottom" if above else "top", fontsize=7, color=THRESHOLD_STYLE["color"])


def _draw_published(ax, overlays: pd.DataFrame):
  """One training panel's published curves (`published.overlay_curves` rows of its game)."""
  for (source, label), o in overlays.groupby(["source", "label"], sort=False):
    ax.plot(o["frames"], o["train_return_last100"], lw=1.3, label=label, **_PUBLISHED_STYLE[source])


def seeds_text(bands: pd.DataFrame) -> str:
  """A panel's seeds from its bands (BAND_COLUMNS rows of one game and metric): '5 seeds' when
  every condition has that many, else per condition ('a2c_1step 5, soft_ql 3 seeds'); '' for
  no curve."""
  per = {c: int(b["seeds"].max()) for c, b in bands.groupby("condition", sort=False)}
  if not per:
    return ""
  counts = set(per.values())
  if len(counts) == 1:
    n = counts.pop()
    return f"{n} seed{'' if n == 1 else 's'}"
  return ", ".join(f"{c} {n}" for c, n in per.items()) + " seeds"


def _label_panel(ax, game: str, metric: str, extension: bool, seeds: str = "", no_claim: bool = False):
  """A panel's title (game, [extension], its seeds, what is plotted; a second line when the game
  counts for no claim), axis labels and grid."""
  what = "evaluation games" if metric == "eval_return" else "training, last 100 games"
  title = f"{game}{' [extension]' if extension else ''}{f' ({seeds})' if seeds else ''}: {what}"
  ax.set_title(title + (f"\n({NO_CLAIM_NOTE})" if no_claim else ""), fontsize=9)
  ax.set_xlabel("frames")
  ax.set_ylabel("raw game score")
  ax.ticklabel_format(axis="x", style="sci", scilimits=(0, 3))
  ax.grid(alpha=0.3)


_SEEDS = re.compile(r"^(?P<name>.*) \((?P<n>\d+) seeds\)$")


def _legend(fig, axes, truncated: bool, ncols: int, threshold: bool = False) -> int:
  """The figure's one legend at the bottom: each curve once (labels equal up to their last
  parenthesis are one curve; the first panel's label is kept), our conditions with the range of
  their seed counts over the panels ("3-5 seeds" where games have different numbers), then what
  the shaded bands are (+-1 SD over seeds), the dashed threshold line (when `threshold`: some
  panel draws one) and the hollow marker (when an evaluation was cut by the frame cap). Returns
  its entries."""
  first, seeds = {}, {}                  # curve -> (handle, label); curve -> our seed counts
  for ax in axes.flat:
    for hh, ll in zip(*ax.get_legend_handles_labels()):
      m = _SEEDS.match(ll)
      curve = m["name"] if m else ll.rsplit(" (", 1)[0]
      first.setdefault(curve, (hh, ll))
      if m:
        seeds.setdefault(curve, set()).add(int(m["n"]))
  handles = [hh for hh, _ in first.values()]
  lbls = [ll if curve not in seeds else
          f"{curve} ({min(seeds[curve])}{'' if len(seeds[curve]) == 1 else f'-{max(seeds[curve])}'} seeds)"
          for curve, (_, ll) in first.items()]
  if seeds:
    handles.append(Patch(facecolor="0.5", alpha=0.3, edgecolor="none"))
    lbls.append(BAND_LABEL)
  if threshold:
    handles.append(plt.Line2D([], [], **THRESHOLD_STYLE))
    lbls.append(THRESHOLD_LABEL)
  if truncated:
    handles.append(plt.Line2D([], [], ls="none", marker="o", mfc="white", mec="0.3"))
    lbls.append("evaluation games stopped by the frame cap")
  if handles:
    fig.legend(handles, lbls, loc="lower center", ncol=1 if ncols == 1 else min(3, len(handles)),
               fontsize=8)
  return len(handles)


def plot_figure(curves: FigureCurves, path, scale_note: str = ""):
  """Draws a figure's `FigureCurves` to `path` (format from its suffix, written atomically):
  panels per game, evaluation returns (top rows, what the paper plots) and training returns
  (bottom rows, with the published curves), each the mean over seeds with a +-1 SD band over
  seeds, x in frames, the game's random-play threshold (A1) dashed, the title with the panel's
  seeds and, for a game in `curves.no_claim`, NO_CLAIM_NOTE. Evaluation points whose games hit
  the frame cap are drawn hollow (their scores are of truncated games)."""
  spec, games = FIGURES[curves.figure], list(curves.games)
  ncols = min(3, len(games))
  grid_rows = max(1, math.ceil(len(games) / ncols))
  width = max(7.5, 4.2 * ncols)
  fig, axes = plt.subplots(2 * grid_rows, ncols, figsize=(width, 3.0 * 2 * grid_rows + 0.6),
                           squeeze=False)
  labels = {c.name: c.label or c.name for c in spec.conditions}
  colors = {c.name: f"C{i}" for i, c in enumerate(spec.conditions)}
  for block, metric in enumerate(METRICS):
    for ax, game in zip(axes[block * grid_rows:(block + 1) * grid_rows].flat, games):
      b = curves.bands
      panel = b[(b["game"] == game) & (b["metric"] == metric)]
      _draw_bands(ax, panel, colors, labels)
      if metric == "train_return":
        _draw_published(ax, curves.published[curves.published["game"] == game])
      _draw_threshold(ax, curves.thresholds.get(game, math.nan))
      _label_panel(ax, game, metric, game not in spec.games, seeds_text(panel),
                   game in curves.no_claim)
  for ax in axes[grid_rows:].flat:
    if not ax.has_data() and ax.get_title():
      ax.text(0.5, 0.5, "no finished training game yet", ha="center", va="center",
              transform=ax.transAxes, fontsize=8, color="0.4")
  for ax in list(axes[:grid_rows].flat)[len(games):] + list(axes[grid_rows:].flat)[len(games):]:
    ax.axis("off")
  entries = _legend(fig, axes, curves.truncated, ncols,
                    any(not math.isnan(curves.thresholds.get(g, math.nan)) for g in games))
  fig.suptitle(textwrap.fill(f"Figure {curves.figure} ({spec.section}): {spec.title}{scale_note}",
                             int(width * 13)), fontsize=10)
  legend_h = ((0.035 * entries if ncols == 1 else 0.022 * math.ceil(entries / min(3, entries)))
              if entries else 0)
  fig.tight_layout(rect=(0, legend_h, 1, 0.95))
  try:
    with atomic_path(path) as tmp:
      fig.savefig(tmp, format=Path(path).suffix.lstrip(".") or None)
  finally:
    plt.close(fig)


def write_figure_reports(figure: int, results: Results, reports_dir, scale_note: str = "") -> dict[str, Path]:
  """Writes figure{F}.csv, figure{F}_summary.csv, figure{F}.pdf and figure{F}.png (the same
  figure) of `results.progress[figure]` (`artifact.analysis.results.load_results`) into
  `reports_dir`, each atomically; returns their paths (keys csv, summary, pdf, png). Raises KeyError for a figure `results` has not loaded, and what the published curves'
  loading raises when this figure draws them."""
  reports_dir = Path(reports_dir)
  reports_dir.mkdir(parents=True, exist_ok=True)
  df = results.progress[figure]
  paths = dict(csv=reports_dir / f"figure{figure}.csv",
               summary=reports_dir / f"figure{figure}_summary.csv",
               pdf=reports_dir / f"figure{figure}.pdf", png=reports_dir / f"figure{figure}.png")
  atomic_write_text(paths["csv"], df.to_csv(index=False, columns=LONG_COLUMNS))
  atomic_write_text(paths["summary"], summarize(df, figure).to_csv(index=False))
  drawn = figure_curves(df, figure, results.published_curves)
  plot_figure(drawn, paths["pdf"], scale_note)
  plot_figure(drawn, paths["png"], scale_note)
  return paths
