"""One run = one (figure, game, condition, seed): a pure function of its `RunSpec`.

Dopamine-style phases, each a small method of `Run`:
  prepare()      check/write config.json (a finished run is skipped, another run's dir refused)
  build()        the family's trainer (reused across seeds in a process, reseeded), checkpointer
  restore()      resume from the last checkpoint, drop progress rows written after it
  train_phase()  updates until the next logging point; returns the progress row
  eval_phase()   evaluation games (whole games, raw scores) at the scheduled updates
  checkpoint()   tf-agents Checkpointer: agent, optimizer, counters
  summarize()    TensorBoard scalars of the row (`tensorboard --logdir runs` shows the grid)
  finish()       final checkpoint, PolicySaver export, done.json

Kill safety: an evaluation's progress row is written (and flushed) before the checkpoint that
follows it, so a kill between the two never loses the row; rows past the restored checkpoint
are dropped on resume, so every frame point appears exactly once.

Run directory layout (`runs/figure{F}/{Game}/{condition}/seed{S}/`):
  config.json    the RunSpec (every hyperparameter used)
  progress.csv   one row per logged point (schema: `artifact.progress.SCHEMA`)
  checkpoint/    tf-agents `Checkpointer` (agent, optimizer, counters)
  policy/        `PolicySaver` SavedModel of the final policy (load with
                 `tf_agents.policies.py_tf_eager_policy.SavedModelPyTFEagerPolicy`)
  tb/            TensorBoard event files: returns, loss, entropy, frames/s against frames
  done.json      written last: final numbers, wall time and the time spent in each phase
"""
from __future__ import annotations

import json
import math
import time
from collections import deque
from pathlib import Path
from typing import Callable, Dict, Optional

import numpy as np
import tensorflow as tf
from tf_agents.utils import common

from artifact import trainers
from artifact.evaluation import evaluate
from artifact.files import atomic_write_text
from artifact.progress import ProgressLog
from artifact.seeding import run_seeds
from artifact.specs import RunSpec

TRAIN_RETURN_WINDOW = 100          # finished training games averaged (baselines `eprewmean`)
LOG_POINTS = 20                    # progress rows per run (at least)


def eval_schedule(total_updates: int, evals_per_run: int):
  """Update numbers (1-based) after which an evaluation runs: evenly spaced, the last at the end."""
  return sorted({max(1, round(total_updates * (i + 1) / evals_per_run)) for i in range(evals_per_run)})


def _fmt(x) -> str:
  return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.1f}"


