"""What a grid costs before it runs: time (frames/s per run, the --list cost line) and disk (checkpoints).

RAM is `artifact.grid.memory`. The command line prints the cost with --list and refuses, before any
run starts, a grid whose checkpoints do not fit on --out's disk (`check_disk`).
"""
from __future__ import annotations

import os
from pathlib import Path

from artifact.grid.monitor import hms
from artifact.grid.planning import UsageError
from artifact.experiment.registry import FIGURES
from envs.games import FRAMESKIP

# Training frames/s of one run while another runs beside it (--jobs 2) on 2 cores of an AMD EPYC
# (AVX2; tensorflow-cpu 2.15.1, no GPU), evaluation included: A2C framework measured on the
# Seaquest reference runs (~1,900), DQN from the benchmark's single-run 298 frames/s less the
# sharing (an estimate). Used when no reports/bench.csv exists; docs/performance.md ("Measured")
# and docs/operations.md ("Running the grid") quote these.
FPS_PER_RUN = {"a2c": 1_900.0, "dqn": 250.0}
# bench.csv metrics, best first: per-run speed in a two-run grid, then a lone run's speed
BENCH_METRICS = {"a2c": ("grid_a2c_fps_per_run", "a2c_train"), "dqn": ("grid_dqn_fps_per_run", "dqn_train")}


def throughput_per_run(out: Path):
  """({family: frames/s per run}, source text): from the first reports/bench.csv found (under
  --out, then the repository), else the built-in FPS_PER_RUN."""
  repo = Path(__file__).resolve().parents[2]           # artifact/grid/cost.py -> the repository
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
  return dict(FPS_PER_RUN), "built-in figures measured on 2 CPU cores (docs/performance.md; no reports/bench.csv)"


def _cost(spec, fps) -> float:
  """Rough seconds a run takes: ~8 s fixed + frames / the family's frames/s per run."""
  return 8.0 + spec.frames / fps[spec.family]


def grid_cost_line(specs, jobs: int, out: Path) -> str:
  """The estimated core-hours and wall time of training `specs` at --jobs `jobs`."""
  fps, source = throughput_per_run(out)
  seconds = sum(_cost(s, fps) for s in specs)          # one core per run
  cores = os.cpu_count() or 1
  wall = seconds / max(1, min(jobs, cores, len(specs) or 1))
  return (f"estimated cost: {seconds / 3600:,.1f} core-hours; wall time at --jobs {jobs} on this "
          f"{cores}-core machine ~{hms(wall)} (at {fps['a2c']:,.0f} A2C-framework / "
          f"{fps['dqn']:,.0f} DQN frames/s per run, from {source})")


def print_grid(plan, jobs: int):
  """--list: each run of `plan` with its budget and extension state, the totals, the cost line."""
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
  from artifact.training.machine import cpu_facts, kind
  print(f"this machine: {kind(cpu_facts())} (recorded in each run's config.json)"
        + (f"; TensorFlow {plan.kernels.describe()}" if plan.kernels else ""))
  print(grid_cost_line(plan.specs, jobs, plan.out))


# --- disk: what the runs' checkpoints need -------------------------------------------------------
A2C_CHECKPOINT_BYTES = 14e6        # weights + RMSProp mean squares (measured: 13 MB)
DQN_CHECKPOINT_BYTES = 28e6        # online + target weights + Adam moments
POLICY_BYTES = 7e6                 # PolicySaver SavedModel
REPLAY_CHECKPOINT_BYTES_PER_TRANSITION = 7_400.0   # measured 6,754 (Pong), 5,644 (SpaceInvaders); ~10% margin


def extension_state_bytes(spec) -> float:
  """Bytes a finished run keeps so that it can be extended: the DQN replay (min(capacity, agent
  steps) transitions) and the training env's action log (1 byte per agent step, frames /
  FRAMESKIP)."""
  if not spec.keep_extension_state:
    return 0.0
  replay = (0 if spec.family == "a2c" else
            spec.replay_transitions * REPLAY_CHECKPOINT_BYTES_PER_TRANSITION)
  return replay + spec.frames / FRAMESKIP


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
    return 3 * (DQN_CHECKPOINT_BYTES + s.replay_transitions * REPLAY_CHECKPOINT_BYTES_PER_TRANSITION)
  peaks = sorted((training(s) for s in specs), reverse=True)[:max(1, concurrent)]
  return sum(final(s) for s in specs) + sum(peaks)


def size_text(n_bytes: float) -> str:
  """Bytes as '40.0 MB' below 1 GB, else '1.3 GB' (decimal units)."""
  return f"{n_bytes / 1e6:,.1f} MB" if n_bytes < 1e9 else f"{n_bytes / 1e9:,.1f} GB"


def check_disk(specs, out: Path, concurrent: int):
  """Raises UsageError if `out`'s disk has less free space than `disk_needed` (both said in MB
  below 1 GB)."""
  import shutil
  need, free = disk_needed(specs, concurrent), shutil.disk_usage(out).free
  if need > free:
    raise UsageError(f"run_all.sh: error: --out {str(out)!r} has {size_text(free)} free, but the "
                     f"selected runs' checkpoints need about {size_text(need)} ({concurrent} "
                     f"training at once; DQN checkpoints hold the replay, "
                     f"~{REPLAY_CHECKPOINT_BYTES_PER_TRANSITION:,.0f} bytes per transition). Free "
                     f"space, use another --out, or select fewer runs")
