"""The grid's live summary, built from the runs' `RunEvent`s (whatever executor delivers them).

Every `interval_s` seconds (and at the end) it prints one block:

  [12m30s] runs: 40 done, 2 running, 84 queued, 0 failed | 4,210 frames/s | grid eta ~25m10s
     figure1/Pong/a2c_proper/seed0  frames 3,200/6,400 (50%)  2,100 fps  train return ...

and one line as each run finishes, stops on request (at a checkpoint), or fails (a failure with the
last lines of its traceback, which the executor saved as error.txt in the run directory), or is
found trained by another process (another grid holds its directory: "elsewhere", not a failure).
Each running run's line is its latest heartbeat (frames, frames/s, ETA; every few seconds) or
progress row, so the block stays live however rarely a run writes rows. Total frames/s is the sum
of the running runs' latest training speeds; the ETA is the frames left in the grid (unfinished
runs' budgets less what they trained) over that speed, or, if longer, the runs left at the pace of
the runs done so far (short runs are dominated by start-up and evaluation, which frames/s does not
see).
"""
from __future__ import annotations

import math
import sys
import time
from typing import TextIO

from artifact.training.events import RunEvent

TRACEBACK_LINES = 6            # lines of a failed run's traceback printed (all of it: error.txt)


def hms(s: float) -> str:
  """Seconds as '12m30s', or '1h02m03s' from an hour on (negative: '0m00s')."""
  s = int(max(0, s))
  if s >= 3600:
    return f"{s // 3600}h{s % 3600 // 60:02d}m{s % 60:02d}s"
  return f"{s // 60}m{s % 60:02d}s"


class GridMonitor:
  """Consumes events (call it), keeps each run's state, prints the summary.

  Args: runs: relpaths of the grid's runs with their budgets in frames. interval_s: seconds
  between summary blocks (0: only at the end). stream: where to print (stdout).
  """

  def __init__(self, runs: dict[str, int], interval_s: float = 15.0, stream: TextIO | None = None):
    self.total = dict(runs)
    self.state = {r: "queued" for r in runs}
    self.frames = {r: 0 for r in runs}
    self.fps: dict[str, float] = {}
    self.line: dict[str, str] = {}
    self.errors: dict[str, str] = {}
    self.interval_s, self.stream = float(interval_s), stream or sys.stdout
    self.t0 = self._last_block = time.time()

  def __call__(self, e: RunEvent):
    if e.run not in self.state:
      return
    if e.kind in ("started", "heartbeat", "progress", "evaluation",
                  "checkpoint") and self.state[e.run] != "done":
      self.state[e.run] = "running"
      self.frames[e.run] = (max(e.frames, 0) if e.kind == "started"
                            else max(self.frames[e.run], e.frames))
    if e.kind == "started":
      self.fps.pop(e.run, None)
      if e.message:
        self._print(e.message)
    elif e.kind in ("heartbeat", "progress", "evaluation"):
      if not math.isnan(e.fps):
        self.fps[e.run] = e.fps
      self.line[e.run] = e.message
    elif e.kind == "finished":
      self.state[e.run], self.frames[e.run] = "done", self.total[e.run]
      self.fps.pop(e.run, None)
      self._print(f"done   {e.message}")
    elif e.kind == "failed":
      self.state[e.run] = "failed"
      self.fps.pop(e.run, None)
      self.errors[e.run] = e.data.get("error", e.message)
      trace = self.errors[e.run].rstrip().splitlines()
      tail = trace[-TRACEBACK_LINES:] if len(trace) > 1 else []
      self._print(f"FAILED {e.run}: {e.message}" + "".join(f"\n   | {ln}" for ln in tail))
    elif e.kind == "stopped":
      if e.data.get("path"):               # checkpointed where it stopped; else it never began
        self.state[e.run] = "stopped"
        self._print(f"stopped {e.message}")
      else:
        self.state[e.run] = "queued"
      self.fps.pop(e.run, None)
    elif e.kind == "elsewhere":
      self.state[e.run] = "elsewhere"
      self.fps.pop(e.run, None)
      self._print(f"skipped {e.run}: trained by another process, not by this grid ({e.message})")
    self.maybe_print_summary()

  def counts(self) -> dict[str, int]:
    """Runs per state: {'done', 'running', 'queued', 'failed', 'elsewhere', 'stopped': n}
    ('elsewhere': trained by another process, which holds the run's directory; 'stopped': stopped
    on request at a checkpoint, resumed by the same command)."""
    out = {k: 0 for k in ("done", "running", "queued", "failed", "elsewhere", "stopped")}
    for s in self.state.values():
      out[s] += 1
    return out

  def total_fps(self) -> float:
    """Frames/s of the grid: the sum of the running runs' latest training speeds."""
    return sum(v for r, v in self.fps.items() if self.state.get(r) == "running")

  def summary(self) -> str:
    """The summary block (the module docstring's example): the head line with the counts, total
    frames/s and the grid's ETA, then one line per running run."""
    c, fps = self.counts(), self.total_fps()
    left = sum(self.total[r] - self.frames[r] for r, s in self.state.items()
               if s in ("queued", "running"))
    eta_s = left / fps if fps > 0 and left > 0 else 0.0
    runs_left = c["queued"] + c["running"]
    if c["done"] and runs_left:        # short runs are start-up bound: also the pace of runs done
      eta_s = max(eta_s, (time.time() - self.t0) / c["done"] * runs_left)
    eta = f" | grid eta ~{hms(eta_s)}" if eta_s > 0 else ""
    head = (f"[{hms(time.time() - self.t0)}] runs: {c['done']} done, {c['running']} running, "
            f"{c['queued']} queued, {c['failed']} failed"
            + (f", {c['elsewhere']} trained by another process" if c["elsewhere"] else "")
            + (f", {c['stopped']} stopped" if c["stopped"] else "")
            + f" | {fps:,.0f} frames/s{eta}")
    lines = [head] + [f"   {self.line.get(r, r + '  starting')}"
                      for r, s in self.state.items() if s == "running"]
    return "\n".join(lines)

  def maybe_print_summary(self, force: bool = False):
    """Prints the summary block if `interval_s` seconds passed since the last one; `force`: now,
    unless nothing changed since the last block (its time aside)."""
    now = time.time()
    if force or (self.interval_s > 0 and now - self._last_block >= self.interval_s):
      text = self.summary()
      body = text.split("] ", 1)[-1]
      if force and body == getattr(self, "_last_body", None):
        return                                   # nothing new since the last block
      self._last_block, self._last_body = now, body
      self._print(text)

  def _print(self, text: str):
    print(text, file=self.stream, flush=True)
