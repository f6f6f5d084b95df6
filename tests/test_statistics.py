"""Statistics (rliable) against hand-computed values, each claim's rule on synthetic data built to
be supported, contradicted and inconclusive, and reports on empty or partial runs directories."""
import numpy as np
import pandas as pd
import pytest

from artifact.analysis import claims, claims_report, curves
from artifact.analysis import error_rates as er
from artifact.analysis import statistics as st
from artifact.analysis.atari_scores import HUMAN, RANDOM, human_normalized
from artifact.grid import cli
from artifact.training.progress import COLUMNS


@pytest.fixture(autouse=True)
def few_reps(monkeypatch):
  monkeypatch.setattr(st, "BOOTSTRAP_REPS", 400)
  # the gate's rates (tested in tests/test_error_rates.py): coarser and shorter here
  monkeypatch.setattr(er, "SIM_DRAWS", 500)
  monkeypatch.setattr(er, "SCREEN_DRAWS", 200)
  monkeypatch.setattr(er, "MAX_SEEDS", 6)


def fake_curves(spec, games=("Seaquest",), seeds=3, points=10, noise=5.0, seed=0):
  """Long progress frame: condition -> (start, gain per evaluation) in raw points."""
  rng = np.random.default_rng(seed)
  rows = []
  for game in games:
    for cond, (start, gain) in spec.items():
      for s in range(seeds):
        for k in range(points):
          rows.append(dict(figure=0, game=game, condition=cond, seed=s, frames=(k + 1) * 1000,
                           eval_return=start + gain * k + rng.normal(0, noise), loss=0.1))
  return pd.DataFrame(rows)


def test_final_score_is_the_mean_of_the_last_three_evaluations():
  df = pd.DataFrame(dict(game="Pong", condition="x", seed=0, frames=[1, 2, 3, 4, 5],
                         eval_return=[-21.0, -20, -10, -8, -6]))
  f = st.final_scores(df)
  assert f.final_score.item() == pytest.approx(-8.0)
  assert f.first_score.item() == -21 and f.best_score.item() == -6 and f.frames.item() == 5
  assert f.final_hns.item() == pytest.approx((-8.0 + 20.7) / (14.6 + 20.7))


def test_iqm_of_known_data_and_a_ci_that_contains_the_truth():
  # IQM of 0..7 (rliable: scipy trim_mean 25%) = mean of 2..5 = 3.5
  x = np.arange(8, dtype=float)[:, None]
  point, lo, hi = st.interval([x], st.aggregate_iqm)
  assert point == pytest.approx(3.5) and lo <= 3.5 <= hi and lo < hi
  # the mean of 40 draws from N(10, 1): the 95% CI covers 10
  draws = np.random.default_rng(1).normal(10.0, 1.0, (40, 1))
  point, lo, hi = st.interval([draws], st.metrics.aggregate_mean)
  assert lo < 10.0 < hi and hi - lo < 1.5


def test_intervals_are_a_pure_function_of_the_scores():
  # rliable's stratified bootstrap draws from numpy's global RNG; the estimate must not depend on
  # its state, and must leave it as it found it
  x = np.random.default_rng(1).normal(size=(3, 6))
  np.random.seed(123)
  first = st.interval([x], st.metrics.aggregate_iqm)
  after = np.random.random()
  np.random.seed(7)
  np.random.random(1000)
  assert st.interval([x], st.metrics.aggregate_iqm) == first
  assert first[1] < first[0] < first[2]
  np.random.seed(123)
  st.interval([x], st.metrics.aggregate_iqm)
  assert np.random.random() == after


def test_probability_of_improvement_of_a_dominating_condition_is_one():
  x, y = np.full((4, 2), 10.0) + np.arange(4)[:, None], np.zeros((4, 2))
  assert st.interval([x, y], st.probability_of_improvement) == (1.0, 1.0, 1.0)
  assert st.interval([y, x], st.probability_of_improvement)[0] == 0.0


