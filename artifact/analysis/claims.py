"""A verdict on each of the paper's claims (Sec. 6), by the rules of docs/decision_rules.md.

The claims and the conditions each compares are declared in the registry, in their figure's spec
(`artifact.experiment.registry.FigureSpec.claims`, a `ClaimSpec` each); `judge` goes through them figure by
figure. Each claim's rule (`RULES`, by claim id) is a small function from the figure's final
scores and long progress frame to a `Verdict`: the statistic, its 95% CI (rliable stratified
bootstrap, `artifact.analysis.statistics.interval`), the seeds and frames behind it, and one of
SUPPORTED / CONTRADICTED / INCONCLUSIVE / NOT_RUN. Every rule is named by what it tests
(`noninferiority`, `superiority`, `per_game_direction`, `curve_equivalence`, `stability`) and
opens with the same steps, done once by `_rule`: the games run with enough seeds, the games that
count (amendment A1), and the verdict where the data decide it before any statistic. The rules
and margins are constants here, named as in the doc; a claim the data cannot decide is
inconclusive, never forced.

Amendment A1 (2026-11-30, docs/decision_rules.md): a game counts for a claim only where the runs
of at least one of the conditions the claim compares have left random play (`left_random_play`,
`split_by_learning`); games that do not count are listed in `Verdict.excluded` with the reason,
and a claim with no game left is inconclusive at this scale.

Outputs (`write_claims`): reports/claims.csv (one row per claim, `claims_table`) and
reports/claims.md (`claims_markdown`).
"""
from __future__ import annotations

import dataclasses
import functools
import math
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import pandas as pd
from rliable import metrics

from artifact.analysis import error_rates as er
from artifact.analysis.atari_scores import HUMAN, RANDOM, has_reference, human_normalized
from artifact.analysis.statistics import FINAL_EVALS, final_scores, interval, probability_of_improvement, score_matrix
from artifact.experiment.registry import FIGURES, ClaimSpec
from artifact.files import atomic_write_text

SUPPORTED, CONTRADICTED, INCONCLUSIVE, NOT_RUN = (
    "supported", "contradicted", "inconclusive at this scale", "not run")
MIN_SEEDS = 2                 # seeds per condition for a game to count as "run"
C1_NONINFERIORITY = 0.40      # P(proper > naive) CI low must reach this
C5_EQUIVALENCE = 0.20         # +-20% relative difference of the HNS area under the eval curve
C4_BETTER_GAMES = ("Pong", "Qbert")
COLLAPSE_GIVEBACK = 0.5       # final score gave back more than half of first -> best gain

# --- Amendment A1 (2026-11-30): a game counts only where the claim's runs left random play -------
# Nature DQN's scores: Mnih et al. (2015), "Human-level control through deep reinforcement
# learning", Nature 518, Extended Data Table 2, "DQN" column (the same table as the random and
# human scores of artifact/analysis/atari_scores.py).
DQN_NATURE = {"BeamRider": 6846.0, "Breakout": 401.2, "Enduro": 301.8, "Pong": 18.9,
              "Qbert": 10596.0, "Seaquest": 5286.0, "SpaceInvaders": 1976.0}
LEFT_RANDOM_MARGIN = 0.05     # of the way from random play to min(human, Nature DQN)


