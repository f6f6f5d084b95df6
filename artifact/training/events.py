"""Structured events a run reports to whoever drives it (the grid's executor, a test, a console).

A run emits, in order: `started` (once per process that works on it, with the frames it resumed
from), `progress` and `evaluation` (one per progress.csv row; an evaluation row also carries the
scores), `checkpoint` (each save, with its reason: evaluation, clock or final), and `finished`
(with done.json's contents; also for a run that was already finished and is skipped). While it
trains, a `heartbeat` every few seconds carries its frames and frames/s (no row). The
executor adds `failed` (with the error) when a run raises or its worker dies for good, and
`elsewhere` when another live process (another grid) holds the run's directory and trains it.
A run stopped on request (SIGTERM, Ctrl-C) emits `stopped` after its checkpoint, with
{"reason", "path"} (the checkpoint; "" if it stopped before its first update); the executor emits
it with {"reason", "path": "", "not_started": True} for a run it did not start because of one.

Events are small, picklable and cross process boundaries (a multiprocessing queue for the local
executor, a Ray queue actor for the Ray executor). `message` is the human line for the console.
"""
from __future__ import annotations

import dataclasses
import os
import socket
import time
from collections.abc import Callable

KINDS = ("started", "heartbeat", "progress", "evaluation", "checkpoint", "finished", "failed",
         "elsewhere", "stopped")


@dataclasses.dataclass(frozen=True)
class RunEvent:
  """One thing that happened to one run.

  kind: one of `KINDS`. run: the run's relpath (`figure1/Pong/a2c_proper/seed0`).
  time: Unix time, seconds. frames: emulator frames trained at that moment (for `started`: the
  frames restored from a checkpoint, 0 for a fresh start). total_frames: the run's budget.
  fps: training frames/s since the previous row (progress/evaluation), else NaN.
  where: "host:pid" of the process that emitted it ("host:pid@node_id" on Ray).
  message: the console line.
  data: the progress row (progress/evaluation), done.json (finished), {"reason": ...}
  (checkpoint), {"error": the traceback, "error_file": where it was saved} (failed),
  {"reason", "path"} (stopped).
  """
  kind: str
  run: str
  frames: int = 0
  total_frames: int = 0
  fps: float = float("nan")
  message: str = ""
  data: dict = dataclasses.field(default_factory=dict)
  time: float = dataclasses.field(default_factory=time.time)
  where: str = dataclasses.field(default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}")

  def __post_init__(self):
    if self.kind not in KINDS:
      raise ValueError(f"unknown event kind {self.kind!r}; valid: {', '.join(KINDS)}")


EventSink = Callable[[RunEvent], None]


def print_messages() -> EventSink:
  """A sink that prints each event's message (a run driven by hand, outside a grid)."""
  def sink(event: RunEvent):
    if event.message:
      print(event.message, flush=True)
  return sink
