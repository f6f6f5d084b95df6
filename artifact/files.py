"""Atomic writes: a temp file (or directory) in the same directory, then a rename over the target,
so a reader (or a resumed run) sees either the old file or the new one, never a torn one. Every
file the project writes goes through here (TF's checkpoint writer renames on its own); a write
that fails (a full disk, say) raises an OSError naming the file. `read_json` reads a run's JSON
files (config.json, done.json) with an error naming the file and what is wrong. Standard library
only: the campaign's store script runs it with the system Python."""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from pathlib import Path


class DamagedFileError(ValueError):
  """A file that does not hold what it should (`read_json`): not UTF-8, not JSON, not an object.
  Attributes: path, problem."""

  def __init__(self, path, problem: str, remedy: str = ""):
    self.path, self.problem = Path(path), problem
    super().__init__(f"{self.path}: {problem}" + (f". {remedy}" if remedy else ""))


def read_json(path, remedy: str = "") -> dict:
  """The JSON object in the file `path`. Raises DamagedFileError naming the path, what is wrong
  (not UTF-8: the offset of the first bad byte; not JSON: the line and column; not an object)
  and `remedy` (what to do); FileNotFoundError / OSError if it cannot be read."""
  data = Path(path).read_bytes()
  try:
    text = data.decode("utf-8")
  except UnicodeDecodeError as e:
    raise DamagedFileError(path, f"not UTF-8 text (byte 0x{data[e.start]:02x} at offset {e.start} "
                                 f"of {len(data):,}), so not the JSON the artifact writes",
                           remedy) from None
  try:
    value = json.loads(text)
  except json.JSONDecodeError as e:
    raise DamagedFileError(path, f"not valid JSON ({e.msg} at line {e.lineno}, column {e.colno}"
                                 f"{'; the file is empty' if not text.strip() else ''})",
                           remedy) from None
  if not isinstance(value, dict):
    raise DamagedFileError(path, f"holds a JSON {type(value).__name__}, not the object the "
                                 f"artifact writes", remedy)
  return value


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
  import numpy as np  # here only: the rest of the module is standard library (module docstring)
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
  must be told it (`fig.savefig(tmp, format="pdf")`). Usage: `with atomic_path(p) as tmp: ...`.
  An OSError without a file name (a write into a full disk: errno 28) is raised again naming
  `path`, as the same OSError subclass and errno."""
  path = Path(path)
  path.parent.mkdir(parents=True, exist_ok=True)
  fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
  os.close(fd)
  os.chmod(tmp, 0o644)                  # mkstemp's 0600 would make reports private to their writer
  try:
    yield Path(tmp)
    with open(tmp, "rb+") as f:
      os.fsync(f.fileno())
    os.replace(tmp, path)
  except BaseException as e:
    if os.path.exists(tmp):
      os.unlink(tmp)
    if isinstance(e, OSError) and e.filename is None and e.errno is not None:
      raise OSError(e.errno, e.strerror or os.strerror(e.errno), str(path)) from e
    raise


@contextlib.contextmanager
def atomic_dir(path):
  """A new, empty temporary directory beside `path` (`.<name>.<random>.tmp`, a pattern the runner
  removes when a killed writer left one), put in place of `path` by `replace_dir` when the block
  succeeds and removed when it raises. Usage: `with atomic_dir(d) as tmp: write into tmp`."""
  path = Path(path)
  path.parent.mkdir(parents=True, exist_ok=True)
  tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"))
  os.chmod(tmp, 0o755)                  # mkdtemp's 0700, as mkstemp's 0600 above
  try:
    yield tmp
  except BaseException:
    shutil.rmtree(tmp, ignore_errors=True)
    raise
  replace_dir(tmp, path)


def replace_dir(new, path) -> Path:
  """Puts the finished directory `new` in place of `path` by two renames (the old one aside as
  `.<name>.old.tmp`, then `new` in), and removes the old one: `path` is a whole directory before
  and after, and a crash in between leaves the previous copy beside it. Returns the Path."""
  new, path = Path(new), Path(path)
  old = path.with_name(f".{path.name}.old.tmp")
  shutil.rmtree(old, ignore_errors=True)
  if path.exists():
    path.rename(old)
  new.rename(path)
  shutil.rmtree(old, ignore_errors=True)
  return path
