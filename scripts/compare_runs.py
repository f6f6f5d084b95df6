"""Checks that two trees of runs hold the same progress rows: the determinism check of the
reference campaign (reports/reference/CAMPAIGN.md).

  .venv/bin/python scripts/compare_runs.py NEW_RUNS OLD_RUNS

For every progress.csv under OLD_RUNS (for example reports/reference/runs, or runs moved aside
after a lost checkpoint), the run at the same relative path under NEW_RUNS is compared at the
frame points both have reached, on every column but the timing ones (`TIMING_COLUMNS` of
artifact/training/progress.py: fps and wall_s, the only columns that differ between identical runs).
Values are compared as the CSV text holds them, so "identical" means bit for bit as written.
Prints one line per run (identical / DIFFER / not rerun yet) and the differing cells; exits 1
if any run differs, 2 if no run could be compared, else 0.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from artifact.training.progress import TIMING_COLUMNS  # noqa: E402


def compare_run(new_csv: Path, old_csv: Path):
  """(shared frame points, differing cells as a DataFrame: empty when identical)."""
  new, old = (pd.read_csv(f, dtype=str, keep_default_na=False) for f in (new_csv, old_csv))
  shared = sorted(set(new["frames"]) & set(old["frames"]), key=int)
  new, old = (d.set_index("frames").loc[shared].drop(columns=list(TIMING_COLUMNS))
              for d in (new, old))
  if list(new.columns) != list(old.columns):
    raise SystemExit(
        f"{new_csv}: columns {list(new.columns)} differ from {old_csv}'s {list(old.columns)}")
  return shared, new.compare(old, result_names=("new", "old"))


def main(argv=None) -> int:
  p = argparse.ArgumentParser(description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument("new", type=Path, help="runs directory of the rerun (e.g. campaign/out/runs)")
  p.add_argument("old", type=Path,
                 help="runs directory to compare against (e.g. reports/reference/runs)")
  a = p.parse_args(argv)
  for d in (a.new, a.old):
    if not d.is_dir():
      raise SystemExit(f"not a directory: {d}")
  compared = differ = 0
  for old_csv in sorted(a.old.rglob("progress.csv")):
    rel = old_csv.parent.relative_to(a.old)
    new_csv = a.new / rel / "progress.csv"
    if not new_csv.exists():
      print(f"{rel}: not rerun yet")
      continue
    shared, diff = compare_run(new_csv, old_csv)
    if not shared:
      print(f"{rel}: no frame point reached by both yet")
      continue
    compared += 1
    if diff.empty:
      print(f"{rel}: identical at {len(shared)} frame points ({int(shared[0]):,} to "
            f"{int(shared[-1]):,} frames)")
    else:
      differ += 1
      print(f"{rel}: DIFFER at {diff.shape[0]} of {len(shared)} frame points\n{diff.to_string()}")
  print(f"{compared} runs compared, {differ} differ")
  return 1 if differ else (2 if compared == 0 else 0)


if __name__ == "__main__":
  sys.exit(main())
