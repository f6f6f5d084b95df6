"""A verdict on each of the paper's claims (Sec. 6), by the rules of docs/decision_rules.md.

The claims and the conditions each compares are declared in the registry, in their figure's spec
(`artifact.specs.FigureSpec.claims`, a `ClaimSpec` each); `judge` goes through them figure by
figure. Each claim's rule (`RULES`, by claim id) is a small function from the figure's final
scores and long progress frame to a `Verdict`: the statistic, its 95% CI (rliable stratified
bootstrap, `artifact.statistics.interval`), the seeds and frames behind it, and one of
SUPPORTED / CONTRADICTED / INCONCLUSIVE / NOT_RUN. The rules and margins are constants here,
named as in the doc; a claim the data cannot decide is inconclusive, never forced.

Amendment A1 (2026-11-30, docs/decision_rules.md): a game counts for a claim only where the runs
of at least one of the conditions the claim compares have left random play (`left_random_play`,
`split_by_learning`); games that do not count are listed in `Verdict.excluded` with the reason,
and a claim with no game left is inconclusive at this scale.

Outputs (`write_claims`): reports/claims.csv (one row per claim) and reports/claims.md.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import pandas as pd
from rliable import metrics

from artifact.atari_scores import HUMAN, RANDOM, has_reference, human_normalized
from artifact.specs import FIGURES, ClaimSpec
from artifact.statistics import FINAL_EVALS, final_scores, interval, probability_of_improvement, score_matrix

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
# human scores of artifact/atari_scores.py).
DQN_NATURE = {"BeamRider": 6846.0, "Breakout": 401.2, "Enduro": 301.8, "Pong": 18.9,
              "Qbert": 10596.0, "Seaquest": 5286.0, "SpaceInvaders": 1976.0}
LEFT_RANDOM_MARGIN = 0.05     # of the way from random play to min(human, Nature DQN)


@dataclasses.dataclass
class Verdict:
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


def _no_learning(v: Verdict, excluded: Dict[str, str]) -> Verdict:
  """INCONCLUSIVE: every game run was excluded by amendment A1."""
  v.verdict = INCONCLUSIVE
  v.excluded = _excluded_text(excluded)
  v.reason = ("no game counts: on every game run, no compared condition's runs left random play "
              "(amendment A1)")
  return v


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


def _undecidable(v: Verdict, finals, conditions) -> Verdict:
  """NOT_RUN if a condition has no finished evaluation at all, else INCONCLUSIVE (too few seeds)."""
  absent = [c for c in conditions if c not in set(finals.condition)]
  if absent:
    v.verdict, v.reason = NOT_RUN, f"condition(s) {', '.join(absent)} not run"
  else:
    v.verdict = INCONCLUSIVE
    v.reason = f"fewer than {MIN_SEEDS} seeds per condition on every game"
  return v


def _poi_claim(claim: ClaimSpec, figure: int, finals, df,
               decide: Callable[[float, float], Optional[str]], rule: str) -> Verdict:
  """P(x > y) on final scores, x and y the claim's two conditions."""
  x, y = claim.conditions
  v = Verdict(claim.id, figure, claim.text, f"P({x} > {y}) on final scores")
  games = _games_run(finals, [x, y])
  if not games:
    return _undecidable(v, finals, [x, y])
  games, excluded = split_by_learning(df, finals, games, list(claim.evidence))
  if not games:
    return _no_learning(v, excluded)
  mats, seeds = score_matrix(finals, [x, y], games, column="final_score")
  v.point, v.ci_low, v.ci_high = interval([mats[x], mats[y]], probability_of_improvement)
  v.seeds, v.games = len(seeds), ",".join(games)
  v.frames = int(finals[finals.condition.isin([x, y])].frames.min())
  v.verdict = decide(v.ci_low, v.ci_high) or INCONCLUSIVE
  v.reason = rule + _zero_width_note(v, mats, x, y, games)
  return _with_excluded(v, excluded)


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


def claim_c1(claim: ClaimSpec, figure: int, finals, df) -> Verdict:
  """Non-inferiority of x (proper) to y (naive): P(x > y)."""
  m = C1_NONINFERIORITY
  return _poi_claim(claim, figure, finals, df,
                    lambda lo, hi: SUPPORTED if lo >= m else CONTRADICTED if hi < m else None,
                    f"non-inferiority: supported if CI low >= {m}, contradicted if CI high < {m}")


def _superiority(lo, hi):
  return SUPPORTED if lo > 0.5 else CONTRADICTED if hi < 0.5 else None


def claim_c2(claim: ClaimSpec, figure: int, finals, df) -> Verdict:
  """Superiority of x (soft, entropy) over y (DQN): P(x > y)."""
  return _poi_claim(claim, figure, finals, df, _superiority,
                    "superiority: supported if CI low > 0.5, contradicted if CI high < 0.5")


