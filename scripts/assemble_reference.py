"""Assembles reports/reference/ from the reference campaign (scripts/campaign.sh;
reports/reference/CAMPAIGN.md).

  .venv/bin/python scripts/assemble_reference.py --stage1 FRAMES [--stage2 FRAMES] \
      [--src campaign/out [--src DIR ...]] [--dest reports/reference] [--note "what went wrong"]

What is published is whole grids (`GRIDS`: stage 1's grids of Figures 1/3, stage 2's of Figure
2): a grid is copied only when every one of its runs has reached its stage's frames, so every
published run of a stage is at the same frames; a grid still short of runs is left out whole and
RUN.md lists it (`--allow-partial` copies what it has anyway and says so).
For each run: config.json, progress.csv up to the stage's frames (its first row at or past them;
a run that went further is cut there; the run's own lines, byte for byte), done.json when the
run finished exactly there, machine.json where the store recorded the CPU, and tb/
(not the checkpoints and saved policies: ~7 MB a run, and the DQN replay). Then the reports are
written by exactly the command RUN.md gives for regenerating them (`./run_all.sh ...
--reports-only`), the figures are rendered as PNG for the README, and RUN.md (frozen commit,
commands, machine, the campaign log's step times) and SUMMARY.md (final scores, probabilities of
improvement, verdicts) are written. The previous reference's runs/ and reports/ are replaced (git
history keeps them). Each run is taken from the first `--src` that has it at the stage's frames (the
campaign's store, reports/campaign, for runs trained whole; reports/reference itself for a stage
published before and not yet grown: read from a copy, since its runs/ is replaced).
Raises SystemExit, naming the grids and their runs, when no grid is complete.
`--summary-only` copies nothing and rewrites SUMMARY.md alone from dest's reports as they are.
"""
from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CAMPAIGN_SH = ROOT / "scripts" / "campaign.sh"
# One command that reports every published run (the games and conditions of any grid below; the
# other combinations it selects were never trained and are listed as missing).
REPORT_ARGS = ["--scale", "short", "--no-theory", "--figures", "1,2,3",
               "--games", "Seaquest,Qbert,SpaceInvaders,Breakout,BeamRider,Pong",
               "--conditions",
               "a2c_1step,a2c_proper,pg,soft_ql,dqn,dqn_nstep,soft_dqn_ent_0.1,soft_dqn_kl_0.1",
               "--seeds", "0,1,2,3,4"]
# What is published: each stage (stage 1 = Figures 1/3 at --stage1 frames, stage 2 = Figure 2 at
# --stage2) is the union of its grids (./run_all.sh arguments), in the order scripts/campaign.sh
# trains them. A grid is published only when every one of its runs has reached the stage's frames;
# a grid with runs missing is left out whole and RUN.md says how many it has, so what is published
# is always whole grids at one budget per stage.
GRIDS = {
    "stage1": [
        ["--figures", "1,3", "--games", "Seaquest,Qbert,SpaceInvaders", "--seeds", "0,1,2"],
        ["--figures", "1,3", "--games", "Seaquest,Qbert,SpaceInvaders", "--seeds", "3,4"],
        ["--figures", "1,3", "--games", "BeamRider,Breakout,Pong", "--seeds", "0,1,2"],
        ["--figures", "1,3", "--games", "Seaquest,SpaceInvaders", "--seeds", "5,6,7"],
        ["--figures", "1,3", "--games", "Seaquest,SpaceInvaders", "--seeds", "8,9"]],
    "stage2": [
        ["--figures", "2", "--games", "Breakout", "--conditions",
         "dqn,soft_dqn_ent_0.1,soft_dqn_kl_0.1",
         "--seeds", "0,1"],
        ["--figures", "2", "--games", "Breakout", "--conditions",
         "dqn,soft_dqn_ent_0.1,soft_dqn_kl_0.1,dqn_nstep",
         "--seeds", "2"],
        ["--figures", "2", "--games", "Breakout", "--conditions", "dqn_nstep", "--seeds", "0,1"]],
}
FROZEN_TAG = "campaign-1"


