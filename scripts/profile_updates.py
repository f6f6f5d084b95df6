"""Where a training update's time goes, for docs/performance.md ("Where the time goes").

  .venv/bin/python scripts/profile_updates.py [--updates 300] [--family a2c|dqn|both] [--out \
      reports]

Times the benchmark's own warm Pong trainers (`artifact.grid.bench.warm_a2c_trainer`,
`warm_dqn_trainer`: paper settings, epsilon already at its final 0.01) on the kernel path new
runs take on this CPU (`artifact.training.machine.project_onednn`; TF_ENABLE_ONEDNN_OPTS wins
when set), and splits an update into its parts, in milliseconds of wall time:

  DQN, one update = 4 agent steps and one gradient step on a batch of 32:
    acting        `DQNLoop.collect`, 4 agent steps: epsilon-greedy policy, emulator, replay
                  insertion
    sampling      one batch of 32 (n + 1)-step sequences from the replay
    train_step    the compiled `agent.train`: online forward + backward on 32, the target
                  network's forward on 32, Adam
    and, timed alone: q_forward_1 (the greedy policy on one observation, what acting calls each
    step), env_step_1 (one emulator step of the single env: 4 frames, max-pool, resize),
    net_forward_32 (the Q network on 32 observations: the cost of the target's forward)
  A2C, one update = 16 envs x 5 agent steps = 320 frames and one gradient step:
    update        the whole compiled update (collection through the driver, then train)
    train_step    the compiled `agent.train` alone on the update's experience [16, 6, ...]
    collection    update - train_step: 5 x (policy forward on 16 + 16 emulator steps)
    and, timed alone: policy_forward_16 (the network on the 16 observations)

Each part is the median over `--updates` updates (warm: traced first). The trainers are thrown
away afterwards: the profile reads the loops' parts directly (`collect`, `_train_fn`,
`replay`), which no run does. Prints a table and writes `--out`/profile.csv with the benchmark's
machine columns (`artifact.grid.bench.write_bench_csv`: CPU facts, device, library versions).
Not a test: speed is checked by measuring, on the machine you care about, beside
`python -m artifact.grid.bench` and scripts/bench_sb3.py.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _ms(fn: Callable[[], object]) -> float:
  """Wall time of `fn()` in milliseconds (its result forced to numpy where it is a tensor)."""
  t0 = time.perf_counter()
  out = fn()
  if hasattr(out, "numpy"):
    out.numpy()
  return (time.perf_counter() - t0) * 1e3


def _median(xs: list[float]) -> float:
  return float(statistics.median(xs))


def _forward_ms(network, observations, updates: int) -> float:
  """Median ms of one compiled forward pass of `network` on `observations` (a batch), over
  `updates` calls after a first, untimed one."""
  import tensorflow as tf
  obs = tf.constant(observations)
  fwd = tf.function(lambda o: network(o, training=False)[0], autograph=False).get_concrete_function(
      tf.TensorSpec(obs.shape, obs.dtype))
  fwd(obs)
  return _median([_ms(lambda: fwd(obs)) for _ in range(updates)])


def profile_dqn(updates: int) -> dict[str, float]:
  """Median ms of DQN's update parts (module docstring) over `updates` updates."""
  import numpy as np
  import tensorflow as tf

  from artifact.grid.bench import warm_dqn_trainer
  trainer = warm_dqn_trainer()
  loop = trainer.loop
  parts: dict[str, list[float]] = {"acting": [], "sampling": [], "train_step": [], "update": []}
  for _ in range(updates):              # DQNLoop.update, step by step
    t0 = time.perf_counter()
    box = {}
    parts["acting"].append(_ms(loop.collect))
    loop.agent_steps += loop.train_period
    loop.step_var.assign(loop.agent_steps)
    parts["sampling"].append(_ms(lambda box=box: box.setdefault(
        "e", loop.replay.sample(loop.batch_size, loop._num_steps))))
    exp = tf.nest.map_structure(tf.constant, box["e"])
    parts["train_step"].append(_ms(lambda exp=exp: loop._train_fn(exp).loss))
    parts["update"].append((time.perf_counter() - t0) * 1e3)
  out = {k: _median(v) for k, v in parts.items()}
  greedy, obs = loop._greedy, loop._time_step.observation   # what acting calls each step
  out["q_forward_1"] = _median([_ms(lambda: greedy.on_observation(obs)) for _ in range(updates)])
  rng = np.random.default_rng(0)
  n = loop.py_env.num_actions
  out["env_step_1"] = _median([_ms(lambda: loop.py_env.step(
      rng.integers(0, n, size=(1,), dtype=np.int32)))
                               for _ in range(updates)])
  out["net_forward_32"] = _forward_ms(trainer.network, box["e"].observation[:, 0], updates)
  trainer.close()
  return out


def profile_a2c(updates: int) -> dict[str, float]:
  """Median ms of A2C's update parts (module docstring) over `updates` updates."""
  import tensorflow as tf

  from artifact.grid.bench import warm_a2c_trainer
  trainer = warm_a2c_trainer("a2c_1step", env_groups=1)
  loop = trainer.loop
  total = [_ms(lambda: trainer.update().loss) for _ in range(updates)]
  exp = loop.last_experience
  spec = tf.nest.map_structure(lambda x: tf.TensorSpec(x.shape, x.dtype), exp)
  train = tf.function(lambda e: trainer.agent.train(e).loss,
                      autograph=False).get_concrete_function(spec)
  train(exp)
  train_ms = [_ms(lambda: train(exp)) for _ in range(updates)]
  forward = _forward_ms(trainer.network, exp.observation[:, 0], updates)
  trainer.close()
  out = {"update": _median(total), "train_step": _median(train_ms), "policy_forward_16": forward}
  out["collection"] = out["update"] - out["train_step"]
  return out


def main(argv=None) -> int:
  """Profiles the chosen families, prints the table, writes `--out`/profile.csv; returns 0."""
  p = argparse.ArgumentParser(description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument("--updates", type=int, default=300, help="updates timed per family (default 300)")
  p.add_argument("--family", choices=("a2c", "dqn", "both"), default="both")
  p.add_argument("--out", default="reports", help="directory for profile.csv (default reports)")
  args = p.parse_args(argv)
  if args.updates < 1:
    p.error(f"--updates {args.updates}: must be at least 1")
  from artifact.training.machine import cpu_facts, kind, onednn_from_env, project_onednn, use_onednn
  if onednn_from_env() is None:
    use_onednn(project_onednn())
  import tensorflow as tf

  from artifact.grid.bench import library_versions, tf_device, write_bench_csv
  facts = cpu_facts()                  # with TensorFlow loaded: its own answer for oneDNN
  print(f"== profile on Pong, {os.cpu_count()} cores of {kind(facts)}, TensorFlow "
        f"{tf.__version__}, "
        f"{args.updates} updates per family", flush=True)
  rows = []
  families = ("a2c", "dqn") if args.family == "both" else (args.family,)
  for family in families:
    parts = profile_a2c(args.updates) if family == "a2c" else profile_dqn(args.updates)
    for part, ms in parts.items():
      rows.append(dict(family=family, part=part, ms=f"{ms:.2f}"))
      print(f"{family:4s} {part:18s} {ms:8.2f} ms", flush=True)
  # the benchmark's writer: the same machine columns as bench.csv (cores, CPU, instruction sets,
  # oneDNN, device, library versions, time), written atomically
  path = write_bench_csv(rows, Path(args.out) / "profile.csv", facts, tf_device(),
                         library_versions())
  print(f"wrote {path}")
  return 0


if __name__ == "__main__":
  sys.exit(main())
