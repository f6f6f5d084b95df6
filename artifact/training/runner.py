"""One run = one (figure, game, condition, seed): a pure function of its `RunSpec`.

Dopamine-style phases. `Run` holds the run directory; `Training` is a prepared run being trained:
  Run.prepare()           the directory's lock; check/write config.json (a finished run is
                          skipped, or extended when asked for more frames; another run's dir
                          refused)
  Training(run)           the family's trainer (`artifact.training.pool`: reused across seeds in
                          a process, restarted) and its `CheckpointStore`; restored from the
                          newest checkpoint that loads (an older one, with a warning, if the
                          newest is damaged), progress rows written after it dropped
  Training.train_phase()  updates until the next logging point (a clock checkpoint in between
                          when `checkpoint_every` seconds passed); returns the progress row
  Training.eval_phase()   evaluation games (whole games, raw scores) at the scheduled updates
  Training.checkpoint()   `tf.train.Checkpoint`: agent, optimizer, counters, the training-return
                          window, and for DQN the replay buffer (tf-agents' checkpointable replay,
                          as Dopamine saves its replay), so a resumed DQN run goes on with it
  Training.summarize()    TensorBoard scalars of the row (`tensorboard --logdir runs`)
  Training.finish()       final checkpoint (with what an extension needs unless the spec drops
                          it), PolicySaver export, done.json

Exact resumption: beside each checkpoint the training env's action log and the loop's numpy
random states are saved (`Trainer.save_beside_checkpoint`); a restored run reseeds its training
envs as at its start and replays the logged actions, so it goes on with the very games, actions
and updates of the run that never stopped. A finished run asked for more frames (same spec but
`frames`) is extended the same way from its final checkpoint: its progress rows, evaluations,
TensorBoard scalars, done.json and policy go on to the new budget, as if it had gone straight
there (plus the evaluation at the first budget's end). Progress rows and evaluations sit at
points fixed in frames (`artifact.experiment.schedule`).

What the run reports goes out as `artifact.training.events.RunEvent`s (started, progress,
evaluation, checkpoint, finished, stopped) to the `on_event` sink; by default their messages are
printed.

A stop request (SIGTERM, Ctrl-C: `artifact.training.stopping`) is checked before every update:
the run checkpoints where it is, emits `stopped` and raises `stopping.RunStopped`; the same
command resumes it from there exactly.

Kill safety: checkpoints come at every evaluation and every `checkpoint_every` seconds (default
300), so a kill loses at most that much training. A progress row is written
before the checkpoint that follows it, so a kill between the two never loses the row; rows past
the restored checkpoint are dropped on resume, so every frame point appears exactly once. Every
file is replaced atomically (config.json, progress.csv, done.json, the policy directory; TF
writes checkpoints to a temporary name and renames), and the two newest checkpoints are kept so
that a damaged one falls back to the one before. The checkpoints (`artifact.training.checkpoints`)
are found from their files, so a deleted or garbled state file never restarts a run from zero (nor
truncates its progress.csv), and hold data only. The temporary files of killed writers are
removed when the run resumes (holding the run's lock).

Damaged files are refused, never silently repaired: a config.json or done.json that is not a
JSON object, a progress.csv that is not complete rows of the schema in frame order
(`artifact.training.progress.read_progress`) or lacks a row its schedule wrote before the
restored checkpoint (`check_resume`), and a run that would restart from zero though it has
checkpointed before (checkpoint data without its index, progress rows past the first
evaluation). Each error names the file, the first bad line where there is one, and what to do;
progress.csv, done.json and the checkpoints are left as they were.

Run directory layout (`runs/figure{F}/{Game}/{condition}/seed{S}/`):
  config.json    the RunSpec (every hyperparameter used), "machine", the CPU it last trained on
                 (`artifact.training.machine.cpu_facts`), "onednn", the kernel path it
                 trains on, kept from its start (`artifact.training.machine.recorded_onednn`),
                 and "tf_threads", its TensorFlow intra-/inter-op threads (`tf_threads`; a
                 resume with others is refused)
  progress.csv   one row per logged point (schema: `artifact.training.progress.SCHEMA`)
  checkpoint/    `tf.train.CheckpointManager`, the 2 newest (1 once finished)
  policy/        `PolicySaver` SavedModel of the final policy (load with
                 `tf_agents.policies.py_tf_eager_policy.SavedModelPyTFEagerPolicy`)
  tb/            TensorBoard event files: returns, loss, entropy, frames/s against frames
  done.json      written last: final numbers, wall time and the time spent in each phase
  error.txt      only after a failure: the error and its traceback (`artifact.grid.executors`)
"""
from __future__ import annotations

