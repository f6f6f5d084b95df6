"""Command line: run every (figure, game, condition, seed) of the selected grid, then write reports.

  python -m artifact [--scale smoke|paper] [--figures 1,2,3] [--games Pong,...]
                     [--conditions a2c_1step,...] [--seeds 0,1] [--frames N] [--out DIR]

`./run_all.sh` is this command inside the project's virtualenv. See --help.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
import traceback
from pathlib import Path
from typing import List

from artifact.specs import FIGURES, SCALES, make_run_spec, parse_overrides

EPILOG = """
Grid: every figure's every (game, condition, seed) unless filtered. Budgets per run, in emulator
frames (= 4 x agent steps): smoke = Fig.1/3 6,400, Fig.2 1,200 (proves the pipeline on 2 CPU
cores, nothing learns); short = Fig.1/3 10M, Fig.2 5M (policies leave random play on most games);
paper = Fig.1/3 320M, Fig.2 40M.

Output under --out (default: the repository root):
  runs/figure{F}/{Game}/{condition}/seed{S}/  config.json, progress.csv, checkpoint/, policy/, done.json
  reports/figure{F}.csv, figure{F}_summary.csv, figure{F}.pdf, statistics.csv/.pdf (rliable
          intervals), claims.csv/.md (a verdict per claim, docs/decision_rules.md), theory.csv/.pdf
Runs that finished are skipped; killed runs resume from their last checkpoint.

