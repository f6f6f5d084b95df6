"""How often each claim rule returns a wrong decided verdict, at the sample it is applied to,
under the least favourable truth of a declared family (docs/decision_rules.md, amendments A2, A3).

A rule of `artifact.analysis.claims` turns a stratified-bootstrap CI (rliable, `BOOTSTRAP_REPS`
replications, numpy's global RNG seeded to 0: `artifact.analysis.statistics.interval`) into
supported / contradicted / inconclusive. With 2-10 seeds per condition such a rule can decide
wrongly far more often than a 95% interval suggests, and how often depends on the truth behind
the data, not only on the rule's margin. So each decided verdict's rate is the largest over a
family of truths that all sit exactly on the verdict's boundary (amendment A3), each a `Law`:

- rank rules (C1-C4: P(X > Y), the Mann-Whitney statistic averaged over games): the per-game
  true P(X > Y) (counting ties as 1/2, as the statistic does) split over the games in every way
  that keeps the rule's average at its margin (`margin_splits`), crossed with normal scores, an
  SD ratio of 1:4 or 4:1 between the conditions, opposite skews (one condition's scores
  lognormal, the other's mirrored), and a correlation of -0.5 or +0.5 between the two
  conditions' scores of one seed (the conditions share weights and games by seed, so they are
  not independent by design); and, at the even split, scores on 3 or 5 levels (ties). A
  common monotone transform of both conditions' scores leaves every rank statistic unchanged,
  so a skew shared by both conditions is the normal case; only opposite skews can differ.
- mean rules (C5: the relative difference of curve areas): each game's observed seed-to-seed
  spread, the two means exactly at the +-20% margin (either sign), crossed with SD ratios 1:4
  and 4:1 (the pooled variance kept), lognormal and mirrored (left-skewed) areas in both
  conditions and in opposite directions, and correlations -0.5 and +0.5. Ties do not arise: an
  area is a mean over every evaluation game of a run.
- C6's per-game "improved" is an exact sign test (amendment A3), whose rate is the binomial
  tail under every law with P(gain > 0) <= 1/2 (any shape, spread or ties), so no family is
  needed: the rate is exact.

Monte-Carlo rates: every member is first screened with `SCREEN_DRAWS` simulated score sets, then
the `TOP_MEMBERS` worst per verdict are drawn again with `SIM_DRAWS` (>= 20,000) sets from their
own seeds, and the family's rate is the largest of those, with its Monte-Carlo SE and the
member's name (`Rate`). Where the base truth is exchangeable (C2-C4 at no difference with
continuous normal scores), all orderings are enumerated when there are at most `EXACT_LIMIT`.

Every CI here is the rule's own: the bootstrap's resampling indices are the ones rliable draws
with numpy's global RNG seeded to 0 (`bootstrap_counts`; a test checks the CIs against
`artifact.analysis.statistics.interval`: P(X > Y)'s bit for bit, the means' to 1e-12, as matrix
products), applied to many simulated score sets at once (vectorised: one interval of rliable's
takes ~30 ms, a rate needs tens of thousands). The draws replay rliable 1.2.0's use of numpy's
global RNG (library.py, `StratifiedBootstrap.update_indices`); a test fails, naming the
installed version, if rliable's draws change.

Rates at sample sizes are cached by their inputs (`RateCache`): in memory, and in the JSON file
`rate_cache.json` beside this module (committed with the reference's entries, so the report
pass stays fast; a test recomputes entries from scratch and compares).
"""
from __future__ import annotations

import dataclasses
import functools
import itertools
import json
import math
import os
import zlib
from collections.abc import Callable, Sequence
from pathlib import Path
from statistics import NormalDist
from typing import NamedTuple

import numpy as np
import rliable

from artifact.analysis import statistics as st
from artifact.analysis.statistics import BOOTSTRAP_REPS, CI_SIZE
from artifact.files import atomic_write_text

