"""The progress.csv schema (defined once: the runner writes it, the reports read it,
docs/outputs.md documents it), its kill-safe writer, and its one reader, which checks a file
before anything uses it.

One row per logged point of a run. Returns are raw (unclipped) game scores.
"""
from __future__ import annotations

import csv
import dataclasses
import io
import re
from collections.abc import Iterable
from pathlib import Path

from artifact.files import atomic_write_text

# (column, meaning) in file order.
SCHEMA = (
    ("figure", "figure number (1, 2, 3); a run serving two figures is written under the first"),
    ("game", "Atari game, CamelCase (e.g. Seaquest)"),
    ("condition", "condition name (e.g. a2c_proper)"),
    ("seed", "run seed (all of the run's random streams derive from it)"),
    ("frames", "emulator frames trained so far (= 4 x agent steps)"),
    ("agent_steps", "agent steps summed over the run's parallel envs"),
    ("train_return",
     "mean raw score of the last <=100 finished training games (baselines eprewmean)"),
    ("train_games", "training games in that mean"),
    ("eval_return", "mean raw score of this evaluation's games (empty between evaluations)"),
    ("eval_std", "std of those scores"),
    ("eval_games", "games played in this evaluation"),
    ("eval_truncated", "evaluation games stopped by the frame cap"),
    ("fps", "training frames per second since the previous row (wall clock)"),
    ("wall_s", "seconds since this (possibly resumed) process started the run"),
    ("loss", "total loss of the last update"),
    ("entropy", "mean policy entropy of the last update, nats (A2C framework)"),
)
COLUMNS: list[str] = [c for c, _ in SCHEMA]
TIMING_COLUMNS = ("fps", "wall_s")          # the only columns that differ between identical runs

# What each column's cells may hold: "key" an integer (the run's identity and its frames, never
# empty), "text" a non-empty name, "int" an integer or empty, "float" a number (nan included) or
# empty. Integers written as "8.0" (a table written by pandas) are accepted.
COLUMN_TYPES: dict[str, str] = {
    "figure": "key", "game": "text", "condition": "text", "seed": "key", "frames": "key",
    "agent_steps": "int", "train_return": "float", "train_games": "int", "eval_return": "float",
    "eval_std": "float", "eval_games": "int", "eval_truncated": "int", "fps": "float",
    "wall_s": "float", "loss": "float", "entropy": "float"}
IDENTITY = ("figure", "game", "condition", "seed")
_INT = re.compile(r"-?\d+(\.0*)?")

# What to do about a damaged file, said by every refusal: the runner only ever replaces the file
# whole, so a damaged one was damaged outside it.
REMEDY = ("progress.csv is only ever replaced whole (atomically), so this copy was damaged "
          "outside the run (a copy cut short, an edit, a disk error): put an intact copy back, "
          "or delete the run directory {run_dir} to train the run again from zero")


class ProgressFileError(ValueError):
  """A progress.csv that does not hold complete rows of the schema in frame order, or does not
  agree with the run's checkpoint or done.json. Attributes: path, line_no (1-based; the header is
  line 1), line (that line's text, '' past the end), problem (what is wrong)."""

  def __init__(self, path, line_no: int, line: str, problem: str, remedy: str | None = None):
    self.path, self.line_no, self.line, self.problem = Path(path), int(line_no), line, problem
    shown = line if len(line) <= 200 else line[:200] + "..."
    remedy = remedy if remedy is not None else REMEDY.format(run_dir=self.path.parent)
    super().__init__(f"{self.path}: line {self.line_no}: {problem}"
                     + (f": {shown!r}" if line else "") + f". {remedy}")


@dataclasses.dataclass(frozen=True)
class ProgressRows:
  """A checked progress.csv (`read_progress`): its path, its text as read, its rows
  ({column: cell text}, file order) and each row's line (text without its line end) and line
  number. `frames[i]` is row i's frames (int, strictly increasing)."""
  path: Path
  text: str
  rows: list[dict[str, str]]
  lines: list[str]
  line_numbers: list[int]
  frames: list[int]

  def upto(self, frames: int) -> list[int]:
    """Indices of the rows at `frames` emulator frames or fewer."""
    return [i for i, f in enumerate(self.frames) if f <= frames]


def _cell_problem(column: str, cell: str) -> str | None:
  """Why `cell` cannot be a value of `column` (COLUMN_TYPES), or None."""
  kind = COLUMN_TYPES[column]
  if kind in ("key", "text") and not cell.strip():
    return f"{column} is empty"
  if kind == "text":
    return None
  if not cell.strip():
    return None
  if kind in ("key", "int"):
    if not _INT.fullmatch(cell.strip()):
      return f"{column} {cell!r} is not an integer"
    if column == "frames" and int(float(cell)) <= 0:
      return f"frames {cell!r} is not positive"
    return None
  try:
    if "_" in cell:                  # float() reads "1_000"; pandas and the run never write it
      raise ValueError(cell)
    float(cell)
  except ValueError:
    return f"{column} {cell!r} is not a number"
  return None


