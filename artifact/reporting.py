"""Report driving: every report of a grid's runs written, a failed one not stopping the others.

The reports themselves are `artifact.reports`, `parity`, `statistics`, `claims` and `theory`,
imported here only when called (the command line's argument errors stay fast).
"""
from __future__ import annotations

from typing import List


def write_reports(plan, note: str = "") -> List[str]:
  """Figure CSV/PDF, parity, statistics, claims (and theory) from whatever runs exist under
  plan.out/runs (`plan`: an `artifact.planning.Plan`); says which of the plan's runs are missing
  or unfinished (and reports the rest). Every file is written atomically; a report that fails (a
  full disk, say) is named and the others are still written. Returns the failed reports'
  descriptions ([] if none)."""
  from artifact import claims, parity, reports, statistics   # heavy imports after validation
  runs, out = plan.out / "runs", plan.out / "reports"
  out.mkdir(parents=True, exist_ok=True)
  unfinished = [s.relpath() for s in plan.specs if not (runs / s.relpath() / "done.json").exists()]
  if unfinished:
    started = [r for r in unfinished if (runs / r / "progress.csv").exists()]
    print(f"reports: {len(plan.specs) - len(unfinished)} of {len(plan.specs)} runs finished; "
          f"{len(started)} partial (reported up to their last row), "
          f"{len(unfinished) - len(started)} missing:", flush=True)
    for r in unfinished:
      print(f"   {'partial' if r in started else 'missing'} {r}")
  failed: List[str] = []

  def attempt(name: str, write):
    try:
      paths = write()
    except Exception as e:  # pylint: disable=broad-except  (name it, go on with the others)
      failed.append(f"{name}: {type(e).__name__}: {e}")
      print(f"reports: FAILED writing {name} under {out}: {type(e).__name__}: {e}", flush=True)
      return
    print(f"{name}: " + ", ".join(str(p) for p in paths.values()), flush=True)

  grid = reports.grid_runs(plan.specs)
  others = reports.not_in_grid(runs, plan.figures, grid)
  if others:
    print(f"reports: {len(others)} run(s) under {runs} are not part of this grid (not selected, "
          f"or trained with another config) and are left out:", flush=True)
    for r in others:
      print(f"   not in this grid: {r}")
  progress_by_figure = {f: reports.load_progress(runs, f, grid) for f in plan.figures}
  for f in plan.figures:
    attempt(f"figure {f}", lambda f=f: reports.write_figure_reports(f, runs, out, note, grid))
  attempt("parity with published curves", lambda: parity.write_parity(runs, out, grid=grid))
  attempt("statistics", lambda: statistics.write_statistics(progress_by_figure, out, note))
  attempt("claims", lambda: claims.write_claims(progress_by_figure, out, note))
  if plan.run_theory:
    from artifact import theory
    attempt("theory", lambda: theory.write_theory_report(out))
  return failed
