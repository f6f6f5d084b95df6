"""How often each claim rule returns a wrong decided verdict, at the sample it is applied to
(docs/decision_rules.md, amendment A2).

A rule of `artifact.analysis.claims` turns a 95% stratified-bootstrap CI (rliable, `BOOTSTRAP_REPS`
replications, numpy's global RNG seeded to 0: `artifact.analysis.statistics.interval`) into supported /
contradicted / inconclusive. With 2-5 seeds per condition such a rule can decide wrongly far
more often than the 5% a 95% interval suggests: with 2 seeds against 2, P(X > Y) = 1 [1, 1]
arises in 4 of the 24 equally likely orderings of four scores when the conditions do not differ
(1/6), and every bootstrap resample keeps that order, so the CI cannot show it. This module
measures, for each rule and sample size, the probability of each wrong decided verdict under
the least favourable truth for it:

- superiority (C2, C3; C4 per game), P(X > Y) with CI low > 0.5 / CI high < 0.5: no difference
  between the conditions. The scores of a game are then exchangeable, every ordering of its 2n
  scores is equally likely and the rule (P(X > Y) and its bootstrap) depends only on the
  ordering, so the rate is exact: every ordering is enumerated where there are at most
  `EXACT_LIMIT` of them (2 v 2 on one game: 24), else `SIM_DRAWS` orderings are drawn (seeded).
- non-inferiority (C1), CI low >= 0.40: scores normal with one SD, shifted so that the true
  P(X > Y) is the margin 0.40 (a mean difference of sqrt(2) Phi^-1(0.40) SDs). P(X > Y) depends
  only on ranks, so any mean and SD give the same rate; the normal shape is the model.
- equivalence of curves (C5), CI of the relative difference of the HNS areas inside +-20% for
  "equivalent", outside for "different": each run's area normal around its condition's mean
  with the game's observed seed-to-seed SD (pooled over the two conditions), the two means
  placed exactly at the margin around the observed grand mean ((b - a) / mean = +-0.20; the
  larger rate of the two signs).
- improvement (C6), CI low > 0 of the mean first-to-final gain: gains normal with mean 0 (the
  observed SD; the rule is scale-free, so only the normal shape matters).

A claim over several games is judged per game and counted ("more than half of the games"), so
its least favourable truth mixes games: for C5's "supported", the half of the games (rounded
down) with the smallest per-game rate are truly equivalent and called so (probability 1), the
rest sit exactly at the margin; likewise for the other counted rules (`at_least`). For a rule
that averages over games (C1-C3: P(X > Y) averaged over the games that count), every game is at
the boundary.

Every CI here is the rule's own: the bootstrap's resampling indices are the ones rliable draws
with numpy's global RNG seeded to 0 (`bootstrap_counts`; a test checks the CIs against
`artifact.analysis.statistics.interval`: P(X > Y)'s bit for bit, the means' to 1e-12, as matrix products), applied to many simulated score sets at once
(vectorised: one interval of rliable's takes ~30 ms, a rate needs thousands).
"""
from __future__ import annotations

import functools
import itertools
import math
from typing import Dict, Optional, Sequence, Tuple

import numpy as np

from artifact.analysis.statistics import BOOTSTRAP_REPS, CI_SIZE

MAX_RATE = 0.05        # a decided verdict needs a wrong-verdict rate at most this (amendment A2)
EXACT_LIMIT = 1_000    # enumerate every ordering up to this many score sets (2 v 2 on one or two games, 3 v 3 on one), else simulate
SIM_DRAWS = 10_000     # simulated score sets per rate (Monte-Carlo SE ~0.0022 at a rate of 0.05)
SEARCH_DRAWS = 2_000   # per rate in the search for the seeds that would bring a rate to 5% (a guide, SE ~0.005)
SIM_SEED = 20261203    # the simulations' seed: a rate is a pure function of its inputs
MAX_SEEDS = 12         # the largest seeds per condition searched for `seeds_for_rate`
_CHUNK = 1_000         # score sets per vectorised block (memory: chunk x reps x n^2 floats)