def claim_c3(claim: ClaimSpec, figure: int, finals, df) -> Verdict:
  """Superiority of x (soft, entropy) over y (soft, KL): P(x > y)."""
  return _poi_claim(claim, figure, finals, df, _superiority,
                    "superiority of entropy over KL: supported if CI low > 0.5, contradicted if CI high < 0.5")


def claim_c4(claim: ClaimSpec, figure: int, finals, df) -> Verdict:
  """Per game P(x > y), x (n-step) better on C4_BETTER_GAMES and worse elsewhere."""
  x, y = claim.conditions
  v = Verdict(claim.id, figure, claim.text, f"per game P({x} > {y}); point/CI: the game farthest from the claim")
  games = _games_run(finals, [x, y])
  if not games:
    return _undecidable(v, finals, [x, y])
  games, excluded = split_by_learning(df, finals, games, list(claim.evidence))
  if not games:
    return _no_learning(v, excluded)
  agree, oppose, parts, worst = 0, 0, [], None
  for g in games:
    mats, seeds = score_matrix(finals, [x, y], [g], column="final_score")
    p, lo, hi = interval([mats[x], mats[y]], probability_of_improvement)
    better = g in C4_BETTER_GAMES
    ok = lo > 0.5 if better else hi < 0.5
    bad = hi < 0.5 if better else lo > 0.5
    agree += ok
    oppose += bad
    parts.append(f"{g} {p:.2f} [{lo:.2f}, {hi:.2f}] (claim: {'better' if better else 'worse'})")
    margin = (p - 0.5) if better else (0.5 - p)
    if worst is None or margin < worst[0]:
      worst = (margin, p, lo, hi, len(seeds))
  _, v.point, v.ci_low, v.ci_high, v.seeds = worst
  v.games = ",".join(games)
  v.frames = int(finals[finals.condition.isin([x, y])].frames.min())
  v.verdict = CONTRADICTED if oppose else SUPPORTED if agree == len(games) else INCONCLUSIVE
  v.reason = "per game: " + "; ".join(parts)
  return _with_excluded(v, excluded)


def _auc_hns(df, cond, game, seeds):
  """[seeds x 1] mean HNS over the evaluation points every run of (cond, game) has."""
  ev = df[(df.condition == cond) & (df.game == game) & df.eval_return.notna()]
  points = sorted(set.intersection(*[set(g.frames) for _, g in ev.groupby("seed")]))
  out = []
  for s in seeds:
    e = ev[ev.seed == s].set_index("frames")["eval_return"]
    out.append([np.mean([human_normalized(game, e[p]) for p in points])])
  return np.array(out, np.float64)


