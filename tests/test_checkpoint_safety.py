"""Checkpoints are safe to resume from: they hold data only (a pickle planted in one never runs),
a deleted or garbled TF state file never restarts a run from zero, the temporary files of killed
writers are removed on resume, a DQN resume streams its replay frames (peak ~one replay), and
the grid's memory check counts the replays and processes that train at once."""
import os
import pickle
import shutil
import time
import tracemalloc
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from tf_agents.specs import array_spec
from tf_agents.trajectories import trajectory

from agents.replay import FrameStackReplayBuffer
from artifact.experiment.runspec import make_run_spec
from artifact.grid import memory
from artifact.training import checkpoints, pool, runner

from helpers import run_killed_before_final_checkpoint, train_updates


# --- 1. checkpoints hold data only ---------------------------------------------------------------
class _MakesMarker:
  """Unpickling this creates the folder `path`: stands for any code a planted pickle runs."""

  def __init__(self, path):
    self.path = str(path)

  def __reduce__(self):
    return (os.mkdir, (self.path,))


class _PlantedState(tf.train.experimental.PythonState):
  """Writes a pickle that runs `_MakesMarker` when loaded, as a hostile checkpoint would."""

  def __init__(self, marker):
    self.marker = marker

  def serialize(self):
    return pickle.dumps(_MakesMarker(self.marker))

  def deserialize(self, string_value):
    del string_value


def _start(spec, run_dir):
  run = runner.Run(spec, run_dir, on_event=lambda e: None)
  run.prepare()
  run = runner.Training(run)
  return run


def _dqn_run(tmp_path, frames=2_400):
  spec = make_run_spec(2, "Pong", "dqn", 0, "smoke", frames)
  return spec, _start(spec, tmp_path / spec.relpath())


def _py_states(prefix) -> dict:
  reader = tf.train.load_checkpoint(str(prefix))
  return {name: reader.get_tensor(name) for name, _ in tf.train.list_variables(str(prefix))
          if name.endswith("/.ATTRIBUTES/py_state")}


@pytest.mark.slow
@pytest.mark.parametrize("family", ["dqn", "a2c"])
def test_a_real_checkpoint_holds_no_pickle(tmp_path, family):
  pool.close_all()
  if family == "dqn":
    spec, run = _dqn_run(tmp_path)
    updates = 30                                       # 120 agent steps: past learning_starts (60)
  else:
    spec = make_run_spec(1, "Pong", "a2c_1step", 0, "smoke", 1600)
    run, updates = _start(spec, tmp_path / spec.relpath()), 2
  try:
    for _ in range(updates):
      run.trainer.update()
      run.updates_done += 1
    run.checkpoint("clock")
    prefix = run.store.latest
    states = _py_states(prefix)
    if family == "dqn":
      assert len(run.trainer.loop.replay._frame_buffer._frames) > 100
      assert "replay/_np_state/size/.ATTRIBUTES/py_state" in states      # the replay is in it
    assert not any(k.startswith("replay/_frame_buffer") for k in states), sorted(states)
    pickles = sorted(k for k, v in states.items() if bytes(v).startswith(b"\x80"))
    assert not pickles, pickles
    # every Python state it tracks is tf-agents' numpy wrapper (np.save/np.load, no pickle)
    assert checkpoints.pickling_states(run.store.ckpt) == []
  finally:
    run.run.lock.close()
    pool.close_all()


@pytest.mark.slow
def test_a_pickle_planted_in_a_checkpoint_never_runs(tmp_path):
  pool.close_all()
  spec, run = _dqn_run(tmp_path)
  # (a) a checkpoint holding only the planted value, under the key tf-agents' FrameBuffer used,
  # read into a real DQN trainer's checkpoint object
  marker = tmp_path / "payload-ran"
  holder = tf.Module()
  holder._frame_buffer = _PlantedState(marker)
  planted = tf.train.Checkpoint(replay=holder).write(str(tmp_path / "planted" / "ckpt"))
  value = _py_states(planted)["replay/_frame_buffer/.ATTRIBUTES/py_state"]
  assert bytes(value).startswith(b"\x80")                   # a pickle (that would run code)
  run.store.ckpt.read(planted).expect_partial()
  assert not marker.exists(), "restoring the checkpoint unpickled the planted value"
  # (b) a complete checkpoint of the run carrying the planted value: the run resumes from it
  marker2 = tmp_path / "payload-ran-on-resume"
  run.trainer.loop.replay._track_trackable(
      _PlantedState(marker2), name="_frame_buffer", overwrite=True)
  train_updates(run, 30)
  run.checkpoint("clock")
  assert "replay/_frame_buffer/.ATTRIBUTES/py_state" in _py_states(run.store.latest)
  run.run.lock.close()
  pool.close_all()                                       # a new process: a new trainer
  try:
    _, resumed = _dqn_run(tmp_path)
    assert resumed.updates_done == 30 and resumed.trainer.loop.replay.size == 120
    assert not marker2.exists(), "resuming the run unpickled the planted value"
    resumed.run.lock.close()
  finally:
    pool.close_all()


