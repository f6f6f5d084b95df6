"""Damaged run files are refused, never silently repaired, and the same command resumes exactly
once they are put back: a progress.csv cut inside a row, cut at a line end, out of order, of the
wrong columns or types; checkpoints whose index files (or whole directory) were deleted, which
must not restart the run from zero; a garbage config.json or done.json; a disk that fills up
mid-run. Each refusal names the file, the first bad line where there is one, and what to do; a
failed run's traceback is saved as error.txt and its last lines printed; nothing is overwritten.
A run another grid is training is that grid's, not a failure of this one.

One smoke run (killed before its final checkpoint, every row written) serves the module: each
test damages a copy of it."""
import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from artifact.experiment import schedule
from artifact.experiment.runspec import make_run_spec
from artifact.grid import cli
from artifact.training import pool
from artifact.training.progress import TIMING_COLUMNS

from helpers import lock_held_by_another_process, run_killed_before_final_checkpoint

pytestmark = pytest.mark.slow   # trains a smoke run, resumes it, starts processes

REPO = Path(__file__).resolve().parent.parent
SPEC = make_run_spec(1, "Pong", "a2c_1step", 0, "smoke")          # 6,400 frames, 20 rows
ARGS = ["--figures", "1", "--games", "Pong", "--conditions", "a2c_1step", "--seeds", "0",
        "--jobs", "1", "--no-theory"]


@pytest.fixture(scope="module")
def killed_run(tmp_path_factory):
  """--out with one smoke run killed before its final checkpoint: all 20 rows written (to 6,400
  frames, as a run that never stopped writes them), checkpoints at 3,840 and 5,120 frames."""
  out = tmp_path_factory.mktemp("killed")
  run_dir = out / "runs" / SPEC.relpath()
  run_killed_before_final_checkpoint(SPEC, run_dir)
  assert sorted(p.name for p in (run_dir / "checkpoint").glob("*.index")) == [
      "ckpt-3840.index", "ckpt-5120.index"]
  assert len((run_dir / "progress.csv").read_text().splitlines()) == 21
  return out


def _copy(out: Path, tmp_path: Path) -> Path:
  copy = tmp_path / "out"
  shutil.copytree(out, copy)
  return copy


def _files(run_dir: Path):
  """{relative path: sha256} of every file in a run directory but the lock and error.txt."""
  return {p.relative_to(run_dir).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
          for p in sorted(run_dir.rglob("*")) if p.is_file()
          and p.name not in (".lock", "error.txt")}


def _grid(out: Path, capsys) -> tuple:
  """(exit status, printed text) of the smoke grid of SPEC over `out`."""
  code = cli.main(ARGS + ["--out", str(out)])
  pool.close_all()
  return code, capsys.readouterr().out


def _lines(text: str):
  return text.splitlines(keepends=True)


