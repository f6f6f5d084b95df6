"""A verdict on each of the paper's claims (Sec. 6), by the rules of docs/decision_rules.md.

The claims and the conditions each compares are declared in the registry, in their figure's spec
(`artifact.experiment.registry.FigureSpec.claims`, a `ClaimSpec` each); `judge` goes through them
figure by figure. Each claim's rule (`RULES`, by claim id) is a small function from the figure's
final scores and long progress frame to a `Verdict` and its `gate.Gate`: the statistic, its
bootstrap CI (rliable stratified bootstrap, `artifact.analysis.statistics.interval`), the seeds
and frames behind it, one of SUPPORTED / CONTRADICTED / INCONCLUSIVE / NOT_RUN, and the rule's
wrong-verdict rates. Every rule is named by what it tests (`noninferiority`, `superiority`,
`per_game_direction`, `curve_equivalence`, `stability`) and opens with the same steps, done once
by `_rule`: the games run with enough seeds, the games that count (amendment A1), and the
verdict where the data decide it before any statistic. The rules and margins are constants here,
named as in the doc; a claim the data cannot decide is inconclusive, never forced.

Amendment A1 (2026-11-30): a game counts for a claim only where the runs of at least one of the
compared conditions have left random play (`left_random_play`, `split_by_learning`).
Amendments A2 (2026-12-03) and A3 (2026-12-07): a decided verdict stands only where its
wrong-verdict rate, the largest over a declared family of boundary truths, is at most 5%
(`artifact.analysis.gate`, `artifact.analysis.error_rates`); A3 also restates C1 (per game), C4
and C5 (per-game intervals at 1 - 0.025 / g) and C6 (a per-game sign test) so that each verdict
can be reached, and widens every interval to 97.5%.

The reports: `artifact.analysis.claims_report` (claims.csv, claims.md).
"""
from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
from rliable import metrics

from artifact.analysis import error_rates as er
from artifact.analysis import gate as gt
from artifact.analysis.atari_scores import (
  DQN_NATURE,
  HUMAN,
  RANDOM,
  has_reference,
  human_normalized,
)
from artifact.analysis.gate import CONTRADICTED, INCONCLUSIVE, NOT_RUN, SUPPORTED, UNDECIDABLE
from artifact.analysis.statistics import (
  FINAL_EVALS,
  final_scores,
  interval,
  probability_of_improvement,
  score_matrix,
)
from artifact.experiment.registry import FIGURES, ClaimSpec

__all__ = ["SUPPORTED", "CONTRADICTED", "INCONCLUSIVE", "UNDECIDABLE", "NOT_RUN", "Verdict", "judge",
           "RULES", "random_play_threshold", "left_random_play", "DQN_NATURE"]

MIN_SEEDS = 2                 # seeds per condition for a game to count as "run"
C1_NONINFERIORITY = 0.40      # P(proper > naive) CI low must reach this, on every game (A3)
C5_EQUIVALENCE = 0.20         # +-20% relative difference of the HNS area under the eval curve
C4_BETTER_GAMES = ("Pong", "Qbert")
COLLAPSE_GIVEBACK = 0.5       # final score gave back more than half of first -> best gain

# --- Amendment A1 (2026-11-30): a game counts only where the claim's runs left random play -------
# Nature DQN's scores: `artifact.analysis.atari_scores.DQN_NATURE` (Mnih et al. 2015, Extended
# Data Table 2, "DQN" column).
LEFT_RANDOM_MARGIN = 0.05     # of the way from random play to min(human, Nature DQN)


