"""A report that cannot be written (a full disk, here a file-size limit) is named, the grid's run
summary is still printed, the other reports are still written, and nothing written before is
lost or torn: every report file is written atomically under a unique temporary name. A run whose
files are damaged (progress.csv without a column, cut short; a garbage config.json or done.json)
is named with the file and line and left out of every report alike, the others are written, and
the command exits 1. Runs of another config are left out, in one statement with the others."""
import json
import resource
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from artifact.training.progress import COLUMNS

REPO = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow   # trains a tiny run in a subprocess


def _limit_file_size(limit: int):
  def apply():
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)     # a write past the limit fails with EFBIG
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
  return apply


def test_a_failing_report_is_named_and_loses_nothing(tmp_path):
  argv = [sys.executable, "-m", "artifact", "--figures", "1", "--games", "Pong", "--conditions",
          "a2c_1step", "--seeds", "0", "--frames", "640", "--jobs", "1", "--no-theory",
          "--out", str(tmp_path)]
  first = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=600)
  assert first.returncode == 0, first.stdout[-2000:] + first.stderr[-2000:]
  reports = tmp_path / "reports"
  before = {p.name: p.read_bytes() for p in reports.iterdir() if p.is_file()}
  assert before["figure1.pdf"][:4] == b"%PDF" and len(before["figure1.pdf"]) > 8_192
  # the same command again: the run is skipped, the reports are rewritten under an 8 KB limit
  second = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=600,
                          preexec_fn=_limit_file_size(8_192))
  out = second.stdout
  assert second.returncode == 1, out[-2000:] + second.stderr[-2000:]
  assert "REPORT FAILED figure 1" in out and "FAILED writing figure 1" in out
  assert "== finished in" in out and "1 runs ok, 0 failed" in out        # the run summary
  assert "claims: " in out                        # a later, small report was still written
  after = {p.name: p.read_bytes() for p in reports.iterdir() if p.is_file()}
  assert after["figure1.pdf"] == before["figure1.pdf"]     # the old figure, whole
  assert set(after) == set(before), set(after) ^ set(before)   # no temporary file left behind
  for name, data in after.items():                # every file complete: the old one or a new one
    if name.endswith(".pdf"):
      assert data.rstrip().endswith(b"%%EOF"), name


def _fake_run(runs: Path, spec, returns):
  """A run directory with config.json and a progress.csv of the schema: a row every 1,000 frames
  with these training and evaluation returns."""
  d = runs / spec.relpath()
  d.mkdir(parents=True)
  (d / "config.json").write_text(spec.to_json())
  rows = [dict(figure=spec.figure, game=spec.game, condition=spec.condition, seed=spec.seed,
               frames=(i + 1) * 1000, agent_steps=(i + 1) * 250, train_return=r, train_games=10,
               eval_return=r, eval_games=2) for i, r in enumerate(returns)]
  pd.DataFrame(rows).reindex(columns=COLUMNS).to_csv(d / "progress.csv", index=False)
  return json.loads(spec.to_json())


@pytest.mark.parametrize("other", ["set_value", "not_selected"])
def test_reports_never_average_in_runs_of_another_config(tmp_path, other, capsys):
  from artifact.analysis import results
  from artifact.experiment.runspec import make_run_spec
  from artifact.grid import cli
  runs = tmp_path / "runs"
  mine = make_run_spec(2, "Pong", "soft_dqn_ent_0.1", 0, "smoke", 4_000)
  _fake_run(runs, mine, [1.0, 2.0])
  if other == "set_value":        # the same relpath trained with --set tau=0.05 by another grid
    alien = make_run_spec(2, "Pong", "soft_dqn_ent_0.1", 1, "smoke", 4_000, {"tau": 0.05})
  else:                           # a seed this grid does not select
    alien = make_run_spec(2, "Pong", "soft_dqn_ent_0.1", 7, "smoke", 4_000)
  _fake_run(runs, alien, [900.0, 900.0])
  grid_specs = [mine] + ([make_run_spec(2, "Pong", "soft_dqn_ent_0.1", 1, "smoke", 4_000)]
                         if other == "set_value" else [])
  grid = results.grid_runs(grid_specs)
  df = results.load_progress(runs, 2, grid)
  assert sorted(df["seed"].unique()) == [0] and df["train_return"].max() == 2.0
  assert results.not_in_grid(runs, [2], grid) == [alien.relpath()]
  assert len(results.load_progress(runs, 2)) == 4            # without a grid: everything found
  # through the command line: the alien run is listed as not part of this grid, never averaged in
  seeds = "0,1" if other == "set_value" else "0"
  code = cli.main(["--figures", "2", "--games", "Pong", "--conditions", "soft_dqn_ent_0.1",
                   "--seeds", seeds, "--frames", "4000", "--out", str(tmp_path), "--reports-only"])
  printed = capsys.readouterr().out
  assert code == 0
  if other == "set_value":        # one of this grid's runs, of another config: one statement
    assert ("reports: 0 of 2 runs finished; 1 partial (reported up to their last row), 0 missing, "
            "1 trained with another config (left out of every report):") in printed, printed
    assert f"   other config {alien.relpath()}" in printed and "not in this grid" not in printed
  else:                           # not one of this grid's runs: said apart from them
    assert ("reports: 0 of 1 runs finished; 1 partial (reported up to their last row), 0 missing:"
            in printed)
    assert f"not in this grid: {alien.relpath()}" in printed and "other config" not in printed
  fig = pd.read_csv(tmp_path / "reports" / "figure2.csv")
  assert fig["train_return"].max() == 2.0 and set(fig["seed"]) == {0}


