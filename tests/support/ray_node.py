"""Starts one Ray worker node (as `ray.cluster_utils.Cluster.add_node` does) joined to the
cluster at GCS address argv[1], with argv[2] CPUs, and keeps it up until killed. The tests run
it inside its own mount namespace (`unshare -m`) to give one node a different view of --out."""
import os
import sys
import time

os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")   # 127.0.0.1 only
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
from ray._private.node import Node
from ray._private.parameter import RayParams

params = RayParams(gcs_address=sys.argv[1], num_cpus=int(sys.argv[2]), num_gpus=0,
                   object_store_memory=80 * 2 ** 20, min_worker_port=0, max_worker_port=0,
                   include_log_monitor=False, node_manager_port=0)
params.dashboard_agent_listen_port = None
node = Node(params, head=False, shutdown_at_exit=True, spawn_reaper=True)
print("node up", node.unique_id, flush=True)
while True:
  time.sleep(1)
