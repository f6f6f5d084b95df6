"""Executors: how the grid's runs get trained. The grid hands them `RunSpec`s and receives
`artifact.training.events.RunEvent`s (started, progress, evaluation, checkpoint, finished, failed).

`LocalExecutor` (`--executor local`, the default): `--jobs` worker processes on this machine;
  runs that differ only in the seed go to one worker in order, sharing one traced trainer. A
  worker that dies (kill -9, out of memory) is replaced and the run it held is retried once from
  its checkpoint (then reported failed, the other runs going on).
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

Both stop on request (`artifact.training.stopping`: the grid's SIGTERM / SIGINT, passed on as its
stop file under --out, which every worker process and Ray task watches): a training run
checkpoints at its next update boundary and stops (`stopped` event), and no run starts after it
(each gets a `stopped` event with `not_started`).
"""
from __future__ import annotations

import ctypes
import dataclasses
import multiprocessing as mp
import os
import signal
import socket
import threading
import time
import traceback
import uuid
from collections.abc import Sequence
from multiprocessing.connection import wait
from pathlib import Path

from artifact.files import atomic_write_text
from artifact.training import stopping
from artifact.training.events import EventSink, RunEvent
from artifact.training.machine import ONEDNN_ENV

EXECUTORS = ("local", "ray")
RAY_DEFAULT_PORT = 6379
HEAD_LOST_S = 3.0              # the head's GCS refusing connections this long: the cluster is lost
HEAD_POLL_S = 1.0              # seconds between looks at the head's GCS port
STOP_WAIT_S = 30.0             # after a lost head: how long the runs get to checkpoint and stop
# Ray ends a driver whose GCS stays unreachable for gcs_rpc_server_reconnect_timeout_s (60 s by
# default) at once, before the grid could print its summary and write its reports: the grid
# finds the loss itself within HEAD_LOST_S and needs the time after it (RayExecutor.run)
RAY_GCS_RECONNECT_S = "600"
RAY_MAX_RETRIES = 5            # retries of a run whose worker or node died (not of exceptions)
LOCK_WAIT_S = 120.0            # a retried run waits this long for its dead predecessor's lock

Failure = tuple[str, str]      # (run relpath, error text)


class ExecutorError(ValueError):
  """The executor cannot start as configured (bad address, unshared --out, ...)."""


def groups_of(specs, jobs: int = 1):
  """Consecutive runs that differ only in the seed, to be trained in order by one worker (they
  share one traced trainer). With fewer groups than 2 x jobs (e.g. one game, three conditions,
  two workers) every run is its own group, so that no worker idles while another works through
  a whole group: there the saved tracing (~8 s a run) is small against the runs."""
  out = []
  for s in specs:
    last = out[-1][0] if out else None
    if last and (last.figure, last.game, last.condition) == (s.figure, s.game, s.condition):
      out[-1].append(s)
    else:
      out.append([s])
  if jobs > 1 and len(out) < 2 * jobs:
    out = [[s] for g in out for s in g]
  return out


def set_tf_threads(threads: int):
  """TF intra- and inter-op threads of this process (before TF runs anything). Raises
  RuntimeError if TF is already initialized."""
  import tensorflow as tf  # in the process that trains: the grid's own process never loads TF
  tf.config.threading.set_intra_op_parallelism_threads(threads)
  tf.config.threading.set_inter_op_parallelism_threads(threads)


ERROR_FILE = "error.txt"        # a failed run's traceback, in its run directory


def failed_event(spec, error: str, details: str | None = None, error_file: str = "") -> RunEvent:
  """The `failed` event of a run: `error` the one-line message, `details` (default: the same)
  the traceback or what the executor knows, `error_file` where the traceback was saved."""
  return RunEvent("failed", spec.relpath(), total_frames=spec.frames, message=error,
                  data=dict(error=details or error, error_file=error_file))


def error_text(e: BaseException) -> str:
  """'Type: message' of an exception, its message's first line (an OSError's includes the file:
  "OSError: [Errno 28] No space left on device: '/out/runs/.../progress.csv'")."""
  text = str(e).strip()
  first = text.splitlines()[0] if text else ""
  return f"{type(e).__name__}: {first}" + (" [...]" if "\n" in text
                                           else "") if first else type(e).__name__


