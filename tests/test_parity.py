"""Published curves beside ours: the zoo CSV shipped in the repository, parity.csv numbers against
hand-computed interpolations (never extrapolated), parity.md, and the published curve on the
figures' training panels."""
import csv
import json
import math

import matplotlib
import numpy as np
import pandas as pd
import pytest

from artifact.analysis import curves, parity, published, results
from artifact.training.progress import COLUMNS

NAN = math.nan


def _write_run(runs, figure, game, condition, seed, points):
  """progress.csv of one fake run; points: [(frames, train_return or NaN)]."""
  d = runs / f"figure{figure}" / game / condition / f"seed{seed}"
  d.mkdir(parents=True)
  with open(d / "progress.csv", "w", newline="") as f:
    w = csv.DictWriter(f, COLUMNS, lineterminator="\n")
    w.writeheader()
    for fr, ret in points:
      w.writerow(dict(figure=figure, game=game, condition=condition, seed=seed, frames=fr,
                      agent_steps=fr // 4, train_return="" if math.isnan(ret) else ret,
                      train_games=0 if math.isnan(ret) else 10))


def _write_curve(path, algo, game, points, seed=None):
  rows = [dict(source="x", algo=algo, game=game, frames=fr, train_return_last100=r, games_so_far=1)
          for fr, r in points]
  df = pd.DataFrame(rows)
  if seed is not None:
    df["seed"] = seed
  df.to_csv(path, index=False)


def _parity_table(runs, zoo_path=None, sb3_here_dir=None):
  """parity.csv's table of the runs under `runs` as a report pass computes it."""
  loaded = results.load_results(runs, [1, 2], zoo_path=zoo_path, sb3_here_dir=sb3_here_dir)
  return parity.parity_table(loaded.progress, loaded.published_curves())


def _plot(df, path):
  """Figure 1's PDF/PNG of the long progress frame `df`, as the reports draw it."""
  curves.plot_figure(curves.figure_curves(df, 1), path)


@pytest.fixture
def fake(tmp_path):
  """Figure 1 a2c_1step on Pong (2 seeds, reached 2.6M and 3.5M frames), a Figure 1 a2c_proper
  run (not matched), a hand-made zoo curve and two sb3-here seeds."""
  runs = tmp_path / "runs"
  _write_run(runs, 1, "Pong", "a2c_1step", 0,
             [(400_000, -21.0), (1_200_000, -20.0), (2_000_000, -18.0), (2_600_000, -15.0)])
  _write_run(runs, 1, "Pong", "a2c_1step", 1,
             [(100_000, NAN), (500_000, -20.5), (1_500_000, -19.0), (2_500_000, -16.0),
              (3_500_000, -10.0)])
  _write_run(runs, 1, "Pong", "a2c_proper", 0, [(5_000_000, 0.0)])
  zoo = tmp_path / "zoo.csv"
  _write_curve(zoo, "a2c", "Pong", [(500_000, -21.0), (1_500_000, -20.0), (2_500_000, -14.0)])
  here = tmp_path / "sb3_here"
  here.mkdir()
  _write_curve(here / "sb3_here_Pong_seed0.csv", "a2c", "Pong",
               [(500_000, -20.0), (1_500_000, -18.0), (2_500_000, -16.0)], seed=0)
  _write_curve(here / "sb3_here_Pong_seed1.csv", "a2c", "Pong",
               [(500_000, -21.0), (1_500_000, -19.0)], seed=1)
  return runs, zoo, here


def test_repository_holds_the_zoo_curves():
  df = published.load_zoo_curves()
  assert list(df.columns) == published.CURVE_COLUMNS
  assert len(df) == 2 * 7 * 17 and set(df["algo"]) == {"a2c", "dqn"}
  assert (df["source"] == published.ZOO_SOURCE).all() and df["seed"].isna().all()
  pong = df[(df["algo"] == "a2c") & (df["game"] == "Pong")].set_index("frames")
  assert pong.loc[1_000_000, "train_return_last100"] == -20.39
  assert pong.index.max() == 10_000_000
  assert (published.REPO_ROOT / "reports" / "published" / "README.md").exists()
  matched = {(m.figure, m.condition): m.algo for m in published.MATCHES}
  assert matched == {(1, "a2c_1step"): "a2c", (2, "dqn"): "dqn"}     # a2c_proper: none


