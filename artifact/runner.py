"""One run = one (figure, game, condition, seed): a pure function of its `RunSpec`.

Dopamine-style phases, each a small method of `Run`:
  prepare()      check/write config.json (a finished run is skipped, or extended when asked for
                 more frames; another run's dir refused)
  build()        the family's trainer (reused across seeds in a process, reseeded), checkpoints
  restore()      resume from the newest checkpoint that loads (an older one, with a warning, if
                 the newest is damaged), drop progress rows written after it
  train_phase()  updates until the next logging point (a clock checkpoint in between when
                 `checkpoint_every` seconds passed); returns the progress row
  eval_phase()   evaluation games (whole games, raw scores) at the scheduled updates
  checkpoint()   `tf.train.Checkpoint`: agent, optimizer, counters, the training-return window,
                 and for DQN the replay buffer (tf-agents' checkpointable replay, as Dopamine
                 saves its replay), so a resumed DQN run goes on with the replay it had
  summarize()    TensorBoard scalars of the row (`tensorboard --logdir runs` shows the grid)
  finish()       final checkpoint (with what an extension needs unless the spec drops it),
                 PolicySaver export, done.json

Exact resumption: beside each checkpoint the training env's action log and the loop's numpy
random states are saved (`Trainer.save_beside_checkpoint`); a restored run reseeds its training
envs as at its start and replays the logged actions, so it goes on with the very games, actions
and updates of the run that never stopped. A finished run asked for more frames (same spec but
`frames`) is extended the same way from its final checkpoint: its progress rows, evaluations,
TensorBoard scalars, done.json and policy go on to the new budget, as if it had gone straight
there (plus the evaluation at the first budget's end). Progress rows and evaluations sit at
points fixed in frames (`artifact.schedule`).

What the run reports goes out as `artifact.events.RunEvent`s (started, progress, evaluation,
checkpoint, finished) to the `on_event` sink; by default their messages are printed.

Kill safety: checkpoints come at every evaluation and every `checkpoint_every` seconds (default
300), so a kill loses at most that much training. A progress row is written
before the checkpoint that follows it, so a kill between the two never loses the row; rows past
the restored checkpoint are dropped on resume, so every frame point appears exactly once. Every
file is replaced atomically (config.json, progress.csv, done.json, the policy directory; TF
writes checkpoints to a temporary name and renames), and the two newest checkpoints are kept so
that a damaged one falls back to the one before. The checkpoints are found from their files
(ckpt-N.index), not only from TF's state file, so a deleted or garbled state file never restarts a
run from zero (nor truncates its progress.csv); the temporary files of killed writers are removed
when the run resumes (holding the run's lock). Checkpoints hold data only: no tracked Python state
pickles (`pickling_states`), so restoring one from an untrusted directory runs no code.

Run directory layout (`runs/figure{F}/{Game}/{condition}/seed{S}/`):
  config.json    the RunSpec (every hyperparameter used) and "machine", the CPU it trained on
                 (`artifact.machine.cpu_facts`)
  progress.csv   one row per logged point (schema: `artifact.progress.SCHEMA`)
  checkpoint/    `tf.train.CheckpointManager`, the 2 newest (1 once finished)
  policy/        `PolicySaver` SavedModel of the final policy (load with
                 `tf_agents.policies.py_tf_eager_policy.SavedModelPyTFEagerPolicy`)
  tb/            TensorBoard event files: returns, loss, entropy, frames/s against frames
  done.json      written last: final numbers, wall time and the time spent in each phase
"""
from __future__ import annotations

import json
import math
import os
import shutil
import time
import warnings
from collections import deque
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np
import tensorflow as tf

from artifact import schedule, trainers
from artifact.events import EventSink, RunEvent, print_messages
from artifact.evaluation import evaluate
from artifact.files import atomic_write_text
from artifact.machine import cpu_facts
from artifact.progress import ProgressLog
from artifact.seeding import run_seeds
from artifact.specs import RunSpec, config_differences