def save_error(run_dir: Path, error: str, details: str) -> str:
  """Writes a failed run's `error`, the process that ran it (host:pid, time) and the traceback
  `details` to run_dir/error.txt (atomically); returns its path, or why it could not be written
  (a full disk, say), as text."""
  if not run_dir.is_dir():
    return f"not saved: {run_dir} does not exist"
  where = f"in process {socket.gethostname()}:{os.getpid()} at {time.strftime('%Y-%m-%d %H:%M:%S')}"
  try:
    return str(atomic_write_text(run_dir / ERROR_FILE, f"{error}\n{where}\n\n{details}"))
  except OSError as e:
    return f"not saved ({error_text(e)})"


def not_started_event(spec, reason: str) -> RunEvent:
  """The `stopped` event of a run not started because a stop was requested."""
  return RunEvent("stopped", spec.relpath(), total_frames=spec.frames,
                  data=dict(reason=reason, path="", not_started=True))


def train_one(spec, out: str, sink: EventSink, checkpoint_every: float,
              lock_wait_s: float = 0.0, env_groups: int | None = None) -> str | None:
  """Trains one run into out/runs/<relpath>; returns None, or the error text after emitting a
  `failed` event (never raises: the other runs' results are still worth having). A failed run's
  traceback is saved as error.txt in its run directory (removed when the run later finishes);
  a run whose directory another live process holds (another grid trains it) is not a failure:
  an `elsewhere` event, and None. A run stopped on request (`artifact.training.stopping`) has
  emitted `stopped` after its checkpoint: None; once a stop is requested no run starts (a
  `stopped` event with `not_started`, None). `checkpoint_every` (seconds), `lock_wait_s` (seconds
  to wait for the run directory's lock), `env_groups`: as `artifact.training.runner.run` takes
  them (--checkpoint-every, --env-groups; None = auto)."""
  if stopping.requested():
    sink(not_started_event(spec, stopping.requested()))
    return None
  # TensorFlow (the runner, its checkpoints) only in the process that trains: the grid's own
  # process never loads it, so its workers set their threads and kernel path before it loads
  from artifact.training import runner
  from artifact.training.checkpoints import RunDirLockedError
  run_dir = Path(out) / "runs" / spec.relpath()
  try:
    runner.run(spec, run_dir, on_event=sink,
               checkpoint_every=checkpoint_every, lock_wait_s=lock_wait_s, env_groups=env_groups)
    (run_dir / ERROR_FILE).unlink(missing_ok=True)       # an earlier failure's, now resolved
    return None
  except stopping.RunStopped:
    return None
  except RunDirLockedError as e:
    sink(RunEvent("elsewhere", spec.relpath(), total_frames=spec.frames, message=str(e)))
    return None
  except Exception as e:
    details, error = traceback.format_exc(), error_text(e)
    saved = save_error(run_dir, error, details)
    error = f"{error} (traceback: {saved})"
    sink(failed_event(spec, error, details, saved))
    return error


class Executor:
  """Interface: `start(out)` checks everything it can before any run directory is written
  (raises ExecutorError); `run(specs, out, on_event)` trains every spec, calling `on_event`
  in the calling thread for each event, and returns the failures; `close()` frees resources."""
  name = "?"

  def start(self, out: Path) -> None:
    """Checks (and connects to) what the runs need, before any run directory under `out` is
    written. Raises ExecutorError naming the bad setting."""
    del out

  def slots(self) -> int:
    """Runs trained at once (after `start`)."""
    raise NotImplementedError

  def run(self, specs: Sequence, out: Path, on_event: EventSink,
          stop_file: Path | None = None) -> list[Failure]:
    """Trains every RunSpec of `specs` into out/runs/<relpath>, calling `on_event` in the calling
    thread for each RunEvent; returns the failures [(relpath, error text)] (a failed run does
    not stop the others, nor raise). `stop_file`: the grid's stop file
    (`artifact.training.stopping.stop_file`), watched by every process that trains: once it
    exists, runs checkpoint and stop at their next update and no run starts."""
    raise NotImplementedError

  def close(self) -> None:
    """Frees what `start` took (processes, a Ray connection); safe to call twice."""

  def describe(self) -> str:
    """How the runs are executed, for the grid's first line (e.g. 'local, --jobs 2')."""
    return self.name


