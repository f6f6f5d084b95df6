"""The grid's live summary from run events (artifact/grid/monitor.py)."""
import io

from artifact.grid.monitor import GridMonitor
from artifact.training.events import RunEvent


def test_summary_counts_runs_and_sums_the_running_speeds():
  out = io.StringIO()
  m = GridMonitor({"a": 1000, "b": 1000, "c": 1000, "d": 500}, interval_s=0, stream=out)
  m(RunEvent("started", "a", total_frames=1000))
  m(RunEvent("progress", "a", frames=400, total_frames=1000, fps=200.0, message="a  frames 400"))
  m(RunEvent("started", "b", frames=600, total_frames=1000,
             message="b: resuming from checkpoint at 600 frames"))
  m(RunEvent("evaluation", "b", frames=800, total_frames=1000, fps=300.0, message="b  frames 800"))
  m(RunEvent("failed", "d", total_frames=500, message="RuntimeError('boom')",
             data=dict(error="trace")))
  head, *lines = m.summary().splitlines()
  assert "runs: 0 done, 2 running, 1 queued, 1 failed | 500 frames/s" in head
  # frames left: a 600 + b 200 + c 1000 (d failed) at 500 frames/s
  assert "grid eta ~0m03s" in head
  assert lines == ["   a  frames 400", "   b  frames 800"]
  m(RunEvent("finished", "a", frames=1000, total_frames=1000, message="a: finished in 5s"))
  assert "runs: 1 done, 1 running, 1 queued, 1 failed | 300 frames/s" in m.summary()
  printed = out.getvalue()
  assert "b: resuming from checkpoint at 600 frames" in printed
  assert "FAILED d: RuntimeError('boom')" in printed and "done   a: finished in 5s" in printed
  assert m.errors == {"d": "trace"}