@dataclasses.dataclass
class Verdict:
  """One claim's verdict: a row of claims.csv (these fields, in this order).

  claim "C1".."C6"; figure; text (the claim); statistic (what point/CI are); point, ci_low,
  ci_high (the statistic and its bootstrap CI, 97.5% or the per-game size of amendment A3, or
  for C6 the mean gain's; NaN if none); seeds (seeds per condition behind the point); games (the
  games that count, comma-separated); frames (the fewest frames of a compared run, emulator
  frames); verdict (SUPPORTED / CONTRADICTED / INCONCLUSIVE / UNDECIDABLE / NOT_RUN, after the
  gate); reason; excluded (games run but not counted by amendment A1, each with its reason);
  rule_verdict (what the rule returned before the gate); rate_supported, se_supported,
  member_supported and the same for contradicted (each verdict's wrong-verdict rate at this
  sample, the largest over the family of boundary truths, its Monte-Carlo SE, 0 when exact, and
  the least favourable truth; NaN where not measured); error_rate, error_se, worst_member (those
  of rule_verdict; NaN / "" unless it is decided); rate_method; seeds_for_supported,
  seeds_for_contradicted (the fewest seeds per condition from which every count up to
  error_rates.MAX_SEEDS keeps that verdict's rate within 5%; -1: no count does, the verdict
  cannot be decided by this rule; NaN: not measured); decidable (the same in words); cpu_kinds
  (per game, the CPU kinds each compared condition's runs were trained on); cpu_summary (per
  game, how many kinds each condition used and whether they overlap); cpu_confounded (games where
  each condition's runs share one CPU kind and the kinds differ between conditions).
  """
  claim: str
  figure: int
  text: str
  statistic: str
  point: float = math.nan
  ci_low: float = math.nan
  ci_high: float = math.nan
  seeds: int = 0
  games: str = ""
  frames: int = 0
  verdict: str = NOT_RUN
  reason: str = ""
  excluded: str = ""
  rule_verdict: str = NOT_RUN
  rate_supported: float = math.nan
  se_supported: float = math.nan
  member_supported: str = ""
  rate_contradicted: float = math.nan
  se_contradicted: float = math.nan
  member_contradicted: str = ""
  error_rate: float = math.nan
  error_se: float = math.nan
  worst_member: str = ""
  rate_method: str = ""
  seeds_for_supported: float = math.nan
  seeds_for_contradicted: float = math.nan
  decidable: str = ""
  cpu_kinds: str = ""
  cpu_summary: str = ""
  cpu_confounded: str = ""


def random_play_threshold(game: str) -> float:
  """The score a run's full-game score must reach to have left random play (amendment A1):
  random + LEFT_RANDOM_MARGIN * (min(human, Nature DQN) - random). NaN for a game without
  reference scores (whether it left random play cannot be told)."""
  if not has_reference(game):
    return math.nan
  top = min(HUMAN[game], DQN_NATURE.get(game, HUMAN[game]))
  return RANDOM[game] + LEFT_RANDOM_MARGIN * (top - RANDOM[game])


def left_random_play(game: str, score: float) -> bool:
  """True iff `score` (a full-game score) reaches the game's random-play threshold (>=)."""
  t = random_play_threshold(game)
  if score is None or math.isnan(t) or math.isnan(score):
    return False
  return bool(score >= t)


def full_game_scores(df: pd.DataFrame | None, finals: pd.DataFrame) -> pd.DataFrame:
  """One row per run of `finals`: its full-game score and whether it left random play.

  The full-game score is the run's final score (mean of its last FINAL_EVALS evaluations) when no
  game of those evaluations was stopped by the frame cap; otherwise its last training return (the
  mean of its last <= 100 finished training games), because a game cut by the cap is not a whole
  game and the random-play reference is (at smoke scale's 500-frame cap a random Pong policy
  scores about -3, far above the full-game -20.7); NaN (not left) if no training game finished.
  Columns: game, condition, seed, score, source ("evaluation", "training", "none"), left."""
  rows = []
  for r in finals.itertuples(index=False):
    score, source = r.final_score, "evaluation"
    if df is not None and len(df):
      run = df[(df.game == r.game) & (df.condition == r.condition) & (df.seed == r.seed)]
      run = run.sort_values("frames")
      ev = run[run["eval_return"].notna()].tail(FINAL_EVALS)
      cut = (pd.to_numeric(ev["eval_truncated"], errors="coerce").fillna(0).sum()
             if "eval_truncated" in ev else 0)
      if cut > 0:
        train = (pd.to_numeric(run["train_return"], errors="coerce").dropna()
                 if "train_return" in run else pd.Series(dtype=float))
        score, source = (float(train.iloc[-1]), "training") if len(train) else (math.nan, "none")
    rows.append(dict(game=r.game, condition=r.condition, seed=int(r.seed), score=score, source=source,
                     left=left_random_play(r.game, score)))
  return pd.DataFrame(rows, columns=["game", "condition", "seed", "score", "source", "left"])


