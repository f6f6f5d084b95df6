"""Amendment A1 of docs/decision_rules.md (2026-11-30): a game counts for a claim only where at
least one compared condition's runs left random play. Synthetic progress frames (the same long
format as tests/test_statistics.py's `curves`): runs at random level give "inconclusive at this
scale" with the reason, a game that learned gives the verdict while one that did not is listed as
excluded, the threshold is exact, and evaluations cut by the frame cap are not taken for whole
games. Verdicts here are the rules' own (`rule_verdict`); amendment A2's gate on top of them, which
turns a decided verdict with a wrong-verdict rate above 5% into "inconclusive", is
tests/test_error_rates.py's."""
import math

import numpy as np
import pandas as pd
import pytest

from artifact.analysis import claims, claims_report
from artifact.analysis import error_rates as er
from artifact.analysis import statistics as st
from artifact.analysis.atari_scores import HUMAN, RANDOM


@pytest.fixture(autouse=True)
def few_reps(monkeypatch):
  monkeypatch.setattr(st, "BOOTSTRAP_REPS", 400)
  # the gate's rates (tested in tests/test_error_rates.py): coarser and shorter here
  monkeypatch.setattr(er, "SIM_DRAWS", 500)
  monkeypatch.setattr(er, "SCREEN_DRAWS", 200)
  monkeypatch.setattr(er, "MAX_SEEDS", 6)


def runs(spec, games=("Seaquest",), seeds=3, points=10, noise=1.0, seed=0, **extra):
  """Long progress frame: {condition: (start, gain per evaluation)} or {condition: {game: (start,
  gain)}}, raw points; `extra` columns (eval_truncated, train_return) are set on every row."""
  rng = np.random.default_rng(seed)
  rows = []
  for game in games:
    for cond, sg in spec.items():
      start, gain = sg[game] if isinstance(sg, dict) else sg
      for s in range(seeds):
        for k in range(points):
          rows.append(dict(figure=0, game=game, condition=cond, seed=s, frames=(k + 1) * 1000,
                           eval_return=start + gain * k + rng.normal(0, noise), loss=0.1, **extra))
  return pd.DataFrame(rows)


def _judge(frames):
  out = {v.claim: v for v in claims.judge(frames)}
  for v in out.values():   # A2 keeps a decided verdict only where its rate is <= 5%
    assert v.verdict == v.rule_verdict or (v.verdict in (claims.INCONCLUSIVE, claims.UNDECIDABLE)
                                           and not v.error_rate <= 0.05)
  return out


def _judge_before_amendment(frames, monkeypatch):
  """The verdicts with every game run counted (the rules before amendment A1)."""
  with monkeypatch.context() as m:
    m.setattr(claims, "split_by_learning", lambda df, finals, games, conditions: (list(games), {}))
    return _judge(frames)


# --- the threshold --------------------------------------------------------------------------------
def test_threshold_is_five_percent_of_the_way_to_the_weaker_of_human_and_nature_dqn():
  # Seaquest: human 42054.7 is far above Nature DQN's 5286, so DQN's score is the yardstick
  assert claims.random_play_threshold("Seaquest") == pytest.approx(68.4 + 0.05 * (5286 - 68.4))
  # Breakout: human 30.5 is below DQN's 401.2; Pong: human 14.6 below DQN's 18.9
  assert claims.random_play_threshold("Breakout") == pytest.approx(1.7 + 0.05 * (30.5 - 1.7))
  assert claims.random_play_threshold("Pong") == pytest.approx(-20.7 + 0.05 * 35.3)
  for g in claims.DQN_NATURE:
    top = min(HUMAN[g], claims.DQN_NATURE[g])
    assert (claims.random_play_threshold(g)
            == RANDOM[g] + claims.LEFT_RANDOM_MARGIN * (top - RANDOM[g]))
  assert math.isnan(claims.random_play_threshold("Tetris"))
  assert not claims.left_random_play("Tetris", 1e9)


@pytest.mark.parametrize("game", sorted(claims.DQN_NATURE))
def test_threshold_boundary_is_exact(game):
  t = claims.random_play_threshold(game)
  assert claims.left_random_play(game, t)                              # at the threshold: left
  assert claims.left_random_play(game, math.nextafter(t, math.inf))
  assert not claims.left_random_play(game, math.nextafter(t, -math.inf))
  assert not claims.left_random_play(game, math.nan)