MAX_RATE = 0.05        # a decided verdict needs a family-wide wrong-verdict rate at most this (A2, A3)
EXACT_LIMIT = 1_000    # enumerate every ordering up to this many score sets, else simulate
SIM_DRAWS = 20_000     # simulated score sets per rate of a family's worst members (SE ~0.0015 at 0.05)
SCREEN_DRAWS = 2_000   # per member when screening a family for its worst members
TOP_MEMBERS = 3        # members per verdict drawn again with SIM_DRAWS after screening
SIM_SEED = 20261207    # the simulations' seed: a rate is a pure function of its inputs
MAX_SEEDS = 20         # the largest seeds per condition searched for `seeds_needed`
FAMILY_VERSION = "A3"  # part of every cache key: a change of the family makes new entries
_CHUNK = 2_000         # score sets per vectorised block (memory: chunk x reps x games floats)
_STD_NORMAL = NormalDist()
RLIABLE_VERSION = "1.2.0"   # the version whose bootstrap draws `bootstrap_counts` replays

SD_RATIOS = (0.25, 4.0)     # SD of the first condition over the second's
RHOS = (-0.5, 0.5)          # correlation of the two conditions' scores of one seed
TIE_LEVELS = (3, 5)         # scores on this many levels
RANK_SKEWS = ("x right-skewed, y left-skewed", "x left-skewed, y right-skewed")
MEAN_SKEWS = ("both right-skewed", "both left-skewed", "a right-skewed, b left-skewed",
              "a left-skewed, b right-skewed")


class Rate(NamedTuple):
  """One verdict's wrong-verdict rate: `rate` (a probability; NaN where not measured), `se` (its
  Monte-Carlo standard error; 0 for an exact count), `method` (how it was computed) and `member`
  (the family's truth it is at: the least favourable one, in words)."""
  rate: float
  se: float
  method: str
  member: str = ""


UNMEASURED = Rate(math.nan, 0.0, "not measured: fewer than 2 seeds per condition")


@dataclasses.dataclass(frozen=True)
class Law:
  """A truth on a rule's boundary. Rank rules: `p` the per-game true P(X > Y) (ties count 1/2);
  mean rules: `sign` (+1: b above a by the margin, -1: below). `sd_ratio`: SD of x (a) over SD of
  y (b); `skew`: "" (normal) or one of RANK_SKEWS / MEAN_SKEWS; `levels`: 0 (continuous) or the
  number of score levels; `rho`: correlation of the two conditions' scores of one seed."""
  p: tuple[float, ...] = ()
  sign: int = 1
  sd_ratio: float = 1.0
  skew: str = ""
  levels: int = 0
  rho: float = 0.0

  def describe(self) -> str:
    """The truth in words, e.g. "per-game P 0.8/0, within-seed correlation -0.5"."""
    parts = []
    if self.p:
      parts.append("per-game P " + "/".join(f"{q:.2g}" for q in self.p))
    else:
      parts.append(f"means {'+' if self.sign > 0 else '-'}margin")
    if self.sd_ratio != 1.0:
      parts.append(f"SD ratio {self.sd_ratio:g}")
    if self.skew:
      parts.append(self.skew)
    if self.levels:
      parts.append(f"scores on {self.levels} levels")
    if self.rho:
      parts.append(f"within-seed correlation {self.rho:+g}")
    if len(parts) == 1:
      parts.append("normal")
    return ", ".join(parts)


# --- rliable's bootstrap, vectorised ------------------------------------------------------------
@functools.cache
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


def _percentiles(values: np.ndarray, ci_size: float = CI_SIZE) -> tuple[np.ndarray, np.ndarray]:
  """(low, high) along the last axis: arch's percentile interval (np.percentile, linear), as
  rliable's `get_interval_estimates` computes it, of size `ci_size`."""
  alpha = 100 * (1 - ci_size) / 2
  lo, hi = np.percentile(values, [alpha, 100 - alpha], axis=-1)
  return lo, hi