def _cut_inside_row(text):          # mid-file, inside row 9 (line 10): the rest of the file lost
  lines = _lines(text)
  return "".join(lines[:9]) + lines[9][:len(lines[9]) // 2]


def _cut_in_last_frames(text):      # inside the last row's frames field: a fake "frames=6" row
  lines = _lines(text)
  last = lines[-1]
  return "".join(lines[:-1]) + last[:last.index(",6400,") + 2]


def _swap(text):                    # rows 4 and 5 (lines 5 and 6) swapped
  lines = _lines(text)
  lines[4], lines[5] = lines[5], lines[4]
  return "".join(lines)


def _wrong_type(text):              # line 7's agent_steps not a number
  lines = _lines(text)
  cells = lines[6].split(",")
  cells[5] = "x40"
  lines[6] = ",".join(cells)
  return "".join(lines)


def _other_seed(text):              # line 8 a row of seed 3
  lines = _lines(text)
  cells = lines[7].split(",")
  cells[3] = "3"
  lines[7] = ",".join(cells)
  return "".join(lines)


def _no_eval_return(text):          # the eval_return column dropped
  rows = [ln.rstrip("\n").split(",") for ln in _lines(text)]
  col = rows[0].index("eval_return")
  return "".join(",".join(r[:col] + r[col + 1:]) + "\n" for r in rows)


def _cut_at_line_end(text):         # mid-file at a line end: rows 2,880 to 6,400 frames lost
  return "".join(_lines(text)[:9])


# damage -> (the line named, what is said about it)
DAMAGES = {
    "cut inside a row": (_cut_inside_row, 10, "the last row is cut short"),
    "cut inside the last row's frames": (_cut_in_last_frames, 21, "the last row is cut short"),
    "rows out of order": (_swap, 6, "frames 1,280 after a row at 1,600"),
    "a cell of the wrong type": (_wrong_type, 7, "agent_steps 'x40' is not an integer"),
    "a row of another run": (_other_seed, 8, "seed '3' is not this run directory's (0)"),
    "no eval_return column": (_no_eval_return, 1,
                              "the header is not the progress.csv schema (missing column(s) "
                              "eval_return;"),
    "cut at a line end": (_cut_at_line_end, 10, "no row at 2,880 frames before this line"),
}


@pytest.mark.parametrize("damage", sorted(DAMAGES))
def test_a_damaged_progress_file_is_refused_on_resume(killed_run, tmp_path, capsys, damage):
  make, line_no, problem = DAMAGES[damage]
  out = _copy(killed_run, tmp_path)
  run_dir = out / "runs" / SPEC.relpath()
  path = run_dir / "progress.csv"
  path.write_text(make(path.read_text()))
  bad_line = (path.read_text().split("\n") + [""])[line_no - 1]
  before = _files(run_dir)
  code, printed = _grid(out, capsys)
  assert code == 1, printed[-3000:]
  failed = [ln for ln in printed.splitlines()
            if ln.startswith(f"   FAILED {SPEC.relpath()}: ProgressFileError: ")]
  assert failed, printed[-3000:]
  assert f"{path}: line {line_no}: {problem}" in failed[0], failed[0]
  if bad_line:
    assert repr(bad_line) in failed[0]
  assert "put an intact copy back, or delete the run directory" in failed[0]
  assert _files(run_dir) == before                      # nothing written, nothing overwritten
  assert not (run_dir / "done.json").exists()
  # the reports name it too and leave it out (a file cut at a line end: it ends before the
  # run's newest checkpoint)
  assert f"damaged {SPEC.relpath()}: {path}: line " in printed
  assert len(pd.read_csv(out / "reports" / "figure1.csv")) == 0
  # the traceback: saved beside the run, its last lines printed
  error = (run_dir / "error.txt").read_text()
  assert error.startswith("ProgressFileError: ") and "Traceback (most recent call last)" in error
  assert f"   | artifact.training.progress.ProgressFileError: {path}: line {line_no}" in printed


def _compare(run_dir: Path, reference: Path):
  new, old = (pd.read_csv(p, dtype=str, keep_default_na=False).drop(columns=list(TIMING_COLUMNS))
              for p in (run_dir / "progress.csv", reference))
  pd.testing.assert_frame_equal(new, old)


def test_the_same_command_resumes_exactly_once_the_file_is_put_back(killed_run, tmp_path, capsys):
  out = _copy(killed_run, tmp_path)
  run_dir = out / "runs" / SPEC.relpath()
  intact = tmp_path / "intact.csv"
  shutil.copy(run_dir / "progress.csv", intact)
  (run_dir / "progress.csv").write_text(_cut_inside_row(intact.read_text()))
  code, _ = _grid(out, capsys)
  assert code == 1 and (run_dir / "error.txt").exists()
  shutil.copy(intact, run_dir / "progress.csv")
  code, printed = _grid(out, capsys)
  assert code == 0, printed[-3000:]
  assert "resuming from checkpoint at 5,120 frames" in printed
  # rows 5,440 to 6,400 trained again, to the same numbers as the run that never stopped
  _compare(run_dir, intact)
  assert json.loads((run_dir / "done.json").read_text())["frames"] == 6400
  assert not (run_dir / "error.txt").exists()           # the earlier failure's, resolved


def _delete_index_and_state(run_dir: Path):
  for p in (run_dir / "checkpoint").glob("ckpt-*.index"):
    p.unlink()
  (run_dir / "checkpoint" / "checkpoint").unlink()


def _delete_checkpoint_dir(run_dir: Path):
  shutil.rmtree(run_dir / "checkpoint")


@pytest.mark.parametrize("loss", ["index and state files deleted", "checkpoint directory deleted"])
def test_a_run_that_lost_its_checkpoints_is_not_restarted_from_zero(
    killed_run, tmp_path, capsys, loss):
  out = _copy(killed_run, tmp_path)
  run_dir = out / "runs" / SPEC.relpath()
  (_delete_index_and_state if loss.startswith("index") else _delete_checkpoint_dir)(run_dir)
  before = _files(run_dir)
  code, printed = _grid(out, capsys)
  assert code == 1, printed[-3000:]
  failed = next(ln for ln in printed.splitlines() if ln.startswith(f"   FAILED {SPEC.relpath()}: "))
  assert "CheckpointLoadError" in failed and "not restarted from zero" in failed, failed
  assert f"rm -r {run_dir}" in failed
  if loss.startswith("index"):
    assert "ckpt-3840.data-00000-of-00001, ckpt-5120.data-00000-of-00001" in failed, failed
  else:
    assert ("progress.csv has 20 rows up to 6,400 frames, past its first evaluation (line 5, "
            "1,280 frames)" in failed)
  assert _files(run_dir) == before                      # progress.csv not rewritten to a header
  assert "resuming" not in printed and "frames 320/6,400" not in printed   # nothing trained


GARBAGE = {
    "config.json": (bytes(np.random.default_rng(5).integers(0, 256, 200, dtype=np.uint8)),
                    "not UTF-8 text (byte 0x", "delete the run directory"),
    "done.json": (b'{"run": "figure1/Pong/a2c_1step/seed0", "frames": 64',
                  "not valid JSON (Expecting ',' delimiter at line 1, column 53)",
                  "delete it, and the same command resumes"),
}


@pytest.mark.parametrize("name", sorted(GARBAGE))
def test_a_garbage_json_file_is_named_with_its_cause(killed_run, tmp_path, capsys, name):
  data, cause, remedy = GARBAGE[name]
  out = _copy(killed_run, tmp_path)
  run_dir = out / "runs" / SPEC.relpath()
  (run_dir / name).write_bytes(data)
  before = _files(run_dir)
  code, printed = _grid(out, capsys)
  assert code == 1, printed[-3000:]
  failed = next(ln for ln in printed.splitlines() if ln.startswith(f"   FAILED {SPEC.relpath()}: "))
  assert f"DamagedFileError: {run_dir / name}: {cause}" in failed and remedy in failed, failed
  assert "\\x" not in failed and "JSONDecodeError" not in failed    # no raw bytes, no bare repr
  assert _files(run_dir) == before
  if name == "done.json":            # as the message says: delete it, and the run finishes
    (run_dir / name).unlink()
    code, printed = _grid(out, capsys)
    assert code == 0 and json.loads((run_dir / name).read_text())["frames"] == 6400, printed[-2000:]


FULL_DISK = """
set -u
mount -t tmpfs -o size={size} tmpfs {out}
cd {repo}
{python} -m artifact {args} --out {out} > {log} 2>&1 &
pid=$!
while [ ! -e {run}/checkpoint/ckpt-1280.index ] && kill -0 $pid 2>/dev/null; do sleep 0.05; done
dd if=/dev/zero of={out}/ballast bs=1M 2>/dev/null      # the disk fills up while the run trains
wait $pid; echo "exit $?" >> {log}
cp {run}/progress.csv {keep}/progress-full.csv
rm {out}/ballast                                        # space freed: the same command again
{python} -m artifact {args} --out {out} > {log}.2 2>&1; echo "exit $?" >> {log}.2
cp {run}/progress.csv {keep}/progress-resumed.csv
umount {out}
mount -t tmpfs -o size=40m tmpfs {out}                  # a 40 MB disk: refused before any run
{python} -m artifact {args} --out {out} > {log}.3 2>&1; echo "exit $?" >> {log}.3
"""


def test_a_full_disk_mid_run_is_named_and_the_run_resumes(tmp_path):
  if shutil.which("unshare") is None or subprocess.run(
      ["unshare", "-m", "--propagation", "private", "true"], capture_output=True).returncode:
    pytest.skip("needs unshare -m (a mount namespace) to mount a small tmpfs as --out")
  out, keep = tmp_path / "out", tmp_path / "keep"
  out.mkdir()
  keep.mkdir()
  run = out / "runs" / SPEC.relpath()
  log = keep / "log"
  script = FULL_DISK.format(size="90m", out=out, repo=REPO, python=sys.executable,
                            args=" ".join(ARGS),
                            run=run, keep=keep, log=log)
  subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", script], timeout=900,
                 check=True)
  first = log.read_text()
  assert first.rstrip().endswith("exit 1"), first[-3000:]
  failed = next(ln for ln in first.splitlines() if ln.startswith(f"   FAILED {SPEC.relpath()}: "))
  # the file the write failed on (progress.csv as measured; a checkpoint's or TensorBoard's file
  # if the disk fills at their write) and the cause
  assert "No space left on device" in failed and str(run) in failed, failed
  assert "[Errno 28]" not in failed or f"No space left on device: '{run}/" in failed, failed
  trace = [ln for ln in first.splitlines() if ln.startswith("   | ")]
  assert trace and "No space left on device" in trace[-1], first[-3000:]   # the traceback's end
  # error.txt could not be written on the full disk either: said so, not hidden
  assert "(traceback: not saved (OSError: [Errno 28] No space left on device" in failed
  # the resumed run kept the rows up to its checkpoint as they were written, and wrote each
  # later point once
  second = (log.parent / "log.2").read_text()
  assert second.rstrip().endswith("exit 0"), second[-3000:]
  restored = second.split("resuming from checkpoint at ")[1].split(" frames")[0]
  restored = int(restored.replace(",", ""))
  full = (keep / "progress-full.csv").read_text().splitlines()
  resumed = (keep / "progress-resumed.csv").read_text().splitlines()
  kept = [ln for ln in full[1:] if int(ln.split(",")[4]) <= restored]
  assert restored >= 1280 and kept and resumed[:len(kept) + 1] == full[:len(kept) + 1]
  frames = pd.read_csv(keep / "progress-resumed.csv")["frames"].tolist()
  total = schedule.total_updates(SPEC.frames, 320)
  assert frames == [u * 320 for u in schedule.row_updates(
      320, SPEC.log_every_frames, schedule.eval_updates(SPEC.eval_schedule, SPEC.frames, 320),
      total, SPEC.frames)]
  third = (log.parent / "log.3").read_text()
  assert third.rstrip().endswith("exit 2"), third
  assert "MB free, but the selected runs' checkpoints need about" in third and "0.0 GB" not in third