def test_interpolate_never_extrapolates():
  v = published.interpolate([1.0, 3.0, 2.0, 5.0], [10.0, 30.0, NAN, 0.0], [0.5, 1.0, 2.0, 4.0, 5.0, 5.5])
  np.testing.assert_allclose(v, [NAN, 10.0, 20.0, 15.0, 0.0, NAN])


def test_parity_numbers_against_hand_computed_interpolations(fake):
  runs, zoo, here = fake
  t = _parity_table(runs, zoo_path=zoo, sb3_here_dir=here)
  assert set(t["condition"]) == {"a2c_1step"}                     # a2c_proper has no published match
  # all seeds reached min(2.6M, 3.5M): points 1M and 2M only, nothing at 3M (seed 0 ended at 2.6M)
  assert list(t["frames"]) == [1_000_000, 2_000_000]
  r1, r2 = t.iloc[0], t.iloc[1]
  # ours at 1M: seed 0 -21 + 0.6/0.8 * 1 = -20.25; seed 1 -20.5 + 0.5 * 1.5 = -19.75
  assert r1["ours_seeds"] == 2
  assert r1["ours_mean"] == pytest.approx(-20.0)
  assert (r1["ours_min"], r1["ours_max"]) == pytest.approx((-20.25, -19.75))
  assert r1["ours_std"] == pytest.approx(0.25)
  # ours at 2M: seed 0 -18 (a logged point); seed 1 -19 + 0.5 * 3 = -17.5
  assert r2["ours_mean"] == pytest.approx(-17.75) and r2["ours_std"] == pytest.approx(0.25)
  # zoo: -21 + 0.5 * 1 = -20.5 at 1M; -20 + 0.5 * 6 = -17 at 2M
  assert (r1["zoo_return"], r2["zoo_return"]) == pytest.approx((-20.5, -17.0))
  # sb3-here at 1M: seed 0 -19, seed 1 -20; at 2M seed 1 has ended (1.5M): seed 0 only, -17
  assert (r1["sb3_here_seeds"], r1["sb3_here_mean"]) == (2, pytest.approx(-19.5))
  assert (r1["sb3_here_min"], r1["sb3_here_max"]) == pytest.approx((-20.0, -19.0))
  assert (r2["sb3_here_seeds"], r2["sb3_here_mean"]) == (1, pytest.approx(-17.0))
  # gaps: 100 (a - b) / |b|
  assert r1["gap_ours_vs_zoo_pct"] == pytest.approx(100 * 0.5 / 20.5)
  assert r1["gap_ours_vs_sb3_here_pct"] == pytest.approx(-100 * 0.5 / 19.5)
  assert r1["gap_sb3_here_vs_zoo_pct"] == pytest.approx(100 * 1.0 / 20.5)
  assert r2["gap_ours_vs_zoo_pct"] == pytest.approx(-100 * 0.75 / 17)
  assert r2["gap_sb3_here_vs_zoo_pct"] == pytest.approx(0.0)