def claim_c5(claim: ClaimSpec, figure: int, finals, df) -> Verdict:
  """Equivalence of the curves of a (pg) and b (soft_ql): per game (b - a) / mean of the HNS areas."""
  a, b = claim.conditions
  m = C5_EQUIVALENCE
  v = Verdict(claim.id, figure, claim.text, f"per game relative difference of HNS area under the eval curve, "
                                            f"({b} - {a}) / mean; point/CI: median game")
  games = _games_run(finals, [a, b])
  if not games:
    return _undecidable(v, finals, [a, b])
  games, excluded = split_by_learning(df, finals, games, list(claim.evidence))
  if not games:
    return _no_learning(v, excluded)
  rel = lambda x, y: (x.mean() - y.mean()) / max(abs(0.5 * (x.mean() + y.mean())), 1e-12)  # noqa: E731
  results, parts = [], []
  for g in games:
    _, seeds = score_matrix(finals, [a, b], [g])
    if not has_reference(g):
      continue
    p, lo, hi = interval([_auc_hns(df, b, g, seeds), _auc_hns(df, a, g, seeds)], rel)
    state = "equivalent" if (lo > -m and hi < m) else "different" if (lo > m or hi < -m) else "undecided"
    results.append((p, lo, hi, len(seeds), state))
    parts.append(f"{g} {p:+.2f} [{lo:+.2f}, {hi:+.2f}] {state}")
  if not results:
    v.reason = "no game with human/random reference scores"
    return _with_excluded(v, excluded)
  results.sort(key=lambda r: r[0])
  v.point, v.ci_low, v.ci_high, v.seeds, _ = results[len(results) // 2]
  v.games = ",".join(games)
  v.frames = int(finals[finals.condition.isin([a, b])].frames.min())
  n_eq = sum(r[4] == "equivalent" for r in results)
  n_diff = sum(r[4] == "different" for r in results)
  v.verdict = (SUPPORTED if n_eq > len(results) / 2 else
               CONTRADICTED if n_diff >= len(results) / 2 else INCONCLUSIVE)
  v.reason = f"equivalence margin +-{m:.0%}: " + "; ".join(parts)
  return _with_excluded(v, excluded)


def claim_c6(claim: ClaimSpec, figure: int, finals, df) -> Verdict:
  """Stability of the claim's one condition c (soft_ql) alone; its one reference condition r (pg)
  is the evidence that a game can be learned at this scale."""
  (c,), (r,) = claim.conditions, claim.reference
  v = Verdict(claim.id, figure, claim.text, f"per game improvement of {c}'s final score over its first "
                                            "evaluation (HNS); point/CI: median game")
  games = _games_run(finals, [c])
  if not games:
    return _undecidable(v, finals, [c])
  # C6 judges c alone, with r as the evidence that the game can be learned at this scale:
  # the game counts if c's or r's runs left random play (claim.evidence)
  games, excluded = split_by_learning(df, finals, games, list(claim.evidence))
  if not games:
    return _no_learning(v, excluded)
  improved, pg_only, collapsed_games, parts, results = 0, 0, 0, [], []
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
    parts.append(f"{g} gain {p:+.4f} HNS [{lo:+.4f}, {hi:+.4f}] (raw {f.first_score.mean():.0f} -> "
                 f"{f.final_score.mean():.0f}), {collapsed} collapsed run(s)"
                 + (f", {r} improved" if pg_improved else ""))
  results.sort(key=lambda r: r[0])
  v.point, v.ci_low, v.ci_high, v.seeds = results[len(results) // 2]
  v.games = ",".join(games)
  v.frames = int(finals[finals.condition == c].frames.min())
  half = len(games) / 2
  v.verdict = (CONTRADICTED if (pg_only >= half or collapsed_games >= half) else
               SUPPORTED if (improved > half and collapsed_games == 0) else INCONCLUSIVE)
  v.reason = ("learned = CI low of the gain > 0; collapse = final gave back more than "
              f"{COLLAPSE_GIVEBACK:.0%} of the first-to-best gain, or a non-finite loss: " + "; ".join(parts))
  return _with_excluded(v, excluded)


# The decision rule of each claim id; the claims themselves, and the conditions each compares, are
# the registry's (`FigureSpec.claims`). rule(claim, figure, finals, progress) -> Verdict.
RULES: Dict[str, Callable[[ClaimSpec, int, pd.DataFrame, pd.DataFrame], Verdict]] = {
    "C1": claim_c1, "C2": claim_c2, "C3": claim_c3, "C4": claim_c4, "C5": claim_c5, "C6": claim_c6}


def judge(progress_by_figure: Dict[int, pd.DataFrame]) -> List[Verdict]:
  """A verdict on every claim of `FIGURES`, figure by figure in the registry's order, from
  {figure: long progress frame} (a missing figure's claims: NOT_RUN). Raises ValueError for a
  registered claim without a rule in `RULES`."""
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
                         f"artifact/claims.py RULES; rules: {', '.join(RULES)}")
      verdicts.append(RULES[claim.id](claim, number, finals, df))
  return verdicts


def write_claims(progress_by_figure: Dict[int, pd.DataFrame], reports_dir, note: str = "") -> Dict[str, object]:
  """reports/claims.csv and reports/claims.md from {figure: long progress frame}."""
  from pathlib import Path
  from artifact.files import atomic_write_text
  verdicts = judge(progress_by_figure)
  table = pd.DataFrame([dataclasses.asdict(v) for v in verdicts])
  reports_dir = Path(reports_dir)
  paths = dict(claims_csv=reports_dir / "claims.csv", claims_md=reports_dir / "claims.md")
  atomic_write_text(paths["claims_csv"], table.to_csv(index=False))
  lines = [f"# The paper's claims, judged{note}", "",
           "Rules and margins: docs/decision_rules.md (written before any data; amendment A1 of "
           "2026-11-30: a game counts for a claim only where at least one compared condition's runs "
           "left random play). Intervals: 95% stratified-bootstrap CIs (rliable). A run's final score: "
           "mean of its last 3 evaluations.",
           "", "| claim | figure | verdict | statistic | point | 95% CI | seeds | frames per run |",
           "|---|---|---|---|---|---|---|---|"]
  for v in verdicts:
    ci = "" if math.isnan(v.ci_low) else f"[{v.ci_low:.3g}, {v.ci_high:.3g}]"
    pt = "" if math.isnan(v.point) else f"{v.point:.3g}"
    lines.append(f"| {v.claim} | {v.figure} | **{v.verdict}** | {v.statistic} | {pt} | {ci} | "
                 f"{v.seeds or ''} | {v.frames:,} |" if v.frames else
                 f"| {v.claim} | {v.figure} | **{v.verdict}** | {v.statistic} | | | | |")
  lines.append("")
  for v in verdicts:
    lines += [f"## {v.claim}: {v.text}", "", f"- verdict: **{v.verdict}**",
              f"- games: {v.games or 'none'}"]
    if v.excluded:
      lines.append(f"- games not counted (amendment A1, runs at random play): {v.excluded}")
    lines += [f"- rule and details: {v.reason}", ""]
  atomic_write_text(paths["claims_md"], "\n".join(lines))
  return paths
