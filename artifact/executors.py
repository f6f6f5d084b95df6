"""Executors: how the grid's runs get trained. The grid hands them `RunSpec`s and receives
`artifact.events.RunEvent`s (started, progress, evaluation, checkpoint, finished, failed).

`LocalExecutor` (`--executor local`, the default): `--jobs` worker processes on this machine;
  runs that differ only in the seed go to one worker in order, sharing one traced trainer.
`RayExecutor` (`--executor ray`): each run is one Ray task with its resources declared
  (`--cpus-per-run`, `--gpus-per-run`). Ray retries a task whose worker process or node dies
  (`max_retries`), and the retried task resumes the run from its own checkpoint under `--out`,
  which must therefore be a filesystem every node sees (checked from every node before the grid
  starts). Why tasks and not Ray Tune trials: the grid is a fixed list of independent runs with
  their own checkpointing, resume, progress files and reports; Tune would add a second
  experiment directory layout, its own checkpoint protocol and a trial scheduler that nothing
  here needs, while a task with `max_retries` is exactly "run this to the end, again elsewhere
  if the machine goes away".

Both raise `ExecutorError` (a clear message naming the bad value) from `start()`, before any run
directory is written.
"""
from __future__ import annotations

import os
import queue as queue_lib
import socket
import time
import traceback
import uuid
from pathlib import Path
from typing import List, Optional, Sequence, Tuple

from artifact.events import EventSink, RunEvent

EXECUTORS = ("local", "ray")
RAY_DEFAULT_PORT = 6379
RAY_MAX_RETRIES = 5            # retries of a run whose worker or node died (not of exceptions)
LOCK_WAIT_S = 120.0            # a retried run waits this long for its dead predecessor's lock

Failure = Tuple[str, str]      # (run relpath, error text)


class ExecutorError(ValueError):
  """The executor cannot start as configured (bad address, unshared --out, ...)."""


def groups_of(specs, jobs: int = 1):
  """Consecutive runs that differ only in the seed, to be trained in order by one worker (they
  share one traced trainer). With fewer groups than 2 x jobs (e.g. one game, three conditions,
  two workers) every run is its own group, so that no worker idles while another works through
  a whole group: there the saved tracing (~8 s a run) is small against the runs."""
  out = []
  for s in specs:
    if out and (out[-1][0].figure, out[-1][0].game, out[-1][0].condition) == (s.figure, s.game, s.condition):
      out[-1].append(s)
    else:
      out.append([s])
  if jobs > 1 and len(out) < 2 * jobs:
    out = [[s] for g in out for s in g]
  return out


# Settings of the driver that every run's process must see (set from the command line).
ENV_GROUPS_VAR = "PG_SOFTQ_ENV_GROUPS"     # --env-groups (artifact.trainers.a2c_env_groups)
FORWARDED_ENV_VARS = (ENV_GROUPS_VAR,)


def set_tf_threads(threads: int):
  """TF intra- and inter-op threads of this process (before TF runs anything). Raises
  RuntimeError if TF is already initialized."""
  import tensorflow as tf
  tf.config.threading.set_intra_op_parallelism_threads(threads)
  tf.config.threading.set_inter_op_parallelism_threads(threads)


def failed_event(spec, error: str, details: Optional[str] = None) -> RunEvent:
  """The `failed` event of a run: `error` the one-line message, `details` (default: the same)
  the traceback or what the executor knows."""
  return RunEvent("failed", spec.relpath(), total_frames=spec.frames, message=error,
                  data=dict(error=details or error))


def train_one(spec, out: str, sink: EventSink, checkpoint_every: float,
              lock_wait_s: float = 0.0) -> Optional[str]:
  """Trains one run into out/runs/<relpath>; returns None, or the error text after emitting a
  `failed` event (never raises: the other runs' results are still worth having)."""
  from artifact import runner
  try:
    runner.run(spec, Path(out) / "runs" / spec.relpath(), on_event=sink,
               checkpoint_every=checkpoint_every, lock_wait_s=lock_wait_s)
    return None
  except Exception as e:  # pylint: disable=broad-except
    sink(failed_event(spec, repr(e), traceback.format_exc()))
    return repr(e)


