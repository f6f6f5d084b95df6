"""Throughput benchmark on Pong: `python -m artifact.grid.bench [--long] [--out reports]`.

Measures, in one process and one run (so the ratios compare like with like):
  env_ceiling     the batched environment alone (16 envs, random actions), frames/s
  a2c             A2C training (driver collect + update), steady state after tracing, frames/s;
                  also with the other --env-groups (synchronous vs overlapped collection)
  soft_ql         soft Q-learning in the A2C framework, same, frames/s
  dqn             DQN training at the paper's ratio (1 update of 32 per 4 agent steps), frames/s
  *_bf16          the same with `--set precision=bfloat16` (the torso in bfloat16)
  grid_*          two runs side by side in two processes (`--jobs 2`): total and per-run frames/s
                  (`run_all.sh --list` estimates the grid's cost from the per-run figures)
  startup         a new process: interpreter + imports + env + agent + tracing to the end of the
                  first A2C update, seconds
  replay          bytes per stored transition of a full frame-deduplicating replay filled from
                  real Pong frames (then SpaceInvaders, whose screens repeat less), counting frame
                  pixels, array objects, dict entries and the numpy storage of the other fields;
                  identical frames are stored once, so a game can go below one 7,056-byte frame
Runs on the kernel path new runs take on this CPU (`artifact.training.machine.project_onednn`),
or on TF_ENABLE_ONEDNN_OPTS when set. Prints a table and writes reports/bench.csv with the core
count, the CPU model, its instruction sets and oneDNN state (`artifact.training.machine.cpu_facts`),
the device TensorFlow used (CPU, or the GPU's name) and library versions.
"""
from __future__ import annotations

import argparse
import concurrent.futures as cf
import multiprocessing as mp
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import ale_py
import numpy as np
import pandas as pd

from artifact.experiment.registry import FIGURES, find_condition
from artifact.experiment.runspec import make_run_spec
from artifact.files import atomic_write_text
from artifact.grid.executors import set_tf_threads
from artifact.training.machine import cpu_facts, kind, onednn_from_env, project_onednn, use_onednn

# TensorFlow, and every module that loads it (the trainers, tf-agents, `envs.atari`), is imported
# inside the functions that need it: `main` first sets the kernel path (`use_onednn`), which
# TensorFlow reads once, when it loads.


def bench_env(seconds: float) -> float:
  """Frames/s of the batched Pong environment alone (16 envs, random actions) over `seconds` of
  wall time, after 20 warm-up steps: the ceiling training speeds are compared with."""
  from envs.atari import make_atari_env  # TensorFlow: after main set the kernel path
  env = make_atari_env("Pong", 16, seed=0)
  env.reset()
  rng = np.random.default_rng(0)
  for _ in range(20):
    env.step(rng.integers(0, env.num_actions, 16))
  f0, t0 = env.frames, time.time()
  while time.time() - t0 < seconds:
    env.step(rng.integers(0, env.num_actions, 16))
  fps = (env.frames - f0) / (time.time() - t0)
  env.close()
  return fps


def condition_figure(condition: str, family: str) -> int:
  """The first figure of the registry (`artifact.experiment.registry.FIGURES`) that has `condition`,
  a condition of `family` ("a2c" or "dqn"). Raises ValueError for an unknown condition or another
  family."""
  cond = find_condition(condition)
  if cond.family != family:
    raise ValueError(f"condition {condition!r} is of the {cond.family} family, not {family}")
  return next(n for n, fig in FIGURES.items() if any(c.name == condition for c in fig.conditions))


def warm_a2c_trainer(condition: str = "a2c_1step", precision: str = "float32",
                     env_groups: int | None = None):
  """A Pong trainer of an A2C-framework condition at paper settings, traced and warmed up.
  `env_groups`: the collection's env groups (--env-groups; None = auto)."""
  from artifact.training import pool  # TensorFlow: after main set the kernel path
  figure = condition_figure(condition, "a2c")
  pool.close_all()
  trainer = pool.acquire(make_run_spec(figure, "Pong", condition, 0, "paper",
                                           overrides=dict(precision=precision)), env_groups)
  for _ in range(5):                       # trace and warm up
    trainer.update()
  return trainer