TRAIN_RETURN_WINDOW = 100          # finished training games averaged (baselines `eprewmean`)
CHECKPOINT_EVERY_S = 300.0         # default seconds of wall clock between checkpoints
CHECKPOINTS_KEPT = 2               # while training: the newest and a fallback
HEARTBEAT_S = 5.0                  # seconds between a training run's heartbeat events


class CheckpointLoadError(RuntimeError):
  """No checkpoint of a run directory could be loaded (the run is not restarted from zero)."""


class NotExtendableError(ValueError):
  """A finished run was asked for more frames but was finished without its extension state."""


def _fmt(x) -> str:
  return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.1f}"


class Run:
  """One run in phases (see the module docstring). `Run(spec, dir).execute()` does them all."""

  def __init__(self, spec: RunSpec, run_dir, on_event: Optional[EventSink] = None,
               checkpoint_every: float = CHECKPOINT_EVERY_S, lock_wait_s: float = 0.0,
               env_groups: Optional[int] = None):
    """Args:
      spec: the run. run_dir: its directory (created).
      on_event: sink for the run's `RunEvent`s (default: print their messages).
      checkpoint_every: seconds of wall clock between checkpoints (> 0), on top of the ones
        at evaluations. lock_wait_s: how long to wait for another process's lock on run_dir
        (a retried Ray task waits for its dead predecessor's lock to be released).
      env_groups: the A2C collection's env groups (--env-groups; None = auto,
        `artifact.trainers.a2c_env_groups`); the same rollouts either way.
    Raises ValueError for checkpoint_every <= 0.
    """
    if not checkpoint_every > 0:
      raise ValueError(f"checkpoint_every must be > 0 seconds, got {checkpoint_every!r}")
    self.spec, self.dir = spec, Path(run_dir)
    self.on_event = on_event or print_messages()
    self.checkpoint_every, self.lock_wait_s = float(checkpoint_every), float(lock_wait_s)
    self.env_groups = env_groups
    self.phases: Dict[str, float] = {}           # seconds per phase, into done.json
    self.recent = deque(maxlen=TRAIN_RETURN_WINDOW)   # the last finished training games' scores
    self.extended_from: Optional[int] = None     # frames of the finished run being extended
    # prepare(): the run directory's lock (an open file; closed when the run ends)
    self._lock = None
    # build(): seeds, trainer, checkpointed counters, checkpoint and its manager, the schedule
    self.seeds = None                            # artifact.seeding.RunSeeds
    self.trainer: Optional[trainers.Trainer] = None
    self.frames_var = self.recent_var = self.recent_n = None   # tf.Variables in the checkpoint
    self.ckpt: Optional[tf.train.Checkpoint] = None
    self.ckpt_manager: Optional[tf.train.CheckpointManager] = None
    self.per_update = 0                          # emulator frames per trainer.update()
    self.total_updates = 0                       # trainer.update() calls in the whole budget
    self.eval_at: List[int] = []                 # update counts after which an evaluation runs
    # restore() and the training loop
    self.updates_done = 0                        # trainer.update() calls so far (resumed ones too)
    self.progress: Optional[ProgressLog] = None
    self.writer = None                           # TensorBoard summary writer of tb/
    self.t_start = 0.0                           # time.time() when this process began the run
    self.last_checkpoint_t = 0.0                 # time.time() of the last checkpoint (or restore)

  def emit(self, kind: str, message: str = "", frames: int = 0, **kw):
    self.on_event(RunEvent(kind=kind, run=self.spec.relpath(), frames=int(frames),
                           total_frames=self.spec.frames, message=message, **kw))

  # --- phases -------------------------------------------------------------------------------------
  def prepare(self) -> Optional[Dict]:
    """Takes the run directory's lock, writes config.json; returns done.json's contents if the
    run already finished at `spec.frames` or more. A finished run asked for more frames is
    extended: done.json is removed and the run resumes from its final checkpoint.
    Raises ValueError if the directory holds a different run's config (anything but `frames`
    and `keep_extension_state` differs), NotExtendableError if a finished run asked for more
    frames was finished without its extension state, RuntimeError if another live process is
    training this run."""
    self.dir.mkdir(parents=True, exist_ok=True)
    self._lock = lock_run_dir(self.dir, self.lock_wait_s)
    remove_stale_temporaries(self.dir)      # holding the lock: their writers are dead
    cfg_path, done_path = self.dir / "config.json", self.dir / "done.json"
    if cfg_path.exists():
      differs, hp = config_differences(json.loads(cfg_path.read_text()), self.spec)
      if differs:
        raise ValueError(f"{self.dir} holds a run with a different config; use another --out "
                         f"or delete that directory (differs in: {differs}"
                         + (f"; hparams {hp}" if hp else "") + ")")
      if done_path.exists():
        done = json.loads(done_path.read_text())
        if self.spec.frames <= done.get("frames", 0):
          more = (f" (trained to {done['frames']:,} frames, past this budget)"
                  if self.spec.frames < done.get("frames", 0) else "")
          self.emit("finished", f"{self.spec.relpath()}: already finished{more}, skipping",
                    frames=done.get("frames", 0), data=dict(done, skipped=True))
          return done
        if not done.get("extendable", False):
          raise NotExtendableError(
              f"{self.dir} finished at {done.get('frames', 0):,} frames without the state an "
              f"extension needs (it ran with --no-extension-state, or at smoke scale, whose "
              f"schedules shrink into the budget); to train it to {self.spec.frames:,} frames, "
              f"delete {self.dir} or use another --out, and train it again from zero")
        self.extended_from = int(done["frames"])
        done_path.unlink()            # from here on an unfinished run: it resumes if killed
    config = json.loads(self.spec.to_json())
    config["machine"] = cpu_facts()          # the CPU kind the run (last) trained on
    atomic_write_text(cfg_path, json.dumps(config, indent=2, sort_keys=True))
    return None

  def build(self):
    self.seeds = run_seeds(self.spec.seed, 1)
    tf.random.set_seed(self.seeds.tf_global)
    np.random.seed(self.seeds.tf_global)
    self.trainer = trainers.acquire(self.spec, self.env_groups)
    self.frames_var = tf.Variable(0, dtype=tf.int64, name="frames")
    self.recent_var = tf.Variable(np.zeros(TRAIN_RETURN_WINDOW), dtype=tf.float64, name="recent_returns")
    self.recent_n = tf.Variable(0, dtype=tf.int64, name="recent_count")
    self.ckpt = tf.train.Checkpoint(agent=self.trainer.agent, frames=self.frames_var,
                                    recent_returns=self.recent_var, recent_count=self.recent_n,
                                    **self.trainer.extra_checkpoint_objects())
    unsafe = pickling_states(self.ckpt)
    if unsafe:
      raise TypeError(f"{self.spec.relpath()}: the checkpoint would track Python states that may "
                      f"pickle ({', '.join(unsafe)}); checkpoints hold data only")
    try:
      self.ckpt_manager = tf.train.CheckpointManager(self.ckpt, str(self.dir / "checkpoint"),
                                                     max_to_keep=CHECKPOINTS_KEPT)
    except Exception as e:  # pylint: disable=broad-except
      # TF ignores a state file it cannot parse but not one it cannot decode (random bytes):
      # drop it; restore() then lists the checkpoint files themselves (and rewrites it)
      state = self.dir / "checkpoint" / "checkpoint"
      if not state.is_file():
        raise
      warnings.warn(f"{self.spec.relpath()}: the checkpoint state file {state} does not read "
                    f"({type(e).__name__}); removed, the checkpoint files are listed instead",
                    RuntimeWarning)
      state.unlink()
      self.ckpt_manager = tf.train.CheckpointManager(self.ckpt, str(self.dir / "checkpoint"),
                                                     max_to_keep=CHECKPOINTS_KEPT)
    self.per_update = self.trainer.frames_per_update
    self.total_updates = schedule.total_updates(self.spec.frames, self.per_update)
    self.eval_at = schedule.eval_updates(self.spec.eval_schedule, self.spec.frames, self.per_update)

  def restore(self) -> int:
    """Loads the newest checkpoint that loads; returns the frames it holds (0: fresh start).
    Raises CheckpointLoadError if checkpoints exist and none of them loads."""
    frames = self._load_newest_good_checkpoint()
    n = int(self.recent_n.numpy())
    self.recent.clear()
    self.recent.extend(self.recent_var.numpy()[:n].tolist())
    how = (f"extending from {self.extended_from:,} to {self.spec.frames:,} frames"
           if self.extended_from is not None else f"resuming from checkpoint at {frames:,} frames")
    self.emit("started", f"{self.spec.relpath()}: {how} (replaying the training envs' "
              f"{frames:,} frames first)" if frames else "", frames=frames)
    t = time.time()
    self.trainer.on_restore(frames, run_seeds(self.spec.seed, self.spec.hparams.num_envs).train_env)
    if frames:
      self.phases["env_replay_s"] = time.time() - t
    self.progress = ProgressLog(self.dir / "progress.csv", frames)
    self.writer = tf.summary.create_file_writer(str(self.dir / "tb"))
    self.updates_done = frames // self.per_update
    self.last_checkpoint_t = time.time()
    return frames

  def _load_newest_good_checkpoint(self) -> int:
    """Tries the run's checkpoints newest first (by frames) and returns the frames of the first
    that loads. The candidates are the ckpt-N.index files in checkpoint/ together with what TF's
    state file (checkpoint/checkpoint) lists: with that file deleted, garbled or behind (a kill
    between a save and its update), TF alone would list none, or an older one, and the run would
    restart from zero or from further back. When the state file disagrees with what was loaded it
    is rewritten (the loaded checkpoint the latest, the others first in line for deletion), so
    that the next save keeps the loaded one as the fallback and sweeps the rest."""
    self.trainer.build_optimizer_slots()       # restore every variable now, none deferred
    ckpt_dir = self.dir / "checkpoint"
    listed = [Path(p) for p in self.ckpt_manager.checkpoints]      # the state file's, oldest first
    candidates = {}
    for prefix in listed + checkpoints_on_disk(ckpt_dir):
      candidates[_checkpoint_number(prefix, len(candidates))] = prefix
    paths = [candidates[n] for n in sorted(candidates, reverse=True)]  # newest first
    state_latest = self.ckpt_manager.latest_checkpoint
    if paths and (state_latest is None or Path(state_latest).name != paths[0].name):
      state = self.dir / "checkpoint" / "checkpoint"
      why = ("is missing" if not state.exists() else "is unreadable or lists none"
             if state_latest is None else f"names {Path(state_latest).name} as the newest")
      warnings.warn(f"{self.spec.relpath()}: the checkpoint state file {state} {why}; resuming "
                    f"from the checkpoint files in {ckpt_dir} instead (newest first: "
                    f"{', '.join(p.name for p in paths)})", RuntimeWarning)
    errors = []
    for i, path in enumerate(paths):
      try:
        # every object of ours gets its value; values with no object here (e.g. the pickled
        # frame dictionary of checkpoints written before it was untracked) are left unread
        self.ckpt.read(str(path)).assert_existing_objects_matched().expect_partial()
        self.trainer.load_beside_checkpoint(str(path))
      except Exception as e:  # pylint: disable=broad-except  (any damage: try the one before)
        errors.append(f"{path}: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}")
        warnings.warn(f"{self.spec.relpath()}: checkpoint {path} does not load "
                      f"({type(e).__name__}); falling back to the one before", RuntimeWarning)
        continue
      # sweep order: the newer ones that failed, then the older ones, the loaded one last
      order = paths[:i][::-1] + paths[i + 1:][::-1] + [path]
      if [p.name for p in listed] != [p.name for p in order]:
        _write_checkpoint_state(ckpt_dir, order)
        self.ckpt_manager = tf.train.CheckpointManager(self.ckpt, str(ckpt_dir),
                                                       max_to_keep=CHECKPOINTS_KEPT)
      return int(self.frames_var.numpy())
    if paths:
      raise CheckpointLoadError(
          f"{self.dir}: none of its {len(paths)} checkpoints loads, so the run is not restarted "
          f"from zero silently; delete {self.dir} to retrain it. Errors: " + "; ".join(errors))
    return 0

  def train_phase(self) -> Dict:
    """Updates until the next logging point. Returns the progress row (without evaluation)."""
    t0, u0 = time.time(), self.updates_done
    beat_t, beat_u = t0, u0
    loss_info = None
    while True:
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
        break                 # a clock checkpoint due now comes after the row (`_execute`)
      if now - self.last_checkpoint_t >= self.checkpoint_every:
        self.checkpoint("clock")
    frames = self.updates_done * self.per_update
    fps = (self.updates_done - u0) * self.per_update / max(time.time() - t0, 1e-9)
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
    """The evaluation at frame point f (the frames trained now) plays new games from seeds
    derived from (run seed, f), so an evaluation added at a budget's end shifts no other."""
    point = self.updates_done * self.per_update
    self.trainer.reseed_eval(self.seeds, point)
    spec = self.spec
    return evaluate(self.trainer.eval_policy, self.trainer.eval_env, spec.eval_games,
                    spec.eval_max_frames, seeds=self.seeds.eval_env(spec.eval_games, point))

  def summarize(self, row: Dict):
    """TensorBoard scalars of a progress row, step = frames (a resumed run rewrites its steps)."""
    with self.writer.as_default(step=int(row["frames"])):
      for key in ("train_return", "eval_return", "eval_std", "loss", "entropy", "fps"):
        value = row.get(key)
        if value is not None and value != "" and not (isinstance(value, float) and math.isnan(value)):
          tf.summary.scalar(key, float(value))
    self.writer.flush()

  def checkpoint(self, reason: str = "evaluation", keep: int = CHECKPOINTS_KEPT):
    """Saves agent, optimizer, counters, the training-return window (and DQN's replay)."""
    frames = self.updates_done * self.per_update
    self.frames_var.assign(frames)
    window = np.zeros(TRAIN_RETURN_WINDOW)
    window[:len(self.recent)] = list(self.recent)
    self.recent_var.assign(window)
    self.recent_n.assign(len(self.recent))
    manager = self.ckpt_manager
    if manager.latest_checkpoint and manager.latest_checkpoint.endswith(f"ckpt-{frames}"):
      return                 # saved at this point already (a run resumed at its very end)
    if keep != CHECKPOINTS_KEPT:      # the final save also deletes the fallback before it
      manager = tf.train.CheckpointManager(self.ckpt, str(self.dir / "checkpoint"), max_to_keep=keep)
    prefix = str(self.dir / "checkpoint" / f"ckpt-{frames}")
    (self.dir / "checkpoint").mkdir(exist_ok=True)
    self.trainer.save_beside_checkpoint(prefix)     # first: a checkpoint never lacks its files
    path = manager.save(checkpoint_number=frames)
    assert path == prefix, (path, prefix)
    live = {Path(p).name for p in manager.checkpoints}
    for old in (self.dir / "checkpoint").glob("ckpt-*.*.npz"):   # files of deleted checkpoints
      if old.name.split(".", 1)[0] not in live:
        old.unlink(missing_ok=True)
    self.last_checkpoint_t = time.time()
    self.emit("checkpoint", frames=frames, data=dict(reason=reason, path=path))

  def export_policy(self):
    """PolicySaver SavedModel into policy/, replaced atomically (written beside it, renamed)."""
    final, tmp = self.dir / "policy", self.dir / f".policy.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    self.trainer.export_policy(str(tmp))
    if final.exists():
      shutil.rmtree(final)
    os.rename(tmp, final)

  def finish(self) -> Dict:
    t = time.time()
    self.trainer.before_final_checkpoint(self.spec.keep_extension_state)
    self.checkpoint("final", keep=1)
    self.export_policy()
    self.phases["save_s"] = time.time() - t
    self.writer.close()
    trainers.release(self.spec, self.trainer)
    done = dict(run=self.spec.relpath(), frames=self.updates_done * self.per_update,
                wall_s=round(time.time() - self.t_start, 2),
                final_train_return=float(np.mean(self.recent)) if self.recent else None,
                extendable=bool(self.spec.keep_extension_state),
                phases_s={k: round(v, 2) for k, v in self.phases.items()})
    if self.extended_from is not None:
      done["extended_from"] = self.extended_from
    atomic_write_text(self.dir / "done.json", json.dumps(done, indent=2))
    self.emit("finished", f"{self.spec.relpath()}: finished in {done['wall_s']:,.0f}s",
              frames=done["frames"], data=done)
    return done

  # --- the whole run ----------------------------------------------------------------------------
  def execute(self) -> Dict:
    """Trains (or resumes, or skips if finished) the run; returns the contents of done.json.
    The run directory's lock is released however this ends."""
    try:
      return self._execute()
    finally:
      if self._lock is not None:
        self._lock.close()

  def _execute(self) -> Dict:
    finished = self.prepare()
    if finished is not None:
      return finished
    self.t_start = time.time()
    self.build()
    self.restore()
    self.phases["build_s"] = time.time() - self.t_start
    t_eval = 0.0
    while self.updates_done < self.total_updates:
      row = self.train_phase()
      if self.updates_done in self.eval_at:
        t = time.time()
        row.update(self.eval_phase())
        self.progress.write(row)                     # the row first, then the checkpoint
        self.summarize(row)
        self._report(row)
        if self.updates_done < self.total_updates:   # the final checkpoint is in finish()
          self.checkpoint("evaluation")
        t_eval += time.time() - t
      else:
        self.progress.write(row)                     # the row first, then any checkpoint
        self.summarize(row)
        self._report(row)
        if (time.time() - self.last_checkpoint_t >= self.checkpoint_every
            and self.updates_done < self.total_updates):
          self.checkpoint("clock")
    self.phases["train_loop_s"] = time.time() - self.t_start - self.phases["build_s"]
    self.phases["eval_and_checkpoint_s"] = t_eval
    return self.finish()

  def _heartbeat(self, fps: float):
    frames, spec = self.updates_done * self.per_update, self.spec
    eta = (spec.frames - frames) / max(fps, 1e-9)
    self.emit("heartbeat", frames=frames, fps=float(fps), message=
              f"{spec.relpath()}  frames {frames:,}/{spec.frames:,} ({100 * frames / spec.frames:.0f}%)"
              f"  {fps:,.0f} fps  eta {eta:,.0f}s")

  def _report(self, row: Dict):
    frames, spec = row["frames"], self.spec
    eta = (self.total_updates - self.updates_done) * self.per_update / max(row["fps"], 1e-9)
    self.emit("evaluation" if "eval_return" in row else "progress", fps=float(row["fps"]),
              frames=frames, data=dict(row), message=
             f"{spec.relpath()}  frames {frames:,}/{spec.frames:,} ({100 * frames / spec.frames:.0f}%)"
             f"  {row['fps']:,.0f} fps  train return {_fmt(row['train_return'])} ({row['train_games']} games)"
             + (f"  eval {_fmt(row['eval_return'])}" if "eval_return" in row else "")
             + f"  eta {eta:,.0f}s")