@functools.lru_cache(maxsize=None)
def bootstrap_counts(n_runs: int, n_games: int, n_arrays: int = 1, reps: int = BOOTSTRAP_REPS) -> np.ndarray:
  """[reps, n_arrays, n_games, n_runs] float64: how often each run is drawn in each bootstrap
  resample of each game, for the resampling indices rliable 1.2.0 draws when numpy's global RNG
  is seeded to 0 (`artifact.analysis.statistics._seeded_global_rng`): one `np.random.choice(n_runs,
  (n_runs, n_games))` per replication for one score matrix (`StratifiedBootstrap`), and one per
  matrix per replication, in order, for several (`StratifiedIndependentBootstrap`, which
  `rliable.library.get_interval_estimates` uses for a tuple of matrices: each condition's
  seeds are resampled independently). The caller's global RNG state is restored."""
  state = np.random.get_state()
  np.random.seed(0)
  try:
    idx = np.stack([np.stack([np.random.choice(n_runs, (n_runs, n_games), replace=True)
                              for _ in range(n_arrays)]) for _ in range(reps)])   # [reps, arrays, n, games]
  finally:
    np.random.set_state(state)
  counts = np.zeros((reps, n_arrays, n_games, n_runs))
  for k in range(n_runs):
    counts[..., k] = (idx == k).sum(axis=2)
  return counts


