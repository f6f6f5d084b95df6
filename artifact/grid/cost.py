"""What a grid costs before it runs: time (frames/s per run, the --list cost line) and disk
(checkpoints).

RAM is `artifact.grid.memory`. The command line prints the cost with --list and refuses, before any
run starts, a grid whose checkpoints do not fit on --out's disk (`check_disk`).
"""
from __future__ import annotations

import csv
import os
import shutil
import sys
from pathlib import Path

from artifact.experiment.registry import FIGURES
from artifact.grid.planning import UsageError
from artifact.training.machine import cpu_facts, kind
from envs.games import FRAMESKIP

# Training frames/s of one run while another runs beside it (--jobs 2) on 2 cores of an AMD EPYC
# (AVX2; tensorflow-cpu 2.15.1, no GPU), evaluation included: A2C framework measured on the
# Seaquest reference runs (~1,900), DQN from the benchmark's single-run 298 frames/s less the
# sharing (an estimate). Used when no reports/bench.csv exists; docs/performance.md ("Measured")
# and docs/operations.md ("Running the grid") quote these.
FPS_PER_RUN = {"a2c": 1_900.0, "dqn": 250.0}
# bench.csv metrics, best first: per-run speed in a two-run grid, then a lone run's speed
BENCH_METRICS = {"a2c": ("grid_a2c_fps_per_run", "a2c_train"),
                 "dqn": ("grid_dqn_fps_per_run", "dqn_train")}


def throughput_per_run(out: Path):
  """({family: frames/s per run}, source text): from the first reports/bench.csv found (under
  --out, then the repository), else the built-in FPS_PER_RUN."""
  repo = Path(__file__).resolve().parents[2]           # artifact/grid/cost.py -> the repository
  for path in (out / "reports" / "bench.csv", repo / "reports" / "bench.csv"):
    if not path.is_file():
      continue
    try:
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
  return dict(FPS_PER_RUN), ("built-in figures measured on 2 CPU cores (docs/performance.md; no "
                             "reports/bench.csv)")


def _cost(spec, fps) -> float:
  """Rough seconds a run takes: ~8 s fixed + frames / the family's frames/s per run."""
  return 8.0 + spec.frames / fps[spec.family]


def core_hours_text(hours: float) -> str:
  """Core-hours as the estimate they are: '~53 core-hours' (whole hours), 'under 1 core-hour'."""
  return f"~{round(hours):,} core-hours" if hours >= 0.5 else "under 1 core-hour"


def rough_duration(seconds: float) -> str:
  """A wall time as the estimate it is: whole minutes below an hour ('14 min'; at least 1),
  whole hours from 1 h on ('240 h'), with days from 48 h ('240 h = 10 days')."""
  if round(seconds / 60) < 60:
    return f"{max(1, round(seconds / 60))} min"
  hours = round(seconds / 3600)
  return f"{hours:,} h" + (f" = {round(hours / 24):,} days" if hours >= 48 else "")


def grid_cost_line(specs, jobs: int, out: Path) -> str:
  """The estimated core-hours and wall time of training `specs` at --jobs `jobs`, rounded to
  the hour (to the minute below an hour: `rough_duration`), and the speeds they assume."""
  fps, source = throughput_per_run(out)
  seconds = sum(_cost(s, fps) for s in specs)          # one core per run
  cores = os.cpu_count() or 1
  wall = seconds / max(1, min(jobs, cores, len(specs) or 1))
  return (f"estimated cost: {core_hours_text(seconds / 3600)}; wall time at --jobs {jobs} "
          f"on this {cores}-core machine ~{rough_duration(wall)} (at {fps['a2c']:,.0f} "
          f"A2C-framework / {fps['dqn']:,.0f} DQN frames/s per run, from {source})")


def _by_figure(plan):
  """{figure: (its runs, the runs it shares that are counted under an earlier figure)}: each run
  counted under the first selected figure whose curve it is (a run serving two figures, as
  Figure 3's pg is Figure 1's a2c_proper, under the first), in figure order."""
  figures = sorted(int(f) for f in plan.figures)
  own = {f: [] for f in figures}
  shared = {f: [] for f in figures}
  for s in plan.specs:
    served = [int(u.split()[1]) for u in plan.serves.get(s.relpath(), [])] or [s.figure]
    first, *later = sorted(f for f in served if f in own) or [s.figure]
    own.setdefault(first, []).append(s)
    for f in later:
      shared[f].append(s)
  return {f: (own[f], shared.get(f, [])) for f in sorted(own) if own[f] or shared.get(f)}


