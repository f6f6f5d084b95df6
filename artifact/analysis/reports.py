"""Report driving: every report of a grid's runs written from one `Results` (the runs read once),
a failed report not stopping the others.

The reports themselves are `artifact.analysis.curves`, `parity`, `statistics`, `claims` and `theory`,
imported here only when called (the command line's argument errors stay fast).
"""
from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Tuple


def _frames_text(frames: int) -> str:
  """3000000 -> '3M', 250000 -> '250k', 6400 -> '6.4k' (3 significant digits)."""
  for unit, size in (("M", 1_000_000), ("k", 1_000)):
    if frames >= size:
      return f"{frames / size:.3g}{unit}"
  return f"{frames:,}"


def budget_notes(plan, scale: str, progress_by_figure) -> Tuple[Dict[int, str], str]:
  """The reports' title notes: ({figure: note}, note of the reports over every figure), from
  {figure: long progress frame} (`Results.progress`). A figure whose runs all reached the
  scale's budget (the largest `RunSpec.frames` of its specs, emulator frames) is "[short
  scale]"; runs stopped earlier (the reference's 3M-frame A2C and 2M-frame DQN runs, say) are
  labelled by the frames every run of the figure reached: "[3M frames of short scale's 10M]"."""
  per = {}
  for f in plan.figures:
    budget = max((s.frames for s in plan.specs if s.figure == f), default=0)
    df = progress_by_figure.get(f)
    reached = (int(df.groupby(["game", "condition", "seed"]).frames.max().min())
               if df is not None and len(df) else budget)
    per[f] = (f"{scale} scale" if reached >= budget else
              f"{_frames_text(reached)} frames of {scale} scale's {_frames_text(budget)}")
  texts = list(dict.fromkeys(per.values()))
  if len(texts) <= 1:
    overall = f" [{texts[0] if texts else scale + ' scale'}]"
  else:
    overall = " [" + "; ".join(f"Figure {f}: {t}" for f, t in per.items()) + "]"
  return {f: f" [{t}]" for f, t in per.items()}, overall


def _print_unfinished(plan, runs: Path):
  """Says which of the plan's runs are unfinished: partial (a progress.csv, no done.json) or
  missing."""
  unfinished = [s.relpath() for s in plan.specs if not (runs / s.relpath() / "done.json").exists()]
  if not unfinished:
    return
  started = [r for r in unfinished if (runs / r / "progress.csv").exists()]
  print(f"reports: {len(plan.specs) - len(unfinished)} of {len(plan.specs)} runs finished; "
        f"{len(started)} partial (reported up to their last row), "
        f"{len(unfinished) - len(started)} missing:", flush=True)
  for r in unfinished:
    print(f"   {'partial' if r in started else 'missing'} {r}")


def _print_not_in_grid(others: List[str], runs: Path):
  """Says which runs under `runs` the reports leave out (`results.not_in_grid`)."""
  if others:
    print(f"reports: {len(others)} run(s) under {runs} are not part of this grid (not selected, "
          f"or trained with another config) and are left out:", flush=True)
    for r in others:
      print(f"   not in this grid: {r}")


def write_reports(plan, scale: str = "") -> List[str]:
  """Figure CSV/PDF, parity, statistics, claims (and theory) from whatever runs exist under
  plan.out/runs (`plan`: an `artifact.grid.planning.Plan`); says which of the plan's runs are
  missing or unfinished (and reports the rest). The runs are read once, into one `Results`
  (`artifact.analysis.results.load_results`), that every report reads. Every file is written
  atomically; a report that fails (a full disk, a missing published-curves file, say) is named
  and the others are still written. Returns the failed reports' descriptions ([] if none).
  `scale`: the scale's name, for the titles (`budget_notes`)."""
  from artifact.analysis import claims, curves, parity, results, statistics   # heavy imports after validation
  runs, out = plan.out / "runs", plan.out / "reports"
  out.mkdir(parents=True, exist_ok=True)
  _print_unfinished(plan, runs)
  failed: List[str] = []

  def attempt(name: str, write):
    try:
      paths = write()
    except Exception as e:  # pylint: disable=broad-except  (name it, go on with the others)
      failed.append(f"{name}: {type(e).__name__}: {e}")
      print(f"reports: FAILED writing {name} under {out}: {type(e).__name__}: {e}", flush=True)
      return
    print(f"{name}: " + ", ".join(str(p) for p in paths.values()), flush=True)

  grid = results.grid_runs(plan.specs)
  _print_not_in_grid(results.not_in_grid(runs, plan.figures, grid), runs)
  loaded = results.load_results(runs, plan.figures, grid)
  notes, note = budget_notes(plan, scale, loaded.progress) if scale else ({}, "")
  for f in plan.figures:
    attempt(f"figure {f}", lambda f=f: curves.write_figure_reports(f, loaded, out, notes.get(f, "")))
  attempt("parity with published curves", lambda: parity.write_parity_reports(loaded, out))
  attempt("statistics", lambda: statistics.write_statistics(loaded.progress, out, note))
  attempt("claims", lambda: claims.write_claims(loaded.progress, out, note, loaded.machines))
  if plan.run_theory:
    from artifact.analysis import theory
    attempt("theory", lambda: theory.write_theory_report(out))
  return failed
