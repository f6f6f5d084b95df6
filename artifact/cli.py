"""Command line: run every (figure, game, condition, seed) of the selected grid, then write reports.

  python -m artifact [--scale smoke|short|paper] [--figures 1,2,3] [--games Pong,...]
                     [--conditions a2c_1step,...] [--seeds 0,1] [--frames N] [--out DIR]
                     [--executor local|ray] [--checkpoint-every SECONDS] ...

`./run_all.sh` is this command inside the project's virtualenv. See --help.
"""
from __future__ import annotations

import argparse
import math
import os
import sys
import time
from pathlib import Path
from typing import List

from artifact.monitor import hms
from artifact.specs import ENV_GROUPS_VAR, FIGURES, MAX_FRAMES, SCALES, make_run_spec, parse_overrides

EPILOG = """
Grid: every figure's every (game, condition, seed) unless filtered. Budgets per run, in emulator
frames (= 4 x agent steps): smoke = Fig.1/3 6,400, Fig.2 1,200 (proves the pipeline on 2 CPU
cores, nothing learns; every schedule shrinks into the budget); short = Fig.1/3 10M, Fig.2 5M
(policies leave random play on most games); paper = Fig.1/3 320M, Fig.2 40M.

At short and paper scale a run is the first N frames of the paper's run: the learning rate and
epsilon follow the paper's schedules (over 320M / 40M frames), progress rows (every 100k frames)
and evaluations sit at points fixed in frames. --frames only says how far along to go, and the
same command with a larger --frames extends every finished run from where it stopped (exactly
as if it had gone straight there); finished runs keep the state that needs (DQN: the replay)
unless --no-extension-state.

Output under --out (default: the repository root):
  runs/figure{F}/{Game}/{condition}/seed{S}/  config.json, progress.csv, checkpoint/, policy/, done.json
  reports/figure{F}.csv, figure{F}_summary.csv, figure{F}.pdf, statistics.csv/.pdf (rliable
          intervals), claims.csv/.md (a verdict per claim, docs/decision_rules.md), theory.csv/.pdf
Runs that finished are skipped; killed runs resume from their last checkpoint (taken at every
evaluation and every --checkpoint-every seconds; DQN checkpoints include the replay).

Executors: --executor local (default) trains --jobs runs at once in worker processes on this
machine; --executor ray trains each run as a Ray task (--cpus-per-run, --gpus-per-run), retried
on another node when its node dies and resumed from its checkpoint. Without --ray-address a local
Ray instance on 127.0.0.1 is started; on a cluster --out must be a filesystem every node mounts
(checked before the grid starts). README, "Running on a Ray cluster".

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
  p.add_argument("--frames", default=None,
                 help="emulator frames per run, overrides the scale's budget (e.g. 3e6); a larger "
                      "value than a finished run's extends it")
  p.add_argument("--no-extension-state", action="store_true",
                 help="finished runs drop what an extension needs (DQN: its replay, ~7 KB per "
                      "transition; --list shows the disk it costs); a later --frames increase is "
                      "then refused for them. Default: kept at short and paper scale, dropped at smoke")
  p.add_argument("--out", default=".", help="directory for runs/ and reports/ (default: ., the "
                                             "repository root under ./run_all.sh)")
  p.add_argument("--jobs", type=int, default=2,
                 help="runs trained at once in worker processes (default 2: on 2 cores a run's "
                      "single-threaded tracing and saving overlap the other's training)")
  p.add_argument("--executor", default="local",
                 help="local (default: --jobs worker processes on this machine) or ray (each run a "
                      "Ray task, retried and resumed from its checkpoint if its node dies; README "
                      "'Running on a Ray cluster')")
  p.add_argument("--ray-address", default=None, metavar="HOST:PORT",
                 help="a running Ray cluster's head (ray start --head); default with --executor ray: "
                      "start a local Ray instance on 127.0.0.1")
  p.add_argument("--cpus-per-run", type=float, default=None, metavar="N",
                 help="CPUs a run declares to Ray (default 1) and its TF threads; with --executor "
                      "local, TF threads per worker (default: cores / --jobs)")
  p.add_argument("--gpus-per-run", type=float, default=None, metavar="N",
                 help="GPUs a run declares to Ray, e.g. 0.5 (default 0; --executor ray only)")
  p.add_argument("--checkpoint-every", type=float, default=300.0, metavar="SECONDS",
                 help="wall-clock seconds between checkpoints, on top of those at evaluations "
                      "(default 300): a kill loses at most this much training")
  p.add_argument("--env-groups", default="auto", metavar="auto|K",
                 help="A2C collection (Fig. 1/3): 1 = synchronous; K >= 2 = the 16 envs in K groups, "
                      "the policy acting on one group while the others' emulators step; auto "
                      "(default) = 2 if TensorFlow sees a GPU, else 1 (on 2 CPU cores overlapping "
                      "measured slower). Same rollouts bit for bit either way (a test checks it)")
  p.add_argument("--status-every", type=float, default=15.0, metavar="SECONDS",
                 help="seconds between the grid's summary lines (default 15)")
  p.add_argument("--no-theory", action="store_true", help="skip the numerical theorem checks")
  p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                 help="override a hyperparameter of the selected runs (repeatable), e.g. --set lr=3e-4 "
                      "--set tau=0.05; recorded in each run's config.json. Keys: the A2C / DQN "
                      "hyperparameters (docs/protocol.md section 5; precision=bfloat16 runs the CNN "
                      "torso in bfloat16) and condition arguments (tau)")
  p.add_argument("--list", action="store_true", help="print the selected runs and exit")
  p.add_argument("--reports-only", action="store_true",
                 help="train nothing: write the figure, statistics and claims reports from the runs "
                      "already under --out (finished or partial; missing ones are listed)")
  return p


class UsageError(SystemExit):
  """A bad argument, refused before any work: exit status 2 (as argparse's own errors). `main`
  prints the message (which names the bad value and the allowed ones) to stderr; str(e) is it."""

  def __init__(self, message: str):
    super().__init__(message)
    self.code = 2


GLOB_CHARACTERS = "[*?"     # TF's checkpoint clean-up globs the run directories' paths


def _finite_positive(name: str, value):
  """None, or the error text for a value of --name that is not a finite number > 0."""
  if value is None:
    return None
  if not math.isfinite(value):
    return f"--{name} must be a finite number > 0, got {value:g}"
  if not value > 0:
    return f"--{name} must be > 0, got {value:g}"
  return None


class Plan:
  """The validated grid: `specs` (each run once), `serves` (relpath -> the figure/condition
  curves that run is reported as; two entries for a run shared by two figures)."""

  def __init__(self, specs, figures, out: Path, run_theory: bool, serves=None):
    self.specs, self.figures, self.out, self.run_theory = specs, figures, out, run_theory
    self.serves = serves or {}


def plan_from_args(args) -> Plan:
  """Validates every argument before any work (nothing is written before every check passed;
  then --out is created); raises UsageError (SystemExit, status 2) naming the bad value and the
  allowed ones."""
  def fail(msg):
    raise UsageError(f"run_all.sh: error: {msg}")

  if args.jobs < 1:
    fail(f"--jobs must be >= 1, got {args.jobs}")
  from artifact.executors import EXECUTORS
  if args.executor not in EXECUTORS:
    fail(f"unknown --executor {args.executor!r}; valid: {', '.join(EXECUTORS)}")
  for name in ("cpus_per_run", "gpus_per_run", "checkpoint_every", "status_every"):
    problem = _finite_positive(name.replace("_", "-"), getattr(args, name))
    if problem:
      fail(problem)
  if args.env_groups != "auto" and not (args.env_groups.isdigit() and int(args.env_groups) >= 1):
    fail(f"--env-groups must be auto or an integer in [1, num_envs] (16 envs per A2C run), "
         f"got {args.env_groups!r}")
  if args.ray_address is not None and not args.ray_address.strip():
    fail(f"--ray-address {args.ray_address!r} is empty; give the Ray cluster's head as HOST:PORT "
         f"(e.g. 10.0.0.5:6379), or leave --ray-address out to start a local Ray instance")
  if args.executor == "local" and args.ray_address:
    fail(f"--ray-address {args.ray_address!r} needs --executor ray")
  if args.executor == "local" and args.gpus_per_run:
    fail("--gpus-per-run is for --executor ray (local runs use whatever device TensorFlow finds)")
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
      value = float(args.frames)
    except ValueError:
      value = float("nan")
    if not (math.isfinite(value) and value >= 1 and value == int(value)):
      fail(f"--frames must be a positive integer (whole emulator frames, e.g. 3000000 or 3e6), "
           f"got {args.frames!r}")
    if value > MAX_FRAMES:
      fail(f"--frames must be at most {MAX_FRAMES:,} (beyond any budget), got {args.frames!r}")
    frames = int(value)
  seeds = None
  if args.seeds is not None:
    try:
      seeds = [int(s) for s in _csv(args.seeds)]
    except ValueError:
      fail(f"--seeds must be comma-separated non-negative integers, got {args.seeds!r}")
    if not seeds or any(s < 0 for s in seeds):
      fail(f"--seeds must be comma-separated non-negative integers, got {args.seeds!r}")
    twice = sorted({s for s in seeds if seeds.count(s) > 1})
    if twice:
      fail(f"--seeds {args.seeds!r} lists seed {', '.join(map(str, twice))} more than once; each "
           f"seed is one run: list each once")
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
  out = Path(args.out).resolve()
  bad = sorted({c for c in str(out) if c in GLOB_CHARACTERS})
  if bad:
    fail(f"--out {str(out)!r} contains {', '.join(map(repr, bad))}: TensorFlow's checkpoint "
         f"clean-up treats the run directories' paths as glob patterns, so --out may not contain "
         f"any of {', '.join(map(repr, GLOB_CHARACTERS))}; choose another directory")
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
            spec = make_run_spec(f, game, cond.name, seed, args.scale, frames, overrides,
                                 keep_extension_state=False if args.no_extension_state else None)
          except ValueError as e:
            fail(str(e) + (f" (--set {' --set '.join(args.set)})" if args.set else ""))
          rel = spec.relpath()
          if rel not in serves:               # a run shared by two figures is trained once
            specs.append(spec)
            serves[rel] = []
          serves[rel].append(f"figure {f} {cond.name}")
  if not specs and not (3 in figures and not args.no_theory):
    fail("the filters select no run")
  if args.env_groups != "auto":
    envs = min((s.hparams.num_envs for s in specs if s.family == "a2c"), default=None)
    if envs is not None and int(args.env_groups) > envs:
      fail(f"--env-groups {args.env_groups}: more groups than the {envs} envs of an A2C run")
  try:                                 # the first thing written, after every check
    out.mkdir(parents=True, exist_ok=True)
    probe = out / f".write_test_{os.getpid()}"
    probe.write_text("ok")
    probe.unlink()
  except OSError as e:
    fail(f"--out {str(out)!r} is not writable: {e}")
  if args.env_groups != "auto":
    os.environ[ENV_GROUPS_VAR] = str(int(args.env_groups))   # inherited by every run's process
  return Plan(specs, figures, out, run_theory=(3 in figures and not args.no_theory), serves=serves)


# Training frames/s of one run while another runs beside it on the 2-core machine (--jobs 2),
# evaluation included: A2C framework measured on the Seaquest reference runs (~1,900), DQN from
# the benchmark's single-run 298 frames/s less the sharing (an estimate). Used when no
# reports/bench.csv exists; the README quotes these.
FPS_PER_RUN = {"a2c": 1_900.0, "dqn": 250.0}
# bench.csv metrics, best first: per-run speed in a two-run grid, then a lone run's speed
BENCH_METRICS = {"a2c": ("grid_a2c_fps_per_run", "a2c_train"), "dqn": ("grid_dqn_fps_per_run", "dqn_train")}


def throughput_per_run(out: Path):
  """({family: frames/s per run}, source text): from the first reports/bench.csv found (under
  --out, then the repository), else the built-in FPS_PER_RUN."""
  repo = Path(__file__).resolve().parent.parent
  for path in (out / "reports" / "bench.csv", repo / "reports" / "bench.csv"):
    if not path.is_file():
      continue
    try:
      import csv
      with open(path, newline="") as f:
        values = {r["metric"]: float(r["value"]) for r in csv.DictReader(f)}
    except (OSError, KeyError, ValueError):
      continue
    fps, used = {}, []
    for fam, names in BENCH_METRICS.items():
      name = next((n for n in names if values.get(n, 0) > 0), None)
      fps[fam] = values[name] if name else FPS_PER_RUN[fam]
      used.append(name or f"built-in {fam}")
    return fps, f"{path} ({', '.join(used)})"
  return dict(FPS_PER_RUN), "built-in 2-core machine figures (README; no reports/bench.csv)"


def _cost(spec, fps) -> float:
  """Rough seconds a run takes: ~8 s fixed + frames / the family's frames/s per run."""
  return 8.0 + spec.frames / fps[spec.family]


def _grid_cost_line(specs, jobs: int, out: Path) -> str:
  fps, source = throughput_per_run(out)
  seconds = sum(_cost(s, fps) for s in specs)          # one core per run
  cores = os.cpu_count() or 1
  wall = seconds / max(1, min(jobs, cores, len(specs) or 1))
  return (f"estimated cost: {seconds / 3600:,.1f} core-hours; wall time at --jobs {jobs} on this "
          f"{cores}-core machine ~{hms(wall)} (at {fps['a2c']:,.0f} A2C-framework / "
          f"{fps['dqn']:,.0f} DQN frames/s per run, from {source})")


# --- disk: what the runs' checkpoints need -------------------------------------------------------
A2C_CHECKPOINT_BYTES = 14e6        # weights + RMSProp mean squares (measured: 13 MB)
DQN_CHECKPOINT_BYTES = 28e6        # online + target weights + Adam moments
POLICY_BYTES = 7e6                 # PolicySaver SavedModel
REPLAY_CHECKPOINT_BYTES_PER_TRANSITION = 7_400.0   # measured 6,754 (Pong), 5,644 (SpaceInvaders); ~10% margin


def extension_state_bytes(spec) -> float:
  """Bytes a finished run keeps so that it can be extended: the DQN replay (min(capacity, agent
  steps) transitions) and the training env's action log (1 byte per agent step)."""
  if not spec.keep_extension_state:
    return 0.0
  replay = (0 if spec.family == "a2c" else
            min(spec.hparams.replay_capacity, spec.frames // 4) * REPLAY_CHECKPOINT_BYTES_PER_TRANSITION)
  return replay + spec.frames / 4


def disk_needed(specs, concurrent: int) -> float:
  """Bytes the grid's runs need on disk: every run's final checkpoint and policy (with its
  extension state), plus, for the `concurrent` largest runs training at once, two checkpoints
  kept and a third being written (for DQN each with its replay: min(capacity, agent steps)
  transitions)."""
  def final(s):
    return ((A2C_CHECKPOINT_BYTES if s.family == "a2c" else DQN_CHECKPOINT_BYTES) + POLICY_BYTES
            + extension_state_bytes(s))

  def training(s):
    if s.family == "a2c":
      return 3 * A2C_CHECKPOINT_BYTES
    transitions = min(s.hparams.replay_capacity, s.frames // 4)
    return 3 * (DQN_CHECKPOINT_BYTES + transitions * REPLAY_CHECKPOINT_BYTES_PER_TRANSITION)
  peaks = sorted((training(s) for s in specs), reverse=True)[:max(1, concurrent)]
  return sum(final(s) for s in specs) + sum(peaks)


def check_disk(specs, out: Path, concurrent: int):
  import shutil
  need, free = disk_needed(specs, concurrent), shutil.disk_usage(out).free
  if need > free:
    raise UsageError(f"run_all.sh: error: --out {str(out)!r} has {free / 1e9:,.1f} GB free, but the "
                     f"selected runs' checkpoints need about {need / 1e9:,.1f} GB ({concurrent} "
                     f"training at once; DQN checkpoints hold the replay, "
                     f"~{REPLAY_CHECKPOINT_BYTES_PER_TRANSITION:,.0f} bytes per transition). Free "
                     f"space, use another --out, or select fewer runs")


def _executor_from(args):
  from artifact.executors import make_executor
  return make_executor(args.executor, jobs=args.jobs, checkpoint_every=args.checkpoint_every,
                       ray_address=args.ray_address, cpus_per_run=args.cpus_per_run,
                       gpus_per_run=args.gpus_per_run)


def _run_grid(plan: Plan, executor, interval_s: float = 15.0):
  """Trains every spec with `executor`, printing the live summary. Returns the failures."""
  from artifact.monitor import GridMonitor
  monitor = GridMonitor({s.relpath(): s.frames for s in plan.specs}, interval_s=interval_s)
  failed = executor.run(plan.specs, plan.out, monitor)
  monitor.maybe_print_summary(force=True)
  return failed


def main(argv=None) -> int:
  """The command; returns its exit status (0, or 1 if a run failed). A bad argument raises
  UsageError (exit status 2) after printing its message to stderr, before any work."""
  try:
    return _main(argv)
  except UsageError as e:
    print(e, file=sys.stderr, flush=True)
    raise


def _main(argv=None) -> int:
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
      ext = extension_state_bytes(s)
      print(f"{s.relpath()}  frames={s.frames:,}"
            + (f"  extension state {ext / 1e6:,.1f} MB" if ext else "") + note)
    total = sum(s.frames for s in plan.specs)
    ext = sum(extension_state_bytes(s) for s in plan.specs)
    print(f"{len(plan.specs)} runs ({shared} of them serve two figures), {total:,} frames in all; "
          + (f"finished runs keep {ext / 1e9:,.2f} GB of extension state (--no-extension-state "
             f"drops it)" if ext else "no extension state kept"))
    print(_grid_cost_line(plan.specs, args.jobs, plan.out))
    return 0
  t0 = time.time()
  failed = []
  if not args.reports_only:
    executor = _executor_from(args)
    try:
      try:
        executor.start(plan.out)
      except ValueError as e:          # ExecutorError: before any run directory is written
        raise UsageError(f"run_all.sh: error: {e}") from None
      check_disk(plan.specs, plan.out, min(executor.slots(), len(plan.specs)))
      if args.executor == "local":     # Ray runs use the cluster nodes' memory, not this machine's
        from artifact.memory import check_memory
        check_memory(plan.specs, min(executor.slots(), len(plan.specs)))
      print(f"== {len(plan.specs)} runs, scale {args.scale}, figures {plan.figures}, "
            f"{executor.describe()}, checkpoints every {args.checkpoint_every:g}s, "
            f"out {plan.out}", flush=True)
      failed = _run_grid(plan, executor, args.status_every)
    finally:
      executor.close()
  report_failures = write_reports(plan, f" [{args.scale} scale]")
  if not args.reports_only:
    print(f"== finished in {hms(time.time() - t0)}; {len(plan.specs) - len(failed)} runs ok, "
          f"{len(failed)} failed", flush=True)
    for name, err in failed:
      print(f"   FAILED {name}: {err}")
  for err in report_failures:
    print(f"   REPORT FAILED {err}", flush=True)
  return 1 if failed or report_failures else 0


def write_reports(plan: Plan, note: str = "") -> List[str]:
  """Figure CSV/PDF, parity, statistics, claims (and theory) from whatever runs exist under
  plan.out/runs; says which of the plan's runs are missing or unfinished (and reports the rest).
  Every file is written atomically; a report that fails (a full disk, say) is named and the
  others are still written. Returns the failed reports' descriptions ([] if none)."""
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
  frames = {f: reports.load_progress(runs, f, grid) for f in plan.figures}
  for f in plan.figures:
    attempt(f"figure {f}", lambda f=f: reports.write_figure_reports(f, runs, out, note, grid))
  attempt("parity with published curves", lambda: parity.write_parity(runs, out, grid=grid))
  attempt("statistics", lambda: statistics.write_statistics(frames, out, note))
  attempt("claims", lambda: claims.write_claims(frames, out, note))
  if plan.run_theory:
    from artifact import theory
    attempt("theory", lambda: theory.write_theory_report(out))
  return failed


if __name__ == "__main__":
  sys.exit(main())
