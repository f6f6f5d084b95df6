"""Amendment A2 of docs/decision_rules.md: each claim rule's wrong-verdict rate at the sample it is
applied to, and the gate that turns a decided verdict with a rate above 5% into "inconclusive at
this scale".

- the vectorised bootstrap of `artifact.analysis.error_rates` gives rliable's own intervals
  (`artifact.analysis.statistics.interval`), so its rates are the rates of the rule as the reports apply it;
- 2 v 2 on one game: P(X > Y) = 1 [1, 1] in exactly 4 of the 24 orderings (1/6), counted here
  with rliable itself, and the amended C2 says inconclusive, naming the rate and the seeds needed;
- scores drawn at each rule's boundary with this file's own seed and distributions (2v2, 3v3,
  5v5; 1-3 games): the amended rule's wrong-verdict rate is <= 5% within 3 simulation SEs, and the
  module's rate agrees with this independent draw;
- a large real effect is still decided at 3-5 seeds where the rate allows it."""
import itertools
import math

import numpy as np
import pandas as pd
import pytest
from rliable import metrics

from artifact.analysis import claims
from artifact.analysis import error_rates as er
from artifact.analysis import statistics as st

DRAWS = 2_000          # boundary draws per case here (SE of a 5% rate: 0.0049)
SEED = 7               # this file's own seed, not error_rates.SIM_SEED


def _rel(x, y):
  return (x.mean() - y.mean()) / max(abs(0.5 * (x.mean() + y.mean())), 1e-12)


# --- the replica is rliable's bootstrap ---------------------------------------------------------
@pytest.mark.parametrize("n,games", [(2, 1), (3, 2), (5, 1), (4, 3)])
def test_vectorised_intervals_are_rliables(n, games):
  # P(X > Y)'s CIs bit for bit; the means' to 1e-12 (matrix products instead of np.mean)
  rng = np.random.default_rng(n * 10 + games)
  x, y = rng.normal(0.3, 1, (n, games)), rng.normal(0, 1, (n, games))
  p, lo, hi = er.poi_intervals(x[None], y[None])
  assert (p[0], lo[0], hi[0]) == st.interval([x, y], st.probability_of_improvement)
  lo, hi = er.mean_intervals(x[None, :, 0])
  _, rlo, rhi = st.interval([x[:, :1]], metrics.aggregate_mean)
  assert (lo[0], hi[0]) == pytest.approx((rlo, rhi), abs=1e-12)
  b, a = 1 + 0.2 * rng.standard_normal(n), 1 + 0.2 * rng.standard_normal(n)
  lo, hi = er.relative_difference_intervals(b[None], a[None])
  _, rlo, rhi = st.interval([b[:, None], a[:, None]], _rel)
  assert (lo[0], hi[0]) == pytest.approx((rlo, rhi), abs=1e-12)


def test_the_bootstrap_resamples_each_condition_independently():
  # rliable's get_interval_estimates wraps a tuple of score matrices in
  # StratifiedIndependentBootstrap: the two conditions' seeds are drawn with different indices
  counts = er.bootstrap_counts(3, 1, 2)
  assert counts.shape == (st.BOOTSTRAP_REPS, 2, 1, 3)
  assert (counts.sum(axis=-1) == 3).all()
  assert (counts[:, 0] != counts[:, 1]).any(axis=(1, 2)).mean() > 0.8


# --- 2 v 2 on one game ---------------------------------------------------------------------------
def test_two_against_two_on_one_game_calls_a_difference_that_is_not_there_one_time_in_six():
  hits = 0
  for order in itertools.permutations(range(4)):           # every ordering of four tie-free scores
    x, y = np.array(order[:2], float)[:, None], np.array(order[2:], float)[:, None]
    _, lo, _ = st.interval([x, y], st.probability_of_improvement)
    hits += lo > 0.5
  assert hits == 4                                          # x's two seeds above y's two: 4 of 24
  rate, se, method = er.superiority_rates(2, 1)["supported"]
  assert rate == pytest.approx(1 / 6) and se == 0 and method == "exact: all 24 orderings"