"""


def _conditions_epilog() -> str:
  lines = ["Conditions (from the figure specs):"]
  for f, fig in FIGURES.items():
    names = [c.name + (f" (= figure {c.same_run_as[0]} {c.same_run_as[1]}, trained once)"
                       if c.same_run_as else "") for c in fig.conditions]
    lines.append(f"  Fig.{f}: " + ", ".join(names))
  return "\n".join(lines) + "\n"


def _csv(s: str) -> List[str]:
  return [x.strip() for x in s.split(",") if x.strip()]


def build_parser() -> argparse.ArgumentParser:
  p = argparse.ArgumentParser(
      prog="run_all.sh",
      description="Reproduce Schulman, Chen, Abbeel (2017) 'Equivalence Between Policy Gradients "
                  "and Soft Q-Learning' on real Atari games: train, evaluate, report.",
      epilog=EPILOG + _conditions_epilog(), formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument("--scale", default="smoke", help=f"one of {', '.join(SCALES)} (default smoke)")
  p.add_argument("--figures", default=",".join(map(str, FIGURES)),
                 help="comma-separated figure numbers (default: all, %(default)s)")
  p.add_argument("--games", default=None,
                 help="comma-separated games, e.g. Pong,Breakout (default: each figure's). Any ALE "
                      "game works; games the paper did not run are marked [extension] in the reports")
  p.add_argument("--conditions", default=None, help="comma-separated condition names (default: all)")
  p.add_argument("--seeds", default=None, help="comma-separated integer seeds (default: the figure's)")
  p.add_argument("--frames", default=None, help="emulator frames per run, overrides the scale's budget")
  p.add_argument("--out", default=".", help="directory for runs/ and reports/ (default: ., the "
                                             "repository root under ./run_all.sh)")
  p.add_argument("--jobs", type=int, default=2,
                 help="runs trained at once in worker processes (default 2: on 2 cores a run's "
                      "single-threaded tracing and saving overlap the other's training)")
  p.add_argument("--no-theory", action="store_true", help="skip the numerical theorem checks")
  p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                 help="override a hyperparameter of the selected runs (repeatable), e.g. --set lr=3e-4 "
                      "--set tau=0.05; recorded in each run's config.json. Keys: the A2C / DQN "
                      "hyperparameters (docs/protocol.md section 5) and condition arguments (tau)")
  p.add_argument("--list", action="store_true", help="print the selected runs and exit")
  p.add_argument("--reports-only", action="store_true",
                 help="train nothing: write the figure, statistics and claims reports from the runs "
                      "already under --out (finished or partial; missing ones are listed)")
  return p


class Plan:
  """The validated grid: `specs` (each run once), `serves` (relpath -> the figure/condition
  curves that run is reported as; two entries for a run shared by two figures)."""

  def __init__(self, specs, figures, out: Path, run_theory: bool, serves=None):
    self.specs, self.figures, self.out, self.run_theory = specs, figures, out, run_theory
    self.serves = serves or {}


def plan_from_args(args) -> Plan:
  """Validates every argument before any work; raises SystemExit(2) with a clear message."""
  def fail(msg):
    raise SystemExit(f"run_all.sh: error: {msg}")

  if args.jobs < 1:
    fail(f"--jobs must be >= 1, got {args.jobs}")
  if args.scale not in SCALES:
    fail(f"unknown scale {args.scale!r}; valid: {', '.join(SCALES)}")
  figures = []
  for f in _csv(args.figures):
    if not f.isdigit() or int(f) not in FIGURES:
      fail(f"unknown figure {f!r}; valid: {', '.join(map(str, FIGURES))}")
    figures.append(int(f))
  if not figures:
    fail("--figures selects nothing")
  frames = None
  if args.frames is not None:
    try:
      frames = int(float(args.frames))
    except ValueError:
      fail(f"--frames must be a positive integer, got {args.frames!r}")
    if frames <= 0:
      fail(f"--frames must be a positive integer, got {args.frames!r}")
  seeds = None
  if args.seeds is not None:
    try:
      seeds = [int(s) for s in _csv(args.seeds)]
    except ValueError:
      fail(f"--seeds must be comma-separated non-negative integers, got {args.seeds!r}")
    if not seeds or any(s < 0 for s in seeds):
      fail(f"--seeds must be comma-separated non-negative integers, got {args.seeds!r}")
  all_games = sorted({g for f in figures for g in FIGURES[f].games})
  games = _csv(args.games) if args.games else None
  if games is not None:
    from envs.games import ATARI_GAMES
    for g in games:
      if g not in ATARI_GAMES:
        fail(f"unknown game {g!r}; the paper's games for the selected figures: {', '.join(all_games)}; "
             f"any ALE game also works: {', '.join(ATARI_GAMES)}")
  all_conds = [c.name for f in figures for c in FIGURES[f].conditions]
  conds = _csv(args.conditions) if args.conditions else None
  if conds is not None:
    for c in conds:
      if c not in all_conds:
        fail(f"unknown condition {c!r} for figure(s) {', '.join(map(str, figures))}; valid: {', '.join(all_conds)}")
  selected = [c for f in figures for c in FIGURES[f].conditions if conds is None or c.name in conds]
  try:
    overrides = parse_overrides(args.set, selected)
  except ValueError as e:
    fail(str(e))
  out = Path(args.out)
  try:
    (out / "runs").mkdir(parents=True, exist_ok=True)
    (out / "reports").mkdir(parents=True, exist_ok=True)
    probe = out / "reports" / f".write_test_{os.getpid()}"
    probe.write_text("ok")
    probe.unlink()
  except OSError as e:
    fail(f"--out {str(out)!r} is not writable: {e}")
  specs, serves = [], {}
  for f in figures:
    fig = FIGURES[f]
    # a paper game runs in the selected figures that have it; any other ALE game runs in every
    # selected figure, as an extension
    for game in (fig.games if games is None else
                 [g for g in games if g in fig.games or g not in all_games]):
      for cond in fig.conditions:
        if conds is not None and cond.name not in conds:
          continue
        for seed in (seeds if seeds is not None else fig.seeds):
          try:
            spec = make_run_spec(f, game, cond.name, seed, args.scale, frames, overrides)
          except ValueError as e:
            fail(str(e))
          rel = spec.relpath()
          if rel not in serves:               # a run shared by two figures is trained once
            specs.append(spec)
            serves[rel] = []
          serves[rel].append(f"figure {f} {cond.name}")
  if not specs and not (3 in figures and not args.no_theory):
    fail("the filters select no run")
  return Plan(specs, figures, out, run_theory=(3 in figures and not args.no_theory), serves=serves)


def _hms(s: float) -> str:
  s = int(s)
  return f"{s // 3600}h{s % 3600 // 60:02d}m{s % 60:02d}s" if s >= 3600 else f"{s // 60}m{s % 60:02d}s"


def _init_worker(threads: int):
  """Worker process setup: share the cores between concurrent runs instead of oversubscribing,
  and exit when the grid's process is gone (a killed grid must not leave workers training)."""
  import tensorflow as tf
  tf.config.threading.set_intra_op_parallelism_threads(threads)
  tf.config.threading.set_inter_op_parallelism_threads(threads)
  _exit_with_parent()


