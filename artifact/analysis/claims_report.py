"""The claims' reports: reports/claims.csv (`claims_table`) and reports/claims.md
(`claims_markdown`), from the verdicts of `artifact.analysis.claims.judge` (`write_claims`).
"""
from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from artifact.analysis import error_rates as er
from artifact.analysis.claims import Verdict, judge
from artifact.analysis.gate import CONTRADICTED, SUPPORTED
from artifact.files import atomic_write_text


def _fmt(x: float) -> str:
  return "not measured" if math.isnan(x) else f"{x:.3g}"


def _rate_text(v: Verdict) -> str:
  """claims.md's rate cell: the rule_verdict's family-wide wrong-verdict rate (with its SE), or
  both rates when the rule did not decide."""
  def one(rate: float, se: float) -> str:
    return _fmt(rate) + ("" if math.isnan(rate) or not se else f" +- {se:.1g}")
  if v.rule_verdict in (SUPPORTED, CONTRADICTED):
    return f"{one(v.error_rate, v.error_se)} (of '{v.rule_verdict}')"
  if math.isnan(v.rate_supported) and math.isnan(v.rate_contradicted):
    return ""
  return (f"supported {one(v.rate_supported, v.se_supported)}, "
          f"contradicted {one(v.rate_contradicted, v.se_contradicted)}")


def _seeds_cell(n: float) -> str:
  """A seeds-needed value: "" (not measured), the count, or "cannot be decided by this rule"."""
  if math.isnan(n):
    return "not measured"
  return "cannot be decided by this rule" if n < 0 else f"{int(n)}"


def _interval_text(v: Verdict) -> str:
  """'0.74 [0.56, 0.94]', with the reason for a zero-width interval (complete separation)."""
  if math.isnan(v.point):
    return ""
  if math.isnan(v.ci_low):
    return f"{v.point:.3g}"
  text = f"{v.point:.3g} [{v.ci_low:.3g}, {v.ci_high:.3g}]"
  if v.ci_low == v.ci_high and v.point in (0.0, 1.0):
    text += " (complete separation: every seed of one condition above every seed of the other; not a certainty)"
  return text


def claims_table(verdicts: Sequence[Verdict]) -> pd.DataFrame:
  """claims.csv's table: one row per verdict, the fields of `Verdict` in order (the seeds-needed
  columns as nullable integers: whole seeds, -1 for "cannot be decided by this rule", empty where
  not measured)."""
  table = pd.DataFrame([dataclasses.asdict(v) for v in verdicts],
                       columns=[f.name for f in dataclasses.fields(Verdict)])
  for c in ("seeds_for_supported", "seeds_for_contradicted"):
    table[c] = table[c].astype("Int64")
  return table


_MD_INTRO = ("Rules and margins: docs/decision_rules.md (written before any data; amendment A1 of "
             "2026-11-30: a game counts for a claim only where at least one compared condition's runs "
             "left random play; amendments A2 of 2026-12-03 and A3 of 2026-12-07: a verdict is decided "
             f"only where the rule's probability of deciding it wrongly at this sample is at most "
             f"{er.MAX_RATE:.0%} under every truth of a declared family on the verdict's boundary). "
             "Intervals: stratified-bootstrap CIs (rliable), 97.5% (per game 1 - 0.025 / games where a "
             "rule judges games one by one). A run's final score: mean of its last 3 evaluations. "
             "Wrong-verdict rate: the largest, over the family, probability that the rule returns that "
             "verdict wrongly at these seeds and games, with its Monte-Carlo SE; seeds for 5%: the "
             f"fewest seeds per condition from which every count up to {er.MAX_SEEDS} keeps it within "
             f"{er.MAX_RATE:.0%}.")


def _summary_row(v: Verdict) -> str:
  """claims.md's summary table row of one verdict (empty cells for a claim with no run)."""
  if not v.frames:
    return f"| {v.claim} | {v.figure} | **{v.verdict}** | {v.statistic} | | | | | | | |"
  return (f"| {v.claim} | {v.figure} | **{v.verdict}** | {v.statistic} | {_interval_text(v)} | "
          f"{v.seeds or ''} | {v.frames:,} | {_rate_text(v)} | {_seeds_cell(v.seeds_for_supported)} | "
          f"{_seeds_cell(v.seeds_for_contradicted)} | {v.cpu_summary} |")


def _details(v: Verdict) -> list[str]:
  """claims.md's section of one verdict: verdict, games, exclusions, rates, CPU kinds, reason."""
  lines = [f"## {v.claim}: {v.text}", "", f"- verdict: **{v.verdict}**"
           + (f" (the rule alone: {v.rule_verdict})" if v.rule_verdict != v.verdict else ""),
           f"- games: {v.games or 'none'}"]
  if v.excluded:
    lines.append(f"- games not counted (amendment A1, runs at random play): {v.excluded}")
  if v.rate_method:
    lines.append(f"- wrong-verdict rates (amendments A2/A3): supported {_fmt(v.rate_supported)} "
                 f"(SE {_fmt(v.se_supported)}; least favourable truth: {v.member_supported or '-'}), "
                 f"contradicted {_fmt(v.rate_contradicted)} (SE {_fmt(v.se_contradicted)}; least "
                 f"favourable truth: {v.member_contradicted or '-'}); computed by {v.rate_method}")
    lines.append(f"- reachable: {v.decidable}")
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
           "", "| claim | figure | verdict | statistic | point [CI] | seeds | frames per run | "
               "wrong-verdict rate | seeds for 5%: supported | seeds for 5%: contradicted | CPU kinds per game |",
           "|---|---|---|---|---|---|---|---|---|---|---|"]
  lines += [_summary_row(v) for v in verdicts]
  lines.append("")
  for v in verdicts:
    lines += _details(v)
  return "\n".join(lines)


def write_claims(progress_by_figure: dict[int, pd.DataFrame], reports_dir, note: str = "",
                 machines_by_figure: dict[int, pd.DataFrame] | None = None) -> dict[str, Path]:
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
