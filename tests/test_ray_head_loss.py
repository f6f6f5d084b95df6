"""A Ray grid whose cluster head goes away (its GCS server killed, or its raylet) ends with the
local executor's account (what finished, what stopped at a checkpoint, what to rerun) and the
reports of what exists, before Ray's own reconnect timeout would end the process; no
traceback. A real loopback cluster (`ray.cluster_utils.Cluster`, every process on 127.0.0.1)
and a real grid process."""
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"     # every node listens on 127.0.0.1 only
os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
pytest.importorskip("ray")
from ray.cluster_utils import Cluster

pytestmark = pytest.mark.slow   # processes, kills, Ray clusters or training

REPO = Path(__file__).resolve().parent.parent
REL = "figure1/Pong/a2c_1step/seed0"


def _grid_until_training(address: str, out: Path):
  argv = [sys.executable, "-m", "artifact", "--figures", "1", "--games", "Pong", "--conditions",
          "a2c_1step", "--seeds", "0", "--frames", "240000", "--out", str(out), "--executor",
          "ray", "--ray-address", address, "--checkpoint-every", "600", "--no-theory",
          "--status-every", "2"]
  proc = subprocess.Popen(argv, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, start_new_session=True)
  seen, deadline = [], time.time() + 300
  for line in proc.stdout:
    seen.append(line)
    if re.search(re.escape(REL) + r"  frames [1-9]", line):
      return proc, "".join(seen)
    assert time.time() < deadline, "".join(seen)
  raise AssertionError("the grid ended before training:\n" + "".join(seen))


@pytest.mark.parametrize("kill", ["gcs_server", "raylet"])
def test_a_lost_head_ends_the_grid_with_its_summary_and_reports(tmp_path, kill):
  c = Cluster(initialize_head=True,
              head_node_args=dict(num_cpus=1, object_store_memory=80 * 2 ** 20))
  try:
    proc, _ = _grid_until_training(c.address, tmp_path)
    t = time.time()
    (c.head_node.kill_gcs_server if kill == "gcs_server" else c.head_node.kill_raylet)()
    try:
      text, _ = proc.communicate(timeout=120)
    finally:
      if proc.poll() is None:
        proc.kill()
    took = time.time() - t
  finally:
    try:
      c.shutdown()
    except Exception:  # a cluster without its head's processes may not shut down cleanly
      pass
  assert proc.returncode == 1, text[-3000:]
  assert took < 55, took        # before Ray's own 60 s reconnect timeout would have ended it
  lost = ("the Ray cluster's head stopped answering (its GCS at" if kill == "gcs_server"
          else "the Ray cluster failed (")
  summary = [ln for ln in text.splitlines() if ln.startswith(f"== {lost}") and "after" in ln]
  assert summary, text[-3000:]
  assert "Resume with the same command once the cluster is back" in summary[-1]
  assert "--executor local" in summary[-1]
  assert "Traceback" not in text, text[-3000:]
  # the reports of what exists were written (the run is partial or not finished)
  assert (tmp_path / "reports" / "figure1.csv").exists() and (tmp_path / "reports" /
                                                               "claims.md").exists()
  if kill == "gcs_server":
    # its node still ran the task: the run checkpointed where it was and stopped
    m = re.search(re.escape(REL) + r": stopped by the loss of the Ray cluster's head at ([\d,]+) "
                  r"frames, checkpoint", text)
    assert m, text[-3000:]
    frames = int(m[1].replace(",", ""))
    assert (tmp_path / "runs" / REL / "checkpoint" / f"ckpt-{frames}.index").exists()
    assert "1 stopped at a checkpoint" in summary[-1]
  else:
    assert f"NOT FINISHED {REL}: not finished: the Ray cluster failed" in text
