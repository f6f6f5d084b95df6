"""Command line: the arguments (`build_parser`, its epilog) and `main`, which only dispatches.

  python -m artifact [--scale smoke|short|paper] [--figures 1,2,3] [--games Pong,...]
                     [--conditions a2c_1step,...] [--seeds 0,1] [--frames N] [--out DIR]
                     [--executor local|ray] [--checkpoint-every SECONDS] ...

`./run_all.sh` is this command inside the project's virtualenv. See --help. `main` plans the grid
(`artifact.grid.planning`), lists it with its cost (`artifact.grid.cost`), or checks the disk
(`budget`) and memory (`artifact.grid.memory`), trains it with an executor
(`artifact.grid.executors`) and writes the reports (`artifact.analysis.reports`).
"""
from __future__ import annotations

import argparse
import shlex
import signal
import sys
import textwrap
import time
import uuid

from artifact.analysis.reports import write_reports
from artifact.experiment.registry import FIGURES
from artifact.experiment.scales import SCALES, frames_text
from artifact.experiment.schedule import LOG_EVERY_FRAMES
from artifact.grid import executors
from artifact.grid.cost import check_disk, print_grid
from artifact.grid.memory import check_memory
from artifact.grid.monitor import GridMonitor, hms
from artifact.grid.planning import Plan, UsageError, plan_from_args, run_command
from artifact.training import stopping
from artifact.training.machine import use_onednn

# What each scale is for, said in the epilog next to its budgets (which come from SCALES).
SCALE_PURPOSE = {"smoke": "proves the pipeline on 2 CPU cores, nothing learns",
                 "short": "policies leave random play on most games"}


def _and(words) -> str:
  """'a, b and c'."""
  words = list(words)
  return ", ".join(words[:-1]) + " and " + words[-1] if len(words) > 1 else "".join(words)


def _scale_budgets(scale) -> str:
  """'Fig.1/3 6,400, Fig.2 1,200': each figure's budget per run at `scale`, equal ones together."""
  figures_by_budget = {}
  for f, fig in FIGURES.items():
    for budget in sorted({scale.frames_for(fig, c.family) for c in fig.conditions}):
      figures_by_budget.setdefault(budget, []).append(str(f))
  return ", ".join(f"Fig.{'/'.join(fs)} {frames_text(b)}" for b, fs in figures_by_budget.items())


def _scales_epilog() -> str:
  """The epilog's scale paragraphs (`artifact.experiment.scales.SCALES`, `FIGURES`, `schedule`)."""
  scales = []
  for name, sc in SCALES.items():
    notes = ([SCALE_PURPOSE[name]] if name in SCALE_PURPOSE else []) + (
        [] if sc.paper_schedules else ["every schedule shrinks into the budget"])
    scales.append(f"{name} = {_scale_budgets(sc)}" + (f" ({'; '.join(notes)})" if notes else ""))
  horizons = dict.fromkeys(frames_text(fig.paper_frames) for fig in FIGURES.values())
  paragraphs = [
      "Grid: every figure's every (game, condition, seed) unless filtered. Budgets per run, in "
      "emulator frames (= 4 x agent steps): " + "; ".join(scales) + ".",
      f"At {_and(n for n, sc in SCALES.items() if sc.paper_schedules)} scale a run is the first N "
      f"frames of the paper's run: the learning rate and epsilon follow the paper's schedules "
      f"(over {' / '.join(horizons)} frames), progress rows (every {frames_text(LOG_EVERY_FRAMES)} "
      f"frames) and evaluations sit at points fixed in frames. --frames only says how far along "
      f"to go, and the same command with a larger --frames extends every finished run from where "
      f"it stopped (exactly as if it had gone straight there); finished runs keep the state that "
      f"needs (DQN: the replay) unless --no-extension-state."]
  return "\n" + "\n\n".join(textwrap.fill(p, 96, break_on_hyphens=False, break_long_words=False)
                             for p in paragraphs) + "\n"


