"""`run_all.sh --list` (artifact/grid/cost.py's print_grid): the summary comes first, per figure
(runs, frames, core-hours, what finished runs keep on disk) and in all, with times as the
estimates they are (whole hours, whole minutes below an hour: no '239h36m49s'); the runs
themselves only with --list --runs, after the summary; --runs without --list is refused. Fast:
planning only, nothing trained."""
import re

import pytest

from artifact.grid import cli, cost
from artifact.grid.planning import UsageError


def _list(capsys, *argv):
  assert cli.main(["--list", *map(str, argv)]) == 0
  return capsys.readouterr().out


def test_the_summary_comes_first_per_figure_and_without_false_precision(capsys, tmp_path):
  out = _list(capsys, "--scale", "short", "--out", tmp_path)
  lines = out.splitlines()
  assert lines[0] == "126 runs (18 of them serve two figures), 900,000,000 frames in all"
  assert lines[1].startswith(
      "  figure 1: 36 runs, 360,000,000 frames, ~53 core-hours; finished runs keep ")
  assert lines[2].startswith("  figure 2: 72 runs, 360,000,000 frames, ~")
  assert lines[3].startswith(
      "  figure 3: 18 runs (+18 of figure 1's, trained once), 180,000,000 frames, ~")
  assert "extension state" in lines[2] and " GB" in lines[2]         # DQN's replay
  assert re.search(r"estimated cost: ~\d[\d,]* core-hours; wall time at --jobs 2 on this \d+-core "
                   r"machine ~\d[\d,]* h", out)
  assert not re.search(r"\d+h\d\dm|\d+m\d\ds|\d\.\d core-hours", out), out
  assert lines[-1] == "(--list --runs lists the 126 runs)"
  assert "figure1/" not in out                                           # no run listed


def test_the_runs_follow_the_summary_with_runs(capsys, tmp_path):
  out = _list(capsys, "--figures", "3", "--games", "Pong", "--seeds", "0", "--runs", "--out",
              tmp_path)
  summary, runs = out.split("\nruns:\n")
  assert summary.startswith("2 runs (0 of them serve two figures), 12,800 frames in all")
  assert "  figure 3: 2 runs, 12,800 frames, under 1 core-hour" in summary
  assert "wall time at --jobs 2" in summary and "~1 min" in summary
  assert runs.splitlines() == ["  figure1/Pong/a2c_proper/seed0  frames=6,400",
                               "  figure3/Pong/soft_ql/seed0  frames=6,400"]


def test_runs_without_list_is_refused(capsys):
  with pytest.raises(UsageError) as e:
    cli.main(["--runs"])
  assert e.value.code == 2 and "--runs lists the runs of --list" in capsys.readouterr().err


@pytest.mark.parametrize("seconds, text", [(30, "1 min"), (14 * 60 + 20, "14 min"), (3599, "1 h"),
                                           (3600 * 1.4, "1 h"), (862_609, "240 h = 10 days"),
                                           (47.4 * 3600, "47 h")])
def test_rough_duration(seconds, text):
  assert cost.rough_duration(seconds) == text


def test_core_hours_text():
  assert cost.core_hours_text(0.2) == "under 1 core-hour"
  assert cost.core_hours_text(479.4) == "~479 core-hours"
  assert cost.core_hours_text(5727.2) == "~5,727 core-hours"