# --- local worker processes -----------------------------------------------------------------------
WORKER_RETRIES = 1             # a run whose worker process died is retried this many times
WORKER_IDLE_DEATHS = 3         # workers dying in a row before training anything: the grid gives up
PR_SET_PDEATHSIG = 1           # linux/prctl.h


def _exit_with_parent(poll_s: float = 2.0, parent: int | None = None):
  """End this process when its parent (the grid) dies, so that a killed grid never leaves
  workers training and writing into the run directories (spawned workers are not in the grid's
  process group on every launcher). On Linux the kernel sends SIGKILL at once (PR_SET_PDEATHSIG);
  everywhere, a daemon thread exits when the parent pid changes (re-parented). `parent`: the
  grid's pid as the grid saw it (a parent that died before this ran is caught too)."""
  try:
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
  except (OSError, AttributeError):                    # not Linux
    pass
  parent = os.getppid() if parent is None else parent
  if os.getppid() != parent:
    os._exit(3)

  def watch():
    while True:
      time.sleep(poll_s)
      if os.getppid() != parent:
        os._exit(3)
  threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def _worker_main(conn, parent: int, threads: int):
  """A worker process: trains the groups of runs the grid sends on `conn`, one run at a time,
  and sends back each run's events and ("start", run) / ("result", run, error) around it, on
  its own pipe (a worker killed while writing damages nothing but that pipe; a queue shared by
  the workers would be left corrupt or locked). Exits on None, on EOF, or when the grid dies."""
  _exit_with_parent(parent=parent)
  set_tf_threads(threads)       # share the cores between concurrent runs, no oversubscription
  stopping.install()            # Ctrl-C in a terminal reaches the workers too: stop gracefully
  lock = threading.Lock()
  watching = set()

  def send(msg):
    with lock:
      conn.send(msg)
  send(("ready", os.getpid()))
  while True:
    try:
      task = conn.recv()
    except (EOFError, OSError):
      return
    if task is None:
      return
    out, checkpoint_every, env_groups, items, stop_file = task
    if stop_file and stop_file not in watching:
      watching.add(stop_file)
      stopping.watch_stop_file(Path(stop_file))
    for spec, lock_wait_s in items:
      send(("start", spec.relpath()))
      err = train_one(spec, out, send, checkpoint_every, lock_wait_s, env_groups)
      send(("result", spec.relpath(), err))


def describe_exit(pid: int, exitcode: int | None) -> str:
  """'worker process 123 was killed by SIGKILL' or 'worker process 123 exited with code 1'."""
  if exitcode is not None and exitcode < 0:
    try:
      name = signal.Signals(-exitcode).name
    except ValueError:
      name = f"signal {-exitcode}"
    return f"worker process {pid} was killed by {name}"
  return f"worker process {pid} exited with code {exitcode}"


def _hint(*hows: str) -> str:
  return (" (SIGKILL: kill -9 or the kernel's out-of-memory killer)"
          if any(h.endswith("SIGKILL") for h in hows) else "")


class _Worker:
  """The grid's side of one worker process: its pipe, the runs sent to it that it has not
  reported yet (`items`, [(spec, lock_wait_s)]), and the run it is training (`held`)."""

  def __init__(self, ctx, threads: int):
    self.conn, child = ctx.Pipe(duplex=True)
    self.proc = ctx.Process(target=_worker_main, args=(child, os.getpid(), threads),
                            name="pg-softq-worker")
    self.proc.start()
    child.close()                    # the grid keeps one end: EOF once the worker is gone
    self.ready, self.eof, self.items, self.held = False, False, [], None

  def assign(self, items, out: str, checkpoint_every: float, env_groups: int | None,
             stop_file: str | None):
    self.items = list(items)
    try:
      self.conn.send((out, checkpoint_every, env_groups, self.items, stop_file))
    except OSError:                  # it died: found by is_alive(), its runs go back to the queue
      pass

  def messages(self):
    """Every message it has sent so far (also the last ones of a dead worker)."""
    while not self.eof:
      try:
        if not self.conn.poll():
          return
        yield self.conn.recv()
      except (EOFError, OSError):
        self.eof = True
      except Exception:  # a message cut short by its death
        self.eof = True

  def stop(self, wait_s: float):
    try:
      self.conn.send(None)
    except OSError:
      pass
    self.proc.join(wait_s)
    if self.proc.is_alive():
      self.proc.kill()
      self.proc.join(10)
    self.conn.close()


