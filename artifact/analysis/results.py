"""A grid's results, loaded once per report pass: every report reads these tables, none reads a
run's files itself.

`load_results(runs_dir, figures, grid)` gives a `Results`:
  progress   {figure: long progress frame}: the figure's runs' progress.csv rows, LONG_COLUMNS
             (the progress.csv schema of `artifact.training.progress` without the per-update loss
             diagnostics), one row per (game, condition, seed, frames) point; `frames` are
             emulator frames (4 x agent steps, summed over a run's parallel envs), returns raw
             (unclipped) game scores
  machines   {figure: run machines}: one row per run read, MACHINE_COLUMNS (game, condition,
             seed, cpu: the CPU kind that trained it, `cpu_kind`)
  published  the published curves to hold ours against (`artifact.analysis.published`), read on
             first use (`Results.published_curves`)

Every progress.csv is checked before use (`artifact.training.progress.read_progress`: complete
rows of the schema in frame order, ending at done.json's frames for a finished run), and a run
whose progress.csv, config.json or done.json is damaged is left out of every table, named in
`Results.bad_runs` with the file, the line and what to do.

A run is read only when it belongs to the grid (`grid_runs`: its relpath is one of the grid's
runs and its config.json is that spec's run), so runs of other grids or other `--set` values
under the same directory are never averaged in; `not_in_grid` lists the ones left out. A curve
that is the same run as another figure's (Figure 3's `pg` = Figure 1's `a2c_proper`) is read
from that run's directory and relabelled.
"""
from __future__ import annotations

import dataclasses
import io
import json
import re
from collections.abc import Callable, Sequence
from pathlib import Path

import pandas as pd

from artifact.analysis import published
from artifact.experiment.registry import FIGURES
from artifact.experiment.runspec import config_matches
from artifact.files import DamagedFileError, read_json
from artifact.training.progress import COLUMNS as PROGRESS_COLUMNS
from artifact.training.progress import ProgressFileError, read_progress

# The long format: the progress.csv schema without the per-update loss diagnostics.
LONG_COLUMNS = [c for c in PROGRESS_COLUMNS if c not in ("loss", "entropy")]
MACHINE_COLUMNS = ["game", "condition", "seed", "cpu"]


def progress_files(runs_dir, figure: int) -> list[tuple[str, Path]]:
  """[(condition name, progress.csv path)] of every run of a figure found under `runs_dir`, in
  the registry's condition order, each condition's files sorted by path. Raises KeyError for a
  figure the registry does not have."""
  out = []
  for cond in FIGURES[figure].conditions:
    src_fig, src_cond = cond.same_run_as or (figure, cond.name)
    for f in sorted(Path(runs_dir).glob(f"figure{src_fig}/*/{src_cond}/seed*/progress.csv")):
      out.append((cond.name, f))
  return out


def grid_runs(specs) -> dict[str, object]:
  """{run relpath: RunSpec} of a grid's `specs` (`artifact.experiment.runspec.RunSpec`), the
  `grid` argument of `load_progress` and `load_results`."""
  return {s.relpath(): s for s in specs}


# What to do about a damaged run file, in the reports' words (the run is left out of them).
REPORT_REMEDY = ("The run is left out of every report: put an intact copy back, or delete "
                 "{run_dir} and run the command again to retrain it")
_RELPATH = re.compile(r"figure(\d+)/([^/]+)/([^/]+)/seed(-?\d+)")


def _in_grid(run_dir: Path, rel: str, grid: dict[str, object]) -> bool:
  """Whether the run at `run_dir` (relpath `rel`) is the grid's run of that relpath: no
  config.json (nothing to check against) counts as the grid's own; one of another run does not.
  Raises DamagedFileError for a config.json that is not a JSON object
  (`artifact.files.read_json`)."""
  if rel not in grid:
    return False
  cfg = run_dir / "config.json"
  if not cfg.exists():
    return True
  config = read_json(cfg, REPORT_REMEDY.format(run_dir=run_dir))
  try:
    return config_matches(config, grid[rel])
  except (ValueError, KeyError, TypeError):
    return False


def _grid_files(runs_dir, figure: int, grid, bad: dict[str, str]
                | None = None) -> list[tuple[str, Path, str]]:
  """[(condition, progress.csv path, run relpath)] of the figure's runs that `grid` keeps (all
  found when `grid` is None), less those in `bad`. A run with a damaged config.json is added to
  `bad` ({relpath: message}) and left out; without `bad`, DamagedFileError is raised."""
  out = []
  for cond, f in progress_files(runs_dir, figure):
    rel = f.parent.relative_to(runs_dir).as_posix()
    if bad is not None and rel in bad:
      continue
    try:
      keep = grid is None or _in_grid(f.parent, rel, grid)
    except (DamagedFileError, OSError) as e:
      if bad is None:
        raise
      bad[rel] = str(e)
      continue
    if keep:
      out.append((cond, f, rel))
  return out