def pickling_states(root) -> List[str]:
  """Type names of the `tf.train.experimental.PythonState`s tracked under `root` other than
  tf-agents' numpy wrappers (`np.save`/`np.load` with allow_pickle=False): any other one (e.g.
  tf-agents' `FrameBuffer`, which pickles) would put code-carrying bytes into the checkpoint and
  unpickle whatever a checkpoint holds at its key on restore."""
  from tf_agents.utils import numpy_storage
  return sorted({type(t).__name__ for t in tf.train.TrackableView(root).descendants()
                 if isinstance(t, tf.train.experimental.PythonState)
                 and type(t) is not numpy_storage._NumpyWrapper})  # pylint: disable=protected-access


def checkpoints_on_disk(ckpt_dir: Path) -> List[Path]:
  """Prefixes of the complete checkpoints in `ckpt_dir` (`ckpt-N.index` exists: TF writes the
  index last), oldest first by N, read from the directory itself (not TF's state file)."""
  found = []
  for index in Path(ckpt_dir).glob("ckpt-*.index"):
    prefix = index.with_suffix("")
    n = prefix.name[len("ckpt-"):]
    if n.isdigit():
      found.append((int(n), prefix))
  return [prefix for _, prefix in sorted(found)]


def _checkpoint_number(prefix: Path, default: int) -> int:
  n = Path(prefix).name[len("ckpt-"):]
  return int(n) if Path(prefix).name.startswith("ckpt-") and n.isdigit() else -1 - default