import json
import math
import time
from collections import deque
from pathlib import Path

import numpy as np
import tensorflow as tf

from artifact.experiment import schedule
from artifact.experiment.runspec import RunSpec, config_differences
from artifact.experiment.seeding import run_seeds
from artifact.files import atomic_dir, atomic_write_text, read_json
from artifact.training import pool, stopping
from artifact.training.checkpoints import (
  CHECKPOINTS_KEPT,
  CheckpointLoadError,
  CheckpointStore,
  lock_run_dir,
  remove_stale_temporaries,
)
from artifact.training.evaluation import evaluate
from artifact.training.events import EventSink, RunEvent, print_messages
from artifact.training.machine import (
  ONEDNN_ENV,
  cpu_facts,
  onednn_on,
  recorded_onednn,
  recorded_tf_threads,
  tf_threads,
)
from artifact.training.progress import (
  ProgressFileError,
  ProgressLog,
  ProgressRows,
  check_resume,
  read_progress,
)

TRAIN_RETURN_WINDOW = 100          # finished training games averaged (baselines `eprewmean`)
CHECKPOINT_EVERY_S = 300.0         # default seconds of wall clock between checkpoints
HEARTBEAT_S = 5.0                  # seconds between a training run's heartbeat events


class ThreadCountError(ValueError):
  """A run would resume or extend with other TensorFlow thread counts (intra-/inter-op) than the
  ones its config.json records: it would no longer be the same run bit for bit."""


class NotExtendableError(ValueError):
  """A finished run was asked for more frames but was finished without its extension state."""


class KernelPathError(ValueError):
  """A run would resume or extend on another TensorFlow kernel path (oneDNN on or off) than the
  one its config.json records: it would no longer be the same run bit for bit."""


# What to do about a damaged config.json / done.json (both are only ever replaced whole).
CONFIG_REMEDY = ("config.json is only ever replaced whole (atomically), so it was damaged outside "
                 "the run: put an intact copy back, or delete the run directory {run_dir} to train "
                 "the run again from zero")
DONE_REMEDY = ("done.json is only ever replaced whole (atomically), so it was damaged outside the "
               "run: delete it, and the same command resumes the run from its final checkpoint "
               "and writes done.json again (or put an intact copy back)")


def _fmt(x) -> str:
  return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.1f}"