class Run:
  """One run in phases (see the module docstring). `Run(spec, dir).execute()` does them all."""

  def __init__(self, spec: RunSpec, run_dir, log: Callable[[str], None] = print, prefix: str = ""):
    self.spec, self.dir = spec, Path(run_dir)
    self.log = lambda m: log(f"{prefix}{m}")
    self.phases: Dict[str, float] = {}
    self.recent = deque(maxlen=TRAIN_RETURN_WINDOW)
    self.trainer = None

  # --- phases -------------------------------------------------------------------------------------
  def prepare(self) -> Optional[Dict]:
    """Takes the run directory's lock, writes config.json; returns done.json's contents if the
    run already finished. Raises ValueError if the directory holds a different run's config, or
    RuntimeError if another live process is training this run."""
    self.dir.mkdir(parents=True, exist_ok=True)
    self._lock = lock_run_dir(self.dir)
    cfg_path = self.dir / "config.json"
    if cfg_path.exists():
      old, new = json.loads(cfg_path.read_text()), json.loads(self.spec.to_json())
      if old != new:
        raise ValueError(f"{self.dir} holds a run with a different config; use another --out "
                         f"or delete that directory (differs in: "
                         f"{sorted(k for k in new if old.get(k) != new[k])})")
      if (self.dir / "done.json").exists():
        self.log(f"{self.spec.relpath()}: already finished, skipping")
        return json.loads((self.dir / "done.json").read_text())
    atomic_write_text(cfg_path, self.spec.to_json())
    return None

  def build(self):
    self.seeds = run_seeds(self.spec.seed, 1)
    tf.random.set_seed(self.seeds.tf_global)
    np.random.seed(self.seeds.tf_global)
    self.trainer = trainers.acquire(self.spec)
    self.frames_var = tf.Variable(0, dtype=tf.int64, name="frames")
    self.ckpt = common.Checkpointer(str(self.dir / "checkpoint"), max_to_keep=1,
                                    agent=self.trainer.agent, frames=self.frames_var,
                                    **self.trainer.extra_checkpoint_objects())
    self.per_update = self.trainer.frames_per_update
    self.total_updates = max(1, math.ceil(self.spec.frames / self.per_update))
    self.log_every = max(1, self.total_updates // LOG_POINTS)
    self.eval_at = eval_schedule(self.total_updates, self.spec.evals_per_run)

  def restore(self) -> int:
    self.ckpt.initialize_or_restore()
    frames = int(self.frames_var.numpy())
    if frames:
      self.log(f"{self.spec.relpath()}: resuming from checkpoint at {frames:,} frames")
    self.trainer.on_restore(frames)
    self.progress = ProgressLog(self.dir / "progress.csv", frames)
    self.writer = tf.summary.create_file_writer(str(self.dir / "tb"))
    self.update = frames // self.per_update
    return frames

  def train_phase(self) -> Dict:
    """Updates until the next logging point. Returns the progress row (without evaluation)."""
    t0, u0 = time.time(), self.update
    loss_info = None
    while True:
      loss_info = self.trainer.update()
      if "first_update_s" not in self.phases:
        self.phases["first_update_s"] = time.time() - t0
      self.update += 1
      self.recent.extend(g.score for g in self.trainer.env.pop_finished_games())
      if (self.update % self.log_every == 0 or self.update in self.eval_at
          or self.update == self.total_updates):
        break
    frames = self.update * self.per_update
    fps = (self.update - u0) * self.per_update / max(time.time() - t0, 1e-9)
    row = dict(figure=self.spec.figure, game=self.spec.game, condition=self.spec.condition,
               seed=self.spec.seed, frames=frames,
               agent_steps=frames // self.trainer.env.frames_per_step,
               train_return=float(np.mean(self.recent)) if self.recent else math.nan,
               train_games=len(self.recent), fps=round(fps, 1),
               wall_s=round(time.time() - self.t_start, 2))
    if loss_info is not None:
      row["loss"] = float(loss_info.loss)
      if isinstance(loss_info.extra, dict) and "entropy" in loss_info.extra:
        row["entropy"] = float(loss_info.extra["entropy"])
    return row

  def eval_phase(self) -> Dict:
    """Evaluation number k (0-based) plays new games from seeds derived from (run seed, k)."""
    k = self.eval_at.index(self.update)
    self.trainer.reseed_eval(self.seeds, k)
    spec = self.spec
    return evaluate(self.trainer.eval_policy, self.trainer.eval_env, spec.eval_games,
                    spec.eval_max_frames, seeds=self.seeds.eval_env(spec.eval_games, k))

  def summarize(self, row: Dict):
    """TensorBoard scalars of a progress row, step = frames (a resumed run rewrites its steps)."""
    with self.writer.as_default(step=int(row["frames"])):
      for key in ("train_return", "eval_return", "eval_std", "loss", "entropy", "fps"):
        value = row.get(key)
        if value is not None and value != "" and not (isinstance(value, float) and math.isnan(value)):
          tf.summary.scalar(key, float(value))
    self.writer.flush()

  def checkpoint(self):
    self.frames_var.assign(self.update * self.per_update)
    self.ckpt.save(global_step=self.frames_var)

  def finish(self) -> Dict:
    t = time.time()
    self.checkpoint()
    self.trainer.policy_saver().save(str(self.dir / "policy"))
    self.phases["save_s"] = time.time() - t
    self.writer.close()
    trainers.release(self.spec, self.trainer)
    done = dict(run=self.spec.relpath(), frames=self.update * self.per_update,
                wall_s=round(time.time() - self.t_start, 2),
                final_train_return=float(np.mean(self.recent)) if self.recent else None,
                phases_s={k: round(v, 2) for k, v in self.phases.items()})
    atomic_write_text(self.dir / "done.json", json.dumps(done, indent=2))
    return done

  # --- the whole run ----------------------------------------------------------------------------
  def execute(self) -> Dict:
    """Trains (or resumes, or skips if finished) the run; returns the contents of done.json.
    The run directory's lock is released however this ends."""
    try:
      return self._execute()
    finally:
      lock = getattr(self, "_lock", None)
      if lock is not None:
        lock.close()

  def _execute(self) -> Dict:
    finished = self.prepare()
    if finished is not None:
      return finished
    self.t_start = time.time()
    self.build()
    self.restore()
    self.phases["build_s"] = time.time() - self.t_start
    t_eval = 0.0
    while self.update < self.total_updates:
      row = self.train_phase()
      if self.update in self.eval_at:
        t = time.time()
        row.update(self.eval_phase())
        self.progress.write(row)                     # the row first, then the checkpoint
        self.summarize(row)
        if self.update < self.total_updates:         # the final checkpoint is in finish()
          self.checkpoint()
        t_eval += time.time() - t
      else:
        self.progress.write(row)
        self.summarize(row)
      self._print(row)
    self.phases["train_loop_s"] = time.time() - self.t_start - self.phases["build_s"]
    self.phases["eval_and_checkpoint_s"] = t_eval
    return self.finish()

  def _print(self, row: Dict):
    frames, spec = row["frames"], self.spec
    eta = (self.total_updates - self.update) * self.per_update / max(row["fps"], 1e-9)
    self.log(f"{spec.relpath()}  frames {frames:,}/{spec.frames:,} ({100 * frames / spec.frames:.0f}%)"
             f"  {row['fps']:,.0f} fps  train return {_fmt(row['train_return'])} ({row['train_games']} games)"
             + (f"  eval {_fmt(row['eval_return'])}" if "eval_return" in row else "")
             + f"  eta {eta:,.0f}s")


def lock_run_dir(run_dir: Path):
  """An exclusive `fcntl.flock` on run_dir/.lock, held until the process exits (or the returned
  file is closed): two processes can never train the same run into the same files. The kernel
  drops the lock when its holder dies, however it dies. Raises RuntimeError naming the holder."""
  import fcntl
  import os
  f = open(run_dir / ".lock", "a+")
  try:
    fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
  except BlockingIOError:
    f.seek(0)
    holder = f.read().strip() or "another process"
    f.close()
    raise RuntimeError(f"{run_dir} is being trained by {holder}; wait for it or stop it") from None
  f.seek(0)
  f.truncate()
  f.write(f"pid {os.getpid()}")
  f.flush()
  return f


def run(spec: RunSpec, run_dir, log: Callable[[str], None] = print, prefix: str = "") -> Dict:
  """Trains (or resumes, or skips if finished) one run; returns the contents of done.json.

  Raises ValueError if `run_dir` holds a different run's config.
  """
  return Run(spec, run_dir, log, prefix).execute()
