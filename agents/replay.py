"""Replay for Figure 2, built on tf-agents' Python replay buffers (docs/protocol.md section 5).

`FrameStackReplayBuffer`: a 1M-transition replay of stacked uint8 (4, 84, 84) observations would
need 28 GB; consecutive stacks share 3 of their 4 frames. tf-agents' `PyHashedReplayBuffer`
already deduplicates frames by content hash with reference counts; the subclass adapts it to our
channels-first layout (frames stacked on axis 0, oldest first) and stores a private copy of each
new frame, so a stored frame never keeps the whole observation array it was sliced from alive.

Both buffers add a vectorized `sample(batch_size, num_steps)`: tf-agents' own `get_next` walks
`tf.nest` once per item and measured 21 ms per batch of 32 on 2 CPU cores, more than a
whole DQN gradient step; `sample` reads the underlying numpy storage with fancy indexing. Its
windows never cross the write head (same rule as `PyUniformReplayBuffer._get_next`).

The subclasses read tf-agents' numpy storage (`_storage._array`) and frame dictionary
(`_frame_buffer._frames`) directly: tf-agents has no public access to either, and the
vectorized sample, the streamed frame file and the byte count need them.
"""
from __future__ import annotations

import hashlib
import os
import sys
import zipfile

import numpy as np
import tensorflow as tf
from tf_agents.replay_buffers import py_hashed_replay_buffer, py_uniform_replay_buffer
from tf_agents.specs import array_spec


def _read_exactly(f, view: memoryview, path: str):
  """Fills `view` from the file object `f`; raises ValueError if the file ends first."""
  got = 0
  while got < len(view):
    n = f.readinto(view[got:])
    if not n:
      raise ValueError(f"{path}: frames.npy ends after {got} of {len(view)} bytes of a chunk")
    got += n


class _FastSampleMixin:
  """Vectorized uniform sampling of contiguous windows: nest of arrays [batch, num_steps, ...]."""

  def seed(self, seed: int | None):
    self._rng = np.random.default_rng(seed)

  @property
  def rng(self) -> np.random.Generator:
    """The sampling stream (unseeded until `seed` is called)."""
    if getattr(self, "_rng", None) is None:
      self._rng = np.random.default_rng()
    return self._rng

  def sample(self, batch_size: int, num_steps: int):
    rng = self.rng
    size, cap = int(self._np_state.size), int(self._capacity)
    if size < num_steps:
      raise ValueError(f"replay holds {size} items, fewer than num_steps={num_steps}")
    start = rng.integers(0, size - num_steps + 1, batch_size)
    if size == cap:
      start = start + int(self._np_state.cur_id)
    idx = (start[:, None] + np.arange(num_steps)[None, :]) % cap     # [batch, num_steps]
    storage = self._storage
    flat = [storage._array(i)[idx] for i in range(len(storage._flat_specs))]
    item = tf.nest.pack_sequence_as(self._encoded_data_spec(), flat)
    return self._decode_batch(item)

  def _decode_batch(self, item):
    return item

  def add_item(self, item):
    """Adds one transition: `item` is the `data_spec` nest of one env's arrays, without the batch
    dimension (what tf-agents' `_add_batch` stores after `nest_utils.unbatch_nested_array` of a
    batch of 1). The same bookkeeping as `PyUniformReplayBuffer._add_batch` (the item leaving a
    full buffer deleted first, then the encoded item written at the head), without its per-call
    nest walks over the batched item: the DQN loop adds one transition per agent step."""
    with self._lock:
      if self._np_state.size == self._capacity:
        self._on_delete(self._storage.get(self._np_state.cur_id))
      self._storage.set(self._np_state.cur_id, self._encode(item))
      self._np_state.size = np.minimum(self._np_state.size + 1, self._capacity)
      self._np_state.cur_id = (self._np_state.cur_id + 1) % self._capacity
      self._np_state.item_count += 1


class UniformReplay(_FastSampleMixin, py_uniform_replay_buffer.PyUniformReplayBuffer):
  """tf-agents `PyUniformReplayBuffer` (vector observations) with fast `sample`."""