EPILOG = """
Output under --out (default: the repository root):
  runs/figure{F}/{Game}/{condition}/seed{S}/  config.json, progress.csv, checkpoint/, policy/, \
done.json
  reports/figure{F}.csv, figure{F}_summary.csv, figure{F}.pdf, statistics.csv/.pdf (rliable
          intervals), claims.csv/.md (a verdict per claim, docs/decision_rules.md), theory.csv/.pdf
Runs that finished are skipped; killed runs resume from their last checkpoint (taken at every
evaluation and every --checkpoint-every seconds; DQN checkpoints include the replay).

Executors: --executor local (default) trains --jobs runs at once in worker processes on this
machine; --executor ray trains each run as a Ray task (--cpus-per-run, --gpus-per-run), retried
on another node when its node dies and resumed from its checkpoint. Without --ray-address a local
Ray instance on 127.0.0.1 is started; on a cluster --out must be a filesystem every node mounts
(checked before the grid starts). docs/operations.md, "Running on a Ray cluster".

"""


def _conditions_epilog() -> str:
  """The epilog's list of each figure's conditions (`artifact.experiment.registry.FIGURES`)."""
  lines = ["Conditions (from the figure specs):"]
  for f, fig in FIGURES.items():
    names = [c.name + (f" (= figure {c.same_run_as[0]} {c.same_run_as[1]}, trained once)"
                       if c.same_run_as else "") for c in fig.conditions]
    lines.append(f"  Fig.{f}: " + ", ".join(names))
  return "\n".join(lines) + "\n"


def build_parser() -> argparse.ArgumentParser:
  """The command line's parser (prog run_all.sh): every option with its default and units
  (frames, seconds, CPUs/GPUs per run); the epilog lists the scales' budgets, the outputs, the
  executors and the conditions. Values are parsed as text here and checked by `plan_from_args`."""
  p = argparse.ArgumentParser(
      prog="run_all.sh",
      description="Reproduce Schulman, Chen, Abbeel (2017) 'Equivalence Between Policy Gradients "
                  "and Soft Q-Learning' on real Atari games: train, evaluate, report.",
      epilog=_scales_epilog() + EPILOG + _conditions_epilog(),
      formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument("--scale", default="smoke", help=f"one of {', '.join(SCALES)} (default smoke)")
  p.add_argument("--figures", default=",".join(map(str, FIGURES)),
                 help="comma-separated figure numbers (default: all, %(default)s)")
  p.add_argument("--games", default=None,
                 help="comma-separated games, e.g. Pong,Breakout (default: each figure's). Any ALE "
                      "game works; games the paper did not run are marked [extension] in the "
                      "reports")
  p.add_argument("--conditions", default=None,
                 help="comma-separated condition names (default: all)")
  p.add_argument("--seeds", default=None,
                 help="comma-separated integer seeds (default: the figure's)")
  p.add_argument("--frames", default=None,
                 help="emulator frames per run, overrides the scale's budget (e.g. 3e6); a larger "
                      "value than a finished run's extends it")
  p.add_argument("--no-extension-state", action="store_true",
                 help="finished runs drop what an extension needs (DQN: its replay, ~7 KB per "
                      "transition; --list shows the disk it costs); a later --frames increase is "
                      "then refused for them. Default: kept at short and paper scale, dropped at "
                      "smoke")
  p.add_argument("--out", default=".", help="directory for runs/ and reports/ (default: ., the "
                                             "repository root under ./run_all.sh)")
  p.add_argument("--jobs", type=int, default=2,
                 help="runs trained at once in worker processes (default 2: on 2 cores a run's "
                      "single-threaded tracing and saving overlap the other's training)")
  p.add_argument("--executor", default="local",
                 help="local (default: --jobs worker processes on this machine) or ray (each run a "
                      "Ray task, retried and resumed from its checkpoint if its node dies; "
                      "docs/operations.md, 'Running on a Ray cluster')")
  p.add_argument("--ray-address", default=None, metavar="HOST:PORT",
                 help="a running Ray cluster's head (ray start --head); default with --executor "
                      "ray: start a local Ray instance on 127.0.0.1")
  p.add_argument("--cpus-per-run", type=float, default=None, metavar="N",
                 help="CPUs a run declares to Ray (default 1) and its TF threads; with --executor "
                      "local, TF threads per worker (default: cores / --jobs)")
  p.add_argument("--gpus-per-run", type=float, default=None, metavar="N",
                 help="GPUs a run declares to Ray, e.g. 0.5 (default 0; --executor ray only)")
  p.add_argument("--checkpoint-every", type=float, default=300.0, metavar="SECONDS",
                 help="wall-clock seconds between checkpoints, on top of those at evaluations "
                      "(default 300): a kill loses at most this much training")
  p.add_argument("--env-groups", default="auto", metavar="auto|K",
                 help="A2C collection (Fig. 1/3): 1 = synchronous; K >= 2 = the 16 envs in K "
                      "groups, the policy acting on one group while the others' emulators step; "
                      "auto (default) = 2 if TensorFlow sees a GPU, else 1 (on 2 CPU cores "
                      "overlapping measured slower). Same rollouts bit for bit either way (a test "
                      "checks it)")
  p.add_argument("--status-every", type=float, default=15.0, metavar="SECONDS",
                 help="seconds between the grid's summary lines (default 15)")
  p.add_argument("--no-theory", action="store_true", help="skip the numerical theorem checks")
  p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                 help="override a hyperparameter of the selected runs (repeatable), e.g. --set "
                      "lr=3e-4 --set tau=0.05; recorded in each run's config.json. Keys: the A2C / "
                      "DQN hyperparameters (docs/protocol.md section 5; precision=bfloat16 runs "
                      "the CNN torso in bfloat16) and condition arguments (tau)")
  p.add_argument("--list", action="store_true",
                 help="print the grid's summary and exit: runs, frames, core-hours (whole hours) "
                      "and what finished runs keep on disk, per figure and in all; this machine; "
                      "the wall time at --jobs. Trains nothing")
  p.add_argument("--runs", action="store_true",
                 help="with --list: after the summary, list every run "
                      "(figureF/Game/condition/seedS, its frames, its extension state, the figures "
                      "it serves)")
  p.add_argument("--force-bfloat16", action="store_true",
                 help="run --set precision=bfloat16 even on a CPU without native bfloat16 "
                      "(AVX512_BF16 or AMX), where it is refused by default: there TensorFlow "
                      "emulates it, about 4x slower than float32")
  p.add_argument("--reports-only", action="store_true",
                 help="train nothing: write the figure, statistics and claims reports from the "
                      "runs already under --out (finished or partial; missing ones are listed)")
  return p