def test_a_run_another_grid_trains_is_not_a_failure_of_this_one(tmp_path, capsys):
  run_dir = tmp_path / "runs" / SPEC.relpath()
  run_dir.mkdir(parents=True)
  with lock_held_by_another_process(run_dir, 120) as held:
    code, printed = _grid(tmp_path, capsys)
  assert code == 0, printed[-3000:]
  assert f"skipped {SPEC.relpath()}: trained by another process, not by this grid" in printed
  assert f"being trained by pid {held.pid}" in printed
  assert "1 trained by another process" in printed and "0 runs ok, 0 failed" in printed
  assert "FAILED" not in printed and not (run_dir / "error.txt").exists()
  assert list(run_dir.iterdir()) == [run_dir / ".lock"]      # nothing written into its directory


def test_a_workers_traceback_is_saved_and_its_end_printed(tmp_path):
  # --jobs 2: the runs train in worker processes; one run's config.json is garbage
  bad = make_run_spec(1, "Pong", "a2c_1step", 1, "smoke", 640)
  bad_dir = tmp_path / "runs" / bad.relpath()
  bad_dir.mkdir(parents=True)
  (bad_dir / "config.json").write_text('{"figure": 1, "game": "Pong"')
  argv = [sys.executable, "-m", "artifact", "--figures", "1", "--games", "Pong", "--conditions",
          "a2c_1step", "--seeds", "0,1", "--frames", "640", "--jobs", "2", "--no-theory", "--out",
          str(tmp_path)]
  grid = subprocess.Popen(argv, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
  printed, stderr = grid.communicate(timeout=900)
  assert grid.returncode == 1, printed[-3000:] + stderr[-3000:]
  assert "1 runs ok, 1 failed" in printed
  failed = next(ln for ln in printed.splitlines() if ln.startswith(f"FAILED {bad.relpath()}: "))
  assert (f"DamagedFileError: {bad_dir / 'config.json'}: not valid JSON (Expecting ',' delimiter "
          "at line 1, column 29)" in failed)
  assert f"(traceback: {bad_dir / 'error.txt'})" in failed
  error = (bad_dir / "error.txt").read_text()
  assert "Traceback (most recent call last)" in error and "in train_one" in error
  pid = int(error.splitlines()[1].split(":")[1].split()[0])       # "in process HOST:PID at ..."
  assert pid != grid.pid                                          # a worker's traceback
  tail = error.rstrip().splitlines()[-6:]
  assert "\n".join(f"   | {ln}" for ln in tail) in printed  # its last lines, under the FAILED line
  assert (bad_dir / "config.json").read_text() == '{"figure": 1, "game": "Pong"'
  assert (tmp_path / "runs" / "figure1/Pong/a2c_1step/seed0" / "done.json").exists()