def test_no_point_past_a_curves_end_or_before_its_start(tmp_path):
  runs = tmp_path / "runs"
  # seed 0's first finished game comes after 1M: at 1M only seed 1 counts
  _write_run(runs, 1, "Breakout", "a2c_1step", 0, [(600_000, NAN), (1_400_000, 2.0), (3_000_000, 6.0)])
  _write_run(runs, 1, "Breakout", "a2c_1step", 1, [(200_000, 1.0), (3_200_000, 4.0)])
  zoo = tmp_path / "zoo.csv"
  _write_curve(zoo, "a2c", "Breakout", [(250_000, 1.0), (1_750_000, 4.0)])      # ends before 2M
  t = _parity_table(runs, zoo_path=zoo, sb3_here_dir=tmp_path / "absent").set_index("frames")
  assert list(t.index) == [1_000_000, 2_000_000, 3_000_000]
  assert t.loc[1_000_000, "ours_seeds"] == 1 and t.loc[1_000_000, "ours_mean"] == pytest.approx(1.8)
  assert t.loc[2_000_000, "ours_mean"] == pytest.approx((2.0 + 0.6 / 1.6 * 4.0 + 1.0 + 1.8 / 3.0 * 3.0) / 2)
  assert t.loc[1_000_000, "zoo_return"] == pytest.approx(1.0 + 0.75 / 1.5 * 3.0)
  assert t["zoo_return"].loc[[2_000_000, 3_000_000]].isna().all()              # not extrapolated
  assert t["gap_ours_vs_zoo_pct"].loc[[2_000_000, 3_000_000]].isna().all()
  assert (t["sb3_here_seeds"] == 0).all() and t["sb3_here_mean"].isna().all()


def test_dqn_against_the_repositorys_zoo_curve(tmp_path):
  runs = tmp_path / "runs"
  _write_run(runs, 2, "Breakout", "dqn", 0, [(500_000, 1.0), (1_500_000, 5.0), (2_200_000, 9.0)])
  _write_run(runs, 2, "Breakout", "soft_dqn_ent_0.1", 0, [(3_000_000, 50.0)])
  t = _parity_table(runs, sb3_here_dir=tmp_path / "absent")
  # DQN's points are the zoo curve's own, every 250k frames, up to the 2.2M this run reached
  assert set(t["condition"]) == {"dqn"} and list(t["frames"]) == [250_000 * k for k in range(1, 9)]
  t = t.set_index("frames")
  assert t.loc[250_000, "ours_seeds"] == 0 and math.isnan(t.loc[250_000, "ours_mean"])   # ours starts at 500k
  assert t.loc[750_000, "ours_mean"] == pytest.approx(2.0)
  assert t.loc[500_000, "zoo_return"] == pytest.approx(1.33)   # reports/published: dqn Breakout 0.5M
  r = t.loc[2_000_000]
  assert r["ours_mean"] == pytest.approx(5.0 + 0.5 / 0.7 * 4.0)
  assert r["zoo_return"] == pytest.approx(8.07)           # reports/published: dqn Breakout 2M
  assert r["gap_ours_vs_zoo_pct"] == pytest.approx(100 * (r["ours_mean"] - 8.07) / 8.07)


def test_write_parity_writes_both_files_atomically(fake, tmp_path, monkeypatch):
  runs, zoo, here = fake
  written = []
  real = parity.atomic_write_text
  monkeypatch.setattr(parity, "atomic_write_text", lambda p, s: written.append(p.name) or real(p, s))
  paths = parity.write_parity(runs, tmp_path / "reports", zoo_path=zoo, sb3_here_dir=here)
  assert sorted(written) == ["parity.csv", "parity.md"]
  back = pd.read_csv(paths["parity_csv"])
  assert list(back.columns) == parity.PARITY_COLUMNS and len(back) == 2
  md = paths["parity_md"].read_text()
  assert "emulator/wrapper share" in md and "implementation's share" in md
  assert "### Pong" in md
  assert "| 1M | -20 [-20.25, -19.75] (2) | -20.5 | -19.5 [-20, -19] (2) | +2.4% | -2.6% | +4.9% |" in md


def test_write_parity_without_runs(tmp_path):
  paths = parity.write_parity(tmp_path / "runs", tmp_path / "reports")
  assert pd.read_csv(paths["parity_csv"]).empty
  assert "No frame point yet" in paths["parity_md"].read_text()