def check_run_files(run_dir: Path, rel: str):
  """A run's progress.csv, checked (`artifact.training.progress.read_progress`: complete rows of
  the schema, the run's own, in frame order; with done.json, ending at its frames; reaching its
  newest checkpoint, `checkpoint/ckpt-N.index`, where it has one, to within the run's
  log_every_frames, config.json). Returns the
  `ProgressRows`. Raises ProgressFileError or DamagedFileError (done.json) naming the file, the
  line and what to do; OSError if a file cannot be read."""
  m = _RELPATH.fullmatch(rel)
  identity = dict(zip(("figure", "game", "condition", "seed"), m.groups())) if m else None
  done, finished = Path(run_dir) / "done.json", None
  if done.exists():
    finished = read_json(done, REPORT_REMEDY.format(run_dir=run_dir)).get("frames")
    if not isinstance(finished, int):
      raise DamagedFileError(done, f"its frames {finished!r} are not a number of frames",
                             REPORT_REMEDY.format(run_dir=run_dir))
  config = Path(run_dir) / "config.json"
  every = (read_json(config, REPORT_REMEDY.format(run_dir=run_dir)).get("log_every_frames")
           if config.exists() else None)
  every = every if isinstance(every, int) and every > 0 else None
  newest = max((int(p.name[len("ckpt-"):-len(".index")])
                for p in Path(run_dir).glob("checkpoint/ckpt-*.index")
                if p.name[len("ckpt-"):-len(".index")].isdigit()), default=None)
  try:
    return read_progress(Path(run_dir) / "progress.csv", identity, finished, newest, every)
  except ProgressFileError as e:
    raise ProgressFileError(e.path, e.line_no, e.line, e.problem,
                            f"{REPORT_REMEDY.format(run_dir=run_dir)}") from None


def not_in_grid(runs_dir, figures: Sequence[int], grid: dict[str, object]) -> list[str]:
  """Sorted relpaths of the runs under `runs_dir` (of the given figures) that `load_progress(...,
  grid)` leaves out: not in the grid, or trained with another config (a `--set` value, say)."""
  out = set()
  for figure in figures:
    for _, f in progress_files(runs_dir, figure):
      rel = f.parent.relative_to(runs_dir).as_posix()
      try:
        if not _in_grid(f.parent, rel, grid):
          out.add(rel)
      except (DamagedFileError, OSError):
        continue                     # a damaged config.json: one of `Results.bad_runs`
  return sorted(out)


def rows_up_to(df: pd.DataFrame, frames: int) -> pd.DataFrame:
  """A run's progress rows up to `frames` emulator frames: through its first row at or past them
  (where the update that crosses them ends); all rows if none reaches them."""
  reached = df["frames"] >= frames
  return df[df["frames"] <= df.loc[reached, "frames"].min()] if reached.any() else df


def load_progress(runs_dir, figure: int, grid=None,
                  bad: dict[str, str] | None = None) -> pd.DataFrame:
  """The figure's progress.csv files concatenated (an empty frame with the columns if none), in
  LONG_COLUMNS, sorted by game, condition, seed, frames, with `figure` and `condition` set to
  this figure's names. With `grid` ({relpath: RunSpec}, `grid_runs`), only the runs of that grid
  whose config.json is that spec's run are read, and each run with a config.json is read up to
  its spec's budget (`RunSpec.frames`; `rows_up_to`): a run extended past the grid's --frames
  (say, to 3M in a grid reported at 1M) is reported at the grid's frames like the others.
  Each file is checked first (`check_run_files`); with `bad` ({relpath: message}) a damaged run
  is added to it and left out (as are the runs already in it), without `bad` its error is
  raised: ProgressFileError, `artifact.files.DamagedFileError` or OSError, naming the file."""
  frames = []
  for cond, f, rel in _grid_files(runs_dir, figure, grid, bad):
    try:
      checked = check_run_files(f.parent, rel)
    except (ProgressFileError, DamagedFileError, OSError) as e:
      if bad is None:
        raise
      bad[rel] = str(e)
      continue
    df = pd.read_csv(io.StringIO(checked.text))        # the text checked, read once
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
  return df.reindex(columns=LONG_COLUMNS).sort_values(["game", "condition", "seed",
                                                       "frames"]).reset_index(drop=True)


