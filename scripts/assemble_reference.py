"""Assembles reports/reference/ from a finished reference grid (maintainers' tool).

  .venv/bin/python scripts/assemble_reference.py SRC_OUT DEST --command "..." --commit SHA \
      --started ISO --finished ISO [--note "..."]

Copies every run's config.json, progress.csv, done.json and tb/ (not the checkpoints and saved
policies: ~7 MB a run) from SRC_OUT/runs to DEST/runs, writes the figure, statistics and claims
reports from them exactly as `./run_all.sh --reports-only --out DEST` does, renders the figures
as PNG for the README, and writes DEST/RUN.md with the command, commit, machine and wall time.
"""
from __future__ import annotations

import argparse
import os
import platform
import shutil
import sys
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _cpu_model() -> str:
  try:
    for line in open("/proc/cpuinfo"):
      if line.startswith("model name"):
        return line.split(":", 1)[1].strip()
  except OSError:
    pass
  return platform.processor() or "unknown"


def main(argv=None):
  p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument("src")
  p.add_argument("dest")
  p.add_argument("--command", required=True)
  p.add_argument("--commit", required=True)
  p.add_argument("--started", required=True)
  p.add_argument("--finished", required=True)
  p.add_argument("--args", required=True, help="the CLI arguments of the grid, for --reports-only")
  p.add_argument("--note", default="")
  a = p.parse_args(argv)
  src, dest = Path(a.src) / "runs", Path(a.dest)
  for cfg in sorted(src.glob("figure*/*/*/seed*/config.json")):
    run = cfg.parent
    out = dest / "runs" / run.relative_to(src)
    out.mkdir(parents=True, exist_ok=True)
    for name in ("config.json", "progress.csv", "done.json"):
      if (run / name).exists():
        shutil.copy2(run / name, out / name)
    if (run / "tb").exists():
      shutil.copytree(run / "tb", out / "tb", dirs_exist_ok=True)

  from artifact import cli, reports
  cli.main(a.args.split() + ["--out", str(dest), "--reports-only", "--no-theory"])
  for f in (1, 3):
    df = reports.load_progress(dest / "runs", f)
    if len(df):
      reports.plot_figure(df, f, dest / "reports" / f"figure{f}.png", " [reference: Seaquest, 3M frames]")

  dones = [pd.read_json(d, typ="series") for d in sorted((dest / "runs").glob("*/*/*/*/done.json"))]
  run_hours = sum(float(d["wall_s"]) for d in dones) / 3600
  t0, t1 = pd.Timestamp(a.started), pd.Timestamp(a.finished)
  text = f"""# Reference run: provenance

- command: `{a.command}`
- commit: `{a.commit}`
- machine: {os.cpu_count()} CPU cores ({_cpu_model()}), {platform.system()} {platform.release()}, Python {platform.python_version()}, tensorflow-cpu 2.15.1, no GPU
- wall time: {t0:%Y-%m-%d %H:%M} to {t1:%Y-%m-%d %H:%M} UTC ({(t1 - t0).total_seconds() / 3600:.2f} h for the grid); {len(dones)} runs, {run_hours:.2f} run-hours in all (two runs side by side)
- copied here: each run's config.json, progress.csv, done.json and tb/ (not the checkpoints and saved policies)
- regenerate the reports: `./run_all.sh {a.args} --out reports/reference --reports-only --no-theory`

{a.note}
"""
  (dest / "RUN.md").write_text(text)
  print(text)
  (dest / "SUMMARY.md").write_text(summary(dest))
  print((dest / "SUMMARY.md").read_text())


def summary(dest: Path) -> str:
  """Markdown: final scores with CIs per condition and the claims' verdicts, for the README."""
  stats = pd.read_csv(dest / "reports" / "statistics.csv")
  claims = pd.read_csv(dest / "reports" / "claims.csv")
  lines = ["| figure | condition | seeds | frames per run | final score: mean [95% CI] | IQM [95% CI] |",
           "|---|---|---|---|---|---|"]
  for (fig, cond), g in stats[stats.metric.isin(["final_score_mean", "final_score_iqm"])].groupby(
      ["figure", "condition"], sort=False):
    m = g[g.metric == "final_score_mean"].iloc[0]
    q = g[g.metric == "final_score_iqm"].iloc[0]
    lines.append(f"| {fig} | `{cond}` | {m.seeds} | {int(m.frames):,} | {m.point:.0f} "
                 f"[{m.ci_low:.0f}, {m.ci_high:.0f}] | {q.point:.0f} [{q.ci_low:.0f}, {q.ci_high:.0f}] |")
  poi = stats[(stats.metric == "probability_of_improvement") & (stats.game == "aggregate")]
  lines += ["", "| pair | P(X > Y) [95% CI] |", "|---|---|"]
  for _, r in poi.iterrows():
    lines.append(f"| {r.condition.replace('>', ' > ')} | {r.point:.2f} [{r.ci_low:.2f}, {r.ci_high:.2f}] |")
  lines += ["", "| claim | verdict | statistic | point [95% CI] |", "|---|---|---|---|"]
  for _, c in claims.iterrows():
    ci = "" if pd.isna(c.ci_low) else f"{c.point:.3g} [{c.ci_low:.3g}, {c.ci_high:.3g}]"
    lines.append(f"| {c.claim} | **{c.verdict}** | {c.statistic} | {ci} |")
  return "\n".join(lines) + "\n"


if __name__ == "__main__":
  main()
