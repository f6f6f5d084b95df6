"""Our training curves beside the published ones, at shared frame points: parity.csv, parity.md.

For every game where our runs of a condition with a published match exist
(artifact.analysis.published MATCHES: Figure 1's `a2c_1step` with SB3-zoo A2C, Figure 2's `dqn`
with SB3-zoo DQN), at every `Match.step` emulator frames (A2C 1M, DQN 250k) up to the largest
frame ALL our seeds of that condition reached in that game, each curve is interpolated linearly
in frames (never extrapolated: a point past a curve's last point, or before its first, is left
empty):

  ours      progress.csv `train_return` (mean raw score of the last <=100 finished training games),
            per seed, then mean / std (ddof 0) / min / max over the seeds that have a value there
  zoo       reports/published/sb3_zoo_curves.csv `train_return_last100` (one seed)
  sb3-here  optional: reports/parity/sb3_here/ (SB3 with the zoo's settings on ale-py 0.12.1),
            mean / std / min / max over its seeds
  gaps      100 * (a - b) / |b| in % (empty where b is missing or 0): ours vs zoo, ours vs
            sb3-here, sb3-here vs zoo

Units: frames are emulator frames (4 x agent steps, summed over a run's parallel envs); returns
are raw (unclipped) game scores.

Also here: the DQN parity experiment's report (`write_parity_dqn`: reports/parity/dqn/
parity_dqn.md and .csv): Figure 2's `dqn` (replay 10k) against SB3's DQN rerun with the same
settings on the same emulator and the published zoo curve, each factor option's runs against
both, and the outcome of its decision rule (`dqn_decision`, docs/protocol.md "DQN parity: the
decision rule").
"""
from __future__ import annotations

import io
import json
import math
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from artifact.analysis import published
from artifact.analysis.results import Results, load_results
from artifact.experiment.hparams import DQN_FACTORS
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


def parity_table(progress_by_figure: dict[int, pd.DataFrame], theirs: pd.DataFrame,
                 step: int | None = None) -> pd.DataFrame:
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
               at: np.ndarray) -> list[dict]:
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
  our code and our protocol's settings, listed below). The % of a score near 0 (Breakout and \
Enduro early on,
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
      out.append(f"\n### {game}\n\n| frames | ours | SB3 zoo | SB3 here | ours vs zoo | ours vs "
                 "SB3 here | SB3 here vs zoo |\n|---|---|---|---|---|---|---|\n")
      for r in g.itertuples(index=False):
        out.append(f"| {r.frames / 1e6:g}M | "
                   f"{_spread(r.ours_mean, r.ours_min, r.ours_max, r.ours_seeds)} "
                   f"| {_num(r.zoo_return)} "
                   f"| {_spread(r.sb3_here_mean, r.sb3_here_min, r.sb3_here_max, r.sb3_here_seeds)}"
                   " "
                   f"| {_pct(r.gap_ours_vs_zoo_pct)} | {_pct(r.gap_ours_vs_sb3_here_pct)} "
                   f"| {_pct(r.gap_sb3_here_vs_zoo_pct)} |\n")
  return "".join(out)


def write_parity_reports(results: Results, reports_dir, step: int | None = None) -> dict[str, Path]:
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


def write_parity(runs_dir, reports_dir, zoo_path=None, sb3_here_dir=None, step: int | None = None,
                 grid=None) -> dict[str, Path]:
  """parity.csv and parity.md on their own (`write_parity_reports`), from the progress.csv files
  of the matched figures' runs under `runs_dir` (of the `grid`'s runs, if given:
  `artifact.analysis.results.load_progress`); returns their paths. Reference curves: the
  repository's reports/published/sb3_zoo_curves.csv and reports/parity/sb3_here/ unless given."""
  figures = sorted({m.figure for m in published.MATCHES})
  return write_parity_reports(load_results(runs_dir, figures, grid, zoo_path, sb3_here_dir),
                              reports_dir, step)