def split_by_learning(df: pd.DataFrame | None, finals: pd.DataFrame, games: Sequence[str],
                      conditions: Sequence[str]) -> tuple[list[str], dict[str, str]]:
  """(counted, excluded) of amendment A1: a game counts iff, for at least one of `conditions`,
  more than half of its seeds on that game left random play. `excluded`: {game: reason}."""
  levels = full_game_scores(df, finals[finals.game.isin(games) & finals.condition.isin(conditions)])
  counted, excluded = [], {}
  for g in games:
    t = random_play_threshold(g)
    if math.isnan(t):
      excluded[g] = "no random/human reference scores, so leaving random play cannot be told"
      continue
    parts, learned = [], False
    for c in conditions:
      lv = levels[(levels.game == g) & (levels.condition == c)]
      if lv.empty:
        continue
      n_left = int(lv.left.sum())
      learned |= n_left > len(lv) / 2
      note = []
      n_train, n_none = int((lv.source == "training").sum()), int((lv.source == "none").sum())
      if n_train:
        note.append(f"{n_train} scored by training games: evaluations cut by the frame cap")
      if n_none:
        note.append(f"{n_none} without a full-game score: evaluations cut by the frame cap and no "
                    "training game finished")
      parts.append(f"{c} {n_left}/{len(lv)} seeds" + (f" ({'; '.join(note)})" if note else ""))
    if learned:
      counted.append(g)
    else:
      excluded[g] = (f"no condition's runs left random play (a majority of seeds at or above "
                     f"{t:.6g}): " + ", ".join(parts))
  return counted, excluded


def _excluded_text(excluded: dict[str, str]) -> str:
  return "; ".join(f"{g}: {why}" for g, why in excluded.items())


def _with_excluded(v: Verdict, excluded: dict[str, str]) -> Verdict:
  v.excluded = _excluded_text(excluded)
  if excluded:
    v.reason += f"; not counted (runs at random play, amendment A1): {', '.join(excluded)}"
  return v


def _games_run(finals: pd.DataFrame, conditions: Sequence[str]) -> list[str]:
  """Games where every condition has >= MIN_SEEDS seeds with a final score."""
  out = []
  for g in sorted(set(finals.game)):
    if all((finals[(finals.game == g) & (finals.condition == c)].seed.nunique() >= MIN_SEEDS)
           for c in conditions):
      out.append(g)
  return out


def _counted_games(claim: ClaimSpec, figure: int, finals: pd.DataFrame, df: pd.DataFrame,
                   conditions: Sequence[str], statistic: str) -> tuple[Verdict, list[str] | None, dict[str, str]]:
  """The steps every rule opens with: (verdict, games that count, excluded). `games` is None
  when the data decide the verdict before any statistic: NOT_RUN (a condition has no finished
  evaluation), INCONCLUSIVE (fewer than MIN_SEEDS seeds per condition on every game, or no
  game counts by amendment A1); the verdict then says why."""
  v = Verdict(claim.id, figure, claim.text, statistic)
  games = _games_run(finals, conditions)
  if not games:
    absent = [c for c in conditions if c not in set(finals.condition)]
    if absent:
      v.verdict, v.reason = NOT_RUN, f"condition(s) {', '.join(absent)} not run"
    else:
      v.verdict, v.reason = INCONCLUSIVE, f"fewer than {MIN_SEEDS} seeds per condition on every game"
    return v, None, {}
  games, excluded = split_by_learning(df, finals, games, list(claim.evidence))
  if not games:
    v.verdict = INCONCLUSIVE
    v.excluded = _excluded_text(excluded)
    v.reason = ("no game counts: on every game run, no compared condition's runs left random play "
                "(amendment A1)")
    return v, None, excluded
  v.games = ",".join(games)
  v.frames = int(finals[finals.condition.isin(conditions)].frames.min())
  return v, games, excluded