@dataclasses.dataclass
class Verdict:
  """One claim's verdict: a row of claims.csv (these fields, in this order).

  claim "C1".."C6"; figure; text (the claim); statistic (what point/CI are); point, ci_low,
  ci_high (the statistic and its 95% stratified-bootstrap CI; NaN if none); seeds (seeds per
  condition behind the point: the common seeds, or the median game's); games (the games that
  count, comma-separated); frames (the fewest frames of a compared run, emulator frames);
  verdict (SUPPORTED / CONTRADICTED / INCONCLUSIVE / NOT_RUN, after amendment A2); reason;
  excluded (games run but not counted by amendment A1, each with its reason); rule_verdict (what
  the pre-registered rule returned, before A2); rate_supported, rate_contradicted (the rule's
  probability of returning that verdict wrongly at this sample, under the least favourable truth
  for it: `artifact.analysis.error_rates`; NaN where not measured); error_rate (that rate for
  rule_verdict; NaN unless rule_verdict is decided); rate_method (how the rates were computed);
  seeds_for_5pct (the fewest seeds per condition, on these games, that bring the rule_verdict's
  rate, or the larger of the two rates when undecided, to at most 5%; 0 if it already is; -1 if
  none up to `error_rates.MAX_SEEDS`; NaN where no rate applies or it is not measured); cpu_kinds (per game, the CPU kinds each compared
  condition's runs were trained on); cpu_confounded (games where each condition's runs share one
  CPU kind and the kinds differ between conditions).
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
  excluded: str = ""          # games run but not counted (amendment A1), each with its reason
  rule_verdict: str = NOT_RUN
  rate_supported: float = math.nan
  rate_contradicted: float = math.nan
  error_rate: float = math.nan
  rate_method: str = ""
  seeds_for_5pct: float = math.nan
  cpu_kinds: str = ""
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


def full_game_scores(df: Optional[pd.DataFrame], finals: pd.DataFrame) -> pd.DataFrame:
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


def split_by_learning(df: Optional[pd.DataFrame], finals: pd.DataFrame, games: Sequence[str],
                      conditions: Sequence[str]) -> Tuple[List[str], Dict[str, str]]:
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


def _excluded_text(excluded: Dict[str, str]) -> str:
  return "; ".join(f"{g}: {why}" for g, why in excluded.items())


def _with_excluded(v: Verdict, excluded: Dict[str, str]) -> Verdict:
  v.excluded = _excluded_text(excluded)
  if excluded:
    v.reason += f"; not counted (runs at random play, amendment A1): {', '.join(excluded)}"
  return v


def _games_run(finals: pd.DataFrame, conditions: Sequence[str]) -> List[str]:
  """Games where every condition has >= MIN_SEEDS seeds with a final score."""
  out = []
  for g in sorted(set(finals.game)):
    if all((finals[(finals.game == g) & (finals.condition == c)].seed.nunique() >= MIN_SEEDS)
           for c in conditions):
      out.append(g)
  return out


def _counted_games(claim: ClaimSpec, figure: int, finals: pd.DataFrame, df: pd.DataFrame,
                   conditions: Sequence[str], statistic: str) -> Tuple[Verdict, Optional[List[str]], Dict[str, str]]:
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


# --- Amendment A2 (2026-12-03): a decided verdict needs a wrong-verdict rate <= 5% -------------
@dataclasses.dataclass
class Rates:
  """A rule's wrong-verdict rates at the sample it was applied to (amendment A2;
  `artifact.analysis.error_rates`): for each decided verdict, (rate, Monte-Carlo SE, method), and the
  least favourable truth it was computed under, in words. `at_seeds(n)` gives the two rates
  with n seeds per condition on the same games (for `Verdict.seeds_for_5pct`)."""
  supported: Tuple[float, float, str]
  contradicted: Tuple[float, float, str]
  truth: Dict[str, str]
  at_seeds: Callable[[int], Tuple[float, float]]
  seeds: Sequence[int] = ()       # per game, the seeds per condition the rates are at (the search starts at the fewest)


def _amend(v: Verdict, rates: Optional[Rates]) -> Verdict:
  """Applies amendment A2 to the pre-registered rule's verdict `v` (kept in `rule_verdict`)."""
  v.rule_verdict = v.verdict
  if rates is None:
    return v
  v.rate_supported, v.rate_contradicted = rates.supported[0], rates.contradicted[0]
  methods = list(dict.fromkeys([rates.supported[2], rates.contradicted[2]]))
  v.rate_method = "; ".join(m for m in methods if m)
  decided = v.verdict in (SUPPORTED, CONTRADICTED)
  key = 0 if v.verdict == SUPPORTED else 1

  def larger(r: Sequence[float]) -> float:   # NaN if either is (max() would depend on the order)
    return math.nan if any(math.isnan(x) for x in r) else max(r)

  def worst(n: int) -> float:
    r = rates.at_seeds(n)
    return r[key] if decided else larger(r)

  now = (v.rate_supported if key == 0 else v.rate_contradicted) if decided else larger(
      (v.rate_supported, v.rate_contradicted))
  if decided:
    v.error_rate = now
  if now <= er.MAX_RATE:
    v.seeds_for_5pct = 0
    return v
  fewest = min(rates.seeds) if rates.seeds else v.seeds
  seeds_text = (f"{min(rates.seeds)}-{max(rates.seeds)}" if rates.seeds and min(rates.seeds) != max(rates.seeds)
                else str(fewest))
  need = er.seeds_for_rate(worst, fewest) if fewest and not math.isnan(now) else None
  v.seeds_for_5pct = need if need is not None else (-1 if not math.isnan(now) else math.nan)
  if decided:
    rate, se, method = rates.supported if key == 0 else rates.contradicted
    more = (f"{need} seeds per condition on these games would bring it to <= {er.MAX_RATE:.0%}" if need else
            f"no number of seeds up to {er.MAX_SEEDS} per condition brings it to <= {er.MAX_RATE:.0%}")
    if math.isnan(rate):
      why = f"its rate of a wrong '{v.verdict}' is not measured ({rates.truth[v.verdict]})"
    else:
      why = (f"at {seeds_text} seeds per condition on {len(v.games.split(','))} game(s) it says "
             f"'{v.verdict}' wrongly with probability {er.describe(rate, se, method)} when "
             f"{rates.truth[v.verdict]}; {more}")
    v.verdict = INCONCLUSIVE
    v.reason = f"amendment A2: the pre-registered rule says {v.rule_verdict}, but {why}. Rule: {v.reason}"
  return v