def frame_hash(frame: np.ndarray) -> int:
  """A frame's content hash, int64, the same in every process (Python's `hash` of bytes is
  salted per process, so a resumed run would store an old frame again under a new key and its
  checkpoints would differ from an unbroken run's): the first 8 bytes of BLAKE2b."""
  digest = hashlib.blake2b(np.ascontiguousarray(frame).tobytes(), digest_size=8).digest()
  return int.from_bytes(digest, "little", signed=True)


class _CopyingFrameBuffer:
  """tf-agents' `FrameBuffer` (frames by content hash, with reference counts) that stores a
  private copy of each new frame. Deliberately not a `tf.train.experimental.PythonState`:
  tf-agents checkpoints its frame dictionary as one pickled string tensor, which measured ~34 KB
  of extra RAM per stored transition while saving (5x the replay itself; 34 GB for the paper's
  1M-transition replay), so `FrameStackReplayBuffer.save_frames` streams the frames to a file
  instead and only the rest of the replay goes into the TF checkpoint."""

  def __init__(self):
    self._frames = {}

  def __len__(self):
    return len(self._frames)

  def add_frame(self, frame):
    h = frame_hash(frame)
    entry = self._frames.get(h)
    if entry is not None:
      self._frames[h] = (entry[0], entry[1] + 1)
    else:
      self._frames[h] = (np.array(frame, copy=True), 1)
    return h

  on_delete = py_hashed_replay_buffer.FrameBuffer.on_delete

  def clear(self):
    self._frames = {}