class Executor:
  """Interface: `start(out)` checks everything it can before any run directory is written
  (raises ExecutorError); `run(specs, out, on_event)` trains every spec, calling `on_event`
  in the calling thread for each event, and returns the failures; `close()` frees resources."""
  name = "?"

  def start(self, out: Path) -> None:
    del out

  def slots(self) -> int:
    """Runs trained at once (after `start`)."""
    raise NotImplementedError

  def run(self, specs: Sequence, out: Path, on_event: EventSink) -> List[Failure]:
    raise NotImplementedError

  def close(self) -> None:
    pass

  def describe(self) -> str:
    return self.name


# --- local worker processes ------------------------------------------------------------------------
_WORKER_EVENTS = None          # the worker process's event queue (set by _init_worker)


def _init_worker(threads: int, events):
  """Worker process setup: share the cores between concurrent runs instead of oversubscribing,
  send events to the grid's queue, and exit when the grid's process is gone (a killed grid
  must not leave workers training)."""
  global _WORKER_EVENTS
  set_tf_threads(threads)
  _WORKER_EVENTS = events
  _exit_with_parent()


def _exit_with_parent(poll_s: float = 2.0):
  """A daemon thread that ends this process when its parent dies (it is re-parented: the ppid
  changes). Spawned workers are not in the parent's process group on every launcher, so a kill of
  the grid alone would otherwise leave them training and writing into the run directories."""
  import threading
  parent = os.getppid()

  def watch():
    while True:
      time.sleep(poll_s)
      if os.getppid() != parent:
        os._exit(3)
  threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def _run_group(group, out: str, checkpoint_every: float) -> List[Optional[str]]:
  """Worker entry point: the runs of one group in order; their events go to the grid's queue."""
  return [train_one(spec, out, _WORKER_EVENTS.put, checkpoint_every) for spec in group]