def warm_dqn_trainer(precision: str = "float32"):
  """A Pong DQN trainer past learning_starts with its update traced. Epsilon is already at its
  final 0.01, as in the last 90% of a run (at epsilon ~1 the acting loop skips the network,
  which would flatter a measurement)."""
  from artifact.training import pool  # TensorFlow: after main set the kernel path
  spec = make_run_spec(condition_figure("dqn", "dqn"), "Pong", "dqn", 0, "paper", overrides=dict(
      learning_starts=200, replay_capacity=50_000, precision=precision, epsilon_fraction=1e-9))
  pool.close_all()
  trainer = pool.acquire(spec)
  while trainer.loop.agent_steps < 200 + 40:   # fill past learning_starts, trace the update
    trainer.update()
  return trainer


def bench_a2c(condition: str, seconds: float, precision: str = "float32",
              env_groups: int | None = None) -> float:
  """Frames/s of an A2C-framework run; `env_groups` forces the collection (`--env-groups`),
  None keeps the default."""
  return _steady_fps(warm_a2c_trainer(condition, precision, env_groups), seconds)


def _steady_fps(trainer, seconds: float) -> float:
  """Frames/s of `trainer.update()` over `seconds` of wall time; closes the trainer."""
  n, t0 = 0, time.time()
  while time.time() - t0 < seconds:
    trainer.update()
    n += 1
  fps = n * trainer.frames_per_update / (time.time() - t0)
  trainer.close()
  return fps


def bench_dqn(seconds: float, precision: str = "float32") -> float:
  """Frames/s of DQN training on Pong (`warm_dqn_trainer`) over `seconds` of wall time."""
  return _steady_fps(warm_dqn_trainer(precision), seconds)