# --- 2. never a silent restart; 3. leftovers of killed writers removed ----------------------------
A2C_FRAMES = 1600


@pytest.fixture(scope="module")
def killed_a2c_run(tmp_path_factory):
  """An A2C smoke run killed before its final checkpoint: checkpoints at 960 and 1280 frames."""
  spec = make_run_spec(1, "Pong", "a2c_1step", 0, "smoke", A2C_FRAMES)
  run_dir = tmp_path_factory.mktemp("killed") / spec.relpath()
  run_killed_before_final_checkpoint(spec, run_dir)
  assert _checkpoints(run_dir / "checkpoint") == ["ckpt-960", "ckpt-1280"]
  return spec, run_dir


def _checkpoints(ckpt_dir: Path):
  """ckpt-N names of the checkpoints in `ckpt_dir` (index files), oldest first."""
  return sorted((p.name[:-len(".index")] for p in ckpt_dir.glob("ckpt-*.index")),
                key=lambda n: int(n[len("ckpt-"):]))


def _copy(run_dir: Path, tmp_path: Path) -> Path:
  copy = tmp_path / "run"
  shutil.copytree(run_dir, copy)
  return copy


def _resume(spec, run_dir):
  events = []
  with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    done = runner.run(spec, run_dir, on_event=events.append)
  pool.close_all()
  started = [e for e in events if e.kind == "started"]
  return done, started[0].frames, [str(w.message) for w in caught]


def _progress_lines(run_dir: Path, up_to: int):
  lines = (run_dir / "progress.csv").read_text().splitlines()
  header, rows = lines[0], lines[1:]
  col = header.split(",").index("frames")
  return [header] + [r for r in rows if int(r.split(",")[col]) <= up_to]


STATE_FILES = {
    "garbled-bytes": bytes(np.random.default_rng(7).integers(0, 256, 300, dtype=np.uint8)),
    "garbled-text": b'model_checkpoint_path: "ckpt-1280"\nall_model_checkpoint_paths: {{ '
                    b'\x00garbage',
    "behind": "ckpt-960",         # as TF wrote it before the kill between a save and its update
    "deleted": None,
}


@pytest.mark.slow
@pytest.mark.parametrize("state", sorted(STATE_FILES))
def test_a_broken_state_file_resumes_from_the_newest_checkpoint(killed_a2c_run, tmp_path, state):
  spec, base = killed_a2c_run
  run_dir = _copy(base, tmp_path)
  kept = _progress_lines(run_dir, 1280)
  assert len(kept) > 2                                     # rows up to the checkpoint exist
  state_file = run_dir / "checkpoint" / "checkpoint"
  if STATE_FILES[state] is None:
    state_file.unlink()
  elif isinstance(STATE_FILES[state], str):
    tf.compat.v1.train.update_checkpoint_state(str(run_dir / "checkpoint"), STATE_FILES[state],
                                               [STATE_FILES[state]],
                                               all_model_checkpoint_timestamps=[time.time() - 5])
    assert tf.train.CheckpointManager(tf.train.Checkpoint(), str(run_dir / "checkpoint"), 2
                                      ).checkpoints[-1].endswith(STATE_FILES[state])
  else:
    state_file.write_bytes(STATE_FILES[state])
  done, resumed_from, messages = _resume(spec, run_dir)
  assert resumed_from == 1280, messages                    # not 0 (nor the older 960)
  assert any("checkpoint state file" in m for m in messages), messages
  assert done["frames"] == A2C_FRAMES
  # the rows before the checkpoint are kept as they were; every row once
  assert _progress_lines(run_dir, 1280) == kept
  frames = [int(r.split(",")[4]) for r in (run_dir / "progress.csv").read_text().splitlines()[1:]]
  assert frames == sorted(set(frames)) and frames[-1] == A2C_FRAMES
  # the state file was rewritten, so the final save swept the older checkpoints
  assert _checkpoints(run_dir / "checkpoint") == ["ckpt-1600"]
  assert tf.train.latest_checkpoint(str(run_dir / "checkpoint")).endswith("ckpt-1600")