def _percentiles(values: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
  """(low, high) along the last axis: arch's percentile interval (np.percentile, linear), as
  rliable's `get_interval_estimates` computes it."""
  alpha = 100 * (1 - CI_SIZE) / 2
  lo, hi = np.percentile(values, [alpha, 100 - alpha], axis=-1)
  return lo, hi


def poi_intervals(x: np.ndarray, y: np.ndarray) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
  """(point, ci_low, ci_high), each [sets]: P(X > Y) averaged over games
  (`artifact.analysis.statistics.probability_of_improvement`) and its stratified-bootstrap CI, for
  many score sets at once. x, y: [sets, n_runs, n_games] float64 without NaN, each resampled
  independently as rliable does (`bootstrap_counts`). A resample's per-game P is
  u' C w / n^2, C[k, l] = [x_k > y_l] + 0.5 [x_k = y_l], u and w the resample's counts of each
  run of x and of y."""
  sets, n, games = x.shape
  counts = bootstrap_counts(n, games, 2)                    # [reps, 2, games, n]
  cx, cy = counts[:, 0], counts[:, 1]
  pts, los, his = [], [], []
  for s in range(0, sets, _CHUNK):
    xs, ys = x[s:s + _CHUNK], y[s:s + _CHUNK]
    c = (xs[:, :, None, :] > ys[:, None, :, :]) + 0.5 * (xs[:, :, None, :] == ys[:, None, :, :])  # [b, n, n, g]
    same = np.all(xs == ys, axis=1)                          # [b, g]: identical columns give 0.5
    per_game = np.einsum("rgk,bklg,rgl->brg", cx, c, cy, optimize=True) / (n * n)   # optimize: BLAS, same sums
    # rliable gives 0.5 where a resample's two columns are equal: with independent resampling
    # that needs equal scores, i.e. ties, which the simulations here (continuous) do not have
    per_game = np.where(same[:, None, :] & (cx == cy).all(axis=-1)[None], 0.5, per_game)
    point = np.where(same, 0.5, c.sum(axis=(1, 2)) / (n * n)).mean(axis=-1)
    lo, hi = _percentiles(per_game.mean(axis=-1))
    pts.append(point), los.append(lo), his.append(hi)
  return np.concatenate(pts), np.concatenate(los), np.concatenate(his)


def mean_intervals(v: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
  """(ci_low, ci_high) [sets] of the mean of v [sets, n_runs] (one game) under the rule's
  bootstrap: rliable's `metrics.aggregate_mean` over a [runs x 1] matrix."""
  sets, n = v.shape
  counts = bootstrap_counts(n, 1)[:, 0, 0, :]               # [reps, n]
  return _percentiles(v @ counts.T / n)


def relative_difference_intervals(b: np.ndarray, a: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
  """(ci_low, ci_high) [sets] of (mean b - mean a) / |mean of both| under the rule's
  bootstrap (`artifact.analysis.claims.curve_equivalence`'s statistic, each condition resampled independently);
  b, a: [sets, n_runs]."""
  sets, n = b.shape
  counts = bootstrap_counts(n, 1, 2)[:, :, 0, :]            # [reps, 2, n]
  mb, ma = b @ counts[:, 0].T / n, a @ counts[:, 1].T / n
  return _percentiles((mb - ma) / np.maximum(np.abs(0.5 * (mb + ma)), 1e-12))


def _orderings(n: int, games: int, rng: np.random.Generator, draws: int) -> Tuple[np.ndarray, np.ndarray, str]:
  """(x, y, method): score sets [sets, n, games] under no difference. Every ordering of a game's
  2n scores (ranks) is equally likely; all (2n)!^games of them when that is at most EXACT_LIMIT,
  else `draws` drawn."""
  total = math.factorial(2 * n) ** games
  if total <= EXACT_LIMIT:
    perms = np.array(list(itertools.permutations(range(2 * n))), np.float64)   # [(2n)!, 2n]
    grids = np.meshgrid(*[np.arange(len(perms))] * games, indexing="ij")
    sel = np.stack([g.ravel() for g in grids], axis=-1)                        # [total, games]
    ranks = perms[sel].transpose(0, 2, 1)                                      # [total, 2n, games]
    return ranks[:, :n], ranks[:, n:], f"exact: all {total:,} orderings"
  u = rng.random((draws, 2 * n, games))
  return u[:, :n], u[:, n:], f"simulation: {draws:,} draws, seed {SIM_SEED}"


_UNMEASURED = (math.nan, 0.0, "not measured: fewer than 2 seeds per condition")


def _rate(hits: np.ndarray, method: str) -> Tuple[float, float, str]:
  p = float(hits.mean())
  se = 0.0 if method.startswith("exact") else math.sqrt(max(p * (1 - p), 0.25 / len(hits)) / len(hits))
  return p, se, method


@functools.lru_cache(maxsize=None)
def superiority_rates(n: int, games: int = 1, draws: int = SIM_DRAWS) -> Dict[str, Tuple[float, float, str]]:
  """{"supported": (rate, se, method), "contradicted": ...} of "CI low > 0.5" / "CI high < 0.5" of
  P(X > Y) averaged over `games` games with `n` seeds per condition each, when the conditions do not
  differ (the boundary of both verdicts). se is 0 for an exact count. NaN rates below 2 seeds
  (the rule's interval is then a point)."""
  if n < 2:
    return {"supported": _UNMEASURED, "contradicted": _UNMEASURED}
  x, y, method = _orderings(n, games, np.random.default_rng(SIM_SEED), draws)
  _, lo, hi = poi_intervals(x, y)
  return {"supported": _rate(lo > 0.5, method), "contradicted": _rate(hi < 0.5, method)}


@functools.lru_cache(maxsize=None)
def noninferiority_rates(n: int, games: int = 1, margin: float = 0.40,
                         draws: int = SIM_DRAWS) -> Dict[str, Tuple[float, float, str]]:
  """{"supported": P(CI low >= margin), "contradicted": P(CI high < margin)} of P(X > Y) averaged
  over `games` games, `n` seeds per condition, when the true P(X > Y) is exactly `margin`: normal scores
  with unit SD, x shifted by sqrt(2) Phi^-1(margin). NaN rates below 2 seeds."""
  if n < 2:
    return {"supported": _UNMEASURED, "contradicted": _UNMEASURED}
  from statistics import NormalDist
  rng = np.random.default_rng(SIM_SEED)
  shift = math.sqrt(2) * NormalDist().inv_cdf(margin)
  x = rng.standard_normal((draws, n, games)) + shift
  y = rng.standard_normal((draws, n, games))
  _, lo, hi = poi_intervals(x, y)
  method = f"simulation: {draws:,} draws, seed {SIM_SEED}, normal scores at P(X > Y) = {margin}"
  return {"supported": _rate(lo >= margin, method), "contradicted": _rate(hi < margin, method)}


@functools.lru_cache(maxsize=None)
def improvement_rate(n: int, draws: int = SIM_DRAWS) -> Tuple[float, float, str]:
  """P(CI low > 0) of the mean of `n` gains drawn normal with mean 0 (C6's per-game "improved"
  when the true gain is zero; scale-free, so the SD does not matter). NaN below 2 seeds."""
  if n < 2:
    return _UNMEASURED
  rng = np.random.default_rng(SIM_SEED)
  lo, _ = mean_intervals(rng.standard_normal((draws, n)))
  return _rate(lo > 0, f"simulation: {draws:,} draws, seed {SIM_SEED}, normal gains with mean 0")


def equivalence_rates(n: int, cv: float, margin: float = 0.20,
                      draws: int = SIM_DRAWS) -> Dict[str, Tuple[float, float, str]]:
  """{"equivalent": P(CI inside +-margin), "different": P(CI outside +-margin)} of C5's
  relative difference for one game whose true relative difference is exactly +-margin, `n`
  seeds per condition, each run's area normal with SD `cv` times the grand mean (the observed
  seed-to-seed spread, rounded to 2 significant digits); the larger of the two signs' rates.
  NaN rates below 2 seeds or for a spread that is not a finite number."""
  if n < 2 or not math.isfinite(float(cv)):
    return {"equivalent": _UNMEASURED, "different": _UNMEASURED}
  cv = float(f"{float(cv):.2g}")
  return dict(zip(("equivalent", "different"), _equivalence_rates(n, cv, margin, draws)))


@functools.lru_cache(maxsize=None)
def _equivalence_rates(n: int, cv: float, margin: float, draws: int):
  rng = np.random.default_rng(SIM_SEED)
  method = (f"simulation: {draws:,} draws, seed {SIM_SEED}, normal areas with SD {cv:.3g} x mean, "
            f"means {margin:+.0%} apart")
  eq, diff = [], []
  for sign in (1, -1):
    mb, ma = 1 + sign * margin / 2, 1 - sign * margin / 2
    b = mb + cv * rng.standard_normal((draws, n))
    a = ma + cv * rng.standard_normal((draws, n))
    lo, hi = relative_difference_intervals(b, a)
    eq.append(_rate((lo > -margin) & (hi < margin), method))
    diff.append(_rate((lo > margin) | (hi < -margin), method))
  return max(eq), max(diff)


def at_least(k: int, probs: Sequence[float]) -> float:
  """P(at least k of independent events with probabilities `probs` happen) (Poisson binomial)."""
  dist = np.zeros(len(probs) + 1)
  dist[0] = 1.0
  for p in probs:
    dist[1:] = dist[1:] * (1 - p) + dist[:-1] * p
    dist[0] *= 1 - p
  return float(dist[max(k, 0):].sum()) if k <= len(probs) else 0.0


def counted_rate(per_game: Sequence[float], n_games: int, need: int, sure: int) -> float:
  """The least favourable rate of a rule that decides when at least `need` of `n_games` games
  show an outcome: `sure` games show it with probability 1 (the truth that favours the wrong
  verdict most while keeping it wrong) and the others, those with the largest per-game rates
  among `per_game`, each with its rate."""
  rest = sorted(per_game, reverse=True)[:max(n_games - sure, 0)]
  return at_least(need - sure, rest)


def seeds_for_rate(rate_at, n_now: int, limit: float = MAX_RATE) -> Optional[int]:
  """The smallest seeds per condition n > n_now with rate_at(n) <= limit (None if none up to
  MAX_SEEDS). rate_at: n -> rate."""
  for n in range(n_now + 1, MAX_SEEDS + 1):
    if rate_at(n) <= limit:
      return n
  return None


def describe(rate: float, se: float, method: str) -> str:
  """'0.167 (exact: all 24 orderings)' or '0.072 +- 0.004 (simulation: ...)'."""
  return f"{rate:.3g} ({method})" if se == 0 else f"{rate:.3g} +- {se:.2g} ({method})"