def test_iqm_equals_rliables_bit_for_bit():
  # our IQM against rliable's (scipy trim_mean 25%, axis=None): 1 to 12 runs x 1 to 6 games, ties
  rng = np.random.default_rng(0)
  for trial in range(600):
    shape = (int(rng.integers(1, 13)), int(rng.integers(1, 7)))
    x = rng.normal(size=shape) if trial % 2 else rng.integers(-3, 3, shape).astype(float)
    ours, theirs = st.aggregate_iqm(x), st.metrics.aggregate_iqm(x)
    assert ours == theirs and type(ours) is type(theirs), (x, ours, theirs)
  x = np.array([[1.0, np.nan], [2.0, 3.0]])
  assert np.isnan(st.aggregate_iqm(x)) and np.isnan(st.metrics.aggregate_iqm(x))
  x = rng.normal(size=(3, 4))
  assert st.interval([x], st.aggregate_iqm) == st.interval([x], st.metrics.aggregate_iqm)


def test_probability_of_improvement_equals_rliables_bit_for_bit():
  # our scipy-free P(X > Y) against rliable's (scipy mannwhitneyu): continuous scores, integer
  # scores with many ties, identical columns, unequal run counts, one to six games
  rng = np.random.default_rng(0)
  for trial in range(600):
    nx, ny, tasks = int(rng.integers(1, 6)), int(rng.integers(1, 6)), int(rng.integers(1, 7))
    if trial % 3 == 0:
      x, y = rng.normal(size=(nx, tasks)), rng.normal(size=(ny, tasks))
    else:
      x = rng.integers(-3, 3, (nx, tasks)).astype(float)
      y = rng.integers(-3, 3, (ny, tasks)).astype(float)
      if trial % 3 == 2 and nx == ny:
        y = x.copy()
        y[:, 0] += 1.0                     # every other column identical (rliable: 0.5)
    ours, theirs = st.probability_of_improvement(x, y), st.metrics.probability_of_improvement(x, y)
    assert ours == theirs and type(ours) is type(theirs), (x, y, ours, theirs)
  x, y = np.array([[1.0, np.nan], [2.0, 3.0]]), np.array([[0.0, 1.0], [1.0, 2.0]])
  assert np.isnan(st.probability_of_improvement(x, y))
  assert np.isnan(st.metrics.probability_of_improvement(x, y))
  # and the same interval through rliable's bootstrap
  x, y = rng.normal(size=(3, 2)), rng.normal(size=(3, 2))
  assert (st.interval([x, y], st.probability_of_improvement)
          == st.interval([x, y], st.metrics.probability_of_improvement))


def test_figure_statistics_rows():
  df = fake_curves({"a2c_proper": (100, 60), "a2c_1step": (100, 0)}, games=("Seaquest", "Pong"),
                   noise=1)
  s = st.figure_statistics(df, 1, ["a2c_1step", "a2c_proper"], [("a2c_proper", "a2c_1step")])
  assert list(s.columns) == st.COLUMNS
  poi = s[(s.metric == "probability_of_improvement") & (s.game == st.AGGREGATE)]
  assert poi.point.item() == 1.0 and poi.seeds.item() == 3 and poi.games.item() == 2
  iqm = s[(s.metric == "iqm_hns") & (s.condition == "a2c_1step")]
  expected = np.mean([human_normalized(g, 100.0) for g in ("Seaquest", "Pong")])
  assert iqm.point.item() == pytest.approx(expected, abs=0.05)
  assert set(s.metric) >= {"final_score_mean", "final_score_iqm", "median_hns", "mean_hns",
                           "optimality_gap_hns", "performance_profile", "iqm_hns_curve"}
  curve = s[(s.metric == "iqm_hns_curve") & (s.condition == "a2c_proper")]
  assert len(curve) == 10 and curve.point.is_monotonic_increasing
  assert (s.ci_low <= s.point + 1e-12).all() and (s.point <= s.ci_high + 1e-12).all()


def test_reference_scores_are_the_standard_table():
  assert RANDOM["Seaquest"] == 68.4 and HUMAN["Seaquest"] == 42054.7
  assert RANDOM["Pong"] == -20.7 and HUMAN["Pong"] == 14.6
  assert np.isnan(human_normalized("Tetris", 5.0))