@pytest.mark.parametrize("offset,counted", [(1e-6, True), (-1e-6, False)])
def test_a_final_score_just_above_or_below_the_threshold(offset, counted):
  # a2c_proper flat at threshold +- 1e-6 (noise 0), a2c_1step flat at random play
  t = claims.random_play_threshold("Pong")
  df = runs({"a2c_proper": (t + offset, 0.0), "a2c_1step": (RANDOM["Pong"], 0.0)}, games=("Pong",),
            noise=0.0)
  finals = st.final_scores(df)
  levels = claims.full_game_scores(df, finals)
  assert (levels[levels.condition == "a2c_proper"].left == counted).all()
  assert not levels[levels.condition == "a2c_1step"].left.any()
  v = _judge({1: df})["C1"]
  if counted:
    assert v.rule_verdict == claims.SUPPORTED and v.games == "Pong" and v.excluded == ""
  else:
    assert v.verdict == claims.INCONCLUSIVE and v.games == "" and v.excluded.startswith("Pong: ")


def test_a_game_counts_when_a_majority_of_one_conditions_seeds_left():
  t = claims.random_play_threshold("Seaquest")
  df = runs({"pg": (RANDOM["Seaquest"], 0.0), "soft_ql": (RANDOM["Seaquest"], 0.0)}, noise=0.0)
  finals = st.final_scores(df)
  late = (df.condition == "soft_ql") & (df.frames >= 8000)
  for seeds, counted in (([0], False), ([0, 1], True)):     # 1 of 3 seeds: no; 2 of 3: yes
    d = df.copy()
    d.loc[late & d.seed.isin(seeds), "eval_return"] = t + 1.0
    counted_games, excluded = claims.split_by_learning(d, st.final_scores(d), ["Seaquest"],
                                                       ["pg", "soft_ql"])
    assert (counted_games == ["Seaquest"]) == counted, (seeds, excluded)
  _, excluded = claims.split_by_learning(df, finals, ["Seaquest"], ["pg", "soft_ql"])
  assert "pg 0/3 seeds" in excluded["Seaquest"] and "soft_ql 0/3 seeds" in excluded["Seaquest"]


# --- (a) runs at random level: inconclusive, with the reason ------------------------------------
def test_runs_at_random_play_give_inconclusive_on_every_claim(tmp_path, monkeypatch):
  # every condition of every figure plays at random level (the published random score, noise 1)
  games = ("Pong", "Seaquest")
  flat = {g: (RANDOM[g], 0.0) for g in games}
  frames = {1: runs({"a2c_proper": flat, "a2c_1step": flat}, games=games),
            2: runs({c: flat for c in ("dqn", "dqn_nstep", "soft_dqn_ent_0.1", "soft_dqn_kl_0.1")},
                    games=games),
            3: runs({"pg": flat, "soft_ql": flat}, games=games)}
  verdicts = _judge(frames)
  # before the amendment every claim read both games (verdicts from random play)
  before = _judge_before_amendment(frames, monkeypatch)
  assert all(v.games == "Pong,Seaquest" for v in before.values())
  for name, v in verdicts.items():
    assert v.verdict == claims.INCONCLUSIVE, (name, v)
    assert "left random play" in v.reason and "amendment A1" in v.reason
    assert v.games == ""
    for g in games:
      assert f"{g}: no condition's runs left random play" in v.excluded, (name, v.excluded)
  assert "soft_ql 0/3 seeds, pg 0/3 seeds" in verdicts["C6"].excluded
  # and the reports say so: claims.csv's excluded column, claims.md's "not counted" line
  paths = claims_report.write_claims(frames, tmp_path)
  table = pd.read_csv(paths["claims_csv"])
  assert (table.verdict == claims.INCONCLUSIVE).all()
  assert table.excluded.str.contains("Pong: no condition's runs left random play").all()
  md = paths["claims_md"].read_text()
  assert md.count("games not counted (amendment A1, runs at random play): Pong: ") == 6


def test_the_smoke_case_evaluations_cut_by_the_frame_cap_are_not_whole_games():
  # smoke scale: every evaluation game stops at the 500-frame cap, where a random Pong policy has
  # lost only ~3 points (far above the full-game -20.7); no training game has finished
  cut = runs({"pg": (-3.0, 0.0), "soft_ql": (-3.0, 0.0)}, games=("Pong",), noise=0.5,
             eval_truncated=2, train_return=math.nan)
  v = _judge({3: cut})
  assert v["C5"].verdict == v["C6"].verdict == claims.INCONCLUSIVE
  assert "without a full-game score" in v["C5"].excluded
  # without the truncation counts the same scores would pass the threshold (the reason for the
  # fallback), and C5 would be "supported" from two random policies
  assert _judge({3: cut.drop(columns=["eval_truncated"])})["C5"].rule_verdict == claims.SUPPORTED
  # a run whose evaluations were cut but whose finished training games score well did learn
  # (a learned Enduro or Pong game can outlast short scale's 27,000-frame cap)
  learned = cut.assign(train_return=15.0)
  levels = claims.full_game_scores(learned, st.final_scores(learned))
  assert (levels.source == "training").all() and levels.left.all()
  assert _judge({3: learned})["C5"].rule_verdict == claims.SUPPORTED
  # cut evaluations are judged by the last finished training games, whatever the rows after them
  stale = cut.copy()
  stale.loc[stale.frames <= 5000, "train_return"] = 15.0
  assert claims.full_game_scores(stale, st.final_scores(stale)).score.eq(15.0).all()