def test_figure_shows_the_published_curves_on_training_panels(fake, tmp_path, monkeypatch):
  runs, _, here = fake
  monkeypatch.setattr(published, "SB3_HERE_DIR", here)          # the repository's zoo CSV
  df = results.load_progress(runs, 1)
  figs, close = [], curves.plt.close
  monkeypatch.setattr(curves.plt, "close", figs.append)
  for ext in ("png", "pdf"):
    _plot(df, tmp_path / f"figure1.{ext}")
    assert (tmp_path / f"figure1.{ext}").stat().st_size > 1000
  fig = figs[-1]
  pong = [ax for ax in fig.axes if ax.get_title().startswith("Pong")]
  evals = [ax for ax in pong if "evaluation" in ax.get_title()]
  train = [ax for ax in pong if "training" in ax.get_title()]
  assert len(evals) == len(train) == 1
  zoo_label = "SB3 zoo A2C (published, 1 seed; constant lr)"
  here_label = "SB3 A2C on ale-py 0.12.1 (mean of 2 seeds)"
  lines = {ln.get_label(): ln for ln in train[0].get_lines()}
  assert zoo_label in lines and here_label in lines
  assert not any(ln.get_label().startswith("SB3") for ln in evals[0].get_lines())
  zx, zy = lines[zoo_label].get_xdata(), lines[zoo_label].get_ydata()
  # cut at our largest frame (3.5M), the end point interpolated between 3M (-20.27) and 4M (-20.22)
  assert zx[0] == 250_000 and zx[-1] == 3_500_000 and zy[-1] == pytest.approx(-20.245)
  assert lines[zoo_label].get_linestyle() == "--" and matplotlib.colors.to_hex(lines[zoo_label].get_color()) == "#808080"
  # sb3-here mean over the range both its seeds cover (0.5M to 1.5M)
  np.testing.assert_allclose(lines[here_label].get_xdata(), [500_000, 1_500_000])
  np.testing.assert_allclose(lines[here_label].get_ydata(), [-20.5, -18.5])
  legend = [t.get_text() for lg in fig.legends for t in lg.get_texts()]
  assert zoo_label in legend and here_label in legend
  for f in figs:
    close(f)


def test_no_published_curve_before_our_first_frames(tmp_path, monkeypatch):
  runs = tmp_path / "runs"
  _write_run(runs, 1, "Pong", "a2c_1step", 0, [(6_400, -21.0)])              # smoke scale
  monkeypatch.setattr(published, "SB3_HERE_DIR", tmp_path / "absent")
  df = results.load_progress(runs, 1)
  figs, close = [], curves.plt.close
  monkeypatch.setattr(curves.plt, "close", figs.append)
  _plot(df, tmp_path / "figure1.png")
  assert not any(ln.get_label().startswith("SB3") for ax in figs[0].axes for ln in ax.get_lines())
  close(figs[0])


def test_sb3_here_files_load(tmp_path):
  here = published.load_sb3_here()                          # the repository's, if any
  if len(here):
    assert list(here.columns) == published.CURVE_COLUMNS
    assert (here["source"] == published.SB3_HERE_SOURCE).all() and here["seed"].notna().all()
    assert set(here["algo"]) <= {"a2c", "dqn"}
  # game and seed from the file name when the columns are missing; a file without algo is skipped
  pd.DataFrame(dict(algo=["a2c"], frames=[250_000], train_return_last100=[1.5],
                    games_so_far=[3])).to_csv(tmp_path / "sb3_here_Breakout_seed4.csv", index=False)
  pd.DataFrame(dict(frames=[250_000], train_return_last100=[1.5])).to_csv(
      tmp_path / "sb3_here_Pong_seed0.csv", index=False)
  with pytest.warns(UserWarning, match="no `algo` column"):
    got = published.load_sb3_here(tmp_path)
  assert len(got) == 1 and got.iloc[0]["game"] == "Breakout" and got.iloc[0]["seed"] == 4


