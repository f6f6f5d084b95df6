"""RAM: what the runs training at once need, checked against this machine before a grid starts.

A DQN run holds its replay in RAM: min(replay capacity, frames / 4) transitions (one per agent
step) at ~7.1 KB each (one deduplicated 84x84 frame per transition in steady state, its array
object and dict entry, and the transition's row of the numpy storage; docs/protocol.md section 7).
Every training process also holds TensorFlow, its graphs and its environments (~1.5 GB). Saving
and resuming a replay take a little more while they run. Measured (peak RSS of a fresh process,
a full 50k-transition replay of 7,384 bytes per transition written and read as the runner does:
the transitions through `tf.train.Checkpoint`, the frames through `save_frames`/`load_frames`):
a resume peaks at the replay plus ~320 bytes per transition now that the frames are streamed
from the .npz (it was ~7,080, a second copy of the replay, when they were read whole and copied),
and a save at ~340 bytes per transition more. Restarting a grid resumes all its runs at once, so
that overhead is counted for every run training at once.

`check_memory` is called next to `check_disk` by the command line (local executor: the runs
train on this machine).
"""
from __future__ import annotations

from collections.abc import Sequence

# docs/protocol.md section 7 (artifact.grid.bench measures it)
REPLAY_RAM_BYTES_PER_TRANSITION = 7_100.0
RESUME_OVERHEAD_BYTES_PER_TRANSITION = 400.0  # measured ~320 (resume) and ~340 (save), plus margin
PROCESS_BYTES = 1.5e9                         # TensorFlow, the agent's graphs, envs: per process


def replay_transitions(spec) -> int:
  """Transitions a run's replay holds at its end: min(capacity, agent steps)
  (`RunSpec.replay_transitions`); 0 for A2C."""
  if spec.family != "dqn":
    return 0
  return int(spec.replay_transitions)


def memory_needed(specs: Sequence, concurrent: int) -> float:
  """Bytes of RAM the runs `specs` need when `concurrent` of them train at once: the DQN
  replays of the `concurrent` largest runs (min(capacity, frames / 4) transitions x
  `REPLAY_RAM_BYTES_PER_TRANSITION`) with their save/resume overhead
  (`RESUME_OVERHEAD_BYTES_PER_TRANSITION` each), plus `PROCESS_BYTES` per training process
  (min(concurrent, runs), at least 1)."""
  concurrent = max(1, int(concurrent))
  largest = sorted((replay_transitions(s) for s in specs), reverse=True)[:concurrent]
  processes = max(1, min(concurrent, len(specs)))
  per_transition = REPLAY_RAM_BYTES_PER_TRANSITION + RESUME_OVERHEAD_BYTES_PER_TRANSITION
  return sum(largest) * per_transition + processes * PROCESS_BYTES


def available_memory(meminfo: str = "/proc/meminfo") -> float | None:
  """MemAvailable of /proc/meminfo in bytes; None where it cannot be read (not Linux)."""
  try:
    with open(meminfo) as f:
      for line in f:
        if line.startswith("MemAvailable:"):
          value, unit = line.split()[1:3]
          return float(value) * {"kB": 1024, "mB": 1024 ** 2, "gB": 1024 ** 3}.get(unit, 1024)
  except (OSError, ValueError, IndexError):
    return None
  return None


def check_memory(specs: Sequence, concurrent: int, available: float | None = None):
  """Raises SystemExit, naming the numbers and what to do, if the runs `specs` trained
  `concurrent` at a time need more RAM than this machine has available (`available` bytes;
  default: MemAvailable of /proc/meminfo; nothing is checked where that cannot be read)."""
  specs = list(specs)
  if available is None:
    available = available_memory()
  if available is None or not specs:
    return
  concurrent = max(1, min(int(concurrent), len(specs)))
  need = memory_needed(specs, concurrent)
  if need <= available:
    return
  largest = max(replay_transitions(s) for s in specs)
  fits = [k for k in range(concurrent - 1, 0, -1) if memory_needed(specs, k) <= available]
  replay = (f"DQN replays of up to {largest:,} transitions (min(replay capacity, frames / 4)) at "
            f"~{REPLAY_RAM_BYTES_PER_TRANSITION + RESUME_OVERHEAD_BYTES_PER_TRANSITION:,.0f} bytes "
            f"each with their save/resume overhead, plus " if largest else "")
  todo = (f"use --jobs {fits[0]} (fits)" if fits else
          "even one run at a time does not fit: use a smaller budget (--frames or --scale) or a "
          "machine with more memory")
  more = (", or a smaller budget (--frames or --scale; a DQN replay holds min(replay capacity, "
          "frames / 4) transitions)" if fits and largest else "")
  raise SystemExit(
      f"run_all.sh: error: the selected runs need about {need / 1e9:,.1f} GB of memory with "
      f"{concurrent} training at once ({replay}~{PROCESS_BYTES / 1e9:.1f} GB per training "
      f"process), but this machine has {available / 1e9:,.1f} GB available (MemAvailable in "
      f"/proc/meminfo): {todo}{more}; or free memory")
