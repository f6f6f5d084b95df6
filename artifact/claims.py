"""A verdict on each of the paper's claims (Sec. 6), by the rules of docs/decision_rules.md.

Each claim is a small function from the figure's long progress frame to a `Verdict`: the
statistic, its 95% CI (rliable stratified bootstrap, `artifact.statistics.interval`), the seeds
and frames behind it, and one of SUPPORTED / CONTRADICTED / INCONCLUSIVE / NOT_RUN. The rules and
margins are constants here, named as in the doc; a claim the data cannot decide is inconclusive,
never forced.

Outputs (`write_claims`): reports/claims.csv (one row per claim) and reports/claims.md.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Callable, Dict, List, Optional, Sequence

import numpy as np
import pandas as pd
from rliable import metrics

from artifact.atari_scores import has_reference, human_normalized
from artifact.statistics import final_scores, interval, probability_of_improvement, score_matrix

SUPPORTED, CONTRADICTED, INCONCLUSIVE, NOT_RUN = (
    "supported", "contradicted", "inconclusive at this scale", "not run")
MIN_SEEDS = 2                 # seeds per condition for a game to count as "run"
C1_NONINFERIORITY = 0.40      # P(proper > naive) CI low must reach this
C5_EQUIVALENCE = 0.20         # +-20% relative difference of the HNS area under the eval curve
C4_BETTER_GAMES = ("Pong", "Qbert")
COLLAPSE_GIVEBACK = 0.5       # final score gave back more than half of first -> best gain


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


CLAIM_TEXT = {
    "C1": (1, "A2C with entropy in the returns (proper) performs the same as or better than naive A2C"),
    "C2": (2, "Soft Q-learning, entropy bonus, tau = 0.1, performs a bit better than standard DQN"),
    "C3": (2, "The KL-penalty version (tau = 0.1) performs worse than the entropy-bonus version"),
    "C4": (2, "5-step Q-learning is better on Pong and Qbert, worse on the other games"),
    "C5": (3, "PG and soft Q-learning learning curves are almost identical in most games"),
    "C6": (3, "Soft Q-learning learns stably without a target network or an epsilon schedule"),
}


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


def _poi_claim(claim, finals, x, y, decide: Callable[[float, float], Optional[str]], rule: str) -> Verdict:
  fig, text = CLAIM_TEXT[claim]
  v = Verdict(claim, fig, text, f"P({x} > {y}) on final scores")
  games = _games_run(finals, [x, y])
  if not games:
    return _undecidable(v, finals, [x, y])
  mats, seeds = score_matrix(finals, [x, y], games, column="final_score")
  v.point, v.ci_low, v.ci_high = interval([mats[x], mats[y]], probability_of_improvement)
  v.seeds, v.games = len(seeds), ",".join(games)
  v.frames = int(finals[finals.condition.isin([x, y])].frames.min())
  v.verdict = decide(v.ci_low, v.ci_high) or INCONCLUSIVE
  v.reason = rule
  return v


def claim_c1(finals) -> Verdict:
  m = C1_NONINFERIORITY
  return _poi_claim("C1", finals, "a2c_proper", "a2c_1step",
                    lambda lo, hi: SUPPORTED if lo >= m else CONTRADICTED if hi < m else None,
                    f"non-inferiority: supported if CI low >= {m}, contradicted if CI high < {m}")


def _superiority(lo, hi):
  return SUPPORTED if lo > 0.5 else CONTRADICTED if hi < 0.5 else None


def claim_c2(finals) -> Verdict:
  return _poi_claim("C2", finals, "soft_dqn_ent_0.1", "dqn", _superiority,
                    "superiority: supported if CI low > 0.5, contradicted if CI high < 0.5")


def claim_c3(finals) -> Verdict:
  return _poi_claim("C3", finals, "soft_dqn_ent_0.1", "soft_dqn_kl_0.1", _superiority,
                    "superiority of entropy over KL: supported if CI low > 0.5, contradicted if CI high < 0.5")


def claim_c4(finals) -> Verdict:
  fig, text = CLAIM_TEXT["C4"]
  x, y = "dqn_nstep", "dqn"
  v = Verdict("C4", fig, text, f"per game P({x} > {y}); point/CI: the game farthest from the claim")
  games = _games_run(finals, [x, y])
  if not games:
    return _undecidable(v, finals, [x, y])
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
  return v


def _auc_hns(df, cond, game, seeds):
  """[seeds x 1] mean HNS over the evaluation points every run of (cond, game) has."""
  ev = df[(df.condition == cond) & (df.game == game) & df.eval_return.notna()]
  points = sorted(set.intersection(*[set(g.frames) for _, g in ev.groupby("seed")]))
  out = []
  for s in seeds:
    e = ev[ev.seed == s].set_index("frames")["eval_return"]
    out.append([np.mean([human_normalized(game, e[p]) for p in points])])
  return np.array(out, np.float64)


def claim_c5(df, finals) -> Verdict:
  fig, text = CLAIM_TEXT["C5"]
  a, b = "pg", "soft_ql"
  m = C5_EQUIVALENCE
  v = Verdict("C5", fig, text, f"per game relative difference of HNS area under the eval curve, "
                               f"({b} - {a}) / mean; point/CI: median game")
  games = _games_run(finals, [a, b])
  if not games:
    return _undecidable(v, finals, [a, b])
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
    return v
  results.sort(key=lambda r: r[0])
  v.point, v.ci_low, v.ci_high, v.seeds, _ = results[len(results) // 2]
  v.games = ",".join(games)
  v.frames = int(finals[finals.condition.isin([a, b])].frames.min())
  n_eq = sum(r[4] == "equivalent" for r in results)
  n_diff = sum(r[4] == "different" for r in results)
  v.verdict = (SUPPORTED if n_eq > len(results) / 2 else
               CONTRADICTED if n_diff >= len(results) / 2 else INCONCLUSIVE)
  v.reason = f"equivalence margin +-{m:.0%}: " + "; ".join(parts)
  return v


def claim_c6(df, finals) -> Verdict:
  fig, text = CLAIM_TEXT["C6"]
  v = Verdict("C6", fig, text, "per game improvement of soft_ql's final score over its first "
                               "evaluation (HNS); point/CI: median game")
  games = _games_run(finals, ["soft_ql"])
  if not games:
    return _undecidable(v, finals, ["soft_ql"])
  improved, pg_only, collapsed_games, parts, results = 0, 0, 0, [], []
  for g in games:
    f = finals[(finals.condition == "soft_ql") & (finals.game == g)]
    hns = (lambda x: human_normalized(g, x) - human_normalized(g, 0.0)) if has_reference(g) else (lambda x: x)
    gain = hns(f.final_score - f.first_score).to_numpy()[:, None]
    p, lo, hi = interval([gain], metrics.aggregate_mean)
    loss = df[(df.condition == "soft_ql") & (df.game == g)]["loss"] if "loss" in df else pd.Series(dtype=float)
    collapsed = int(((f.final_score - f.first_score) < (1 - COLLAPSE_GIVEBACK) * (f.best_score - f.first_score)).sum()
                    + (~np.isfinite(pd.to_numeric(loss, errors="coerce").dropna())).sum())
    pg = finals[(finals.condition == "pg") & (finals.game == g)]
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
                 + (", pg improved" if pg_improved else ""))
  results.sort(key=lambda r: r[0])
  v.point, v.ci_low, v.ci_high, v.seeds = results[len(results) // 2]
  v.games = ",".join(games)
  v.frames = int(finals[finals.condition == "soft_ql"].frames.min())
  half = len(games) / 2
  v.verdict = (CONTRADICTED if (pg_only >= half or collapsed_games >= half) else
               SUPPORTED if (improved > half and collapsed_games == 0) else INCONCLUSIVE)
  v.reason = ("learned = CI low of the gain > 0; collapse = final gave back more than "
              f"{COLLAPSE_GIVEBACK:.0%} of the first-to-best gain, or a non-finite loss: " + "; ".join(parts))
  return v


def judge(frames_by_figure: Dict[int, pd.DataFrame]) -> List[Verdict]:
  """All six verdicts from {figure: long progress frame} (missing figures: NOT_RUN)."""
  empty = pd.DataFrame(columns=["game", "condition", "seed", "frames", "eval_return", "loss"])
  df = {f: frames_by_figure.get(f, empty) for f in (1, 2, 3)}
  fin = {f: final_scores(d) if len(d) else final_scores(empty) for f, d in df.items()}
  return [claim_c1(fin[1]), claim_c2(fin[2]), claim_c3(fin[2]), claim_c4(fin[2]),
          claim_c5(df[3], fin[3]), claim_c6(df[3], fin[3])]


def write_claims(frames_by_figure: Dict[int, pd.DataFrame], reports_dir, note: str = "") -> Dict[str, object]:
  """reports/claims.csv and reports/claims.md."""
  from pathlib import Path
  from artifact.files import atomic_write_text
  verdicts = judge(frames_by_figure)
  table = pd.DataFrame([dataclasses.asdict(v) for v in verdicts])
  reports_dir = Path(reports_dir)
  paths = dict(claims_csv=reports_dir / "claims.csv", claims_md=reports_dir / "claims.md")
  atomic_write_text(paths["claims_csv"], table.to_csv(index=False))
  lines = [f"# The paper's claims, judged{note}", "",
           "Rules and margins: docs/decision_rules.md (written before any data). Intervals: 95% "
           "stratified-bootstrap CIs (rliable). A run's final score: mean of its last 3 evaluations.",
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
              f"- games: {v.games or 'none'}", f"- rule and details: {v.reason}", ""]
  atomic_write_text(paths["claims_md"], "\n".join(lines))
  return paths