def unreported(plan: dict) -> list:
  """The runs of `plan` ({stage: specs}) that REPORT_ARGS (the reports' command) does not select:
  their seed or condition is not in it. A published run must be in the reports: widen
  REPORT_ARGS' --seeds / --conditions first (it changes RUN.md's regenerate command)."""
  def arg(name):
    return REPORT_ARGS[REPORT_ARGS.index(name) + 1].split(",")
  seeds, conds = {int(x) for x in arg("--seeds")}, set(arg("--conditions"))
  return [s.relpath() for specs in plan.values() for s in specs if s.seed not in seeds
          or s.condition not in conds]


def frozen_commit() -> str:
  """The frozen commit's full hash, from scripts/campaign.sh's `FROZEN=` line (a tag does not
  survive a new checkout; the hash is named once, there). Raises SystemExit if it is missing."""
  for line in CAMPAIGN_SH.read_text().splitlines():
    if line.startswith("FROZEN="):
      return line.split("=", 1)[1].split("#")[0].strip()
  raise SystemExit(f"{CAMPAIGN_SH}: no FROZEN=<commit> line")


def step_stamps(old_run_md: Path, logs: list) -> list:
  """The campaign's step stamps ("2026-...Z step NAME: ..."): those the previous RUN.md listed,
  then those of `logs` (the store's steps.log, kept by scripts/campaign_store.py save --log since
  the campaign log is git-ignored and not kept on a new checkout; the current campaign log) that
  it did not, in order."""
  old = []
  if old_run_md.exists():
    old = [ln.strip()[3:-1] for ln in old_run_md.read_text().splitlines()
           if ln.startswith("  - `20") and " step " in ln]
  new = [ln.lstrip("= ") for log in logs if log.exists() for ln in log.read_text().splitlines()
         if ln.startswith("== 20")]
  out = list(old)
  for st in new:
    if st not in out:
      out.append(st)
  return out


def _cpu_model() -> str:
  try:
    for line in open("/proc/cpuinfo"):
      if line.startswith("model name"):
        return line.split(":", 1)[1].strip()
  except OSError:
    pass
  return platform.processor() or "unknown"


def git_commit(ref: str) -> str:
  """The full hash `ref` names in this repository ("unknown" if git cannot tell)."""
  return subprocess.run(["git", "rev-parse", "--verify", "--quiet", ref + "^{commit}"], cwd=ROOT,
                        capture_output=True,
                        text=True).stdout.strip() or "unknown"


def grid_specs(args: list, frames: int, src: Path):
  """The RunSpecs of one grid of `GRIDS` at `frames` (the grid `./run_all.sh` plans for it)."""
  from artifact.grid import cli, planning
  parsed = cli.build_parser().parse_args(args
                                         + ["--scale", "short", "--frames", str(frames), "--out",
                                            str(src)])
  return planning.plan_from_args(parsed).specs


def copy_run(run: Path, dest: Path, frames: int) -> str:
  """Copies one run's record up to `frames` into `dest`; returns how far the run itself is."""
  dest.mkdir(parents=True, exist_ok=True)
  shutil.copy2(run / "config.json", dest / "config.json")
  from artifact.analysis.results import rows_up_to
  from artifact.files import atomic_write_text
  rows = pd.read_csv(run / "progress.csv")
  cut = rows_up_to(rows, frames)["frames"].max()
  # The run's own lines, not a pandas round trip: read_csv's float parser and to_csv would
  # change the last digit of some values and write integer columns with NaNs as floats ("8.0"),
  # so the copy would no longer be what the run wrote (scripts/compare_runs.py compares text).
  lines = (run / "progress.csv").read_text().splitlines(keepends=True)
  col = lines[0].rstrip("\r\n").split(",").index("frames")
  kept = [lines[0]] + [ln for ln in lines[1:] if ln.strip() and int(ln.split(",")[col]) <= cut]
  atomic_write_text(dest / "progress.csv", "".join(kept))
  done = run / "done.json"
  if done.exists() and int(pd.read_json(done, typ="series")["frames"]) == int(cut):
    shutil.copy2(done, dest / "done.json")
    state = ("finished here" if int(cut) >= frames
             else f"finished at {int(cut):,} frames, short of {frames:,}")
  else:
    state = (f"the run itself is at {int(rows['frames'].max()):,} frames"
             + (" (finished)" if done.exists() else " (training)"))
  if (run / "tb").exists():
    shutil.copytree(run / "tb", dest / "tb", dirs_exist_ok=True)
  if (run / "machine.json").exists():         # the campaign store's (scripts/campaign_store.py)
    shutil.copy2(run / "machine.json", dest / "machine.json")
    state += f"; trained on {pd.read_json(run / 'machine.json', typ='series')['cpu']}"
  return state