# --- Figure 2's `dqn` against SB3's DQN on the same emulator, and the factors ---------------------
# reports/parity/dqn/ (scripts/dqn_parity.sh; the rule: docs/protocol.md, "DQN parity: the
# decision rule"). Inputs under DQN_DIR:
#   sb3_here/sb3_here_dqn_{Game}_seed{S}.csv   SB3's DQN curves (CURVE_COLUMNS + trained_frames)
#   sb3_here/sb3_here_meta_seed{S}.json        its meta: "evaluation" {"mean", ...},
#                                              "trained_frames"
#   ours/runs/figure2/{Game}/dqn/seed{S}/      our `dqn` runs (config.json, progress.csv)
#   {factor}/runs/figure2/{Game}/dqn/seed{S}/  our `dqn` with one factor option (--set), any
#                                              dir name
# Every run is labelled by its config.json, not by its directory: "ours" when all factor options
# are at their defaults, "{option}={value}" for one option, joined with ", " for several.
DQN_DIR = published.REPO_ROOT / "reports" / "parity" / "dqn"
DQN_GAME = "Breakout"
DQN_DECISION_FRAMES = 1_500_000    # emulator frames at which the rule is applied
DQN_STEP = 250_000                 # table (a)'s points: the zoo curve's own spacing
DQN_REPLAY = 10_000                # the experiment's replay capacity, transitions (SB3 here's too)
DQN_SEEDS = {"ours": 3, "sb3_here": 3, "factor": 2}   # seeds the rule needs at DQN_DECISION_FRAMES
DQN_SHARE_TO_ADOPT = 0.5           # the share of the gap a departing factor must close
EVAL_POINT_TOLERANCE = 0.01        # an evaluation at [F, F * 1.01) frames counts as F's
# Whether our default of each factor option departs from openai/baselines' `deepq` (the paper's
# code base), and how: only a departing factor can become the default (the rule).
DQN_FACTOR_DEPARTS = {
    "torso_init": (True, "ours: orthogonal (gain sqrt 2, baselines' A2C init); deepq: Glorot "
                         "uniform (tf.contrib.layers' default), the tested value"),
    "life_loss_fire": (True,
                       "ours: FIRE replaces the agent's first action of a new life, the sampled "
                             "action recorded; baselines: NOOP, FIRE, action 2 hidden in the "
                             "reset, the tested value"),
    "life_loss_stack": (True, "ours: the stack keeps the frames before the loss; baselines: its "
                              "FrameStack reset repeats the new life's first frame 4 times; "
                              "tested: SB3's zeros"),
    "grad_clip_mode": (False, "ours per-variable = deepq's minimize_and_clip; tested: SB3's "
                              "global norm"),
}
PARITY_DQN_COLUMNS = ["curve", "frames", "seeds", "train_mean", "train_std", "train_min",
                      "train_max",
                      "eval_seeds", "eval_mean", "eval_min", "eval_max",
                      "gap_vs_sb3_here_pct", "gap_vs_zoo_pct", "share_of_gap_closed",
                      "departs_from_baselines"]
_SB3_DQN_NAME = "sb3_here_dqn_{game}_seed*.csv"


def load_sb3_here_dqn(directory, game: str = DQN_GAME):
  """SB3 here's DQN runs under `directory` (sb3_here_dqn_{game}_seed{S}.csv and
  sb3_here_meta_seed{S}.json): (curves, evaluations). curves: CURVE_COLUMNS, `frames` = the
  row's `trained_frames` (emulator frames trained when its game finished, as our progress rows
  count frames), `train_return_last100` the mean raw score of the last <=100 whole games;
  empty if none. evaluations: {seed: (mean raw score of the final evaluation's games,
  trained emulator frames)} from the meta files that have an evaluation. A curve without
  `trained_frames` is skipped with a warning (its frames would count finished games only)."""
  directory = Path(directory)
  parts, evals = [], {}
  for f in sorted(directory.glob(_SB3_DQN_NAME.format(game=game))) if directory.is_dir() else []:
    df = pd.read_csv(f)
    if "trained_frames" not in df.columns or df.empty:
      warnings.warn(f"{f}: no `trained_frames` column or no rows; skipped", stacklevel=1)
      continue
    seed = int(f.stem.rsplit("seed", 1)[1])
    df = df.assign(frames=df["trained_frames"], seed=seed, source=published.SB3_HERE_SOURCE,
                   game=game)
    parts.append(df.reindex(columns=published.CURVE_COLUMNS))
    meta = directory / f"sb3_here_meta_seed{seed}.json"
    if meta.exists():
      m = json.loads(meta.read_text())
      ev = m.get("evaluation")
      if isinstance(ev, dict) and ev.get("mean") is not None and m.get("algo", "dqn") == "dqn":
        evals[seed] = (float(ev["mean"]), int(m.get("trained_frames") or 0))
  curves = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(
      columns=published.CURVE_COLUMNS)
  return curves, evals