def _executor_from(args, plan: Plan):
  """The executor --executor names, with the command line's settings (`make_executor`)."""
  return executors.make_executor(args.executor, jobs=args.jobs,
                                 checkpoint_every=args.checkpoint_every,
                       ray_address=args.ray_address, cpus_per_run=args.cpus_per_run,
                       gpus_per_run=args.gpus_per_run, env_groups=plan.env_groups)


def _run_grid(plan: Plan, executor, monitor: GridMonitor, stop_file):
  """Trains every spec with `executor`, printing the live summary into `monitor`. Returns (the
  failures [(relpath, error)], the relpaths of the runs another process was training: not this
  grid's to finish, not failures)."""
  failed = executor.run(plan.specs, plan.out, monitor, stop_file=stop_file)
  monitor.maybe_print_summary(force=True)
  return failed, [r for r, state in monitor.state.items() if state == "elsewhere"]


def _stop_on_signals(stop_file):
  """SIGTERM / SIGINT handlers of the grid (`artifact.training.stopping.install`): the first
  one asks every run to checkpoint at its next update and stop (the stop file tells the worker
  processes and Ray tasks; `--jobs 1` trains here and sees the flag itself), a second one ends
  the grid at once. Returns the previous handlers."""
  def first(name):
    err = stopping.write_stop_file(stop_file, name)
    print(f"== {name}: stopping: each training run writes a checkpoint at its next update and "
          f"stops, no new run starts (a second {name} or Ctrl-C stops at once, losing what was "
          f"trained since each run's last checkpoint)"
          + (f"; the stop file {stop_file} could not be written ({err})" if err else ""),
          flush=True)

  def second(name):
    print(f"== second {name}: stopping at once; the runs resume from their last checkpoints "
          f"with the same command", flush=True)
  return stopping.install(first, second)