def test_reports_read_each_run_up_to_the_grids_frames(tmp_path):
  """A run extended past the grid's --frames (a campaign's earlier step reported after some runs
  went further) is reported at the grid's frames, like the runs that stopped there; a run that
  has not reached them yet is reported up to its last row."""
  from artifact.analysis import results
  from artifact.experiment.runspec import make_run_spec
  from artifact.grid import cli
  runs = tmp_path / "runs"
  longer = make_run_spec(2, "Pong", "dqn", 0, "short", 6_000)      # extended to 6,000 frames
  _fake_run(runs, longer, [1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
  partial = make_run_spec(2, "Pong", "dqn", 1, "short", 3_000)     # still at 2,000 frames
  _fake_run(runs, partial, [1.5, 2.5])
  # short scale: every run is a prefix of the paper's run, so the 6,000-frame run is in a 3,000 grid
  grid = results.grid_runs([make_run_spec(2, "Pong", "dqn", s, "short", 3_000) for s in (0, 1)])
  df = results.load_progress(runs, 2, grid)
  assert df.groupby("seed")["frames"].max().to_dict() == {0: 3_000, 1: 2_000}
  assert df["train_return"].max() == 3.0
  # between two rows the run's first row at or past the budget ends it (its last update's frames)
  grid = results.grid_runs([make_run_spec(2, "Pong", "dqn", 0, "short", 2_500)])
  assert results.load_progress(runs, 2, grid)["frames"].tolist() == [1_000, 2_000, 3_000]
  code = cli.main(["--figures", "2", "--games", "Pong", "--conditions", "dqn", "--seeds", "0,1",
                   "--frames", "3000", "--scale", "short", "--out", str(tmp_path), "--reports-only",
                   "--no-theory"])
  fig = pd.read_csv(tmp_path / "reports" / "figure2.csv")
  assert code == 0 and fig["frames"].max() == 3_000 and fig["train_return"].max() == 3.0


def test_a_report_pass_reads_each_progress_file_once(tmp_path, monkeypatch):
  """The reports are one data flow: each progress.csv is read once per pass, into the pass's
  `Results`, however many reports (figure, parity, statistics, claims) use its rows (checked
  and parsed from the one read)."""
  from artifact.experiment.runspec import make_run_spec
  from artifact.grid import cli
  runs = tmp_path / "runs"
  for seed in (0, 1):
    _fake_run(runs, make_run_spec(1, "Pong", "a2c_1step", seed, "smoke", 4_000), [1.0, 2.0])
  reads, read_bytes, read_text = [], Path.read_bytes, Path.read_text
  monkeypatch.setattr(Path, "read_bytes", lambda self: reads.append(str(self)) or read_bytes(self))
  monkeypatch.setattr(Path, "read_text", lambda self, *a,
                      **k: reads.append(str(self)) or read_text(self, *a, **k))
  opened, read_csv = [], pd.read_csv
  monkeypatch.setattr(pd, "read_csv", lambda path, *a,
                      **k: opened.append(str(path)) or read_csv(path, *a, **k))
  code = cli.main(["--figures", "1", "--games", "Pong", "--conditions", "a2c_1step", "--seeds",
                   "0,1",
                   "--frames", "4000", "--out", str(tmp_path), "--reports-only", "--no-theory"])
  progress = [r for r in reads + opened if r.endswith("progress.csv")]
  assert code == 0 and len(progress) == 2 and len(set(progress)) == 2, progress
  reports = tmp_path / "reports"
  assert (reports / "parity.csv").exists() and (reports / "claims.md").exists()


# --- damaged inputs: named, left out of every report alike ----------------------------------------
GRID = ["--figures", "1", "--games", "Pong", "--conditions", "a2c_1step", "--seeds", "0,1",
        "--frames", "640", "--jobs", "1", "--no-theory"]
RUN0, RUN1 = "figure1/Pong/a2c_1step/seed0", "figure1/Pong/a2c_1step/seed1"


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
  """--out with two finished smoke runs (seeds 0 and 1, 640 frames) and their reports."""
  from artifact.grid import cli
  from artifact.training import pool
  out = tmp_path_factory.mktemp("two_runs")
  assert cli.main(GRID + ["--out", str(out)]) == 0
  pool.close_all()
  return out


def _drop_column(name):
  def damage(run_dir):
    p = run_dir / "progress.csv"
    rows = [ln.split(",") for ln in p.read_text().splitlines()]
    col = rows[0].index(name)
    p.write_text("".join(",".join(r[:col] + r[col + 1:]) + "\n" for r in rows))
  return damage


def _cut_last_row(run_dir):
  p = run_dir / "progress.csv"
  text = p.read_text()
  p.write_text(text[:text.rstrip("\n").rfind("\n") + 1 + len("1,Pong,a2c_1step,0,6")])


def _cut_at_line_end(run_dir):  # the last row lost whole: the file ends before done.json's frames
  p = run_dir / "progress.csv"
  p.write_text("".join(p.read_text().splitlines(keepends=True)[:-1]))


def _garbage(name, data):
  def damage(run_dir):
    (run_dir / name).write_bytes(data)
  return damage


# damage -> (the file named, what is said)
REPORT_DAMAGES = {
    "no eval_return column": (_drop_column("eval_return"), "progress.csv",
                              "line 1: the header is not the progress.csv schema (missing "
                              "column(s) eval_return"),
    "no frames column": (_drop_column("frames"), "progress.csv",
                         "line 1: the header is not the progress.csv schema (missing column(s) "
                         "frames"),
    "last row cut inside its frames": (_cut_last_row, "progress.csv",
                                       "line 3: the last row is cut short"),
    "cut at a line end": (_cut_at_line_end, "progress.csv",
                          "line 3: the file ends at 320 frames, but done.json says the run "
                          "finished at 640"),
    "garbage config.json": (_garbage("config.json", b"\x8f\x02\xff garbage"), "config.json",
                            "not UTF-8 text (byte 0x8f at offset 0"),
    "garbage done.json": (_garbage("done.json", b"{frames: 640}"), "done.json",
                          "not valid JSON (Expecting property name enclosed in double quotes at "
                          "line 1, column 2)"),
}


@pytest.mark.parametrize("damage", sorted(REPORT_DAMAGES))
def test_a_damaged_run_is_named_and_left_out_of_every_report(two_runs, tmp_path, capsys, damage):
  from artifact.grid import cli
  make, name, said = REPORT_DAMAGES[damage]
  out = tmp_path / "out"
  shutil.copytree(two_runs, out)
  run_dir = out / "runs" / RUN0
  make(run_dir)
  damaged = (run_dir / name).read_bytes()
  code = cli.main(GRID + ["--out", str(out), "--reports-only"])
  printed = capsys.readouterr().out
  assert code == 1, printed[-3000:]
  assert f"   damaged {RUN0}: {run_dir / name}: {said}" in printed, printed[-3000:]
  assert (f"REPORT FAILED damaged run {RUN0} (left out of every report): {run_dir / name}: "
          f"{said}" in printed)
  assert ("reports: 1 of 2 runs finished; 0 partial (reported up to their last row), 0 missing, "
          "1 with damaged files (left out of every report):") in printed
  assert "Traceback" not in printed and "KeyError" not in printed
  assert (run_dir / name).read_bytes() == damaged         # the damaged file left as it was
  reports = out / "reports"
  # every report was written, each from seed 1 alone
  assert set(pd.read_csv(reports / "figure1.csv")["seed"]) == {1}
  assert pd.read_csv(reports / "figure1_summary.csv")["seeds"].tolist() == [1]
  stats = pd.read_csv(reports / "statistics.csv")
  assert len(stats) and (stats["seeds"] == 1).all()
  for f in ("figure1.pdf", "statistics.pdf", "claims.md", "parity.csv"):
    assert (reports / f).stat().st_mtime > (two_runs / "reports" / f).stat().st_mtime, f
  # repaired, the same command reports both seeds again and exits 0
  shutil.copy(two_runs / "runs" / RUN0 / name, run_dir / name)
  assert cli.main(GRID + ["--out", str(out), "--reports-only"]) == 0
  capsys.readouterr()
  assert pd.read_csv(reports / "figure1_summary.csv")["seeds"].tolist() == [2]
  assert set(pd.read_csv(reports / "statistics.csv")["seeds"]) == {2}