def _figure2_finals(ent, dqn, games=("Breakout",)):
  """Progress rows whose final scores are `ent` / `dqn` [seeds x games] (flat curves of 6
  evaluations: final = first = the score), for soft_dqn_ent_0.1 and dqn."""
  rows = []
  for cond, scores in (("soft_dqn_ent_0.1", ent), ("dqn", dqn)):
    for s, per_game in enumerate(np.atleast_2d(np.asarray(scores, float).T).T):
      for game, score in zip(games, per_game):
        for k in range(6):
          rows.append(dict(figure=2, game=game, condition=cond, seed=s, frames=(k + 1) * 250_000,
                           eval_return=score, loss=0.1))
  return pd.DataFrame(rows)


def test_amended_c2_at_two_against_two_is_inconclusive_and_says_why():
  df = _figure2_finals([[30.0], [31.0]], [[20.0], [21.0]])
  v = {v.claim: v for v in claims.judge({2: df})}["C2"]
  assert v.rule_verdict == claims.SUPPORTED and (v.point, v.ci_low, v.ci_high) == (1.0, 1.0, 1.0)
  assert v.verdict == claims.INCONCLUSIVE
  assert v.error_rate == pytest.approx(1 / 6) and v.seeds_for_5pct == 4
  assert "0.167" in v.reason and "2 seeds per condition" in v.reason and "4 seeds per condition" in v.reason


# --- boundary simulations, independent of the module's own draws ----------------------------------
def _wrong(hits: np.ndarray, gate_rate: float) -> float:
  """The amended rule's wrong-verdict rate: the rule's wrong decisions, where the gate lets them through."""
  return float(hits.mean()) if gate_rate <= er.MAX_RATE else 0.0


def _within(measured: float, limit: float, draws: int = DRAWS) -> bool:
  return measured <= limit + 3 * math.sqrt(limit * (1 - limit) / draws)


@pytest.mark.parametrize("n,games", [(2, 1), (3, 1), (5, 1), (2, 2), (3, 2), (2, 3), (3, 3)])
def test_superiority_at_no_difference(n, games):
  rng = np.random.default_rng(SEED)
  x, y = rng.exponential(50, (DRAWS, n, games)), rng.exponential(50, (DRAWS, n, games))   # same law
  _, lo, hi = er.poi_intervals(x, y)
  rates = er.superiority_rates(n, games)
  for verdict, hits in (("supported", lo > 0.5), ("contradicted", hi < 0.5)):
    rate, se, _ = rates[verdict]
    assert _within(_wrong(hits, rate), er.MAX_RATE)
    tol = 4 * math.sqrt(max(rate * (1 - rate), 1e-3) / DRAWS) + 4 * se
    assert abs(hits.mean() - rate) <= tol, (verdict, hits.mean(), rate)
  if (n, games) == (2, 1):
    assert rates["supported"][0] > er.MAX_RATE             # the gate keeps 2 v 2 on one game undecided


@pytest.mark.parametrize("n,games", [(2, 1), (3, 1), (5, 1), (3, 2), (2, 3)])
def test_noninferiority_at_its_margin(n, games):
  rng = np.random.default_rng(SEED)
  # any continuous location family works for a rank statistic; normal with P(X > Y) = 0.40 exactly
  shift = 250 * math.sqrt(2) * -0.2533471031357997                  # Phi^-1(0.40) = -0.25335
  x = 1000 + shift + 250 * rng.standard_normal((DRAWS, n, games))
  y = 1000 + 250 * rng.standard_normal((DRAWS, n, games))
  _, lo, hi = er.poi_intervals(x, y)
  rates = er.noninferiority_rates(n, games)
  for verdict, hits in (("supported", lo >= 0.40), ("contradicted", hi < 0.40)):
    rate, se, _ = rates[verdict]
    assert _within(_wrong(hits, rate), er.MAX_RATE)
    assert abs(hits.mean() - rate) <= 4 * math.sqrt(rate * (1 - rate) / DRAWS) + 4 * se