class Run:
  """One run's directory and settings; `execute()` does every phase (module docstring)."""

  def __init__(self, spec: RunSpec, run_dir, on_event: EventSink | None = None,
               checkpoint_every: float = CHECKPOINT_EVERY_S, lock_wait_s: float = 0.0,
               env_groups: int | None = None):
    """Args:
      spec: the run. run_dir: its directory (created).
      on_event: sink for the run's `RunEvent`s (default: print their messages).
      checkpoint_every: seconds of wall clock between checkpoints (> 0), on top of the ones
        at evaluations. lock_wait_s: how long to wait for another process's lock on run_dir
        (a retried Ray task waits for its dead predecessor's lock to be released).
      env_groups: the A2C collection's env groups (--env-groups; None = auto,
        `artifact.training.a2c.a2c_env_groups`); the same rollouts either way.
    Raises ValueError for checkpoint_every <= 0.
    """
    if not checkpoint_every > 0:
      raise ValueError(f"checkpoint_every must be > 0 seconds, got {checkpoint_every!r}")
    self.spec, self.dir = spec, Path(run_dir)
    self.on_event = on_event or print_messages()
    self.checkpoint_every, self.lock_wait_s = float(checkpoint_every), float(lock_wait_s)
    self.env_groups = env_groups
    self.extended_from: int | None = None     # frames of the finished run being extended
    self.lock = None                             # the run directory's lock, held from prepare()

  def emit(self, kind: str, message: str = "", frames: int = 0, **kw):
    """Sends a `RunEvent` of this run to the sink (`artifact.training.events`)."""
    self.on_event(RunEvent(kind=kind, run=self.spec.relpath(), frames=int(frames),
                           total_frames=self.spec.frames, message=message, **kw))

  def prepare(self) -> dict | None:
    """Takes the run directory's lock, writes config.json; returns done.json's contents if the
    run already finished at `spec.frames` or more. A finished run asked for more frames is
    extended: done.json is removed and the run resumes from its final checkpoint.
    Raises ValueError if the directory holds a different run's config (anything but `frames`
    and `keep_extension_state` differs), NotExtendableError if a finished run asked for more
    frames was finished without its extension state, KernelPathError if the run would continue
    on another kernel path than the one it recorded, ThreadCountError if with other TensorFlow
    thread counts, `artifact.files.DamagedFileError` for a
    config.json or done.json that is not a JSON object, ProgressFileError for a progress.csv
    that is not complete rows of the schema (`artifact.training.progress.read_progress`; nothing
    is written then), `artifact.training.checkpoints.RunDirLockedError` (a RuntimeError) if
    another live process is training this run."""
    self.dir.mkdir(parents=True, exist_ok=True)
    self.lock = lock_run_dir(self.dir, self.lock_wait_s)
    remove_stale_temporaries(self.dir)      # holding the lock: their writers are dead
    cfg_path, done_path = self.dir / "config.json", self.dir / "done.json"
    onednn = onednn_on()                    # this process's kernel path
    threads = tf_threads()                  # and its TensorFlow thread pools
    if cfg_path.exists():
      old = read_json(cfg_path, CONFIG_REMEDY.format(run_dir=self.dir))
      self._check_config(old)
      if done_path.exists():
        done = read_json(done_path, DONE_REMEDY)
        if self.spec.frames <= done.get("frames", 0):
          more = (f" (trained to {done['frames']:,} frames, past this budget)"
                  if self.spec.frames < done.get("frames", 0) else "")
          self.emit("finished", f"{self.spec.relpath()}: already finished{more}, skipping",
                    frames=done.get("frames", 0), data=dict(done, skipped=True))
          return done
        self._check_extendable(done)
      self._check_kernel_path(recorded_onednn(old), onednn)
      self._check_threads(recorded_tf_threads(old), threads)
      if done_path.exists():          # removed once the run is restored (`Training`)
        self.extended_from = int(done["frames"])
    if (self.dir / "progress.csv").exists():  # a damaged file is refused before anything is written
      read_progress(self.dir / "progress.csv", self.identity())
    config = json.loads(self.spec.to_json())
    config["machine"] = cpu_facts()          # the CPU kind the run (last) trained on
    config["onednn"] = onednn                # the kernel path it trains on (checked above)
    config["tf_threads"] = threads           # its TF thread pools (checked above)
    atomic_write_text(cfg_path, json.dumps(config, indent=2, sort_keys=True))
    return None

  def identity(self) -> dict:
    """{figure, game, condition, seed} of the run, as its progress rows hold them."""
    return dict(figure=self.spec.figure, game=self.spec.game, condition=self.spec.condition,
                seed=self.spec.seed)

  def _check_config(self, config: dict):
    differs, hp = config_differences(config, self.spec)
    if differs:
      raise ValueError(f"{self.dir} holds a run with a different config; use another --out "
                       f"or delete that directory (differs in: {differs}"
                       + (f"; hparams {hp}" if hp else "") + ")")

  def _check_kernel_path(self, recorded: bool | None, onednn: bool):
    if recorded is not None and recorded != onednn:
      def path(on):
        return f"oneDNN {'on' if on else 'off'} ({ONEDNN_ENV}={int(on)})"
      raise KernelPathError(
          f"{self.dir} trained with TensorFlow's {path(recorded)} and this process runs "
          f"{path(onednn)}: the two sum in different orders, so the run would not continue "
          f"bit for bit; continue it from a process started with {ONEDNN_ENV}={int(recorded)} "
          f"(./run_all.sh does: its grid takes each continued run's path from config.json, "
          f"artifact.grid.planning.kernel_path), or train it again elsewhere")

  def _check_threads(self, recorded: dict | None, threads: dict):
    if recorded is not None and recorded != threads:
      def text(t):
        return f"{t['intra_op']} intra-op / {t['inter_op']} inter-op"
      raise ThreadCountError(
          f"{self.dir} trained with TensorFlow's {text(recorded)} threads and this process has "
          f"{text(threads)} (0 = TensorFlow's default): reductions split differently, so the run "
          f"would not continue bit for bit; continue it with --cpus-per-run "
          f"{max(recorded['intra_op'], 1)} (TensorFlow threads per run; by default cores / "
          f"--jobs), or train it again elsewhere")

  def _check_extendable(self, done: dict):
    if not done.get("extendable", False):
      raise NotExtendableError(
          f"{self.dir} finished at {done.get('frames', 0):,} frames without the state an "
          f"extension needs (it ran with --no-extension-state, or at smoke scale, whose "
          f"schedules shrink into the budget); to train it to {self.spec.frames:,} frames, "
          f"delete {self.dir} or use another --out, and train it again from zero")

  def execute(self) -> dict:
    """Trains (or resumes, or skips if finished) the run; returns the contents of done.json.
    The run directory's lock is released however this ends."""
    try:
      finished = self.prepare()
      return finished if finished is not None else Training(self).train()
    finally:
      if self.lock is not None:
        self.lock.close()