def test_legend_gives_the_range_of_seed_counts_over_the_panels(fake, tmp_path, monkeypatch):
  runs, _, here = fake
  _write_run(runs, 1, "Breakout", "a2c_1step", 0, [(1_000_000, 2.0)])     # Pong has 2 seeds of it
  _write_curve(here / "sb3_here_Breakout_seed0.csv", "a2c", "Breakout",   # Pong's: 2 seeds
               [(500_000, 1.0), (1_000_000, 1.5)], seed=0)
  monkeypatch.setattr(published, "SB3_HERE_DIR", here)
  df = results.load_progress(runs, 1)
  figs, close = [], curves.plt.close
  monkeypatch.setattr(curves.plt, "close", figs.append)
  _plot(df, tmp_path / "figure1.png")
  fig = figs[-1]
  legend = [t.get_text() for lg in fig.legends for t in lg.get_texts()]
  panel = {ax.get_title(): [ln.get_label() for ln in ax.get_lines()] for ax in fig.axes}
  training = {t.split(" ")[0]: ls for t, ls in panel.items() if t.endswith(": training, last 100 games")}
  assert any(l.endswith("(2 seeds)") for l in training["Pong"])
  assert any(l.endswith("(1 seeds)") for l in training["Breakout"])
  ours = [l for l in legend if "A2C" in l and not l.startswith("SB3")]
  assert len(ours) == 2 and sum(l.endswith("(1-2 seeds)") for l in ours) == 1   # a2c_1step
  assert sum(l.endswith("(1 seeds)") for l in ours) == 1                          # a2c_proper: Pong only
  here_labels = {l for ls in panel.values() for l in ls if l.startswith("SB3 A2C on ale-py")}
  assert len(here_labels) == 2                               # one per panel, differing seed counts
  assert sum(l.startswith("SB3 A2C on ale-py") for l in legend) == 1   # one legend entry
  close(fig)


# --- Figure 2's dqn vs SB3's DQN here, and the factors (reports/parity/dqn/) ------------------
DQN_FRAMES = 1_500_000


def _write_dqn_run(dqn_dir, sub, seed, final, eval_final, replay=10_000, **options):
  """One of our `dqn` runs of the experiment: progress rows every 100k frames to 1.5M, the
  training return linear from 0 to `final`, the evaluation `eval_final` at 1.5M; its config.json
  with `replay` and the factor `options` (absent ones at their defaults, as in configs written
  before the options existed)."""
  d = dqn_dir / sub / "runs" / "figure2" / "Breakout" / "dqn" / f"seed{seed}"
  d.mkdir(parents=True)
  with open(d / "progress.csv", "w", newline="") as f:
    w = csv.DictWriter(f, COLUMNS, lineterminator="\n")
    w.writeheader()
    for fr in range(100_000, DQN_FRAMES + 1, 100_000):
      w.writerow(dict(figure=2, game="Breakout", condition="dqn", seed=seed, frames=fr,
                      agent_steps=fr // 4, train_return=final * fr / DQN_FRAMES, train_games=10,
                      eval_return=eval_final if fr == DQN_FRAMES else ""))
  (d / "config.json").write_text(json.dumps({"hparams": {"replay_capacity": replay, **options}}))


def _write_sb3_dqn(here, seed, final, eval_mean, trained=1_520_000):
  """SB3 here's DQN seed: curve rows at trained frames 240k ... 1.52M, linear from 0 to `final`
  at 1.5M; its meta with the final evaluation's mean."""
  here.mkdir(parents=True, exist_ok=True)
  t = [240_000, 500_000, 760_000, 1_000_000, 1_260_000, trained]
  pd.DataFrame(dict(source="sb3-here", algo="dqn", game="Breakout", frames=[x - 5_000 for x in t],
                    train_return_last100=[final * x / DQN_FRAMES for x in t], games_so_far=range(1, 7),
                    seed=seed, trained_frames=t)).to_csv(here / f"sb3_here_dqn_Breakout_seed{seed}.csv", index=False)
  (here / f"sb3_here_meta_seed{seed}.json").write_text(json.dumps(
      {"algo": "dqn", "game": "Breakout", "trained_frames": trained, "evaluation": {"mean": eval_mean}}))