@pytest.mark.parametrize("n,games", [(2, 1), (3, 1), (5, 1), (3, 3), (5, 2)])
def test_improvement_at_zero_gain(n, games):
  # C6 "supported" at its least favourable truth: zero gain in ceil(games/2) games, a sure gain elsewhere
  rng = np.random.default_rng(SEED)
  at_zero = games - games // 2
  lo = np.stack([er.mean_intervals(0.03 * rng.standard_normal((DRAWS, n)))[0] for _ in range(at_zero)])
  improved = (lo > 0).sum(axis=0) + games // 2
  hits = improved > games / 2
  rate = er.counted_rate([er.improvement_rate(n)[0]] * games, games, games // 2 + 1, games // 2)
  assert _within(_wrong(hits, rate), er.MAX_RATE)
  assert abs(hits.mean() - rate) <= 4 * math.sqrt(rate * (1 - rate) / DRAWS) + 0.01


@pytest.mark.parametrize("n,cv", [(2, 0.1), (3, 0.1), (5, 0.3)])
def test_curve_equivalence_at_its_margin_with_the_gate_on_the_observed_spread(n, cv):
  # C5 on one game whose curves differ by exactly +20%: the gate uses each draw's own observed
  # seed-to-seed spread, as the reports do (the rate is then a function of the data; here each
  # gate rate from 2,000 draws instead of the reports' 10,000, to keep the test short)
  draws = 200
  rng = np.random.default_rng(SEED)
  b = 1.1 + cv * rng.standard_normal((draws, n))
  a = 0.9 + cv * rng.standard_normal((draws, n))
  lo, hi = er.relative_difference_intervals(b, a)
  equivalent = (lo > -0.2) & (hi < 0.2)
  wrong = 0
  for k in np.flatnonzero(equivalent):
    spread = claims._spread(a[k], b[k])
    wrong += er.equivalence_rates(n, spread, 0.20, er.SEARCH_DRAWS)["equivalent"][0] <= er.MAX_RATE
  assert _within(wrong / draws, er.MAX_RATE, draws)


# --- a large real effect is still found ------------------------------------------------------------
@pytest.mark.parametrize("seeds,games", [(4, 1), (5, 1), (3, 2), (5, 2)])
def test_a_large_difference_is_supported_where_the_rate_allows(seeds, games):
  rng = np.random.default_rng(seeds * 10 + games)
  names = ("Breakout", "Pong", "Qbert")[:games]
  ent = 40 + rng.normal(0, 2, (seeds, games))
  dqn = 20 + rng.normal(0, 2, (seeds, games))
  v = {v.claim: v for v in claims.judge({2: _figure2_finals(ent, dqn, names)})}["C2"]
  assert v.rule_verdict == claims.SUPPORTED
  assert v.verdict == claims.SUPPORTED, v.reason
  assert v.error_rate <= er.MAX_RATE and v.seeds_for_5pct == 0


def test_rates_are_a_pure_function_of_their_inputs():
  er.noninferiority_rates.cache_clear()
  first = er.noninferiority_rates(3, 1)
  er.noninferiority_rates.cache_clear()
  assert er.noninferiority_rates(3, 1) == first


def test_a_game_with_one_shared_seed_has_no_measured_rate_and_decides_nothing():
  # C5 on a game where pg and soft_ql share one seed: the interval is a point, the spread and the
  # rates are not measured (NaN), so "equivalent" from that point cannot stand
  rows = []
  for cond, seeds in (("pg", (0, 1)), ("soft_ql", (1, 2))):
    for s in seeds:
      for k in range(6):
        rows.append(dict(figure=3, game="Seaquest", condition=cond, seed=s, frames=(k + 1) * 250_000,
                         eval_return=1000.0 + 50 * k, loss=0.1))
  v = {v.claim: v for v in claims.judge({3: pd.DataFrame(rows)})}["C5"]
  assert v.seeds == 1 and v.rule_verdict == claims.SUPPORTED
  assert v.verdict == claims.INCONCLUSIVE and math.isnan(v.error_rate) and math.isnan(v.seeds_for_5pct)
  assert "not measured" in v.reason
  assert math.isnan(er.superiority_rates(1)["supported"][0])


def test_a_claim_without_rates_has_no_seeds_for_5pct():
  v = {v.claim: v for v in claims.judge({})}["C4"]
  assert v.verdict == claims.NOT_RUN and math.isnan(v.seeds_for_5pct)
