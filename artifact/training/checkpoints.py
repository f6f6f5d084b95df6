"""A run's checkpoints on disk: the store that saves and restores them, the run directory's lock
and the temporaries a killed writer leaves.

`CheckpointStore` owns the run's `tf.train.Checkpoint` (the trainer's agent and optimizer, its
extra objects such as the DQN replay, the frame counter and the training-return window) and its
`tf.train.CheckpointManager` in `<run dir>/checkpoint/`. It finds checkpoints from their files
(ckpt-N.index), not only from TF's state file, so a deleted or garbled state file never restarts a
run from zero, nor do index files deleted beside their data (`checkpoint_traces`: refused, not
restarted); it falls back to the checkpoint before when the newest does not load; it writes
the trainer's files beside each checkpoint first (`Trainer.save_beside_checkpoint`), so a
checkpoint never lacks them, and removes those of deleted checkpoints. Checkpoints hold data
only: no tracked Python state pickles (`pickling_states`), so restoring one from an untrusted
directory runs no code. TF writes checkpoints to a temporary name and renames; every other file
goes through `artifact.files` (atomic_path).
"""
from __future__ import annotations

import os
import shutil
import time
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import tensorflow as tf
from tf_agents.utils import numpy_storage

CHECKPOINTS_KEPT = 2               # while training: the newest and a fallback


class CheckpointLoadError(RuntimeError):
  """No checkpoint of a run directory could be loaded, though the run has checkpointed (the run
  is not restarted from zero)."""


class RunDirLockedError(RuntimeError):
  """Another live process holds a run directory's lock (`lock_run_dir`): it trains that run."""


