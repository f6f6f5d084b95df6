"""scripts/profile_updates.py, the split of an update's time that docs/performance.md quotes: it
runs on the real warm Pong trainers and its parts add up (the parts of a DQN update are inside
the update's own time; A2C's collection is the update less its train step)."""
import csv
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_profile_parts_add_up(tmp_path):
  proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "profile_updates.py"), "--updates",
                         "4",
                         "--out", str(tmp_path)], capture_output=True, text=True, timeout=600)
  assert proc.returncode == 0, proc.stderr[-3000:]
  rows = list(csv.DictReader(open(tmp_path / "profile.csv")))
  ms = {(r["family"], r["part"]): float(r["ms"]) for r in rows}
  assert set(ms) == {("a2c", p) for p in ("update", "train_step", "collection",
                                          "policy_forward_16")} | {
      ("dqn", p) for p in ("acting", "sampling", "train_step", "update", "q_forward_1",
                           "env_step_1",
                           "net_forward_32")}
  assert all(v > 0 for k, v in ms.items() if k != ("a2c", "collection"))
  # medians of parts timed inside the same updates: each part is within its update
  for part in ("acting", "sampling", "train_step"):
    assert ms[("dqn", part)] < ms[("dqn", "update")]
  assert ms[("a2c", "collection")] == pytest.approx(ms[("a2c", "update")]
                                                    - ms[("a2c", "train_step")], abs=0.011)
  # a train step on 32 is a forward + backward on 32 and the target's forward: more than a forward
  assert ms[("dqn", "train_step")] > ms[("dqn", "net_forward_32")]
  assert rows[0]["cpu"] and rows[0]["onednn"] in ("True", "False")


def test_profile_rejects_zero_updates(tmp_path):
  proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "profile_updates.py"), "--updates",
                         "0",
                         "--out", str(tmp_path)], capture_output=True, text=True, timeout=120)
  assert proc.returncode == 2 and "--updates 0" in proc.stderr
  assert not (tmp_path / "profile.csv").exists()