def _stopped_exit(reason: str, monitor: GridMonitor, argv, t0: float) -> int:
  """Prints the stopped grid's one-line account with the command that resumes it; returns the
  exit status, 128 + the signal's number (130 for SIGINT, 143 for SIGTERM)."""
  c = monitor.counts()
  not_started = c["queued"] + c["running"]
  print(f"== stopped by {reason} after {hms(time.time() - t0)}: {c['done']} run(s) finished, "
        f"{c['stopped']} stopped at a checkpoint, {not_started} not started"
        + (f", {c['failed']} failed" if c["failed"] else "")
        + f"; resume with the same command: ./run_all.sh {shlex.join(argv)} "
          f"(--reports-only writes the reports of what finished)", flush=True)
  for name, err in monitor.errors.items():
    print(f"   FAILED {name}: {err.splitlines()[-1] if err else ''}")
  try:
    return 128 + signal.Signals[reason].value
  except KeyError:
    return 1


def main(argv=None) -> int:
  """The command; returns its exit status: 0; 1 if a run failed, a report failed, or a run's
  files are damaged (named, and left out of every report). A run another process trains (another
  grid holds its directory) is not a failure. A bad argument raises UsageError (exit status 2)
  after printing its message to stderr, before any work."""
  return run_command(_main, argv)


def _main(argv=None) -> int:
  argv = list(sys.argv[1:] if argv is None else argv)
  args = build_parser().parse_args(argv)
  if args.runs and not args.list:
    raise UsageError("run_all.sh: error: --runs lists the runs of --list: give it with --list")
  plan = plan_from_args(args)
  if plan.kernels is not None:  # before TensorFlow loads here or in a worker (they inherit it)
    use_onednn(plan.kernels.onednn)
  if args.list:
    print_grid(plan, args.jobs, runs=args.runs)
    return 0
  t0 = time.time()
  failed, elsewhere = [], []
  if not args.reports_only:
    executor = _executor_from(args, plan)
    stop_file = stopping.stop_file(plan.out, uuid.uuid4().hex[:12])
    stopping.clear()
    previous = _stop_on_signals(stop_file)
    monitor = GridMonitor({s.relpath(): s.frames for s in plan.specs},
                          interval_s=args.status_every)
    try:
      try:
        executor.start(plan.out)
      except ValueError as e:          # ExecutorError: before any run directory is written
        raise UsageError(f"run_all.sh: error: {e}") from None
      check_disk(plan.specs, plan.out, min(executor.slots(), len(plan.specs)))
      if args.executor == "local":     # Ray runs use the cluster nodes' memory, not this machine's
        check_memory(plan.specs, min(executor.slots(), len(plan.specs)))
      print(f"== {len(plan.specs)} runs, scale {args.scale}, figures {plan.figures}, "
            f"{executor.describe()}, checkpoints every {args.checkpoint_every:g}s, "
            f"TensorFlow {plan.kernels.describe()}, out {plan.out}", flush=True)
      failed, elsewhere = _run_grid(plan, executor, monitor, stop_file)
    finally:
      executor.close()
      stopping.restore(previous)
      stop_file.unlink(missing_ok=True)
    if stopping.requested():
      return _stopped_exit(stopping.requested(), monitor, argv, t0)
  report_failures = write_reports(plan, args.scale)
  lost = None if args.reports_only else getattr(executor, "lost", None)
  if lost:                             # the Ray cluster went away: the local account of it
    c = monitor.counts()
    print(f"== {lost}, after {hms(time.time() - t0)}: {c['done']} run(s) finished, "
          f"{c['stopped']} stopped at a checkpoint, {len(failed)} not finished; the reports "
          f"above hold what finished. Resume with the same command once the cluster is back (or "
          f"on this machine with --executor local): ./run_all.sh {shlex.join(argv)}", flush=True)
    for name, err in failed:
      print(f"   NOT FINISHED {name}: {err}")
    return 1
  if not args.reports_only:
    ok = len(plan.specs) - len(failed) - len(elsewhere)
    print(f"== finished in {hms(time.time() - t0)}; {ok} runs ok, {len(failed)} failed"
          + (f", {len(elsewhere)} trained by another process (not this grid's to finish: rerun "
             f"the command once it is done, to report them finished)" if elsewhere else ""),
          flush=True)
    for name, err in failed:
      print(f"   FAILED {name}: {err}")
    for name in elsewhere:
      print(f"   ELSEWHERE {name}")
  for err in report_failures:
    print(f"   REPORT FAILED {err}", flush=True)
  return 1 if failed or report_failures else 0


if __name__ == "__main__":
  sys.exit(main())