def _exit_with_parent(poll_s: float = 2.0):
  """A daemon thread that ends this process when its parent dies (it is re-parented: the ppid
  changes). Spawned workers are not in the parent's process group on every launcher, so a kill of
  the grid alone would otherwise leave them training and writing into the run directories."""
  import threading
  parent = os.getppid()

  def watch():
    while True:
      time.sleep(poll_s)
      if os.getppid() != parent:
        os._exit(3)
  threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


# Training frames/s of one run while another runs beside it on the 2-core machine (--jobs 2),
# evaluation included: A2C framework measured on the Seaquest reference runs (~1,900), DQN from
# the benchmark's single-run 298 frames/s less the sharing (an estimate). The README quotes these.
FPS_PER_RUN = {"a2c": 1_900.0, "dqn": 250.0}


def _cost(spec) -> float:
  """Rough seconds a run takes beside another on 2 cores: ~8 s fixed + frames / family speed."""
  return 8.0 + spec.frames / FPS_PER_RUN[spec.family]


def _grid_cost_line(specs, jobs: int) -> str:
  seconds = sum(_cost(s) for s in specs)          # one core per run
  cores = os.cpu_count() or 1
  wall = seconds / max(1, min(jobs, cores, len(specs) or 1))
  return (f"estimated cost: {seconds / 3600:,.1f} core-hours; wall time at --jobs {jobs} on this "
          f"{cores}-core machine ~{_hms(wall)} (at {FPS_PER_RUN['a2c']:,.0f} A2C-framework / "
          f"{FPS_PER_RUN['dqn']:,.0f} DQN frames/s per run, 2-core machine figures)")


def _run_group(group, out: str, progress):
  """Worker entry point: train the runs of one group (seeds of one figure/game/condition) in
  order, so they share one traced trainer. Returns [(relpath, error text or None)]; never raises.

  `progress` = (t0, cost done at submit, total cost, [run index], total_runs) for the
  "[run i/N elapsed, grid eta]" prefix of every log line (cost: `_cost`, estimated seconds).
  """
  from artifact import runner
  t0, done, total, indices, n_runs = progress
  results = []
  for spec, i in zip(group, indices):
    elapsed = time.time() - t0
    eta = "" if done == 0 else f", grid eta ~{_hms(elapsed / done * (total - done))}"
    prefix = f"[{i + 1}/{n_runs} {_hms(elapsed)}{eta}] "
    done += _cost(spec)
    try:
      runner.run(spec, Path(out) / "runs" / spec.relpath(), log=lambda m: print(m, flush=True), prefix=prefix)
      results.append((spec.relpath(), None))
    except Exception as e:  # keep going: the other runs' results are still worth having
      traceback.print_exc()
      print(f"{prefix}{spec.relpath()} FAILED: {e!r}", flush=True)
      results.append((spec.relpath(), repr(e)))
  return results


def _groups(specs, jobs: int = 1):
  """Consecutive runs that differ only in the seed, to be trained in order by one worker (they
  share one traced trainer). With fewer groups than 2 x jobs (e.g. one game, three conditions,
  two workers) every run is its own group, so that no worker idles while another works through
  a whole group: there the saved tracing (~8 s a run) is small against the runs."""
  out = []
  for s in specs:
    if out and (out[-1][0].figure, out[-1][0].game, out[-1][0].condition) == (s.figure, s.game, s.condition):
      out[-1].append(s)
    else:
      out.append([s])
  if jobs > 1 and len(out) < 2 * jobs:
    out = [[s] for g in out for s in g]
  return out