def dqn_run_label(hparams: dict) -> str | None:
  """The label of a `dqn` run of the experiment from its config.json "hparams": "ours" (every
  factor option at its default), "{option}={value}" (one option set), several joined by ", ";
  None when the run is not the experiment's (replay capacity other than DQN_REPLAY)."""
  if hparams.get("replay_capacity") != DQN_REPLAY:
    return None
  set_ = [f"{k}={hparams[k]}" for k, allowed in DQN_FACTORS.items()
          if hparams.get(k, allowed[0]) != allowed[0]]
  return ", ".join(set_) if set_ else "ours"


def load_dqn_runs(dqn_dir, game: str = DQN_GAME):
  """Our `dqn` runs of the experiment under `dqn_dir` (every */runs/figure2/{game}/dqn/seed*/
  with a progress.csv): ({label: long rows with seed, frames, train_return, eval_return},
  [excluded run directories with the reason]). Labels: `dqn_run_label` of each run's
  config.json; a run without a readable config.json, not of the experiment, or a second run of
  a label's seed (in another directory; the first in path order is kept) is excluded."""
  runs: dict[str, list[pd.DataFrame]] = {}
  excluded = []
  for prog in sorted(Path(dqn_dir).glob(f"*/runs/figure2/{game}/dqn/seed*/progress.csv")):
    d = prog.parent
    try:
      label = dqn_run_label(json.loads((d / "config.json").read_text()).get("hparams", {}))
    except (OSError, ValueError, AttributeError):
      excluded.append(f"{d.relative_to(dqn_dir)} (no readable config.json)")
      continue
    if label is None:
      excluded.append(f"{d.relative_to(dqn_dir)} (replay capacity not {DQN_REPLAY:,})")
      continue
    seed = int(d.name.removeprefix("seed"))
    if any(int(r["seed"].iloc[0]) == seed for r in runs.get(label, []) if len(r)):
      excluded.append(f"{d.relative_to(dqn_dir)} (a second run of {label} seed {seed})")
      continue
    df = pd.read_csv(prog).reindex(columns=["seed", "frames", "train_return", "eval_return"])
    df["seed"] = seed
    runs.setdefault(label, []).append(df)
  return {k: pd.concat(v, ignore_index=True) for k, v in runs.items()}, excluded


def _eval_stats(values) -> dict:
  """eval_seeds, eval_mean, eval_min, eval_max of the per-seed evaluation means `values`."""
  v = np.asarray(list(values), float)
  if not len(v):
    return dict(eval_seeds=0, eval_mean=math.nan, eval_min=math.nan, eval_max=math.nan)
  return dict(eval_seeds=len(v), eval_mean=float(v.mean()), eval_min=float(v.min()),
              eval_max=float(v.max()))


def _our_evals(rows: pd.DataFrame, frames: int) -> list[float]:
  """Each seed's evaluation at `frames` (its evaluation row at [frames, frames * 1.01))."""
  e = rows.dropna(subset=["eval_return"])
  e = e[(e["frames"] >= frames) & (e["frames"] < frames * (1 + EVAL_POINT_TOLERANCE))]
  return [float(g.sort_values("frames")["eval_return"].iloc[0]) for _, g in e.groupby("seed")]