class CheckpointStore:
  """The checkpoints of one run (module docstring).

  Args:
    ckpt_dir: `<run dir>/checkpoint` (created at the first save).
    trainer: the run's `artifact.training.trainer.Trainer`.
    window: length of the training-return window kept in the checkpoint (finished games).
    name: the run's relative path, for messages.
  Raises TypeError if the checkpoint would track a Python state that may pickle.
  """

  def __init__(self, ckpt_dir: Path, trainer, window: int, name: str):
    self.dir, self.trainer, self.window, self.name = Path(ckpt_dir), trainer, int(window), name
    self.frames_var = tf.Variable(0, dtype=tf.int64, name="frames")
    self.recent_var = tf.Variable(np.zeros(self.window), dtype=tf.float64, name="recent_returns")
    self.recent_n = tf.Variable(0, dtype=tf.int64, name="recent_count")
    self.ckpt = tf.train.Checkpoint(agent=trainer.agent, frames=self.frames_var,
                                    recent_returns=self.recent_var, recent_count=self.recent_n,
                                    **trainer.extra_checkpoint_objects())
    unsafe = pickling_states(self.ckpt)
    if unsafe:
      raise TypeError(f"{name}: the checkpoint would track Python states that may pickle "
                      f"({', '.join(unsafe)}); checkpoints hold data only")
    self.manager = self._open_manager()

  def _open_manager(self, keep: int = CHECKPOINTS_KEPT) -> tf.train.CheckpointManager:
    """TF's manager of the checkpoint directory. TF ignores a state file it cannot parse but not
    one it cannot decode (random bytes): that one is removed (with a warning) and `restore` then
    lists the checkpoint files themselves (and rewrites it)."""
    try:
      return tf.train.CheckpointManager(self.ckpt, str(self.dir), max_to_keep=keep)
    except Exception as e:
      state = self.dir / "checkpoint"
      if not state.is_file():
        raise
      warnings.warn(f"{self.name}: the checkpoint state file {state} does not read "
                    f"({type(e).__name__}); removed, the checkpoint files are listed instead",
                    RuntimeWarning, stacklevel=1)
      state.unlink()
      return tf.train.CheckpointManager(self.ckpt, str(self.dir), max_to_keep=keep)

  @property
  def latest(self):
    """Prefix of the newest checkpoint TF's state file lists (str), or None."""
    return self.manager.latest_checkpoint

  def restore(self) -> tuple[int, list[float]]:
    """Loads the newest checkpoint that loads; returns (frames it holds, the training-return
    window it holds); (0, []) for a fresh start. Raises CheckpointLoadError if checkpoints exist
    and none of them loads, or if there is none but the directory holds what checkpoints leave
    (`checkpoint_traces`: their index files were deleted)."""
    frames = self._load_newest_good()
    n = int(self.recent_n.numpy())
    return frames, self.recent_var.numpy()[:n].tolist()

  def _load_newest_good(self) -> int:
    """Tries the run's checkpoints newest first (by frames) and returns the frames of the first
    that loads. The candidates are the ckpt-N.index files in checkpoint/ together with what TF's
    state file (checkpoint/checkpoint) lists: with that file deleted, garbled or behind (a kill
    between a save and its update), TF alone would list none, or an older one, and the run would
    restart from zero or from further back. When the state file disagrees with what was loaded it
    is rewritten (the loaded checkpoint the latest, the others first in line for deletion), so
    that the next save keeps the loaded one as the fallback and sweeps the rest."""
    self.trainer.build_optimizer_slots()       # restore every variable now, none deferred
    ckpt_dir = self.dir
    listed = [Path(p) for p in self.manager.checkpoints]      # the state file's, oldest first
    candidates = {}
    for prefix in listed + checkpoints_on_disk(ckpt_dir):
      candidates[_checkpoint_number(prefix, len(candidates))] = prefix
    paths = [candidates[n] for n in sorted(candidates, reverse=True)]  # newest first
    state_latest = self.manager.latest_checkpoint
    if paths and (state_latest is None or Path(state_latest).name != paths[0].name):
      state = self.dir / "checkpoint"
      why = ("is missing" if not state.exists() else "is unreadable or lists none"
             if state_latest is None else f"names {Path(state_latest).name} as the newest")
      warnings.warn(f"{self.name}: the checkpoint state file {state} {why}; resuming "
                    f"from the checkpoint files in {ckpt_dir} instead (newest first: "
                    f"{', '.join(p.name for p in paths)})", RuntimeWarning, stacklevel=1)
    errors = []
    for i, path in enumerate(paths):
      try:
        # every object of ours gets its value; values with no object here are left unread: the
        # pickled frame dictionary that DQN checkpoints of the campaign's frozen code (tag
        # campaign-1, whose runs this code resumes and extends) hold is never unpickled
        # (tests/test_checkpoint_safety.py plants one)
        self.ckpt.read(str(path)).assert_existing_objects_matched().expect_partial()
        self.trainer.load_beside_checkpoint(str(path))
      except Exception as e:  # any damage: try the one before
        errors.append(f"{path}: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}")
        warnings.warn(f"{self.name}: checkpoint {path} does not load "
                      f"({type(e).__name__}); falling back to the one before", RuntimeWarning,
                      stacklevel=1)
        continue
      # sweep order: the newer ones that failed, then the older ones, the loaded one last
      order = paths[:i][::-1] + paths[i + 1:][::-1] + [path]
      if [p.name for p in listed] != [p.name for p in order]:
        _write_checkpoint_state(ckpt_dir, order)
        self.manager = self._open_manager()
      return int(self.frames_var.numpy())
    if paths:
      raise CheckpointLoadError(
          f"{self.dir.parent}: none of its {len(paths)} checkpoints loads, so the run is not "
          f"restarted from zero silently; delete {self.dir.parent} to retrain it. Errors: "
          + "; ".join(errors))
    traces = checkpoint_traces(ckpt_dir)
    if traces:
      shown = ", ".join(p.name for p in traces[:4]) + (f" and {len(traces) - 4} more"
                                                       if len(traces) > 4 else "")
      raise CheckpointLoadError(
          f"{self.dir.parent}: {ckpt_dir} holds what checkpoints leave ({shown}) but no "
          f"checkpoint index (ckpt-N.index) to load one from: the run has checkpointed, and its "
          f"checkpoints were deleted or lost, so it is not restarted from zero. Put the missing "
          f"files back, or start the run over deliberately by deleting its directory: "
          f"rm -r {self.dir.parent}")
    return 0

  def save(self, frames: int, recent: Sequence[float], keep: int = CHECKPOINTS_KEPT):
    """Saves the checkpoint `ckpt-<frames>` with the training-return window `recent` (the files
    beside it first); `keep`: checkpoints kept (the final save keeps 1, deleting the fallback).
    Returns its prefix, or None if the newest checkpoint is at `frames` already (a run resumed at
    its very end)."""
    self.frames_var.assign(frames)
    window = np.zeros(self.window)
    window[:len(recent)] = list(recent)
    self.recent_var.assign(window)
    self.recent_n.assign(len(recent))
    manager = self.manager
    if manager.latest_checkpoint and manager.latest_checkpoint.endswith(f"ckpt-{frames}"):
      return None
    if keep != CHECKPOINTS_KEPT:
      manager = tf.train.CheckpointManager(self.ckpt, str(self.dir), max_to_keep=keep)
    prefix = str(self.dir / f"ckpt-{frames}")
    self.dir.mkdir(exist_ok=True)
    self.trainer.save_beside_checkpoint(prefix)     # first: a checkpoint never lacks its files
    path = manager.save(checkpoint_number=frames)
    assert path == prefix, (path, prefix)
    live = {Path(p).name for p in manager.checkpoints}
    for old in self.dir.glob("ckpt-*.*.npz"):        # files of deleted checkpoints
      if old.name.split(".", 1)[0] not in live:
        old.unlink(missing_ok=True)
    return path