def poi_intervals(x: np.ndarray, y: np.ndarray, ci_size: float = CI_SIZE) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """(point, ci_low, ci_high), each [sets]: P(X > Y) averaged over games
  (`artifact.analysis.statistics.probability_of_improvement`) and its stratified-bootstrap CI of
  size `ci_size`, for many score sets at once. x, y: [sets, n_runs, n_games] float64 without
  NaN, each resampled independently as rliable does (`bootstrap_counts`). A resample's per-game
  P is u' C w / n^2 = <C, u w'> / n^2, C[k, l] = [x_k > y_l] + 0.5 [x_k = y_l], u and w the
  resample's counts of each run of x and of y: one matrix product of every set's C (flattened)
  with every resample's u w' (flattened). (rliable returns 0.5 for a resample whose two columns
  are equal element by element; u' C w / n^2 is then 0.5 as well, so ties need no special
  case.) float32 is exact here: every product and partial sum is a multiple of 1/4 below 2^22
  for n <= 40, so the numbers are rliable's bit for bit."""
  sets, n, games = x.shape
  if n > 40:
    raise ValueError(f"poi_intervals: {n} runs per condition; at most 40 (float32 exactness)")
  counts = bootstrap_counts(n, games, 2)                    # [reps, 2, games, n]
  outer = np.einsum("rgk,rgl->grkl", counts[:, 0], counts[:, 1]).reshape(games, -1, n * n)
  outer = np.ascontiguousarray(outer, np.float32)            # [g, reps, n^2]
  pts, los, his = [], [], []
  for s in range(0, sets, _CHUNK):
    xg, yg = np.moveaxis(x[s:s + _CHUNK], 2, 0), np.moveaxis(y[s:s + _CHUNK], 2, 0)   # [g, b, n]
    c = ((xg[:, :, :, None] > yg[:, :, None, :]) + 0.5 * (xg[:, :, :, None] == yg[:, :, None, :]))  # [g, b, n, n]
    b = c.shape[1]
    flat = np.ascontiguousarray(c.reshape(games, b, n * n), np.float32)   # C order: BLAS
    per_game = np.stack([flat[g] @ outer[g].T for g in range(games)], axis=-1).astype(np.float64) / (n * n)
    point = (c.sum(axis=(2, 3)) / (n * n)).mean(axis=0)
    lo, hi = _percentiles(per_game.mean(axis=-1), ci_size)
    pts.append(point), los.append(lo), his.append(hi)
  return np.concatenate(pts), np.concatenate(los), np.concatenate(his)


def mean_intervals(v: np.ndarray, ci_size: float = CI_SIZE) -> tuple[np.ndarray, np.ndarray]:
  """(ci_low, ci_high) [sets] of the mean of v [sets, n_runs] (one game) under the rule's
  bootstrap: rliable's `metrics.aggregate_mean` over a [runs x 1] matrix."""
  sets, n = v.shape
  counts = bootstrap_counts(n, 1)[:, 0, 0, :]               # [reps, n]
  return _percentiles(v @ counts.T / n, ci_size)


def relative_difference_intervals(b: np.ndarray, a: np.ndarray, ci_size: float = CI_SIZE) -> tuple[np.ndarray, np.ndarray]:
  """(ci_low, ci_high) [sets] of (mean b - mean a) / |mean of both| under the rule's
  bootstrap (`artifact.analysis.claims.curve_equivalence`'s statistic, each condition resampled
  independently); b, a: [sets, n_runs]."""
  sets, n = b.shape
  counts = bootstrap_counts(n, 1, 2)[:, :, 0, :]            # [reps, 2, n]
  mb, ma = b @ counts[:, 0].T / n, a @ counts[:, 1].T / n
  return _percentiles((mb - ma) / np.maximum(np.abs(0.5 * (mb + ma)), 1e-12), ci_size)