def parity_dqn_table(ours: dict[str, pd.DataFrame], sb3: pd.DataFrame, sb3_evals: dict,
                     zoo: pd.DataFrame, up_to: int = DQN_DECISION_FRAMES,
                     step: int = DQN_STEP) -> pd.DataFrame:
  """parity_dqn.csv's rows (PARITY_DQN_COLUMNS): per curve ("ours", "sb3_here", "sb3_zoo",
  then each factor label of `ours`) and per point every `step` emulator frames up to `up_to`:
  the training return (mean raw score of the last <=100 whole games) over the seeds that have a
  value there (`published.seed_stats`: linear in frames, never extrapolated); at `up_to` also
  the evaluation (ours: progress.csv `eval_return` at that point; SB3 here: its meta's final
  evaluation, if it trained at least `up_to` frames), the gap to SB3 here and to the zoo in %
  (`gap_pct`) and, for factors, the share of the ours-vs-SB3-here gap the factor closes,
  (factor - ours) / (sb3_here - ours), with whether our default of that option departs from
  baselines' deepq (DQN_FACTOR_DEPARTS; several options: all of them depart).
  `ours`: {label: long rows} (`load_dqn_runs`); `sb3`: CURVE_COLUMNS (`load_sb3_here_dqn`);
  `zoo`: the zoo's DQN curve of the game (CURVE_COLUMNS, one seed)."""
  at = frame_points(up_to, step)
  if not len(at) or at[-1] != up_to:
    at = np.append(at, float(up_to))
  curves = [("ours", ours.get("ours"), "train_return"), ("sb3_here", sb3, "train_return_last100")]
  curves += [(k, ours[k], "train_return") for k in sorted(ours) if k != "ours"]
  stats = {}
  for name, df, col in curves:
    if df is None or df.empty:
      stats[name] = pd.DataFrame(dict(frames=at, seeds=0, mean=math.nan, std=math.nan,
                                      min=math.nan, max=math.nan))
    else:
      stats[name] = published.seed_stats(df, at, value=col)
  zoo_v = published.interpolate(zoo["frames"], zoo["train_return_last100"],
                                at) if len(zoo) else np.full(len(at), math.nan)
  stats["sb3_zoo"] = pd.DataFrame(dict(frames=at, seeds=(~np.isnan(zoo_v)).astype(int), mean=zoo_v,
                                       std=0.0, min=zoo_v, max=zoo_v))
  order = ["ours", "sb3_here", "sb3_zoo"] + [k for k in sorted(ours) if k != "ours"]
  rows = []
  for name in order:
    st = stats[name]
    for i, x in enumerate(at):
      s = st.iloc[i]
      mean = s["mean"] if s["seeds"] else math.nan
      row = dict(curve=name, frames=int(x), seeds=int(s["seeds"]), train_mean=mean,
                 train_std=s["std"] if s["seeds"] else math.nan,
                 train_min=s["min"] if s["seeds"] else math.nan,
                 train_max=s["max"] if s["seeds"] else math.nan,
                 gap_vs_sb3_here_pct=gap_pct(mean, _mean_at(stats["sb3_here"], i)),
                 gap_vs_zoo_pct=gap_pct(mean, zoo_v[i]), share_of_gap_closed=math.nan,
                 departs_from_baselines="", **_eval_stats([]))
      if int(x) == up_to:
        if name == "sb3_here":
          row |= _eval_stats(m for m, fr in sb3_evals.values() if fr >= up_to)
        elif name != "sb3_zoo":
          row |= _eval_stats(_our_evals(ours[name], up_to) if name in ours else [])
        if name not in ("ours", "sb3_here", "sb3_zoo"):
          o, h = _mean_at(stats["ours"], i), _mean_at(stats["sb3_here"], i)
          closes = math.isfinite(mean - o) and h != o
          row["share_of_gap_closed"] = (mean - o) / (h - o) if closes else math.nan
          row["departs_from_baselines"] = "yes" if _departs(name) else "no"
      rows.append(row)
  return pd.DataFrame(rows, columns=PARITY_DQN_COLUMNS)


def _mean_at(st: pd.DataFrame, i: int) -> float:
  s = st.iloc[i]
  return float(s["mean"]) if s["seeds"] else math.nan


def _departs(label: str) -> bool:
  """Whether every option set in a factor label ("a=x, b=y") departs from baselines' deepq."""
  names = [part.split("=", 1)[0] for part in label.split(", ")]
  return all(DQN_FACTOR_DEPARTS.get(n, (False, ""))[0] for n in names)