Rule = Callable[[ClaimSpec, int, pd.DataFrame, pd.DataFrame], Tuple[Verdict, Optional[Rates]]]
Test = Callable[[Verdict, ClaimSpec, List[str], pd.DataFrame, pd.DataFrame], Optional[Rates]]


def _rule(statistic: str) -> Callable[[Test], Rule]:
  """Makes a claim's test into a rule of `RULES`: rule(claim, figure, finals, progress) ->
  (Verdict by the pre-registered rule, its Rates or None). The rule does the steps every test
  shares: a Verdict with `statistic` (what point/CI are; {0}, {1} stand for the claim's
  conditions), the games that count (`_counted_games` on the claim's conditions), the verdict
  returned there when the data decide it before any statistic; then `test(v, claim, games,
  finals, progress)`, which sets v's statistic, seeds, verdict and reason and returns the rule's
  wrong-verdict Rates (None where none apply); then the games not counted (`_with_excluded`)."""
  def wrap(test: Test) -> Rule:
    @functools.wraps(test)
    def rule(claim: ClaimSpec, figure: int, finals: pd.DataFrame, df: pd.DataFrame):
      conditions = list(claim.conditions)
      v, games, excluded = _counted_games(claim, figure, finals, df, conditions,
                                          statistic.format(*conditions))
      if games is None:
        return v, None
      rates = test(v, claim, games, finals, df)
      return _with_excluded(v, excluded), rates
    return rule
  return wrap


def _improvement_test(v: Verdict, claim: ClaimSpec, games: List[str], finals: pd.DataFrame,
                      decide: Callable[[float, float], Optional[str]], rule: str,
                      rates_at: Callable[..., Dict[str, Tuple[float, float, str]]],
                      truth: Dict[str, str]) -> Rates:
  """The test of C1-C3: P(x > y) on final scores averaged over the games that count, x and y
  the claim's two conditions (`probability_of_improvement` in rliable's stratified bootstrap);
  `decide(ci_low, ci_high)` -> SUPPORTED / CONTRADICTED / None; `rule` the rule in words;
  `rates_at(n, games[, draws])` the rule's wrong-verdict rates; `truth` the least favourable
  truth of each verdict, in words."""
  x, y = claim.conditions
  mats, seeds = score_matrix(finals, [x, y], games, column="final_score")
  v.point, v.ci_low, v.ci_high = interval([mats[x], mats[y]], probability_of_improvement)
  v.seeds = len(seeds)
  v.verdict = decide(v.ci_low, v.ci_high) or INCONCLUSIVE
  v.reason = rule + _zero_width_note(v, mats, x, y, games)
  r = rates_at(len(seeds), len(games))
  return Rates(r["supported"], r["contradicted"], truth,
               lambda n: tuple(rates_at(n, len(games), er.SEARCH_DRAWS)[k][0] for k in ("supported", "contradicted")))


