"""The Ray executor on a real multi-node Ray cluster on this machine (a head and two worker
nodes, `ray.cluster_utils.Cluster`, every node on 127.0.0.1): a worker node removed in the
middle of a grid, the same grid on the local executor, an --out that a node cannot write."""
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from artifact.experiment.runspec import make_run_spec
from artifact.grid.executors import ExecutorError, LocalExecutor, RayExecutor
from artifact.training.progress import TIMING_COLUMNS

os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"     # every node listens on 127.0.0.1 only
os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
ray = pytest.importorskip("ray")
from ray.cluster_utils import Cluster  # noqa: E402

pytestmark = pytest.mark.slow   # processes, kills, Ray clusters or training

MB = 2 ** 20


@pytest.fixture(scope="module")
def cluster():
  c = Cluster(initialize_head=True, head_node_args=dict(num_cpus=0, object_store_memory=80 * MB))
  workers = [c.add_node(num_cpus=1, object_store_memory=80 * MB) for _ in range(2)]
  c.wait_for_nodes()
  ray.init(address=c.address, log_to_driver=False, logging_level="ERROR")
  yield c, workers
  ray.shutdown()
  c.shutdown()


def _rows(out: Path, specs):
  return {s.relpath(): pd.read_csv(out / "runs" / s.relpath() / "progress.csv") for s in specs}


def test_grid_finishes_with_every_row_once_while_a_worker_node_is_removed(cluster, tmp_path):
  c, workers = cluster
  # three runs on two 1-CPU nodes: one waits for a free CPU, so the retry shares the survivor
  specs = [make_run_spec(1, "Pong", cond, seed, "smoke", 6400)
           for cond, seed in (("a2c_1step", 0), ("a2c_1step", 1), ("a2c_proper", 0))]
  ex = RayExecutor(address=c.address, cpus_per_run=1, checkpoint_every=1.0)
  ex.start(tmp_path / "ray")                            # includes the shared --out check
  events, removed = [], []

  def on_event(e):
    events.append(e)
    if e.kind == "checkpoint" and not removed:           # mid-run: remove the node training it
      node = next(w for w in workers if e.where.endswith("@" + w.node_id))
      c.remove_node(node)
      removed.append((e.run, node.node_id))
  t0 = time.time()
  failures = ex.run(specs, tmp_path / "ray", on_event)
  ray_wall = time.time() - t0
  assert failures == []
  assert removed, "no node was removed"
  victim, victim_node = removed[0]
  starts = [e for e in events if e.kind == "started" and e.run == victim]
  assert len(starts) == 2 and victim_node not in starts[1].where      # retried on the other node
  assert starts[1].frames > 0                                          # ... from its checkpoint
  # never more runs training on a node than its CPUs (1): a task blocked in `ray.get` would lend
  # its CPU to another task
  on_node = {}
  for e in events:
    if e.kind == "started":
      on_node[e.run] = e.where.rsplit("@", 1)[1]
    elif e.kind in ("finished", "failed"):
      on_node.pop(e.run, None)
    busy = list(on_node.values())
    assert all(busy.count(n) <= 1 for n in busy), (e, on_node)
  ray_rows = _rows(tmp_path / "ray", specs)
  for rel, df in ray_rows.items():
    assert df["frames"].is_unique and df["frames"].max() == 6400, rel
    assert df["eval_return"].notna().sum() == 5, rel
  # the same grid on the local executor: the same rows; identical values for the runs that
  # were never interrupted (a resumed run's environments restart, so its later rows differ)
  t0 = time.time()
  assert LocalExecutor(jobs=2, checkpoint_every=1.0).run(specs, tmp_path / "local",
                                                         lambda e: None) == []
  local_wall = time.time() - t0
  local_rows = _rows(tmp_path / "local", specs)
  for rel in ray_rows:
    assert ray_rows[rel]["frames"].tolist() == local_rows[rel]["frames"].tolist(), rel
    if rel != victim:
      pd.testing.assert_frame_equal(ray_rows[rel].drop(columns=list(TIMING_COLUMNS)),
                                    local_rows[rel].drop(columns=list(TIMING_COLUMNS)))
  print(f"\nray grid {ray_wall:.1f}s (one node removed), local grid {local_wall:.1f}s")


def test_an_out_dir_a_node_cannot_write_is_refused_before_any_run(cluster, tmp_path):
  c, _ = cluster
  out = tmp_path / "out"
  out.mkdir()
  if shutil.which("unshare") is None:
    pytest.skip("needs util-linux unshare to give one node a read-only view of --out")
  helper = Path(__file__).resolve().parent / "support" / "ray_node.py"
  # a third node whose view of --out is a read-only bind mount (its own mount namespace)
  script = (f"mount --bind {out} {out} && mount -o remount,ro,bind {out} {out} && "
            f"exec {sys.executable} {helper} {c.address} 1")
  probe = subprocess.run(["unshare", "-m", "--propagation", "private", "true"], capture_output=True)
  if probe.returncode != 0:
    pytest.skip(f"unshare -m not permitted here: {probe.stderr.decode().strip()}")
  before = {n["NodeID"] for n in ray.nodes() if n["Alive"]}
  node = subprocess.Popen(["unshare", "-m", "--propagation", "private", "sh", "-c", script],
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                          start_new_session=True)
  try:
    deadline = time.time() + 60
    while not {n["NodeID"] for n in ray.nodes() if n["Alive"]} - before:
      assert time.time() < deadline and node.poll() is None, "the read-only node did not join"
      time.sleep(0.5)
    with pytest.raises(ExecutorError,
                       match=r"is not shared by every Ray node: .*cannot write") as e:
      RayExecutor(address=c.address, cpus_per_run=1).start(out)
    print("\n" + str(e.value))
    assert list(out.iterdir()) == []                    # no run directory, no probe left behind
  finally:
    os.killpg(node.pid, signal.SIGTERM)
    node.wait(timeout=60)
