"""Report driving: every report of a grid's runs written from one `Results` (the runs read once),
a failed report not stopping the others. Every run file is checked as it is read
(`artifact.analysis.results.check_run_files`): a damaged run is named and left out of every
report, and the pass reports it as a failure (the command exits 1).

The reports themselves are `artifact.analysis.curves`, `parity`, `statistics`, `claims` and
`theory`, imported here only when called (the command line's argument errors stay fast).
"""
from __future__ import annotations

from pathlib import Path

from artifact.experiment.scales import frames_text


def budget_notes(plan, scale: str, progress_by_figure) -> tuple[dict[int, str], str]:
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
              f"{frames_text(reached)} frames of {scale} scale's {frames_text(budget)}")
  texts = list(dict.fromkeys(per.values()))
  if len(texts) <= 1:
    overall = f" [{texts[0] if texts else scale + ' scale'}]"
  else:
    overall = " [" + "; ".join(f"Figure {f}: {t}" for f, t in per.items()) + "]"
  return {f: f" [{t}]" for f, t in per.items()}, overall


def run_states(plan, runs: Path, others: list[str], bad: dict[str, str]) -> dict[str, str]:
  """{relpath: state} of each of the plan's runs, in plan order: "finished" (done.json),
  "partial" (a progress.csv, no done.json), "missing", "other config" (its directory holds a run
  of another config: `results.not_in_grid`'s `others`) or "damaged" (a file of it is damaged:
  `Results.bad_runs`, `bad`); the last two are left out of the reports."""
  out = {}
  for s in plan.specs:
    r, d = s.relpath(), runs / s.relpath()
    out[r] = ("damaged" if r in bad else "other config" if r in others
              else "finished" if (d / "done.json").exists()
              else "partial" if (d / "progress.csv").exists() else "missing")
  return out


def _print_runs(plan, runs: Path, others: list[str], bad: dict[str, str]):
  """One statement of what the reports hold of the plan's runs (`run_states`: finished, partial,
  missing, and left out: another config, damaged), each run not finished listed; then the runs
  under `runs` that are not the plan's (left out) and the damaged ones with their errors."""
  states = run_states(plan, runs, others, bad)
  n = {k: sum(v == k for v in states.values())
       for k in ("finished", "partial", "missing", "other config", "damaged")}
  left = [f"{n['other config']} trained with another config" if n["other config"] else "",
          f"{n['damaged']} with damaged files" if n["damaged"] else ""]
  left = " and ".join(x for x in left if x)
  if n["finished"] < len(states):
    print(f"reports: {n['finished']} of {len(states)} runs finished; {n['partial']} partial "
          f"(reported up to their last row), {n['missing']} missing"
          + (f", {left} (left out of every report)" if left else "") + ":", flush=True)
    for r, state in states.items():
      if state not in ("finished", "damaged"):        # the damaged ones: below, with their errors
        print(f"   {state} {r}")
  mine = set(states)
  unselected = [r for r in others if r not in mine]
  if unselected:
    print(f"reports: {len(unselected)} other run(s) under {runs} are not selected by this grid "
          f"and are left out:", flush=True)
    for r in unselected:
      print(f"   not in this grid: {r}")
  if bad:
    print(f"reports: {len(bad)} run(s) under {runs} have damaged files and are left out of every "
          f"report (figures, summaries, statistics, claims):", flush=True)
    for r, err in sorted(bad.items()):
      print(f"   damaged {r}: {err}")


def write_reports(plan, scale: str = "") -> list[str]:
  """Figure CSV/PDF, parity, statistics, claims (and theory) from whatever runs exist under
  plan.out/runs (`plan`: an `artifact.grid.planning.Plan`); says which of the plan's runs are
  missing or unfinished (and reports the rest). The runs are read once, into one `Results`
  (`artifact.analysis.results.load_results`), that every report reads. Every file is written
  atomically; a report that fails (a full disk, a missing published-curves file, say) is named
  and the others are still written. A run with a damaged file (`Results.bad_runs`) is named and
  left out of every report. Returns the failures' descriptions ([] if none): the failed reports
  and each damaged run. `scale`: the scale's name, for the titles (`budget_notes`)."""
  # the reports' modules (pandas, matplotlib, rliable) only here: argument errors stay fast
  from artifact.analysis import claims_report, curves, parity, results, statistics
  runs, out = plan.out / "runs", plan.out / "reports"
  out.mkdir(parents=True, exist_ok=True)
  failed: list[str] = []

  def attempt(name: str, write):
    try:
      paths = write()
    except Exception as e:  # name it, go on with the others
      failed.append(f"{name}: {type(e).__name__}: {e}")
      print(f"reports: FAILED writing {name} under {out}: {type(e).__name__}: {e}", flush=True)
      return
    print(f"{name}: " + ", ".join(str(p) for p in paths.values()), flush=True)

  grid = results.grid_runs(plan.specs)
  try:
    others = results.not_in_grid(runs, plan.figures, grid)
    loaded = results.load_results(runs, plan.figures, grid)
  except Exception as e:  # no report without the runs: say why
    failed.append(f"every report (reading the runs under {runs}): {type(e).__name__}: {e}")
    print(f"reports: FAILED reading the runs under {runs}, no report written: "
          f"{type(e).__name__}: {e}", flush=True)
    return failed
  _print_runs(plan, runs, others, loaded.bad_runs)
  failed += [f"damaged run {r} (left out of every report): {err}"
             for r, err in sorted(loaded.bad_runs.items())]
  notes, note = budget_notes(plan, scale, loaded.progress) if scale else ({}, "")
  for f in plan.figures:
    attempt(f"figure {f}",
            lambda f=f: curves.write_figure_reports(f, loaded, out, notes.get(f, "")))
  attempt("parity with published curves", lambda: parity.write_parity_reports(loaded, out))
  attempt("statistics", lambda: statistics.write_statistics(loaded.progress, out, note))
  attempt("claims", lambda: claims_report.write_claims(loaded.progress, out, note, loaded.machines))
  if plan.run_theory:
    from artifact.analysis import theory  # TensorFlow and agents: only when the theory report runs
    attempt("theory", lambda: theory.write_theory_report(out))
  return failed