def _zero_width_note(v: Verdict, mats: Dict[str, np.ndarray], x: str, y: str,
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


_NO_DIFFERENCE = "the two conditions do not differ (every ordering of a game's scores equally likely)"


@_rule("P({0} > {1}) on final scores")
def noninferiority(v: Verdict, claim: ClaimSpec, games: List[str], finals, df) -> Rates:
  """C1: non-inferiority of x (proper) to y (naive): P(x > y) on final scores over the games
  that count, supported if its CI low >= C1_NONINFERIORITY, contradicted if its CI high is below
  it (`_improvement_test`; rates: `error_rates.noninferiority_rates`)."""
  m = C1_NONINFERIORITY
  at = f"the true P({claim.conditions[0]} > {claim.conditions[1]}) is exactly {m} (normal scores)"
  return _improvement_test(v, claim, games, finals,
                           lambda lo, hi: SUPPORTED if lo >= m else CONTRADICTED if hi < m else None,
                           f"non-inferiority: supported if CI low >= {m}, contradicted if CI high < {m}",
                           lambda n, g, draws=er.SIM_DRAWS: er.noninferiority_rates(n, g, m, draws),
                           {SUPPORTED: at, CONTRADICTED: at})


@_rule("P({0} > {1}) on final scores")
def superiority(v: Verdict, claim: ClaimSpec, games: List[str], finals, df) -> Rates:
  """C2, C3: superiority of x over y: P(x > y) on final scores over the games that count,
  supported if its CI low > 0.5, contradicted if its CI high < 0.5 (`_improvement_test`; rates:
  `error_rates.superiority_rates`)."""
  x, y = claim.conditions
  return _improvement_test(v, claim, games, finals, _superiority,
                           f"superiority of {x} over {y}: supported if CI low > 0.5, contradicted if CI high < 0.5",
                           er.superiority_rates, {SUPPORTED: _NO_DIFFERENCE, CONTRADICTED: _NO_DIFFERENCE})


def _c4_rates(ns: Sequence[int], better: Sequence[bool], draws: int = er.SIM_DRAWS) -> Tuple[Tuple, Tuple]:
  """C4's rates from each game's seeds `ns`: "supported" (every game in the claimed direction)
  is wrong at worst when one game does not differ and every other shows the claimed direction
  surely: the largest per-game rate; "contradicted" (some game in the opposite direction) when
  no game differs: 1 - prod(1 - per-game rate)."""
  per = [er.superiority_rates(n, 1, draws) for n in ns]
  claimed = [p["supported" if b else "contradicted"] for p, b in zip(per, better)]
  opposite = [p["contradicted" if b else "supported"] for p, b in zip(per, better)]
  sup = max(claimed, key=lambda r: r[0])
  con = 1 - float(np.prod([1 - r[0] for r in opposite]))
  se = math.sqrt(sum(r[1] ** 2 for r in opposite))
  return sup, (con, se, opposite[0][2] if len(opposite) == 1 else "; ".join(dict.fromkeys(r[2] for r in opposite)))


@_rule("per game P({0} > {1}); point/CI: the game farthest from the claim")
def per_game_direction(v: Verdict, claim: ClaimSpec, games: List[str], finals, df) -> Rates:
  """C4: per game P(x > y) on final scores, x (n-step) better on C4_BETTER_GAMES and worse
  elsewhere: supported if every game that counts shows the claimed direction (CI beyond 0.5),
  contradicted if one shows the opposite (rates: `_c4_rates`)."""
  x, y = claim.conditions
  agree, oppose, parts, worst, ns = 0, 0, [], None, []
  for g in games:
    mats, seeds = score_matrix(finals, [x, y], [g], column="final_score")
    p, lo, hi = interval([mats[x], mats[y]], probability_of_improvement)
    better = g in C4_BETTER_GAMES
    agree += lo > 0.5 if better else hi < 0.5
    oppose += hi < 0.5 if better else lo > 0.5
    parts.append(f"{g} {p:.2f} [{lo:.2f}, {hi:.2f}] (claim: {'better' if better else 'worse'})")
    margin = (p - 0.5) if better else (0.5 - p)
    if worst is None or margin < worst[0]:
      worst = (margin, p, lo, hi, len(seeds))
    ns.append(len(seeds))
  _, v.point, v.ci_low, v.ci_high, v.seeds = worst
  v.verdict = CONTRADICTED if oppose else SUPPORTED if agree == len(games) else INCONCLUSIVE
  v.reason = "per game: " + "; ".join(parts)
  better = [g in C4_BETTER_GAMES for g in games]
  sup, con = _c4_rates(ns, better)
  rates = Rates(sup, con, {SUPPORTED: "one game does not differ and every other shows the claimed direction",
                           CONTRADICTED: "no game differs"},
                lambda n: tuple(r[0] for r in _c4_rates([n] * len(games), better, er.SEARCH_DRAWS)), ns)
  return rates


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


def _c5_rates(ns: Sequence[int], cvs: Sequence[float], m: float, draws: int = er.SIM_DRAWS) -> Tuple[Tuple, Tuple]:
  """C5's rates from each game's seeds and spread: "supported" (more than half equivalent) is
  wrong at worst when half the games (rounded down) are surely equivalent and the others sit
  exactly at the margin; "contradicted" (at least half different) when just over half sit at
  the margin and the others are surely different (`error_rates.counted_rate`)."""
  per = [er.equivalence_rates(n, cv, m, draws) for n, cv in zip(ns, cvs)]
  g = len(per)
  method = "; ".join(dict.fromkeys(p["equivalent"][2] for p in per))
  sup = er.counted_rate([p["equivalent"][0] for p in per], g, g // 2 + 1, g // 2)
  con = er.counted_rate([p["different"][0] for p in per], g, math.ceil(g / 2), g - g // 2 - 1)
  se = max(p["equivalent"][1] for p in per)
  return (sup, se, method), (con, se, method)


@_rule("per game relative difference of HNS area under the eval curve, ({1} - {0}) / mean; "
       "point/CI: median game")
def curve_equivalence(v: Verdict, claim: ClaimSpec, games: List[str], finals, df) -> Optional[Rates]:
  """C5: equivalence of the curves of a (pg) and b (soft_ql): per game (b - a) / mean of the
  areas under the human-normalized evaluation curve (`_auc_hns`), "equivalent" when its CI lies
  inside +-C5_EQUIVALENCE, "different" when outside; supported if more than half the games with
  reference scores are equivalent, contradicted if at least half differ (rates: `_c5_rates`).
  No Rates when no game has reference scores."""
  a, b = claim.conditions
  m = C5_EQUIVALENCE
  rel = lambda x, y: (x.mean() - y.mean()) / max(abs(0.5 * (x.mean() + y.mean())), 1e-12)  # noqa: E731
  results, parts, ns, cvs = [], [], [], []
  for g in games:
    _, seeds = score_matrix(finals, [a, b], [g])
    if not has_reference(g):
      continue
    auc_b, auc_a = _auc_hns(df, b, g, seeds), _auc_hns(df, a, g, seeds)
    p, lo, hi = interval([auc_b, auc_a], rel)
    state = "equivalent" if (lo > -m and hi < m) else "different" if (lo > m or hi < -m) else "undecided"
    results.append((p, lo, hi, len(seeds), state))
    ns.append(len(seeds))
    cvs.append(_spread(auc_a[:, 0], auc_b[:, 0]))
    parts.append(f"{g} {p:+.2f} [{lo:+.2f}, {hi:+.2f}] {state} (seed-to-seed SD {cvs[-1]:.2f} x mean)")
  if not results:
    v.verdict, v.reason = INCONCLUSIVE, "no game with human/random reference scores"
    return None
  results.sort(key=lambda r: r[0])
  v.point, v.ci_low, v.ci_high, v.seeds, _ = results[len(results) // 2]
  n_eq = sum(r[4] == "equivalent" for r in results)
  n_diff = sum(r[4] == "different" for r in results)
  v.verdict = (SUPPORTED if n_eq > len(results) / 2 else
               CONTRADICTED if n_diff >= len(results) / 2 else INCONCLUSIVE)
  v.reason = f"equivalence margin +-{m:.0%}: " + "; ".join(parts)
  sup, con = _c5_rates(ns, cvs, m)
  k = len(results)
  rates = Rates(sup, con,
                {SUPPORTED: f"{k - k // 2} of the {k} game(s) differ by exactly the +-{m:.0%} margin and "
                            f"the other(s) are equivalent (normal areas with each game's observed spread)",
                 CONTRADICTED: f"{k // 2 + 1} of the {k} game(s) differ by exactly the margin (the claim "
                               f"just holds) and the other(s) are different"},
                lambda n: tuple(r[0] for r in _c5_rates([n] * k, cvs, m, er.SEARCH_DRAWS)), ns)
  return rates


def _c6_rates(ns: Sequence[int], pg_only_branch: bool, draws: int = er.SIM_DRAWS) -> Tuple[Tuple, Tuple]:
  """C6's rates from each game's seeds: "supported" (improved in more than half the games) is
  wrong at worst when soft-QL truly improves in half the games (rounded down) and its true gain
  is zero in the others; "contradicted" through "did not improve while pg did" when its true
  gain is just above zero in just over half the games (each then reads "did not improve" with
  probability 1 - the improvement rate) and pg improves. A contradiction by collapse alone has
  no measured rate (NaN)."""
  per = [er.improvement_rate(n, draws) for n in ns]
  g = len(per)
  method = "; ".join(dict.fromkeys(p[2] for p in per))
  se = max(p[1] for p in per)
  sup = er.counted_rate([p[0] for p in per], g, g // 2 + 1, g // 2)
  con = (er.counted_rate([1 - p[0] for p in per], g, math.ceil(g / 2), g - g // 2 - 1)
         if pg_only_branch else math.nan)
  return (sup, se, method), (con, se, method)


@_rule("per game improvement of {0}'s final score over its first evaluation (HNS); point/CI: median game")
def stability(v: Verdict, claim: ClaimSpec, games: List[str], finals, df) -> Rates:
  """C6: stability of the claim's one condition c (soft_ql) alone: per game the mean gain of its
  final score over its first evaluation (human-normalized; raw where a game has no reference
  scores), "improved" when the gain's CI low > 0, and its collapsed runs (the final score gave
  back more than COLLAPSE_GIVEBACK of the first-to-best gain, or a non-finite loss). Supported
  if c improved in more than half the games and none collapsed; contradicted if in at least
  half the games c did not improve while its one reference condition r (pg) did, or if runs
  collapsed in at least half the games (rates: `_c6_rates`). r is also the evidence that a game
  can be learned at this scale (a game counts if c's or r's runs left random play:
  claim.evidence)."""
  (c,), (r,) = claim.conditions, claim.reference
  improved, pg_only, collapsed_games, parts, results, ns = 0, 0, 0, [], [], []
  for g in games:
    f = finals[(finals.condition == c) & (finals.game == g)]
    hns = (lambda x: human_normalized(g, x) - human_normalized(g, 0.0)) if has_reference(g) else (lambda x: x)
    gain = hns(f.final_score - f.first_score).to_numpy()[:, None]
    p, lo, hi = interval([gain], metrics.aggregate_mean)
    loss = df[(df.condition == c) & (df.game == g)]["loss"] if "loss" in df else pd.Series(dtype=float)
    collapsed = int(((f.final_score - f.first_score) < (1 - COLLAPSE_GIVEBACK) * (f.best_score - f.first_score)).sum()
                    + (~np.isfinite(pd.to_numeric(loss, errors="coerce").dropna())).sum())
    pg = finals[(finals.condition == r) & (finals.game == g)]
    pg_improved = False
    if pg.seed.nunique() >= MIN_SEEDS:
      _, plo, _ = interval([(pg.final_score - pg.first_score).to_numpy()[:, None]], metrics.aggregate_mean)
      pg_improved = plo > 0
    improved += lo > 0
    pg_only += (lo <= 0) and pg_improved
    collapsed_games += collapsed > 0
    results.append((p, lo, hi, len(f)))
    ns.append(len(f))
    parts.append(f"{g} gain {p:+.4f} HNS [{lo:+.4f}, {hi:+.4f}] (raw {f.first_score.mean():.0f} -> "
                 f"{f.final_score.mean():.0f}), {collapsed} collapsed run(s)"
                 + (f", {r} improved" if pg_improved else ""))
  results.sort(key=lambda x: x[0])
  v.point, v.ci_low, v.ci_high, v.seeds = results[len(results) // 2]
  half = len(games) / 2
  v.verdict = (CONTRADICTED if (pg_only >= half or collapsed_games >= half) else
               SUPPORTED if (improved > half and collapsed_games == 0) else INCONCLUSIVE)
  v.reason = ("learned = CI low of the gain > 0; collapse = final gave back more than "
              f"{COLLAPSE_GIVEBACK:.0%} of the first-to-best gain, or a non-finite loss: " + "; ".join(parts))
  by_pg = not (v.verdict == CONTRADICTED and pg_only < half)      # NaN: a contradiction by collapse alone
  sup, con = _c6_rates(ns, by_pg)
  k = len(games)
  rates = Rates(sup, con,
                {SUPPORTED: f"{c}'s true gain is zero in {k - k // 2} of the {k} game(s) (normal gains) "
                            "and it improves in the other(s)",
                 CONTRADICTED: (f"{c}'s true gain is just above zero in {k // 2 + 1} of the {k} game(s) "
                                f"(the claim just holds) and {r} improves" if by_pg else
                                "a contradiction by collapsed runs alone: how often a stable learner's "
                                "runs read as collapsed is not modelled")},
                lambda n: tuple(x[0] for x in _c6_rates([n] * k, by_pg, er.SEARCH_DRAWS)), ns)
  return rates


# The decision rule of each claim id, named by what it tests; the claims themselves, and the
# conditions each compares, are the registry's (`FigureSpec.claims`).
# rule(claim, figure, finals, progress) -> (Verdict by the pre-registered rule, its Rates or None).
RULES: Dict[str, Rule] = {
    "C1": noninferiority, "C2": superiority, "C3": superiority, "C4": per_game_direction,
    "C5": curve_equivalence, "C6": stability}


def cpu_kinds(machines: Optional[pd.DataFrame], v: Verdict, conditions: Sequence[str]) -> Verdict:
  """Fills `v.cpu_kinds` and `v.cpu_confounded` from `machines` (columns game, condition, seed,
  cpu: one row per run; `artifact.analysis.results.run_machines`) for the games of `v`. A game is
  confounded when every compared condition's runs share one CPU kind and the kinds differ
  between conditions: condition and floating-point kernel then coincide."""
  if machines is None or machines.empty or not v.games:
    return v
  parts, confounded = [], []
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
  v.cpu_kinds, v.cpu_confounded = " | ".join(parts), ",".join(confounded)
  return v


def judge(progress_by_figure: Dict[int, pd.DataFrame],
          machines_by_figure: Optional[Dict[int, pd.DataFrame]] = None) -> List[Verdict]:
  """A verdict on every claim of `FIGURES`, figure by figure in the registry's order, from
  {figure: long progress frame} (a missing figure's claims: NOT_RUN), with amendment A2 applied
  and, given {figure: run machines} (`artifact.analysis.results.run_machines`), the CPU kinds. Raises
  ValueError for a registered claim without a rule in `RULES`."""
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
      v, rates = RULES[claim.id](claim, number, finals, df)
      v = _amend(v, rates)
      verdicts.append(cpu_kinds((machines_by_figure or {}).get(number), v, claim.conditions))
  return verdicts


def _rate_text(v: Verdict) -> str:
  """claims.md's rate cell: the rule_verdict's wrong-verdict rate, or both rates when undecided."""
  def fmt(x: float) -> str:
    return "not measured" if math.isnan(x) else f"{x:.3g}"
  if v.rule_verdict in (SUPPORTED, CONTRADICTED):
    return f"{fmt(v.error_rate)} (of '{v.rule_verdict}')"
  if math.isnan(v.rate_supported) and math.isnan(v.rate_contradicted):
    return ""
  return f"supported {fmt(v.rate_supported)}, contradicted {fmt(v.rate_contradicted)}"


def claims_table(verdicts: Sequence[Verdict]) -> pd.DataFrame:
  """claims.csv's table: one row per verdict, the fields of `Verdict` in order
  (`seeds_for_5pct` as a nullable integer: whole seeds, empty where NaN)."""
  table = pd.DataFrame([dataclasses.asdict(v) for v in verdicts])
  table["seeds_for_5pct"] = table["seeds_for_5pct"].astype("Int64")
  return table


_MD_INTRO = ("Rules and margins: docs/decision_rules.md (written before any data; amendment A1 of "
             "2026-11-30: a game counts for a claim only where at least one compared condition's runs "
             "left random play; amendment A2 of 2026-12-03: a verdict is decided only where the rule's "
             f"probability of deciding it wrongly at this sample is at most {er.MAX_RATE:.0%}). "
             "Intervals: 95% stratified-bootstrap CIs (rliable). A run's final score: "
             "mean of its last 3 evaluations. Wrong-verdict rate: the probability that the rule "
             "returns that verdict wrongly at these seeds and games, under the least favourable truth "
             "for it (docs/decision_rules.md, A2).")


def _summary_row(v: Verdict) -> str:
  """claims.md's summary table row of one verdict (empty cells for a claim with no run)."""
  if not v.frames:
    return f"| {v.claim} | {v.figure} | **{v.verdict}** | {v.statistic} | | | | | | | |"
  ci = "" if math.isnan(v.ci_low) else f"[{v.ci_low:.3g}, {v.ci_high:.3g}]"
  pt = "" if math.isnan(v.point) else f"{v.point:.3g}"
  need = ("" if math.isnan(v.seeds_for_5pct) else "-" if v.seeds_for_5pct == 0 else
          f"> {er.MAX_SEEDS}" if v.seeds_for_5pct < 0 else str(int(v.seeds_for_5pct)))
  cpu = "" if not v.cpu_kinds else (f"confounded: {v.cpu_confounded}" if v.cpu_confounded else "same or mixed")
  return (f"| {v.claim} | {v.figure} | **{v.verdict}** | {v.statistic} | {pt} | {ci} | "
          f"{v.seeds or ''} | {v.frames:,} | {_rate_text(v)} | {need} | {cpu} |")


def _details(v: Verdict) -> List[str]:
  """claims.md's section of one verdict: verdict, games, exclusions, rate, CPU kinds, reason."""
  lines = [f"## {v.claim}: {v.text}", "", f"- verdict: **{v.verdict}**"
           + (f" (the pre-registered rule alone: {v.rule_verdict})" if v.rule_verdict != v.verdict else ""),
           f"- games: {v.games or 'none'}"]
  if v.excluded:
    lines.append(f"- games not counted (amendment A1, runs at random play): {v.excluded}")
  if v.rate_method:
    lines.append(f"- wrong-verdict rate (amendment A2): {_rate_text(v)}; computed by {v.rate_method}")
  if v.cpu_kinds:
    lines.append(f"- CPU kinds of the compared runs: {v.cpu_kinds}"
                 + (f". **Confounded on {v.cpu_confounded}**: each condition's runs were trained on "
                    "one CPU kind and the kinds differ, so the difference mixes the condition with "
                    "the floating-point kernels (runs repeat bit for bit on one CPU kind, not across "
                    "kinds)" if v.cpu_confounded else ""))
  return lines + [f"- rule and details: {v.reason}", ""]


def claims_markdown(verdicts: Sequence[Verdict], note: str = "") -> str:
  """claims.md: its title (with `note`), how to read it, a summary table with a row per
  verdict, then each verdict's details."""
  lines = [f"# The paper's claims, judged{note}", "", _MD_INTRO,
           "", "| claim | figure | verdict | statistic | point | 95% CI | seeds | frames per run | "
               "wrong-verdict rate | seeds for 5% | CPU kinds |",
           "|---|---|---|---|---|---|---|---|---|---|---|"]
  lines += [_summary_row(v) for v in verdicts]
  lines.append("")
  for v in verdicts:
    lines += _details(v)
  return "\n".join(lines)


def write_claims(progress_by_figure: Dict[int, pd.DataFrame], reports_dir, note: str = "",
                 machines_by_figure: Optional[Dict[int, pd.DataFrame]] = None) -> Dict[str, Path]:
  """reports/claims.csv (`claims_table`) and reports/claims.md (`claims_markdown`, `note` in its
  title) of the verdicts `judge` gives from {figure: long progress frame} and, optionally,
  {figure: run machines} (`artifact.analysis.results.run_machines`). Both files are written
  atomically; returns their paths. Raises ValueError as `judge` does."""
  verdicts = judge(progress_by_figure, machines_by_figure)
  reports_dir = Path(reports_dir)
  paths = dict(claims_csv=reports_dir / "claims.csv", claims_md=reports_dir / "claims.md")
  atomic_write_text(paths["claims_csv"], claims_table(verdicts).to_csv(index=False))
  atomic_write_text(paths["claims_md"], claims_markdown(verdicts, note))
  return paths