def _run_grid(plan: Plan, jobs: int, t0: float):
  """Runs every spec, `jobs` groups at a time in worker processes (here when jobs == 1)."""
  total_cost = sum(_cost(s) for s in plan.specs)
  index = {id(s): i for i, s in enumerate(plan.specs)}
  state = dict(done_cost=0.0)
  failed = []

  def prefixes(group):
    return (t0, state["done_cost"], total_cost, [index[id(s)] for s in group], len(plan.specs))

  def collect(group, results):
    for rel, err in results:
      if err:
        failed.append((rel, err))
    state["done_cost"] += sum(_cost(s) for s in group)

  groups = _groups(plan.specs, jobs)
  if jobs == 1:
    for g in groups:
      collect(g, _run_group(g, str(plan.out), prefixes(g)))
    return failed
  import concurrent.futures as cf
  import multiprocessing as mp
  threads = max(1, (os.cpu_count() or 1) // jobs)
  with cf.ProcessPoolExecutor(max_workers=jobs, mp_context=mp.get_context("spawn"),
                              initializer=_init_worker, initargs=(threads,)) as pool:
    pending = {}
    while groups or pending:
      while groups and len(pending) < jobs:
        g = groups.pop(0)
        pending[pool.submit(_run_group, g, str(plan.out), prefixes(g))] = g
      finished, _ = cf.wait(pending, return_when=cf.FIRST_COMPLETED)
      for fut in finished:
        g = pending.pop(fut)
        try:
          results = fut.result()
        except Exception as e:  # a worker died (e.g. killed for memory)
          results = [(s.relpath(), repr(e)) for s in g]
        collect(g, results)
  return failed


def main(argv=None) -> int:
  args = build_parser().parse_args(argv)
  plan = plan_from_args(args)
  if args.list:
    shared = 0
    for s in plan.specs:
      uses = plan.serves.get(s.relpath(), [])
      note = f"  (one run serving {' and '.join(uses)})" if len(uses) > 1 else ""
      if s.game not in FIGURES[s.figure].games:
        note += "  [extension: not a game of the paper's figure]"
      shared += len(uses) > 1
      print(f"{s.relpath()}  frames={s.frames:,}{note}")
    total = sum(s.frames for s in plan.specs)
    print(f"{len(plan.specs)} runs ({shared} of them serve two figures), {total:,} frames in all")
    print(_grid_cost_line(plan.specs, args.jobs))
    return 0
  t0 = time.time()
  failed = []
  if not args.reports_only:
    print(f"== {len(plan.specs)} runs, scale {args.scale}, figures {plan.figures}, jobs {args.jobs}, "
          f"out {plan.out.resolve()}", flush=True)
    failed = _run_grid(plan, args.jobs, t0)
  write_reports(plan, f" [{args.scale} scale]")
  if args.reports_only:
    return 0
  print(f"== finished in {_hms(time.time() - t0)}; {len(plan.specs) - len(failed)} runs ok, {len(failed)} failed",
        flush=True)
  for name, err in failed:
    print(f"   FAILED {name}: {err}")
  return 1 if failed else 0


def write_reports(plan: Plan, note: str = ""):
  """Figure CSV/PDF, statistics and claims from whatever runs exist under plan.out/runs; says
  which of the plan's runs are missing or unfinished (and reports the rest)."""
  from artifact import claims, reports, statistics   # heavy imports after validation
  runs, out = plan.out / "runs", plan.out / "reports"
  unfinished = [s.relpath() for s in plan.specs if not (runs / s.relpath() / "done.json").exists()]
  if unfinished:
    started = [r for r in unfinished if (runs / r / "progress.csv").exists()]
    print(f"reports: {len(plan.specs) - len(unfinished)} of {len(plan.specs)} runs finished; "
          f"{len(started)} partial (reported up to their last row), "
          f"{len(unfinished) - len(started)} missing:", flush=True)
    for r in unfinished:
      print(f"   {'partial' if r in started else 'missing'} {r}")
  frames = {}
  for f in plan.figures:
    paths = reports.write_figure_reports(f, runs, out, note)
    frames[f] = reports.load_progress(runs, f)
    print(f"figure {f}: " + ", ".join(str(p) for p in paths.values()), flush=True)
  paths = statistics.write_statistics(frames, out, note)
  paths.update(claims.write_claims(frames, out, note))
  print("statistics and claims: " + ", ".join(str(p) for p in paths.values()), flush=True)
  if plan.run_theory:
    from artifact import theory
    paths = theory.write_theory_report(out)
    print("theory: " + ", ".join(str(p) for p in paths.values()), flush=True)


if __name__ == "__main__":
  sys.exit(main())