@pytest.fixture
def dqn_fake(tmp_path):
  """Ours 10, 11, 12 at 1.5M (evals 20, 22, 24); SB3 here 20, 22, 24 (evals 30, 31, 32); factors
  torso_init=glorot 16, 18 (evals 25, 27), grad_clip_mode=global 20, 22, life_loss_stack=zero
  12, 13; a run with replay 1M (left out)."""
  d = tmp_path / "dqn"
  for s in range(3):
    _write_dqn_run(d, "ours", s, 10 + s, 20 + 2 * s)
    _write_sb3_dqn(d / "sb3_here", s, 20 + 2 * s, 30 + s)
  for s, (v, e) in enumerate([(16, 25), (18, 27)]):
    _write_dqn_run(d, "torso_init", s, v, e, torso_init="glorot")
  for s, v in enumerate([20, 22]):
    _write_dqn_run(d, "grad_clip_mode", s, v, 0.0, grad_clip_mode="global", torso_init="orthogonal")
  for s, v in enumerate([12, 13]):
    _write_dqn_run(d, "life_loss_stack", s, v, 0.0, life_loss_stack="zero")
  for s, v in enumerate([11, 12]):
    _write_dqn_run(d, "life_loss_fire", s, v, 0.0, life_loss_fire="hidden")
  _write_dqn_run(d, "old", 0, 99, 99, replay=1_000_000)
  _write_dqn_run(d, "rerun", 1, 99, 99)                   # ours seed 1 again, in another directory
  return d