def dqn_decision(table: pd.DataFrame, frames: int = DQN_DECISION_FRAMES) -> dict:
  """The rule of docs/protocol.md ("DQN parity: the decision rule") applied to
  `parity_dqn_table`'s rows at `frames`: {"decided": bool, "adopt": [factor labels],
  "keep_tag": "campaign-1" or None, "new_tag": "campaign-2" or None, "text": one paragraph}.
  Not decided while ours or SB3 here has fewer seeds than DQN_SEEDS at `frames`, or while a
  factor that was run has fewer than its DQN_SEEDS["factor"], or, with a gap, while a factor
  option (DQN_FACTORS) has not been run: every eligible factor's share is known before any is
  adopted or the frozen tag is kept. A gap exists when ours' seed
  maximum is below SB3 here's seed minimum (training returns); then every single-option factor
  that departs from baselines' deepq and closes >= DQN_SHARE_TO_ADOPT of the gap (its mean over
  its seeds) is adopted. Factor options never run are named in the text."""
  at = table[table["frames"] == frames].set_index("curve")
  def row(name):
    return at.loc[name] if name in at.index else None
  o, h = row("ours"), row("sb3_here")
  n_o, n_h = (int(r["seeds"]) if r is not None else 0 for r in (o, h))
  factors = [c for c in at.index if c not in ("ours", "sb3_here", "sb3_zoo")]
  never = [k for k in DQN_FACTORS if not any(part.split("=", 1)[0] == k for c in factors
                                             for part in c.split(", "))]
  tail = f" Factor options not run: {', '.join(never)}." if never else ""
  out = dict(decided=False, adopt=[], keep_tag=None, new_tag=None)
  if n_h < DQN_SEEDS["sb3_here"] or n_o < DQN_SEEDS["ours"]:
    return out | dict(text=f"Not decided yet: {n_h} of {DQN_SEEDS['sb3_here']} SB3 seeds, {n_o} of "
                           f"{DQN_SEEDS['ours']} ours at {frames / 1e6:g}M frames.{tail}")
  if not o["train_max"] < h["train_min"]:
    return out | dict(decided=True, keep_tag="campaign-1", text=(
        f"No gap: ours' seed range [{_num(o['train_min'])}, {_num(o['train_max'])}] at "
        f"{frames / 1e6:g}M frames is not below SB3 here's [{_num(h['train_min'])}, "
        f"{_num(h['train_max'])}]. No factor is adopted; Figure 2 keeps tag campaign-1.{tail}"))
  short = [f"{c} ({int(at.loc[c, 'seeds'])} of {DQN_SEEDS['factor']} seeds)" for c in factors
           if int(at.loc[c, "seeds"]) < DQN_SEEDS["factor"]]
  gap = f"ours {_num(o['train_mean'])} vs SB3 here {_num(h['train_mean'])} (ranges apart)"
  if short or never:
    todo = "; ".join(x for x in (f"factors short of seeds at {frames / 1e6:g}M frames: "
                                 f"{', '.join(short)}" if short else "",
                                 f"factor options not run yet: {', '.join(never)}" if never
                                 else "") if x)
    return out | dict(text=f"Not decided yet: a gap, {gap}; {todo}.")
  single = [c for c in factors if ", " not in c]
  adopt = [c for c in single if _departs(c) and at.loc[c,
                                                       "share_of_gap_closed"] >= DQN_SHARE_TO_ADOPT]
  not_eligible = " (baselines' own setting: not eligible)"
  shares = "; ".join(f"{c}: {_share(at.loc[c, 'share_of_gap_closed'])}"
                     + ("" if _departs(c) else not_eligible) for c in single)
  if adopt:
    return out | dict(decided=True, adopt=adopt, new_tag="campaign-2", text=(
        f"A gap, {gap}. Shares of it closed: {shares}. Adopted as the DQN family's default: "
        f"{', '.join(adopt)}; Figure 2 is retrained from the new frozen tag campaign-2."))
  return out | dict(decided=True, keep_tag="campaign-1", text=(
      f"A gap, {gap}. Shares of it closed: {shares}. No departing factor closes "
      f"half of it: Figure 2 keeps tag campaign-1."))


def _share(v) -> str:
  return "–" if v is None or not math.isfinite(v) else f"{100 * v:.0f}%"