# --- (b) one game learned, one not: the verdict from the learned game only -----------------------
def test_c1_verdict_from_the_learned_game_only(monkeypatch):
  # Seaquest: proper learns, naive less but also leaves random play; Breakout and Pong: both at
  # random, naive ahead by noise-level luck (counted, they would contradict C1)
  spec = {"a2c_proper": {"Seaquest": (100, 80), "Breakout": (1.5, 0.0), "Pong": (-20.7, 0.0)},
          "a2c_1step": {"Seaquest": (100, 40), "Breakout": (2.0, 0.0), "Pong": (-20.3, 0.0)}}
  df = runs(spec, games=("Seaquest", "Breakout", "Pong"), noise=0.05, seeds=4)
  v = _judge({1: df})["C1"]
  assert v.rule_verdict == claims.SUPPORTED and v.games == "Seaquest", v
  assert v.excluded.startswith("Breakout: no condition's runs left random play")
  assert "; Pong: no condition's runs left random play" in v.excluded
  assert "a2c_proper 0/4 seeds, a2c_1step 0/4 seeds" in v.excluded
  assert "not counted (runs at random play, amendment A1): Breakout, Pong" in v.reason
  assert _judge_before_amendment({1: df}, monkeypatch)["C1"].rule_verdict == claims.CONTRADICTED


def test_c4_per_game_direction_from_the_learned_games_only(monkeypatch):
  # Pong and Seaquest learned with the claimed direction; Qbert at random with n-step ahead by
  # chance (Qbert is claimed "better", so it would agree; BeamRider claimed "worse": opposite)
  spec = {"dqn_nstep": {"Pong": (-20, 2), "Seaquest": (400, 0),
                        "BeamRider": (RANDOM["BeamRider"] + 50, 0)},
          "dqn": {"Pong": (-20, 0), "Seaquest": (400, 40), "BeamRider": (RANDOM["BeamRider"], 0)}}
  df = runs(spec, games=("Pong", "Seaquest", "BeamRider"), seeds=4)
  v = _judge({2: df})["C4"]
  assert v.rule_verdict == claims.SUPPORTED and v.games == "Pong,Seaquest", v
  assert v.excluded.startswith("BeamRider: ")
  assert "BeamRider" not in v.reason.split("; not counted")[0]
  # BeamRider counted (as before the amendment) contradicts: n-step "better" where claimed worse
  assert _judge_before_amendment({2: df}, monkeypatch)["C4"].rule_verdict == claims.CONTRADICTED


def test_c5_verdict_from_the_learned_game_only(monkeypatch):
  # Seaquest learned, curves equivalent; Pong at random level, where HNS near 0 makes the
  # relative difference of the areas large: counted, it would make C5 "contradicted"
  spec = {"pg": {"Seaquest": (1000, 300), "Pong": (-20.7, 0.0)},
          "soft_ql": {"Seaquest": (1000, 303), "Pong": (-20.2, 0.0)}}
  df = runs(spec, games=("Seaquest", "Pong"), noise=0.05)
  v = _judge({3: df})["C5"]
  assert v.rule_verdict == claims.SUPPORTED and v.games == "Seaquest", v
  assert v.excluded.startswith("Pong: ") and "Pong" not in v.reason.split("; not counted")[0]
  assert _judge_before_amendment({3: df}, monkeypatch)["C5"].rule_verdict == claims.CONTRADICTED


def test_c6_counts_a_game_where_pg_learned_and_soft_ql_did_not():
  # C6's evidence against the claim ("did not improve while pg did") needs soft_ql's games where
  # soft_ql stayed at random: pg's learning is what makes such a game count. Pong: neither
  # learned, excluded. Seaquest: pg learned, soft_ql fell back from where it started (every seed:
  # the sign test at 0.05 on one game needs 5 of 5): contradicted from Seaquest alone.
  spec = {"soft_ql": {"Seaquest": (RANDOM["Seaquest"] + 20, -2.0), "Pong": (RANDOM["Pong"], 0.0)},
          "pg": {"Seaquest": (100, 50), "Pong": (RANDOM["Pong"], 0.0)}}
  v = _judge({3: runs(spec, games=("Seaquest", "Pong"), seeds=5)})["C6"]
  assert v.rule_verdict == claims.CONTRADICTED and v.games == "Seaquest", v
  assert v.excluded.startswith("Pong: ") and "soft_ql 0/5 seeds" in v.excluded
  # learned on Seaquest only: supported from Seaquest, Pong excluded
  spec["soft_ql"]["Seaquest"] = (100, 50)
  v = _judge({3: runs(spec, games=("Seaquest", "Pong"), seeds=5)})["C6"]
  assert v.rule_verdict == claims.SUPPORTED and v.games == "Seaquest" and v.excluded.startswith(
      "Pong: ")


