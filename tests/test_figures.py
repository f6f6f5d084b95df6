"""The figures explain themselves (artifact/analysis/curves.py): the legend says what the shaded
band is (+-1 SD over seeds) and what the dashed line is; every panel draws its game's
random-play threshold (amendment A1, `claims.random_play_threshold`) as a labelled dashed line;
a panel's title gives its seeds (one count, or per condition when they differ) and marks a game
that counts for no claim (no condition's majority of seeds left random play); the reports write
a PNG beside every PDF. On a hand-made Figure 3 frame; no training."""
import math

import pandas as pd
import pytest

from artifact.analysis import curves
from artifact.analysis.claims import random_play_threshold
from artifact.analysis.published import CURVE_COLUMNS
from artifact.analysis.results import LONG_COLUMNS, Results

FRAMES = (250_000, 500_000, 750_000, 1_000_000)


def _frame(levels):
  """A Figure 3 long progress frame: {(game, condition): (final score, seeds)}; each run's
  evaluation and training returns rise by 1% of |final| per point to its final score (seed s:
  +0.01 s), two games per evaluation, none capped."""
  rows = []
  for (game, cond), (final, seeds) in levels.items():
    for seed in range(seeds):
      for i, fr in enumerate(FRAMES):
        value = final - 0.01 * abs(final) * (len(FRAMES) - 1 - i) + 0.01 * seed
        rows.append(dict(figure=3, game=game, condition=cond, seed=seed, frames=fr,
                         agent_steps=fr // 4, train_return=value, train_games=10,
                         eval_return=value, eval_std=0.0, eval_games=2, eval_truncated=0))
  return pd.DataFrame(rows).reindex(columns=LONG_COLUMNS)


# Seaquest left random play (threshold ~329) for both conditions; Pong (-18.9) for neither, and
# its pg curve has 3 seeds, soft_ql 2
LEVELS = {("Seaquest", "pg"): (600.0, 2), ("Seaquest", "soft_ql"): (650.0, 2),
          ("Pong", "pg"): (-20.5, 3), ("Pong", "soft_ql"): (-20.4, 2)}


@pytest.fixture
def drawn(monkeypatch, tmp_path):
  """(the FigureCurves, the drawn matplotlib figure) of LEVELS."""
  figs, close = [], curves.plt.close
  monkeypatch.setattr(curves.plt, "close", figs.append)
  c = curves.figure_curves(_frame(LEVELS), 3, lambda: pd.DataFrame(columns=CURVE_COLUMNS))
  curves.plot_figure(c, tmp_path / "figure3.png")
  yield c, figs[-1]
  for f in figs:
    close(f)


def _panels(fig, game):
  return [ax for ax in fig.axes if ax.get_title().startswith(game)]


def test_every_panel_draws_its_games_threshold_dashed_and_labelled(drawn):
  _, fig = drawn
  for game in ("Seaquest", "Pong"):
    t = random_play_threshold(game)
    panels = _panels(fig, game)
    assert len(panels) == 2                                     # evaluation and training
    for ax in panels:
      lines = [ln for ln in ax.get_lines() if list(ln.get_ydata()) == [t, t]]
      assert len(lines) == 1 and lines[0].get_linestyle() == "--", game
      assert f"A1 {t:.4g}" in [x.get_text() for x in ax.texts], game
      low, high = ax.get_ylim()
      assert low <= t <= high


def test_the_legend_says_what_the_band_and_the_dashed_line_are(drawn):
  _, fig = drawn
  legend = [t.get_text() for lg in fig.legends for t in lg.get_texts()]
  assert "shaded: +-1 SD over seeds" in legend
  assert curves.THRESHOLD_LABEL in legend and "random-play threshold (A1)" in curves.THRESHOLD_LABEL


def test_titles_give_the_seeds_and_mark_the_games_that_count_for_no_claim(drawn):
  c, fig = drawn
  assert set(c.no_claim) == {"Pong"}
  assert "no condition's runs left random play" in c.no_claim["Pong"]
  for ax in _panels(fig, "Seaquest"):
    assert ax.get_title().startswith("Seaquest (2 seeds): ")
    assert curves.NO_CLAIM_NOTE not in ax.get_title()
  for ax in _panels(fig, "Pong"):
    title = ax.get_title()
    assert title.startswith("Pong (pg 3, soft_ql 2 seeds): ")
    assert title.endswith("\n(at random play: counts for no claim)")


def test_a_game_with_one_learning_condition_counts(monkeypatch, tmp_path):
  # Pong's soft_ql: 2 of 2 seeds above the threshold, pg: none of 3 -> Pong may count
  levels = dict(LEVELS)
  levels[("Pong", "soft_ql")] = (-15.0, 2)
  c = curves.figure_curves(_frame(levels), 3, lambda: pd.DataFrame(columns=CURVE_COLUMNS))
  assert c.no_claim == {}


def test_a_game_without_reference_scores_draws_no_line_and_counts_for_no_claim(monkeypatch,
                                                                              tmp_path):
  figs, close = [], curves.plt.close
  monkeypatch.setattr(curves.plt, "close", figs.append)
  c = curves.figure_curves(_frame({("Seaquest", "pg"): (600.0, 1), ("Tetris", "pg"): (5.0, 1)}), 3,
                           lambda: pd.DataFrame(columns=CURVE_COLUMNS))
  assert math.isnan(c.thresholds["Tetris"]) and "reference scores" in c.no_claim["Tetris"]
  curves.plot_figure(c, tmp_path / "f.png")
  for ax in _panels(figs[-1], "Tetris"):
    assert not ax.texts and all(len(set(ln.get_ydata())) > 1 for ln in ax.get_lines())
  close(figs[-1])


def test_seeds_text():
  b = pd.DataFrame(dict(condition=["a", "a", "b"], seeds=[3, 3, 3]))
  assert curves.seeds_text(b) == "3 seeds"
  assert curves.seeds_text(b.assign(seeds=[1, 1, 1])) == "1 seed"
  assert curves.seeds_text(b.assign(seeds=[5, 5, 3])) == "a 5, b 3 seeds"
  assert curves.seeds_text(b.iloc[:0]) == ""


def test_the_reports_write_a_png_beside_the_pdf(tmp_path):
  results = Results(progress={3: _frame(LEVELS)}, machines={3: pd.DataFrame()},
                    load_published=lambda: pd.DataFrame(columns=CURVE_COLUMNS))
  paths = curves.write_figure_reports(3, results, tmp_path)
  assert paths["png"] == tmp_path / "figure3.png" and paths["pdf"] == tmp_path / "figure3.pdf"
  assert paths["png"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
  assert paths["pdf"].read_bytes()[:4] == b"%PDF"
  assert sorted(p.name for p in tmp_path.iterdir()) == ["figure3.csv", "figure3.pdf", "figure3.png",
                                                        "figure3_summary.csv"]