# --- the boundary truths --------------------------------------------------------------------------
def margin_splits(margin: float, games: int, step: float = 0.1, max_splits: int = 30) -> list[tuple[float, ...]]:
  """The per-game truths (true P(X > Y) per game, descending) whose average is `margin`: every
  multiset of values on a `step` grid in [0, 1] with that mean when there are at most
  `max_splits` of them, else those with two distinct values (k games at one value, the rest at
  another), always with the even split first. Games are interchangeable here: the averaged
  rules use the same seeds on every game."""
  units = round(1 / step)
  total = round(margin * games * units)
  even = (margin,) * games
  if games == 1:
    return [even]
  alls = [tuple(v / units for v in c) for c in itertools.combinations_with_replacement(range(units, -1, -1), games)
          if sum(c) == total]
  if len(alls) > max_splits:
    alls = [c for c in alls if len(set(c)) <= 2]
  return [even] + [c for c in alls if not np.allclose(c, even)]


def _rank_family(margin: float, games: int) -> list[Law]:
  """Amendment A3's family of truths at a rank rule's boundary: every split of the margin
  (`margin_splits`) crossed with normal scores, SD ratios, opposite skews and within-seed
  correlations; ties at the even split."""
  members = []
  for p in margin_splits(margin, games):
    members.append(Law(p=p))
    members += [Law(p=p, sd_ratio=r) for r in SD_RATIOS]
    members += [Law(p=p, skew=s) for s in RANK_SKEWS]
    members += [Law(p=p, rho=r) for r in RHOS]
  even = (margin,) * games
  members += [Law(p=even, levels=k) for k in TIE_LEVELS]
  return members


def _mean_family() -> list[Law]:
  """Amendment A3's family at C5's margin: both signs, crossed (one factor at a time) with SD
  ratios, skews and within-seed correlations."""
  members = []
  for sign in (1, -1):
    members.append(Law(sign=sign))
    members += [Law(sign=sign, sd_ratio=r) for r in SD_RATIOS]
    members += [Law(sign=sign, skew=s) for s in MEAN_SKEWS]
    members += [Law(sign=sign, rho=r) for r in RHOS]
  return members


def _rng_for(law: Law, *key) -> np.random.Generator:
  """The member's own stream: seeded by SIM_SEED, the member's description and `key`."""
  return np.random.default_rng([SIM_SEED, zlib.crc32(law.describe().encode())] + [int(k) for k in key])


def _normals(rng: np.random.Generator, shape, rho: float) -> tuple[np.ndarray, np.ndarray]:
  """Two standard normal arrays of `shape`, correlated `rho` element by element."""
  z1 = rng.standard_normal(shape)
  z2 = rng.standard_normal(shape)
  return z1, rho * z1 + math.sqrt(1 - rho * rho) * z2


_LOGNORMAL_MEAN, _LOGNORMAL_SD = math.exp(0.5), math.sqrt((math.e - 1) * math.e)


def _right(z: np.ndarray) -> np.ndarray:
  """Standardised lognormal (mean 0, SD 1, skewness 6.2) of standard normals z."""
  return (np.exp(z) - _LOGNORMAL_MEAN) / _LOGNORMAL_SD


def _left(z: np.ndarray) -> np.ndarray:
  """The mirror of `_right`: mean 0, SD 1, skewness -6.2."""
  return -_right(z)


def _same(z: np.ndarray) -> np.ndarray:
  """Standard normals as they are (the normal case)."""
  return z


# Each skew of the families: its (first condition's, second condition's) transform of standard
# normals (x, y for the rank rules; a, b for C5).
_RANK_SKEW_TRANSFORMS = {RANK_SKEWS[0]: (_right, _left), RANK_SKEWS[1]: (_left, _right)}
_MEAN_SKEW_TRANSFORMS = {"": (_same, _same), MEAN_SKEWS[0]: (_right, _right),
                         MEAN_SKEWS[1]: (_left, _left), MEAN_SKEWS[2]: (_right, _left),
                         MEAN_SKEWS[3]: (_left, _right)}


@functools.cache
def _skew_shift(p: float, sd_ratio: float, skew: str) -> float:
  """The shift mu of x = mu + sd_ratio * Tx(z1) against y = Ty(z2) (independent) that makes
  P(X > Y) = p, from 2,000,000 seeded draws (its error in P ~ 0.0004)."""
  rng = np.random.default_rng([SIM_SEED, 1])
  tx, ty = _RANK_SKEW_TRANSFORMS[skew]
  d = sd_ratio * tx(rng.standard_normal(2_000_000)) - ty(rng.standard_normal(2_000_000))
  return float(-np.quantile(d, 1 - p))