def _grid_worker(args):
  """One of two side-by-side runs: TF threads = cores / 2 (as `--jobs 2`), warm up, then
  measure from a shared start time for `seconds`. Returns frames/s."""
  family, seconds, start_at = args
  set_tf_threads(max(1, (os.cpu_count() or 1) // 2))
  trainer = warm_a2c_trainer() if family == "a2c" else warm_dqn_trainer()
  while time.time() < start_at:                 # both start measuring together
    trainer.update()
  return _steady_fps(trainer, seconds)


def bench_grid(family: str, seconds: float):
  """Two runs of `family` side by side in two processes (`--jobs 2`): (total, per run) frames/s."""
  start_at = time.time() + 60.0                  # after both have built and traced
  with cf.ProcessPoolExecutor(2, mp_context=mp.get_context("spawn")) as pool:
    fps = list(pool.map(_grid_worker, [(family, seconds, start_at)] * 2))
  return sum(fps), sum(fps) / 2


def tf_device() -> str:
  """The device TensorFlow places the networks on: 'GPU:0 (name)' if a GPU is seen, else 'CPU'."""
  import tensorflow as tf  # after main set the kernel path
  gpus = tf.config.list_physical_devices("GPU")
  if not gpus:
    return "CPU"
  details = tf.config.experimental.get_device_details(gpus[0])
  return f"GPU:0 ({details.get('device_name', 'unknown')})"


STARTUP_SNIPPET = """
import time, sys
sys.path.insert(0, {root!r})
from artifact.training import pool
from artifact.experiment.runspec import make_run_spec
t = pool.acquire(make_run_spec(1, "Pong", "a2c_1step", 0, "smoke"))
t.update()
"""


def bench_startup() -> float:
  """Seconds a new Python process takes to the end of its first A2C update on Pong (imports,
  env, agent, tracing; `STARTUP_SNIPPET`). Raises CalledProcessError if that process fails."""
  root = str(Path(__file__).resolve().parents[2])      # artifact/grid/bench.py -> the repository
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
  t0 = time.time()
  subprocess.run([sys.executable, "-c", STARTUP_SNIPPET.format(root=root)], check=True, env=env,
                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
  return time.time() - t0


def bench_replay(rb) -> float:
  """Bytes per stored transition of a full `FrameStackReplayBuffer` (`filled_replay`), counting
  frame pixels, array objects, dict entries and the numpy storage: `nbytes()` / transitions."""
  return rb.nbytes() / int(rb.size)


def bench_replay_checkpoint(rb):
  """(bytes on disk per transition, seconds to save, peak extra RAM in bytes) of a checkpoint
  of the full replay `rb`, written as the runner writes DQN checkpoints: the transitions in a
  `tf.train.Checkpoint`, the frames streamed beside it (`save_frames`)."""
  import resource  # Unix only: imported where the peak RAM is measured

  import tensorflow as tf  # after main set the kernel path
  transitions = int(rb.size)
  d = tempfile.mkdtemp(prefix="replay-ckpt-")
  try:
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    t0 = time.time()
    tf.train.Checkpoint(replay=rb).write(os.path.join(d, "ckpt"))
    rb.save_frames(os.path.join(d, "ckpt.replay-frames.npz"))
    seconds = time.time() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - before
    size = sum(f.stat().st_size for f in Path(d).iterdir())
  finally:
    shutil.rmtree(d, ignore_errors=True)
  return size / transitions, seconds, max(0, peak)


def filled_replay(transitions: int, game: str = "Pong"):
  """A `FrameStackReplayBuffer` of `transitions` capacity, filled from `game` by random actions."""
  # TensorFlow (tf-agents, the replay, the env): after main set the kernel path
  from tf_agents.specs import tensor_spec
  from tf_agents.trajectories import policy_step, trajectory

  from agents.replay import FrameStackReplayBuffer
  from envs.atari import make_atari_env
  env = make_atari_env(game, 1, seed=0, num_threads=1)
  spec = tensor_spec.to_nest_array_spec(trajectory.Trajectory(
      step_type=tensor_spec.TensorSpec((), np.int32), observation=env.observation_spec(),
      action=env.action_spec(), policy_info=(), next_step_type=tensor_spec.TensorSpec((), np.int32),
      reward=tensor_spec.TensorSpec((), np.float32),
      discount=tensor_spec.TensorSpec((), np.float32)))
  rb = FrameStackReplayBuffer(spec, transitions)
  t = env.reset()
  rng = np.random.default_rng(0)
  for _ in range(transitions):
    a = rng.integers(0, env.num_actions, 1)
    nt = env.step(a)
    rb.add_batch(trajectory.from_transition(t, policy_step.PolicyStep(a, (), ()), nt))
    t = nt
  env.close()
  return rb


class _Table:
  """The benchmark's rows, each printed as it is measured."""

  def __init__(self):
    self.rows = []

  def add(self, metric: str, value: float, unit: str, ceiling: float | None = None, note: str = ""):
    """Records and prints a measurement; `ceiling` (frames/s) adds its ratio to the env ceiling."""
    self.rows.append(dict(metric=metric, value=round(value, 2), unit=unit,
                          ratio_to_env_ceiling=round(value / ceiling, 3) if ceiling else None,
                          note=note))
    print(f"  {metric:<28} {value:>12,.1f} {unit:<10}"
          + (f" {value / ceiling:6.3f} x env ceiling" if ceiling else "")
          + (f"  {note}" if note else ""),
          flush=True)


def main(argv=None) -> int:
  """The benchmark (see the module docstring): prints the table and writes --out/bench.csv;
  returns 0. Each measurement lasts 15 s (60 s with --long)."""
  p = argparse.ArgumentParser(prog="python -m artifact.grid.bench", description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument("--long", action="store_true", help="measure 4x longer (about 6 minutes)")
  p.add_argument("--out", default="reports", help="directory for bench.csv (default reports)")
  args = p.parse_args(argv)
  if onednn_from_env() is None:        # the kernel path new runs take here (`project_onednn`)
    use_onednn(project_onednn())
  versions = library_versions()
  secs = 60.0 if args.long else 15.0
  device = tf_device()
  facts = cpu_facts()
  print(f"== benchmark on Pong, {os.cpu_count()} cores of {kind(facts)}, TensorFlow device "
        f"{device}, "
        f"{secs:.0f} s per measurement", flush=True)
  table = _Table()
  _measure_training(table, secs)
  table.add("startup_to_first_update", bench_startup(), "s", None, "new process, A2C on Pong")
  _measure_replay(table, 100_000 if args.long else 20_000)
  path = write_bench_csv(table.rows, Path(args.out) / "bench.csv", facts, device, versions)
  print(f"wrote {path}")
  return 0


def _measure_training(table: _Table, secs: float):
  """The env ceiling and the training speeds (frames/s), single runs then two side by side."""
  ceiling = bench_env(secs)
  table.add("env_ceiling", ceiling, "frames/s", None, "16 envs, random actions")
  from artifact.training.a2c import a2c_env_groups  # TensorFlow: after main set the kernel path
  groups = a2c_env_groups(16)
  table.add("a2c_train", bench_a2c("a2c_1step", secs), "frames/s", ceiling,
            f"a2c_1step, 16 envs x 5 steps per update, --env-groups {groups} (the default here)")
  other = 2 if groups == 1 else 1
  table.add(f"a2c_train_env_groups_{other}", bench_a2c("a2c_1step", secs, env_groups=other),
            "frames/s",
            ceiling, f"the same with --env-groups {other} ("
            + ("overlapped" if other > 1 else "synchronous") + " collection, same rollouts)")
  table.add("soft_ql_train", bench_a2c("soft_ql", secs), "frames/s", ceiling,
            "soft_ql, same rollouts")
  table.add("dqn_train", bench_dqn(secs), "frames/s", ceiling,
            "1 env, batch 32 every 4 agent steps, epsilon 0.01")
  table.add("a2c_train_bf16", bench_a2c("a2c_1step", secs, "bfloat16"), "frames/s", ceiling,
            "a2c_1step with --set precision=bfloat16")
  table.add("dqn_train_bf16", bench_dqn(secs, "bfloat16"), "frames/s", ceiling,
            "DQN with --set precision=bfloat16")
  for family, name in (("a2c", "a2c_1step"), ("dqn", "DQN")):
    grid, per_run = bench_grid(family, secs)
    table.add(f"grid_{family}_fps", grid, "frames/s", ceiling,
              f"two {name} runs side by side (--jobs 2), total")
    table.add(f"grid_{family}_fps_per_run", per_run, "frames/s", ceiling,
              "the same, per run (--list uses it)")


def _measure_replay(table: _Table, n: int):
  """Replay bytes per transition in RAM and on disk, from `n` transitions of Pong, then of
  SpaceInvaders (few repeated screens: near the worst case)."""
  pong = filled_replay(n)                      # one Pong fill serves both measurements
  per = bench_replay(pong)
  table.add("replay_bytes_per_transition", per, "bytes", None,
            f"full buffer of {n:,} Pong transitions")
  table.add("replay_frame_floor", 84 * 84, "bytes", None, "one 84x84 uint8 frame")
  table.add("replay_1M_transitions", per * 1e6 / 2 ** 30, "GiB", None,
            "projected for the paper's replay")
  disk, save_s, ram = bench_replay_checkpoint(pong)
  table.add("replay_checkpoint_bytes_per_transition", disk, "bytes", None,
            f"on disk, {n:,} Pong transitions")
  table.add("replay_checkpoint_save_s_per_1M", save_s * 1e6 / n, "s", None,
            "projected save time for 1M")
  table.add("replay_checkpoint_peak_ram_per_transition", ram / n, "bytes", None,
            "extra RAM while saving")
  del pong
  per_si = bench_replay(filled_replay(n, "SpaceInvaders"))
  table.add("replay_bytes_per_transition_si", per_si, "bytes", None, "the same on SpaceInvaders")
  table.add("replay_1M_transitions_si", per_si * 1e6 / 2 ** 30, "GiB", None,
            "projected, SpaceInvaders")


def library_versions() -> dict:
  """{column: version} of Python, TensorFlow, tf-agents, ale-py and numpy (imported first, so
  that a missing one fails before minutes of measuring)."""
  import tensorflow as tf  # after main set the kernel path
  import tf_agents
  return dict(python=platform.python_version(), tensorflow=tf.__version__,
              tf_agents=tf_agents.__version__, ale_py=ale_py.__version__, numpy=np.__version__)


def write_bench_csv(rows, path: Path, facts: dict, device: str, versions: dict) -> Path:
  """Writes `rows` to the CSV `path` atomically (`artifact.files`), each row with the machine's
  columns: cores, the CPU, its instruction sets and oneDNN state (`cpu_facts`), the TensorFlow
  device, `versions` and the time. Returns the path."""
  df = pd.DataFrame(rows)
  df["cores"] = os.cpu_count()
  df["cpu"] = facts["cpu"]
  for flag, present in facts["isa"].items():      # avx2, avx512f, avx512_bf16, amx_bf16, amx
    df[flag] = present
  df["onednn"] = facts["onednn"]
  df["device"] = device
  for name, version in versions.items():
    df[name] = version
  df["when"] = time.strftime("%Y-%m-%d %H:%M:%S")
  return atomic_write_text(path, df.to_csv(index=False))


if __name__ == "__main__":
  sys.exit(main())