def _parse(argv):
  p = argparse.ArgumentParser(description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument("--stage1", type=int, default=None, metavar="FRAMES",
                 help="stage 1's frames (required unless --summary-only)")
  p.add_argument("--stage2", type=int, default=None, metavar="FRAMES",
                 help="stage 2's frames (default: not yet)")
  p.add_argument("--src", action="append", default=None, metavar="DIR",
                 help="a campaign --out (runs/ under it); repeat to look in several, in order "
                      "(default: campaign/out)")
  p.add_argument("--dest", default=str(ROOT / "reports" / "reference"))
  p.add_argument("--campaign-log", action="append", default=None, metavar="FILE",
                 help="a log with campaign.sh's step stamps; repeat for several (default: "
                      "reports/campaign/steps.log, then campaign/logs/campaign.log)")
  p.add_argument("--allow-partial", action="store_true",
                 help="copy a stage whose runs have not all reached its frames (said in RUN.md)")
  p.add_argument("--note", default="", help="what went wrong, for RUN.md")
  p.add_argument("--summary-only", action="store_true",
                 help="copy nothing: rewrite DEST/SUMMARY.md from DEST/reports/ as they are")
  a = p.parse_args(argv)
  if a.stage1 is None and not a.summary_only:
    p.error("--stage1 is required (unless --summary-only)")
  return a


def _last_frames(run: Path) -> int:
  f = run / "progress.csv"
  return int(pd.read_csv(f)["frames"].max()) if f.exists() else 0


def _select(stages: dict, srcs: list, allow_partial: bool):
  """For each stage, the specs of the grids whose runs all reached its frames (all of them with
  `allow_partial`). Returns (plan {stage: specs}, behind [runs short of their stage], found
  {relpath: the source run dir}, left_out [grids held back, with why])."""
  plan, behind, found, left_out = {}, [], {}, []
  for stage, frames in stages.items():
    plan[stage] = []
    for args in GRIDS[stage]:
      specs, short = grid_specs(args, frames, srcs[0]), []
      for s in specs:
        runs = [src / "runs" / s.relpath() for src in srcs]
        ok = [r for r in runs if _last_frames(r) >= frames]
        best = ok[0] if ok else max(runs, key=_last_frames)
        if _last_frames(best):
          found[s.relpath()] = best
        if not ok:
          short.append(f"{s.relpath()}: {_last_frames(best):,} of {frames:,} frames")
      if short and not allow_partial:
        left_out.append(
            f"{stage} `{' '.join(args)}`: {len(specs) - len(short)} of {len(specs)} runs at "
                        f"{frames:,} frames (left out until all are)")
        continue
      behind += [f"{stage} {x}" for x in short]
      plan[stage] += specs
  return plan, behind, found, left_out


def _write_reports(dest: Path) -> int:
  """The reports of dest/runs (the command RUN.md gives) and the PNG figures the README shows."""
  from artifact.analysis import curves, results
  from artifact.grid import cli
  code = cli.main(REPORT_ARGS + ["--out", str(dest), "--reports-only"])
  for f in (1, 2, 3):
    df = results.load_progress(dest / "runs", f)
    if len(df):
      curves.plot_figure(curves.figure_curves(df, f), dest / "reports" / f"figure{f}.png",
                         " [reference campaign]")
  return code


def _run_md(stages, plan, behind, left_out, stamps, states, note) -> str:
  """RUN.md: what is here, the frozen commit, how to regenerate, the machines, the step stamps."""
  commit, head = frozen_commit(), git_commit("HEAD")
  runs_lines = "\n".join(f"- `{rel}`: {state}" for rel, state in sorted(states.items()))
  here = ", ".join(f"{st} at {fr:,} frames ({len(plan[st])} runs)" for st, fr in stages.items())
  report_args = " ".join(REPORT_ARGS)
  return f"""# Reference campaign: provenance

- what is here: {here}
  ({"a consistent set: every run of a stage at the stage's frames" if not behind else
    "NOT a consistent set: " + "; ".join(behind)})
- frozen code: commit `{commit}` (tag `{FROZEN_TAG}`); every run here was trained by it
- reports (runs/ -> reports/): written by the reporting code of commit `{head}` (the
  repository's HEAD when this was assembled), with the command below; that command at any later
  commit that leaves the reports' code alone regenerates them byte for byte (figures aside)
- grids not published yet (scripts/assemble_reference.py's GRIDS; scripts/campaign.sh trains
  them, each step as `./run_all.sh --scale short --jobs 2 --no-theory --out out --status-every
  120 ARGS` at `nice -n 10` from a git worktree of the frozen commit; the commands that ran are
  in the stamps below): {"none" if not left_out else ""}
{chr(10).join('  - ' + x for x in left_out)}
- machines: 2-core machines of one class but not of one CPU kind (Intel Xeon with AVX-512, AMD
  EPYC with AVX-512, AMD EPYC with AVX2 only: CAMPAIGN.md has each with its throughput); a run
  repeats bit for bit on one CPU kind, not across kinds, so each run below names the CPU that
  trained it where that was recorded; assembled on
  {os.cpu_count()} CPU cores ({_cpu_model()}), {platform.system()} {platform.release()},
  Python {platform.python_version()}, tensorflow-cpu 2.15.1, no GPU; shared with development
  work, so the frames/s in progress.csv say nothing about speed
- wall time: each run's and each step's is in CAMPAIGN.md; the campaign log's step stamps (a
  step stopped before finishing has a start and no exit; its unfinished runs are not kept and
  are retrained from zero when the campaign resumes):
{chr(10).join('  - `' + s + '`' for s in stamps)}
- copied here: each run's config.json, progress.csv up to its stage's frames, done.json when the
  run finished there, machine.json (its CPU) where recorded, and tb/ (its TensorBoard scalars,
  up to where the run stood); not the checkpoints and saved policies
- regenerate the reports: `./run_all.sh {report_args} --out reports/reference --reports-only`
  (runs of other games and conditions that this selects were never trained: listed as missing)

## Runs
{runs_lines}

{note}
"""


def main(argv=None):
  a = _parse(argv)
  dest = Path(a.dest)
  if a.summary_only:
    (dest / "SUMMARY.md").write_text(summary(dest))
    print((dest / "SUMMARY.md").read_text())
    return 0
  srcs = [Path(s) for s in (a.src or [ROOT / "campaign" / "out"])]
  scratch = tempfile.TemporaryDirectory(prefix="assemble-")
  for i, s in enumerate(srcs):  # dest's runs/ is replaced below: read a source there from a copy
    if s.resolve() == dest.resolve() or dest.resolve() in s.resolve().parents:
      shutil.copytree(s / "runs", Path(scratch.name) / str(i) / "runs")
      srcs[i] = Path(scratch.name) / str(i)
  stages = {"stage1": a.stage1, **({"stage2": a.stage2} if a.stage2 else {})}
  plan, behind, found, left_out = _select(stages, srcs, a.allow_partial)
  if not plan["stage1"] and not plan.get("stage2"):
    raise SystemExit(
        "no grid has all its runs at its stage's frames (rerun with smaller frames, or "
                     "--allow-partial):\n  " + "\n  ".join(left_out))
  missing = unreported(plan)
  if missing:
    raise SystemExit(
        f"{len(missing)} run(s) to publish are outside REPORT_ARGS' --seeds "
        f"{REPORT_ARGS[REPORT_ARGS.index('--seeds') + 1]} "
                     f"or its --conditions (add them there first): " + ", ".join(missing[:6])
        + (" ..." if len(missing) > 6 else ""))
  for old in ("runs", "reports"):
    shutil.rmtree(dest / old, ignore_errors=True)
  states = {}
  for stage, specs in plan.items():
    for s in specs:
      if s.relpath() in found:
        states[s.relpath()] = copy_run(found[s.relpath()], dest / "runs" / s.relpath(),
                                       stages[stage])
  scratch.cleanup()
  code = _write_reports(dest)
  logs = a.campaign_log or [ROOT / "reports" / "campaign" / "steps.log",
                            ROOT / "campaign" / "logs" / "campaign.log"]
  stamps = step_stamps(dest / "RUN.md", [Path(f) for f in logs])
  text = _run_md(stages, plan, behind, left_out, stamps, states, a.note)
  (dest / "RUN.md").write_text(text)
  (dest / "SUMMARY.md").write_text(summary(dest))
  print(text)
  print((dest / "SUMMARY.md").read_text())
  return code


def score(x: float) -> str:
  """A raw game score for the tables: whole points from 100 up (Qbert's 153), three significant
  digits below (Breakout's 3.29, 10.8), where whole points would hide the differences."""
  return f"{x:.0f}" if abs(x) >= 100 else f"{x:.3g}"


def summary(dest: Path) -> str:
  """Markdown for the README: per game, each condition's final score with its CI; the
  probabilities of improvement (per game and aggregate); our training return beside the
  published curve at the last shared frame point (reports/parity.csv); the claims' verdicts."""
  stats = pd.read_csv(dest / "reports" / "statistics.csv")
  claims = pd.read_csv(dest / "reports" / "claims.csv")
  lines = ["| figure | game | condition | seeds | frames per run | final score: mean [95% CI] |",
           "|---|---|---|---|---|---|"]
  finals = stats[stats.metric == "final_score_mean"]
  for _, m in finals.sort_values(["figure", "game", "condition"], kind="stable").iterrows():
    lines.append(f"| {m.figure} | {m.game} | `{m.condition}` | {m.seeds} | {int(m.frames):,} | "
                 f"{score(m.point)} [{score(m.ci_low)}, {score(m.ci_high)}] |")
  poi = stats[stats.metric == "probability_of_improvement"]
  lines += ["",
            "P(X > Y): the probability of improvement (rliable), per game on that game's own "
            "seeds; \"all games (common seeds)\" averages it over every game both conditions ran, "
            "on the seeds all of them share (a description of the data, not a claim's statistic: "
            "claims.md has those).",
            "", "| figure | pair | game | seeds | P(X > Y) [95% CI] |", "|---|---|---|---|---|"]
  for _, r in poi.iterrows():
    game = "all games (common seeds)" if r.game == "aggregate" else r.game
    lines.append(f"| {r.figure} | {r.condition.replace('>', ' > ')} | {game} | {r.seeds} | "
                 f"{r.point:.2f} [{r.ci_low:.2f}, {r.ci_high:.2f}] |")
  parity = dest / "reports" / "parity.csv"
  if parity.exists():
    par = pd.read_csv(parity)
    last = par.loc[par.groupby(["condition", "game"])["frames"].idxmax()]
    lines += ["",
              "| condition | game | frames | ours: training return, mean [min, max] | SB3 zoo "
              "(published) | ours vs zoo |",
              "|---|---|---|---|---|---|"]
    for _, r in last.iterrows():
      lines.append(f"| `{r.condition}` | {r.game} | {int(r.frames):,} | {score(r.ours_mean)} "
                   f"[{score(r.ours_min)}, {score(r.ours_max)}] ({int(r.ours_seeds)} seeds) | "
                   f"{score(r.zoo_return)} | {r.gap_ours_vs_zoo_pct:+.1f}% |")
  lines += ["", "| claim | verdict (the rule alone) | statistic | point [CI] | wrong-verdict rate: "
            "supported / contradicted (worst truth of the family) | seeds for 5%: supported / "
            "contradicted | CPU kinds |",
            "|---|---|---|---|---|---|---|"]

  def seeds(x) -> str:
    return "not measured" if pd.isna(x) else "cannot be decided" if int(x) < 0 else str(int(x))

  for _, c in claims.iterrows():
    ci = "" if pd.isna(c.ci_low) else f"{c.point:.3g} [{c.ci_low:.3g}, {c.ci_high:.3g}]"
    if ci and c.ci_low == c.ci_high and c.point in (0.0, 1.0):   # as claims.md says it
      ci += " (complete separation: the seeds do not overlap; not a certainty)"
    alone = "" if c.rule_verdict == c.verdict else f" ({c.rule_verdict})"
    rates = " / ".join("" if pd.isna(r) else f"{r:.3g}"
                       for r in (c.rate_supported, c.rate_contradicted))
    cpu = "" if pd.isna(c.cpu_summary) else c.cpu_summary
    lines.append(f"| {c.claim} | **{c.verdict}**{alone} | {c.statistic} | {ci} | {rates} | "
                 f"{seeds(c.seeds_for_supported)} / {seeds(c.seeds_for_contradicted)} | {cpu} |")
  return "\n".join(lines) + "\n"


if __name__ == "__main__":
  sys.exit(main())