Rule = Callable[[ClaimSpec, int, pd.DataFrame, pd.DataFrame], tuple[Verdict, gt.Gate | None]]
Test = Callable[[Verdict, ClaimSpec, list[str], pd.DataFrame, pd.DataFrame], gt.Gate | None]


def _rule(statistic: str) -> Callable[[Test], Rule]:
  """Makes a claim's test into a rule of `RULES`: rule(claim, figure, finals, progress) ->
  (Verdict by the rule, its Gate or None). The rule does the steps every test shares: a Verdict
  with `statistic` (what point/CI are; {0}, {1} stand for the claim's conditions), the games
  that count (`_counted_games` on the claim's conditions), the verdict returned there when the
  data decide it before any statistic; then `test(v, claim, games, finals, progress)`, which
  sets v's statistic, seeds, verdict and reason and returns the rule's Gate (None where none
  applies); then the games not counted (`_with_excluded`)."""
  def wrap(test: Test) -> Rule:
    @functools.wraps(test)
    def rule(claim: ClaimSpec, figure: int, finals: pd.DataFrame, df: pd.DataFrame):
      conditions = list(claim.conditions)
      v, games, excluded = _counted_games(claim, figure, finals, df, conditions,
                                          statistic.format(*conditions))
      if games is None:
        return v, None
      gate = test(v, claim, games, finals, df)
      return _with_excluded(v, excluded), gate
    return rule
  return wrap


def _zero_width_note(v: Verdict, mats: dict[str, np.ndarray], x: str, y: str,
                     games: Sequence[str]) -> str:
  """A reading aid, not a rule: why a P(x > y) interval can have zero width. P is 1 (0) only when
  on every game each seed of x scored above (below) each seed of y; every resample of those seeds
  (rliable's stratified bootstrap) keeps that order, so the CI is then [1, 1] ([0, 0]) whatever
  the size of the gap. "" unless P is 1 or 0; else the note, with the per-seed final scores
  ([seeds x games] in `mats`)."""
  if v.point not in (0.0, 1.0):
    return ""
  high, low = (x, y) if v.point == 1.0 else (y, x)

  def seed_scores(c: str, j: int) -> str:
    return f"{c} " + ", ".join(f"{s:.3g}" for s in mats[c][:, j])

  per_game = "; ".join(f"{g}: {seed_scores(x, j)}, {seed_scores(y, j)}" for j, g in enumerate(games))
  return (f". The CI has zero width: on every game, each of the {v.seeds} seeds of {high} "
          f"scored above each seed of {low}, so every bootstrap resample of the seeds gives "
          f"P = {v.point:.3g}; this says the seeds do not overlap, not how large or how certain the "
          f"difference is (final scores per seed, {per_game})")


def _superiority(lo, hi):
  return SUPPORTED if lo > 0.5 else CONTRADICTED if hi < 0.5 else None


def _per_game_poi(finals: pd.DataFrame, x: str, y: str, games: Sequence[str], ci: float):
  """[(game, P(x > y), ci_low, ci_high, seeds, mats)] per game, each on that game's own seeds
  (sorted by seed), intervals of size `ci`."""
  out = []
  for g in games:
    mats, seeds = score_matrix(finals, [x, y], [g], column="final_score")
    p, lo, hi = interval([mats[x], mats[y]], probability_of_improvement, ci)
    out.append((g, p, lo, hi, len(seeds), mats))
  return out