def print_grid(plan, jobs: int, runs: bool = False, stream=None):
  """--list: the summary first (runs, frames, core-hours and what finished runs keep on disk,
  per figure and in all; this machine and its kernel path; the cost line), then with `runs`
  (--list --runs) each run of `plan` with its budget, extension state and the figures it serves.
  Printed to `stream` (default stdout)."""
  out = sys.stdout if stream is None else stream
  fps, _ = throughput_per_run(plan.out)
  shared = sum(len(plan.serves.get(s.relpath(), [])) > 1 for s in plan.specs)
  total = sum(s.frames for s in plan.specs)
  print(f"{len(plan.specs)} runs ({shared} of them serve two figures), {total:,} frames in all",
        file=out)
  for f, (own, shared_in) in _by_figure(plan).items():
    kept = sum(final_bytes(s) for s in own)
    ext = sum(extension_state_bytes(s) for s in own)
    print(f"  figure {f}: {len(own)} run{'' if len(own) == 1 else 's'}"
          + (f" (+{len(shared_in)} of figure "
             f"{', '.join(sorted({str(s.figure) for s in shared_in}))}'s, "
             f"trained once)" if shared_in else "")
          + f", {sum(s.frames for s in own):,} frames, "
          f"{core_hours_text(sum(_cost(s, fps) for s in own) / 3600)}; finished runs keep "
          f"{size_text(kept)}" + (f" ({size_text(ext)} of it extension state)" if ext else ""),
          file=out)
  ext = sum(extension_state_bytes(s) for s in plan.specs)
  print("  " + (f"extension state: {size_text(ext)} in all (--no-extension-state drops it)" if ext
                else "no extension state kept"), file=out)
  print(f"this machine: {kind(cpu_facts())} (recorded in each run's config.json)"
        + (f"; TensorFlow {plan.kernels.describe()}" if plan.kernels else ""), file=out)
  print(grid_cost_line(plan.specs, jobs, plan.out), file=out)
  if not runs:
    print(f"(--list --runs lists the {len(plan.specs)} runs)", file=out)
    return
  print("runs:", file=out)
  for s in plan.specs:
    uses = plan.serves.get(s.relpath(), [])
    note = f"  (one run serving {' and '.join(uses)})" if len(uses) > 1 else ""
    if s.game not in FIGURES[s.figure].games:
      note += "  [extension: not a game of the paper's figure]"
    e = extension_state_bytes(s)
    print(f"  {s.relpath()}  frames={s.frames:,}"
          + (f"  extension state {e / 1e6:,.1f} MB" if e else "") + note, file=out)


# --- disk: what the runs' checkpoints need -------------------------------------------------------
A2C_CHECKPOINT_BYTES = 14e6        # weights + RMSProp mean squares (measured: 13 MB)
DQN_CHECKPOINT_BYTES = 28e6        # online + target weights + Adam moments
POLICY_BYTES = 7e6                 # PolicySaver SavedModel
# measured 6,754 (Pong), 5,644 (SpaceInvaders); ~10% margin
REPLAY_CHECKPOINT_BYTES_PER_TRANSITION = 7_400.0


def extension_state_bytes(spec) -> float:
  """Bytes a finished run keeps so that it can be extended: the DQN replay (min(capacity, agent
  steps) transitions) and the training env's action log (1 byte per agent step, frames /
  FRAMESKIP)."""
  if not spec.keep_extension_state:
    return 0.0
  replay = (0 if spec.family == "a2c" else
            spec.replay_transitions * REPLAY_CHECKPOINT_BYTES_PER_TRANSITION)
  return replay + spec.frames / FRAMESKIP


def final_bytes(spec) -> float:
  """Bytes a finished run keeps: its last checkpoint, its policy and its extension state."""
  return ((A2C_CHECKPOINT_BYTES if spec.family == "a2c" else DQN_CHECKPOINT_BYTES) + POLICY_BYTES
          + extension_state_bytes(spec))


def disk_needed(specs, concurrent: int) -> float:
  """Bytes the grid's runs need on disk: every run's final checkpoint and policy (with its
  extension state), plus, for the `concurrent` largest runs training at once, two checkpoints
  kept and a third being written (for DQN each with its replay: min(capacity, agent steps)
  transitions)."""
  def training(s):
    if s.family == "a2c":
      return 3 * A2C_CHECKPOINT_BYTES
    return 3 * (DQN_CHECKPOINT_BYTES + s.replay_transitions
                * REPLAY_CHECKPOINT_BYTES_PER_TRANSITION)
  peaks = sorted((training(s) for s in specs), reverse=True)[:max(1, concurrent)]
  return sum(final_bytes(s) for s in specs) + sum(peaks)


def size_text(n_bytes: float) -> str:
  """Bytes as '40.0 MB' below 1 GB, else '1.3 GB' (decimal units)."""
  return f"{n_bytes / 1e6:,.1f} MB" if n_bytes < 1e9 else f"{n_bytes / 1e9:,.1f} GB"


def check_disk(specs, out: Path, concurrent: int):
  """Raises UsageError if `out`'s disk has less free space than `disk_needed` (both said in MB
  below 1 GB)."""
  need, free = disk_needed(specs, concurrent), shutil.disk_usage(out).free
  if need > free:
    raise UsageError(f"run_all.sh: error: --out {str(out)!r} has {size_text(free)} free, but the "
                     f"selected runs' checkpoints need about {size_text(need)} ({concurrent} "
                     f"training at once; DQN checkpoints hold the replay, "
                     f"~{REPLAY_CHECKPOINT_BYTES_PER_TRANSITION:,.0f} bytes per transition). Free "
                     f"space, use another --out, or select fewer runs")