def _norm(column: str, value) -> str:
  """An identity value as text, integers without a fraction ('1.0' -> '1')."""
  text = str(value).strip()
  return str(int(float(text))) if COLUMN_TYPES[column] == "key" and _INT.fullmatch(text) else text


def read_progress(path, run: dict | None = None, finished_frames: int | None = None,
                  checkpoint_frames: int | None = None,
                  log_every_frames: int | None = None) -> ProgressRows:
  """Reads and checks a run's progress.csv: the one reader of the file, used when a run resumes
  (`artifact.training.runner`) and when the reports load it (`artifact.analysis.results`).

  Checked, in file order: UTF-8 text; a header of the schema's columns (COLUMNS, each once, any
  order); complete rows only (as many cells as the header, the file ending in a line end: a kill
  never tears a row, so a torn one is damage); each cell of its column's type (COLUMN_TYPES);
  every row of one run (figure, game, condition, seed the same, and `run`'s when given:
  {column: value}); frames strictly increasing. With `finished_frames` (done.json's frames) the
  last row must be at those frames; with `checkpoint_frames` (the newest checkpoint's) and
  `log_every_frames` (the run's, config.json) no multiple of `log_every_frames` may lie between
  the last row and the checkpoint (the update that crossed it wrote its row before any later
  checkpoint; a clock or stop checkpoint between two rows is normal); without
  `log_every_frames` the last row must be at or past the checkpoint. A file that ends earlier was
  cut at a line end and has lost its last rows.

  Returns the `ProgressRows`. Raises ProgressFileError naming the path, the first bad line (its
  number and text) and what to do; OSError if the file cannot be read.
  """
  path = Path(path)
  data = path.read_bytes()
  try:
    text = data.decode("utf-8")
  except UnicodeDecodeError as e:
    line_no = data[:e.start].count(b"\n") + 1
    line = data.split(b"\n")[line_no - 1].decode("utf-8", "replace")
    raise ProgressFileError(path, line_no, line, f"not UTF-8 text (byte 0x{data[e.start]:02x} "
                            f"at offset {e.start})") from None
  if not text:
    raise ProgressFileError(path, 1, "", "the file is empty (not even the header)")
  lines = text.split("\n")
  complete = text.endswith("\n")
  if complete:
    lines = lines[:-1]
  lines = [ln[:-1] if ln.endswith("\r") else ln for ln in lines]
  header = next(csv.reader([lines[0]]))
  if not complete and len(lines) == 1:
    raise ProgressFileError(path, 1, lines[0], "the header is cut short (no line end)")
  missing = [c for c in COLUMNS if c not in header]
  unknown = [c for c in header if c not in COLUMNS]
  doubled = sorted({c for c in header if header.count(c) > 1})
  if missing or unknown or doubled:
    what = "; ".join(x for x in (
        f"missing column(s) {', '.join(missing)}" if missing else "",
        f"unknown column(s) {', '.join(map(repr, unknown))}" if unknown else "",
        f"column(s) {', '.join(doubled)} more than once" if doubled else "") if x)
    raise ProgressFileError(path, 1, lines[0], f"the header is not the progress.csv schema "
                            f"({what}; the schema: {','.join(COLUMNS)})")
  rows, kept, numbers, frames = [], [], [], []
  ident: dict[str, str] = {c: _norm(c, v) for c, v in (run or {}).items() if c in IDENTITY}
  whose = "this run directory's" if run else "the first row's"
  for i, line in enumerate(lines[1:], start=2):
    last = i == len(lines)
    if not line.strip():
      raise ProgressFileError(path, i, line, "an empty line (the run writes none)")
    cells = next(csv.reader([line]))
    if last and not complete:
      raise ProgressFileError(path, i, line, "the last row is cut short (no line end: the file "
                              f"was cut inside it; {len(cells)} of {len(header)} cells)")
    if len(cells) != len(header):
      raise ProgressFileError(path, i, line, f"{len(cells)} cells, the header has {len(header)} "
                              f"(a row cut short or two rows run together)")
    row = dict(zip(header, cells))
    for c in COLUMNS:
      problem = _cell_problem(c, row[c])
      if problem:
        raise ProgressFileError(path, i, line, problem)
    for c in IDENTITY:
      v = _norm(c, row[c])
      if ident.setdefault(c, v) != v:
        raise ProgressFileError(path, i, line, f"{c} {row[c]!r} is not {whose} ({ident[c]}): "
                                f"a row of another run")
    f = int(float(row["frames"]))
    if frames and f <= frames[-1]:
      raise ProgressFileError(path, i, line, f"frames {f:,} after a row at {frames[-1]:,} "
                              f"(frames must increase from row to row)")
    rows.append(row)
    kept.append(line)
    numbers.append(i)
    frames.append(f)
  if finished_frames is not None and (not frames or frames[-1] != int(finished_frames)):
    end = f"ends at {frames[-1]:,} frames" if frames else "has no row"
    raise ProgressFileError(path, len(lines) + 1, "", f"the file {end}, but done.json says the "
                            f"run finished at {int(finished_frames):,} (rows are missing at the "
                            f"end: a copy cut at a line end)")
  last_row = frames[-1] if frames else 0
  if checkpoint_frames is not None and (
      last_row // int(log_every_frames) < int(checkpoint_frames) // int(log_every_frames)
      if log_every_frames else last_row < int(checkpoint_frames)):
    end = f"ends at {frames[-1]:,} frames" if frames else "has no row"
    raise ProgressFileError(path, len(lines) + 1, "", f"the file {end}, but the run's newest "
                            f"checkpoint is at {int(checkpoint_frames):,} (rows are missing at the "
                            f"end: a copy cut at a line end)")
  return ProgressRows(path, text, rows, kept, numbers, frames)


