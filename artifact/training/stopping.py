"""A graceful stop: SIGTERM or SIGINT (Ctrl-C) asks every run to stop at its next update
boundary, after a final checkpoint there; a second signal stops at once.

One flag per process (`request`, `requested`). Who sets it:
  - the signal handlers `install` puts in (the grid's process, which also trains with `--jobs 1`,
    and each local worker process, which Ctrl-C in a terminal reaches directly);
  - `watch_stop_file`: a daemon thread that sets it once the grid's stop file appears (the grid
    writes it on its first signal, `write_stop_file`): how a SIGTERM sent to the grid alone
    reaches the local workers and the Ray tasks, which may run on other machines (--out is a
    filesystem every node shares).
Who reads it: the run's update loop (`artifact.training.runner.Training`) before each update, and
the executors before they start a run. A stopped run raises `RunStopped` after its checkpoint;
the same command resumes it exactly (the checkpoint is an ordinary one: rows up to it written,
the action log beside it).

A second signal that a process receives restores the signal's default action and sends the
signal again: the process ends at once, as a kill would (every file is written
atomically, so nothing is damaged; the run resumes from its last checkpoint).
"""
from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path

SIGNALS = (signal.SIGINT, signal.SIGTERM)
STOP_FILE_PREFIX = ".stop-"        # out/.stop-<grid token>: the grid's stop request
POLL_S = 0.5                       # seconds between looks for the stop file

_reason: str | None = None
_lock = threading.Lock()


class RunStopped(Exception):
  """A run stopped on request at an update boundary. frames: the emulator frames it trained to
  (its last checkpoint's point; 0 if it stopped before its first update), checkpoint: that
  checkpoint's path ('' if none was written), reason: what asked ('SIGTERM', ...)."""

  def __init__(self, run: str, frames: int, checkpoint: str, reason: str):
    super().__init__(f"{run}: stopped by {reason} at {frames:,} frames"
                     + (f" (checkpoint {checkpoint})" if checkpoint else ""))
    self.run, self.frames, self.checkpoint, self.reason = run, int(frames), checkpoint, reason


def request(reason: str):
  """Asks this process's runs to stop (`reason`, e.g. 'SIGTERM'); the first reason is kept."""
  global _reason
  with _lock:
    if _reason is None:
      _reason = str(reason)


def requested() -> str | None:
  """The reason a stop was asked for, or None."""
  return _reason


def clear():
  """Forgets a stop request (a new grid in the same process, or a test)."""
  global _reason
  with _lock:
    _reason = None


def install(on_first: Callable[[str], None] | None = None,
            on_second: Callable[[str], None] | None = None):
  """Handles SIGINT and SIGTERM in this process (call from the main thread): the first one it
  receives `request`s a stop and calls `on_first(name)`; the second one it receives calls
  `on_second(name)` and then ends the process by the signal's default action (exit status
  128 + signal number, no traceback). Signals are counted, not the flag: a worker that learnt of
  the stop from the stop file before its own Ctrl-C was handled still stops gracefully. A signal
  this process ignores (a background job's SIGINT, `nohup`) stays ignored. Returns the previous
  handlers {signum: handler}."""
  received = []

  def handler(signum, frame):
    del frame
    name = signal.Signals(signum).name
    received.append(name)
    if len(received) == 1:
      request(name)
      if on_first:
        on_first(name)
      return
    if on_second:
      on_second(name)
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)
  return {s: signal.signal(s, handler) for s in SIGNALS
          if signal.getsignal(s) is not signal.SIG_IGN}


def restore(previous: dict):
  """Puts back the handlers `install` returned."""
  for s, h in previous.items():
    signal.signal(s, h)


def stop_file(out, token: str) -> Path:
  """The path of a grid's stop file under `out` (`token`: the grid's own, so that a file left by
  a killed grid never stops another)."""
  return Path(out) / f"{STOP_FILE_PREFIX}{token}"


def write_stop_file(path: Path, reason: str):
  """Writes the stop file (its text: the reason), atomically; an OSError (a full disk) is
  returned as text, not raised: the signal handler must not fail."""
  try:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(reason)
    os.replace(tmp, path)
    return None
  except OSError as e:
    return f"{type(e).__name__}: {e}"


def check_stop_file(path: Path) -> bool:
  """If `path` exists, `request`s a stop with its text as the reason; returns whether it did."""
  try:
    reason = path.read_text().strip() or "a stop request"
  except OSError:
    return False
  request(reason)
  return True


def watch_stop_file(path: Path, poll_s: float = POLL_S) -> threading.Event:
  """Starts a daemon thread that `request`s a stop once `path` appears (checked every `poll_s`
  seconds); returns an Event that ends the thread when set."""
  done = threading.Event()

  def watch():
    while not done.is_set():
      if check_stop_file(path):
        return
      time.sleep(poll_s)
  threading.Thread(target=watch, name="stop-file", daemon=True).start()
  return done