def test_parity_dqn_numbers_and_the_rules_outcome(dqn_fake, tmp_path):
  paths = parity.write_parity_dqn(dqn_fake, tmp_path / "out")
  t = pd.read_csv(paths["parity_dqn_csv"], keep_default_na=False, na_values=[""])
  assert list(t.columns) == parity.PARITY_DQN_COLUMNS
  assert list(t["curve"].unique()) == ["ours", "sb3_here", "sb3_zoo", "grad_clip_mode=global",
                                       "life_loss_fire=hidden", "life_loss_stack=zero",
                                       "torso_init=glorot"]
  assert sorted(t["frames"].unique()) == [250_000 * k for k in range(1, 7)]
  r = t.set_index(["curve", "frames"])
  o, h, z = r.loc[("ours", DQN_FRAMES)], r.loc[("sb3_here", DQN_FRAMES)], r.loc[("sb3_zoo", DQN_FRAMES)]
  assert (o["seeds"], o["train_mean"], o["train_min"], o["train_max"]) == (3, pytest.approx(11.0), 10.0, 12.0)
  assert (o["eval_seeds"], o["eval_mean"]) == (3, pytest.approx(22.0))
  assert (h["seeds"], h["train_mean"], h["train_min"], h["train_max"]) == (3, pytest.approx(22.0), 20.0, 24.0)
  assert (h["eval_seeds"], h["eval_mean"], h["eval_min"], h["eval_max"]) == (3, 31.0, 30.0, 32.0)
  assert z["train_mean"] == pytest.approx(5.35)           # reports/published: dqn Breakout 1.5M
  assert o["gap_vs_sb3_here_pct"] == pytest.approx(-50.0)
  assert o["gap_vs_zoo_pct"] == pytest.approx(100 * (11 - 5.35) / 5.35)
  # at 250k: ours 11/6, SB3 here 22/6 (interpolated inside each curve's own points)
  assert r.loc[("ours", 250_000), "train_mean"] == pytest.approx(11 / 6)
  assert r.loc[("sb3_here", 250_000), "train_mean"] == pytest.approx(22 / 6)
  g = r.loc[("torso_init=glorot", DQN_FRAMES)]
  assert (g["seeds"], g["train_mean"], g["eval_mean"]) == (2, pytest.approx(17.0), pytest.approx(26.0))
  assert g["share_of_gap_closed"] == pytest.approx(6 / 11) and g["departs_from_baselines"] == "yes"
  c = r.loc[("grad_clip_mode=global", DQN_FRAMES)]
  assert c["share_of_gap_closed"] == pytest.approx(10 / 11) and c["departs_from_baselines"] == "no"
  assert r.loc[("life_loss_stack=zero", DQN_FRAMES), "share_of_gap_closed"] == pytest.approx(1.5 / 11)
  assert math.isnan(r.loc[("ours", 250_000), "share_of_gap_closed"])

  md = paths["parity_dqn_md"].read_text()
  assert "| 1.5M | 11 [10, 12] (3) | 22 [20, 24] (3) | 5.35 | -50.0% | +105.6% | +311.2% |" in md
  assert "| torso_init=glorot | 17 [16, 18] (2) | 26 [25, 27] (2) | -22.7% | 55% | yes |" in md
  assert "| grad_clip_mode=global | 21 [20, 22] (2) | 0 [0, 0] (2) | -4.5% | 91% | no |" in md
  assert "| sb3_here | 22 [20, 24] (3) | 31 [30, 32] (3) | +0.0% | – | – |" in md
  # the global clip closes more, but per-variable clipping is baselines' own: only glorot is adopted
  assert ("Adopted as the DQN family's default: torso_init=glorot; Figure 2 is retrained from the "
          "new frozen tag campaign-2.") in md
  assert "grad_clip_mode=global: 91% (baselines' own setting: not eligible)" in md
  assert ("Runs left out (not the experiment's): old/runs/figure2/Breakout/dqn/seed0 (replay capacity "
          "not 10,000), rerun/runs/figure2/Breakout/dqn/seed1 (a second run of ours seed 1).") in md
  d = parity.dqn_decision(t)
  assert d["decided"] and d["adopt"] == ["torso_init=glorot"] and d["new_tag"] == "campaign-2"


def test_parity_dqn_no_departing_factor_closes_half(dqn_fake, tmp_path):
  import shutil
  shutil.rmtree(dqn_fake / "torso_init")
  for s, v in enumerate([13, 14]):                         # share (13.5 - 11) / 11 = 23%
    _write_dqn_run(dqn_fake, "torso_init", s, v, 0.0, torso_init="glorot")
  d = parity.dqn_decision(parity.pd.read_csv(parity.write_parity_dqn(dqn_fake, tmp_path)["parity_dqn_csv"]))
  assert d["decided"] and d["adopt"] == [] and d["keep_tag"] == "campaign-1"
  assert "life_loss_stack=zero: 14%" in d["text"] and "torso_init=glorot: 23%" in d["text"]
  assert "keeps tag campaign-1" in d["text"]


def test_parity_dqn_with_a_gap_waits_for_every_factor_option(dqn_fake, tmp_path):
  import shutil
  shutil.rmtree(dqn_fake / "life_loss_fire")           # torso_init alone would close 55%
  d = parity.dqn_decision(parity.pd.read_csv(parity.write_parity_dqn(dqn_fake, tmp_path)["parity_dqn_csv"]))
  assert not d["decided"] and d["adopt"] == [] and d["keep_tag"] is None
  assert d["text"] == ("Not decided yet: a gap, ours 11 vs SB3 here 22 (ranges apart); factor "
                       "options not run yet: life_loss_fire.")
  for name in ("torso_init", "grad_clip_mode", "life_loss_stack"):   # none run at all
    shutil.rmtree(dqn_fake / name)
  d = parity.dqn_decision(parity.pd.read_csv(parity.write_parity_dqn(dqn_fake, tmp_path)["parity_dqn_csv"]))
  assert not d["decided"] and "factor options not run yet: torso_init, life_loss_fire, " in d["text"]