def _write_checkpoint_state(ckpt_dir: Path, order: List[Path]):
  """Rewrites TF's checkpoint state file (atomically, by TF) to list `order` (the last one the
  latest), with paths relative to `ckpt_dir` as `tf.train.CheckpointManager` writes them."""
  names = [p.name for p in order]
  stamps = [(p.parent / f"{p.name}.index").stat().st_mtime
            if (p.parent / f"{p.name}.index").exists() else time.time() for p in order]
  tf.compat.v1.train.update_checkpoint_state(str(ckpt_dir), names[-1], names,
                                             all_model_checkpoint_timestamps=stamps)


# What a killed writer leaves behind: (folder relative to the run dir, glob). Each is a temporary
# name that is renamed into place when its write completes, so a leftover is never read.
STALE_TEMPORARIES = (
    (".", ".policy.tmp-*"),                # Run.export_policy's SavedModel folder
    (".", ".*.tmp"),                       # artifact/files.py atomic writes (config, progress, done)
    ("checkpoint", ".*.tmp"),              # artifact/files.py atomic writes (loop-state npz)
    ("checkpoint", "*.npz.tmp-*"),         # agents/replay.py save_frames
    ("checkpoint", "*_temp*"),             # TF's sharded save folder ckpt-N_temp/ (merged, removed)
    ("checkpoint", "*.tempstate*"),        # TF's tensor bundle writer (index/data before rename)
    ("checkpoint", "checkpoint.tmp*"),     # TF's atomic write of its state file
)


