"""The gate on every decided verdict (docs/decision_rules.md, amendments A2 and A3).

A claim rule of `artifact.analysis.claims` returns the pre-registered rule's verdict and a `Gate`:
the rule's wrong-verdict rates at the sample it was applied to, each the largest over the
declared family of truths on that verdict's boundary (`artifact.analysis.error_rates`), and how
the rates change with the seeds per condition. `apply_gate` keeps a decided verdict only where
its rate is at most `error_rates.MAX_RATE` (5%); it writes both rates, their Monte-Carlo SEs and
least favourable truths, and for each verdict the fewest seeds per condition from which every
larger count up to `error_rates.MAX_SEEDS` (20) keeps it within 5% (`error_rates.seeds_needed`),
or that no count does: such a verdict "cannot be decided by this rule".

Interval sizes (amendment A3): every bootstrap interval a rule decides on is `RANK_CI` (97.5%)
wide; a rule that judges games one by one and combines them (C1, C4, C5) uses 1 - 0.025 / g per
game over its g games (`per_game_ci`, Bonferroni); C6's per-game sign test runs at 0.05 / g.
"""
from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence

import numpy as np

from artifact.analysis import error_rates as er

SUPPORTED, CONTRADICTED, INCONCLUSIVE, UNDECIDABLE, NOT_RUN = (
    "supported", "contradicted", "inconclusive at this scale", "cannot be decided by this rule", "not run")
RANK_CI = 0.975        # interval size of every rule's bootstrap CI (amendment A3)
SIGN_ALPHA = 0.05      # C6's sign tests: one-sided level over all games (0.05 / g per game)


def per_game_ci(games: int) -> float:
  """The per-game interval size of a rule over `games` games that judges each (Bonferroni):
  1 - (1 - RANK_CI) / games (97.5% for one game, 98.75% for two)."""
  return 1 - (1 - RANK_CI) / max(games, 1)


@dataclasses.dataclass
class Gate:
  """A rule's wrong-verdict rates at its sample: `rates` {SUPPORTED: Rate, CONTRADICTED: Rate}
  (error_rates.Rate: rate, SE, method, least favourable truth); `at_seeds(verdict, n)` the rate
  of `verdict` with n seeds per condition on every game (NaN where not measured or where the
  rule cannot say it at n); `seeds`: per game, the seeds per condition behind `rates`."""
  rates: dict[str, er.Rate]
  at_seeds: Callable[[str, int], float]
  seeds: Sequence[int] = ()


def _union(rates: Sequence[er.Rate], games: Sequence[str]) -> er.Rate:
  """The rate that at least one of independent per-game events happens: 1 - prod(1 - r)."""
  p = 1 - float(np.prod([1 - r.rate for r in rates]))
  se = math.sqrt(sum(r.se ** 2 for r in rates))
  member = "every game at the boundary: " + "; ".join(f"{g}: {r.member}" for g, r in zip(games, rates))
  return er.Rate(p, se, "; ".join(dict.fromkeys(r.method for r in rates)), member)


def _largest(rates: Sequence[er.Rate], games: Sequence[str]) -> er.Rate:
  """The largest per-game rate: one game at the boundary, the others surely past it."""
  j = int(np.argmax([r.rate for r in rates]))
  member = f"{games[j]} at {rates[j].member}" + (", the other game(s) surely past the boundary" if len(games) > 1 else "")
  return er.Rate(rates[j].rate, rates[j].se, rates[j].method, member)


def averaged_gate(n: int, games: int) -> Gate:
  """C2, C3: superiority of P(X > Y) averaged over `games` games with `n` common seeds, at
  RANK_CI: the family's rates (every split of 0.5 over the games, spreads, skews, ties,
  correlations)."""
  def rates(k: int) -> dict[str, er.Rate]:
    r = er.superiority_rates(k, games, RANK_CI)
    return {SUPPORTED: r["supported"], CONTRADICTED: r["contradicted"]}
  return Gate(rates(n), lambda verdict, k: rates(k)[verdict].rate, [n] * games)


