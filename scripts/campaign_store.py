"""The reference campaign's store of finished runs: reports/campaign/runs/, committed.

  python3 scripts/campaign_store.py save    [--out campaign/out] [--store reports/campaign] [--log \
      campaign/logs/campaign.log]
  python3 scripts/campaign_store.py restore [--out campaign/out] [--store reports/campaign]

Why: only what is committed survives a new checkout. The campaign's checkpoints (~20 MB an
A2C run; a DQN run's with its replay, gigabytes) and its git-ignored worktree are not committed
(on 2026-12-01 they were not kept: reports/reference/CAMPAIGN.md), so a run is trained whole,
in one go to its step's final frames, and only finished runs count; commit the store after each
finished pair. `save` copies every finished run (one with done.json) of `--out` into the store:
config.json, progress.csv, done.json and tb/ (its TensorBoard scalars), ~40 KB, the files
scripts/assemble_reference.py publishes, machine.json (the CPU that trained it: runs repeat
bit for bit on one CPU family, not across them), and for POLICY_RUNS policy/ (the final
policy). `restore` copies the store's runs back into `--out` where `--out` has no such run, so
`./run_all.sh` skips them as finished (runner.prepare: a run whose done.json reached the asked
frames is skipped). Since runs are deterministic, a run that is short of the final frames needs
no checkpoint: it retrains from zero through the same rows (scripts/compare_runs.py checks
that), and a finished run at F frames holds every shorter stage.

`save --log` also keeps the campaign log's step lines ("== <UTC time> step NAME: ..." and the
"-- <UTC time> ..." notes) in the store's steps.log, since the log itself is git-ignored and
not kept on a new checkout: scripts/assemble_reference.py reads them for RUN.md's step stamps.

Standard library only (scripts/campaign.sh calls it with the worktree's or the system's Python).
Every copy goes to a temporary directory beside its target and is renamed into place, so a
killed `save` leaves either the old copy or the new one. Exit status 0; 2 on a bad directory.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
# the standard library only (this script runs with the system Python, beside the campaign)
from artifact.files import atomic_dir, atomic_write_text  # noqa: E402

FILES = ("config.json", "progress.csv", "done.json")
MACHINE = "machine.json"     # the store's own: the CPU that trained the run (not a run file)
POLICY = "policy"  # the run's final PolicySaver SavedModel (~7 MB), kept for POLICY_RUNS only
# The runs whose final policy the store keeps (and reports/reference/policies/ publishes), so a
# user can load and watch a trained agent without training: one seed of each Figure 2 condition
# on Breakout and of each Figure 1/3 condition on Seaquest (pg is a2c_proper's run).
POLICY_RUNS = frozenset(
    [f"figure2/Breakout/{c}/seed2" for c in ("dqn", "dqn_nstep", "soft_dqn_ent_0.1",
                                             "soft_dqn_kl_0.1")]
    + ["figure1/Seaquest/a2c_1step/seed3", "figure1/Seaquest/a2c_proper/seed3",
       "figure3/Seaquest/soft_ql/seed3"])


# the /proc/cpuinfo flags the CPU kernels (oneDNN among them) dispatch on
ISA_FLAGS = ("avx2", "avx512f", "avx512_bf16", "amx_bf16")


def this_machine(cpuinfo: str = "/proc/cpuinfo") -> dict:
  """{"cpu": model name, "isa": "avx512" or "avx2" or "other", "flags": {flag: bool for each of
  ISA_FLAGS}, "cores": n}: what the runs' floats depend on. On 2026-12-01 the same run on an
  AMD EPYC and on an Intel Xeon (AVX-512) differed in the loss's 7th significant digit from the
  first progress row (likely the CPU kernels, oneDNN's among them, which dispatch on the
  instruction set) and in the returns from ~400k frames on, while machines of one kind repeated
  runs bit for bit. So each stored run says where it was trained, with the flags in full
  (AVX512_BF16 and AMX change oneDNN's kernels too). "isa" is the coarse kind older records
  have alone."""
  model, flags = "unknown", set()
  try:
    for line in open(cpuinfo):            # the first processor's block
      if not line.strip() and flags:
        break
      if line.startswith("model name"):
        model = line.split(":", 1)[1].strip()
      elif line.startswith("flags"):
        flags = set(line.split(":", 1)[1].split())
  except OSError:
    pass
  isa = "avx512" if "avx512f" in flags else "avx2" if "avx2" in flags else "other"
  return {"cpu": model, "isa": isa, "flags": {f: f in flags for f in ISA_FLAGS},
          "cores": os.cpu_count()}


def finished_runs(runs: Path):
  """The run directories under `runs` (figureF/Game/condition/seedS) that hold a done.json."""
  return sorted(d.parent for d in runs.glob("figure*/*/*/seed*/done.json"))


def copy_record(src: Path, dest: Path, policy: bool = False) -> None:
  """Replaces `dest` with `src`'s record (FILES, tb/ and machine.json; with `policy`, also
  policy/ where `src` has one), through a temporary directory (`artifact.files.atomic_dir`)."""
  with atomic_dir(dest) as tmp:
    for f in FILES:
      shutil.copy2(src / f, tmp / f)
    if (src / MACHINE).exists():
      shutil.copy2(src / MACHINE, tmp / MACHINE)
    if (src / "tb").is_dir():
      shutil.copytree(src / "tb", tmp / "tb")
    if policy and (src / POLICY / "saved_model.pb").exists():
      shutil.copytree(src / POLICY, tmp / POLICY)


def frames_of(run: Path) -> int:
  return int(json.loads((run / "done.json").read_text()).get("frames", 0))


def save(out: Path, store: Path, machine: dict = None) -> int:
  """Copies each finished run of `out` whose store copy is missing or finished at fewer frames,
  with `machine` (default: this one, which trained them: runs are trained whole on one machine)
  in its machine.json unless the run has one, and for POLICY_RUNS the final policy. Returns
  the number of runs copied."""
  n = 0
  for run in finished_runs(out / "runs"):
    rel = run.relative_to(out / "runs")
    kept = store / "runs" / rel
    keep_policy = rel.as_posix() in POLICY_RUNS
    if (kept / "done.json").exists() and frames_of(kept) >= frames_of(run) and (
        not keep_policy or (kept / POLICY).exists() or not (run / POLICY).exists()):
      continue
    copy_record(run, kept, policy=keep_policy)
    if not (kept / MACHINE).exists():
      (kept / MACHINE).write_text(json.dumps(machine or this_machine(), indent=2) + "\n")
    print(f"saved {rel}: finished at {frames_of(run):,} frames")
    n += 1
  return n


STEP_PREFIXES = ("== 20", "-- 20")   # campaign.sh's step stamps and notes, UTC times (2026-...)


def save_steps(log: Path, store: Path) -> int:
  """Appends `log`'s step lines (STEP_PREFIXES) that `store`/steps.log lacks to it, in the log's
  order, written atomically. Returns the number of lines added (0 if `log` does not exist)."""
  if not log.exists():
    return 0
  kept_file = store / "steps.log"
  kept = kept_file.read_text().splitlines() if kept_file.exists() else []
  have = set(kept)
  new = [ln for ln in log.read_text(errors="replace").splitlines() if ln.startswith(STEP_PREFIXES)
         and ln not in have]
  if new:
    store.mkdir(parents=True, exist_ok=True)
    atomic_write_text(kept_file, "\n".join(kept + new) + "\n")
  return len(new)


def restore(out: Path, store: Path, min_frames: int = 0) -> int:
  """Copies each stored run that finished at `min_frames` or more into `out` where `out` has no
  directory for it (a stored run short of a step's frames has no checkpoint to extend from: left
  out, it retrains from zero). A directory that is there is left alone (named, if its run is
  behind the stored one). Returns the number copied."""
  n = 0
  for kept in finished_runs(store / "runs"):
    rel = kept.relative_to(store / "runs")
    if frames_of(kept) < min_frames:
      continue
    run = out / "runs" / rel
    if run.exists():
      if not (run / "done.json").exists() or frames_of(run) < frames_of(kept):
        print(f"left alone {rel}: {out / 'runs'} already has it (behind the stored run at "
              f"{frames_of(kept):,} frames; move it aside to use the stored one)")
      continue
    copy_record(kept, run)
    print(f"restored {rel}: finished at {frames_of(kept):,} frames")
    n += 1
  return n


def main(argv=None) -> int:
  p = argparse.ArgumentParser(description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument("action", choices=["save", "restore"])
  p.add_argument("--out", default=str(ROOT / "campaign" / "out"),
                 help="the campaign's --out (default: %(default)s)")
  p.add_argument("--store", default=str(ROOT / "reports" / "campaign"), help="default: %(default)s")
  p.add_argument("--min-frames", type=int, default=0,
                 help="restore: only runs finished at this many frames or more (default: all)")
  p.add_argument("--machine", default=None, metavar="JSON",
                 help='save: the machine that trained the runs, e.g. \'{"cpu": "AMD EPYC", "isa": '
                      '"avx2"}\' '
                      "(default: this machine's CPU)")
  p.add_argument("--log", default=None, metavar="FILE",
                 help="save: also keep this campaign log's step lines in the store's steps.log")
  a = p.parse_args(argv)
  out, store = Path(a.out), Path(a.store)
  src = out if a.action == "save" else store
  if not (src / "runs").is_dir():
    print(f"error: {src / 'runs'}: no such directory (the "
          f"{'--out' if a.action == 'save' else '--store'} "
          f"to {a.action} from)", file=sys.stderr)
    return 2
  n = (save(out, store, json.loads(a.machine) if a.machine else None) if a.action == "save"
       else restore(out, store, a.min_frames))
  print(f"{a.action}: {n} run(s) copied ({out / 'runs'} {'->' if a.action == 'save' else '<-'} "
        f"{store / 'runs'})")
  if a.action == "save" and a.log:
    k = save_steps(Path(a.log), store)
    if k:
      print(f"save: {k} step line(s) of {a.log} kept in {store / 'steps.log'}")
  return 0


if __name__ == "__main__":
  sys.exit(main())