class LocalExecutor(Executor):
  """`jobs` worker processes (spawned) on this machine; `jobs == 1` trains in this process.
  `threads`: TF intra/inter-op threads per worker (default: cores // jobs)."""
  name = "local"

  def __init__(self, jobs: int = 2, checkpoint_every: float = 300.0, threads: Optional[int] = None):
    self.jobs, self.checkpoint_every = int(jobs), float(checkpoint_every)
    self.threads = threads or max(1, (os.cpu_count() or 1) // self.jobs)

  def describe(self) -> str:
    return f"local, --jobs {self.jobs}"

  def slots(self) -> int:
    return self.jobs

  def run(self, specs, out, on_event):
    groups, failures = groups_of(list(specs), self.jobs), []
    if self.jobs == 1:
      for g in groups:
        for spec in g:
          err = train_one(spec, str(out), on_event, self.checkpoint_every)
          if err:
            failures.append((spec.relpath(), err))
      return failures
    import concurrent.futures as cf
    import multiprocessing as mp
    ctx = mp.get_context("spawn")
    events = ctx.Queue()
    with cf.ProcessPoolExecutor(max_workers=self.jobs, mp_context=ctx, initializer=_init_worker,
                                initargs=(self.threads, events)) as pool:
      pending = {}
      while groups or pending:
        while groups and len(pending) < self.jobs:
          g = groups.pop(0)
          pending[pool.submit(_run_group, g, str(out), self.checkpoint_every)] = g
        finished, _ = cf.wait(pending, timeout=0.5, return_when=cf.FIRST_COMPLETED)
        _drain(events, on_event)
        for fut in finished:
          g = pending.pop(fut)
          try:
            errors = fut.result()
          except Exception as e:  # pylint: disable=broad-except  (a worker died, e.g. for memory)
            errors = [repr(e)] * len(g)
            for spec in g:
              on_event(failed_event(spec, repr(e)))
          failures += [(s.relpath(), err) for s, err in zip(g, errors) if err]
      _drain(events, on_event)
    return failures


def _drain(events, on_event):
  while True:
    try:
      e = events.get_nowait()
    except queue_lib.Empty:
      return
    on_event(e)


# --- Ray ----------------------------------------------------------------------------------------------
def check_address_reachable(address: str, timeout_s: float = 5.0) -> Tuple[str, int]:
  """`host[:port]` of a running Ray head (GCS port, default 6379) accepts TCP connections, or
  ExecutorError. Checked before `ray.init`, which would otherwise retry for minutes."""
  host, _, port = address.rpartition(":") if ":" in address else (address, "", str(RAY_DEFAULT_PORT))
  host = host.replace("ray://", "")
  try:
    port_n = int(port)
  except ValueError:
    raise ExecutorError(f"--ray-address {address!r}: expected HOST:PORT, e.g. 10.0.0.5:6379") from None
  try:
    with socket.create_connection((host, port_n), timeout=timeout_s):
      pass
  except OSError as e:
    raise ExecutorError(f"--ray-address {address!r} is unreachable ({e}); start the cluster's head "
                        f"with `ray start --head --port={port_n}` on {host} (README, 'Running on a "
                        f"Ray cluster'), or leave --ray-address out to start a local Ray instance") from None
  return host, port_n


def _ray_train(spec, out: str, checkpoint_every: float, threads: int, events) -> Optional[str]:
  """The Ray task: one run. A retry after its node died resumes from the run's checkpoint."""
  try:
    set_tf_threads(threads)
  except RuntimeError:
    pass                                   # TF already initialized in this worker process
  import dataclasses
  import ray
  node = ray.get_runtime_context().get_node_id()

  def sink(e: RunEvent):                   # tag events with the Ray node that trains the run
    # Fire and forget (Ray runs one caller's actor calls in order). Not `Queue.put`: it waits
    # in `ray.get`, and Ray lends a task's CPUs to other tasks while it waits, which put three
    # runs on two CPUs (measured).
    events.actor.put_nowait.remote(dataclasses.replace(e, where=f"{e.where}@{node}"))
  return train_one(spec, out, sink, checkpoint_every, lock_wait_s=LOCK_WAIT_S)


def _probe_node(path: str, token: str, node: str) -> str:
  """On one node: read the driver's probe file and write one back. Returns "" or the problem."""
  p = Path(path)
  try:
    seen = p.read_text()
  except OSError as e:
    return f"cannot read {p} ({e.strerror or e})"
  if seen != token:
    return f"{p} holds different contents (another filesystem at the same path)"
  back = p.with_name(f"{p.name}.{node}")
  try:
    tmp = back.with_name(back.name + ".tmp")
    tmp.write_text(token)
    os.replace(tmp, back)
  except OSError as e:
    return f"cannot write to {p.parent} ({e.strerror or e})"
  return ""


class RayExecutor(Executor):
  """Each run one Ray task (`num_cpus=cpus_per_run`, `num_gpus=gpus_per_run`, retried up to
  `max_retries` times when its worker or node dies). `address`: a running cluster's head
  (`HOST:PORT`); None starts a local Ray instance listening on 127.0.0.1 only."""
  name = "ray"

  def __init__(self, address: Optional[str] = None, cpus_per_run: float = 1.0, gpus_per_run: float = 0.0,
               checkpoint_every: float = 300.0, max_retries: int = RAY_MAX_RETRIES):
    self.address, self.cpus, self.gpus = address, float(cpus_per_run), float(gpus_per_run)
    self.checkpoint_every, self.max_retries = float(checkpoint_every), int(max_retries)
    self._ray = None
    self.start_s = None

  def describe(self) -> str:
    return (f"ray at {self.address or 'a local instance'}, {self.cpus:g} CPU"
            f"{f' + {self.gpus:g} GPU' if self.gpus else ''} per run")

  def slots(self) -> int:
    """The started cluster's CPUs / CPUs per run."""
    return max(1, int(self._ray.cluster_resources().get("CPU", 1) // self.cpus))

  def start(self, out: Path) -> None:
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")   # no usage reports to the internet
    if self.address:
      check_address_reachable(self.address)
    else:
      # a local instance serves this machine only: Ray's single-machine mode puts every node,
      # worker and server on 127.0.0.1 (read before `import ray`, inherited by its processes)
      os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
    t0 = time.time()
    import ray
    self._ray = ray
    if not ray.is_initialized():
      kw = dict(log_to_driver=False, logging_level="ERROR", configure_logging=True)
      forwarded = {k: os.environ[k] for k in FORWARDED_ENV_VARS if k in os.environ}
      if forwarded:                        # e.g. --env-groups, to the tasks on every node
        kw["runtime_env"] = {"env_vars": forwarded}
      if self.address:
        ray.init(address=self.address, **kw)
      else:                    # "local": a new instance, never an unrelated cluster found on disk
        ray.init(address="local", num_cpus=os.cpu_count(), include_dashboard=False,
                 object_store_memory=200 * 2 ** 20, **kw)
    self.start_s = time.time() - t0
    cpus = ray.cluster_resources().get("CPU", 0)
    if cpus < self.cpus:
      raise ExecutorError(f"--cpus-per-run {self.cpus:g}: the Ray cluster has {cpus:g} CPUs in all")
    if self.gpus and ray.cluster_resources().get("GPU", 0) < self.gpus:
      raise ExecutorError(f"--gpus-per-run {self.gpus:g}: the Ray cluster has "
                          f"{ray.cluster_resources().get('GPU', 0):g} GPUs")
    self.check_shared_out(Path(out))

  def check_shared_out(self, out: Path, timeout_s: float = 120.0):
    """Every alive node with CPUs reads a probe file the driver wrote under `out` and writes one
    back; ExecutorError naming the nodes that cannot."""
    ray = self._ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy
    out = out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    token = uuid.uuid4().hex
    probe = out / f".ray-probe-{token[:12]}"
    probe.write_text(token)
    nodes = [n for n in ray.nodes() if n.get("Alive") and n.get("Resources", {}).get("CPU", 0) > 0]
    fn = ray.remote(num_cpus=0, max_retries=0)(_probe_node)
    refs = {fn.options(scheduling_strategy=NodeAffinitySchedulingStrategy(n["NodeID"], soft=False))
              .remote(str(probe), token, n["NodeID"][:12]): n for n in nodes}
    try:
      results = ray.get(list(refs), timeout=timeout_s)
    finally:
      for p in out.glob(probe.name + "*"):
        p.unlink(missing_ok=True)
    bad = [f"{n['NodeManagerAddress']} ({n['NodeID'][:12]}): {r}" for n, r in zip(refs.values(), results) if r]
    if bad:
      raise ExecutorError(f"--out {str(out)!r} is not shared by every Ray node: " + "; ".join(bad) +
                          ". Runs resume on any node from their checkpoints, so --out must be a "
                          "filesystem every node mounts at the same path (e.g. NFS)")

  def run(self, specs, out, on_event):
    ray = self._ray
    from ray.util.queue import Queue
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy
    here = ray.get_runtime_context().get_node_id()
    # the queue lives on the driver's node, so losing a worker node never loses it
    events = Queue(actor_options=dict(num_cpus=0, scheduling_strategy=NodeAffinitySchedulingStrategy(here, soft=False)))
    task = ray.remote(_ray_train).options(num_cpus=self.cpus, num_gpus=self.gpus,
                                          max_retries=self.max_retries, retry_exceptions=False)
    threads = max(1, int(round(self.cpus)))
    refs = {task.remote(s, str(out), self.checkpoint_every, threads, events): s for s in specs}
    failures = []

    def drain():
      n = events.qsize()
      if n:
        for e in events.get_nowait_batch(n):
          on_event(e)
    pending = list(refs)
    while pending:
      ready, pending = ray.wait(pending, num_returns=len(pending), timeout=0.5)
      drain()
      for ref in ready:
        spec = refs[ref]
        try:
          err = ray.get(ref)
        except Exception as e:  # pylint: disable=broad-except  (retries exhausted: node kept dying)
          err = repr(e)
          on_event(failed_event(spec, err))
        if err:
          failures.append((spec.relpath(), err))
    time.sleep(0.2)
    drain()
    ray.kill(events.actor)
    return failures

  def close(self):
    if self._ray is not None and self._ray.is_initialized():
      self._ray.shutdown()


def make_executor(name: str, *, jobs: int, checkpoint_every: float, ray_address: Optional[str],
                  cpus_per_run: Optional[float], gpus_per_run: Optional[float]) -> Executor:
  if name == "local":
    return LocalExecutor(jobs, checkpoint_every, threads=int(cpus_per_run) if cpus_per_run else None)
  if name == "ray":
    return RayExecutor(ray_address, cpus_per_run or 1.0, gpus_per_run or 0.0, checkpoint_every)
  raise ExecutorError(f"unknown --executor {name!r}; valid: {', '.join(EXECUTORS)}")