def test_parity_dqn_without_a_gap_keeps_campaign_1(tmp_path):
  d = tmp_path / "dqn"
  for s in range(3):
    _write_dqn_run(d, "ours", s, 10 + s, 0.0)
    _write_sb3_dqn(d / "sb3_here", s, [11.5, 14, 15][s], 0.0)     # SB3's min 11.5 < ours' max 12
  _write_dqn_run(d, "torso_init", 0, 30, 0.0, torso_init="glorot")
  t = pd.read_csv(parity.write_parity_dqn(d)["parity_dqn_csv"])
  out = parity.dqn_decision(t)
  assert out["decided"] and out["keep_tag"] == "campaign-1" and not out["adopt"]
  assert out["text"].startswith("No gap: ours' seed range [10, 12] at 1.5M frames is not below SB3 here's [11.5, 15].")
  assert (d / "parity_dqn.md").exists()                   # out_dir defaults to the inputs' dir


def test_parity_dqn_partial_inputs_give_partial_tables_not_a_decision(dqn_fake, tmp_path):
  (dqn_fake / "sb3_here" / "sb3_here_dqn_Breakout_seed2.csv").unlink()
  t = pd.read_csv(parity.write_parity_dqn(dqn_fake, tmp_path)["parity_dqn_csv"]).set_index(["curve", "frames"])
  assert t.loc[("sb3_here", DQN_FRAMES), "seeds"] == 2
  assert t.loc[("sb3_here", DQN_FRAMES), "train_mean"] == pytest.approx(21.0)
  assert t.loc[("sb3_here", DQN_FRAMES), "eval_seeds"] == 2       # the meta without its curve: left out
  md = (tmp_path / "parity_dqn.md").read_text()
  assert "Not decided yet: 2 of 3 SB3 seeds, 3 of 3 ours at 1.5M frames." in md


def test_parity_dqn_a_factor_short_of_seeds_is_not_decided(dqn_fake, tmp_path):
  import shutil
  shutil.rmtree(dqn_fake / "life_loss_fire")
  _write_dqn_run(dqn_fake, "life_loss_fire", 0, 21, 0.0, life_loss_fire="hidden")
  md = (parity.write_parity_dqn(dqn_fake, tmp_path)["parity_dqn_md"]).read_text()
  assert ("Not decided yet: a gap, ours 11 vs SB3 here 22 (ranges apart); factors short of seeds at "
          "1.5M frames: life_loss_fire=hidden (1 of 2 seeds).") in md


def test_parity_dqn_sb3_evaluation_only_after_the_decision_frames(dqn_fake, tmp_path):
  _write_sb3_dqn(dqn_fake / "sb3_here", 2, 24, 99.0, trained=1_400_000)   # stopped early
  t = pd.read_csv(parity.write_parity_dqn(dqn_fake, tmp_path)["parity_dqn_csv"]).set_index(["curve", "frames"])
  h = t.loc[("sb3_here", DQN_FRAMES)]
  assert h["seeds"] == 2 and h["eval_seeds"] == 2 and h["eval_mean"] == pytest.approx(30.5)


def test_parity_dqn_from_nothing(tmp_path):
  paths = parity.write_parity_dqn(tmp_path / "absent", tmp_path / "out")
  t = pd.read_csv(paths["parity_dqn_csv"])
  assert set(t["curve"]) == {"ours", "sb3_here", "sb3_zoo"} and (t[t["curve"] == "ours"]["seeds"] == 0).all()
  md = paths["parity_dqn_md"].read_text()
  assert "| 1.5M | – | – | 5.35 | – | – | – |" in md
  assert ("Not decided yet: 0 of 3 SB3 seeds, 0 of 3 ours at 1.5M frames. Factor options not run: "
          "torso_init, life_loss_fire, life_loss_stack, grad_clip_mode.") in md