def test_a_missing_condition_is_still_not_run_before_anything_is_excluded():
  df = runs({"a2c_1step": (RANDOM["Pong"], 0.0)}, games=("Pong",))
  v = _judge({1: df})["C1"]
  assert v.verdict == claims.NOT_RUN and v.excluded == ""


# --- the claims and their conditions are the registry's (FigureSpec.claims) ----------------------
def test_every_claim_of_the_registry_has_a_rule_and_names_conditions_of_its_figure():
  from artifact.experiment.registry import FIGURES
  registered = [(n, c) for n, fig in FIGURES.items() for c in fig.claims]
  ids = [c.id for _, c in registered]
  assert len(set(ids)) == len(ids) and set(ids) == set(claims.RULES), (ids, list(claims.RULES))
  for n, c in registered:
    names = {x.name for x in FIGURES[n].conditions}
    assert c.conditions and set(c.evidence) <= names, (n, c)
  verdicts = claims.judge({})
  assert ([(v.claim, v.figure, v.text) for v in verdicts]
          == [(c.id, n, c.text) for n, c in registered])
  assert all(v.verdict == claims.NOT_RUN for v in verdicts)


def test_a_claim_naming_a_condition_its_figure_lacks_is_rejected():
  import dataclasses

  from artifact.experiment.registry import FIGURES, ClaimSpec
  fig = FIGURES[3]
  with pytest.raises(ValueError, match=r"figure 3: claim C9 names condition 'dqn', which is not a "
                                       r"condition of the figure; valid: pg, soft_ql"):
    dataclasses.replace(fig, claims=fig.claims + (ClaimSpec("C9", "a claim", ("soft_ql", "dqn")),))
  with pytest.raises(ValueError, match="claim C6 names condition 'a2c_proper'"):
    dataclasses.replace(fig, claims=(ClaimSpec("C6", "a claim", ("soft_ql",),
                                               reference=("a2c_proper",)),))


def test_a_registered_claim_without_a_rule_is_an_error(monkeypatch):
  monkeypatch.delitem(claims.RULES, "C4")
  with pytest.raises(ValueError, match="claim C4 of figure 2 has no decision rule"):
    claims.judge({})


def test_a_zero_width_interval_says_the_seeds_do_not_overlap_and_gives_their_scores():
  # Breakout, 2 seeds: every soft-entropy seed above every DQN seed (both far past 3.14), the case
  # of the reference at 2M frames: P = 1 with a CI of [1, 1]
  df = runs({"soft_dqn_ent_0.1": (10.0, 1.0), "dqn": (8.0, 1.0), "soft_dqn_kl_0.1": (12.0, 1.0)},
            games=("Breakout",), seeds=2, noise=0.01)
  got = _judge({2: df})
  c2, c3 = got["C2"], got["C3"]
  assert (c2.rule_verdict, c2.point, c2.ci_low, c2.ci_high) == (claims.SUPPORTED, 1.0, 1.0, 1.0)
  assert "each of the 2 seeds of soft_dqn_ent_0.1 scored above each seed of dqn" in c2.reason
  assert (c3.rule_verdict, c3.point, c3.ci_low, c3.ci_high) == (claims.CONTRADICTED, 0.0, 0.0, 0.0)
  assert ("each of the 2 seeds of soft_dqn_kl_0.1 scored above each seed of soft_dqn_ent_0.1"
          in c3.reason)
  # the per-seed final scores (mean of the last 3 of 10 evaluations: start + gain * 8, +-0.01)
  finals = st.final_scores(df)
  ent = finals[finals.condition == "soft_dqn_ent_0.1"].sort_values("seed").final_score
  assert f"Breakout: soft_dqn_ent_0.1 {ent.iloc[0]:.3g}, {ent.iloc[1]:.3g}, dqn 16, 16" in c2.reason
  # an interval with width gets no note
  df = runs({"soft_dqn_ent_0.1": (10.0, 1.0), "dqn": (10.0, 1.0), "soft_dqn_kl_0.1": (10.0, 1.0)},
            games=("Breakout",), seeds=3, noise=2.0)
  assert all("zero width" not in v.reason for v in _judge({2: df}).values())