# --- claims ---------------------------------------------------------------------------------------
def _verdict(claim, frames):
  """The claim's verdict; its rule's own verdict is `rule_verdict` (tested here), amendment A2's
  gate on it (tests/test_error_rates.py) keeps a decided verdict only where its rate is <= 5%."""
  v = {v.claim: v for v in claims.judge(frames)}[claim]
  assert v.verdict == v.rule_verdict or (v.verdict in (claims.INCONCLUSIVE, claims.UNDECIDABLE)
                                         and not v.error_rate <= 0.05)
  return v


@pytest.mark.parametrize("gains,expected", [
    ((80, 0), claims.SUPPORTED), ((0, 80), claims.CONTRADICTED), ((40, 40), claims.INCONCLUSIVE)])
def test_c1_non_inferiority(gains, expected):
  df = fake_curves({"a2c_proper": (100, gains[0]), "a2c_1step": (100, gains[1])}, noise=20, seeds=4)
  v = _verdict("C1", {1: df})
  assert v.rule_verdict == expected, v
  assert v.seeds == 4 and v.frames == 10_000 and v.ci_low <= v.point <= v.ci_high


@pytest.mark.parametrize("gains,expected", [
    ((80, 0), claims.SUPPORTED), ((0, 80), claims.CONTRADICTED), ((40, 40), claims.INCONCLUSIVE)])
def test_c2_and_c3_superiority(gains, expected):
  df = fake_curves({"soft_dqn_ent_0.1": (100, gains[0]), "dqn": (100, gains[1]),
               "soft_dqn_kl_0.1": (100, gains[1])}, noise=20, seeds=4)
  assert _verdict("C2", {2: df}).rule_verdict == expected
  assert _verdict("C3", {2: df}).rule_verdict == expected


def test_c4_per_game_direction():
  games = ("Pong", "Qbert", "Seaquest")
  claim = pd.concat([fake_curves({"dqn_nstep": (0, 50 if g in ("Pong", "Qbert") else 0),
                             "dqn": (0, 0 if g in ("Pong", "Qbert") else 50)}, games=(g,), seeds=4,
                                 noise=1)
                     for g in games])
  assert _verdict("C4", {2: claim}).rule_verdict == claims.SUPPORTED
  opposite = claim.assign(condition=claim.condition.map({"dqn": "dqn_nstep", "dqn_nstep": "dqn"}))
  assert _verdict("C4", {2: opposite}).rule_verdict == claims.CONTRADICTED


@pytest.mark.parametrize("gains,noise,expected", [
    ((300, 303), 1, claims.SUPPORTED), ((300, 30), 1, claims.CONTRADICTED),
    ((300, 150), 600, claims.INCONCLUSIVE)])
def test_c5_equivalence(gains, noise, expected):
  df = fake_curves({"pg": (1000, gains[0]), "soft_ql": (1000, gains[1])}, noise=noise)
  assert _verdict("C5", {3: df}).rule_verdict == expected


def test_c6_learning_and_collapse():
  # 5 seeds: the sign test at 0.05 on one game needs 5 of 5 (amendment A3); 3 can never decide
  learns = fake_curves({"soft_ql": (100, 50), "pg": (100, 50)}, noise=1, seeds=5)
  assert _verdict("C6", {3: learns}).rule_verdict == claims.SUPPORTED
  assert _verdict("C6", {3: fake_curves({"soft_ql": (100, 50), "pg": (100, 50)},
                                        noise=1)}).rule_verdict \
      == claims.INCONCLUSIVE
  worse = fake_curves({"soft_ql": (100, -5), "pg": (100, 50)}, noise=1, seeds=5)
  # pg learned, soft_ql fell back
  assert _verdict("C6", {3: worse}).rule_verdict == claims.CONTRADICTED
  collapse = learns.copy()
  late = (collapse.condition == "soft_ql") & (collapse.frames >= 8000)
  collapse.loc[late, "eval_return"] = 100.0                              # gave back all its gains
  assert _verdict("C6", {3: collapse}).rule_verdict == claims.CONTRADICTED
  assert _verdict("C6", {3: fake_curves({"soft_ql": (100, 50)},
                                        seeds=1)}).verdict == claims.INCONCLUSIVE