@_rule("per game P({0} > {1}) on final scores; point/CI: the least favourable game")
def noninferiority(v: Verdict, claim: ClaimSpec, games: list[str], finals, df) -> gt.Gate:
  """C1 (as restated by amendment A3): per game, non-inferiority of x (proper) to y (naive):
  P(x > y) on final scores with its per_game_ci(g) interval; supported if on every game that
  counts CI low >= C1_NONINFERIORITY, contradicted if on some game CI high < it (rates:
  `gate.per_game_gate`). The pre-registered rule averaged P over the games; under uneven splits
  of the margin over two games it cannot be decided at 20 seeds (docs/decision_rules.md, A3)."""
  x, y = claim.conditions
  m = C1_NONINFERIORITY
  ci = gt.per_game_ci(len(games))
  per = _per_game_poi(finals, x, y, games, ci)
  worst = min(per, key=lambda r: r[2])
  _, v.point, v.ci_low, v.ci_high, v.seeds, mats = worst
  ok = sum(r[2] >= m for r in per)
  bad = sum(r[3] < m for r in per)
  v.verdict = CONTRADICTED if bad else SUPPORTED if ok == len(per) else INCONCLUSIVE
  v.reason = (f"non-inferiority per game at margin {m} ({ci:.4g} intervals): supported if every game's CI "
              f"low >= {m}, contradicted if some game's CI high < {m}: "
              + "; ".join(f"{g} {p:.2f} [{lo:.2f}, {hi:.2f}] ({n} seeds)" for g, p, lo, hi, n, _ in per)
              + _zero_width_note(v, mats, x, y, [worst[0]]))
  return gt.per_game_gate("noninferiority", [r[4] for r in per], games, ["supported"] * len(games), m)


@_rule("P({0} > {1}) on final scores, averaged over the games that count")
def superiority(v: Verdict, claim: ClaimSpec, games: list[str], finals, df) -> gt.Gate:
  """C2, C3: superiority of x over y: P(x > y) on final scores averaged over the games that
  count (rliable's probability of improvement, `gate.RANK_CI` interval), supported if its CI low
  > 0.5, contradicted if its CI high < 0.5 (rates: `gate.averaged_gate`)."""
  x, y = claim.conditions
  mats, seeds = score_matrix(finals, [x, y], games, column="final_score")
  v.point, v.ci_low, v.ci_high = interval([mats[x], mats[y]], probability_of_improvement, gt.RANK_CI)
  v.seeds = len(seeds)
  v.verdict = _superiority(v.ci_low, v.ci_high) or INCONCLUSIVE
  v.reason = (f"superiority of {x} over {y} ({gt.RANK_CI:.1%} interval): supported if CI low > 0.5, "
              f"contradicted if CI high < 0.5" + _zero_width_note(v, mats, x, y, games))
  return gt.averaged_gate(len(seeds), len(games))


@_rule("per game P({0} > {1}); point/CI: the game farthest from the claim")
def per_game_direction(v: Verdict, claim: ClaimSpec, games: list[str], finals, df) -> gt.Gate:
  """C4: per game P(x > y) on final scores with its per_game_ci(g) interval (amendment A3), x
  (n-step) better on C4_BETTER_GAMES and worse elsewhere: supported if every game that counts
  shows the claimed direction (CI beyond 0.5), contradicted if one shows the opposite (rates:
  `gate.per_game_gate`). The reason names which of the claim's games were run."""
  x, y = claim.conditions
  ci = gt.per_game_ci(len(games))
  agree, oppose, parts, worst = 0, 0, [], None
  per = _per_game_poi(finals, x, y, games, ci)
  for g, p, lo, hi, n, _ in per:
    better = g in C4_BETTER_GAMES
    agree += lo > 0.5 if better else hi < 0.5
    oppose += hi < 0.5 if better else lo > 0.5
    parts.append(f"{g} {p:.2f} [{lo:.2f}, {hi:.2f}] ({n} seeds; claim: {'better' if better else 'worse'})")
    margin = (p - 0.5) if better else (0.5 - p)
    if worst is None or margin < worst[0]:
      worst = (margin, p, lo, hi, n)
  _, v.point, v.ci_low, v.ci_high, v.seeds = worst
  v.verdict = CONTRADICTED if oppose else SUPPORTED if agree == len(games) else INCONCLUSIVE
  named = [g for g in C4_BETTER_GAMES if g in games]
  v.reason = (f"per game ({ci:.4g} intervals): " + "; ".join(parts)
              + f". Games run of the claim's better-for-n-step games ({', '.join(C4_BETTER_GAMES)}): "
              + (", ".join(named) if named else "none, so only its 'worse on the others' half is tested"))
  claimed = ["supported" if g in C4_BETTER_GAMES else "contradicted" for g in games]
  return gt.per_game_gate("superiority", [r[4] for r in per],
                          games, claimed, 0.5)