def remove_stale_temporaries(run_dir: Path) -> List[Path]:
  """Removes the temporary files and folders that killed writers left in `run_dir` (see
  `STALE_TEMPORARIES`). Call it only while holding the run directory's lock (`lock_run_dir`):
  every process that writes into a run directory holds that lock, so then their writers are
  dead. Returns what was removed."""
  removed = []
  for folder, pattern in STALE_TEMPORARIES:
    for p in (Path(run_dir) / folder).glob(pattern):
      if p.name in (".lock", "checkpoint"):
        continue
      if p.is_dir() and not p.is_symlink():
        shutil.rmtree(p, ignore_errors=True)
      else:
        p.unlink(missing_ok=True)
      removed.append(p)
  return removed


def lock_run_dir(run_dir: Path, wait_s: float = 0.0):
  """An exclusive `fcntl.flock` on run_dir/.lock, held until the process exits (or the returned
  file is closed): two processes can never train the same run into the same files. The kernel
  drops the lock when its holder dies, however it dies. Waits up to `wait_s` seconds for it.
  Raises RuntimeError naming the holder."""
  import fcntl
  f = open(run_dir / ".lock", "a+")
  deadline = time.time() + wait_s
  while True:
    try:
      fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
      break
    except BlockingIOError:
      if time.time() < deadline:
        time.sleep(0.5)
        continue
      f.seek(0)
      holder = f.read().strip() or "another process"
      f.close()
      raise RuntimeError(f"{run_dir} is being trained by {holder}; wait for it or stop it") from None
  f.seek(0)
  f.truncate()
  f.write(f"pid {os.getpid()}")
  f.flush()
  return f


def run(spec: RunSpec, run_dir, on_event: Optional[EventSink] = None,
        checkpoint_every: float = CHECKPOINT_EVERY_S, lock_wait_s: float = 0.0,
        env_groups: Optional[int] = None) -> Dict:
  """Trains (or resumes, or skips if finished) one run; returns the contents of done.json.
  The arguments are `Run`'s.

  Raises ValueError if `run_dir` holds a different run's config, RuntimeError if another live
  process trains it, CheckpointLoadError if it has checkpoints and none of them loads.
  """
  return Run(spec, run_dir, on_event, checkpoint_every, lock_wait_s, env_groups).execute()