@functools.cache
def _tie_shift(p: float, levels: int, sd_ratio: float) -> float:
  """The shift mu of x ~ N(mu, sd_ratio) against y ~ N(0, 1), both cut into `levels` levels at
  the standard normal's 1/levels quantiles, that makes P(X > Y) + P(X = Y) / 2 = p (bisection
  on the exact level probabilities)."""
  cuts = np.array([_STD_NORMAL.inv_cdf(k / levels) for k in range(1, levels)])
  py = np.full(levels, 1 / levels)

  def p_of(mu: float) -> float:
    cdf = np.array([0.0] + [_STD_NORMAL.cdf((c - mu) / sd_ratio) for c in cuts] + [1.0])
    px = np.diff(cdf)
    below = np.concatenate([[0.0], np.cumsum(py)[:-1]])
    return float(np.sum(px * (below + 0.5 * py)))

  lo, hi = -20.0, 20.0
  for _ in range(80):
    mid = 0.5 * (lo + hi)
    lo, hi = (mid, hi) if p_of(mid) < p else (lo, mid)
  return 0.5 * (lo + hi)


def rank_scores(law: Law, n: int, draws: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
  """(x, y) [draws, n, games] float64: scores of two conditions under `law` (a rank rule's truth:
  per game P(X > Y) = law.p[g], ties counted 1/2). A game whose p is 0 or 1 is sure: x far
  below or above every y."""
  games = len(law.p)
  z1, z2 = _normals(rng, (draws, n, games), law.rho)
  if law.levels:
    cuts = np.array([_STD_NORMAL.inv_cdf(k / law.levels) for k in range(1, law.levels)])
    mu = np.array([_tie_shift(q, law.levels, law.sd_ratio) for q in law.p])
    x = np.digitize(mu + law.sd_ratio * z1, cuts).astype(np.float64)
    y = np.digitize(z2, cuts).astype(np.float64)
    return x, y
  if law.skew:
    tx, ty = _RANK_SKEW_TRANSFORMS[law.skew]
    x0, y = law.sd_ratio * tx(z1), ty(z2)
    mu = np.array([0.0 if q in (0.0, 1.0) else _skew_shift(q, law.sd_ratio, law.skew) for q in law.p])
  else:
    x0, y = law.sd_ratio * z1, z2
    scale = math.sqrt(law.sd_ratio ** 2 + 1)
    mu = np.array([0.0 if q in (0.0, 1.0) else scale * _STD_NORMAL.inv_cdf(q) for q in law.p])
  mu = np.where(np.array(law.p) == 1.0, 1e6, np.where(np.array(law.p) == 0.0, -1e6, mu))
  return mu + x0, y


def mean_scores(law: Law, n: int, cv: float, margin: float, draws: int,
                rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
  """(b, a) [draws, n]: curve areas of two conditions under `law` (C5's truth): means
  1 +- margin / 2 (b above a for sign +1), SDs with a pooled variance cv^2 and ratio
  law.sd_ratio (a over b), shapes by law.skew, within-seed correlation law.rho."""
  za, zb = _normals(rng, (draws, n), law.rho)
  sd_b = cv * math.sqrt(2 / (1 + law.sd_ratio ** 2))
  sd_a = law.sd_ratio * sd_b
  ta, tb = _MEAN_SKEW_TRANSFORMS[law.skew]
  mb, ma = 1 + law.sign * margin / 2, 1 - law.sign * margin / 2
  return mb + sd_b * tb(zb), ma + sd_a * ta(za)


# --- rates over a family --------------------------------------------------------------------------
def _rate(hits: np.ndarray, method: str, member: str = "") -> Rate:
  p = float(hits.mean())
  se = math.sqrt(max(p * (1 - p), 0.25 / len(hits)) / len(hits))
  return Rate(p, se, method, member)


def _worst(members: Sequence[Law], hits_of: Callable[[Law, int, int], dict[str, np.ndarray]],
           verdicts: Sequence[str], exact: dict[str, Rate] | None = None) -> dict[str, Rate]:
  """{verdict: Rate}: the largest rate over `members`. hits_of(law, draws, stage) -> {verdict:
  bool [draws]}; every member screened with SCREEN_DRAWS, the TOP_MEMBERS worst per verdict
  drawn again with SIM_DRAWS (stage 1: fresh streams). `exact`: rates of a member computed
  exactly, competing as they are."""
  screened = [(m, hits_of(m, SCREEN_DRAWS, 0)) for m in members]
  full: dict[Law, dict[str, np.ndarray]] = {}
  method = (f"worst of {len(members)} boundary truths (each screened with {SCREEN_DRAWS:,} draws, "
            f"the {TOP_MEMBERS} worst drawn again with {SIM_DRAWS:,}), seed {SIM_SEED}")
  out = {}
  for v in verdicts:
    ranked = sorted(screened, key=lambda t: -float(t[1][v].mean()))[:TOP_MEMBERS]
    best = None
    for m, _ in ranked:
      if m not in full:
        full[m] = hits_of(m, SIM_DRAWS, 1)
      r = _rate(full[m][v], method, m.describe())
      if best is None or r.rate > best.rate:
        best = r
    if exact and v in exact and exact[v].rate >= best.rate:
      best = exact[v]
    out[v] = best
  return out


def _orderings(n: int, games: int) -> tuple[np.ndarray, np.ndarray, int] | None:
  """(x, y, count): every ordering of each game's 2n scores (ranks 0..2n-1) when there are at
  most EXACT_LIMIT in all, as [count, n, games] arrays; None when there are more."""
  total = math.factorial(2 * n) ** games
  if total > EXACT_LIMIT:
    return None
  perms = np.array(list(itertools.permutations(range(2 * n))), np.float64)   # [(2n)!, 2n]
  grids = np.meshgrid(*[np.arange(len(perms))] * games, indexing="ij")
  sel = np.stack([g.ravel() for g in grids], axis=-1)                        # [total, games]
  ranks = perms[sel].transpose(0, 2, 1)                                      # [total, 2n, games]
  return ranks[:, :n], ranks[:, n:], total


class RateCache:
  """Rates by their inputs: in memory, and in a JSON file (`path`, default rate_cache.json beside
  this module, or $PG_SOFTQ_RATE_CACHE) read once and written back atomically when an entry is
  added (silently kept in memory only where the file is not writable). Keys name the rule, its
  inputs, the draws and FAMILY_VERSION."""

  def __init__(self, path: Path | None = None):
    self.path = Path(path or os.environ.get("PG_SOFTQ_RATE_CACHE") or Path(__file__).with_name("rate_cache.json"))
    self._entries: dict[str, dict[str, list]] | None = None
    self.enabled = True

  def _load(self) -> dict[str, dict[str, list]]:
    if self._entries is None:
      try:
        self._entries = json.loads(self.path.read_text())
      except (OSError, ValueError):
        self._entries = {}
    return self._entries

  def get(self, key: str, compute: Callable[[], dict[str, Rate]]) -> dict[str, Rate]:
    """The rates stored under `key`, or `compute()`'s, stored (and written back) first."""
    entries = self._load() if self.enabled else {}
    if key in entries:
      return {v: Rate(*r) for v, r in entries[key].items()}
    value = compute()
    if self.enabled:
      entries[key] = {v: list(r) for v, r in value.items()}
      try:
        atomic_write_text(self.path, json.dumps(entries, indent=0, sort_keys=True) + "\n")
      except OSError:
        pass
    return value


CACHE = RateCache()


def _key(*parts) -> str:
  return "|".join(str(p) for p in parts + (f"draws={SIM_DRAWS}/{SCREEN_DRAWS}/{TOP_MEMBERS}",
                                           f"reps={BOOTSTRAP_REPS}", f"seed={SIM_SEED}", FAMILY_VERSION))


def _rank_rates(kind: str, n: int, games: int, margin: float, ci_size: float) -> dict[str, Rate]:
  """{"supported", "contradicted"}: the family-wide rates of a rank rule. kind "superiority"
  (supported: CI low > margin, contradicted: CI high < margin; margin 0.5) or "noninferiority"
  (supported: CI low >= margin)."""
  def hits_of(law: Law, draws: int, stage: int) -> dict[str, np.ndarray]:
    x, y = rank_scores(law, n, draws, _rng_for(law, n, games, draws, stage))
    _, lo, hi = poi_intervals(x, y, ci_size)
    sup = lo > margin if kind == "superiority" else lo >= margin
    return {"supported": sup, "contradicted": hi < margin}

  exact = None
  if kind == "superiority" and margin == 0.5:
    orderings = _orderings(n, games)
    if orderings is not None:
      x, y, total = orderings
      _, lo, hi = poi_intervals(x, y, ci_size)
      method = f"exact: all {total:,} orderings"
      member = "no difference, exchangeable scores (every ordering equally likely)"
      exact = {"supported": Rate(float((lo > 0.5).mean()), 0.0, method, member),
               "contradicted": Rate(float((hi < 0.5).mean()), 0.0, method, member)}
  return _worst(_rank_family(margin, games), hits_of, ("supported", "contradicted"), exact)


def superiority_rates(n: int, games: int = 1, ci_size: float = CI_SIZE) -> dict[str, Rate]:
  """{"supported": Rate, "contradicted": Rate} of "CI low > 0.5" / "CI high < 0.5" of P(X > Y)
  averaged over `games` games with `n` seeds per condition each, the largest over the family of
  truths with that average at 0.5 (module docstring). NaN rates below 2 seeds (the rule's
  interval is then a point)."""
  if n < 2:
    return {"supported": UNMEASURED, "contradicted": UNMEASURED}
  return CACHE.get(_key("superiority", n, games, ci_size),
                   lambda: _rank_rates("superiority", n, games, 0.5, ci_size))


def noninferiority_rates(n: int, games: int = 1, margin: float = 0.40, ci_size: float = CI_SIZE) -> dict[str, Rate]:
  """{"supported": P(CI low >= margin), "contradicted": P(CI high < margin)} of P(X > Y) averaged
  over `games` games, `n` seeds per condition, the largest over the family of truths whose
  average P(X > Y) is exactly `margin` (every split over the games, spreads, skews, ties,
  correlations). NaN rates below 2 seeds."""
  if n < 2:
    return {"supported": UNMEASURED, "contradicted": UNMEASURED}
  return CACHE.get(_key("noninferiority", n, games, margin, ci_size),
                   lambda: _rank_rates("noninferiority", n, games, margin, ci_size))


def equivalence_rates(n: int, cv: float, margin: float = 0.20, ci_size: float = CI_SIZE) -> dict[str, Rate]:
  """{"equivalent": P(CI inside +-margin), "different": P(CI outside +-margin)} of C5's relative
  difference for one game whose true relative difference is exactly +-margin, `n` seeds per
  condition, the observed seed-to-seed spread `cv` (SD over the grand mean, rounded to 2
  significant digits), the largest over the family (`_mean_family`). NaN rates below 2 seeds
  or for a spread that is not a finite number."""
  if n < 2 or not math.isfinite(float(cv)):
    return {"equivalent": UNMEASURED, "different": UNMEASURED}
  cv = float(f"{float(cv):.2g}")

  def compute():
    def hits_of(law: Law, draws: int, stage: int) -> dict[str, np.ndarray]:
      b, a = mean_scores(law, n, cv, margin, draws, _rng_for(law, n, round(cv * 1e4), draws, stage))
      lo, hi = relative_difference_intervals(b, a, ci_size)
      return {"equivalent": (lo > -margin) & (hi < margin), "different": (lo > margin) | (hi < -margin)}
    return _worst(_mean_family(), hits_of, ("equivalent", "different"))
  return CACHE.get(_key("equivalence", n, cv, margin, ci_size), compute)


def sign_test_threshold(n: int, alpha: float) -> int | None:
  """The fewest of n seeds that must show a positive gain for the exact one-sided sign test at
  level `alpha`: the smallest k with P(Binomial(n, 1/2) >= k) <= alpha; None if even k = n is
  not enough."""
  for k in range(n + 1):
    if binomial_tail(n, k) <= alpha:
      return k
  return None


def binomial_tail(n: int, k: int) -> float:
  """P(Binomial(n, 1/2) >= k), exactly (as a float)."""
  return sum(math.comb(n, j) for j in range(max(k, 0), n + 1)) / 2 ** n if k <= n else 0.0


def sign_test_rate(n: int, alpha: float) -> Rate:
  """The exact rate of C6's per-game "improved" (at least `sign_test_threshold(n, alpha)` of n
  gains positive) when the true P(gain > 0) is 1/2, which bounds it for every law with P(gain >
  0) <= 1/2 (any shape, spread, ties at zero). 1.0 where the test cannot reject at all (then
  "improved" is never said, and the rate is that of a verdict that cannot be reached)."""
  if n < 1:
    return UNMEASURED
  k = sign_test_threshold(n, alpha)
  if k is None:
    return Rate(math.nan, 0.0, f"exact sign test: {n} seeds cannot reach level {alpha:.3g}")
  return Rate(binomial_tail(n, k), 0.0, f"exact sign test: >= {k} of {n} gains > 0 at level {alpha:.3g}",
              "P(gain > 0) = 1/2 (any law: the binomial tail bounds them all)")


# --- combining games, seeds needed ----------------------------------------------------------------
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


def seeds_needed(rate_at: Callable[[int], float], limit: float = MAX_RATE,
                 max_seeds: int | None = None, start: int = 2) -> int | None:
  """The fewest seeds per condition n0 >= start such that rate_at(n) <= limit for every n from
  n0 to `max_seeds` (MAX_SEEDS by default): monotone by construction, although rates at small
  samples are not (rank statistics are discrete). None if even max_seeds fails (the verdict
  cannot be reached by this rule at any seed count searched). Searches downwards from
  max_seeds, so it evaluates only the counts it needs."""
  top = MAX_SEEDS if max_seeds is None else max_seeds
  n0 = None
  for n in range(top, start - 1, -1):
    r = rate_at(n)
    if not (r <= limit):      # NaN (not measured) counts as failing
      break
    n0 = n
  return n0


def describe(rate: Rate) -> str:
  """'0.167 (exact: all 24 orderings)' or '0.072 +- 0.004 at <member> (worst of ...)'."""
  at = f" at {rate.member}" if rate.member else ""
  return (f"{rate.rate:.3g}{at} ({rate.method})" if rate.se == 0 else
          f"{rate.rate:.3g} +- {rate.se:.2g}{at} ({rate.method})")


def check_rliable_draws() -> None:
  """Raises RuntimeError naming the installed rliable version if its stratified bootstrap no
  longer draws the indices `bootstrap_counts` replays (numpy's global RNG, one `choice` per
  matrix per replication), which every rate here assumes: rliable's own interval
  (`artifact.analysis.statistics.interval`) of a fixed pair of score matrices against the
  vectorised replay's."""
  rng = np.random.default_rng(3)
  x, y = rng.standard_normal((4, 2)), rng.standard_normal((4, 2))
  theirs = st.interval([x, y], st.probability_of_improvement)
  _, lo, hi = poi_intervals(x[None], y[None])
  if (theirs[1], theirs[2]) != (float(lo[0]), float(hi[0])):
    raise RuntimeError(f"rliable {getattr(rliable, '__version__', '?')}'s stratified bootstrap no longer "
                       f"draws its indices as rliable {RLIABLE_VERSION} did (CI {theirs[1:]} vs the "
                       f"replay's {(float(lo[0]), float(hi[0]))}); the rates of "
                       "artifact/analysis/error_rates.py replay those draws and must be rederived")