def _auc_hns(df, cond, game, seeds):
  """[seeds x 1] mean HNS over the evaluation points every run of (cond, game) has."""
  ev = df[(df.condition == cond) & (df.game == game) & df.eval_return.notna()]
  points = sorted(set.intersection(*[set(g.frames) for _, g in ev.groupby("seed")]))
  out = []
  for s in seeds:
    e = ev[ev.seed == s].set_index("frames")["eval_return"]
    out.append([np.mean([human_normalized(game, e[p]) for p in points])])
  return np.array(out, np.float64).reshape(len(out), 1)


def _spread(a: np.ndarray, b: np.ndarray) -> float:
  """The seed-to-seed SD of the two conditions' areas (pooled, ddof 1) over |their grand mean|."""
  sd = math.sqrt(0.5 * (np.var(a, ddof=1) + np.var(b, ddof=1))) if min(len(a), len(b)) > 1 else math.nan
  return sd / max(abs(0.5 * (a.mean() + b.mean())), 1e-12)


@_rule("per game relative difference of HNS area under the eval curve, ({1} - {0}) / mean; "
       "point/CI: the least favourable game")
def curve_equivalence(v: Verdict, claim: ClaimSpec, games: list[str], finals, df) -> gt.Gate | None:
  """C5: equivalence of the curves of a (pg) and b (soft_ql): per game (b - a) / mean of the
  areas under the human-normalized evaluation curve (`_auc_hns`) with its per_game_ci(g)
  interval (amendment A3), "equivalent" when it lies inside +-C5_EQUIVALENCE, "different" when
  outside; supported if more than half the games with reference scores are equivalent,
  contradicted if at least half differ (rates: `gate.c5_gate`). Point/CI: the game whose
  interval reaches farthest from 0. No Gate when no game has reference scores."""
  a, b = claim.conditions
  m = C5_EQUIVALENCE
  ref_games = [g for g in games if has_reference(g)]
  ci = gt.per_game_ci(len(ref_games))
  rel = lambda x, y: (x.mean() - y.mean()) / max(abs(0.5 * (x.mean() + y.mean())), 1e-12)  # noqa: E731
  results, parts, cvs = [], [], []
  for g in ref_games:
    _, seeds = score_matrix(finals, [a, b], [g])
    auc_b, auc_a = _auc_hns(df, b, g, seeds), _auc_hns(df, a, g, seeds)
    p, lo, hi = interval([auc_b, auc_a], rel, ci)
    state = "equivalent" if (lo > -m and hi < m) else "different" if (lo > m or hi < -m) else "undecided"
    results.append((p, lo, hi, len(seeds), state))
    cvs.append(_spread(auc_a[:, 0], auc_b[:, 0]))
    parts.append(f"{g} {p:+.2f} [{lo:+.2f}, {hi:+.2f}] {state} ({len(seeds)} seeds, seed-to-seed SD "
                 f"{cvs[-1]:.2f} x mean)")
  if not results:
    v.verdict, v.reason = INCONCLUSIVE, "no game with human/random reference scores"
    return None
  v.point, v.ci_low, v.ci_high, v.seeds, _ = max(results, key=lambda r: max(abs(r[1]), abs(r[2])))
  n_eq = sum(r[4] == "equivalent" for r in results)
  n_diff = sum(r[4] == "different" for r in results)
  v.verdict = (SUPPORTED if n_eq > len(results) / 2 else
               CONTRADICTED if n_diff >= len(results) / 2 else INCONCLUSIVE)
  v.reason = f"equivalence margin +-{m:.0%} ({ci:.4g} intervals): " + "; ".join(parts)
  return gt.c5_gate([r[3] for r in results], cvs, m)