def per_game_gate(kind: str, ns: Sequence[int], games: Sequence[str], claimed: Sequence[str],
                  margin: float) -> Gate:
  """C1 (kind "noninferiority", claimed "supported" everywhere, margin 0.40) and C4 (kind
  "superiority", claimed "supported" where x should be better, "contradicted" where worse):
  per game the family's rates at per_game_ci(g); supported (every game in the claimed
  direction) is wrong at worst when one game sits on the boundary and the others are surely
  past it (the largest per-game rate); contradicted (some game significantly opposite) when
  every game sits on it (1 - prod(1 - r))."""
  ci = per_game_ci(len(games))

  def per(k: int) -> dict[str, er.Rate]:
    return (er.noninferiority_rates(k, 1, margin, ci) if kind == "noninferiority" else
            er.superiority_rates(k, 1, ci))

  def rates(ks: Sequence[int]) -> dict[str, er.Rate]:
    each = [per(k) for k in ks]
    other = {"supported": "contradicted", "contradicted": "supported"}
    return {SUPPORTED: _largest([e[c] for e, c in zip(each, claimed)], games),
            CONTRADICTED: _union([e[other[c]] for e, c in zip(each, claimed)], games)}
  return Gate(rates(ns), lambda verdict, k: rates([k] * len(games))[verdict].rate, list(ns))