def isa_label(flags: dict) -> str:
  """The widest vector instruction set in `flags` ({"avx2": bool, "avx512f": bool, "avx512_bf16":
  bool, "amx_bf16": bool, ...}, /proc/cpuinfo's names): "avx512+amx", "avx512+bf16", "avx512",
  "avx2" or "other"."""
  if flags.get("avx512f"):
    if flags.get("amx_bf16") or flags.get("amx"):
      return "avx512+amx"
    return "avx512+bf16" if flags.get("avx512_bf16") else "avx512"
  return "avx2" if flags.get("avx2") else "other"


def cpu_kind(run_dir) -> str:
  """The CPU kind that trained a run, e.g. "AMD EPYC (avx512+bf16)": its model name and widest
  vector instruction set (`isa_label`), from the run's machine.json (written beside a run by the
  campaign's store: {"cpu": model, "isa": "avx512" | "avx2" | "other", "flags": {...}}; records
  without "flags" give the coarse "isa" alone) or else its config.json's "machine" record
  (written by runs themselves, "isa" a dict of flags); "not recorded" when neither has it. Runs
  repeat bit for bit on one CPU kind, not across kinds (docs/decision_rules.md, A2)."""
  run_dir = Path(run_dir)
  for name, pick in (("machine.json", lambda d: d), ("config.json", lambda d: d.get("machine"))):
    try:
      rec = pick(json.loads((run_dir / name).read_text()))
    except (OSError, ValueError, AttributeError):
      continue
    if isinstance(rec, dict) and rec.get("cpu"):
      isa = rec.get("isa")
      if isinstance(rec.get("flags"), dict):
        isa = isa_label(rec["flags"])
      elif isinstance(isa, dict):
        isa = isa_label(isa)
      return f"{rec['cpu']} ({isa})" if isa else str(rec["cpu"])
  return "not recorded"


def run_machines(runs_dir, figure: int, grid=None,
                 bad: dict[str, str] | None = None) -> pd.DataFrame:
  """One row per run of the figure under `runs_dir` (the runs `load_progress` reads, with the
  same `grid` filter and condition names, less the damaged runs in `bad`), MACHINE_COLUMNS:
  game, condition, seed (int), cpu (`cpu_kind`)."""
  rows = []
  for cond, f, _ in _grid_files(runs_dir, figure, grid, bad):
    game, seed = f.parent.parent.parent.name, int(f.parent.name.removeprefix("seed"))
    rows.append(dict(game=game, condition=cond, seed=seed, cpu=cpu_kind(f.parent)))
  return pd.DataFrame(rows, columns=MACHINE_COLUMNS)


@dataclasses.dataclass
class Results:
  """Everything the reports read from a grid's runs (`load_results`).

  progress: {figure: long progress frame} (`load_progress`, LONG_COLUMNS); machines: {figure:
  run machines} (`run_machines`, MACHINE_COLUMNS); load_published: a function giving the
  published curves (`artifact.analysis.published.load_published_curves`), called once, on the
  first `published_curves()`; bad_runs: {relpath: the error} of the runs left out of both
  tables (and so of every report) because a file of theirs is damaged (`check_run_files`).
  """
  progress: dict[int, pd.DataFrame]
  machines: dict[int, pd.DataFrame]
  load_published: Callable[[], pd.DataFrame] = published.load_published_curves
  bad_runs: dict[str, str] = dataclasses.field(default_factory=dict)
  _published: pd.DataFrame | None = dataclasses.field(default=None, init=False, repr=False,
                                                         compare=False)

  def published_curves(self) -> pd.DataFrame:
    """The published curves (`artifact.analysis.published.CURVE_COLUMNS`), read on the first call
    and kept. Raises what `load_published` raises (a missing curves file: FileNotFoundError), on
    every call until one succeeds, so only the reports that draw on them fail."""
    if self._published is None:
      self._published = self.load_published()
    return self._published


def load_results(runs_dir, figures: Sequence[int], grid=None, zoo_path=None,
                 sb3_here_dir=None) -> Results:
  """The `Results` of the `figures`' runs under `runs_dir`, each progress.csv read once (of the
  `grid`'s runs, if given: `load_progress`). Published curves: the repository's
  reports/published/sb3_zoo_curves.csv and reports/parity/sb3_here/ unless `zoo_path` /
  `sb3_here_dir` are given. A run with a damaged file is left out of every table and named in
  `Results.bad_runs`. Raises KeyError for a figure the registry does not have."""
  bad: dict[str, str] = {}
  progress = {f: load_progress(runs_dir, f, grid, bad) for f in figures}
  return Results(progress=progress,
                 machines={f: run_machines(runs_dir, f, grid, bad) for f in figures},
                 load_published=lambda: published.load_published_curves(zoo_path, sb3_here_dir),
                 bad_runs=bad)