def _sign_test(gains: np.ndarray, alpha: float) -> tuple[bool, bool, int]:
  """(improved, not_improved, k): the exact one-sided sign tests of C6 (amendment A3) on one
  game's gains: improved if at least k of n are > 0, not improved if at least k are <= 0, k =
  error_rates.sign_test_threshold(n, alpha) (neither when no k reaches alpha)."""
  n = len(gains)
  k = er.sign_test_threshold(n, alpha)
  if k is None:
    return False, False, n + 1
  return bool((gains > 0).sum() >= k), bool((gains <= 0).sum() >= k), k


@_rule("per game sign test of {0}'s gain from its first evaluation to its final score; "
       "point/CI: the mean gain (HNS) of the least favourable game")
def stability(v: Verdict, claim: ClaimSpec, games: list[str], finals, df) -> gt.Gate:
  """C6: stability of the claim's one condition c (soft_ql) alone: per game the gain of each
  seed's final score over its first evaluation (human-normalized; raw where a game has no
  reference scores). "Improved" (amendment A3): an exact one-sided sign test at level
  gate.SIGN_ALPHA / g finds more positive gains than chance would give; "did not improve": the
  same test finds the gains non-positive. Collapsed runs: the final score gave back more than
  COLLAPSE_GIVEBACK of the first-to-best gain, or a non-finite loss. Supported if c improved in
  more than half the games and none collapsed; contradicted if in at least half the games c did
  not improve while its reference condition r (pg) did (the same sign test), or if runs collapsed
  in at least half the games (rates: `gate.c6_gate`; a contradiction by collapse alone has none).
  r is also the evidence that a game can be learned at this scale (claim.evidence). Gains are
  taken in seed order."""
  (c,), (r,) = claim.conditions, claim.reference
  alpha = gt.SIGN_ALPHA / len(games)
  improved, pg_only, collapsed_games, parts, results, ns = 0, 0, 0, [], [], []
  for g in games:
    f = finals[(finals.condition == c) & (finals.game == g)].sort_values("seed")
    hns = (lambda x, g=g: human_normalized(g, x) - human_normalized(g, 0.0)) if has_reference(g) else (lambda x: x)
    gain = hns(f.final_score - f.first_score).to_numpy()
    p, lo, hi = interval([gain[:, None]], metrics.aggregate_mean, gt.RANK_CI)
    up, down, k = _sign_test(gain, alpha)
    loss = df[(df.condition == c) & (df.game == g)]["loss"] if "loss" in df else pd.Series(dtype=float)
    collapsed = int(((f.final_score - f.first_score) < (1 - COLLAPSE_GIVEBACK) * (f.best_score - f.first_score)).sum()
                    + (~np.isfinite(pd.to_numeric(loss, errors="coerce").dropna())).sum())
    pg = finals[(finals.condition == r) & (finals.game == g)].sort_values("seed")
    pg_up = _sign_test((pg.final_score - pg.first_score).to_numpy(), alpha)[0] if pg.seed.nunique() >= MIN_SEEDS else False
    improved += up
    pg_only += down and pg_up
    collapsed_games += collapsed > 0
    results.append((int((gain > 0).sum()) - len(gain), p, lo, hi, len(f)))
    ns.append(len(f))
    need = f"{k} of {len(gain)}" if k <= len(gain) else f"impossible at {len(gain)} seeds"
    parts.append(f"{g}: {int((gain > 0).sum())} of {len(gain)} gains > 0 (sign test at {alpha:.3g} needs {need}; "
                 f"{'improved' if up else 'not improved' if down else 'undecided'}), mean gain {p:+.4f} HNS "
                 f"[{lo:+.4f}, {hi:+.4f}] (raw {f.first_score.mean():.0f} -> {f.final_score.mean():.0f}), "
                 f"{collapsed} collapsed run(s)" + (f", {r} improved" if pg_up else ""))
  _, v.point, v.ci_low, v.ci_high, v.seeds = min(results, key=lambda x: (x[0], x[2]))
  half = len(games) / 2
  v.verdict = (CONTRADICTED if (pg_only >= half or collapsed_games >= half) else
               SUPPORTED if (improved > half and collapsed_games == 0) else INCONCLUSIVE)
  v.reason = ("collapse = final gave back more than "
              f"{COLLAPSE_GIVEBACK:.0%} of the first-to-best gain, or a non-finite loss: " + "; ".join(parts))
  by_pg = not (v.verdict == CONTRADICTED and pg_only < half)      # else a contradiction by collapse alone
  return gt.c6_gate(ns, by_pg)