def c5_gate(ns: Sequence[int], cvs: Sequence[float], margin: float) -> Gate:
  """C5's rates from each game's seeds and observed spread, intervals at per_game_ci(g):
  "supported" (more than half the games equivalent) is wrong at worst when half the games
  (rounded down) are surely equivalent and the others sit exactly at the margin; "contradicted"
  (at least half different) when just over half sit at the margin and the others are surely
  different (`error_rates.counted_rate`)."""
  g = len(ns)
  ci = per_game_ci(g)

  def rates(ks: Sequence[int]) -> dict[str, er.Rate]:
    per = [er.equivalence_rates(k, cv, margin, ci) for k, cv in zip(ks, cvs)]
    out = {}
    for verdict, key, need, sure in ((SUPPORTED, "equivalent", g // 2 + 1, g // 2),
                                     (CONTRADICTED, "different", math.ceil(g / 2), g - g // 2 - 1)):
      rs = [p[key] for p in per]
      rate = er.counted_rate([r.rate for r in rs], g, need, sure)
      worst = max(rs, key=lambda r: r.rate)
      out[verdict] = er.Rate(rate, max(r.se for r in rs), "; ".join(dict.fromkeys(r.method for r in rs)),
                             f"{g - sure} of {g} game(s) at the margin ({worst.member}), the rest surely "
                             f"{'equivalent' if verdict == SUPPORTED else 'different'}")
    return out
  return Gate(rates(ns), lambda verdict, k: rates([k] * g)[verdict].rate, list(ns))


def c6_gate(ns: Sequence[int], by_pg: bool) -> Gate:
  """C6's rates: the per-game sign test's exact rate at SIGN_ALPHA / g (`error_rates.sign_test_rate`),
  combined over games as `c5_gate` does; a contradiction by collapsed runs alone (`by_pg`
  False) has no measured rate (NaN: it cannot be decided by this rule)."""
  g = len(ns)
  alpha = SIGN_ALPHA / g

  def rates(ks: Sequence[int]) -> dict[str, er.Rate]:
    per = [er.sign_test_rate(k, alpha) for k in ks]
    method = "; ".join(dict.fromkeys(p.method for p in per))
    if any(math.isnan(p.rate) for p in per):
      sup = con = er.Rate(math.nan, 0.0, method, "a sign test that cannot reject at these seeds")
    else:
      sup = er.Rate(er.counted_rate([p.rate for p in per], g, g // 2 + 1, g // 2), 0.0, method,
                    f"P(gain > 0) = 1/2 in {g - g // 2} of {g} game(s), the rest surely improving")
      con = er.Rate(er.counted_rate([p.rate for p in per], g, math.ceil(g / 2), g - g // 2 - 1), 0.0, method,
                    f"P(gain > 0) = 1/2 in {g // 2 + 1} of {g} game(s) (the claim just holds), the rest surely not improving")
    if not by_pg:
      con = er.Rate(math.nan, 0.0, "not modelled", "a contradiction by collapsed runs alone: how often a "
                    "stable learner's runs read as collapsed is not modelled")
    return {SUPPORTED: sup, CONTRADICTED: con}
  return Gate(rates(ns), lambda verdict, k: rates([k] * g)[verdict].rate, list(ns))


def _sig(x: float) -> float:
  """`x` to 6 significant digits (a Monte-Carlo rate has 2-3 meaningful ones; the rest is noise)."""
  return x if math.isnan(x) else float(f"{x:.6g}")


def _seeds_text(seeds: Sequence[int]) -> str:
  lo, hi = min(seeds), max(seeds)
  return str(lo) if lo == hi else f"{lo}-{hi}"


def _reach_text(verdict: str, n0: int | None, measured: bool) -> str:
  if not measured:
    return f"'{verdict}' cannot be decided by this rule (its rate is not measured)"
  if n0 is None:
    return (f"'{verdict}' cannot be decided by this rule (above {er.MAX_RATE:.0%} at {er.MAX_SEEDS} seeds "
            "per condition)")
  return f"'{verdict}' from {n0} seeds per condition (every count from {n0} to {er.MAX_SEEDS} within {er.MAX_RATE:.0%})"


def apply_gate(v, gate: Gate | None):
  """Applies amendments A2/A3 to the pre-registered rule's verdict `v` (a claims.Verdict; the
  rule's own verdict kept in `rule_verdict`): rates, SEs and least favourable truths of both
  verdicts, seeds needed for each, and a decided verdict above MAX_RATE made INCONCLUSIVE, or
  UNDECIDABLE where no seed count up to MAX_SEEDS brings it within MAX_RATE. An undecided
  verdict for which neither verdict can ever be reached is UNDECIDABLE as well."""
  v.rule_verdict = v.verdict
  if gate is None:
    return v
  sup, con = gate.rates[SUPPORTED], gate.rates[CONTRADICTED]
  v.rate_supported, v.se_supported, v.member_supported = _sig(sup.rate), _sig(sup.se), sup.member
  v.rate_contradicted, v.se_contradicted, v.member_contradicted = _sig(con.rate), _sig(con.se), con.member
  v.rate_method = "; ".join(dict.fromkeys(m for m in (sup.method, con.method) if m))
  reach, texts = {}, []
  start = 2
  for verdict, r in ((SUPPORTED, sup), (CONTRADICTED, con)):
    measured = r.method != "not modelled"
    n0 = er.seeds_needed(lambda k, d=verdict: gate.at_seeds(d, k), start=start) if measured else None
    reach[verdict] = n0
    texts.append(_reach_text(verdict, n0, measured))
    setattr(v, f"seeds_for_{verdict}", float(n0) if n0 is not None else (-1.0 if measured else math.nan))
  v.decidable = "; ".join(texts)
  if v.verdict not in (SUPPORTED, CONTRADICTED):
    if reach[SUPPORTED] is None and reach[CONTRADICTED] is None:
      v.verdict = UNDECIDABLE
      v.reason = f"neither verdict can be reached ({v.decidable}). Rule: {v.reason}"
    return v
  r = sup if v.verdict == SUPPORTED else con
  v.error_rate, v.error_se, v.worst_member = _sig(r.rate), _sig(r.se), r.member
  if r.rate <= er.MAX_RATE:
    return v
  said = v.verdict
  v.verdict = UNDECIDABLE if reach[said] is None else INCONCLUSIVE
  if math.isnan(r.rate):
    why = f"its rate of a wrong '{said}' is not measured ({r.member})"
  else:
    why = (f"at {_seeds_text(gate.seeds)} seeds per condition it says '{said}' wrongly with probability "
           f"{er.describe(r)}")
  v.reason = (f"amendments A2/A3: the pre-registered rule says {said}, but {why}; "
              f"{_reach_text(said, reach[said], not math.isnan(r.rate))}. Rule: {v.reason}")
  return v