@pytest.mark.slow
def test_no_checkpoint_loads_raises_and_keeps_progress(killed_a2c_run, tmp_path):
  spec, base = killed_a2c_run
  run_dir = _copy(base, tmp_path)
  (run_dir / "checkpoint" / "checkpoint").unlink()
  for p in run_dir.glob("checkpoint/ckpt-*.data-*"):
    p.write_bytes(b"\0" * 64)                              # every checkpoint damaged
  before = (run_dir / "progress.csv").read_text()
  with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    with pytest.raises(checkpoints.CheckpointLoadError, match="none of its 2 checkpoints loads"):
      runner.run(spec, run_dir, on_event=lambda e: None)
  pool.close_all()
  assert (run_dir / "progress.csv").read_text() == before


def _plant_leftovers(run_dir: Path):
  ck = run_dir / "checkpoint"
  files = [ck / "ckpt-1280.replay-frames.npz.tmp-4242",      # campaign-1's replay frames
           ck / ".ckpt-1280.loop-state.npz.k2j3x9.tmp",       # artifact/files.py atomic_save_npz
           run_dir / ".progress.csv.a8b7c6.tmp",              # artifact/files.py atomic_write_text
           run_dir / ".done.json.q1w2e3.tmp",
           ck / "ckpt-1600.index.tempstate1234567890",        # TF's bundle writer
           ck / "checkpoint.tmp0123456789abcdef0123456789abcdef"]  # TF's state file write
  for f in files:
    f.write_bytes(b"partial")
  folders = [run_dir / ".policy.tmp-4242",                    # campaign-1's policy export
             ck / "ckpt-1600_temp"]                           # TF's sharded save
  for d in folders:
    (d / "variables").mkdir(parents=True)
    (d / "variables" / "part-00000-of-00001.data-00000-of-00001").write_bytes(b"partial")
  return files + folders


@pytest.mark.slow
def test_leftovers_of_killed_writers_are_removed_on_resume(killed_a2c_run, tmp_path):
  spec, base = killed_a2c_run
  run_dir = _copy(base, tmp_path)
  leftovers = _plant_leftovers(run_dir)
  (run_dir / "notes.txt").write_text("not ours to remove")
  done, resumed_from, messages = _resume(spec, run_dir)
  assert resumed_from == 1280 and done["frames"] == A2C_FRAMES, messages
  assert not [str(p) for p in leftovers if p.exists()]
  assert (run_dir / "notes.txt").exists() and (run_dir / ".lock").exists()
  assert (run_dir / "policy" / "saved_model.pb").exists() and (run_dir / "done.json").exists()


def test_leftovers_of_a_live_writer_are_kept(tmp_path):
  # a live trainer holds the run directory's lock: a second process is refused before it cleans
  spec = make_run_spec(1, "Pong", "a2c_1step", 0, "smoke", A2C_FRAMES)
  run_dir = tmp_path / spec.relpath()
  run_dir.mkdir(parents=True)
  live = checkpoints.lock_run_dir(run_dir)
  try:
    tmp = run_dir / ".progress.csv.a8b7c6.tmp"
    tmp.write_text("being written")
    with pytest.raises(RuntimeError, match="is being trained by"):
      runner.Run(spec, run_dir, on_event=lambda e: None).prepare()
    assert tmp.exists()
  finally:
    live.close()


# --- 4. memory: streamed replay frames, and the grid's memory check -------------------------------
def _frame_replay(capacity=100):
  spec = trajectory.Trajectory(
      step_type=array_spec.ArraySpec((), np.int32),
      observation=array_spec.ArraySpec((4, 84, 84), np.uint8),
      action=array_spec.ArraySpec((), np.int64), policy_info=(),
      next_step_type=array_spec.ArraySpec((), np.int32),
      reward=array_spec.ArraySpec((), np.float32),
      discount=array_spec.ArraySpec((), np.float32))
  return FrameStackReplayBuffer(spec, capacity)


def _saved_frames(tmp_path, n):
  rb = _frame_replay()
  rng = np.random.default_rng(0)
  for i in range(n):
    rb._frame_buffer._frames[int(rng.integers(-2**62, 2**62))] = (
        rng.integers(0, 256, (84, 84), dtype=np.uint8), 1 + i % 3)
  path = tmp_path / "ckpt-1.replay-frames.npz"
  rb.save_frames(path)
  return rb, path