def pickling_states(root) -> list[str]:
  """Type names of the `tf.train.experimental.PythonState`s tracked under `root` other than
  tf-agents' numpy wrappers (`np.save`/`np.load` with allow_pickle=False): any other one (e.g.
  tf-agents' `FrameBuffer`, which pickles) would put code-carrying bytes into the checkpoint and
  unpickle whatever a checkpoint holds at its key on restore. (tf-agents' wrapper class has no
  public name: it is matched as `numpy_storage._NumpyWrapper`.)"""
  return sorted({type(t).__name__ for t in tf.train.TrackableView(root).descendants()
                 if isinstance(t, tf.train.experimental.PythonState)
                 and type(t) is not numpy_storage._NumpyWrapper})


def checkpoints_on_disk(ckpt_dir: Path) -> list[Path]:
  """Prefixes of the complete checkpoints in `ckpt_dir` (`ckpt-N.index` exists: TF writes the
  index last), oldest first by N, read from the directory itself (not TF's state file)."""
  found = []
  for index in Path(ckpt_dir).glob("ckpt-*.index"):
    prefix = index.with_suffix("")
    n = prefix.name[len("ckpt-"):]
    if n.isdigit():
      found.append((int(n), prefix))
  return [prefix for _, prefix in sorted(found)]


def checkpoint_traces(ckpt_dir: Path) -> list[Path]:
  """What only a completed checkpoint leaves in `ckpt_dir`, sorted: TF's data files
  (`ckpt-N.data-*`, renamed into place just before the index) and its state file (`checkpoint`,
  written after the index). Found without any `ckpt-N.index`, they mean the run's checkpoints were
  deleted or lost (a run never restarts from zero then). The files written beside a checkpoint
  before TF saves it (`*.loop-state.npz`, `*.replay-frames.npz`) are not traces: a kill between
  the two leaves them behind the first checkpoint."""
  ckpt_dir = Path(ckpt_dir)
  found = [p for p in ckpt_dir.glob("ckpt-*.data-*") if p.is_file()]
  if (ckpt_dir / "checkpoint").is_file():
    found.append(ckpt_dir / "checkpoint")
  return sorted(found)


def _checkpoint_number(prefix: Path, default: int) -> int:
  """N of a `ckpt-N` prefix; a unique negative number (-1 - default) for any other name."""
  n = Path(prefix).name[len("ckpt-"):]
  return int(n) if Path(prefix).name.startswith("ckpt-") and n.isdigit() else -1 - default


def _write_checkpoint_state(ckpt_dir: Path, order: list[Path]):
  """Rewrites TF's checkpoint state file (atomically, by TF) to list `order` (the last one the
  latest), with paths relative to `ckpt_dir` as `tf.train.CheckpointManager` writes them."""
  names = [p.name for p in order]
  stamps = [(p.parent / f"{p.name}.index").stat().st_mtime
            if (p.parent / f"{p.name}.index").exists() else time.time() for p in order]
  tf.compat.v1.train.update_checkpoint_state(str(ckpt_dir), names[-1], names,
                                             all_model_checkpoint_timestamps=stamps)


# What a killed writer leaves behind: (folder relative to the run dir, glob). Each is a temporary
# name that is renamed into place when its write completes, so a leftover is never read. Two are
# the names of the campaign's frozen code (tag campaign-1), whose run directories this code
# resumes and extends (tests/test_checkpoint_safety.py plants each pattern).
STALE_TEMPORARIES = (
    (".", ".policy.tmp-*"),                # campaign-1's policy export folder
    (".", ".*.tmp"),                       # artifact/files.py atomic writes (config, progress,
                                           # done, the policy/ folder and its replaced copy)
    ("checkpoint", ".*.tmp"),              # artifact/files.py atomic writes (loop-state npz)
    ("checkpoint", "*.npz.tmp-*"),         # campaign-1's replay frames file
    ("checkpoint", "*_temp*"),             # TF's sharded save folder ckpt-N_temp/ (merged, removed)
    ("checkpoint", "*.tempstate*"),        # TF's tensor bundle writer (index/data before rename)
    ("checkpoint", "checkpoint.tmp*"),     # TF's atomic write of its state file
)


def remove_stale_temporaries(run_dir: Path) -> list[Path]:
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
  Raises RunDirLockedError (a RuntimeError) naming the holder."""
  import fcntl  # Unix only: imported where a run directory is locked, not where this module is
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
      raise RunDirLockedError(
          f"{run_dir} is being trained by {holder}; wait for it or stop it") from None
  f.seek(0)
  f.truncate()
  f.write(f"pid {os.getpid()}")
  f.flush()
  return f