# The decision rule of each claim id, named by what it tests; the claims themselves, and the
# conditions each compares, are the registry's (`FigureSpec.claims`).
# rule(claim, figure, finals, progress) -> (Verdict by the rule, its Gate or None).
RULES: dict[str, Rule] = {
    "C1": noninferiority, "C2": superiority, "C3": superiority, "C4": per_game_direction,
    "C5": curve_equivalence, "C6": stability}


def cpu_kinds(machines: pd.DataFrame | None, v: Verdict, conditions: Sequence[str]) -> Verdict:
  """Fills `v.cpu_kinds`, `v.cpu_summary` and `v.cpu_confounded` from `machines` (columns game, condition, seed,
  cpu: one row per run; `artifact.analysis.results.run_machines`) for the games of `v`. A game is
  confounded when every compared condition's runs share one CPU kind and the kinds differ
  between conditions: condition and floating-point kernel then coincide."""
  if machines is None or machines.empty or not v.games:
    return v
  parts, confounded, summary = [], [], []
  for g in v.games.split(","):
    kinds = {}
    for c in conditions:
      runs = machines[(machines.game == g) & (machines.condition == c)]
      kinds[c] = runs.cpu.value_counts().sort_index()
    desc = "; ".join(f"{c}: " + ", ".join(f"{k} x{n}" for k, n in kinds[c].items()) for c in conditions)
    single = [set(kinds[c].index) for c in conditions]
    if len(conditions) > 1 and all(len(k) == 1 for k in single) and len(set.union(*single)) > 1:
      confounded.append(g)
      desc += " (condition and CPU kind coincide)"
    parts.append(f"{g}: {desc}")
    shared = set.intersection(*single) if single else set()
    overlap = ("one kind for all" if len(set.union(*single)) == 1 else
               "kinds overlap" if shared else "no kind in common")
    summary.append(f"{g}: " + "/".join(str(len(k)) for k in single) + f" kind(s), {overlap}")
  v.cpu_kinds, v.cpu_confounded = " | ".join(parts), ",".join(confounded)
  v.cpu_summary = "; ".join(summary)
  return v


def judge(progress_by_figure: dict[int, pd.DataFrame],
          machines_by_figure: dict[int, pd.DataFrame] | None = None) -> list[Verdict]:
  """A verdict on every claim of `FIGURES`, figure by figure in the registry's order, from
  {figure: long progress frame} (a missing figure's claims: NOT_RUN), with the gate of
  amendments A2/A3 applied (`gate.apply_gate`) and, given {figure: run machines}
  (`artifact.analysis.results.run_machines`), the CPU kinds. Raises ValueError for a registered
  claim without a rule in `RULES`."""
  empty = pd.DataFrame(columns=["game", "condition", "seed", "frames", "eval_return", "loss"])
  verdicts = []
  for number, fig in FIGURES.items():
    if not fig.claims:
      continue
    df = progress_by_figure.get(number, empty)
    finals = final_scores(df) if len(df) else final_scores(empty)
    for claim in fig.claims:
      if claim.id not in RULES:
        raise ValueError(f"claim {claim.id} of figure {number} has no decision rule in "
                         f"artifact/analysis/claims.py RULES; rules: {', '.join(RULES)}")
      v, gate = RULES[claim.id](claim, number, finals, df)
      v = gt.apply_gate(v, gate)
      verdicts.append(cpu_kinds((machines_by_figure or {}).get(number), v, claim.conditions))
  return verdicts