def test_replay_frames_load_streamed_with_a_peak_of_about_one_replay(tmp_path):
  n = 10_000                                                 # 70.6 MB of pixels
  saved, path = _saved_frames(tmp_path, n)
  rb = _frame_replay()
  tracemalloc.start()
  try:
    rb.load_frames(path)
    held, peak = tracemalloc.get_traced_memory()
  finally:
    tracemalloc.stop()
  pixels = sum(f.nbytes for f, _ in rb._frame_buffer._frames.values())
  assert pixels == n * 84 * 84
  # measured: 1.06x the pixels streamed (the frames and one 1,024-frame chunk), 2.04x before
  # (the whole array read at once, then a copy per frame)
  assert peak < 1.2 * pixels, (peak / pixels, held / pixels)
  a, b = saved._frame_buffer._frames, rb._frame_buffer._frames
  assert list(a) == list(b)                                  # same frames, same order
  for h, (frame, count) in a.items():
    assert b[h][1] == count and b[h][0].flags.c_contiguous and b[h][0].flags.owndata
    np.testing.assert_array_equal(b[h][0], frame)


def test_damaged_replay_frames_are_refused(tmp_path):
  _, path = _saved_frames(tmp_path, 300)
  data = bytearray(path.read_bytes())
  with zipfile.ZipFile(path) as z:
    info = z.getinfo("frames.npy")
  flipped = bytearray(data)
  flipped[info.header_offset + 1000 + 150 * 7056] ^= 0xFF     # a byte inside a frame
  bad = tmp_path / "flipped.npz"
  bad.write_bytes(bytes(flipped))
  with pytest.raises(zipfile.BadZipFile):                    # the member's CRC
    _frame_replay().load_frames(bad)
  with pytest.raises((ValueError, zipfile.BadZipFile, OSError)):
    torn = tmp_path / "torn.npz"
    torn.write_bytes(bytes(data[:len(data) // 2]))
    _frame_replay().load_frames(torn)
  # a frames member of the wrong shape: refused by its header, before any frame is read
  wrong = tmp_path / "wrong.npz"
  np.savez(wrong, frames=np.zeros((2, 80, 80), np.uint8), hashes=np.arange(2),
           refcounts=np.ones(2, np.int64))
  with pytest.raises(ValueError, match="expected uint8"):
    _frame_replay().load_frames(wrong)


def test_memory_needed_counts_the_largest_replays_and_the_processes():
  gb = 1e9
  per = memory.REPLAY_RAM_BYTES_PER_TRANSITION + memory.RESUME_OVERHEAD_BYTES_PER_TRANSITION
  assert per == 7_500
  paper_dqn = [make_run_spec(2, "Pong", "dqn", s, "paper") for s in range(3)]      # 40M frames
  short_dqn = make_run_spec(2, "Pong", "dqn", 0, "short")                          # 5M frames
  a2c = [make_run_spec(1, "Pong", "a2c_1step", s, "short") for s in range(3)]
  smoke_dqn = make_run_spec(2, "Pong", "dqn", 0, "smoke")
  assert [memory.replay_transitions(s) for s in (paper_dqn[0], short_dqn,
                                                 a2c[0])] == [1_000_000] * 2 + [0]
  # min(capacity, frames / 4): a 1.2M-frame DQN run holds 300k transitions; smoke caps at 20k
  assert memory.replay_transitions(make_run_spec(2, "Pong", "dqn", 0, "short",
                                                 1_200_000)) == 300_000
  assert memory.replay_transitions(smoke_dqn) == min(20_000, smoke_dqn.frames // 4)
  # two paper DQN runs at once: 2 x 1M x 7,500 bytes + 2 x 1.5 GB = 18 GB
  assert memory.memory_needed(paper_dqn, 2) == pytest.approx(18 * gb)
  assert memory.memory_needed(paper_dqn, 1) == pytest.approx(9 * gb)
  # A2C only: the processes; more slots than runs count the runs
  assert memory.memory_needed(a2c, 2) == pytest.approx(3 * gb)
  assert memory.memory_needed(a2c, 8) == pytest.approx(4.5 * gb)
  # a mixed grid: the largest replays are the ones training at once
  mixed = a2c + [short_dqn, make_run_spec(2, "Pong", "dqn", 0, "short", 1_200_000)]
  assert memory.memory_needed(mixed, 2) == pytest.approx(1.3e6 * 7_500 + 3 * gb)


def test_check_memory_names_the_numbers_and_what_to_do():
  paper_dqn = [make_run_spec(2, "Pong", "dqn", s, "paper") for s in range(3)]
  memory.check_memory(paper_dqn, 2, available=20e9)          # fits: nothing raised
  with pytest.raises(SystemExit) as e:
    memory.check_memory(paper_dqn, 2, available=16e9)         # needs 18 GB
  msg = str(e.value)
  assert "18.0 GB" in msg and "16.0 GB available" in msg and "2 training at once" in msg
  assert "1,000,000 transitions" in msg and "--jobs 1" in msg and "smaller budget" in msg
  with pytest.raises(SystemExit, match="even one run at a time does not fit"):
    memory.check_memory(paper_dqn, 2, available=8e9)
  assert memory.available_memory() is None or memory.available_memory() > 0
