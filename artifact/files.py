"""Atomic file writes: a temp file in the same directory, fsync, then rename over the target, so
a reader (or a resumed run) sees either the old file or the new one, never a torn one."""
from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path


def atomic_write_text(path, text: str) -> Path:
  """Writes `text` to `path` atomically (creating parent dirs). Returns the Path."""
  with atomic_path(path) as tmp:
    with open(tmp, "w", newline="") as f:
      f.write(text)
  return Path(path)


def atomic_save_npz(path, **arrays) -> Path:
  """Writes numpy arrays to the .npz `path` atomically (`numpy.savez`; data only: load it with
  `numpy.load(path, allow_pickle=False)`). Raises ValueError for an object array, which would
  need pickle. Returns the Path."""
  import numpy as np
  for name, a in arrays.items():
    if np.asarray(a).dtype == object:
      raise ValueError(f"{name}: object arrays would be pickled; store data only")
  with atomic_path(path) as tmp:
    with open(tmp, "wb") as f:          # a file object: numpy adds ".npz" to a path without it
      np.savez(f, **arrays)
  return Path(path)


@contextlib.contextmanager
def atomic_path(path):
  """A unique temporary path beside `path` (`.<name>.<random>.tmp`, the pattern the runner
  removes when a killed writer left one), renamed over `path` after an fsync when the block
  succeeds and removed when it raises: a reader sees the old file or the new one, never a torn
  one, and two writers never share a temporary name. Writers that infer a format from the name
  must be told it (`fig.savefig(tmp, format="pdf")`). Usage: `with atomic_path(p) as tmp: ...`."""
  path = Path(path)
  path.parent.mkdir(parents=True, exist_ok=True)
  fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
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