class LocalExecutor(Executor):
  """`jobs` worker processes (spawned) on this machine; `jobs == 1` trains in this process.
  `threads`: TF intra/inter-op threads per worker (default: cores // jobs). `checkpoint_every`
  (seconds), `env_groups`: every run's (`artifact.training.runner.run`; None = auto).

  A worker process that dies (kill -9, the out-of-memory killer) is replaced; the run it was
  training is retried once in a new worker, resuming from its checkpoint, and if its worker dies
  again it is reported failed with the reason while the other runs go on. A worker ends when
  the grid's process dies, so a killed grid leaves no worker and (flock) no stale lock."""
  name = "local"

  def __init__(self, jobs: int = 2, checkpoint_every: float = 300.0, threads: int | None = None,
               env_groups: int | None = None):
    self.jobs, self.checkpoint_every = int(jobs), float(checkpoint_every)
    self.env_groups = env_groups
    self.threads = threads or max(1, (os.cpu_count() or 1) // self.jobs)

  def describe(self) -> str:
    return f"local, --jobs {self.jobs}"

  def slots(self) -> int:
    """--jobs."""
    return self.jobs

  def run(self, specs, out, on_event, stop_file=None):
    """Trains `specs` into out/runs/ (`--jobs 1`: in this process, in order, where the grid's
    own signal handlers set the stop flag; else in worker processes, `_WorkerPool`, which watch
    `stop_file`), calling `on_event` in this thread for each RunEvent; returns the failures
    [(relpath, error text)]. Never raises for a failed run or a dead worker."""
    groups = groups_of(list(specs), self.jobs)
    if self.jobs == 1:
      return self._run_here(groups, str(out), on_event)
    return _WorkerPool(self, groups, str(out), on_event,
                       str(stop_file) if stop_file else None).run()

  def _run_here(self, groups, out: str, on_event) -> list[Failure]:
    try:
      set_tf_threads(self.threads)   # as a worker would; a run records them (config.json)
    except RuntimeError:
      pass                           # TF already running in this process (a test): recorded as is
    failures = []
    for g in groups:
      for spec in g:
        err = train_one(spec, out, on_event, self.checkpoint_every, env_groups=self.env_groups)
        if err:
          failures.append((spec.relpath(), err))
    return failures


class _WorkerPool:
  """One `LocalExecutor.run` with worker processes: the groups not yet sent (`queue`, each
  [(spec, lock_wait_s)]), the live and the retiring workers (told to exit, joined at the end),
  how each run's workers died (`deaths`), the workers in a row that died before training
  anything (`idle_deaths`), and the failures so far."""

  def __init__(self, executor: LocalExecutor, groups, out: str, on_event: EventSink,
               stop_file: str | None = None):
    self.ctx = mp.get_context("spawn")
    self.jobs, self.threads, self.on_event = executor.jobs, executor.threads, on_event
    self.task = (out, executor.checkpoint_every, executor.env_groups, stop_file)
    self.queue = [[(s, 0.0) for s in g] for g in groups]   # first tries do not wait for a lock
    self.deaths = {}                                       # run -> how its workers died
    self.idle_deaths = 0
    self.workers: list[_Worker] = []
    self.retiring: list[_Worker] = []
    self.failures: list[Failure] = []

  def run(self) -> list[Failure]:
    """Trains every queued group to the end; stops every worker (on an exception too, at once)."""
    ok = False
    try:
      while self.queue or self.workers:
        self._staff()
        self._wait()
        for w in list(self.workers):
          self._tend(w)
      ok = True
    finally:
      for w in self.workers + self.retiring:
        if not ok:
          w.proc.terminate()
        w.stop(30.0 if ok else 5.0)
    return self.failures

  def _staff(self):
    """Starts workers up to --jobs (no more than there is work for) and gives idle ones a group;
    once a stop is requested, the queued runs are not started (`stopped` events) instead."""
    if stopping.requested() and self.queue:
      for g in self.queue:
        for spec, _ in g:
          self.on_event(not_started_event(spec, stopping.requested()))
      self.queue.clear()
    busy = sum(bool(w.items) for w in self.workers)
    while self.queue and len(self.workers) < min(self.jobs, busy + len(self.queue)):
      self.workers.append(_Worker(self.ctx, self.threads))
    for w in self.workers:
      if not w.items and self.queue:
        w.assign(self.queue.pop(0), *self.task)

  def _wait(self, timeout_s: float = 0.5):
    wait([w.conn for w in self.workers if not w.eof] + [w.proc.sentinel for w in self.workers],
         timeout=timeout_s)

  def _tend(self, w: _Worker):
    """Handles what `w` sent; buries it if it died, retires it if nothing is left for it."""
    self._read(w)
    if not w.proc.is_alive():
      self._read(w)                                 # what it sent just before it died
      self.workers.remove(w)
      w.conn.close()
      self._bury(w)
    elif not w.items and not self.queue:            # nothing left for it
      self.workers.remove(w)
      self.retiring.append(w)
      try:
        w.conn.send(None)
      except OSError:
        pass

  def _read(self, w: _Worker):
    for msg in w.messages():
      if isinstance(msg, RunEvent):
        self.on_event(msg)
      elif msg[0] == "ready":
        w.ready = True
      elif msg[0] == "start":
        w.held, self.idle_deaths = msg[1], 0
      elif msg[0] == "result":
        _, rel, err = msg
        w.held = None
        w.items = [it for it in w.items if it[0].relpath() != rel]
        if err:
          self.failures.append((rel, err))

  def _fail(self, spec, error: str):
    self.on_event(failed_event(spec, error))
    self.failures.append((spec.relpath(), error))

  def _bury(self, w: _Worker):
    """A dead worker: its held run retried once (or failed), the rest of its group requeued."""
    how = describe_exit(w.proc.pid, w.proc.exitcode)
    rest = [it for it in w.items if it[0].relpath() != w.held]
    if w.held is None:
      self.idle_deaths += 1
      if self.idle_deaths >= WORKER_IDLE_DEATHS:     # e.g. cannot even start: give up on all
        self._give_up(rest, how)
        return
    else:
      rest = self._retry_or_fail(w, how) + rest
    if rest:
      self.queue.insert(0, rest)

  def _give_up(self, rest, how: str):
    """Fails `rest` and every queued run: workers keep dying before they train."""
    for g in [rest] + self.queue:
      for spec, _ in g:
        self._fail(spec, f"worker processes keep dying before they train ({self.idle_deaths} in a "
                         f"row; the last: {how}{_hint(how)})")
    self.queue.clear()

  def _retry_or_fail(self, w: _Worker, how: str):
    """[(the run `w` held, LOCK_WAIT_S)] to retry it, or [] once it failed WORKER_RETRIES times."""
    spec = next(it[0] for it in w.items if it[0].relpath() == w.held)
    hows = self.deaths.setdefault(w.held, [])
    hows.append(how)
    if len(hows) > WORKER_RETRIES:
      self._fail(spec, f"its worker process died {len(hows)} times while training it: "
                       f"{', then '.join(hows)}{_hint(*hows)}. It was retried from its checkpoint "
                       f"{WORKER_RETRIES} time(s); the same command resumes it again")
      return []
    print(f"{how}{_hint(how)} while training {w.held}: retrying it in a new worker (it "
          f"resumes from its last checkpoint)", flush=True)
    return [(spec, LOCK_WAIT_S)]


# --- Ray ------------------------------------------------------------------------------------------
def check_address_reachable(address: str, timeout_s: float = 5.0) -> tuple[str, int]:
  """`host[:port]` of a running Ray head (GCS port, default 6379) accepts TCP connections, or
  ExecutorError. Checked before `ray.init`, which would otherwise retry for minutes."""
  host, _, port = (address.rpartition(":") if ":" in address
                   else (address, "", str(RAY_DEFAULT_PORT)))
  host = host.replace("ray://", "")
  try:
    port_n = int(port)
  except ValueError:
    raise ExecutorError(
        f"--ray-address {address!r}: expected HOST:PORT, e.g. 10.0.0.5:6379") from None
  try:
    with socket.create_connection((host, port_n), timeout=timeout_s):
      pass
  except OSError as e:
    raise ExecutorError(f"--ray-address {address!r} is unreachable ({e}); start the cluster's head "
                        f"with `ray start --head --port={port_n}` on {host} (docs/operations.md, "
                        "'Running on a Ray cluster'), or leave --ray-address out to start a local "
                        "Ray instance") from None
  return host, port_n


def _ray_train(spec, out: str, checkpoint_every: float, env_groups: int | None, threads: int,
               events, stop_file: str | None = None) -> str | None:
  """The Ray task: one run. A retry after its node died resumes from the run's checkpoint.
  It stops at an update boundary once the grid's `stop_file` exists (the Ray worker process may
  outlive the grid: its stop flag is cleared first)."""
  stopping.clear()
  watch = None
  if stop_file:
    stopping.check_stop_file(Path(stop_file))
    watch = stopping.watch_stop_file(Path(stop_file))
  try:
    set_tf_threads(threads)
  except RuntimeError:
    pass                                   # TF already initialized in this worker process
  import ray  # the Ray worker's own: Ray is loaded only with --executor ray (RayExecutor.start)
  node = ray.get_runtime_context().get_node_id()

  def sink(e: RunEvent):                   # tag events with the Ray node that trains the run
    # Fire and forget (Ray runs one caller's actor calls in order). Not `Queue.put`: it waits
    # in `ray.get`, and Ray lends a task's CPUs to other tasks while it waits, which put three
    # runs on two CPUs (measured).
    events.actor.put_nowait.remote(dataclasses.replace(e, where=f"{e.where}@{node}"))
  try:
    return train_one(spec, out, sink, checkpoint_every, lock_wait_s=LOCK_WAIT_S,
                     env_groups=env_groups)
  finally:
    if watch is not None:
      watch.set()


class _HeadWatch:
  """A daemon thread that tries a TCP connection to the Ray head's GCS (`host:port`) every
  HEAD_POLL_S seconds; `lost()` is the reason once it has refused or timed out for HEAD_LOST_S
  seconds in a row (None before). Ray's own calls do not say so: they wait, and Ray ends the
  process once the GCS has been gone for its reconnect timeout."""

  def __init__(self, gcs_address: str):
    self.address = gcs_address
    host, _, port = gcs_address.rpartition(":")
    self._where, self._since, self._error = (host, int(port)), None, ""
    self._done = threading.Event()
    threading.Thread(target=self._watch, name="ray-head-watch", daemon=True).start()

  def _watch(self):
    while not self._done.wait(HEAD_POLL_S):
      try:
        with socket.create_connection(self._where, timeout=HEAD_POLL_S):
          self._since = None
      except OSError as e:
        self._since = self._since or time.time()
        self._error = e.strerror or type(e).__name__

  def lost(self) -> str | None:
    since = self._since
    if since is not None and time.time() - since >= HEAD_LOST_S:
      return (f"the Ray cluster's head stopped answering (its GCS at {self.address}: "
              f"{self._error} for {time.time() - since:.0f}s)")
    return None

  def close(self):
    self._done.set()


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
  (`HOST:PORT`); None starts a local Ray instance listening on 127.0.0.1 only. `checkpoint_every`
  (seconds), `env_groups`: every run's (`artifact.training.runner.run`; None = auto), passed to
  each task."""
  name = "ray"

  def __init__(self, address: str | None = None, cpus_per_run: float = 1.0,
               gpus_per_run: float = 0.0,
               checkpoint_every: float = 300.0, max_retries: int = RAY_MAX_RETRIES,
               env_groups: int | None = None):
    self.address, self.cpus, self.gpus = address, float(cpus_per_run), float(gpus_per_run)
    self.checkpoint_every, self.max_retries = float(checkpoint_every), int(max_retries)
    self.env_groups = env_groups
    self._ray = None
    self.lost: str | None = None       # why the cluster was lost mid-grid, if it was

  def describe(self) -> str:
    return (f"ray at {self.address or 'a local instance'}, {self.cpus:g} CPU"
            f"{f' + {self.gpus:g} GPU' if self.gpus else ''} per run")

  def slots(self) -> int:
    """The started cluster's CPUs / CPUs per run."""
    return max(1, int(self._ray.cluster_resources().get("CPU", 1) // self.cpus))

  def start(self, out: Path) -> None:
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")   # no usage reports to the internet
    os.environ.setdefault("RAY_gcs_rpc_server_reconnect_timeout_s", RAY_GCS_RECONNECT_S)
    if self.address:
      check_address_reachable(self.address)
    else:
      # a local instance serves this machine only: Ray's single-machine mode puts every node,
      # worker and server on 127.0.0.1 (read before `import ray`, inherited by its processes)
      os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
    import ray  # only with --executor ray, after the variables above that it reads on import
    self._ray = ray
    if not ray.is_initialized():
      kw = dict(log_to_driver=False, logging_level="ERROR", configure_logging=True)
      if self.address:
        # the cluster's workers were not started from this process: give them its kernel path
        # (TF_ENABLE_ONEDNN_OPTS, set by the grid; a local instance's workers inherit it)
        if ONEDNN_ENV in os.environ:
          kw["runtime_env"] = {"env_vars": {ONEDNN_ENV: os.environ[ONEDNN_ENV]}}
        ray.init(address=self.address, **kw)
      else:                    # "local": a new instance, never an unrelated cluster found on disk
        ray.init(address="local", num_cpus=os.cpu_count(), include_dashboard=False,
                 object_store_memory=200 * 2 ** 20, **kw)
    cpus = ray.cluster_resources().get("CPU", 0)
    if cpus < self.cpus:
      raise ExecutorError(f"--cpus-per-run {self.cpus:g}: the Ray cluster has {cpus:g} CPUs in all")
    if self.gpus and ray.cluster_resources().get("GPU", 0) < self.gpus:
      raise ExecutorError(f"--gpus-per-run {self.gpus:g}: the Ray cluster has "
                          f"{ray.cluster_resources().get('GPU', 0):g} GPUs")
    self.check_shared_out(Path(out))

  def check_shared_out(self, out: Path, timeout_s: float = 120.0):
    """Every alive node with CPUs reads a probe file the driver wrote under `out` and writes one
    back, within `timeout_s` seconds (else Ray's GetTimeoutError); ExecutorError naming the
    nodes that cannot."""
    ray = self._ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy  # Ray: as in start
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
    bad = [f"{n['NodeManagerAddress']} ({n['NodeID'][:12]}): {r}"
           for n, r in zip(refs.values(), results) if r]
    if bad:
      raise ExecutorError(f"--out {str(out)!r} is not shared by every Ray node: " + "; ".join(bad) +
                          ". Runs resume on any node from their checkpoints, so --out must be a "
                          "filesystem every node mounts at the same path (e.g. NFS)")

  def run(self, specs, out, on_event, stop_file=None):
    ray = self._ray
    from ray.util.queue import Queue  # Ray: as in start
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy  # Ray: as in start
    here = ray.get_runtime_context().get_node_id()
    # the queue lives on the driver's node, so losing a worker node never loses it
    here_only = NodeAffinitySchedulingStrategy(here, soft=False)
    events = Queue(actor_options=dict(num_cpus=0, scheduling_strategy=here_only))
    task = ray.remote(_ray_train).options(num_cpus=self.cpus, num_gpus=self.gpus,
                                          max_retries=self.max_retries, retry_exceptions=False)
    threads = max(1, int(round(self.cpus)))
    stop = str(stop_file) if stop_file else None
    refs = {task.remote(s, str(out), self.checkpoint_every, self.env_groups, threads, events,
                        stop): s
            for s in specs}
    failures = []
    head = _HeadWatch(ray.get_runtime_context().gcs_address)

    def drain():
      n = events.qsize()
      if n:
        for e in events.get_nowait_batch(n):
          on_event(e)
    pending = list(refs)
    try:
      while pending and not self.lost:
        try:
          ready, pending = ray.wait(pending, num_returns=len(pending), timeout=0.5)
          drain()
        except (ray.exceptions.RayError, ConnectionError) as e:  # a raylet, the queue's node
          self.lost = f"the Ray cluster failed ({error_text(e)})"
          break
        failures += self._results(ready, refs, on_event)
        self.lost = self.lost or head.lost()
      if self.lost:
        return failures + self._lose(pending, refs, on_event, stop_file, drain)
      time.sleep(0.2)
      drain()
      ray.kill(events.actor)
    finally:
      head.close()
    return failures

  def _results(self, ready, refs, on_event, timeout_s: float | None = None) -> list[Failure]:
    """The failures among the finished tasks `ready` ({ref: spec} `refs`): the error a task
    returned (its `failed` event already sent by `train_one`), or the one Ray raised once its
    retries were exhausted (its node kept dying; a `failed` event sent here)."""
    failures = []
    for ref in ready:
      spec = refs[ref]
      try:
        err = self._ray.get(ref, timeout=timeout_s)
      except Exception as e:  # retries exhausted: node kept dying (or the cluster is gone)
        err = error_text(e)
        on_event(failed_event(spec, err))
      if err:
        failures.append((spec.relpath(), err))
    return failures

  def _lose(self, pending, refs, on_event, stop_file, drain) -> list[Failure]:
    """The cluster is lost (`self.lost`): the runs still training are asked to checkpoint and
    stop (the stop file; their nodes may still run them), for up to STOP_WAIT_S seconds; every
    run not finished is then failed with the reason and how to go on (its checkpoint under --out
    is kept, and the same command resumes it)."""
    ray = self._ray
    print(f"== {self.lost}: asking the runs still training to checkpoint and stop, then "
          f"reporting what finished", flush=True)
    if stop_file:
      stopping.write_stop_file(Path(stop_file), "the loss of the Ray cluster's head")
    deadline = time.time() + STOP_WAIT_S
    failures = []
    while pending and time.time() < deadline:
      try:
        ready, pending = ray.wait(pending, num_returns=len(pending), timeout=0.5)
        drain()
      except Exception:        # the cluster is gone: nothing more comes from it
        break
      failures += self._results(ready, refs, on_event, timeout_s=5.0)
    for ref in pending:
      spec = refs[ref]
      err = (f"not finished: {self.lost}; its checkpoints under --out are kept, and the same "
             f"command resumes it once the cluster is back (or with --executor local)")
      on_event(failed_event(spec, err))
      failures.append((spec.relpath(), err))
    return failures

  def close(self):
    """Disconnects from Ray (not after a lost cluster: Ray's shutdown would wait for it)."""
    if self._ray is not None and self._ray.is_initialized() and not self.lost:
      self._ray.shutdown()


def make_executor(name: str, *, jobs: int, checkpoint_every: float, ray_address: str | None,
                  cpus_per_run: float | None, gpus_per_run: float | None,
                  env_groups: int | None = None) -> Executor:
  """The executor named by --executor with the command line's settings (`checkpoint_every`:
  seconds; `cpus_per_run`: TF threads per local worker, or CPUs per Ray task; `env_groups`: None =
  auto). Raises ExecutorError for an unknown name."""
  if name == "local":
    return LocalExecutor(jobs, checkpoint_every,
                         threads=int(cpus_per_run) if cpus_per_run else None,
                         env_groups=env_groups)
  if name == "ray":
    return RayExecutor(ray_address, cpus_per_run or 1.0, gpus_per_run or 0.0, checkpoint_every,
                       env_groups=env_groups)
  raise ExecutorError(f"unknown --executor {name!r}; valid: {', '.join(EXECUTORS)}")