def parity_dqn_markdown(table: pd.DataFrame, decision: dict, excluded: list[str] = (),
                        frames: int = DQN_DECISION_FRAMES) -> str:
  """parity_dqn.md: what the columns mean, (a) ours vs SB3 here vs the zoo per point, (b) the
  factors at `frames`, (c) the rule's outcome (`dqn_decision`), and the runs left out."""
  out = [f"""# Figure 2's `dqn` vs stable-baselines3's DQN on the same emulator ({DQN_GAME})

Training return: the mean raw score of the last <=100 finished training games (whole games, not
lives) at a number of **emulator frames trained** (4 x agent steps), linear between a curve's own
points, never extrapolated ("–": no value). mean [min, max] (seeds). Ours: `dqn` with replay
{DQN_REPLAY:,} (`--set replay_capacity={DQN_REPLAY}`), progress.csv. SB3 here: SB3's DQN with our
settings on ale-py 0.12.1 (scripts/sb3_parity.py --algo dqn), its curves' `trained_frames`. SB3
zoo: the published curve (1 seed, replay 10k, learning starts 100k agent steps,
reports/published/). Gaps: 100 x (a - b) / |b|. The rule: docs/protocol.md, "DQN parity: the
decision rule".

## (a) Ours vs SB3 here vs the zoo

| frames | ours | SB3 here | SB3 zoo | ours vs SB3 here | ours vs zoo | SB3 here vs zoo |
|---|---|---|---|---|---|---|
"""]
  by = {c: g.set_index("frames") for c, g in table.groupby("curve")}
  for x in sorted(table["frames"].unique()):
    o, h, z = (by[c].loc[x] for c in ("ours", "sb3_here", "sb3_zoo"))
    out.append(f"| {x / 1e6:g}M | {_spread(o.train_mean, o.train_min, o.train_max, o.seeds)} "
               f"| {_spread(h.train_mean, h.train_min, h.train_max, h.seeds)} | "
               f"{_num(z.train_mean)} | {_pct(o.gap_vs_sb3_here_pct)} | {_pct(o.gap_vs_zoo_pct)} | "
               f"{_pct(h.gap_vs_zoo_pct)} |\n")
  out.append(f"""
## (b) The factors at {frames / 1e6:g}M frames

Each factor: our `dqn` with one option set (`--set`), all else as ours. Evaluation: 8 whole
games, epsilon 0.05, capped at 27,000 frames (ours: progress.csv `eval_return` at {frames / 1e6:g}M;
SB3 here: its meta's final evaluation). Share: (factor - ours) / (SB3 here - ours) on the
training-return means. "departs": our default of that option departs from baselines' `deepq`.

| curve | training return | evaluation | vs SB3 here | share of the gap closed | departs |
|---|---|---|---|---|---|
""")
  at = table[table["frames"] == frames]
  for r in at.itertuples(index=False):
    if r.curve == "sb3_zoo":
      continue
    out.append(f"| {r.curve} | {_spread(r.train_mean, r.train_min, r.train_max, r.seeds)} "
               f"| {_spread(r.eval_mean, r.eval_min, r.eval_max, r.eval_seeds)} "
               f"| {_pct(r.gap_vs_sb3_here_pct)} | {_share(r.share_of_gap_closed)} "
               f"| {r.departs_from_baselines or '–'} |\n")
  out.append("\nWhat the options' defaults are, against baselines' `deepq`:\n\n")
  for k, (_, note) in DQN_FACTOR_DEPARTS.items():
    out.append(f"- `{k}`: {note}.\n")
  out.append(f"\n## (c) The rule's outcome\n\n{decision['text']}\n")
  if excluded:
    out.append("\nRuns left out (not the experiment's): " + ", ".join(excluded) + ".\n")
  return "".join(out)


def write_parity_dqn(dqn_dir=None, out_dir=None, zoo_path=None,
                     game: str = DQN_GAME) -> dict[str, Path]:
  """Writes parity_dqn.csv (PARITY_DQN_COLUMNS) and parity_dqn.md (atomically) into `out_dir`
  (default: `dqn_dir`) from the experiment's runs under `dqn_dir` (default DQN_DIR: sb3_here/,
  ours/runs/..., {factor}/runs/...; `load_sb3_here_dqn`, `load_dqn_runs`) and the zoo's `game`
  DQN curve (reports/published/sb3_zoo_curves.csv unless `zoo_path`). Empty or partial inputs
  give the partial tables ("–" where nothing is there) and a "not decided yet" outcome. Returns
  {"parity_dqn_csv", "parity_dqn_md"}: their paths. Raises FileNotFoundError when the zoo's
  CSV is missing."""
  dqn_dir = Path(DQN_DIR if dqn_dir is None else dqn_dir)
  out_dir = Path(dqn_dir if out_dir is None else out_dir)
  sb3, sb3_evals = load_sb3_here_dqn(dqn_dir / "sb3_here", game)
  ours, excluded = load_dqn_runs(dqn_dir, game)
  zoo = published.load_zoo_curves(zoo_path)
  zoo = zoo[(zoo["algo"] == "dqn") & (zoo["game"] == game)]
  table = parity_dqn_table(ours, sb3, sb3_evals, zoo)
  decision = dqn_decision(table)
  buf = io.StringIO()
  table.to_csv(buf, index=False, lineterminator="\n")
  paths = dict(parity_dqn_csv=out_dir / "parity_dqn.csv", parity_dqn_md=out_dir / "parity_dqn.md")
  atomic_write_text(paths["parity_dqn_csv"], buf.getvalue())
  atomic_write_text(paths["parity_dqn_md"], parity_dqn_markdown(table, decision, excluded))
  return paths