class FrameStackReplayBuffer(_FastSampleMixin, py_hashed_replay_buffer.PyHashedReplayBuffer):
  """Uniform replay of `Trajectory`s (batch size 1) whose observation is a frame stack on axis 0.

  Memory: one 84*84 = 7056-byte frame per stored transition in steady state, plus 4 int64 hashes
  and the dict entry (`python -m artifact.grid.bench` prints the measured bytes per transition).
  `sample(batch_size, num_steps)` -> Trajectory of numpy arrays [batch, num_steps, ...].
  """

  def __init__(self, data_spec, capacity: int):
    super().__init__(data_spec, capacity)
    # tf-agents' `FrameBuffer` is a `PythonState` that pickles its frames into the checkpoint
    # (`replay/_frame_buffer/.ATTRIBUTES/py_state`) and `pickle.loads` them on restore, so a
    # checkpoint from an untrusted directory could run code. Assigning ours (not trackable) would
    # leave the original tracked: untrack it first, so that checkpoints hold data only and a
    # planted value under that key is ignored on restore (tests/test_checkpoint_safety.py).
    self._delete_tracking("_frame_buffer")
    self._frame_buffer = _CopyingFrameBuffer()

  def _encoded_data_spec(self):
    obs = self._data_spec.observation
    return self._data_spec._replace(observation=array_spec.ArraySpec((obs.shape[0],), np.int64))

  def _encode(self, traj):
    with self._lock_frame_buffer:
      hashes = np.array([self._frame_buffer.add_frame(f) for f in traj.observation], np.int64)
    return traj._replace(observation=hashes)

  def _decode(self, encoded):
    frames = self._frame_buffer._frames
    obs = np.stack([frames[h][0] for h in encoded.observation], axis=0)
    return encoded._replace(observation=obs)

  def _decode_batch(self, item):
    hashes = item.observation                                  # [batch, T, stack] int64
    frames = self._frame_buffer._frames
    spec = self._data_spec.observation
    obs = np.stack([frames[h][0] for h in hashes.ravel().tolist()]).astype(spec.dtype, copy=False)
    return item._replace(observation=obs.reshape(hashes.shape[:2] + tuple(spec.shape)))

  def save_frames(self, path) -> int:
    """Writes the unique frames to `path` (a .npz: `frames` uint8 [U, H, W], `hashes` and
    `refcounts` int64 [U]), streaming one frame at a time (no copy of the whole replay in RAM).
    It writes `path` in place: callers that need the file whole or absent write through a
    temporary name (the DQN trainer uses `artifact.files.atomic_path`). Returns the bytes
    written."""
    path = str(path)
    frames = self._frame_buffer._frames
    shape = tuple(self._data_spec.observation.shape[1:])
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED, allowZip64=True) as z:
      with z.open("frames.npy", "w", force_zip64=True) as f:
        np.lib.format.write_array_header_2_0(
            f, dict(descr=np.dtype(np.uint8).str, fortran_order=False,
                    shape=(len(frames),) + shape))
        for frame, _ in frames.values():
          f.write(np.ascontiguousarray(frame, np.uint8).tobytes())
      for name, values in (("hashes", list(frames.keys())),
                           ("refcounts", [n for _, n in frames.values()])):
        with z.open(f"{name}.npy", "w") as f:
          np.lib.format.write_array(f, np.asarray(values, np.int64))
      z.testzip()
    return os.path.getsize(path)

  def load_frames(self, path, chunk_frames: int = 1024):
    """Replaces the frame dictionary with the one `save_frames` wrote to `path`. Streams the
    frames from the zip member `frames.npy` (its header read with `np.lib.format`), `chunk_frames`
    at a time, into one array per frame: the peak is about one replay, not the whole array read at
    once plus a copy per frame (2x; `np.load(mmap_mode=...)` cannot map a member of a zip). Data
    only: the header is parsed as a literal and object arrays are refused. Raises (OSError,
    ValueError, zipfile.BadZipFile, KeyError) if the file is missing or damaged, or if the stored
    transitions refer to frames it lacks."""
    path = str(path)
    spec = self._data_spec.observation
    frame_shape = tuple(spec.shape[1:])
    self._frame_buffer._frames = {}  # free the old frames first
    with zipfile.ZipFile(path) as z:
      def member(name):
        with z.open(f"{name}.npy") as m:
          return np.lib.format.read_array(m, allow_pickle=False)
      hashes, counts = member("hashes"), member("refcounts")
      with z.open("frames.npy") as f:
        version = np.lib.format.read_magic(f)
        if version == (1, 0):
          shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
        elif version == (2, 0):
          shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
        else:
          raise ValueError(f"{path}: frames.npy has an unsupported .npy version {version}")
        if (dtype != np.uint8 or fortran or len(shape) != 1 + len(frame_shape)
            or tuple(shape[1:]) != frame_shape):
          raise ValueError(f"{path}: frames.npy holds {dtype} {shape} (fortran {fortran}), "
                           f"expected uint8 (U,) + {frame_shape}")
        if not shape[0] == len(hashes) == len(counts):
          raise ValueError(f"{path}: {shape[0]} frames, {len(hashes)} hashes, {len(counts)} counts")
        frames = {}
        frame_bytes = int(np.prod(frame_shape))
        chunk = np.empty((max(1, int(chunk_frames)),) + frame_shape, np.uint8)
        view = memoryview(chunk).cast("B")
        done = 0
        while done < shape[0]:
          n = min(len(chunk), shape[0] - done)
          _read_exactly(f, view[:n * frame_bytes], path)
          for i in range(n):
            frames[int(hashes[done + i])] = (chunk[i].copy(), int(counts[done + i]))
          done += n
        if f.read(1):              # reading to the end also checks the member's CRC
          raise ValueError(f"{path}: frames.npy holds more bytes than its header says")
    if len(frames) != shape[0]:
      raise ValueError(f"{path}: {shape[0] - len(frames)} duplicate frame hashes")
    self._frame_buffer._frames = frames
    size = int(self._np_state.size)
    if size:
      used = self._stored_hashes()[:size]
      missing = set(np.unique(used).tolist()) - self._frame_buffer._frames.keys()
      if missing:
        raise KeyError(f"{path}: {len(missing)} frames the replay refers to are missing")

  def _stored_hashes(self):
    """The storage array of the observation field: frame hashes [capacity, stack] int64."""
    spec = self._encoded_data_spec()      # flat order of the storage: field by field
    names = [name for name in spec._fields for _ in tf.nest.flatten(getattr(spec, name))]
    return self._storage._array(names.index("observation"))

  def nbytes(self) -> int:
    """All bytes the buffer holds: each unique frame with its array object, the (frame, refcount)
    tuple and hash key, the frame dict itself, and the fixed numpy storage of the other fields
    (allocated for the full capacity)."""
    frames = self._frame_buffer._frames
    per_frame = sum(sys.getsizeof(f) + sys.getsizeof(entry) + sys.getsizeof(h)
                    for h, entry in frames.items() for f in entry[:1])
    storage = self._storage
    arrays = sum(storage._array(i).nbytes for i in range(len(storage._flat_specs)))
    return per_frame + sys.getsizeof(frames) + arrays