def test_claims_without_their_conditions_say_not_run(tmp_path):
  paths = claims_report.write_claims({}, tmp_path)
  table = pd.read_csv(paths["claims_csv"])
  assert list(table.claim) == ["C1", "C2", "C3", "C4", "C5", "C6"]
  assert (table.verdict == claims.NOT_RUN).all()
  assert "not run" in paths["claims_md"].read_text()


# --- reports on empty and partial runs directories -----------------------------------------------
def test_reports_on_an_empty_runs_dir_list_every_missing_run(tmp_path, capsys):
  assert cli.main(["--figures", "1", "--games", "Pong", "--seeds", "0", "--out", str(tmp_path),
                   "--reports-only"]) == 0
  out = capsys.readouterr().out
  assert "0 of 2 runs finished" in out and "missing figure1/Pong/a2c_1step/seed0" in out
  for name in ("figure1.csv", "figure1.pdf", "statistics.csv", "statistics.pdf", "statistics.png",
               "claims.md"):
    assert (tmp_path / "reports" / name).exists(), name
  # the PNG of the one "nothing to report yet" page
  assert _png_pixels(tmp_path / "reports" / "statistics.png").shape[0] > 0


def test_reports_on_a_partial_runs_dir_report_what_exists(tmp_path, capsys):
  run = tmp_path / "runs" / "figure1/Pong/a2c_1step/seed0"
  run.mkdir(parents=True)
  df = fake_curves({"a2c_1step": (-20, 1)}, games=("Pong",), seeds=1).assign(figure=1, seed=0)
  df.reindex(columns=COLUMNS).to_csv(run / "progress.csv", index=False)
  assert cli.main(["--figures", "1", "--games", "Pong", "--seeds", "0", "--out", str(tmp_path),
                   "--reports-only"]) == 0
  out = capsys.readouterr().out
  assert "1 partial" in out and "partial figure1/Pong/a2c_1step/seed0" in out
  assert "missing figure1/Pong/a2c_proper/seed0" in out
  long = pd.read_csv(tmp_path / "reports" / "figure1.csv")
  assert len(long) == 10 and list(long.columns) == curves.LONG_COLUMNS
  stats = pd.read_csv(tmp_path / "reports" / "statistics.csv")
  assert (stats.condition == "a2c_1step").any()
  # the statistics PNG beside the PDF, as the figures have: one 18 x 4.2 in page at 100 dpi
  assert _png_pixels(tmp_path / "reports" / "statistics.png").shape == (420, 1800, 4)
  assert not list((tmp_path / "reports").glob(".*.tmp"))                # written atomically


def _png_pixels(path):
  """The pixels of the PNG file `path`, after checking its signature (a valid PNG or a failure)."""
  import matplotlib.image
  assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
  return matplotlib.image.imread(path, format="png")


def test_the_statistics_png_stacks_the_pdf_pages_one_per_figure(tmp_path):
  one = fake_curves({"a2c_1step": (100, 5), "a2c_proper": (100, 6)}, seeds=2, points=4)
  three = fake_curves({"pg": (100, 5), "soft_ql": (100, 6)}, seeds=2, points=4)
  paths = st.write_statistics({1: one.assign(figure=1), 3: three.assign(figure=3)}, tmp_path)
  assert paths["statistics_png"] == tmp_path / "statistics.png"
  assert paths["statistics_pdf"].read_bytes()[:5] == b"%PDF-"
  assert _png_pixels(paths["statistics_png"]).shape == (2 * 420, 1800, 4)   # figures 1 and 3
  assert sorted(p.name for p in tmp_path.iterdir()) == ["statistics.csv", "statistics.pdf",
                                                        "statistics.png"]