def check_resume(progress: ProgressRows, restored_frames: int,
                 expected: Iterable[int]) -> list[int]:
  """Checks a run's rows against the checkpoint it resumes from: every point the run's schedule
  logs at or before `restored_frames` (`expected`, frames) has its row, and every other row up
  to there is an evaluation's (an earlier budget's end, where a run that was extended evaluated).
  Returns the indices of the rows kept (those up to `restored_frames`; later ones were written
  after the checkpoint and are trained again). Raises ProgressFileError naming the first line
  that disagrees."""
  keep = progress.upto(restored_frames)
  have = {progress.frames[i]: i for i in keep}
  wanted = sorted(f for f in set(expected) if f <= restored_frames)
  for f in wanted:
    if f not in have:
      after = [i for i in keep if progress.frames[i] > f]
      if after:
        n, line = progress.line_numbers[after[0]], progress.lines[after[0]]
      else:
        n, line = (progress.line_numbers[keep[-1]] + 1 if keep else 2), ""
      raise ProgressFileError(progress.path, n, line, f"no row at {f:,} frames before this line, "
                              f"though the run logs one there and its checkpoint is at "
                              f"{restored_frames:,} frames (rows lost)")
  wanted_set = set(wanted)
  for i in keep:
    if progress.frames[i] not in wanted_set and not progress.rows[i]["eval_return"].strip():
      raise ProgressFileError(progress.path, progress.line_numbers[i], progress.lines[i],
                              f"a row at {progress.frames[i]:,} frames, where the run logs no "
                              f"row (its checkpoint is at {restored_frames:,} frames)")
  return keep


class ProgressLog:
  """progress.csv that survives kills and resumes.

  `ProgressLog(path, progress, keep)` starts the file with the header and the rows `keep` of the
  checked file `progress` (`read_progress`; None for a new run), as their lines were written:
  rows written after the checkpoint a resumed run restarts from are left out, so every frame
  point appears exactly once. Each `write` adds one row by replacing the file atomically (the
  file is small: a few dozen rows), so a kill never leaves a torn last line.
  """

  def __init__(self, path, progress: ProgressRows | None = None, keep: Iterable[int] = ()):
    self.path = Path(path)
    buf = io.StringIO()
    csv.DictWriter(buf, COLUMNS, lineterminator="\n").writeheader()
    self._text = buf.getvalue()
    keep = list(keep)
    if progress is not None and keep:
      if list(progress.rows[0]) == COLUMNS:                  # the rows as they were written
        self._text += "".join(progress.lines[i] + "\n" for i in keep)
      else:                                                  # a header in another order
        buf = io.StringIO()
        csv.DictWriter(buf, COLUMNS, lineterminator="\n").writerows(progress.rows[i] for i in keep)
        self._text += buf.getvalue()
    atomic_write_text(self.path, self._text)

  def write(self, row: dict):
    """Appends one row ({column: value}; missing columns empty) and rewrites the file atomically."""
    buf = io.StringIO()
    csv.DictWriter(buf, COLUMNS, lineterminator="\n").writerow({k: row.get(k, "") for k in COLUMNS})
    self._text += buf.getvalue()
    atomic_write_text(self.path, self._text)
