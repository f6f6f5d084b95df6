"""Atomic file writes: a temp file in the same directory, fsync, then rename over the target, so
a reader (or a resumed run) sees either the old file or the new one, never a torn one."""
from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path


def atomic_write_text(path, text: str) -> Path:
  """Writes `text` to `path` atomically (creating parent dirs). Returns the Path."""
  path = Path(path)
  path.parent.mkdir(parents=True, exist_ok=True)
  fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
  try:
    with os.fdopen(fd, "w", newline="") as f:
      f.write(text)
      f.flush()
      os.fsync(f.fileno())
    os.replace(tmp, path)
  except BaseException:
    if os.path.exists(tmp):
      os.unlink(tmp)
    raise
  return path


def atomic_save_npz(path, **arrays) -> Path:
  """Writes numpy arrays to the .npz `path` atomically (`numpy.savez`; data only: load it with
  `numpy.load(path, allow_pickle=False)`). Raises ValueError for an object array, which would
  need pickle. Returns the Path."""
  import numpy as np
  for name, a in arrays.items():
    if np.asarray(a).dtype == object:
      raise ValueError(f"{name}: object arrays would be pickled; store data only")
  path = Path(path)
  path.parent.mkdir(parents=True, exist_ok=True)
  fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
  try:
    with os.fdopen(fd, "wb") as f:
      np.savez(f, **arrays)
      f.flush()
      os.fsync(f.fileno())
    os.replace(tmp, path)
  except BaseException:
    if os.path.exists(tmp):
      os.unlink(tmp)
    raise
  return path


@contextlib.contextmanager
def atomic_path(path):
  """A unique temporary path beside `path` (same suffix, so writers that infer a format from the
  name still do), renamed over `path` when the block succeeds and removed when it raises: a
  reader sees the old file or the new one, never a torn one, and two writers never share a
  temporary name. Usage: `with atomic_path(p) as tmp: fig.savefig(tmp)`."""
  path = Path(path)
  path.parent.mkdir(parents=True, exist_ok=True)
  fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=f".tmp{path.suffix}")
  os.close(fd)
  try:
    yield Path(tmp)
    with open(tmp, "rb+") as f:
      os.fsync(f.fileno())
    os.replace(tmp, path)
  except BaseException:
    if os.path.exists(tmp):
      os.unlink(tmp)
    raise