class Training:
  """A prepared run being trained: its trainer and checkpoint store are built, the newest good
  checkpoint restored and progress.csv checked against it, here; the phases are methods (module
  docstring). Raises CheckpointLoadError if the run has checkpoints and none of them loads, or if
  it would restart from zero though it has checkpointed before (`_refuse_restart_from_zero`);
  ProgressFileError if progress.csv is damaged or lacks a row the run wrote before its
  checkpoint (`artifact.training.progress.check_resume`). progress.csv and done.json are not
  touched before these checks pass."""

  def __init__(self, run: Run):
    self.run, self.spec, self.dir = run, run.spec, run.dir
    self.t_start = time.time()                   # when this process began the run
    self.phases: dict[str, float] = {}           # seconds per phase, into done.json
    self.seeds = run_seeds(self.spec.seed, 1)
    tf.random.set_seed(self.seeds.tf_global)
    np.random.seed(self.seeds.tf_global)
    self.trainer = pool.acquire(self.spec, run.env_groups)
    self.store = CheckpointStore(self.dir / "checkpoint", self.trainer, TRAIN_RETURN_WINDOW,
                                 self.spec.relpath())
    self.per_update = self.trainer.frames_per_update           # emulator frames per update()
    self.total_updates = schedule.total_updates(self.spec.frames, self.per_update)
    self.eval_at = schedule.eval_updates(self.spec.eval_schedule, self.spec.frames, self.per_update)
    frames, recent = self.store.restore()
    progress, keep = self._checked_progress(frames)
    self.recent = deque(recent, maxlen=TRAIN_RETURN_WINDOW)   # last finished training games' scores
    self._announce(frames)
    t = time.time()
    self.trainer.on_restore(frames, run_seeds(self.spec.seed, self.spec.hparams.num_envs).train_env)
    if frames:
      self.phases["env_replay_s"] = time.time() - t
    if run.extended_from is not None:
      (self.dir / "done.json").unlink(missing_ok=True)  # from here on unfinished: resumes if killed
    self.progress = ProgressLog(self.dir / "progress.csv", progress, keep)
    self.writer = tf.summary.create_file_writer(str(self.dir / "tb"))
    self.updates_done = frames // self.per_update   # trainer.update() calls so far (resumed too)
    self.last_checkpoint_t = time.time()
    self.phases["build_s"] = time.time() - self.t_start

  @property
  def frames(self) -> int:
    """Emulator frames trained so far."""
    return self.updates_done * self.per_update

  def _checked_progress(self, frames: int):
    """(the checked progress.csv or None, indices of its rows to keep) for a run restored at
    `frames`: its rows up to the checkpoint, each point the schedule logs there present
    (`check_resume`). Raises ProgressFileError, or CheckpointLoadError for a restart from zero
    that would discard what the run has done."""
    path = self.dir / "progress.csv"
    progress = read_progress(path, self.run.identity()) if path.exists() else None
    if not frames:
      self._refuse_restart_from_zero(progress)
      return None, []
    if progress is None:
      raise ProgressFileError(path, 1, "", f"the file is missing, though the run's checkpoint is "
                              f"at {frames:,} frames (its rows up to there are lost)")
    points = schedule.row_updates(self.per_update, self.spec.log_every_frames, self.eval_at,
                                  self.total_updates, frames)
    return progress, check_resume(progress, frames, [u * self.per_update for u in points])

  def _refuse_restart_from_zero(self, progress: ProgressRows | None):
    """Raises CheckpointLoadError when a run without a checkpoint to load has trained before:
    a finished run being extended (done.json), or progress rows past the first evaluation (a
    checkpoint is always saved right after it, so they mean its checkpoints were lost). Rows up
    to the first evaluation are what a kill before the first checkpoint leaves; they are
    written again the same."""
    where = f"{self.store.dir} holds no checkpoint (ckpt-N.index)"
    again = f"start the run over deliberately by deleting its directory: rm -r {self.dir}"
    if self.run.extended_from is not None:
      raise CheckpointLoadError(
          f"{self.dir}: done.json says the run finished at {self.run.extended_from:,} frames, but "
          f"{where} to extend it from, so it is not restarted from zero; {again}")
    if progress is None:
      return
    evals = [i for i, r in enumerate(progress.rows) if r["eval_return"].strip()]
    if evals and evals[0] + 1 < len(progress.rows):
      i = evals[0]
      raise CheckpointLoadError(
          f"{self.dir}: {where}, but its progress.csv has {len(progress.rows)} rows up to "
          f"{progress.frames[-1]:,} frames, past its first evaluation (line "
          f"{progress.line_numbers[i]}, {progress.frames[i]:,} frames), after which the run always "
          f"checkpoints: its checkpoints were deleted or lost, so it is not restarted from zero "
          f"(which would overwrite those rows). Put the checkpoint files back, or {again}")

  def _announce(self, frames: int):
    how = (f"extending from {self.run.extended_from:,} to {self.spec.frames:,} frames"
           if self.run.extended_from is not None
           else f"resuming from checkpoint at {frames:,} frames")
    self.run.emit("started", f"{self.spec.relpath()}: {how} (replaying the training envs' "
                  f"{frames:,} frames first)" if frames else "", frames=frames)

  # --- phases -------------------------------------------------------------------------------------
  def train_phase(self) -> dict:
    """Updates until the next logging point. Returns the progress row (without evaluation)."""
    t0, u0 = time.time(), self.updates_done
    beat_t, beat_u = t0, u0
    loss_info = None
    while True:
      if stopping.requested():           # an update boundary: checkpoint here and stop
        self.stop(stopping.requested())
      loss_info = self.trainer.update()
      if "first_update_s" not in self.phases:
        self.phases["first_update_s"] = time.time() - t0
      self.updates_done += 1
      self.recent.extend(g.score for g in self.trainer.env.pop_finished_games())
      now = time.time()
      if now - beat_t >= HEARTBEAT_S:
        self._heartbeat((self.updates_done - beat_u) * self.per_update / max(now - beat_t, 1e-9))
        beat_t, beat_u = now, self.updates_done
      if (schedule.logs_row(self.updates_done, self.per_update, self.spec.log_every_frames)
          or self.updates_done in self.eval_at or self.updates_done == self.total_updates):
        break                 # a clock checkpoint due now comes after the row (`train`)
      if now - self.last_checkpoint_t >= self.run.checkpoint_every:
        self.checkpoint("clock")
    fps = (self.updates_done - u0) * self.per_update / max(time.time() - t0, 1e-9)
    return self._row(fps, loss_info)

  def _row(self, fps: float, loss_info) -> dict:
    """The progress row at the frames trained now (`artifact.training.progress.SCHEMA`)."""
    frames = self.frames
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

  def eval_phase(self) -> dict:
    """The evaluation at frame point f (the frames trained now) plays new games from seeds
    derived from (run seed, f), so an evaluation added at a budget's end shifts no other.
    Returns its columns of the progress row (`artifact.training.evaluation.evaluate`)."""
    point = self.frames
    self.trainer.seed_evaluation(self.seeds, point)
    spec = self.spec
    return evaluate(self.trainer.eval_policy, self.trainer.eval_env, spec.eval_games,
                    spec.eval_max_frames, seeds=self.seeds.eval_env(spec.eval_games, point))

  def summarize(self, row: dict):
    """TensorBoard scalars of a progress row, step = frames (a resumed run rewrites its steps)."""
    with self.writer.as_default(step=int(row["frames"])):
      for key in ("train_return", "eval_return", "eval_std", "loss", "entropy", "fps"):
        value = row.get(key)
        if value is not None and value != "" and not (isinstance(value, float)
                                                      and math.isnan(value)):
          tf.summary.scalar(key, float(value))
    self.writer.flush()

  def checkpoint(self, reason: str = "evaluation", keep: int = CHECKPOINTS_KEPT):
    """Saves agent, optimizer, counters, the training-return window (and DQN's replay)."""
    path = self.store.save(self.frames, self.recent, keep)
    if path is None:
      return                 # saved at this point already (a run resumed at its very end)
    self.last_checkpoint_t = time.time()
    self.run.emit("checkpoint", frames=self.frames, data=dict(reason=reason, path=path))

  def stop(self, reason: str):
    """Stops the run here, at an update boundary, on a stop request (`artifact.training.stopping`,
    SIGTERM / SIGINT): a checkpoint at the frames trained now (none before the first update: the
    run then starts afresh next time, as it would have), a `stopped` event, then raises
    `stopping.RunStopped`. The same command resumes the run exactly from this checkpoint."""
    path = ""
    if self.updates_done:
      path = self.store.save(self.frames, self.recent) or str(self.store.latest or "")
    self.writer.close()
    rel = self.spec.relpath()
    self.run.emit("stopped", f"{rel}: stopped by {reason} at {self.frames:,} frames"
                  + (f", checkpoint {path}" if path else " (before its first update)"),
                  frames=self.frames, data=dict(reason=reason, path=path))
    raise stopping.RunStopped(rel, self.frames, path, reason)

  def export_policy(self):
    """PolicySaver SavedModel into policy/, replaced atomically (`artifact.files.atomic_dir`)."""
    with atomic_dir(self.dir / "policy") as tmp:
      self.trainer.export_policy(str(tmp))

  def finish(self) -> dict:
    """Final checkpoint (1 kept), policy export, done.json; the trainer back to the pool.
    Returns done.json's contents."""
    t = time.time()
    self.trainer.before_final_checkpoint(self.spec.keep_extension_state)
    self.checkpoint("final", keep=1)
    self.export_policy()
    self.phases["save_s"] = time.time() - t
    self.writer.close()
    pool.release(self.spec, self.trainer)
    done = dict(run=self.spec.relpath(), frames=self.frames,
                wall_s=round(time.time() - self.t_start, 2),
                final_train_return=float(np.mean(self.recent)) if self.recent else None,
                extendable=bool(self.spec.keep_extension_state),
                phases_s={k: round(v, 2) for k, v in self.phases.items()})
    if self.run.extended_from is not None:
      done["extended_from"] = self.run.extended_from
    atomic_write_text(self.dir / "done.json", json.dumps(done, indent=2))
    self.run.emit("finished", f"{self.spec.relpath()}: finished in {done['wall_s']:,.0f}s",
                  frames=done["frames"], data=done)
    return done

  # --- the whole run ----------------------------------------------------------------------------
  def train(self) -> dict:
    """Trains to the budget: rows, evaluations and checkpoints at their points; then `finish`."""
    t_eval = 0.0
    while self.updates_done < self.total_updates:
      row = self.train_phase()
      evaluates = self.updates_done in self.eval_at
      t = time.time()
      if evaluates:
        row.update(self.eval_phase())
      self.progress.write(row)                     # the row first, then any checkpoint
      self.summarize(row)
      self._report(row)
      if self.updates_done < self.total_updates:   # the final checkpoint is in finish()
        if evaluates:
          self.checkpoint("evaluation")
        elif time.time() - self.last_checkpoint_t >= self.run.checkpoint_every:
          self.checkpoint("clock")
      if evaluates:
        t_eval += time.time() - t
    self.phases["train_loop_s"] = time.time() - self.t_start - self.phases["build_s"]
    self.phases["eval_and_checkpoint_s"] = t_eval
    return self.finish()

  def _heartbeat(self, fps: float):
    frames, spec = self.frames, self.spec
    eta = (spec.frames - frames) / max(fps, 1e-9)
    self.run.emit("heartbeat", frames=frames, fps=float(fps), message=
                  f"{spec.relpath()}  frames {frames:,}/{spec.frames:,} "
                  f"({100 * frames / spec.frames:.0f}%)  {fps:,.0f} fps  eta {eta:,.0f}s")

  def _report(self, row: dict):
    frames, spec = row["frames"], self.spec
    eta = (self.total_updates - self.updates_done) * self.per_update / max(row["fps"], 1e-9)
    self.run.emit("evaluation" if "eval_return" in row else "progress", fps=float(row["fps"]),
                  frames=frames, data=dict(row), message=
                  f"{spec.relpath()}  frames {frames:,}/{spec.frames:,} "
                  f"({100 * frames / spec.frames:.0f}%)  {row['fps']:,.0f} fps  train return "
                  f"{_fmt(row['train_return'])} ({row['train_games']} games)"
                  + (f"  eval {_fmt(row['eval_return'])}" if "eval_return" in row else "")
                  + f"  eta {eta:,.0f}s")


def run(spec: RunSpec, run_dir, on_event: EventSink | None = None,
        checkpoint_every: float = CHECKPOINT_EVERY_S, lock_wait_s: float = 0.0,
        env_groups: int | None = None) -> dict:
  """Trains (or resumes, or skips if finished) one run; returns the contents of done.json.
  The arguments are `Run`'s.

  Raises ValueError if `run_dir` holds a different run's config, or a damaged config.json,
  done.json (`artifact.files.DamagedFileError`) or progress.csv (`ProgressFileError`); RuntimeError
  if another live process trains it (`artifact.training.checkpoints.RunDirLockedError`);
  `artifact.training.checkpoints.CheckpointLoadError` if it has checkpoints and none of them
  loads, or has checkpointed before and has none left (never a silent restart from zero).
  """
  return Run(spec, run_dir, on_event, checkpoint_every, lock_wait_s, env_groups).execute()
