"""A report that cannot be written (a full disk, here a file-size limit) is named, the grid's run
summary is still printed, the other reports are still written, and nothing written before is
lost or torn: every report file is written atomically under a unique temporary name."""
import resource
import signal
import subprocess
import sys
from pathlib import Path

import pytest

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
  import json as _json
  d = runs / spec.relpath()
  d.mkdir(parents=True)
  (d / "config.json").write_text(spec.to_json())
  rows = ["figure,game,condition,seed,frames,train_return,eval_return"]
  rows += [f"{spec.figure},{spec.game},{spec.condition},{spec.seed},{(i + 1) * 1000},{r},{r}"
           for i, r in enumerate(returns)]
  (d / "progress.csv").write_text("\n".join(rows) + "\n")
  return _json.loads(spec.to_json())


@pytest.mark.parametrize("other", ["set_value", "not_selected"])
def test_reports_never_average_in_runs_of_another_config(tmp_path, other, capsys):
  from artifact.grid import cli
  from artifact.analysis import results
  from artifact.experiment.runspec import make_run_spec
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
  assert code == 0 and f"not in this grid: {alien.relpath()}" in printed
  import pandas as pd
  fig = pd.read_csv(tmp_path / "reports" / "figure2.csv")
  assert fig["train_return"].max() == 2.0 and set(fig["seed"]) == {0}


def test_reports_read_each_run_up_to_the_grids_frames(tmp_path):
  """A run extended past the grid's --frames (a campaign's earlier step reported after some runs
  went further) is reported at the grid's frames, like the runs that stopped there; a run that
  has not reached them yet is reported up to its last row."""
  from artifact.grid import cli
  from artifact.analysis import results
  from artifact.experiment.runspec import make_run_spec
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
                   "--frames", "3000", "--scale", "short", "--out", str(tmp_path), "--reports-only", "--no-theory"])
  import pandas as pd
  fig = pd.read_csv(tmp_path / "reports" / "figure2.csv")
  assert code == 0 and fig["frames"].max() == 3_000 and fig["train_return"].max() == 3.0


def test_a_report_pass_reads_each_progress_file_once(tmp_path, monkeypatch):
  """The reports are one data flow: each progress.csv is read once per pass, into the pass's
  `Results`, however many reports (figure, parity, statistics, claims) use its rows."""
  import pandas as pd
  from artifact.grid import cli
  from artifact.experiment.runspec import make_run_spec
  runs = tmp_path / "runs"
  for seed in (0, 1):
    _fake_run(runs, make_run_spec(1, "Pong", "a2c_1step", seed, "smoke", 4_000), [1.0, 2.0])
  reads, read_csv = [], pd.read_csv
  monkeypatch.setattr(pd, "read_csv", lambda path, *a, **k: reads.append(str(path)) or read_csv(path, *a, **k))
  code = cli.main(["--figures", "1", "--games", "Pong", "--conditions", "a2c_1step", "--seeds", "0,1",
                   "--frames", "4000", "--out", str(tmp_path), "--reports-only", "--no-theory"])
  progress = [r for r in reads if r.endswith("progress.csv")]
  assert code == 0 and len(progress) == 2 and len(set(progress)) == 2, progress
  assert (tmp_path / "reports" / "parity.csv").exists() and (tmp_path / "reports" / "claims.md").exists()
